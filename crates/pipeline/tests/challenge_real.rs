//! Active challenges on real frames from ../shared/data with the real detector.
//!
//! A real camera clip of a person sitting still must fail both challenges. For FLASHING, a
//! real screen-lit clip does not exist in the data, so the clip's face region is tinted by the
//! flashed colours: a synthetic but honest simulation of screen light reflected by skin (each
//! channel scaled by 1 + s·colour on the face only, feathered at its edge, s = the screen's
//! share of the light). It must pass for the sequence it was tinted with and fail for another.
//! For ACTIVE_3D, yaw is measured on real faces (LFW, the clips) to set the thresholds; the
//! sequence logic itself is tested on landmark tracks in src/challenge/tests.rs.

mod common;

use std::sync::OnceLock;

use common::{data, mjpeg_frames, pipeline};
use facegate_pipeline::challenge::{
    self, best_frame, Challenge, ChallengeLimits, Colour, FrameObservation, HeadMove,
    LivenessMethod, Step,
};
use facegate_pipeline::{select_subject, Quality};
use image::RgbImage;

/// As the hosted page sends them: 480 px wide (web/hosted/challenge.js).
fn small(jpeg: &[u8]) -> RgbImage {
    let img = pipeline().decode(jpeg).unwrap();
    let h = img.height() * 480 / img.width();
    image::imageops::resize(&img, 480, h, image::imageops::FilterType::Triangle)
}

fn live_clip() -> &'static Vec<RgbImage> {
    static CLIP: OnceLock<Vec<RgbImage>> = OnceLock::new();
    CLIP.get_or_init(|| {
        mjpeg_frames("video/live_selfie_640x480_30fps_5s.mjpeg")
            .iter()
            .map(|f| small(f))
            .collect()
    })
}

