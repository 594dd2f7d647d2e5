//! Multi-frame passive liveness on real frames from ../shared/data with the real models.
//!
//! Live bursts: the webcam clip (video/live_selfie…mjpeg) cut into 8-frame bursts at the
//! protocol's rate (every 4th frame of 30 fps, ~0.9 s), and the 5 phone-selfie clips of
//! liveness/labels.csv (8 consecutive native-rate frames). Replays: the phone-replay clip of
//! the same person cut the same way, and the 4 replay clips of labels.csv. Forgeries built
//! from real frames: one still photo repeated with noise and jitter, another person's face
//! spliced in, frames repeated or shuffled.

mod common;

use std::sync::OnceLock;

use common::{data, mjpeg_frames, pipeline};
use facegate_pipeline::burst::{burst_liveness_check, BurstAnalysis, BurstConfig, BurstError};
use facegate_pipeline::{CheckStatus, LivenessCheck};
use image::RgbImage;

const STRIDE: usize = 4;
const FRAMES: usize = 8;

fn decode(path: &std::path::Path) -> RgbImage {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pipeline().decode(&bytes).unwrap()
}

fn video(name: &str) -> Vec<RgbImage> {
    mjpeg_frames(name)
        .iter()
        .map(|f| pipeline().decode(f).unwrap())
        .collect()
}

fn live_video() -> &'static Vec<RgbImage> {
    static V: OnceLock<Vec<RgbImage>> = OnceLock::new();
    V.get_or_init(|| video("video/live_selfie_640x480_30fps_5s.mjpeg"))
}

fn replay_video() -> &'static Vec<RgbImage> {
    static V: OnceLock<Vec<RgbImage>> = OnceLock::new();
    V.get_or_init(|| video("video/spoof_replay_640x480_30fps_5s.mjpeg"))
}

/// Non-overlapping bursts of `FRAMES` frames `STRIDE` apart.
fn windows(v: &[RgbImage]) -> Vec<Vec<RgbImage>> {
    let span = (FRAMES - 1) * STRIDE + 1;
    (0..)
        .map(|k| k * 30)
        .take_while(|s| s + span <= v.len())
        .map(|s| (0..FRAMES).map(|i| v[s + i * STRIDE].clone()).collect())
        .collect()
}

/// The clips of labels.csv: (clip id, live?, frames in row order).
fn label_clips() -> &'static Vec<(String, bool, Vec<RgbImage>)> {
    static C: OnceLock<Vec<(String, bool, Vec<RgbImage>)>> = OnceLock::new();
    C.get_or_init(|| {
        let text = std::fs::read_to_string(data("liveness/labels.csv")).unwrap();
        let mut clips: Vec<(String, bool, Vec<RgbImage>)> = Vec::new();
        for line in text.lines().skip(1) {
            // The clip rows carry no quoted commas before the last column.
            let clip = line.rsplit(',').next().unwrap_or("").trim();
            if clip.is_empty() {
                continue;
            }
            let mut cols = line.split(',');
            let path = cols.next().unwrap();
            let live = cols.next().unwrap() == "live";
            let frame = decode(&data(&format!("liveness/{path}")));
            match clips.iter_mut().find(|(c, _, _)| c == clip) {
                Some(entry) => entry.2.push(frame),
                None => clips.push((clip.to_owned(), live, vec![frame])),
            }
        }
        clips
    })
}

fn analyse(frames: &[RgbImage]) -> (BurstAnalysis, LivenessCheck) {
    let c = &pipeline().config;
    let a = pipeline().analyze_burst(frames, &c.burst).unwrap();
    let check = burst_liveness_check("feature_liveness", &a, c, &c.policy);
    (a, check)
}

/// A tiny deterministic generator for the synthetic noise and jitter.
fn lcg(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) as f32) / (1u64 << 31) as f32
    }
}

/// One frame repeated as a handheld still photo would be: each copy shifted by up to `jitter`
/// pixels, scaled by up to 1 %, with Gaussian-ish sensor noise of `noise` grey levels.
fn still_burst(frame: &RgbImage, jitter: f32, noise: f32, seed: u64) -> Vec<RgbImage> {
    let mut r = lcg(seed);
    let (w, h) = frame.dimensions();
    (0..FRAMES)
        .map(|_| {
            let (dx, dy) = ((r() * 2.0 - 1.0) * jitter, (r() * 2.0 - 1.0) * jitter);
            let s = 1.0 + (r() * 2.0 - 1.0) * 0.01;
            let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
            let mut rn = lcg((r() * 1e6) as u64);
            RgbImage::from_fn(w, h, |x, y| {
                let sx = (x as f32 - cx - dx) / s + cx;
                let sy = (y as f32 - cy - dy) / s + cy;
                let p = facegate_pipeline::imaging::sample_bilinear(frame, sx, sy);
                let n = (rn() + rn() + rn() - 1.5) * 2.0 * noise;
                image::Rgb(p.map(|v| (v + n).round().clamp(0.0, 255.0) as u8))
            })
        })
        .collect()
}

