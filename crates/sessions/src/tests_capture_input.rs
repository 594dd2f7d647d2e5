//! What a capture must be before anything decides on it: the kind of capture the workflow takes
//! (a burst for passive liveness, the challenge's frames for an active one), and a frame read
//! and refused as an attempt (without that, a token holder probes the decoder, or grinds
//! through forged frames, for free).

use facegate_pipeline::config::PipelineConfig;

use crate::capture::CaptureKind;
use crate::error::{ApiError, FieldErrors};
use crate::memory::block_on;
use crate::tests::{app, bio_session, challenge_app, session_on, svc, token_of, Svc, FLASH, TURNS};
use crate::types::Application;
use crate::types::SessionStatus;

fn session_id(s: &Svc, a: &Application) -> String {
    bio_session(s, a, "user-1")["session_id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[test]
fn refused_frames_cost_attempts_until_the_session_is_declined() {
    let (s, a) = (svc(), app());
    let id = session_id(&s, &a);
    let apps = vec![a.clone()];
    let config = PipelineConfig::default();
    let refuse = || {
        let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &id), None)).expect("begin");
        let refusal = FieldErrors::single("frame", "Not a JPEG, PNG or WebP image.");
        block_on(s.refuse_capture(ctx, refusal, &config))
    };
    let deliveries_before = s.store.deliveries.borrow().len();
    for attempts in [1, 2] {
        let e = refuse();
        assert_eq!(
            e.status(),
            400,
            "the refusal itself is what the client reads"
        );
        let session = s.store.sessions.borrow()[&id].clone();
        assert_eq!(
            (session.status, session.attempts),
            (SessionStatus::InProgress, attempts)
        );
    }
    assert_eq!(refuse().status(), 400);
    let session = s.store.sessions.borrow()[&id].clone();
    assert_eq!(session.status, SessionStatus::Declined);
    let risks: Vec<&str> = session.liveness_checks[0]
        .warnings
        .iter()
        .map(|w| w.risk.as_str())
        .collect();
    assert_eq!(risks, ["NO_FACE_DETECTED"]);
    assert!(
        s.store.deliveries.borrow().len() > deliveries_before,
        "the final decline is sent to the webhook like any other"
    );
    // The token is spent: a fourth frame, good or bad, is refused as for any decided session.
    let again = block_on(s.begin_capture(&apps, &token_of(&s, &id), None)).map(|_| ());
    assert_eq!(again.expect_err("decided").status(), 409);
}

#[test]
fn refusals_that_are_not_the_frames_fault_cost_nothing() {
    let (s, a) = (svc(), app());
    let id = session_id(&s, &a);
    let apps = vec![a.clone()];
    let config = PipelineConfig::default();
    for ours in [
        ApiError::storage_unavailable("injected"),
        ApiError::Internal("model fault".into()),
    ] {
        let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &id), None)).expect("begin");
        let status = ours.status();
        assert_eq!(
            block_on(s.refuse_capture(ctx, ours, &config)).status(),
            status
        );
    }
    assert_eq!(s.store.sessions.borrow()[&id].attempts, 0);
}

#[test]
fn a_passive_workflow_takes_a_burst_and_an_active_one_its_challenge_frames() {
    let (s, a) = (svc(), app());
    let id = session_id(&s, &a);
    let ctx =
        block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).expect("begin");
    assert!(ctx.expect(CaptureKind::Burst).is_ok());
    for wrong in [CaptureKind::SingleFrame, CaptureKind::Challenge] {
        let (status, body) = crate::tests::err(Err(ctx.expect(wrong).unwrap_err()));
        assert_eq!(status, 400);
        assert!(
            body["burst"][0].as_str().unwrap().contains("5 to 8 frames"),
            "{body}"
        );
    }
    let a = challenge_app();
    for (k, workflow) in [FLASH, TURNS].into_iter().enumerate() {
        let (_, token) = session_on(&s, &a, workflow, &format!("active-{k}"));
        let ctx = block_on(s.begin_capture(std::slice::from_ref(&a), &token, None)).expect("begin");
        assert!(ctx.expect(CaptureKind::Challenge).is_ok());
        for wrong in [CaptureKind::SingleFrame, CaptureKind::Burst] {
            let (status, body) = crate::tests::err(Err(ctx.expect(wrong).unwrap_err()));
            assert_eq!(status, 400);
            assert!(
                body["frames"][0].as_str().unwrap().contains("challenge"),
                "{body}"
            );
        }
    }
    // Nothing was spent: the kind is checked before any frame is decoded.
    assert!(s.store.sessions.borrow().values().all(|x| x.attempts == 0));
}
