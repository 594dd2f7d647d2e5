//! Sequence choice and the verification logic on constructed tracks. The same checks on real
//! frames are in tests/challenge_real.rs.

use super::fixtures::{camera_patch, lcg};
use super::*;
use crate::align::ARCFACE_TEMPLATE;

/// A deterministic `draw` from a fixed list of values (wrapping).
fn draws(values: &[u32]) -> impl FnMut(u32) -> u32 + '_ {
    let mut i = 0;
    move |n| {
        let v = values[i % values.len()] % n;
        i += 1;
        v
    }
}

#[test]
fn passive_has_no_challenge() {
    assert_eq!(
        choose(LivenessMethod::Passive, "x".into(), &mut draws(&[0])),
        None
    );
}

#[test]
fn flashing_sequences_are_four_to_six_with_no_colour_twice_in_a_row() {
    let mut lengths = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut rng = lcg(7);
    for i in 0..500 {
        let c = choose(LivenessMethod::Flashing, format!("c{i}"), &mut rng).unwrap();
        let cs = c.colours();
        assert_eq!(cs.len(), c.steps.len());
        assert!((4..=6).contains(&cs.len()), "{cs:?}");
        assert!(cs.windows(2).all(|w| w[0] != w[1]), "{cs:?}");
        lengths.insert(cs.len());
        seen.extend(cs.iter().map(|c| format!("{c:?}")));
    }
    assert_eq!(lengths.len(), 3);
    assert_eq!(seen.len(), 6, "every palette colour is used");
}

#[test]
fn choice_is_a_function_of_the_draws() {
    let a = choose(
        LivenessMethod::Flashing,
        "id".into(),
        &mut draws(&[2, 5, 0, 3, 1, 4]),
    );
    let b = choose(
        LivenessMethod::Flashing,
        "id".into(),
        &mut draws(&[2, 5, 0, 3, 1, 4]),
    );
    assert_eq!(a, b);
    // 4 + 2 = 6 steps; first colour 5 (cyan); then k over the other five, skipping the
    // previous colour: 0 → red, 3 → magenta, 1 → green, 4 → cyan, 2 (wrapped) → blue.
    assert_eq!(
        a.unwrap().colours(),
        vec![
            Colour::Cyan,
            Colour::Red,
            Colour::Magenta,
            Colour::Green,
            Colour::Cyan,
            Colour::Blue
        ]
    );
}

#[test]
fn head_turns_start_and_end_straight_and_alternate() {
    let mut rng = lcg(3);
    let mut shapes = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let c = choose(LivenessMethod::Active3d, "a".into(), &mut rng).unwrap();
        let moves: Vec<HeadMove> = c
            .steps
            .iter()
            .map(|s| match s {
                Step::Turn { head } => *head,
                Step::Flash { .. } => panic!("flash step in ACTIVE_3D"),
            })
            .collect();
        assert_eq!(moves.first(), Some(&HeadMove::Straight));
        assert_eq!(moves.last(), Some(&HeadMove::Straight));
        let inner = &moves[1..moves.len() - 1];
        assert!((2..=3).contains(&inner.len()));
        assert!(inner.iter().all(|m| *m != HeadMove::Straight));
        assert!(inner.windows(2).all(|w| w[0] != w[1]));
        shapes.insert(format!("{inner:?}"));
    }
    assert_eq!(shapes.len(), 4, "{shapes:?}");
}

#[test]
fn wire_shapes() {
    let c = Challenge {
        id: "c1".into(),
        method: LivenessMethod::Flashing,
        steps: vec![Step::Flash {
            colour: Colour::Red,
            ms: 450,
        }],
    };
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(
        v,
        json!({"id": "c1", "method": "FLASHING", "steps": [{"colour": "#ff0000", "ms": 450}]})
    );
    assert_eq!(serde_json::from_value::<Challenge>(v).unwrap(), c);
    let t = Challenge {
        id: "c2".into(),
        method: LivenessMethod::Active3d,
        steps: vec![Step::Turn {
            head: HeadMove::Left,
        }],
    };
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(
        v,
        json!({"id": "c2", "method": "ACTIVE_3D", "steps": [{"move": "left"}]})
    );
    assert_eq!(serde_json::from_value::<Challenge>(v).unwrap(), t);
    for (s, m) in [
        ("passive", LivenessMethod::Passive),
        ("active_3d", LivenessMethod::Active3d),
        ("ACTIVE_3D", LivenessMethod::Active3d),
        ("flashing", LivenessMethod::Flashing),
    ] {
        assert_eq!(
            serde_json::from_value::<LivenessMethod>(json!(s)).unwrap(),
            m
        );
    }
    assert!(serde_json::from_value::<LivenessMethod>(json!("blink")).is_err());
}