fn fmt(v: Option<f32>) -> String {
    v.map_or("-".into(), |x| format!("{x:.3}"))
}

fn row(name: &str, a: &BurstAnalysis, c: &LivenessCheck) {
    let q = &a.cues;
    println!(
        "{name:<28} {:<9} score {:>6.2} live_med {} min {} cos {} ncc {} iou {} nonrigid {} rel {} bg {} face {} eye {} fchg {} dup {} noface {}",
        c.status.as_str(),
        c.score,
        fmt(q.live_median),
        fmt(q.live_probabilities.iter().copied().reduce(f32::min)),
        fmt(q.same_person_min_cosine),
        fmt(q.continuity_min_ncc),
        fmt(q.continuity_min_iou),
        fmt(q.nonrigid),
        fmt(q.relative_motion),
        fmt(q.background_motion),
        fmt(q.face_motion),
        fmt(q.eye_change),
        fmt(q.face_change),
        q.duplicates,
        q.no_face,
    );
}

/// Prints every cue on every real and forged burst: the evidence CALIBRATION.md cites.
/// `cargo test --release -p facegate-pipeline --test burst_real -- --ignored --nocapture`
#[test]
#[ignore]
fn print_cues() {
    for (k, b) in windows(live_video()).iter().enumerate() {
        let (a, c) = analyse(b);
        row(&format!("webcam live w{k}"), &a, &c);
    }
    for (k, b) in windows(replay_video()).iter().enumerate() {
        let (a, c) = analyse(b);
        row(&format!("webcam replay w{k}"), &a, &c);
    }
    for (clip, live, frames) in label_clips() {
        let (a, c) = analyse(frames);
        row(
            &format!("{clip} {}", if *live { "live" } else { "spoof" }),
            &a,
            &c,
        );
    }
    for (k, b) in windows(live_video()).iter().enumerate() {
        for (jitter, noise) in [(0.0, 0.0), (2.0, 2.0), (6.0, 4.0)] {
            let (a, c) = analyse(&still_burst(&b[0], jitter, noise, k as u64 + 1));
            row(&format!("still w{k} j{jitter} n{noise}"), &a, &c);
        }
    }
    for (clip, _, frames) in label_clips().iter().filter(|c| c.1) {
        let (a, c) = analyse(&still_burst(&frames[0], 3.0, 3.0, 7));
        row(&format!("still {clip}"), &a, &c);
    }
}

#[test]
fn bad_bursts_are_refused_as_input() {
    let w = &windows(live_video())[0];
    let err = pipeline()
        .analyze_burst(&w[..3], &BurstConfig::default())
        .unwrap_err();
    assert!(matches!(err, BurstError::Input(_)), "{err}");
    let mut mixed = w.clone();
    mixed[2] = image::imageops::resize(&mixed[2], 480, 360, image::imageops::FilterType::Triangle);
    let err = pipeline()
        .analyze_burst(&mixed, &BurstConfig::default())
        .unwrap_err();
    assert!(
        err.is_input_error() && err.to_string().contains("frame 2"),
        "{err}"
    );
}

fn risks(c: &LivenessCheck) -> Vec<&str> {
    c.warnings.iter().map(|w| w.risk.as_str()).collect()
}

#[test]
fn live_webcam_bursts_pass_and_their_replay_fails() {
    for (k, b) in windows(live_video()).iter().enumerate() {
        let (a, c) = analyse(b);
        assert_eq!(
            c.status,
            CheckStatus::Approved,
            "live w{k}: {:?} {:?}",
            risks(&c),
            a.cues
        );
    }
    for (k, b) in windows(replay_video()).iter().enumerate() {
        let (_, c) = analyse(b);
        assert_eq!(c.status, CheckStatus::Declined, "replay w{k}");
        assert!(
            risks(&c).contains(&"LOW_LIVENESS_SCORE"),
            "replay w{k}: {:?}",
            risks(&c)
        );
    }
}

