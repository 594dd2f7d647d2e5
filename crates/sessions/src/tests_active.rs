//! ACTIVE_3D step by step through the service, over `MemoryStore` and a hand-moved clock:
//! issue limits, one step revealed at a time, replays, wrong steps, expiry, and the verdict
//! from the stored steps (never from client labels). Frames are constructed observations, as
//! in the pipeline's active_tests.rs; the protocol on the real clip is in
//! crates/pipeline/tests/active_real.rs and tests/edge/challenge.test.mjs.

use facegate_pipeline::challenge::fixtures::frame;
use facegate_pipeline::challenge::{ChallengeLimits, FrameObservation};
use facegate_pipeline::config::PipelineConfig;
use facegate_pipeline::{CheckStatus, Embedding};
use serde_json::Value;

use crate::capture::{CaptureEvidence, ChallengeAnswer};
use crate::memory::block_on;
use crate::store::Store;
use crate::tests::{challenge_app, emb, session_on, svc, Svc, TURNS};
use crate::tests_store::live_selfie;
use crate::types::{Application, SessionStatus};
use crate::ApiError;

fn limits() -> ChallengeLimits {
    ChallengeLimits::default()
}

fn yaw_of(head: &Value) -> f32 {
    match head.as_str() {
        Some("left") => 28.0,
        Some("right") => -26.0,
        _ => 1.0,
    }
}

/// A person doing what a reveal asks: three frames of turning, then the hold, one frame per
/// interval; `target` overrides where the head goes.
struct User {
    yaw: f32,
    seed: u64,
}

impl User {
    fn frames(&mut self, reveal: &Value, target: Option<f32>) -> Vec<FrameObservation> {
        let target = target.unwrap_or_else(|| yaw_of(&reveal["move"]));
        let interval = reveal["frame_interval_ms"].as_u64().unwrap() as usize;
        let held = (reveal["hold_ms"].as_u64().unwrap() as usize).div_ceil(interval) + 1;
        let from = self.yaw;
        let mut yaws: Vec<f32> = (1..=3)
            .map(|k| from + (target - from) * k as f32 / 3.0)
            .collect();
        yaws.extend(std::iter::repeat_n(target, held));
        self.yaw = target;
        yaws.into_iter()
            .enumerate()
            .map(|(k, y)| {
                self.seed += 1;
                let sway = if self.seed.is_multiple_of(2) {
                    0.3
                } else {
                    -0.3
                };
                frame(y + 0.3 * (k as f32).sin(), sway, self.seed)
            })
            .collect()
    }
}

struct Run<'a> {
    s: &'a Svc,
    apps: Vec<Application>,
    token: String,
}

impl Run<'_> {
    fn issue(&self) -> Result<Value, ApiError> {
        block_on(self.s.hosted_challenge(&self.apps, &self.token, &limits()))
    }

    /// Uploads `frames` for `step` after the time they take to film plus 300 ms.
    fn upload(
        &self,
        id: &str,
        step: usize,
        frames: &[FrameObservation],
        who: Embedding,
    ) -> Result<Value, ApiError> {
        self.s.clock.advance_ms(frames.len() as i64 * 200 + 300);
        let ctx =
            block_on(
                self.s
                    .begin_step(&self.apps, &self.token, id, &step.to_string(), &limits()),
            )?;
        block_on(self.s.answer_step(ctx, frames, Some(who), &limits()))
    }

    /// Answers every step with `frames_for(reveal)`; returns the challenge id.
    fn answer_all(&self, frames_for: &mut dyn FnMut(&Value) -> Vec<FrameObservation>) -> String {
        let issued = self.issue().expect("issued");
        let id = issued["id"].as_str().unwrap().to_owned();
        let mut reveal = issued["step"].clone();
        loop {
            let step = reveal["step"].as_u64().unwrap() as usize;
            let frames = frames_for(&reveal);
            let answer = self.upload(&id, step, &frames, emb(1)).expect("step");
            if answer["done"] == true {
                return id;
            }
            reveal = answer["step"].clone();
        }
    }

    /// The final capture naming `id`, a selfie of `who`.
    fn capture(&self, id: &str, who: Embedding) -> crate::CaptureResult {
        let config = PipelineConfig::default();
        let ctx = block_on(self.s.begin_capture(&self.apps, &self.token, None)).expect("begin");
        let mut e: CaptureEvidence = live_selfie(who);
        e.challenge = Some(ChallengeAnswer {
            challenge_id: id.to_owned(),
            frames: Vec::new(),
        });
        block_on(self.s.capture(ctx, e, &config)).expect("capture")
    }
}

fn run<'a>(s: &'a Svc, vendor: &str) -> Run<'a> {
    let a = challenge_app();
    let (_, token) = session_on(s, &a, TURNS, vendor);
    Run {
        s,
        apps: vec![a],
        token,
    }
}

fn status(e: ApiError) -> u16 {
    e.status()
}

