//! The step-by-step ACTIVE_3D protocol on constructed frames: limits, order, timing and the
//! checks. The same on the real clip is in tests/challenge_real.rs.

use super::*;
use crate::challenge::fixtures::{frame, lcg};

const T0: i64 = 1_000_000;

fn limits() -> ChallengeLimits {
    ChallengeLimits::default()
}

fn person(k: usize) -> Embedding {
    let mut v = vec![0.01; crate::embed::EMBEDDING_DIM];
    v[k] = 1.0;
    Embedding::from_raw(v).unwrap()
}

/// A user doing what each revealed step asks: turning over three frames from where they were,
/// then holding the pose for the asked time, one frame per interval, uploaded `latency` ms
/// after the last frame.
struct User {
    yaw: f32,
    seed: u64,
    now: i64,
    latency: i64,
}

impl User {
    fn new() -> Self {
        User {
            yaw: 2.0,
            seed: 1,
            now: T0,
            latency: 300,
        }
    }

    fn frames_for(&mut self, r: &Reveal) -> Vec<FrameObservation> {
        let target = match r.head {
            HeadMove::Straight => 1.0,
            HeadMove::Left => 28.0,
            HeadMove::Right => -26.0,
        };
        let from = self.yaw;
        let held = (r.hold_ms as usize).div_ceil(r.frame_interval_ms as usize) + 1;
        let mut out = Vec::new();
        for k in 1..=3 {
            out.push(from + (target - from) * k as f32 / 3.0);
        }
        out.extend(std::iter::repeat_n(target, held));
        self.yaw = target;
        out.into_iter()
            .enumerate()
            .map(|(k, yaw)| {
                self.seed += 1;
                // A head at rest still sways a little: a third of a pixel one way, then back.
                let sway = if self.seed.is_multiple_of(2) {
                    0.3
                } else {
                    -0.3
                };
                frame(yaw + 0.3 * (k as f32).sin(), sway, self.seed)
            })
            .collect()
    }

    /// Runs the whole challenge; `tamper` may change each step's frames and upload delay.
    fn run(
        &mut self,
        state: &mut ActiveChallenge,
        draw: &mut dyn FnMut(u32) -> u32,
        tamper: &mut dyn FnMut(usize, &mut Vec<FrameObservation>, &mut i64),
    ) {
        while state.steps.len() < state.total_steps {
            self.now += 400;
            let r = reveal_next(state, self.now, draw, &limits()).unwrap();
            let mut frames = self.frames_for(&r);
            let mut filmed = frames.len() as i64 * i64::from(r.frame_interval_ms);
            tamper(r.step, &mut frames, &mut filmed);
            self.now += filmed + self.latency;
            let who = person(0);
            accept_step_frames(state, r.step, &frames, Some(who), self.now, &limits()).unwrap();
        }
    }
}

fn fresh(draw: &mut dyn FnMut(u32) -> u32) -> ActiveChallenge {
    issue("c".into(), T0, IssueHistory::default(), draw, &limits()).unwrap()
}

#[test]
fn a_user_doing_each_step_passes() {
    for seed in 0..20 {
        let mut draw = lcg(seed);
        let mut state = fresh(&mut draw);
        User::new().run(&mut state, &mut draw, &mut |_, _, _| {});
        let r = verify(&state, &limits());
        assert!(r.passed && r.score > 50.0, "seed {seed}: {r:?}");
    }
}

#[test]
fn steps_vary_in_direction_and_hold_and_are_drawn_only_when_revealed() {
    let mut shapes = std::collections::BTreeSet::new();
    let mut draw = lcg(5);
    for _ in 0..300 {
        let mut state = fresh(&mut draw);
        assert!((3..=4).contains(&state.total_steps));
        assert!(
            state.steps.is_empty(),
            "nothing is drawn before it is revealed"
        );
        User::new().run(&mut state, &mut draw, &mut |_, _, _| {});
        let moves: Vec<(HeadMove, u32)> = state.steps.iter().map(|s| (s.head, s.hold_ms)).collect();
        assert_eq!(moves[0].0, HeadMove::Straight);
        assert!(moves.windows(2).all(|w| w[0].0 != w[1].0), "{moves:?}");
        shapes.insert(format!("{moves:?}"));
    }
    // 3 holds, then 2 moves × 3 holds per later step: hundreds of sequences.
    assert!(shapes.len() > 100, "{}", shapes.len());
}