// ------------------------------------------------------------------ flashing on constructed tracks

fn track(chroma: [f32; 3], yaw: f32) -> FaceTrack {
    FaceTrack {
        bbox: [0.3, 0.2, 0.4, 0.5],
        yaw,
        pitch: 0.0,
        roll: 0.0,
        sharpness: 100.0,
        chroma: Some(chroma),
        regions: Regions {
            centre: Some(chroma),
            sides: Some(chroma),
            background: Some([0.1, 0.0, -0.1]),
        },
    }
}

fn flash_challenge(cs: &[Colour]) -> Challenge {
    Challenge {
        id: "f".into(),
        method: LivenessMethod::Flashing,
        steps: cs
            .iter()
            .map(|&colour| Step::Flash {
                colour,
                ms: FLASH_MS,
            })
            .collect(),
    }
}

/// How the simulated scene answers the flashes.
#[derive(Clone, Copy)]
struct Scene {
    /// Gain of the skin's colour on the screen's.
    gain: f32,
    /// The background's gain as a share of the face's.
    background: f32,
    /// Centre gain over sides gain.
    relief: f32,
    /// Whether the onset frame shows the previous colour (a camera) or its own (a forger).
    lagged: bool,
    /// Whether consecutive frames come from a camera or are copies of one image.
    camera: bool,
}

const REAL: Scene = Scene {
    gain: 0.08,
    background: 0.1,
    relief: 1.6,
    lagged: true,
    camera: true,
};

/// Two frames per step (onset, then lit), the skin tone plus the lit colour times the gain,
/// plus a small wobble standing in for sensor noise.
fn flash_frames(cs: &[Colour], scene: Scene) -> Vec<FrameObservation> {
    let skin = [0.25, -0.02, -0.23];
    let wall = [0.05, 0.02, -0.07];
    let wobble = [0.002, -0.003, 0.001, -0.001, 0.003, -0.002];
    (0..cs.len() * 2)
        .map(|i| {
            let step = i / 2;
            let onset = i % 2 == 0;
            let shown = if onset && scene.lagged {
                step.checked_sub(1).map(|k| cs[k])
            } else {
                Some(cs[step])
            };
            let c = shown.map_or([0.0; 3], |c| centred(c.rgb()));
            let w = wobble[i % wobble.len()];
            let lit = |base: [f32; 3], g: f32| {
                centred([
                    base[0] + g * c[0] + w,
                    base[1] + g * c[1] - w,
                    base[2] + g * c[2],
                ])
            };
            // Centre and sides around the face's mean gain, in the ratio `relief`.
            let side_gain = 2.0 * scene.gain / (1.0 + scene.relief);
            let mut t = track(lit(skin, scene.gain), 0.0);
            t.regions = Regions {
                centre: Some(lit(skin, side_gain * scene.relief)),
                sides: Some(lit(skin, side_gain)),
                background: Some(lit(wall, scene.gain * scene.background)),
            };
            let patch = if scene.camera {
                camera_patch(
                    0.3 * (i as f32).sin(),
                    0.25 * (i as f32).cos(),
                    i as u64 + 1,
                )
            } else {
                camera_patch(0.0, 0.0, 1)
            };
            FrameObservation {
                step,
                face: Some(t),
                patch: Some(patch),
            }
        })
        .collect()
}

fn lit_frames(cs: &[Colour], gain: f32) -> Vec<FrameObservation> {
    flash_frames(cs, Scene { gain, ..REAL })
}

