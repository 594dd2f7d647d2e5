//! A frame read and refused is an attempt: without that, a token holder probes the decoder, or
//! grinds through forged frames, for free.

use facegate_pipeline::config::PipelineConfig;

use crate::error::{ApiError, FieldErrors};
use crate::memory::block_on;
use crate::tests::{app, bio_session, svc, token_of};
use crate::types::SessionStatus;

#[test]
fn refused_frames_cost_attempts_until_the_session_is_declined() {
    let (s, a) = (svc(), app());
    let id = bio_session(&s, &a, "user-1")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let apps = vec![a.clone()];
    let config = PipelineConfig::default();
    let refuse = || {
        let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &id))).expect("begin");
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
    let again = block_on(s.begin_capture(&apps, &token_of(&s, &id))).map(|_| ());
    assert_eq!(again.expect_err("decided").status(), 409);
}

#[test]
fn refusals_that_are_not_the_frames_fault_cost_nothing() {
    let (s, a) = (svc(), app());
    let id = bio_session(&s, &a, "user-1")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let apps = vec![a.clone()];
    let config = PipelineConfig::default();
    for ours in [
        ApiError::storage_unavailable("injected"),
        ApiError::Internal("model fault".into()),
    ] {
        let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &id))).expect("begin");
        let status = ours.status();
        assert_eq!(
            block_on(s.refuse_capture(ctx, ours, &config)).status(),
            status
        );
    }
    assert_eq!(s.store.sessions.borrow()[&id].attempts, 0);
}