#[test]
fn issuing_is_limited_per_session_and_in_time() {
    let l = limits();
    let mut draw = lcg(1);
    let h = IssueHistory {
        issued: l.max_challenges,
        last_issued_at: Some(T0 - 60_000),
    };
    assert_eq!(
        issue("x".into(), T0, h, &mut draw, &l),
        Err(ProtocolError::TooManyChallenges(l.max_challenges))
    );
    let h = IssueHistory {
        issued: 1,
        last_issued_at: Some(T0 - 1_000),
    };
    assert_eq!(
        issue("x".into(), T0, h, &mut draw, &l),
        Err(ProtocolError::TooSoon(1_000))
    );
    let h = IssueHistory {
        issued: 1,
        last_issued_at: Some(T0 - i64::from(l.min_issue_interval_ms)),
    };
    let c = issue("x".into(), T0, h, &mut draw, &l).unwrap();
    assert_eq!(c.expires_at, T0 + i64::from(l.active_expiry_ms));
}

#[test]
fn steps_are_revealed_one_at_a_time_and_the_challenge_expires() {
    let l = limits();
    let mut draw = lcg(2);
    let mut state = fresh(&mut draw);
    let r = reveal_next(&mut state, T0 + 100, &mut draw, &l).unwrap();
    assert_eq!((r.step, r.head), (0, HeadMove::Straight));
    assert_eq!(r.respond_by, T0 + 100 + i64::from(l.active_step_timeout_ms));
    assert_eq!(
        reveal_next(&mut state, T0 + 200, &mut draw, &l),
        Err(ProtocolError::Unanswered(0))
    );
    let frames = User::new().frames_for(&r);
    let bad = |s: &mut ActiveChallenge, step, frames: &[FrameObservation], at| {
        accept_step_frames(s, step, frames, Some(person(0)), at, &l)
    };
    assert_eq!(
        bad(&mut state, 1, &frames, T0 + 2_000),
        Err(ProtocolError::WrongStep(1))
    );
    assert!(matches!(
        bad(&mut state, 0, &[], T0 + 2_000),
        Err(ProtocolError::FrameCount { sent: 0, .. })
    ));
    let many: Vec<FrameObservation> = (0..17).map(|i| frame(0.0, 0.0, i)).collect();
    assert!(matches!(
        bad(&mut state, 0, &many, T0 + 2_000),
        Err(ProtocolError::FrameCount { sent: 17, .. })
    ));
    bad(&mut state, 0, &frames, T0 + 2_000).unwrap();
    // A replay of the same upload.
    assert_eq!(
        bad(&mut state, 0, &frames, T0 + 2_100),
        Err(ProtocolError::WrongStep(0))
    );
    let late = state.expires_at;
    assert_eq!(
        reveal_next(&mut state, late, &mut draw, &l),
        Err(ProtocolError::Expired)
    );
    reveal_next(&mut state, late - 1, &mut draw, &l).unwrap();
    assert_eq!(
        bad(&mut state, 1, &frames, late),
        Err(ProtocolError::Expired)
    );
    let r = verify(&state, &l);
    assert!(!r.passed && r.reasons[0].contains("not finished"), "{r:?}");
}

/// Runs a challenge with `tamper` and returns the verdict.
fn tampered(
    seed: u64,
    tamper: &mut dyn FnMut(usize, &mut Vec<FrameObservation>, &mut i64),
) -> ChallengeResult {
    let mut draw = lcg(seed);
    let mut state = fresh(&mut draw);
    User::new().run(&mut state, &mut draw, tamper);
    verify(&state, &limits())
}

