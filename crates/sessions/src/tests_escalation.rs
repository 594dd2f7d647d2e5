//! Escalation: a borderline passive capture asks for a challenge instead of being decided, and
//! costs no attempt; the challenge then decides, and cannot be skipped with another burst.

use facegate_pipeline::challenge::LivenessMethod;
use facegate_pipeline::config::PipelineConfig;
use serde_json::json;

use crate::capture::{CaptureEvidence, CaptureKind, ChallengeAnswer};
use crate::memory::block_on;
use crate::tests::{app, create, emb, ok_body, portrait_b64, svc, token_of, Svc};
use crate::tests_store::live_selfie;
use crate::types::{Application, SessionStatus, Workflow};

const ESCALATING: &str = "55555555-5555-4555-8555-555555555555";

fn escalating_app() -> Application {
    let mut a = app();
    let wf: Workflow = serde_json::from_value(json!({
        "id": ESCALATING, "version": 1, "workflow_type": "biometric_authentication",
        "liveness_escalation": {"enabled": true},
    }))
    .expect("workflow config");
    a.workflows.push(wf);
    a
}

fn session(s: &Svc, a: &Application, vendor: &str) -> (String, String) {
    let body =
        json!({"workflow_id": ESCALATING, "vendor_data": vendor, "portrait_image": portrait_b64()});
    let (status, b) = ok_body(create(s, a, body));
    assert_eq!(status, 201, "{b}");
    let id = b["session_id"].as_str().expect("id").to_owned();
    let token = token_of(s, &id);
    (id, token)
}

/// A selfie of the enrolled face whose live probability is `fraction` of the threshold.
fn selfie_at(fraction: f32, config: &PipelineConfig) -> CaptureEvidence {
    let mut e = live_selfie(emb(1));
    let live = e
        .analysis
        .subject
        .as_mut()
        .and_then(|s| s.liveness.as_mut())
        .expect("scored");
    live.live = config.calibration.live_probability * fraction;
    e
}

#[test]
fn a_borderline_capture_asks_for_a_flashing_challenge_and_costs_nothing() {
    let (s, a, config) = (svc(), escalating_app(), PipelineConfig::default());
    let apps = vec![a.clone()];
    let (id, token) = session(&s, &a, "borderline");
    let ctx = block_on(s.begin_capture(&apps, &token, None)).expect("begin");
    // (Opening the capture sent "In Progress"; count from there.)
    let deliveries = s.store.deliveries.borrow().len();
    let r = block_on(s.capture(ctx, selfie_at(0.9, &config), &config)).expect("capture");
    assert!(r.escalated && r.retry);
    assert_eq!(r.attempts_left, 3, "not an attempt");
    let challenge = r.challenge.clone().expect("a challenge");
    assert_eq!(challenge.method, LivenessMethod::Flashing);
    assert_eq!(r.to_json()["escalated"], true);
    let stored = s.store.sessions.borrow()[&id].clone();
    assert_eq!(
        (stored.status, stored.attempts, stored.escalations),
        (SessionStatus::InProgress, 0, 1)
    );
    assert!(
        stored.liveness_checks.is_empty(),
        "the borderline verdict is not kept"
    );
    assert_eq!(
        s.store.deliveries.borrow().len(),
        deliveries,
        "no webhook: nothing was decided"
    );

    // Another burst would skip the challenge: refused while it is outstanding.
    let ctx = block_on(s.begin_capture(&apps, &token, None)).expect("begin");
    assert_eq!(
        ctx.expect(CaptureKind::Burst).map_err(|e| e.status()),
        Err(400)
    );
    assert!(ctx.expect(CaptureKind::Challenge).is_ok());
    // The challenge decides: here answered without a flash, so liveness fails as FLASHING.
    let mut answer = selfie_at(1.5, &config);
    answer.challenge = Some(ChallengeAnswer {
        challenge_id: challenge.id.clone(),
        frames: Vec::new(),
    });
    let r = block_on(s.capture(ctx, answer, &config)).expect("capture");
    assert!(!r.escalated && r.retry);
    assert_eq!(r.attempts_left, 2);
    let stored = s.store.sessions.borrow()[&id].clone();
    assert_eq!(stored.liveness_checks[0].method, "FLASHING");

    // Back to bursts once the challenge is spent, and one escalation per session: the next
    // borderline capture is decided as it is.
    let ctx = block_on(s.begin_capture(&apps, &token, None)).expect("begin");
    assert!(ctx.expect(CaptureKind::Burst).is_ok());
    let r = block_on(s.capture(ctx, selfie_at(0.9, &config), &config)).expect("capture");
    assert!(!r.escalated);
    assert_eq!(r.attempts_left, 1);
}

#[test]
fn clear_captures_are_decided_without_a_challenge() {
    let (s, a, config) = (svc(), escalating_app(), PipelineConfig::default());
    let apps = vec![a.clone()];
    for (vendor, fraction, status) in [
        ("clear-live", 1.9, SessionStatus::Approved),
        ("clear-spoof", 0.2, SessionStatus::InProgress),
    ] {
        let (_, token) = session(&s, &a, vendor);
        let ctx = block_on(s.begin_capture(&apps, &token, None)).expect("begin");
        let r = block_on(s.capture(ctx, selfie_at(fraction, &config), &config)).expect("capture");
        assert!(!r.escalated && r.challenge.is_none(), "{vendor}");
        assert_eq!(r.session.status, status, "{vendor}");
    }
}
