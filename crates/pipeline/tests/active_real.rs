//! The step-by-step ACTIVE_3D protocol (src/challenge/active.rs) on the real live clip
//! (video/live_selfie_640x480_30fps_5s.mjpeg, 30 fps), its frames sampled every 6 (200 ms, the
//! page's cadence) and stamped by a simulated server clock as the page would upload them.
//!
//! The clip's person turns: straight (frames 0-9), left (21-30), right (39-54), left (72-87),
//! right (99-111), straight (120-149). Each pose is held about 0.3 s, shorter than the
//! shortest hold the protocol asks (0.4 s), so even played in its own order the clip cannot
//! answer a challenge: it was not made for one. The pass side of the protocol is therefore
//! shown on constructed frames (src/challenge/active_tests.rs); here the attacks on real
//! frames must all fail, and the clip in its own order is reported with its reasons.

mod common;

use std::sync::OnceLock;

use common::{mjpeg_frames, pipeline};
use facegate_pipeline::challenge::active::{self, ActiveChallenge, IssueHistory, Reveal};
use facegate_pipeline::challenge::{ChallengeLimits, ChallengeResult, FrameObservation, HeadMove};
use facegate_pipeline::{Embedding, Want};
use image::RgbImage;

const T0: i64 = 5_000_000;

fn clip() -> &'static Vec<(RgbImage, FrameObservation)> {
    static CLIP: OnceLock<Vec<(RgbImage, FrameObservation)>> = OnceLock::new();
    CLIP.get_or_init(|| {
        mjpeg_frames("video/live_selfie_640x480_30fps_5s.mjpeg")
            .iter()
            .map(|f| {
                let img = pipeline().decode(f).unwrap();
                let h = img.height() * 480 / img.width();
                let img =
                    image::imageops::resize(&img, 480, h, image::imageops::FilterType::Triangle);
                let obs = pipeline().observe_frame(&img, 0).unwrap();
                (img, obs)
            })
            .collect()
    })
}

fn identity(i: usize) -> Option<Embedding> {
    let a = pipeline()
        .analyze_image(
            &clip()[i].0,
            Want {
                embedding: true,
                liveness: false,
            },
        )
        .unwrap();
    a.subject.and_then(|s| s.embedding)
}

fn yaw(i: usize) -> f32 {
    clip()[i].1.face.as_ref().map_or(0.0, |t| t.yaw)
}

/// Plays a challenge: for each revealed step `choose(reveal)` names the clip frames to send;
/// they are uploaded as filmed at the cadence, 300 ms after the last.
fn play(
    draws: &[u32],
    choose: &mut dyn FnMut(&Reveal) -> Vec<usize>,
) -> (ActiveChallenge, ChallengeResult) {
    let limits = ChallengeLimits::default();
    let mut k = 0;
    let mut draw = |n: u32| {
        let v = draws[k % draws.len()] % n;
        k += 1;
        v
    };
    let mut state =
        active::issue("c".into(), T0, IssueHistory::default(), &mut draw, &limits).unwrap();
    let mut now = T0;
    while state.steps.len() < state.total_steps {
        now += 400;
        let r = active::reveal_next(&mut state, now, &mut draw, &limits).unwrap();
        let picked = choose(&r);
        let frames: Vec<FrameObservation> = picked.iter().map(|&i| clip()[i].1.clone()).collect();
        now += picked.len() as i64 * i64::from(limits.active_frame_interval_ms) + 300;
        let who = identity(*picked.last().unwrap());
        active::accept_step_frames(&mut state, r.step, &frames, who, now, &limits).unwrap();
    }
    let r = active::verify(&state, &limits);
    (state, r)
}

fn target(head: HeadMove, base: f32) -> f32 {
    match head {
        HeadMove::Straight => base,
        HeadMove::Left => base + 30.0,
        HeadMove::Right => base - 27.0,
    }
}

#[test]
fn a_still_photo_fails() {
    // Frame 130 of the clip sent for every frame of every step.
    for draws in [&[1, 0, 0, 0, 1, 1][..], &[0, 2, 1, 1, 0, 2]] {
        let (_, r) = play(draws, &mut |r| {
            vec![130; 3 + (r.hold_ms as usize).div_ceil(200) + 1]
        });
        eprintln!("still photo: {}", r.reasons.join("; "));
        assert!(!r.passed && r.score <= 50.0, "{r:?}");
    }
}

#[test]
fn frames_cherry_picked_by_pose_fail() {
    // The attacker indexes the whole clip by yaw and, for each revealed step, sends a smooth
    // path of poses (three frames of turn, then the hold) using the frame nearest each pose.
    let base = yaw(130);
    for (n, draws) in [
        [1u32, 0, 0, 0, 1, 1],
        [0, 2, 1, 1, 0, 2],
        [1, 1, 1, 0, 0, 1],
    ]
    .iter()
    .enumerate()
    {
        let mut at = base;
        let (_, r) = play(draws, &mut |rv| {
            let goal = target(rv.head, base);
            let held = (rv.hold_ms as usize).div_ceil(200) + 1;
            let path: Vec<f32> = (1..=3)
                .map(|k| at + (goal - at) * k as f32 / 3.0)
                .chain(std::iter::repeat_n(goal, held))
                .collect();
            at = goal;
            let mut used = Vec::new();
            path.iter()
                .map(|&y| {
                    let best = (0..clip().len())
                        .filter(|i| !used.contains(i))
                        .min_by(|&a, &b| (yaw(a) - y).abs().total_cmp(&(yaw(b) - y).abs()))
                        .unwrap();
                    used.push(best);
                    best
                })
                .collect()
        });
        eprintln!("cherry-picked {n}: {}", r.reasons.join("; "));
        assert!(!r.passed && r.score <= 50.0, "{r:?}");
    }
}

/// The clip's own segments, sampled at the cadence.
fn segment(head: HeadMove, second: bool) -> Vec<usize> {
    let range = match (head, second) {
        (HeadMove::Straight, false) => 0..12,
        (HeadMove::Straight, true) => 114..150,
        (HeadMove::Left, false) => 12..33,
        (HeadMove::Left, true) => 60..90,
        (HeadMove::Right, false) => 33..57,
        (HeadMove::Right, true) => 90..114,
    };
    range.step_by(6).collect()
}

#[test]
fn a_reordered_recording_fails_and_the_clip_in_its_own_order_is_reported() {
    // Draws giving straight, left, right, left with 400 ms holds: the clip's own order.
    let natural = [1u32, 0, 0, 0, 1, 0, 1, 0];
    let mut seen: Vec<HeadMove> = Vec::new();
    let (_, r) = play(&natural, &mut |rv| {
        let second = seen.contains(&rv.head);
        seen.push(rv.head);
        segment(rv.head, second)
    });
    eprintln!(
        "clip in its own order: passed {} — {} {}",
        r.passed,
        r.reasons.join("; "),
        r.figures
    );
    // Straight, right, left, right: the clip's segments cut and put in the asked order.
    let reordered = [1u32, 0, 1, 0, 1, 0, 1, 0];
    let mut seen: Vec<HeadMove> = Vec::new();
    let (state, r) = play(&reordered, &mut |rv| {
        let second = seen.contains(&rv.head);
        seen.push(rv.head);
        segment(rv.head, second)
    });
    let asked: Vec<HeadMove> = state.steps.iter().map(|s| s.head).collect();
    eprintln!("reordered {asked:?}: {}", r.reasons.join("; "));
    assert!(!r.passed && r.score <= 50.0, "{r:?}");
}