#[test]
fn flashing_passes_when_the_face_follows_the_colours() {
    let cs = [
        Colour::Red,
        Colour::Cyan,
        Colour::Green,
        Colour::Magenta,
        Colour::Blue,
    ];
    let ch = flash_challenge(&cs);
    let r = verify(
        Some(&ch),
        Some("f"),
        &lit_frames(&cs, 0.08),
        &ChallengeLimits::default(),
    );
    assert!(r.passed, "{r:?}");
    assert!(r.score > 50.0);
}

#[test]
fn flashing_fails_on_a_static_face_another_sequence_or_a_faint_response() {
    let cs = [
        Colour::Red,
        Colour::Cyan,
        Colour::Green,
        Colour::Magenta,
        Colour::Blue,
    ];
    let ch = flash_challenge(&cs);
    let limits = ChallengeLimits::default();
    let r = verify(Some(&ch), Some("f"), &lit_frames(&cs, 0.0), &limits);
    assert!(!r.passed && r.score <= 50.0, "{r:?}");
    let other = [
        Colour::Blue,
        Colour::Yellow,
        Colour::Red,
        Colour::Green,
        Colour::Cyan,
    ];
    let r = verify(Some(&ch), Some("f"), &lit_frames(&other, 0.08), &limits);
    assert!(!r.passed, "{r:?}");
    let r = verify(Some(&ch), Some("f"), &lit_frames(&cs, 0.005), &limits);
    assert!(!r.passed, "{r:?}");
    assert!(r.reasons.iter().any(|m| m.contains("gain")), "{r:?}");
}

#[test]
fn each_forgery_fails_on_what_it_cannot_fake() {
    let cs = [Colour::Green, Colour::Magenta, Colour::Yellow, Colour::Blue];
    let ch = flash_challenge(&cs);
    let limits = ChallengeLimits::default();
    let cases = [
        (
            "whole image tinted",
            Scene {
                background: 1.0,
                ..REAL
            },
            "background",
        ),
        (
            "face lit more on its sides",
            Scene {
                relief: 0.8,
                ..REAL
            },
            "evenly",
        ),
        (
            "tinted by the step's colour",
            Scene {
                lagged: false,
                ..REAL
            },
            "before the camera",
        ),
        (
            "copies of one image",
            Scene {
                camera: false,
                ..REAL
            },
            "copies",
        ),
    ];
    for (name, scene, why) in cases {
        let r = verify(Some(&ch), Some("f"), &flash_frames(&cs, scene), &limits);
        assert!(!r.passed && r.score <= 50.0, "{name}: {r:?}");
        assert!(r.reasons.iter().any(|m| m.contains(why)), "{name}: {r:?}");
    }
    // Noise added to a copy: it differs, but no motion explains the difference.
    let mut noisy = flash_frames(
        &cs,
        Scene {
            camera: false,
            ..REAL
        },
    );
    for (i, f) in noisy.iter_mut().enumerate() {
        f.patch = Some(camera_patch(0.0, 0.0, 100 + i as u64));
        let p = f.patch.as_mut().unwrap();
        let mut noise = lcg(7 + i as u64);
        for v in &mut p.luma {
            *v = (f32::from(*v) + noise(9) as f32 - 4.0).clamp(0.0, 255.0) as u8;
        }
    }
    let r = verify(Some(&ch), Some("f"), &noisy, &limits);
    assert!(!r.passed && r.reasons[0].contains("grainy"), "{r:?}");
    // One frame per step: no onset frame, so no lag evidence.
    let mut single = flash_frames(&cs, REAL);
    single.retain(|f| f.step != 2 || f.face.is_none());
    let r = verify(Some(&ch), Some("f"), &single, &limits);
    assert!(!r.passed, "{r:?}");
}