#[test]
fn the_challenge_reveals_one_step_at_a_time_and_a_person_following_it_passes() {
    let s = svc();
    let r = run(&s, "u-follow");
    let issued = r.issue().unwrap();
    assert_eq!(issued["method"], "ACTIVE_3D");
    let total = issued["total_steps"].as_u64().unwrap();
    assert!((3..=4).contains(&total), "{issued}");
    assert_eq!(issued["step"]["step"], 0);
    assert_eq!(issued["step"]["move"], "straight");
    assert!(
        issued.get("steps").is_none(),
        "never the later steps: {issued}"
    );
    // What is stored is sealed: no embedding, patch or move in the clear.
    let row = s.store.active.borrow().values().next().cloned().unwrap();
    let sealed = row.current.unwrap().sealed;
    assert!(!sealed.contains("straight") && row.history.issued == 1);

    s.clock.advance_ms(3_000);
    let mut user = User { yaw: 2.0, seed: 1 };
    let id = r.answer_all(&mut |rev| user.frames(rev, None));
    let result = r.capture(&id, emb(1));
    assert_eq!(
        result.session.status,
        SessionStatus::Approved,
        "{:?}",
        result.session.liveness_checks
    );
    assert_eq!(result.session.liveness_checks[0].method, "ACTIVE_3D");
    // Verified: the state (embedding, patch) is gone; the count stays.
    let row = s.store.active.borrow().values().next().cloned().unwrap();
    assert!(row.current.is_none() && row.history.issued == 2);
}

#[test]
fn poses_that_do_not_follow_the_reveals_are_declined() {
    // The head goes the other way at every turn: what a recording cut to the wrong order does.
    let s = svc();
    let r = run(&s, "u-reorder");
    let mut user = User { yaw: 2.0, seed: 1 };
    let id = r.answer_all(&mut |rev| {
        let wrong = match rev["move"].as_str() {
            Some("left") => Some(-26.0),
            Some("right") => Some(28.0),
            _ => None,
        };
        user.frames(rev, wrong)
    });
    let result = r.capture(&id, emb(1));
    let item = &result.session.liveness_checks[0];
    assert_eq!(item.status, CheckStatus::Declined, "{item:?}");
    assert!(result.retry, "an attempt spent, others left");
    let why = format!("{:?}", item.warnings);
    assert!(why.contains("turned") || why.contains("centre"), "{why}");
}

#[test]
fn a_still_photo_answering_every_step_is_declined() {
    let s = svc();
    let r = run(&s, "u-photo");
    let id = r.answer_all(&mut |rev| {
        let n = (rev["hold_ms"].as_u64().unwrap() / 200 + 4) as usize;
        (0..n).map(|_| frame(1.0, 0.0, 7)).collect()
    });
    let result = r.capture(&id, emb(1));
    let item = &result.session.liveness_checks[0];
    assert_eq!(item.status, CheckStatus::Declined);
    assert!(format!("{:?}", item.warnings).contains("copy"));
}

#[test]
fn a_replayed_or_wrong_step_is_refused_and_records_nothing() {
    let s = svc();
    let r = run(&s, "u-replay");
    let issued = r.issue().unwrap();
    let id = issued["id"].as_str().unwrap().to_owned();
    let mut user = User { yaw: 2.0, seed: 1 };
    let frames = user.frames(&issued["step"], None);
    assert_eq!(status(r.upload(&id, 1, &frames, emb(1)).unwrap_err()), 409);
    assert_eq!(
        status(r.upload("another-id", 0, &frames, emb(1)).unwrap_err()),
        409
    );
    let none: Vec<FrameObservation> = Vec::new();
    assert_eq!(status(r.upload(&id, 0, &none, emb(1)).unwrap_err()), 400);
    let next = r.upload(&id, 0, &frames, emb(1)).expect("step 0");
    assert_eq!(next["step"]["step"], 1);
    // The same upload again: step 0 is answered; nothing changes.
    let before = s.store.active.borrow().clone();
    assert_eq!(status(r.upload(&id, 0, &frames, emb(1)).unwrap_err()), 409);
    assert_eq!(*s.store.active.borrow(), before);
    // Two uploads of one step read at the same revision: only the first is recorded.
    let frames = user.frames(&next["step"], None);
    let ctx = |s: &Svc| block_on(s.begin_step(&r.apps, &r.token, &id, "1", &limits())).unwrap();
    let (first, second) = (ctx(&s), ctx(&s));
    s.clock.advance_ms(2_000);
    block_on(s.answer_step(first, &frames, Some(emb(1)), &limits())).unwrap();
    let lost = block_on(s.answer_step(second, &frames, Some(emb(1)), &limits()));
    assert_eq!(status(lost.unwrap_err()), 409);
}