fn fails_with(r: &ChallengeResult, why: &str) {
    assert!(!r.passed && r.score <= 50.0, "{r:?}");
    assert!(
        r.reasons.iter().any(|m| m.contains(why)),
        "expected {why:?}: {r:?}"
    );
}

#[test]
fn timing_is_judged_by_the_servers_clock() {
    // More frames than the time allowed: a recording played faster than life.
    fails_with(
        &tampered(3, &mut |_, _, filmed| *filmed /= 3),
        "can have been filmed",
    );
    // A long unfilmed wait: time to search a recording, or a hold stretched over few frames.
    fails_with(&tampered(3, &mut |_, _, filmed| *filmed += 6_000), "only");
    // Past the step's deadline.
    fails_with(
        &tampered(3, &mut |step, _, filmed| {
            if step == 1 {
                *filmed = 11_000;
            }
        }),
        "arrived",
    );
}

#[test]
fn motion_must_be_continuous_held_and_the_same_face() {
    // A still photo: the head never turns (and its frames are copies).
    let r = tampered(4, &mut |_, f, _| {
        for g in f.iter_mut() {
            *g = frame(1.0, 0.0, 1);
        }
    });
    fails_with(&r, "copy");
    assert!(
        r.reasons
            .iter()
            .any(|m| m.contains("turned") || m.contains("centre")),
        "{r:?}"
    );
    // Frames cut from elsewhere: the turn skips the frames in between.
    // One frame from another moment: the head on the other side in the middle of a turn.
    fails_with(
        &tampered(4, &mut |step, f, _| {
            if step > 0 {
                let t = f[2].face.as_mut().unwrap();
                t.yaw = if t.yaw > 0.0 { -25.0 } else { 25.0 };
            }
        }),
        "jumped",
    );
    // The pose reached but not held.
    fails_with(
        &tampered(4, &mut |step, f, _| {
            if step > 0 {
                let n = f.len();
                let y = f[n - 1].face.unwrap().yaw;
                f[n - 1].face.as_mut().unwrap().yaw = y - y.signum() * 12.0;
            }
        }),
        "not held",
    );
    // Held frames that are one frame copied with noise added.
    fails_with(
        &tampered(4, &mut |_, f, _| {
            let n = f.len();
            let mut copy = f[n - 2].patch.clone().unwrap();
            let mut noise = lcg(77);
            for v in &mut copy.luma {
                *v = (f32::from(*v) + noise(9) as f32 - 4.0).clamp(0.0, 255.0) as u8;
            }
            f[n - 1].patch = Some(copy);
        }),
        "grainy",
    );
}

#[test]
fn another_face_fails() {
    let mut draw = lcg(6);
    let mut state = fresh(&mut draw);
    let mut user = User::new();
    let mut n = 0;
    while state.steps.len() < state.total_steps {
        user.now += 400;
        let r = reveal_next(&mut state, user.now, &mut draw, &limits()).unwrap();
        let frames = user.frames_for(&r);
        user.now += frames.len() as i64 * 200 + 300;
        let who = person(if n == 1 { 7 } else { 0 });
        accept_step_frames(&mut state, r.step, &frames, Some(who), user.now, &limits()).unwrap();
        n += 1;
    }
    fails_with(&verify(&state, &limits()), "another face");
}

#[test]
fn the_state_survives_storage() {
    let mut draw = lcg(8);
    let mut state = fresh(&mut draw);
    User::new().run(&mut state, &mut draw, &mut |_, _, _| {});
    let text = serde_json::to_string(&state).unwrap();
    let back: ActiveChallenge = serde_json::from_str(&text).unwrap();
    assert_eq!(back, state);
    assert!(verify(&back, &limits()).passed);
    // One patch and a few embeddings: small enough for a D1 row.
    assert!(text.len() < 64 * 1024, "{}", text.len());
}