#[test]
fn the_answer_must_name_the_current_challenge() {
    let cs = [Colour::Red, Colour::Cyan, Colour::Green, Colour::Blue];
    let ch = flash_challenge(&cs);
    let frames = lit_frames(&cs, 0.08);
    let limits = ChallengeLimits::default();
    for answered in [None, Some("old"), Some("")] {
        let r = verify(Some(&ch), answered, &frames, &limits);
        assert!(!r.passed && r.score == 0.0, "{answered:?}");
    }
    assert!(!verify(None, Some("f"), &frames, &limits).passed);
}

#[test]
fn structure_is_checked_before_colour() {
    let cs = [Colour::Red, Colour::Cyan, Colour::Green, Colour::Blue];
    let ch = flash_challenge(&cs);
    let limits = ChallengeLimits::default();
    let good = lit_frames(&cs, 0.08);

    let mut missing_step = good.clone();
    missing_step.retain(|f| f.step != 2);
    assert!(verify(Some(&ch), Some("f"), &missing_step, &limits).reasons[0].contains("step 2"));

    let mut no_face = good.clone();
    no_face[3].face = None;
    assert!(verify(Some(&ch), Some("f"), &no_face, &limits).reasons[0].contains("no face"));

    let mut jumped = good.clone();
    if let Some(t) = jumped[4].face.as_mut() {
        t.bbox = [0.0, 0.0, 0.2, 0.2];
    }
    assert!(verify(Some(&ch), Some("f"), &jumped, &limits).reasons[0].contains("changed"));

    let mut shuffled = good.clone();
    shuffled.swap(0, 7);
    assert!(verify(Some(&ch), Some("f"), &shuffled, &limits).reasons[0].contains("order"));

    let mut beyond = good;
    beyond[7].step = 9;
    assert!(!verify(Some(&ch), Some("f"), &beyond, &limits).passed);
    assert!(!verify(Some(&ch), Some("f"), &[], &limits).passed);
}

// ------------------------------------------------------------------ head turns from landmark tracks

/// A face whose five landmarks are the frontal template with the nose moved sideways by
/// `nose_dx` template pixels, as a head turned by some yaw shows it; the yaw is then read the
/// way the pipeline reads it, through `Quality::measure`.
fn turned(nose_dx: f32) -> FaceTrack {
    let mut landmarks = ARCFACE_TEMPLATE.map(|p| [p[0] * 2.0 + 100.0, p[1] * 2.0 + 80.0]);
    landmarks[2][0] += nose_dx * 2.0;
    let face = Face {
        x: 100.0,
        y: 60.0,
        width: 224.0,
        height: 250.0,
        landmarks,
        score: 0.9,
    };
    let crop = RgbImage::from_pixel(112, 112, image::Rgb([128, 100, 90]));
    let q = Quality::measure(&face, &crop);
    FaceTrack {
        bbox: [0.2, 0.15, 0.45, 0.5],
        yaw: q.yaw,
        pitch: q.pitch,
        roll: q.roll,
        sharpness: 50.0,
        chroma: None,
        regions: Regions {
            centre: None,
            sides: None,
            background: None,
        },
    }
}

fn turn_challenge(moves: &[HeadMove]) -> Challenge {
    Challenge {
        id: "t".into(),
        method: LivenessMethod::Active3d,
        steps: moves.iter().map(|&head| Step::Turn { head }).collect(),
    }
}

/// Frames with the given nose offsets per step (template pixels; ±8 is about ±28°).
fn track_frames(per_step: &[&[f32]]) -> Vec<FrameObservation> {
    per_step
        .iter()
        .enumerate()
        .flat_map(|(step, dxs)| {
            dxs.iter()
                .map(move |&dx| FrameObservation::tracked(step, Some(turned(dx))))
        })
        .collect()
}

#[test]
fn yaw_sign_follows_the_nose() {
    assert!(turned(0.0).yaw.abs() < 0.5);
    assert!(turned(8.0).yaw > 20.0, "{}", turned(8.0).yaw);
    assert!(turned(-8.0).yaw < -20.0);
}