/// Every burst the page could have cut from the live clip (a start every 6 frames, and the
/// fast head turn at 76-84, where frames of the one person 20-50° apart in yaw are only 0.29-0.33
/// alike), not only the five non-overlapping windows.
#[test]
fn every_burst_of_the_live_clip_passes() {
    let v = live_video();
    let span = (FRAMES - 1) * STRIDE + 1;
    let starts: std::collections::BTreeSet<usize> = (0..=v.len() - span)
        .step_by(6)
        .chain([76, 78, 80, 82, 84])
        .collect();
    let mut failed = Vec::new();
    for &start in &starts {
        let burst: Vec<RgbImage> = (0..FRAMES).map(|i| v[start + i * STRIDE].clone()).collect();
        let (a, c) = analyse(&burst);
        if c.status != CheckStatus::Approved {
            let yaws: Vec<String> = a
                .frames
                .iter()
                .map(|f| format!("{:.0}", f.quality.map_or(f32::NAN, |q| q.yaw)))
                .collect();
            failed.push(format!(
                "start {start}: {:?} {:?} yaws {yaws:?}",
                risks(&c),
                a.cues
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} live bursts declined:\n{}",
        failed.len(),
        starts.len(),
        failed.join("\n")
    );
}

/// The phone clips of labels.csv. Known failure, reported in CALIBRATION.md: MiniFASNet
/// scores one replay clip (tdreplay clip02) live on every frame, and the temporal cues cannot
/// tell a replayed video of a moving person from the person; tdreal clip01 is a close-up
/// held to the tight-capture threshold and declined.
#[test]
fn phone_clips_as_far_as_the_evidence_goes() {
    let mut live_accepted = 0;
    let mut spoof_declined = 0;
    for (clip, live, frames) in label_clips() {
        let (_, c) = analyse(frames);
        let declined = c.status == CheckStatus::Declined;
        println!("{clip}: {} {}", c.status.as_str(), c.score);
        if *live {
            live_accepted += usize::from(!declined);
        } else {
            spoof_declined += usize::from(declined);
        }
    }
    assert!(
        live_accepted >= 4,
        "{live_accepted} of 5 live clips accepted"
    );
    assert!(
        spoof_declined >= 3,
        "{spoof_declined} of 4 replay clips declined"
    );
}

#[test]
fn a_still_photo_with_noise_and_jitter_fails_the_temporal_cue() {
    for (k, b) in windows(live_video()).iter().enumerate() {
        let (a, c) = analyse(&still_burst(&b[0], 2.0, 2.0, k as u64 + 1));
        assert_eq!(c.status, CheckStatus::Declined, "still w{k}: {:?}", a.cues);
        assert!(risks(&c).contains(&"LIVENESS_FACE_ATTACK"));
        // The per-frame models alone would have let it through: it is a live frame.
        let live = a.cues.aggregate_liveness().unwrap();
        let threshold = pipeline().config.calibration.live_threshold(&live);
        assert!(live.live > threshold, "still w{k}: {:?}", a.cues);
    }
}

/// Another person's photo (deepface, a different identity from the clip's) in place of one
/// frame, scaled to the burst's size.
fn spliced(frames: &[RgbImage], at: usize) -> Vec<RgbImage> {
    let other = decode(&data("faces/deepface/img1.jpg"));
    let (w, h) = frames[0].dimensions();
    let mut out = frames.to_vec();
    out[at] = image::imageops::resize(&other, w, h, image::imageops::FilterType::Triangle);
    out
}

#[test]
fn another_persons_frame_spliced_in_fails() {
    let w = &windows(live_video())[0];
    for at in [0, FRAMES - 1] {
        let (a, c) = analyse(&spliced(w, at));
        assert_eq!(
            c.status,
            CheckStatus::Declined,
            "splice at {at}: {:?}",
            a.cues
        );
        assert!(risks(&c).contains(&"LIVENESS_FACE_ATTACK"));
        assert!(a.cues.same_person_min_cosine.unwrap() < BurstConfig::default().same_person_cosine);
    }
}

#[test]
fn repeated_frames_are_not_a_burst_and_order_does_not_decide() {
    let w = &windows(live_video())[2];
    let (a, c) = analyse(&vec![w[3].clone(); FRAMES]);
    assert_eq!(a.cues.duplicates, FRAMES - 1);
    assert_eq!(c.status, CheckStatus::Declined);
    assert!(risks(&c).contains(&"LIVENESS_FACE_ATTACK"));
    // Half the frames sent twice: four distinct frames are too few.
    let doubled: Vec<RgbImage> = w[..4].iter().flat_map(|f| [f.clone(), f.clone()]).collect();
    let (a, c) = analyse(&doubled);
    assert_eq!((a.cues.duplicates, c.status), (4, CheckStatus::Declined));
    // Shuffled frames of a live burst: the cues compare frames with the first, not a path,
    // so the verdict stands (reordering gains an attacker nothing here).
    let mut shuffled = w.clone();
    shuffled.swap(1, 6);
    shuffled.swap(2, 5);
    let (_, c) = analyse(&shuffled);
    assert_eq!(c.status, CheckStatus::Approved);
}
