//! FLASHING on real frames from ../shared/data with the real detector.
//!
//! Null side (no screen light): real camera clips must fail any random sequence. Pass side:
//! real consecutive frames of the live clip, lit by the simulated screen of
//! tests/common/flash_sim.rs (physics, kept apart from the checks; its limits are listed
//! there). Forgeries, made here from a real portrait and the live clip, must all fail:
//! a still tinted whole with each colour, a still tinted on the face only, the face-only
//! tinted still re-encoded per frame with added noise, and a replay of the live clip with a
//! global tint; each both as a naive forger makes it (every frame tinted with its step's
//! colour) and as one who knows the protocol (onset frames tinted with the previous colour).
//! The old ACTIVE_3D path (client-labelled frames) keeps its tests at the end; the
//! step-by-step protocol is in tests/active_real.rs.

mod common;

use std::sync::OnceLock;

use common::flash_sim::{self, Screen};
use common::{data, mjpeg_frames, pipeline};
use facegate_pipeline::challenge::{
    self, best_frame, texture, Challenge, ChallengeLimits, Colour, FrameObservation, HeadMove,
    LivenessMethod, Step,
};
use facegate_pipeline::{select_subject, Face, Quality};
use image::RgbImage;

/// As the hosted page grabs them: 480 px wide (web/hosted/challenge.js).
fn small(img: &RgbImage) -> RgbImage {
    let h = img.height() * 480 / img.width();
    image::imageops::resize(img, 480, h, image::imageops::FilterType::Triangle)
}

/// As the page sends them: canvas JPEG at quality 0.85, decoded by the server.
fn as_sent(img: &RgbImage) -> RgbImage {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(img)
        .unwrap();
    pipeline().decode(&bytes).unwrap()
}

fn decode(bytes: &[u8]) -> RgbImage {
    small(&pipeline().decode(bytes).unwrap())
}

fn live_clip() -> &'static Vec<RgbImage> {
    static CLIP: OnceLock<Vec<RgbImage>> = OnceLock::new();
    CLIP.get_or_init(|| {
        mjpeg_frames("video/live_selfie_640x480_30fps_5s.mjpeg")
            .iter()
            .map(|f| decode(f))
            .collect()
    })
}

fn replay_clip() -> &'static Vec<RgbImage> {
    static CLIP: OnceLock<Vec<RgbImage>> = OnceLock::new();
    CLIP.get_or_init(|| {
        mjpeg_frames("video/spoof_replay_640x480_30fps_5s.mjpeg")
            .iter()
            .map(|f| decode(f))
            .collect()
    })
}

/// The enrolment portrait: one frame of the same person, outside the clips.
fn portrait() -> &'static RgbImage {
    static P: OnceLock<RgbImage> = OnceLock::new();
    P.get_or_init(|| decode(&common::read("video/enroll_portrait_apfol_s1_t9.5s.jpg")))
}

/// The consecutive-frame clips of ../shared/data/liveness (phone cameras), as sent.
fn liveness_clips(subject: &str) -> Vec<Vec<RgbImage>> {
    (1..=5)
        .filter_map(|c| {
            let frames: Vec<RgbImage> = (1..=8)
                .map_while(|f| {
                    let path = data(&format!("liveness/frames/{subject}/clip{c:02}_f{f:02}.jpg"));
                    std::fs::read(path).ok().map(|b| decode(&b))
                })
                .collect();
            (frames.len() == 8).then_some(frames)
        })
        .collect()
}

fn subject(img: &RgbImage) -> Face {
    let faces = pipeline().detect(img).unwrap();
    select_subject(&faces, img.width(), img.height()).expect("a face")
}

fn observe(frames: &[(usize, RgbImage)]) -> Vec<FrameObservation> {
    frames
        .iter()
        .map(|(step, img)| pipeline().observe_frame(img, *step).unwrap())
        .collect()
}

