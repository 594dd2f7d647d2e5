//! The capture guide on the fake-camera clips of ../shared/data/video, frame by frame, with the
//! real models: the live selfie must reach "ready" quickly and steadily.

mod common;

use facegate_pipeline::decode::{decode_image, DecodeLimits};
use facegate_pipeline::guide::{Cue, FrameChecker, Guide, GuideConfig};
use facegate_pipeline::quality::QualityLimits;

fn checker() -> FrameChecker {
    let b = common::prepared();
    FrameChecker::load(&b.yunet, b.minifasnet_v2).expect("models load")
}

fn cues(clip: &str, every: usize) -> Vec<(Cue, f32)> {
    let checker = checker();
    let mut guide = Guide::new(GuideConfig::default(), QualityLimits::default());
    common::mjpeg_frames(&format!("video/{clip}"))
        .into_iter()
        .step_by(every)
        .map(|jpeg| {
            let image = decode_image(&jpeg, &DecodeLimits::default()).expect("a frame");
            let g = guide.observe(checker.check(&image).expect("check"));
            if std::env::var_os("FACEGATE_GUIDE_TRACE").is_some() {
                let q = g.check.quality;
                eprintln!(
                    "{:?} {:.0} {:?}",
                    g.cue,
                    g.score,
                    q.map(|q| (q.brightness, q.yaw, q.pitch, q.sharpness, q.face_px))
                );
            }
            (g.cue, g.score)
        })
        .collect()
}

#[test]
fn live_selfie_clip_becomes_ready_within_a_second() {
    // Every third frame of the 30 fps clip: about the rate the page checks at.
    let seen = cues("live_selfie_640x480_30fps_5s.mjpeg", 3);
    assert_eq!(seen.len(), 50);
    let first_ready = seen.iter().position(|(c, _)| *c == Cue::Ready);
    assert!(
        first_ready.is_some_and(|i| i <= 10),
        "cues: {:?}",
        seen.iter().map(|(c, _)| c).collect::<Vec<_>>()
    );
    assert!(seen.iter().all(|(c, s)| (*c == Cue::Ready) <= (*s > 50.0)));
}

#[test]
fn replay_clip_shows_a_face_but_the_client_score_is_only_a_hint() {
    // The screen replay has a face; the guide may well call it ready. Refusing it is the
    // server's job (tests/browser): this only checks the clip is processed without errors.
    let seen = cues("spoof_replay_640x480_30fps_5s.mjpeg", 15);
    assert_eq!(seen.len(), 10);
    assert!(seen.iter().any(|(c, _)| *c != Cue::NoFace));
}