/// Frames `first, first+stride, …` of the clip, two per step of the challenge.
fn pick(clip: &[RgbImage], first: usize, stride: usize, steps: usize) -> Vec<(usize, RgbImage)> {
    (0..steps * 2)
        .map(|i| (i / 2, clip[(first + i * stride) % clip.len()].clone()))
        .collect()
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

/// Screen light of `colour` at share `s` of the light on the face: each channel of the face
/// region multiplied by 1 + s·colour, fading out over the box's outer quarter (the screen
/// lights the face, much less the background further away).
fn tint(img: &RgbImage, colour: Colour, s: f32) -> RgbImage {
    let faces = pipeline().detect(img).unwrap();
    let f = select_subject(&faces, img.width(), img.height()).expect("a face to tint");
    let (cx, cy) = f.centre();
    let (rx, ry) = (f.width * 0.6, f.height * 0.7);
    let c = colour.rgb();
    let mut out = img.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        let d = (((x as f32 - cx) / rx).powi(2) + ((y as f32 - cy) / ry).powi(2)).sqrt();
        let weight = ((1.0 - d) / 0.25).clamp(0.0, 1.0);
        for (channel, gain) in p.0.iter_mut().zip(c) {
            let v = f32::from(*channel) * (1.0 + s * weight * gain);
            *channel = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn tinted(frames: &[(usize, RgbImage)], colours: &[Colour], s: f32) -> Vec<(usize, RgbImage)> {
    frames
        .iter()
        .map(|(step, img)| (*step, tint(img, colours[*step], s)))
        .collect()
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

#[test]
fn a_still_real_face_fails_flashing() {
    let limits = ChallengeLimits::default();
    let frames = observe(&pick(live_clip(), 0, 3, SEQ.len()));
    assert!(
        frames.iter().all(|f| f.face.is_some()),
        "the clip shows a face"
    );
    let r = challenge::verify(Some(&flashing(&SEQ)), Some("real"), &frames, &limits);
    assert!(!r.passed && r.score <= 50.0, "{r:?}");
    // The apfol_s1 live frames (a real webcam, seconds apart) likewise.
    let stills: Vec<(usize, RgbImage)> = (1..=10)
        .map(|i| {
            let path = data(&format!("liveness/frames/apfol_s1/live_{i:03}.jpg"));
            ((i - 1) / 2, small(&std::fs::read(path).unwrap()))
        })
        .collect();
    let r = challenge::verify(
        Some(&flashing(&SEQ)),
        Some("real"),
        &observe(&stills),
        &limits,
    );
    assert!(!r.passed, "{r:?}");
}

#[test]
fn a_real_face_lit_by_the_sequence_passes_flashing_and_not_another() {
    let limits = ChallengeLimits::default();
    // Frames 126-149 of the clip: the person holds still, as the page asks during flashing.
    let base = pick(live_clip(), 126, 2, SEQ.len());
    let lit = observe(&tinted(&base, &SEQ, 0.10));
    let r = challenge::verify(Some(&flashing(&SEQ)), Some("real"), &lit, &limits);
    assert!(r.passed && r.score > 50.0, "{r:?}");
    let r = challenge::verify(Some(&flashing(&OTHER)), Some("real"), &lit, &limits);
    assert!(!r.passed, "{r:?}");
    // The same frames, lit by the other sequence, against the issued one.
    let wrong = observe(&tinted(&base, &OTHER, 0.10));
    let r = challenge::verify(Some(&flashing(&SEQ)), Some("real"), &wrong, &limits);
    assert!(!r.passed, "{r:?}");
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
    assert!(obs[best].face.unwrap().yaw.abs() <= limits.straight_max_yaw + 5.0);
}

/// `draw` for the null distribution below: a fixed linear congruential generator.
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
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f32 * p).round() as usize]
}

/// The evidence behind `ChallengeLimits` (CALIBRATION.md, "Active challenges"); prints the
/// figures with `--nocapture` and checks the shipped thresholds against them.
#[test]
fn calibration_evidence() {
    let limits = ChallengeLimits::default();
    let clip: Vec<FrameObservation> = live_clip()
        .iter()
        .map(|img| pipeline().observe_frame(img, 0).unwrap())
        .collect();
    let replay: Vec<FrameObservation> = mjpeg_frames("video/spoof_replay_640x480_30fps_5s.mjpeg")
        .iter()
        .map(|f| pipeline().observe_frame(&small(f), 0).unwrap())
        .collect();

    // FLASHING null: random sequences against still faces (a live person not lit by the
    // screen, and a screen replay), every window of the clips.
    let mut corr = Vec::new();
    let mut gain = Vec::new();
    let mut ratio = Vec::new();
    let mut passes = 0;
    let mut rng = lcg(11);
    for source in [&clip, &replay, &clip, &replay] {
        for start in 0..source.len() {
            let ch = challenge::choose(LivenessMethod::Flashing, "n".into(), &mut rng).unwrap();
            let n = ch.steps.len() * 2;
            let stride = 1 + start % 4;
            let frames: Vec<FrameObservation> = (0..n)
                .map(|i| FrameObservation {
                    step: i / 2,
                    ..source[(start + i * stride) % source.len()]
                })
                .collect();
            let tracks: Vec<_> = frames
                .iter()
                .filter_map(|f| f.face.map(|t| (f.step, t)))
                .collect();
            if let Some((c, g)) = challenge::flash_response(&ch.steps, &tracks) {
                corr.push(c);
                gain.push(g);
                let yaws = tracks.iter().map(|(_, t)| t.yaw);
                let spread = yaws.clone().fold(f32::NEG_INFINITY, f32::max)
                    - yaws.fold(f32::INFINITY, f32::min);
                // What the colour thresholds face: windows the motion guard lets through.
                if spread <= limits.flash_max_yaw_spread {
                    ratio.push((c / limits.flash_min_correlation).min(g / limits.flash_min_gain));
                }
            }
            if challenge::verify(Some(&ch), Some("n"), &frames, &limits).passed {
                passes += 1;
            }
        }
    }
    let trials = corr.len();
    eprintln!(
        "flash null ({trials} trials): corr p50 {:.2} p95 {:.2} max {:.2}; gain p50 {:.4} p95 {:.4} max {:.4}; still windows {}: weakest-figure ratio p99 {:.2} max {:.2}; passes {passes}",
        percentile(&mut corr, 0.5),
        percentile(&mut corr, 0.95),
        percentile(&mut corr, 1.0),
        percentile(&mut gain, 0.5),
        percentile(&mut gain, 0.95),
        percentile(&mut gain, 1.0),
        ratio.len(),
        percentile(&mut ratio, 0.99),
        percentile(&mut ratio, 1.0),
    );
    assert_eq!(passes, 0, "a still face passed a random flashing challenge");

    // FLASHING response to simulated screen light of share s.
    for s in [0.02f32, 0.03, 0.04, 0.06, 0.10] {
        let base = pick(live_clip(), 126, 2, SEQ.len());
        let lit = observe(&tinted(&base, &SEQ, s));
        let tracks: Vec<_> = lit
            .iter()
            .filter_map(|f| f.face.map(|t| (f.step, t)))
            .collect();
        let ch = flashing(&SEQ);
        let (c, g) = challenge::flash_response(&ch.steps, &tracks).unwrap();
        let passed = challenge::verify(Some(&ch), Some("real"), &lit, &limits).passed;
        eprintln!("flash tint s={s}: corr {c:.2} gain {g:.4} passed {passed}");
    }

    // ACTIVE_3D: yaw noise of a still face (frames 126-149 of the clip), and yaw on real
    // photographs.
    let mut clip_yaw: Vec<f32> = clip[126..]
        .iter()
        .filter_map(|f| f.face.map(|t| t.yaw))
        .collect();
    let mean = clip_yaw.iter().sum::<f32>() / clip_yaw.len() as f32;
    let sd =
        (clip_yaw.iter().map(|y| (y - mean).powi(2)).sum::<f32>() / clip_yaw.len() as f32).sqrt();
    let spread = percentile(&mut clip_yaw, 1.0) - percentile(&mut clip_yaw, 0.0);
    eprintln!(
        "still clip yaw ({} frames): mean {mean:.1} sd {sd:.2} range {spread:.1}",
        clip_yaw.len()
    );
    assert!(
        spread < limits.straight_max_yaw,
        "a still face's yaw wanders as far as a turn"
    );

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
    let over = |t: f32| yaws.iter().filter(|y| **y >= t).count();
    let (over15, over25, over_limit) = (over(15.0), over(25.0), over(limits.turn_min_yaw));
    eprintln!(
        "faces |yaw| ({n} images): p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}; >=15°: {} >=25°: {}",
        percentile(&mut yaws, 0.5),
        percentile(&mut yaws, 0.9),
        percentile(&mut yaws, 0.99),
        percentile(&mut yaws, 1.0),
        over15,
        over25,
    );
    assert!(
        over_limit > 0,
        "no real turned face reaches the turn threshold"
    );
}