fn flashing(colours: &[Colour]) -> Challenge {
    Challenge {
        id: "real".into(),
        method: LivenessMethod::Flashing,
        steps: colours
            .iter()
            .map(|&colour| Step::Flash {
                colour,
                ms: challenge::FLASH_MS,
            })
            .collect(),
    }
}

/// The colour on screen while frame `onset` / lit of step k was exposed, as a camera sees it.
fn shown(cs: &[Colour], step: usize, onset: bool) -> Option<Colour> {
    if onset {
        step.checked_sub(1).map(|k| cs[k])
    } else {
        Some(cs[step])
    }
}

/// A capture of `cs`: per step an onset and a lit frame, each made by `render(step, onset,
/// frame index)` and sent as the page sends it.
fn capture(
    cs: &[Colour],
    render: &mut dyn FnMut(usize, bool, usize) -> RgbImage,
) -> Vec<FrameObservation> {
    let frames: Vec<(usize, RgbImage)> = (0..cs.len() * 2)
        .map(|i| (i / 2, as_sent(&render(i / 2, i % 2 == 0, i))))
        .collect();
    observe(&frames)
}

/// The pass side: real consecutive frames from `first`, an onset frame every `stride`
/// frames and the lit one `settle` frames later, lit by the simulated screen.
fn simulated(
    clip: &[RgbImage],
    cs: &[Colour],
    first: usize,
    stride: usize,
    settle: usize,
    screen: Screen,
) -> Vec<FrameObservation> {
    capture(cs, &mut |step, onset, _| {
        let img = &clip[first + step * stride + if onset { 0 } else { settle }];
        flash_sim::light(img, &subject(img), shown(cs, step, onset), screen)
    })
}

const SEQ: [Colour; 5] = [
    Colour::Red,
    Colour::Cyan,
    Colour::Green,
    Colour::Magenta,
    Colour::Blue,
];
const OTHER: [Colour; 5] = [
    Colour::Blue,
    Colour::Yellow,
    Colour::Magenta,
    Colour::Green,
    Colour::Red,
];

/// The still part of the live clip (frames 126-149): onsets 4 frames apart, lit 2 after.
/// Compressed from the page's 450 ms per colour (the clip holds still for only 0.8 s), so
/// frames compared for texture are 67 ms apart instead of about 270 ms: less motion between
/// them than a real capture has, which makes the texture check harder, not easier.
fn lit_still_part(cs: &[Colour], screen: Screen) -> Vec<FrameObservation> {
    simulated(live_clip(), cs, 126, 4, 2, screen)
}

#[test]
fn a_real_face_under_simulated_flashes_passes_and_not_for_another_sequence() {
    let limits = ChallengeLimits::default();
    let lit = lit_still_part(&SEQ, Screen::PHONE);
    let r = challenge::verify(Some(&flashing(&SEQ)), Some("real"), &lit, &limits);
    assert!(r.passed && r.score > 50.0, "{r:?}");
    let r = challenge::verify(Some(&flashing(&OTHER)), Some("real"), &lit, &limits);
    assert!(!r.passed, "{r:?}");
}

#[test]
fn still_real_faces_fail_flashing() {
    let limits = ChallengeLimits::default();
    let frames = capture(&SEQ, &mut |_, _, i| live_clip()[126 + 2 * i].clone());
    let r = challenge::verify(Some(&flashing(&SEQ)), Some("real"), &frames, &limits);
    assert!(!r.passed && r.score <= 50.0, "{r:?}");
    // The apfol_s1 live frames (a real webcam, seconds apart) likewise.
    let stills = capture(&SEQ, &mut |_, _, i| {
        let path = data(&format!("liveness/frames/apfol_s1/live_{:03}.jpg", i + 1));
        decode(&std::fs::read(path).unwrap())
    });
    let r = challenge::verify(Some(&flashing(&SEQ)), Some("real"), &stills, &limits);
    assert!(!r.passed, "{r:?}");
}

