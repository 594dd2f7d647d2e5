//! Storage guarantees, over `MemoryStore` with two applications: tenancy in every call, atomic
//! commits under injected faults and races, leased and fair sweeps, absolute URLs in the cron's
//! webhooks, re-enrolment with another face, and failed randomness.

use facegate_pipeline::challenge::LivenessMethod;
use facegate_pipeline::config::PipelineConfig;
use facegate_pipeline::{Analysis, CheckStatus, Embedding, Face, LivenessScore, Quality};
use serde_json::json;

use crate::capture::{decide, CaptureEvidence, RISK_ENROLLED_FACE_MISMATCH};
use crate::memory::{block_on, BrokenIds, FixedClock, MemoryStore};
use crate::routes::hash_api_key;
use crate::service::Service;
use crate::store::{Store, Write};
use crate::tests::{
    app, approve_capture, bio_session, challenge_app, create, emb, err, ok_body, outcome,
    session_on, svc, token_of, Svc, FLASH, KYC, T0,
};
use crate::types::*;
use crate::{AesGcmCipher, ApiError, Urls};

/// A second tenant with its own key, the same workflows and a webhook destination.
fn other_app() -> Application {
    let mut b = app();
    b.id = "bbbbbbbb-0000-4000-8000-000000000000".into();
    b.api_key_hashes = vec![hash_api_key("sk_test_other")];
    b
}

fn rows_of(s: &Svc, a: &Application, id: &str) -> Vec<DeliveryRow> {
    block_on(s.store.deliveries_for_session(&a.id, id)).expect("rows")
}

fn kyc_session(s: &Svc, a: &Application, vendor: &str) -> String {
    let (st, b) = ok_body(create(
        s,
        a,
        json!({"workflow_id": KYC, "vendor_data": vendor}),
    ));
    assert_eq!(st, 201, "{b}");
    b["session_id"].as_str().expect("id").to_owned()
}

/// What the pipeline measures on a clear, live, frontal selfie with this embedding.
pub(crate) fn live_selfie(embedding: Embedding) -> CaptureEvidence {
    let face = Face {
        x: 200.0,
        y: 120.0,
        width: 220.0,
        height: 260.0,
        landmarks: [
            [260.0, 220.0],
            [360.0, 220.0],
            [310.0, 280.0],
            [270.0, 330.0],
            [350.0, 330.0],
        ],
        score: 0.95,
    };
    CaptureEvidence {
        analysis: Analysis {
            width: 640,
            height: 480,
            faces: vec![face],
            subject: Some(facegate_pipeline::Subject {
                face,
                quality: Quality {
                    face_px: 220.0,
                    yaw: 0.0,
                    pitch: 0.0,
                    roll: 0.0,
                    sharpness: 400.0,
                    brightness: 130.0,
                },
                presenting_faces: 1,
                embedding: Some(embedding),
                liveness: Some(LivenessScore {
                    v2: 0.99,
                    v1se: Some(0.99),
                    coverage: 1.0,
                    tight: false,
                    features: None,
                    extra: None,
                    fused: None,
                    live: 0.99,
                }),
            }),
        },
        burst: None,
        challenge: None,
        precheck: None,
    }
}

fn kyc_capture(s: &Svc, a: &Application, id: &str, face: Embedding) -> crate::CaptureResult {
    let ctx = block_on(s.begin_capture(std::slice::from_ref(a), &token_of(s, id), None)).expect("begin");
    block_on(s.capture(ctx, live_selfie(face), &PipelineConfig::default())).expect("capture")
}