#[test]
fn head_turns_pass_in_the_asked_order_only() {
    use HeadMove::*;
    let ch = turn_challenge(&[Straight, Left, Right, Straight]);
    let limits = ChallengeLimits::default();
    let good = track_frames(&[&[0.5, 0.0], &[3.0, 8.0], &[-2.0, -8.5], &[1.0, 0.2]]);
    let r = verify(Some(&ch), Some("t"), &good, &limits);
    assert!(r.passed, "{r:?}");

    // Right then left, when left then right was asked.
    let swapped = track_frames(&[&[0.0, 0.0], &[-8.0, -8.0], &[8.0, 8.0], &[0.0, 0.0]]);
    let r = verify(Some(&ch), Some("t"), &swapped, &limits);
    assert!(!r.passed && r.reasons.len() == 2, "{r:?}");

    // A still face (a photo held up).
    let still = track_frames(&[&[0.3, 0.1], &[0.2, 0.4], &[0.1, 0.3], &[0.2, 0.2]]);
    assert!(!verify(Some(&ch), Some("t"), &still, &limits).passed);

    // A half-hearted turn stops short of the threshold.
    let timid = track_frames(&[&[0.0], &[2.0], &[-8.0], &[0.0]]);
    let r = verify(Some(&ch), Some("t"), &timid, &limits);
    assert!(!r.passed && r.reasons[0].contains("step 1"), "{r:?}");

    // Never came back to face the camera.
    let stuck = track_frames(&[&[0.0], &[8.0], &[-8.0], &[-7.0, -6.0]]);
    let r = verify(Some(&ch), Some("t"), &stuck, &limits);
    assert!(!r.passed && r.reasons[0].contains("look straight"), "{r:?}");
}

#[test]
fn a_camera_off_to_one_side_is_allowed_for() {
    use HeadMove::*;
    let ch = turn_challenge(&[Straight, Right, Left, Right, Straight]);
    // Everything shifted by 3 template px (about 12°): turns are measured from the start.
    let shifted = track_frames(&[&[3.0], &[-5.0], &[11.0], &[-5.0], &[3.5]]);
    let r = verify(Some(&ch), Some("t"), &shifted, &ChallengeLimits::default());
    assert!(r.passed, "{r:?}");
}

#[test]
fn best_frame_prefers_sharp_frontal_frames() {
    let mut frames = track_frames(&[&[0.0], &[8.0], &[0.0]]);
    frames[1].face.as_mut().unwrap().sharpness = 500.0;
    frames[2].face.as_mut().unwrap().sharpness = 90.0;
    assert_eq!(best_frame(&frames, &ChallengeLimits::default()), Some(2));
    frames[0].face = None;
    frames[2].face = None;
    assert_eq!(best_frame(&frames, &ChallengeLimits::default()), Some(1));
}

#[test]
fn a_failed_challenge_declines_the_item_with_a_clear_warning() {
    let mut check = LivenessCheck {
        node_id: "feature_liveness".into(),
        status: CheckStatus::Approved,
        method: "PASSIVE".into(),
        score: 97.0,
        reference_image: None,
        video_url: None,
        age_estimation: None,
        matches: vec![],
        face_quality: Some(90.0),
        face_luminance: Some(120.0),
        warnings: vec![],
        evidence: None,
    };
    let failed = ChallengeResult::fail("no frame for step 2");
    let mut declined = check.clone();
    apply(&mut declined, LivenessMethod::Flashing, Some("c9"), &failed);
    assert_eq!(declined.status, CheckStatus::Declined);
    assert_eq!(declined.method, "FLASHING");
    assert_eq!(declined.score, 0.0);
    let w = &declined.warnings[0];
    assert_eq!(w.risk, "LOW_LIVENESS_SCORE");
    assert_eq!(w.additional_data.as_ref().unwrap()["challenge_id"], "c9");
    assert!(w.long_description.contains("no frame for step 2"));

    let passed = ChallengeResult {
        passed: true,
        score: 80.0,
        reasons: vec![],
        figures: serde_json::Value::Null,
    };
    apply(&mut check, LivenessMethod::Active3d, Some("c9"), &passed);
    assert_eq!(
        (check.status, check.method.as_str(), check.score),
        (CheckStatus::Approved, "ACTIVE_3D", 80.0)
    );
    assert!(check.warnings.is_empty());
}