/// Whole image, each channel scaled by 1 + s·colour.
fn tint_whole(img: &RgbImage, colour: Option<Colour>, s: f32) -> RgbImage {
    let mut out = img.clone();
    if let Some(c) = colour {
        for p in out.pixels_mut() {
            for (v, g) in p.0.iter_mut().zip(c.rgb()) {
                *v = (f32::from(*v) * (1.0 + s * g)).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// The face only: an ellipse over the face box, tinted evenly, feathered over its outer tenth
/// (an image editor's soft selection).
fn tint_face(img: &RgbImage, face: &Face, colour: Option<Colour>, s: f32) -> RgbImage {
    let mut out = img.clone();
    let Some(c) = colour else { return out };
    let (cx, cy) = face.centre();
    let (rx, ry) = (face.width * 0.55, face.height * 0.65);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let d = (((x as f32 - cx) / rx).powi(2) + ((y as f32 - cy) / ry).powi(2)).sqrt();
        let w = ((1.0 - d) / 0.1).clamp(0.0, 1.0);
        for (v, g) in p.0.iter_mut().zip(c.rgb()) {
            *v = (f32::from(*v) * (1.0 + s * w * g))
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Gaussian-like noise of `sigma` grey levels on every channel (sum of uniforms), seeded.
fn add_noise(img: &RgbImage, sigma: f32, seed: u64) -> RgbImage {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32
    };
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for v in p.0.iter_mut() {
            let n = (0..4).map(|_| uniform()).sum::<f32>() - 2.0; // sd ≈ 0.58
            *v = (f32::from(*v) + n * sigma / 0.58).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Each forgery as (name, frames), for `cs`.
fn forgeries(cs: &[Colour]) -> Vec<(String, Vec<FrameObservation>)> {
    let still = portrait();
    let face = subject(still);
    let s = 0.12;
    let mut out = Vec::new();
    for informed in [false, true] {
        // A naive forger tints each frame with its step's colour; an informed one knows the
        // onset frame must still show the previous colour.
        let colour = |step: usize, onset: bool| {
            if informed {
                shown(cs, step, onset)
            } else {
                Some(cs[step])
            }
        };
        let tag = if informed { "informed" } else { "naive" };
        out.push((
            format!("still tinted whole ({tag})"),
            capture(cs, &mut |k, o, _| tint_whole(still, colour(k, o), s)),
        ));
        out.push((
            format!("still tinted on the face only ({tag})"),
            capture(cs, &mut |k, o, _| tint_face(still, &face, colour(k, o), s)),
        ));
        out.push((
            format!("face-tinted still re-encoded with noise per frame ({tag})"),
            capture(cs, &mut |k, o, i| {
                add_noise(&tint_face(still, &face, colour(k, o), s), 2.0, i as u64 + 1)
            }),
        ));
        out.push((
            format!("live clip replayed with a global tint ({tag})"),
            capture(cs, &mut |k, o, i| {
                tint_whole(&live_clip()[126 + 2 * i], colour(k, o), s)
            }),
        ));
    }
    out
}

#[test]
fn forged_flashes_all_fail() {
    let limits = ChallengeLimits::default();
    for cs in [&SEQ[..], &OTHER[..4]] {
        for (name, frames) in forgeries(cs) {
            let r = challenge::verify(Some(&flashing(cs)), Some("real"), &frames, &limits);
            eprintln!(
                "{name}: passed {} score {} — {}",
                r.passed,
                r.score,
                r.reasons.join("; ")
            );
            assert!(!r.passed && r.score <= 50.0, "{name} passed: {r:?}");
        }
    }
}

// ------------------------------------------------------------------ evidence (prints figures)

fn lcg(seed: u64) -> impl FnMut(u32) -> u32 {
    let mut s = seed;
    move |n| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) % u64::from(n)) as u32
    }
}

fn percentile(v: &mut [f32], p: f32) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f32 * p).round() as usize]
}

fn summary(name: &str, v: &mut [f32]) -> String {
    format!(
        "{name} min {:.3} p5 {:.3} p50 {:.3} p95 {:.3} max {:.3}",
        percentile(v, 0.0),
        percentile(v, 0.05),
        percentile(v, 0.5),
        percentile(v, 0.95),
        percentile(v, 1.0)
    )
}

/// The evidence behind the FLASHING limits (CALIBRATION.md, "Active challenges"): prints the
/// figures with `--nocapture` and checks the shipped thresholds against them.
#[test]
fn flashing_calibration_evidence() {
    let limits = ChallengeLimits::default();

    // Texture of real consecutive frames (as sent): the live clip at the page's spacing
    // (about 8 frames, 270 ms) and closer, and the phone clips of ../shared/data/liveness.
    let mut residual = Vec::new();
    let mut motion = Vec::new();
    let mut smooth = Vec::new();
    let patch = |img: &RgbImage| texture::Patch::from_face(img, &subject(img)).unwrap();
    let sent_clip: Vec<texture::Patch> = live_clip().iter().map(|f| patch(&as_sent(f))).collect();
    for gap in [2, 4, 8] {
        for i in (0..sent_clip.len() - gap).step_by(3) {
            // Pairs whose face moved off the other's patch are not compared.
            if let Some(t) = texture::compare(&sent_clip[i], &sent_clip[i + gap]) {
                residual.push(t.residual);
                motion.push(t.motion);
                smooth.push(t.smoothness);
            }
        }
    }
    let mut clip_pairs = 0;
    for subject_name in ["tdreal_s1"] {
        for clip in liveness_clips(subject_name) {
            let ps: Vec<texture::Patch> = clip.iter().map(|f| patch(&as_sent(f))).collect();
            for gap in [1, 3, 7] {
                for i in 0..ps.len() - gap {
                    if let Some(t) = texture::compare(&ps[i], &ps[i + gap]) {
                        residual.push(t.residual);
                        motion.push(t.motion);
                        smooth.push(t.smoothness);
                        clip_pairs += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "texture, real frame pairs ({} live clip + {clip_pairs} phone clips): {}; {}; {}",
        residual.len() - clip_pairs,
        summary("residual", &mut residual.clone()),
        summary("motion", &mut motion.clone()),
        summary("smoothness", &mut smooth.clone())
    );
    let real_fail = residual
        .iter()
        .zip(&smooth)
        .filter(|(r, m)| **r < limits.min_frame_residual || **m < limits.min_frame_smoothness)
        .count();
    eprintln!(
        "  real pairs under a texture threshold: {real_fail} of {}",
        residual.len()
    );

    // FLASHING null: random sequences against unlit real frames, every window of the clips.
    let mut rng = lcg(11);
    let mut trials = 0;
    let mut passes = 0;
    let mut corr = Vec::new();
    let null_clips: Vec<&Vec<RgbImage>> = vec![live_clip(), replay_clip()];
    for clip in null_clips {
        for start in (0..clip.len()).step_by(5) {
            let ch = challenge::choose(LivenessMethod::Flashing, "n".into(), &mut rng).unwrap();
            let cs = ch.colours();
            let frames = capture(&cs, &mut |_, _, i| {
                clip[(start + 2 * i) % clip.len()].clone()
            });
            if let Some((c, _)) = challenge::flash_response(&ch.steps, &frames) {
                corr.push(c);
            }
            trials += 1;
            if challenge::verify(Some(&ch), Some("n"), &frames, &limits).passed {
                passes += 1;
            }
        }
    }
    eprintln!(
        "flash null: {trials} random sequences on unlit real clips; {}; passes {passes}",
        summary("correlation", &mut corr)
    );
    assert_eq!(
        passes, 0,
        "an unlit face passed a random flashing challenge"
    );

    // Pass side: the simulated screen on every window of the live clip where the head is
    // still enough for the motion guard, for several screen strengths.
    for share in [0.03f32, 0.05, 0.10, 0.20] {
        let screen = Screen {
            share,
            ..Screen::PHONE
        };
        let mut rng = lcg(5);
        let (mut windows, mut guarded, mut passed) = (0, 0, 0);
        let mut weakest: Vec<String> = Vec::new();
        for first in (0..150 - 24).step_by(6) {
            let ch = challenge::choose(LivenessMethod::Flashing, "s".into(), &mut rng).unwrap();
            let cs = ch.colours();
            if first + cs.len() * 4 > 150 {
                continue;
            }
            let frames = simulated(live_clip(), &cs, first, 4, 2, screen);
            windows += 1;
            let r = challenge::verify(Some(&ch), Some("s"), &frames, &limits);
            if r.reasons.iter().any(|m| m.contains("head moved")) {
                guarded += 1;
                continue;
            }
            if r.passed {
                passed += 1;
            } else {
                weakest.extend(
                    r.reasons
                        .iter()
                        .map(|m| m.split(" (").next().unwrap().to_owned()),
                );
            }
        }
        weakest.sort();
        weakest.dedup();
        eprintln!(
            "simulated screen share {share}: {windows} windows, {guarded} refused as moving, {passed} of {} still ones pass; failures: {weakest:?}",
            windows - guarded
        );
    }
    // The still part at every offset and the phone clips (8 frames: four colours, onset and
    // lit one frame apart), random sequences, at a phone's 10 % share.
    let mut rng = lcg(9);
    let (mut n, mut passed) = (0, 0);
    let mut figs: Vec<String> = Vec::new();
    let phone = liveness_clips("tdreal_s1");
    let mut bases: Vec<(&[RgbImage], usize, usize, usize)> = (120..=126)
        .map(|first| (&live_clip()[..], first, 4, 2))
        .collect();
    for c in &phone {
        bases.push((&c[..], 0, 2, 1));
    }
    for (clip, first, stride, settle) in bases {
        for _ in 0..3 {
            let ch = challenge::choose(LivenessMethod::Flashing, "s".into(), &mut rng).unwrap();
            let mut cs = ch.colours();
            cs.truncate((clip.len() - first) / stride);
            let ch = flashing(&cs);
            let frames = simulated(clip, &cs, first, stride, settle, Screen::PHONE);
            let r = challenge::verify(Some(&ch), Some("real"), &frames, &limits);
            n += 1;
            if r.passed {
                passed += 1;
            } else {
                figs.push(format!("{} {}", r.reasons.join("; "), r.figures));
            }
        }
    }
    eprintln!("simulated 10 % screen on still real frames: {passed} of {n} pass");
    for f in figs {
        eprintln!("  failed: {f}");
    }
    let lit = lit_still_part(&SEQ, Screen::PHONE);
    let f = challenge::flashing::figures(&flashing(&SEQ).steps, &lit).unwrap();
    eprintln!(
        "simulated, still part, share 0.10: {}",
        serde_json::to_string(&f).unwrap()
    );

    // Forgeries: their figures.
    for (name, frames) in forgeries(&SEQ) {
        let f = challenge::flashing::figures(&flashing(&SEQ).steps, &frames);
        eprintln!("{name}: {}", serde_json::to_string(&f).unwrap());
    }
}

// ------------------------------------------------------------------ old ACTIVE_3D path

/// Frames `first, first+stride, …` of the clip, two per step of the challenge.
fn pick(clip: &[RgbImage], first: usize, stride: usize, steps: usize) -> Vec<(usize, RgbImage)> {
    (0..steps * 2)
        .map(|i| (i / 2, clip[(first + i * stride) % clip.len()].clone()))
        .collect()
}

#[test]
fn a_still_real_face_fails_head_turns() {
    let ch = Challenge {
        id: "real".into(),
        method: LivenessMethod::Active3d,
        steps: [
            HeadMove::Straight,
            HeadMove::Left,
            HeadMove::Right,
            HeadMove::Straight,
        ]
        .map(|head| Step::Turn { head })
        .to_vec(),
    };
    let frames = observe(&pick(live_clip(), 5, 7, 4));
    let r = challenge::verify(
        Some(&ch),
        Some("real"),
        &frames,
        &ChallengeLimits::default(),
    );
    assert!(!r.passed && r.score <= 50.0, "{r:?}");
    assert!(best_frame(&frames, &ChallengeLimits::default()).is_some());
}

/// The live clip is a real person turning: frames 0-9 straight (yaw about 10°), 21-30 turned
/// to their left (+30°), 39-54 to their right (-27°), 72-87 left again (+45°), 99-111 right
/// (-23°), 120-149 straight (+14°). Labelled in that order it passes; labelled with the turns
/// swapped it fails.
#[test]
fn a_real_head_turning_passes_in_its_order_only() {
    use HeadMove::*;
    let frames = |labels: [usize; 8]| -> Vec<(usize, RgbImage)> {
        [0, 6, 21, 27, 42, 48, 126, 138]
            .iter()
            .zip(labels)
            .map(|(&i, step)| (step, live_clip()[i].clone()))
            .collect()
    };
    let turns = |moves: [HeadMove; 4]| Challenge {
        id: "real".into(),
        method: LivenessMethod::Active3d,
        steps: moves.map(|head| Step::Turn { head }).to_vec(),
    };
    let limits = ChallengeLimits::default();
    let obs = observe(&frames([0, 0, 1, 1, 2, 2, 3, 3]));
    let r = challenge::verify(
        Some(&turns([Straight, Left, Right, Straight])),
        Some("real"),
        &obs,
        &limits,
    );
    assert!(r.passed && r.score > 50.0, "{r:?}");
    let r = challenge::verify(
        Some(&turns([Straight, Right, Left, Straight])),
        Some("real"),
        &obs,
        &limits,
    );
    assert!(!r.passed, "{r:?}");
    let best = best_frame(&obs, &limits).unwrap();
    assert!(obs[best].face.as_ref().unwrap().yaw.abs() <= limits.straight_max_yaw + 5.0);
}

/// Yaw noise of a still face and yaw on real photographs: the evidence for the turn limits.
#[test]
fn turn_calibration_evidence() {
    let limits = ChallengeLimits::default();
    let mut clip_yaw: Vec<f32> = live_clip()[126..]
        .iter()
        .filter_map(|img| {
            pipeline()
                .observe_frame(img, 0)
                .unwrap()
                .face
                .map(|t| t.yaw)
        })
        .collect();
    let mean = clip_yaw.iter().sum::<f32>() / clip_yaw.len() as f32;
    let sd =
        (clip_yaw.iter().map(|y| (y - mean).powi(2)).sum::<f32>() / clip_yaw.len() as f32).sqrt();
    let spread = percentile(&mut clip_yaw, 1.0) - percentile(&mut clip_yaw, 0.0);
    eprintln!(
        "still clip yaw ({} frames): mean {mean:.1} sd {sd:.2} range {spread:.1}",
        clip_yaw.len()
    );
    assert!(spread < limits.straight_max_yaw);
    let manifest = std::fs::read_to_string(data("faces/manifest.csv")).unwrap();
    let mut yaws = Vec::new();
    for line in manifest.lines().skip(1).step_by(4) {
        let path = line.split(',').next().unwrap();
        let Ok(bytes) = std::fs::read(data(&format!("faces/{path}"))) else {
            continue;
        };
        let Ok(a) = pipeline().analyze(
            &bytes,
            facegate_pipeline::Want {
                embedding: false,
                liveness: false,
            },
        ) else {
            continue;
        };
        if let Some(s) = a.subject {
            let q: Quality = s.quality;
            yaws.push(q.yaw.abs());
        }
    }
    let n = yaws.len();
    let over = yaws.iter().filter(|y| **y >= limits.turn_min_yaw).count();
    eprintln!(
        "faces |yaw| ({n} images): p50 {:.1} p90 {:.1} p99 {:.1}; >= {}°: {over}",
        percentile(&mut yaws, 0.5),
        percentile(&mut yaws, 0.9),
        percentile(&mut yaws, 0.99),
        limits.turn_min_yaw
    );
    assert!(over > 0);
}