#[test]
fn another_tenant_reaches_nothing_of_a_session() {
    let (s, a, b) = (svc(), app(), other_app());
    let id = bio_session(&s, &a, "u")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    approve_capture(&s, &a, &id);
    let kyc = kyc_session(&s, &a, "enrolled");
    kyc_capture(&s, &a, &kyc, emb(3));
    let before = (
        s.store.sessions.borrow().clone(),
        s.store.templates.borrow().clone(),
        s.store.deliveries.borrow().clone(),
    );
    assert!(!before.2.is_empty() && !before.1.is_empty());

    // Every keyed call of tenant B naming A's session is a 404 and changes nothing (#9 item 3:
    // the delete used to remove A's webhook rows while answering 404).
    assert_eq!(err(block_on(s.delete(&b, &id))).0, 404);
    assert_eq!(err(block_on(s.get(&b, &id))).0, 404);
    assert_eq!(err(block_on(s.decision(&b, &id))).0, 404);
    assert_eq!(
        err(block_on(s.update_status(
            &b,
            &id,
            br#"{"new_status": "Declined"}"#
        )))
        .0,
        404
    );
    assert_eq!(
        block_on(s.session_deliveries(&b, &id)).map(|_| ()),
        Err(ApiError::NotFound)
    );
    assert_eq!(
        ok_body(block_on(s.batch_delete(&b, br#"{"delete_all": true}"#))).0,
        204
    );
    assert_eq!(
        block_on(s.delete_user_data(&b, "enrolled")).expect("forget"),
        0
    );
    // Even a write naming A's rows under B's id matches nothing, by construction.
    block_on(s.store.commit(&[
        Write::EraseSessions {
            application_id: b.id.clone(),
            ids: vec![id.clone(), kyc.clone()],
        },
        Write::DeleteTemplatesFromSession {
            application_id: b.id.clone(),
            session_id: kyc.clone(),
        },
    ]))
    .expect("commit");
    assert!(rows_of(&s, &b, &id).is_empty());
    assert_eq!(
        (
            s.store.sessions.borrow().clone(),
            s.store.templates.borrow().clone(),
            s.store.deliveries.borrow().clone(),
        ),
        before
    );
    // A still deletes its own session, with its rows.
    assert_eq!(ok_body(block_on(s.delete(&a, &id))).0, 204);
    assert!(rows_of(&s, &a, &id).is_empty());
}

#[test]
fn a_failed_commit_writes_nothing_and_answers_503() {
    let (s, a) = (svc(), app());
    let id = kyc_session(&s, &a, "u");
    let ctx =
        block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).expect("begin");
    let sessions = s.store.sessions.borrow().clone();
    let deliveries = s.store.deliveries.borrow().len();
    s.store.failing_commits.set(1);
    let failed =
        block_on(s.finish_capture(ctx, outcome(CheckStatus::Approved, None, Some(emb(2)))));
    let e = failed.expect_err("the store failed");
    let (status, headers, body) = e.to_http();
    assert_eq!(status, 503);
    assert!(headers.iter().any(|(k, v)| k == "Retry-After" && v == "5"));
    assert!(body["detail"].is_string());
    assert_eq!(*s.store.sessions.borrow(), sessions, "session unchanged");
    assert!(s.store.templates.borrow().is_empty(), "no template");
    assert_eq!(
        s.store.deliveries.borrow().len(),
        deliveries,
        "no webhook row"
    );
    // The same capture again, with the store back: everything lands together.
    let r = kyc_capture(&s, &a, &id, emb(2));
    assert_eq!(r.session.status, SessionStatus::Approved);
    assert_eq!(s.store.templates.borrow().len(), 1);
    assert!(rows_of(&s, &a, &id)
        .iter()
        .any(|r| r.payload["status"] == "Approved"));
}

#[test]
fn a_delete_racing_a_capture_leaves_no_template_behind() {
    let (s, a) = (svc(), app());
    let id = kyc_session(&s, &a, "u");
    let ctx =
        block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).expect("begin");
    assert_eq!(ok_body(block_on(s.delete(&a, &id))).0, 204);
    let late = block_on(s.finish_capture(ctx, outcome(CheckStatus::Approved, None, Some(emb(2)))));
    assert_eq!(late.map(|_| ()).map_err(|e| e.status()), Err(409));
    assert!(s.store.sessions.borrow().is_empty());
    assert!(s.store.templates.borrow().is_empty(), "no orphan template");
    assert!(s.store.deliveries.borrow().is_empty(), "no orphan webhook");
}

#[test]
fn the_losing_capture_of_a_race_writes_nothing() {
    let (s, a) = (svc(), app());
    let id = kyc_session(&s, &a, "u");
    let tok = token_of(&s, &id);
    let first = block_on(s.begin_capture(std::slice::from_ref(&a), &tok, None)).expect("begin 1");
    let second = block_on(s.begin_capture(std::slice::from_ref(&a), &tok, None)).expect("begin 2");
    block_on(s.finish_capture(first, outcome(CheckStatus::Approved, None, Some(emb(2)))))
        .expect("winner");
    let snapshot = (
        s.store.templates.borrow().clone(),
        s.store.deliveries.borrow().clone(),
    );
    let loser =
        block_on(s.finish_capture(second, outcome(CheckStatus::Approved, None, Some(emb(5)))));
    assert_eq!(loser.map(|_| ()).map_err(|e| e.status()), Err(409));
    assert_eq!(
        (
            s.store.templates.borrow().clone(),
            s.store.deliveries.borrow().clone()
        ),
        snapshot,
        "the loser's template and webhook rows were rolled back with its session update"
    );
}

#[test]
fn sweeps_take_tenants_in_turns() {
    let (s, a, b) = (svc(), app(), other_app());
    let busy: Vec<String> = (0..6)
        .map(|i| {
            bio_session(&s, &a, &format!("a{i}"))["session_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    s.clock.advance(10);
    let quiet = bio_session(&s, &b, "b")["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.clock
        .advance(AppSettings::default().session_expiry_seconds + 1);
    let overdue = block_on(s.store.expired_unfinished(None, s.clock.0.get(), 2)).expect("sweep");
    let ids: Vec<&str> = overdue.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![busy[0].as_str(), quiet.as_str()],
        "B is not behind A's backlog"
    );

    // The same for the outbox: A's six events do not hold back B's one.
    for (app, id) in busy.iter().map(|i| (&a, i)).chain([(&b, &quiet)]) {
        block_on(s.begin_capture(std::slice::from_ref(app), &token_of(&s, id), None)).ok();
    }
    let mut both = vec![a.clone(), b.clone()];
    both.sort_by(|x, y| x.id.cmp(&y.id));
    block_on(s.expire_due(&both)).expect("expire");
    let (_, claimed) = block_on(s.claim_deliveries(2)).expect("claim");
    let tenants: std::collections::BTreeSet<&str> =
        claimed.iter().map(|r| r.application_id.as_str()).collect();
    assert_eq!(tenants.len(), 2, "{claimed:?}");
}

#[test]
fn cron_webhooks_carry_the_absolute_session_url() {
    let (mut s, a) = (svc(), app());
    let id = bio_session(&s, &a, "u")["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).expect("begin");
    // The cron serves no request, so its service knows no URLs.
    s.urls = Urls {
        hosted_base: String::new(),
        api_base: String::new(),
    };
    s.clock
        .advance(AppSettings::default().session_expiry_seconds + 1);
    block_on(s.expire_due(std::slice::from_ref(&a))).expect("expire");
    let abandoned = rows_of(&s, &a, &id)
        .into_iter()
        .find(|r| r.payload["status"] == "Abandoned")
        .expect("abandoned event");
    let url = abandoned.payload["decision"]["session_url"]
        .as_str()
        .expect("session_url");
    assert!(url.starts_with("https://verify.example/session/"), "{url}");
}

#[test]
fn re_enrolment_with_another_face_goes_to_review_and_keeps_the_enrolled_face() {
    let (s, a) = (svc(), app());
    let first = kyc_session(&s, &a, "u");
    assert_eq!(
        kyc_capture(&s, &a, &first, emb(1)).session.status,
        SessionStatus::Approved
    );
    let enrolled = s
        .store
        .templates
        .borrow()
        .values()
        .next()
        .cloned()
        .expect("template");
    assert_eq!(enrolled.source_session_id, first);

    // Someone else's face for the same user: In Review, with the reason, template kept.
    let second = kyc_session(&s, &a, "u");
    let r = kyc_capture(&s, &a, &second, emb(7));
    assert_eq!(r.session.status, SessionStatus::InReview);
    let w = &r.session.liveness_checks[0].warnings;
    let mismatch = w
        .iter()
        .find(|w| w.risk == RISK_ENROLLED_FACE_MISMATCH)
        .expect("warning");
    assert_eq!(mismatch.feature, "LIVENESS");
    assert_eq!(mismatch.log_type, "warning");
    assert_eq!(
        mismatch.additional_data.as_ref().unwrap()["enrolled_session_id"],
        first.as_str()
    );
    assert_eq!(
        s.store.templates.borrow().values().next(),
        Some(&enrolled),
        "never a silent replacement"
    );
    // A reviewer who approves it makes the new face the enrolled one.
    block_on(s.update_status(&a, &second, br#"{"new_status": "Approved"}"#)).expect("review");
    assert_eq!(
        s.store
            .templates
            .borrow()
            .values()
            .next()
            .unwrap()
            .source_session_id,
        second
    );

    // The same person re-enrolling replaces the template directly.
    let third = kyc_session(&s, &a, "u");
    let r = kyc_capture(&s, &a, &third, emb(7));
    assert_eq!(
        r.session.status,
        SessionStatus::Approved,
        "{:?}",
        r.session.liveness_checks
    );
    assert_eq!(
        s.store
            .templates
            .borrow()
            .values()
            .next()
            .unwrap()
            .source_session_id,
        third
    );

    // A workflow may decline a changed face outright instead.
    let mut strict = a.clone();
    strict.workflows[1].on_face_change = facegate_pipeline::decide::Effect::Decline;
    let fourth = kyc_session(&s, &strict, "u");
    let r = kyc_capture(&s, &strict, &fourth, emb(11));
    assert_eq!(r.session.status, SessionStatus::Declined);
    assert_eq!(
        s.store
            .templates
            .borrow()
            .values()
            .next()
            .unwrap()
            .source_session_id,
        third
    );
}

#[test]
fn one_frame_answers_no_challenge() {
    let (s, a) = (svc(), challenge_app());
    let (_, token) = session_on(&s, &a, FLASH, "u");
    block_on(s.hosted_challenge(std::slice::from_ref(&a), &token, &Default::default()))
        .expect("challenge");
    let ctx = block_on(s.begin_capture(std::slice::from_ref(&a), &token, None)).expect("begin");
    assert_eq!(ctx.workflow.liveness_method, LivenessMethod::Flashing);
    let o = decide(&ctx, live_selfie(emb(1)), &PipelineConfig::default());
    assert_eq!(o.liveness.status, CheckStatus::Declined);
    assert_eq!(o.liveness.method, "FLASHING");
    assert!(o
        .liveness
        .warnings
        .iter()
        .any(|w| w.risk == "LOW_LIVENESS_SCORE"));
    assert_eq!(
        o.face_match.map(|m| m.status),
        Some(CheckStatus::Approved),
        "the face itself matches"
    );
}

#[test]
fn failed_randomness_is_a_server_error_and_stores_nothing() {
    let s = Service {
        store: MemoryStore::default(),
        clock: FixedClock::at(T0),
        ids: BrokenIds,
        cipher: AesGcmCipher::new(&[9u8; 32]),
        urls: Urls {
            hosted_base: "https://verify.example".into(),
            api_base: "https://api.example/v3".into(),
        },
    };
    let a = app();
    let body = json!({"workflow_id": KYC, "vendor_data": "u"}).to_string();
    let r = block_on(s.create(&a, body.as_bytes(), |_| Ok(Some(emb(1)))));
    assert_eq!(r.map(|_| ()).map_err(|e| e.status()), Err(500));
    assert!(s.store.sessions.borrow().is_empty());
}