#[test]
fn a_step_after_the_challenge_expired_is_gone_and_the_state_deleted() {
    let s = svc();
    let r = run(&s, "u-late");
    let issued = r.issue().unwrap();
    let id = issued["id"].as_str().unwrap().to_owned();
    let mut user = User { yaw: 2.0, seed: 1 };
    let frames = user.frames(&issued["step"], None);
    s.clock.advance_ms(i64::from(limits().active_expiry_ms));
    let e = r.upload(&id, 0, &frames, emb(1)).unwrap_err();
    assert_eq!(status(e.clone()), 410);
    assert!(
        matches!(e, ApiError::Gone(ref m) if m.contains("expired")),
        "{e:?}"
    );
    let row = s.store.active.borrow().values().next().cloned().unwrap();
    assert!(
        row.current.is_none(),
        "no embedding or patch is kept past expiry"
    );
    // A capture naming it now fails liveness.
    let result = r.capture(&id, emb(1));
    assert_eq!(
        result.session.liveness_checks[0].status,
        CheckStatus::Declined
    );
}

#[test]
fn an_expired_session_keeps_no_challenge_state() {
    let s = svc();
    let r = run(&s, "u-abandoned");
    r.issue().unwrap();
    s.clock.advance(30 * 86_400);
    block_on(s.expire_due(&r.apps)).unwrap();
    let row = s.store.active.borrow().values().next().cloned().unwrap();
    assert!(row.current.is_none());
}

#[test]
fn a_session_gets_five_challenges_at_least_three_seconds_apart() {
    let s = svc();
    let r = run(&s, "u-limits");
    r.issue().unwrap();
    s.clock.advance_ms(1_000);
    let e = r.issue().unwrap_err();
    let (code, headers, body) = e.to_http();
    assert_eq!(code, 429);
    assert!(
        headers.contains(&("Retry-After".into(), "2".into())),
        "{headers:?}"
    );
    assert!(body["detail"].as_str().unwrap().contains("wait"));
    for _ in 0..4 {
        s.clock.advance_ms(3_000);
        r.issue().unwrap();
    }
    s.clock.advance_ms(3_000);
    let e = r.issue().unwrap_err();
    assert_eq!(e.status(), 429);
    assert!(e.to_http().2["detail"]
        .as_str()
        .unwrap()
        .contains("5 challenges"));
}

#[test]
fn the_capture_must_show_the_face_that_did_the_steps_and_answer_the_current_challenge() {
    let s = svc();
    let r = run(&s, "u-swap");
    let mut user = User { yaw: 2.0, seed: 1 };
    let id = r.answer_all(&mut |rev| user.frames(rev, None));
    let result = r.capture(&id, emb(5));
    let item = &result.session.liveness_checks[0];
    assert_eq!(item.status, CheckStatus::Declined);
    assert!(format!("{:?}", item.warnings).contains("another face than the steps"));
    // The challenge was spent by that attempt: naming it again fails.
    let result = r.capture(&id, emb(1));
    assert_eq!(
        result.session.liveness_checks[0].status,
        CheckStatus::Declined
    );
}

#[test]
fn the_stored_state_opens_only_for_its_own_session() {
    let s = svc();
    let r = run(&s, "u-seal-a");
    let other = run(&s, "u-seal-b");
    r.issue().unwrap();
    let issued = other.issue().unwrap();
    let id = issued["id"].as_str().unwrap();
    let rows = s.store.active.borrow().clone();
    let mut it = rows.iter();
    let (_, ra) = it.next().unwrap();
    let (kb, rb) = it.next().unwrap();
    // Copy one session's sealed state onto the other's row under the other's id.
    let mut moved = rb.clone();
    let mut stolen = ra.current.clone().unwrap();
    stolen.id = rb.current.as_ref().unwrap().id.clone();
    moved.current = Some(stolen);
    s.store.active.borrow_mut().insert(kb.clone(), moved);
    let e = block_on(
        other
            .s
            .begin_step(&other.apps, &other.token, id, "0", &limits()),
    );
    assert_eq!(e.unwrap_err().status(), 500);
    assert!(block_on(s.store.get_active("nobody", "nothing"))
        .unwrap()
        .is_none());
}

#[test]
fn a_step_frame_decoded_and_refused_costs_an_attempt_and_spends_the_challenge() {
    let s = svc();
    let r = run(&s, "u-garbage");
    r.issue().unwrap();
    let config = PipelineConfig::default();
    let refusal = crate::FieldErrors::single("frames", "Frame 2: not an image");
    let e = block_on(s.refuse_step(&r.apps, &r.token, refusal.clone(), &config));
    assert_eq!(e, refusal);
    let session = s.store.sessions.borrow().values().next().cloned().unwrap();
    assert_eq!(session.attempts, 1);
    assert_eq!(
        session.liveness_checks[0].warnings[0].risk,
        "NO_FACE_DETECTED"
    );
    let row = s.store.active.borrow().values().next().cloned().unwrap();
    assert!(row.current.is_none());
    // A refusal that is not the frames' fault (the isolate's memory) costs nothing.
    let busy = ApiError::Unavailable {
        detail: "busy".into(),
        retry_after: 1,
        cause: None,
    };
    block_on(s.refuse_step(&r.apps, &r.token, busy, &config));
    assert_eq!(
        s.store.sessions.borrow().values().next().unwrap().attempts,
        1
    );
}
