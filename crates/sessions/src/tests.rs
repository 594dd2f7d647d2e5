//! End-to-end tests of the service over `MemoryStore`, a hand-moved clock and sequential ids.

use base64::Engine;
use facegate_pipeline::decide::Warning;
use facegate_pipeline::{CheckStatus, Embedding, FaceMatch, LivenessCheck};
use serde_json::{json, Value};

use crate::capture::CaptureOutcome;
use crate::deliveries::{sign_for_send, SendResult};
use crate::memory::{block_on, FixedClock, MemoryStore, SeqIds};
use crate::routes::{authenticate, hash_api_key, route, HttpResponse, Route};
use crate::service::{Service, MSG_NO_STORED_FACE};
use crate::store::Store;
use crate::types::*;
use crate::{AesGcmCipher, ApiError, Urls};

pub(crate) const T0: i64 = 1_774_970_000;
pub(crate) const BIO: &str = "11111111-1111-4111-8111-111111111111";
pub(crate) const KYC: &str = "22222222-2222-4222-8222-222222222222";
const KEY: &str = "sk_test_facegate";

pub(crate) type Svc = Service<MemoryStore, FixedClock, SeqIds, AesGcmCipher>;

pub(crate) fn app() -> Application {
    Application {
        id: "aaaaaaaa-0000-4000-8000-000000000000".into(),
        name: "Test".into(),
        api_key_hashes: vec![hash_api_key(KEY)],
        webhooks: vec![
            WebhookDestination {
                id: "dest-status".into(),
                url: "https://a.example/hook".into(),
                secret_shared_key: "secret-a".into(),
                subscribed_events: vec!["status.updated".into()],
                enabled: true,
                label: None,
                webhook_version: "v3".into(),
            },
            WebhookDestination {
                id: "dest-legacy".into(),
                url: "https://b.example/hook".into(),
                secret_shared_key: "secret-b".into(),
                subscribed_events: vec![],
                enabled: true,
                label: None,
                webhook_version: "v3".into(),
            },
            WebhookDestination {
                id: "dest-data".into(),
                url: "https://c.example/hook".into(),
                secret_shared_key: "secret-c".into(),
                subscribed_events: vec!["data.updated".into()],
                enabled: true,
                label: None,
                webhook_version: "v3".into(),
            },
        ],
        settings: AppSettings::default(),
        workflows: vec![
            Workflow {
                version: 3,
                ..Workflow::new(BIO, WorkflowType::BiometricAuthentication)
            },
            Workflow {
                max_attempts: 1,
                ..Workflow::new(KYC, WorkflowType::Kyc)
            },
        ],
        workflow_history: Vec::new(),
    }
}

pub(crate) fn svc() -> Svc {
    Service {
        store: MemoryStore::default(),
        clock: FixedClock::at(T0),
        ids: SeqIds::default(),
        cipher: AesGcmCipher::new(&[9u8; 32]),
        urls: Urls {
            hosted_base: "https://verify.example".into(),
            api_base: "https://api.example/v3".into(),
        },
    }
}

pub(crate) fn emb(seed: usize) -> Embedding {
    Embedding::from_raw(
        (0..128)
            .map(|i| ((i * (seed + 1)) as f32 * 0.37).sin())
            .collect(),
    )
    .expect("non-degenerate")
}

/// A portrait "image" with a marker, so tests can prove its bytes are never stored.
const MARKER: &[u8] = b"RAW-PORTRAIT-PIXELS-0123456789";
pub(crate) fn portrait_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(MARKER)
}

pub(crate) fn ok_body(r: Result<HttpResponse, ApiError>) -> (u16, Value) {
    let r = r.unwrap_or_else(|e| panic!("expected success, got {e:?}"));
    (r.status, r.body.unwrap_or(Value::Null))
}

pub(crate) fn err(r: Result<HttpResponse, ApiError>) -> (u16, Value) {
    match r {
        Ok(r) => panic!("expected an error, got {} {:?}", r.status, r.body),
        Err(e) => {
            let (s, _, b) = e.to_http();
            (s, b)
        }
    }
}

pub(crate) fn create(s: &Svc, a: &Application, body: Value) -> Result<HttpResponse, ApiError> {
    block_on(s.create(a, body.to_string().as_bytes(), |_| Ok(Some(emb(1)))))
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

fn live(status: CheckStatus, score: f64) -> LivenessCheck {
    LivenessCheck {
        node_id: LIVENESS_NODE.into(),
        status,
        method: "PASSIVE".into(),
        score,
        reference_image: None,
        video_url: None,
        age_estimation: None,
        matches: vec![],
        face_quality: Some(90.0),
        face_luminance: Some(120.0),
        warnings: vec![],
        evidence: None,
    }
}

fn fm(status: CheckStatus, score: f64) -> FaceMatch {
    FaceMatch {
        node_id: FACE_MATCH_NODE.into(),
        status,
        score,
        source_image_session_id: None,
        source_image: None,
        target_image: None,
        warnings: if status == CheckStatus::Approved {
            vec![]
        } else {
            vec![Warning {
                feature: "FACEMATCH".into(),
                risk: "LOW_FACE_MATCH_SIMILARITY".into(),
                additional_data: None,
                log_type: "error".into(),
                short_description: "Low face match similarity".into(),
                long_description: "x".into(),
                node_id: FACE_MATCH_NODE.into(),
            }]
        },
    }
}

pub(crate) fn outcome(
    l: CheckStatus,
    m: Option<CheckStatus>,
    e: Option<Embedding>,
) -> CaptureOutcome {
    CaptureOutcome {
        liveness: live(
            l,
            if l == CheckStatus::Approved {
                95.0
            } else {
                20.0
            },
        ),
        face_match: m.map(|m| {
            fm(
                m,
                if m == CheckStatus::Approved {
                    88.5
                } else {
                    40.0
                },
            )
        }),
        embedding: e,
        precheck: None,
    }
}

pub(crate) fn token_of(s: &Svc, id: &str) -> String {
    s.store.sessions.borrow()[id].token.clone()
}

pub(crate) fn bio_session(s: &Svc, a: &Application, vendor: &str) -> Value {
    let (st, b) = ok_body(create(
        s,
        a,
        json!({"workflow_id": BIO, "vendor_data": vendor, "portrait_image": portrait_b64()}),
    ));
    assert_eq!(st, 201);
    b
}

pub(crate) fn approve_capture(s: &Svc, a: &Application, id: &str) {
    let ctx = block_on(s.begin_capture(std::slice::from_ref(a), &token_of(s, id), None)).expect("begin");
    block_on(s.finish_capture(
        ctx,
        outcome(
            CheckStatus::Approved,
            Some(CheckStatus::Approved),
            Some(emb(1)),
        ),
    ))
    .expect("finish");
}

// ------------------------------------------------------------------------------ create

#[test]
fn create_returns_the_contract_shape() {
    let (s, a) = (svc(), app());
    let (status, b) = ok_body(create(
        &s,
        &a,
        json!({
            "workflow_id": BIO, "vendor_data": "user-42", "portrait_image": portrait_b64(),
            "callback": "https://app.example/done", "callback_method": "BOTH",
            "metadata": {"k": 1}, "language": "en", "sandbox_scenario": "approve",
        }),
    ));
    assert_eq!(status, 201);
    assert_eq!(
        keys(&b),
        [
            "callback",
            "callback_method",
            "metadata",
            "session_id",
            "session_kind",
            "session_number",
            "session_token",
            "status",
            "url",
            "vendor_data",
            "workflow_id",
            "workflow_version"
        ]
    );
    let id = b["session_id"].as_str().expect("id");
    assert!(crate::validate::is_uuid(id));
    assert_eq!(b["session_number"], 1);
    assert_eq!(b["status"], "Not Started");
    assert_eq!(b["callback_method"], "both");
    assert_eq!(b["metadata"], json!({"k": 1}));
    assert_eq!(b["workflow_version"], 3);
    assert_eq!(b["session_kind"], "user");
    let token = b["session_token"].as_str().expect("token");
    assert_eq!(b["url"], format!("https://verify.example/session/{token}"));
    let (_, b2) = ok_body(create(&s, &a, json!({"workflow_id": KYC})));
    assert_eq!(b2["session_number"], 2);
    assert_eq!(b2["vendor_data"], Value::Null);
    assert_eq!(b2["callback_method"], "initiator");
}

#[test]
fn create_validation_bodies() {
    let (s, a) = (svc(), app());
    let raw = |body: &str| {
        err(block_on(
            s.create(&a, body.as_bytes(), |_| Ok(Some(emb(1)))),
        ))
    };
    let (st, b) = raw("{\"workflow_id\": ");
    assert_eq!(st, 400);
    assert!(b["detail"]
        .as_str()
        .expect("detail")
        .starts_with("JSON parse error - "));
    assert_eq!(
        raw("[1]"),
        (
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
        )
    );
    assert_eq!(
        raw(""),
        (400, json!({"workflow_id": ["This field is required."]}))
    );
    let cases: Vec<(Value, Value)> = vec![
        (
            json!({}),
            json!({"workflow_id": ["This field is required."]}),
        ),
        (
            json!({"workflow_id": null}),
            json!({"workflow_id": ["This field may not be null."]}),
        ),
        (
            json!({"workflow_id": 7}),
            json!({"workflow_id": ["Must be a valid UUID."]}),
        ),
        (
            json!({"workflow_id": "nope"}),
            json!({"workflow_id": ["Must be a valid UUID."]}),
        ),
        (
            json!({"workflow_id": "99999999-9999-4999-8999-999999999999"}),
            json!({"workflow_id": ["Invalid pk \"99999999-9999-4999-8999-999999999999\" - object does not exist."]}),
        ),
        (
            json!({"workflow_id": KYC, "vendor_data": ""}),
            json!({"vendor_data": ["This field may not be blank."]}),
        ),
        (
            json!({"workflow_id": KYC, "vendor_data": ["x"]}),
            json!({"vendor_data": ["Not a valid string."]}),
        ),
        (
            json!({"workflow_id": KYC, "callback_method": "sideways"}),
            json!({"callback_method": ["\"sideways\" is not a valid choice."]}),
        ),
        (
            json!({"workflow_id": KYC, "language": "xx"}),
            json!({"language": ["\"xx\" is not a valid choice."]}),
        ),
        (
            json!({"workflow_id": KYC, "callback": "ftp://x"}),
            json!({"callback": ["Enter a valid URL."]}),
        ),
        (
            json!({"workflow_id": KYC, "contact_details": {"email": "nope", "phone": "12"}}),
            json!({"contact_details": {"email": ["Enter a valid email address."], "phone": ["Enter a valid phone number in E.164 format."]}}),
        ),
        (
            json!({"workflow_id": KYC, "contact_details": "x"}),
            json!({"contact_details": ["Expected a dictionary of items but got type \"str\"."]}),
        ),
        (
            json!({"workflow_id": KYC, "expected_details": {"expected_document_types": ["p", "XX"], "gender": "Q"}}),
            json!({"expected_details": {"gender": ["\"Q\" is not a valid choice."], "expected_document_types": ["\"XX\" is not a valid choice."]}}),
        ),
        (
            json!({"workflow_id": BIO, "portrait_image": "not base64 !!"}),
            json!({"portrait_image": [crate::validate::NOT_PORTRAIT_B64]}),
        ),
        (
            json!({"workflow_id": BIO, "portrait_image": "https://evil.example/x.jpg"}),
            json!({"portrait_image": ["Image URLs are not supported; send the image as base64."]}),
        ),
        (
            json!({"workflow_id": BIO, "portrait_image": "A".repeat(2_900_000)}),
            json!({"portrait_image": [crate::validate::PORTRAIT_TOO_LARGE]}),
        ),
        // Several problems are reported together, as DRF does.
        (
            json!({"vendor_data": "", "language": "xx"}),
            json!({"workflow_id": ["This field is required."], "vendor_data": ["This field may not be blank."], "language": ["\"xx\" is not a valid choice."]}),
        ),
        // Face-match workflow without portrait and nothing enrolled: a plain-string message.
        (
            json!({"workflow_id": BIO, "vendor_data": "nobody"}),
            json!({"portrait_image": MSG_NO_STORED_FACE}),
        ),
        (
            json!({"workflow_id": BIO}),
            json!({"portrait_image": MSG_NO_STORED_FACE}),
        ),
    ];
    for (body, want) in cases {
        assert_eq!(err(create(&s, &a, body.clone())), (400, want), "{body}");
    }
    // No face in the portrait.
    let body = json!({"workflow_id": BIO, "portrait_image": portrait_b64()}).to_string();
    assert_eq!(
        err(block_on(s.create(&a, body.as_bytes(), |_| Ok(None)))),
        (
            400,
            json!({"portrait_image": ["No face could be detected in portrait_image."]})
        )
    );
    // Oversized body → 413, before any parsing.
    let big = vec![b' '; crate::validate::MAX_BODY_BYTES + 1];
    assert_eq!(err(block_on(s.create(&a, &big, |_| Ok(None)))).0, 413);
    assert!(
        s.store.sessions.borrow().is_empty(),
        "no failed create left a row"
    );
}

#[test]
fn metadata_object_or_string() {
    let (s, a) = (svc(), app());
    let (_, b) = ok_body(create(
        &s,
        &a,
        json!({"workflow_id": KYC, "metadata": "{\"wp_user_id\": 42}"}),
    ));
    assert_eq!(b["metadata"], json!({"wp_user_id": 42}));
    let (_, b) = ok_body(create(
        &s,
        &a,
        json!({"workflow_id": KYC, "metadata": "plain note"}),
    ));
    assert_eq!(b["metadata"], "plain note");
    // The webhook leaves a non-object metadata out (PY's webhook model needs a dict).
    let id = b["session_id"].as_str().expect("id");
    block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, id), None)).expect("begin");
    let d = s.store.deliveries.borrow();
    let p = &d.values().next().expect("delivery").payload;
    assert!(p.get("metadata").is_none());
    assert_eq!(p["status"], "In Progress");
}

// ------------------------------------------------------------------------------ reads

const DECISION_KEYS: [&str; 32] = [
    "aml_screenings",
    "callback",
    "callback_method",
    "contact_details",
    "created_at",
    "database_validations",
    "document_ai_documents",
    "email_verifications",
    "environment",
    "expected_details",
    "face_matches",
    "features",
    "id_verifications",
    "ip_analyses",
    "liveness_checks",
    "metadata",
    "nfc_verifications",
    "phone_verifications",
    "poa_verifications",
    "questionnaire_responses",
    "reviews",
    "session_id",
    "session_kind",
    "session_number",
    "session_url",
    "status",
    "vendor_data",
    "warnings",
    "workflow_id",
    "workflow_version",
    "",
    "",
];

fn decision_keys() -> Vec<String> {
    DECISION_KEYS
        .iter()
        .filter(|k| !k.is_empty())
        .map(|k| k.to_string())
        .collect()
}

#[test]
fn get_and_decision_before_completion() {
    let (s, a) = (svc(), app());
    let b = bio_session(&s, &a, "user-1");
    let id = b["session_id"].as_str().expect("id");
    let (st, g) = ok_body(block_on(s.get(&a, id)));
    assert_eq!(st, 200);
    assert_eq!(g["status"], "Not Started");
    assert_eq!(g["created_at"], "2026-03-31T15:13:20Z");
    assert_eq!(g["url"], b["url"]);
    let (_, d) = ok_body(block_on(s.decision(&a, id)));
    assert_eq!(keys(&d), decision_keys());
    for k in [
        "id_verifications",
        "nfc_verifications",
        "liveness_checks",
        "face_matches",
        "poa_verifications",
        "document_ai_documents",
        "phone_verifications",
        "email_verifications",
        "aml_screenings",
        "ip_analyses",
        "database_validations",
        "questionnaire_responses",
        "reviews",
        "warnings",
    ] {
        assert_eq!(d[k], json!([]), "{k} must be an empty array");
    }
    assert_eq!(d["features"], json!(["LIVENESS", "FACE_MATCH"]));
    assert_eq!(d["session_url"], b["url"]);
    assert_eq!(d["environment"], "live");
    assert_eq!(
        err(block_on(
            s.decision(&a, "00000000-dead-4000-8000-000000000000")
        )),
        (404, json!({"detail": "Not found."}))
    );
    // Another application's key cannot see it.
    let mut other = app();
    other.id = "bbbbbbbb-0000-4000-8000-000000000000".into();
    assert_eq!(err(block_on(s.get(&other, id))).0, 404);
}

// ------------------------------------------------------------------------------ capture

#[test]
fn biometric_capture_approves_and_queues_signed_webhooks() {
    let (s, a) = (svc(), app());
    let b = bio_session(&s, &a, "user-1");
    let id = b["session_id"].as_str().expect("id").to_owned();
    let apps = vec![a.clone()];
    let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &id), None)).expect("begin");
    assert_eq!(ctx.session.status, SessionStatus::InProgress);
    assert!((ctx.reference.as_ref().expect("reference").cosine(&emb(1)) - 1.0).abs() < 1e-6);
    assert_eq!(ctx.reference_session_id.as_deref(), Some(id.as_str()));
    // In Progress is a status change: one event, two subscribed destinations of three.
    assert_eq!(s.store.deliveries.borrow().len(), 2);

    s.clock.advance(5);
    let r = block_on(s.finish_capture(
        ctx,
        outcome(
            CheckStatus::Approved,
            Some(CheckStatus::Approved),
            Some(emb(1)),
        ),
    ))
    .expect("finish");
    assert_eq!(r.session.status, SessionStatus::Approved);
    assert!(!r.retry);
    let (_, d) = ok_body(block_on(s.decision(&a, &id)));
    assert_eq!(d["status"], "Approved");
    assert_eq!(d["liveness_checks"][0]["status"], "Approved");
    assert_eq!(d["liveness_checks"][0]["method"], "PASSIVE");
    assert_eq!(d["liveness_checks"][0]["score"], 95.0);
    assert_eq!(d["face_matches"][0]["score"], 88.5);
    assert_eq!(d["face_matches"][0]["source_image_session_id"], id.as_str());

    let rows: Vec<DeliveryRow> =
        block_on(crate::Store::deliveries_for_session(&s.store, &a.id, &id)).expect("rows");
    assert_eq!(rows.len(), 4);
    let approved: Vec<&DeliveryRow> = rows
        .iter()
        .filter(|r| r.payload["status"] == "Approved")
        .collect();
    assert_eq!(
        approved
            .iter()
            .map(|r| r.destination_id.as_str())
            .collect::<Vec<_>>(),
        ["dest-status", "dest-legacy"]
    );
    assert_eq!(
        approved[0].event_id, approved[1].event_id,
        "one event, shared id"
    );
    let p = &approved[0].payload;
    assert_eq!(
        keys(p),
        [
            "application_id",
            "created_at",
            "decision",
            "environment",
            "event_id",
            "session_id",
            "status",
            "vendor_data",
            "webhook_type",
            "workflow_id",
            "workflow_version"
        ]
    );
    assert_eq!(p["created_at"], T0 + 5);
    assert_eq!(p["webhook_type"], "status.updated");
    assert_eq!(p["decision"]["status"], "Approved");
    assert!(
        p.get("timestamp").is_none(),
        "timestamp is the signer's, at send time"
    );

    // Signed at send time: verifies with the destination's secret at that instant.
    let send_at = T0 + 30;
    let signed = sign_for_send(approved[0], &a, send_at)
        .expect("destination")
        .expect("signs");
    assert_eq!(signed.header("X-Timestamp"), Some("1774970030"));
    assert_eq!(
        signed.header("User-Agent"),
        Some("DiditWebhook/2.0 +https://didit.me")
    );
    let headers: Vec<(String, String)> = signed
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    facegate_webhook::verify(signed.body.as_bytes(), &headers, "secret-a", send_at, None)
        .expect("verifies");
    assert!(
        facegate_webhook::verify(signed.body.as_bytes(), &headers, "secret-b", send_at, None)
            .is_err()
    );
    let sent: Value = serde_json::from_str(&signed.body).expect("json");
    assert_eq!(sent["timestamp"], send_at);
    assert_eq!(sent["created_at"], T0 + 5);

    // Token single use: the decided session refuses another capture.
    assert_eq!(
        block_on(s.begin_capture(&apps, &token_of(&s, &id), None)).map(|_| ()),
        Err(ApiError::Conflict(crate::state::MSG_DECIDED.into()))
    );
    assert_eq!(
        block_on(s.begin_capture(&apps, "no-such-token", None)).map(|_| ()),
        Err(ApiError::NotFound)
    );
    assert_eq!(r.redirect, None, "no callback configured");
}

#[test]
fn kyc_enrols_and_biometric_uses_the_stored_face() {
    let (s, a) = (svc(), app());
    let (_, k) = ok_body(create(
        &s,
        &a,
        json!({"workflow_id": KYC, "vendor_data": "user-9", "callback": "https://app.example/done?x=1"}),
    ));
    let kyc_id = k["session_id"].as_str().expect("id").to_owned();
    let apps = vec![a.clone()];
    let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &kyc_id), None)).expect("begin");
    assert!(ctx.reference.is_none());
    let r = block_on(s.finish_capture(ctx, outcome(CheckStatus::Approved, None, Some(emb(4)))))
        .expect("finish");
    assert_eq!(
        r.redirect.as_deref(),
        Some(
            format!("https://app.example/done?x=1&verificationSessionId={kyc_id}&status=Approved")
                .as_str()
        )
    );
    let t = s.store.templates.borrow()[&(a.id.clone(), "user-9".to_owned())].clone();
    assert_eq!(t.source_session_id, kyc_id);
    assert!(
        !t.blob.windows(8).any(|w| w == &emb(4).to_le_bytes()[..8]),
        "encrypted at rest"
    );

    // Re-auth without a portrait now works through vendor_data.
    let (st, b) = ok_body(create(
        &s,
        &a,
        json!({"workflow_id": BIO, "vendor_data": "user-9"}),
    ));
    assert_eq!(st, 201);
    let id = b["session_id"].as_str().expect("id").to_owned();
    let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &id), None)).expect("begin");
    assert!((ctx.reference.as_ref().expect("enrolled").cosine(&emb(4)) - 1.0).abs() < 1e-6);
    block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::Approved), None),
    ))
    .expect("finish");
    let (_, d) = ok_body(block_on(s.decision(&a, &id)));
    assert_eq!(
        d["face_matches"][0]["source_image_session_id"],
        kyc_id.as_str()
    );
    assert_eq!(d["features"], json!(["LIVENESS", "FACE_MATCH"]));

    // Forgetting the user removes sessions and template; a new re-auth needs a portrait.
    assert_eq!(
        block_on(s.delete_user_data(&a, "user-9")).expect("erase"),
        2
    );
    assert!(s.store.templates.borrow().is_empty());
    assert_eq!(
        err(create(
            &s,
            &a,
            json!({"workflow_id": BIO, "vendor_data": "user-9"})
        )),
        (400, json!({"portrait_image": MSG_NO_STORED_FACE}))
    );
}

#[test]
fn kyc_in_review_enrols_only_when_a_reviewer_approves() {
    let (s, a) = (svc(), app());
    let (_, k) = ok_body(create(
        &s,
        &a,
        json!({"workflow_id": KYC, "vendor_data": "u"}),
    ));
    let id = k["session_id"].as_str().expect("id").to_owned();
    let ctx =
        block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).expect("begin");
    block_on(s.finish_capture(ctx, outcome(CheckStatus::InReview, None, Some(emb(2)))))
        .expect("finish");
    assert!(s.store.templates.borrow().is_empty());
    assert!(s.store.sessions.borrow()[&id].pending_template.is_some());
    ok_body(block_on(s.update_status(
        &a,
        &id,
        br#"{"new_status": "Approved", "comment": "ok"}"#,
    )));
    assert!(s.store.sessions.borrow()[&id].pending_template.is_none());
    assert_eq!(s.store.templates.borrow().len(), 1);
    // Overturned later: the enrolled face goes with it.
    ok_body(block_on(s.update_status(
        &a,
        &id,
        br#"{"new_status": "Declined"}"#,
    )));
    assert!(s.store.templates.borrow().is_empty());
}

#[test]
fn declines_allow_recaptures_then_become_final() {
    let (s, a) = (svc(), app());
    let b = bio_session(&s, &a, "user-1");
    let id = b["session_id"].as_str().expect("id").to_owned();
    let apps = vec![a.clone()];
    for left in [2, 1] {
        let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &id), None)).expect("begin");
        let r = block_on(s.finish_capture(
            ctx,
            outcome(CheckStatus::Approved, Some(CheckStatus::Declined), None),
        ))
        .expect("finish");
        assert!(r.retry);
        assert_eq!(r.attempts_left, left);
        assert_eq!(r.session.status, SessionStatus::InProgress);
    }
    let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &id), None)).expect("begin");
    let r = block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::Declined), None),
    ))
    .expect("finish");
    assert_eq!(
        (r.session.status, r.retry),
        (SessionStatus::Declined, false)
    );
    let risks: Vec<&str> = r.session.face_matches[0]
        .warnings
        .iter()
        .map(|w| w.risk.as_str())
        .collect();
    assert_eq!(
        risks,
        [
            "LOW_FACE_MATCH_SIMILARITY",
            "FACE_MATCH_MAX_ATTEMPTS_EXCEEDED"
        ]
    );
    let (_, d) = ok_body(block_on(s.decision(&a, &id)));
    assert_eq!(
        d["warnings"].as_array().map(Vec::len),
        Some(2),
        "top-level warnings aggregate items"
    );
}

#[test]
fn concurrent_captures_cannot_both_win() {
    let (s, a) = (svc(), app());
    let b = bio_session(&s, &a, "user-1");
    let id = b["session_id"].as_str().expect("id").to_owned();
    let apps = vec![a.clone()];
    let tok = token_of(&s, &id);
    let first = block_on(s.begin_capture(&apps, &tok, None)).expect("begin 1");
    let second = block_on(s.begin_capture(&apps, &tok, None)).expect("begin 2 (still In Progress)");
    assert_eq!(first.session.version, second.session.version);
    block_on(s.finish_capture(
        first,
        outcome(CheckStatus::Approved, Some(CheckStatus::Approved), None),
    ))
    .expect("winner");
    let loser = block_on(s.finish_capture(
        second,
        outcome(CheckStatus::Declined, Some(CheckStatus::Declined), None),
    ));
    let e = loser.map(|_| ()).expect_err("must conflict");
    assert_eq!(e.status(), 409);
    assert_eq!(
        s.store.sessions.borrow()[&id].status,
        SessionStatus::Approved
    );
}

// ------------------------------------------------------------------------------ expiry

#[test]
fn expiry_via_clock_expired_and_abandoned() {
    let (s, a) = (svc(), app());
    let apps = vec![a.clone()];
    let never = bio_session(&s, &a, "u1")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let started = bio_session(&s, &a, "u2")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    block_on(s.begin_capture(&apps, &token_of(&s, &started), None)).expect("begin");
    s.clock.advance(30 * 60 - 1);
    assert_eq!(
        ok_body(block_on(s.get(&a, &never))).1["status"],
        "Not Started"
    );
    s.clock.advance(1);
    assert_eq!(ok_body(block_on(s.get(&a, &never))).1["status"], "Expired");
    assert_eq!(
        block_on(s.begin_capture(&apps, &token_of(&s, &never), None)).map(|_| ()),
        Err(ApiError::Gone(crate::state::MSG_EXPIRED.into()))
    );
    // The cron sweep settles the started one: Abandoned, and its webhook carries the decision.
    assert_eq!(block_on(s.expire_due(&apps)).expect("sweep"), 1);
    assert_eq!(
        s.store.sessions.borrow()[&started].status,
        SessionStatus::Abandoned
    );
    let rows = block_on(crate::Store::deliveries_for_session(
        &s.store, &a.id, &started,
    ))
    .expect("rows");
    let last = rows
        .iter()
        .find(|r| r.payload["status"] == "Abandoned")
        .expect("abandoned event");
    assert!(last.payload.get("decision").is_some());
    let rows = block_on(crate::Store::deliveries_for_session(
        &s.store, &a.id, &never,
    ))
    .expect("rows");
    let exp = rows
        .iter()
        .find(|r| r.payload["status"] == "Expired")
        .expect("expired event");
    assert!(exp.payload.get("decision").is_none());
    assert_eq!(
        block_on(s.expire_due(&apps)).expect("sweep"),
        0,
        "idempotent"
    );
}

// ------------------------------------------------------------------------------ reuse

#[test]
fn vendor_data_reuses_unfinished_sessions_on_the_current_version() {
    let (s, mut a) = (svc(), app());
    let first = bio_session(&s, &a, "u");
    let (st, again) = ok_body(create(
        &s,
        &a,
        json!({"workflow_id": BIO, "vendor_data": "u", "portrait_image": portrait_b64(), "callback": "https://n.example/", "metadata": {"n": 2}}),
    ));
    assert_eq!(st, 201);
    assert_eq!(again["session_id"], first["session_id"]);
    assert_eq!(again["session_number"], 1);
    assert_eq!(again["callback"], "https://n.example/");
    assert_eq!(again["metadata"], json!({"n": 2}));
    // Another user, or the same user once the session is decided, gets a new one.
    assert_ne!(
        bio_session(&s, &a, "other")["session_id"],
        first["session_id"]
    );
    approve_capture(&s, &a, first["session_id"].as_str().expect("id"));
    let third = bio_session(&s, &a, "u");
    assert_ne!(third["session_id"], first["session_id"]);
    // A newer workflow version does not reuse sessions pinned to the old one.
    a.workflows[0].version = 4;
    let fourth = bio_session(&s, &a, "u");
    assert_ne!(fourth["session_id"], third["session_id"]);
    assert_eq!(fourth["workflow_version"], 4);
    // Expired sessions are not reused either.
    s.clock.advance(3600);
    assert_ne!(bio_session(&s, &a, "u")["session_id"], fourth["session_id"]);
}

// ------------------------------------------------------------------------------ list

#[test]
fn list_filters_and_pagination() {
    let (s, a) = (svc(), app());
    let mut ids = vec![];
    for i in 0..5 {
        s.clock.advance(60);
        ids.push(
            bio_session(&s, &a, &format!("user-{i}"))["session_id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    approve_capture(&s, &a, &ids[1]);
    let list = |q: &str| ok_body(block_on(s.list(&a, q))).1;

    let p = list("limit=2");
    assert_eq!(keys(&p), ["count", "next", "previous", "results"]);
    assert_eq!(p["count"], 5);
    assert_eq!(
        p["next"],
        "https://api.example/v3/sessions/?limit=2&offset=2"
    );
    assert_eq!(p["previous"], Value::Null);
    let numbers: Vec<i64> = p["results"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["session_number"].as_i64())
        .collect();
    assert_eq!(numbers, [5, 4], "newest first");
    let row = &p["results"][0];
    assert_eq!(row["status"], "Not Started");
    assert_eq!(
        row["features"],
        json!([{"feature": "LIVENESS", "status": "Not Finished"}, {"feature": "FACE_MATCH", "status": "Not Finished"}])
    );
    assert!(row["created_at"].is_string());

    let p = list("session_kind=user&limit=2&offset=2");
    assert_eq!(
        p["next"],
        "https://api.example/v3/sessions/?session_kind=user&limit=2&offset=4"
    );
    assert_eq!(
        p["previous"],
        "https://api.example/v3/sessions/?session_kind=user&limit=2"
    );
    let p = list("limit=2&offset=4");
    assert_eq!(p["next"], Value::Null);
    assert_eq!(
        p["previous"],
        "https://api.example/v3/sessions/?limit=2&offset=2"
    );
    assert_eq!(p["results"].as_array().map(Vec::len), Some(1));
    let p = list("limit=2&offset=9");
    assert_eq!(
        (
            p["count"].as_u64(),
            p["next"].is_null(),
            p["results"].as_array().map(Vec::len)
        ),
        (Some(5), true, Some(0))
    );

    for q in ["status=Approved", "status=APPROVED", "status=approved"] {
        let p = list(q);
        assert_eq!(p["count"], 1, "{q}");
        assert_eq!(p["results"][0]["session_id"], ids[1].as_str());
    }
    assert_eq!(list("status=In%20Review")["count"], 0);
    assert_eq!(list("status=NOT_STARTED")["count"], 4);
    assert_eq!(list("vendor_data=user-3")["count"], 1);
    assert_eq!(list("search=USER-")["count"], 5);
    assert_eq!(list(&format!("workflow_id={BIO}"))["count"], 5);
    assert_eq!(list(&format!("workflow_id={KYC}"))["count"], 0);
    assert_eq!(list("session_kind=business")["count"], 0);
    assert_eq!(list("country=ESP")["count"], 0);
    assert_eq!(
        list("date_from=2026-03-31T15:15:00%2B00:00&date_to=2026-03-31T15:17:30Z")["count"],
        3
    );
    assert_eq!(
        list("date_to=2026-03-31")["count"],
        5,
        "a bare date covers the whole day"
    );
    // DRF paginator leniency: junk or huge limits fall back / are capped.
    assert_eq!(
        list("limit=abc")["results"].as_array().map(Vec::len),
        Some(5)
    );
    assert!(list("limit=1000")["next"].is_null());
    assert_eq!(
        crate::validate::parse_list("limit=1000").expect("ok").limit,
        100
    );
    assert_eq!(
        crate::validate::parse_list("limit=0&offset=-3")
            .expect("ok")
            .limit,
        50
    );

    assert_eq!(
        err(block_on(s.list(&a, "status=Pending"))),
        (
            400,
            json!({"status": ["Select a valid choice. Pending is not one of the available choices."]})
        )
    );
    assert_eq!(
        err(block_on(s.list(&a, "date_from=yesterday"))),
        (400, json!({"date_from": ["Enter a valid date/time."]}))
    );
    assert_eq!(
        err(block_on(
            s.list(&a, "date_from=2026-04-02&date_to=2026-04-01")
        )),
        (
            400,
            json!({"date_to": ["date_to must be later than or equal to date_from."]})
        )
    );
}

#[test]
fn walking_all_pages_is_consistent() {
    // The PY `--all` walker: advance by rows received until `next` is null, never an
    // empty page with a `next`, never `next` null while offset < count.
    let (s, a) = (svc(), app());
    for i in 0..7 {
        bio_session(&s, &a, &format!("u{i}"));
    }
    let mut offset = 0;
    let mut seen = 0;
    loop {
        let p = ok_body(block_on(s.list(&a, &format!("limit=3&offset={offset}")))).1;
        let n = p["results"].as_array().map_or(0, Vec::len);
        assert!(n > 0 || p["next"].is_null());
        seen += n;
        offset += n;
        if p["next"].is_null() {
            assert!(offset as u64 >= p["count"].as_u64().unwrap_or(0));
            break;
        }
    }
    assert_eq!(seen, 7);
}

// ------------------------------------------------------------------------------ update-status

#[test]
fn update_status_rules_and_resubmission() {
    let (s, a) = (svc(), app());
    let apps = vec![a.clone()];
    let id = bio_session(&s, &a, "u")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let upd = |body: &str| block_on(s.update_status(&a, &id, body.as_bytes()));
    assert_eq!(
        err(upd(r#"{"new_status": "Approved"}"#)),
        (
            400,
            json!({"detail": "Cannot update the status of a session in status \"Not Started\"."})
        )
    );
    assert_eq!(
        err(upd(r#"{"new_status": "In Review"}"#)),
        (
            400,
            json!({"new_status": ["\"In Review\" is not a valid choice."]})
        )
    );
    assert_eq!(
        err(upd("{}")),
        (400, json!({"new_status": ["This field is required."]}))
    );
    assert_eq!(
        err(upd(r#"{"new_status": "Declined", "send_email": true}"#)),
        (
            400,
            json!({"email_address": ["This field is required when send_email is true."]})
        )
    );
    assert_eq!(
        err(upd(
            r#"{"new_status": "Declined", "email_language": "cnr"}"#
        )),
        (
            400,
            json!({"email_language": ["\"cnr\" is not a valid choice."]})
        )
    );

    let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &id), None)).expect("begin");
    block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::InReview), None),
    ))
    .expect("finish");
    assert_eq!(
        s.store.sessions.borrow()[&id].status,
        SessionStatus::InReview
    );

    let (st, b) = ok_body(upd(r#"{"new_status": "Declined", "comment": "not them"}"#));
    assert_eq!(
        (st, b),
        (200, json!({"session_id": id, "session_kind": "user"}))
    );
    let before = s.store.deliveries.borrow().len();
    ok_body(upd(r#"{"new_status": "Declined"}"#));
    assert_eq!(
        s.store.deliveries.borrow().len(),
        before,
        "same status is a no-op: no event"
    );

    // MCP sends plain node-id strings, PY sends objects; both resubmit.
    ok_body(upd(
        r#"{"new_status": "Resubmitted", "nodes_to_resubmit": ["feature_face_match"]}"#,
    ));
    ok_body(upd(
        r#"{"new_status": "Resubmitted", "nodes_to_resubmit": [{"node_id": "feature_liveness", "feature": "liveness"}]}"#,
    ));
    let (_, d) = ok_body(block_on(s.decision(&a, &id)));
    assert_eq!(d["status"], "Resubmitted");
    assert_eq!(
        d["resubmit_info"],
        json!({"nodes": ["feature_liveness:LIVENESS"], "available_attempts": 3, "max_attempts": 3})
    );
    let actions: Vec<(&str, &str)> = d["reviews"]
        .as_array()
        .expect("reviews")
        .iter()
        .map(|r| {
            (
                r["old_status"].as_str().unwrap_or(""),
                r["new_status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("In Review", "Declined"),
            ("Declined", "Resubmitted"),
            ("Resubmitted", "Resubmitted")
        ]
    );
    assert_eq!(d["reviews"][0]["note"], "not them");

    // The same link works again after a resubmission.
    let ctx = block_on(s.begin_capture(&apps, &token_of(&s, &id), None)).expect("token usable again");
    block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::Approved), None),
    ))
    .expect("finish");
    assert_eq!(
        ok_body(block_on(s.decision(&a, &id))).1["status"],
        "Approved"
    );
    assert!(ok_body(block_on(s.decision(&a, &id)))
        .1
        .get("resubmit_info")
        .is_none());
    assert_eq!(
        err(block_on(s.update_status(
            &a,
            "missing",
            br#"{"new_status": "Approved"}"#
        )))
        .0,
        404
    );
}

// ------------------------------------------------------------------------------ delete

#[test]
fn delete_single_and_batch() {
    let (s, a) = (svc(), app());
    let ids: Vec<String> = (0..4)
        .map(|i| {
            bio_session(&s, &a, &format!("u{i}"))["session_id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    let r = block_on(s.delete(&a, &ids[0])).expect("delete");
    assert_eq!(
        (r.status, r.body.clone(), r.body_bytes()),
        (204, None, vec![])
    );
    assert_eq!(err(block_on(s.get(&a, &ids[0]))).0, 404);
    assert_eq!(err(block_on(s.delete(&a, &ids[0]))).0, 404);
    assert_eq!(
        block_on(s.batch_delete(&a, br#"{"session_numbers": [2, 3]}"#))
            .expect("batch")
            .status,
        204
    );
    assert_eq!(s.store.sessions.borrow().len(), 1);
    assert_eq!(
        err(block_on(
            s.batch_delete(&a, br#"{"session_numbers": ["x"]}"#)
        )),
        (
            400,
            json!({"session_numbers": ["Item 0: A valid integer is required."]})
        )
    );
    assert_eq!(err(block_on(s.batch_delete(&a, b"{}"))).0, 400);
    block_on(s.batch_delete(&a, br#"{"delete_all": true}"#)).expect("all");
    assert!(s.store.sessions.borrow().is_empty());
    // Numbers are never reused after deletes.
    assert_eq!(bio_session(&s, &a, "z")["session_number"], 5);
}

#[test]
fn deleting_an_enrolment_session_removes_its_template_and_queue() {
    let (s, a) = (svc(), app());
    let (_, k) = ok_body(create(
        &s,
        &a,
        json!({"workflow_id": KYC, "vendor_data": "u"}),
    ));
    let id = k["session_id"].as_str().expect("id").to_owned();
    let ctx =
        block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).expect("begin");
    block_on(s.finish_capture(ctx, outcome(CheckStatus::Approved, None, Some(emb(3)))))
        .expect("finish");
    assert_eq!(s.store.templates.borrow().len(), 1);
    assert!(!s.store.deliveries.borrow().is_empty());
    block_on(s.delete(&a, &id)).expect("delete");
    assert!(s.store.templates.borrow().is_empty());
    assert!(s.store.deliveries.borrow().is_empty());
}

#[test]
fn retention_purges_old_sessions() {
    let (s, mut a) = (svc(), app());
    a.settings.retention_days = Some(30);
    bio_session(&s, &a, "old");
    s.clock.advance(31 * 86_400);
    bio_session(&s, &a, "new");
    assert_eq!(block_on(s.purge_retention(&a)).expect("purge"), 1);
    assert_eq!(s.store.sessions.borrow().len(), 1);
}

// ------------------------------------------------------------------------------ webhooks

/// The capture queues two statuses (In Progress, then Approved) for each of two destinations.
fn queued_statuses(s: &Svc) -> Vec<DeliveryRow> {
    let a = app();
    let id = bio_session(s, &a, "u")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    approve_capture(s, &a, &id);
    let order = s.store.delivery_order.borrow();
    let rows = s.store.deliveries.borrow();
    order.iter().map(|id| rows[id].clone()).collect()
}

fn http(status: u16) -> SendResult {
    SendResult::Http {
        status,
        retry_after: None,
    }
}

fn ids(rows: &[DeliveryRow]) -> Vec<&str> {
    let mut ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids
}

#[test]
fn delivery_results_drive_retries() {
    let s = svc();
    let queued = queued_statuses(&s);
    let (claim, due) = block_on(s.claim_deliveries(100)).expect("claim");
    assert_eq!(due.len(), 2, "each destination's first status");
    assert!(
        block_on(s.claim_deliveries(100))
            .expect("claim")
            .1
            .is_empty(),
        "claimed rows are handed to one sender only, and later statuses wait for them"
    );
    let r = block_on(s.record_delivery_result(&claim.id, &due[0], http(503), Some(40)))
        .expect("record")
        .expect("claim held");
    assert_eq!(
        (r.status, r.attempt, r.next_attempt_at),
        (DeliveryStatus::Pending, 1, T0 + 60)
    );
    let refused = block_on(s.record_delivery_result(&claim.id, &due[1], http(400), Some(5)))
        .expect("record")
        .expect("claim held");
    assert_eq!(refused.status, DeliveryStatus::Failed);
    // due[1]'s destination gave up on it, so its next status may go; a sender takes it and
    // dies without reporting.
    let (_, next) = block_on(s.claim_deliveries(100)).expect("claim");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].destination_id, due[1].destination_id);
    s.clock.advance(60);
    let (claim2, retry) = block_on(s.claim_deliveries(100)).expect("claim");
    assert_eq!(
        ids(&retry),
        vec![due[0].id.as_str()],
        "only the failed send is due; the other is still leased"
    );
    let r = block_on(s.record_delivery_result(&claim2.id, &retry[0], http(200), Some(12)))
        .expect("record")
        .expect("claim held");
    assert_eq!(
        (r.status, r.attempt, r.last_response.as_deref()),
        (DeliveryStatus::Delivered, 2, Some("200"))
    );
    // Each send is logged with how long the receiver took (the sender measures it).
    let log: Vec<_> = r
        .attempt_log
        .iter()
        .map(|a| (a.attempt, a.response.as_str(), a.latency_ms))
        .collect();
    assert_eq!(log, vec![(1, "503", Some(40)), (2, "200", Some(12))]);
    // A late report under a claim that no longer holds the row changes nothing.
    assert_eq!(
        block_on(s.record_delivery_result(&claim.id, &due[0], SendResult::Timeout, Some(10_000)))
            .expect("late"),
        None
    );
    assert_eq!(
        s.store.deliveries.borrow()[&due[0].id].status,
        DeliveryStatus::Delivered
    );
    // due[0] is delivered, so its destination's next status is due; the dead sender's row
    // comes back only when its lease ends, and then to a new sender only.
    let (_, after) = block_on(s.claim_deliveries(100)).expect("claim");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].destination_id, due[0].destination_id);
    s.clock.advance(crate::deliveries::LEASE_SECONDS);
    let (claim3, orphans) = block_on(s.claim_deliveries(100)).expect("claim");
    assert_eq!(ids(&orphans), ids(&[next[0].clone(), after[0].clone()]));
    assert_eq!(
        block_on(s.record_delivery_result(&claim.id, &orphans[0], http(200), None)).expect("late"),
        None,
        "the first sender lost its lease"
    );
    assert!(
        block_on(s.record_delivery_result(&claim3.id, &orphans[0], http(200), None))
            .expect("record")
            .is_some()
    );
    // Idempotent event ids: re-inserting a row for the same (event, destination) adds nothing.
    let dup = DeliveryRow {
        id: "other".into(),
        ..queued[2].clone()
    };
    block_on(s.store.commit(&[crate::Write::InsertDelivery(dup)])).expect("commit");
    assert!(!s.store.deliveries.borrow().contains_key("other"));
}

#[test]
fn a_sessions_later_status_waits_for_its_earlier_one_to_each_destination() {
    let s = svc();
    let queued = queued_statuses(&s);
    let status = |r: &DeliveryRow| r.payload["status"].as_str().unwrap_or("").to_owned();
    // Both of each destination's rows are due at once; only the earlier one is handed out.
    let (claim, first) = block_on(s.claim_deliveries(100)).expect("claim");
    assert_eq!(ids(&first), ids(&queued[..2]));
    assert!(first.iter().all(|r| status(r) == "In Progress"));
    // Timeouts keep the earlier ones pending, so the later ones keep waiting, even once due.
    for r in &first {
        block_on(s.record_delivery_result(&claim.id, r, SendResult::Timeout, None))
            .expect("record");
    }
    assert!(block_on(s.claim_deliveries(100)).expect("claim").1.is_empty());
    s.clock.advance(60);
    let (claim, retry) = block_on(s.claim_deliveries(100)).expect("claim");
    assert_eq!(ids(&retry), ids(&first), "the retries, not the later statuses");
    for r in &retry {
        block_on(s.record_delivery_result(&claim.id, r, http(204), None)).expect("record");
    }
    let (_, second) = block_on(s.claim_deliveries(100)).expect("claim");
    assert_eq!(ids(&second), ids(&queued[2..]));
    assert!(second.iter().all(|r| status(r) == "Approved"));
}

#[test]
fn disabled_or_unsubscribed_destinations_get_nothing() {
    let (s, mut a) = (svc(), app());
    a.webhooks[0].enabled = false;
    let id = bio_session(&s, &a, "u")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    approve_capture(&s, &a, &id);
    let d = s.store.deliveries.borrow();
    assert!(d.values().all(|r| r.destination_id == "dest-legacy"));
    assert_eq!(d.len(), 2);
}

// ------------------------------------------------------------------------------ privacy

#[test]
fn no_raw_image_is_ever_stored() {
    let (s, a) = (svc(), app());
    let id = bio_session(&s, &a, "u")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ctx =
        block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).expect("begin");
    let mut o = outcome(
        CheckStatus::Approved,
        Some(CheckStatus::Approved),
        Some(emb(1)),
    );
    // An adapter that carelessly inlines the selfie must not get it persisted.
    o.liveness.reference_image = Some(format!("data:image/jpeg;base64,{}", portrait_b64()));
    if let Some(m) = o.face_match.as_mut() {
        m.target_image = Some(format!("data:image/jpeg;base64,{}", portrait_b64()));
    }
    block_on(s.finish_capture(ctx, o)).expect("finish");
    let dump = format!(
        "{}{}{}",
        serde_json::to_string(&*s.store.sessions.borrow()).expect("json"),
        serde_json::to_string(&s.store.templates.borrow().values().collect::<Vec<_>>())
            .expect("json"),
        serde_json::to_string(&*s.store.deliveries.borrow()).expect("json"),
    );
    assert!(!dump.contains(&portrait_b64()));
    assert!(!dump.contains(std::str::from_utf8(MARKER).expect("ascii")));
    let row = s.store.sessions.borrow()[&id].clone();
    assert_eq!(row.liveness_checks[0].reference_image, None);
    assert_eq!(row.face_matches[0].target_image, None);
    assert!(row
        .reference_template
        .as_ref()
        .is_some_and(|b| b.len() == 1 + 12 + 512 + 16));
    assert!(!format!("{:?}", crate::validate::PortraitImage(MARKER.to_vec())).contains("RAW"));
}

// ------------------------------------------------------------------------------ errors, auth, routes

#[test]
fn error_mapping() {
    let h = |e: ApiError| e.to_http();
    assert_eq!(h(ApiError::MissingApiKey).0, 403);
    assert_eq!(
        h(ApiError::MissingApiKey).2,
        json!({"detail": "You do not have permission to perform this action."})
    );
    assert_eq!(
        h(ApiError::InvalidApiKey),
        (
            401,
            vec![("Content-Type".into(), "application/json".into())],
            json!({"detail": "Incorrect authentication credentials."})
        )
    );
    assert_eq!(h(ApiError::NotFound).2, json!({"detail": "Not found."}));
    let (st, hd, b) = h(ApiError::MethodNotAllowed {
        method: "PUT".into(),
        allow: vec!["GET", "OPTIONS"],
    });
    assert_eq!(
        (st, b),
        (405, json!({"detail": "Method \"PUT\" not allowed."}))
    );
    assert!(hd.contains(&("Allow".into(), "GET, OPTIONS".into())));
    let (st, hd, b) = h(ApiError::RateLimited {
        limit: 100,
        remaining: 0,
        reset: T0 + 12,
        retry_after: 12,
    });
    assert_eq!(st, 429);
    for (k, v) in [
        ("Retry-After", "12"),
        ("X-RateLimit-Limit", "100"),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", "1774970012"),
    ] {
        assert!(hd.contains(&(k.into(), v.into())), "{k}");
    }
    assert_eq!(
        b,
        json!({"detail": "Request was throttled. Expected available in 12 seconds."})
    );
    assert_eq!(h(ApiError::PayloadTooLarge { limit: 10 }).0, 413);
    let (st, _, b) = h(ApiError::Internal("D1: disk I/O error at row 7".into()));
    assert_eq!(
        (st, b),
        (500, json!({"detail": "A server error occurred."})),
        "no internals leak"
    );
    assert_eq!(h(ApiError::from(crate::StoreError::Conflict)).0, 409);
}

#[test]
fn authentication() {
    let apps = vec![app()];
    let hdr = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    assert_eq!(
        authenticate(&apps, &[]).map(|_| ()),
        Err(ApiError::MissingApiKey)
    );
    assert_eq!(
        authenticate(&apps, &hdr("x-api-key", " ")).map(|_| ()),
        Err(ApiError::MissingApiKey)
    );
    assert_eq!(
        authenticate(&apps, &hdr("x-api-key", "wrong")).map(|_| ()),
        Err(ApiError::InvalidApiKey)
    );
    assert_eq!(
        authenticate(&apps, &hdr("X-Api-Key", KEY)).map(|a| a.id.clone()),
        Ok(apps[0].id.clone())
    );
}

#[test]
fn routing() {
    let id = "abc".to_owned();
    assert_eq!(route("POST", "/v3/session/"), Ok(Route::CreateSession));
    assert_eq!(
        route("GET", "/v3/sessions/?limit=2"),
        Ok(Route::ListSessions)
    );
    assert_eq!(
        route("POST", "/v3/sessions/delete/"),
        Ok(Route::BatchDelete)
    );
    assert_eq!(
        route("GET", "/v3/session/abc/"),
        Ok(Route::GetSession(id.clone()))
    );
    assert_eq!(
        route("get", "/v3/session/abc/decision/"),
        Ok(Route::Decision(id.clone()))
    );
    assert_eq!(
        route("PATCH", "/v3/session/abc/update-status/"),
        Ok(Route::UpdateStatus(id.clone()))
    );
    assert_eq!(
        route("DELETE", "/v3/session/abc/delete/"),
        Ok(Route::DeleteSession(id.clone()))
    );
    assert_eq!(
        route("GET", "/v3/session/abc/generate-pdf"),
        Ok(Route::GeneratePdf(id.clone()))
    );
    assert_eq!(route("GET", "/v3/nope/"), Err(ApiError::NotFound));
    assert_eq!(
        route("GET", "/v3/session/").map_err(|e| e.status()),
        Err(405)
    );
    assert_eq!(
        route("POST", "/v3/session/abc/update-status/").map_err(|e| e.status()),
        Err(405)
    );
    // The PY doctor probe: an authenticated GET that must come back 404.
    assert_eq!(
        route("GET", "/v3/session/auth-probe-check/"),
        Ok(Route::GetSession("auth-probe-check".into()))
    );
    let (s, a) = (svc(), app());
    assert_eq!(err(block_on(s.get(&a, "auth-probe-check"))).0, 404);
    assert_eq!(Route::Decision(id.clone()).rate_limit_per_minute(), 100);
    assert_eq!(Route::CreateSession.rate_limit_per_minute(), 600);
    assert_eq!(Route::UpdateStatus(id).rate_limit_per_minute(), 300);
}

// ------------------------------------------------------------------------------ challenges

pub(crate) const FLASH: &str = "33333333-3333-4333-8333-333333333333";
pub(crate) const TURNS: &str = "44444444-4444-4444-8444-444444444444";

/// `app()` plus a FLASHING re-authentication workflow and an ACTIVE_3D one, configured the way
/// Didit's flat workflow config spells the method (lower case).
pub(crate) fn challenge_app() -> Application {
    let mut a = app();
    for (id, method) in [(FLASH, "flashing"), (TURNS, "active_3d")] {
        a.workflows.push(
            serde_json::from_value(json!({
                "id": id, "version": 1, "workflow_type": "biometric_authentication",
                "liveness_method": method,
            }))
            .expect("workflow config"),
        );
    }
    a
}

pub(crate) fn session_on(
    s: &Svc,
    a: &Application,
    workflow: &str,
    vendor: &str,
) -> (String, String) {
    let (st, b) = ok_body(create(
        s,
        a,
        json!({"workflow_id": workflow, "vendor_data": vendor, "portrait_image": portrait_b64()}),
    ));
    assert_eq!(st, 201, "{b}");
    let id = b["session_id"].as_str().unwrap().to_owned();
    (id.clone(), token_of(s, &id))
}

fn summary(s: &Svc, a: &Application, token: &str) -> Value {
    block_on(s.hosted_summary(std::slice::from_ref(a), token, &Default::default())).expect("summary")
}

/// `POST /hosted/v1/{token}/challenge`, wrapped as `{"challenge": …}` for the tests below.
fn challenge_of(s: &Svc, a: &Application, token: &str) -> Value {
    json!({"challenge": block_on(s.hosted_challenge(std::slice::from_ref(a), token, &Default::default())).expect("challenge")})
}

#[test]
fn active_workflows_issue_a_challenge_that_each_request_replaces() {
    let (s, a) = (svc(), challenge_app());
    let (id, token) = session_on(&s, &a, FLASH, "u-flash");
    // The summary is a read: polling it never replaces the challenge a phone is answering.
    assert_eq!(summary(&s, &a, &token)["liveness_method"], "FLASHING");
    assert!(s.store.challenges.borrow().is_empty());
    let first = challenge_of(&s, &a, &token);
    let c1: facegate_pipeline::challenge::Challenge =
        serde_json::from_value(first["challenge"].clone()).expect("a challenge");
    assert_eq!(first["challenge"]["method"], "FLASHING");
    assert!((4..=6).contains(&c1.steps.len()));
    assert_eq!(
        block_on(s.store.get_challenge(&a.id, &id)).unwrap(),
        Some(c1.clone())
    );

    let second = challenge_of(&s, &a, &token);
    let c2: facegate_pipeline::challenge::Challenge =
        serde_json::from_value(second["challenge"].clone()).unwrap();
    assert_ne!(c1.id, c2.id);
    assert_eq!(
        block_on(s.store.get_challenge(&a.id, &id)).unwrap(),
        Some(c2.clone())
    );
    let ctx = block_on(s.begin_capture(std::slice::from_ref(&a), &token, None)).unwrap();
    assert_eq!(ctx.challenge, Some(c2));

    let (_, turns) = session_on(&s, &a, TURNS, "u-turns");
    assert_eq!(
        challenge_of(&s, &a, &turns)["challenge"]["method"],
        "ACTIVE_3D"
    );
}

#[test]
fn passive_summary_is_unchanged_and_stores_no_challenge() {
    let (s, a) = (svc(), challenge_app());
    let (id, token) = session_on(&s, &a, BIO, "u-passive");
    let v = summary(&s, &a, &token);
    assert_eq!(
        keys(&v),
        [
            "callback",
            "callback_method",
            "callback_url",
            "language",
            "liveness_method",
            "session_id",
            "status"
        ]
    );
    assert_eq!(v["liveness_method"], "PASSIVE");
    let refused =
        block_on(s.hosted_challenge(std::slice::from_ref(&a), &token, &Default::default()));
    assert!(matches!(refused, Err(ApiError::Conflict(_))), "{refused:?}");
    assert!(s.store.challenges.borrow().is_empty());
    let ctx = block_on(s.begin_capture(std::slice::from_ref(&a), &token, None)).unwrap();
    assert_eq!(ctx.challenge, None);
    let r = block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::Approved), None),
    ))
    .unwrap();
    assert_eq!(r.session.status, SessionStatus::Approved);
    assert_eq!(r.session.liveness_checks[0].method, "PASSIVE");
    assert!(r.to_json().get("challenge").is_none());
    assert!(block_on(s.store.get_challenge(&a.id, &id))
        .unwrap()
        .is_none());
}

#[test]
fn a_capture_answering_a_stale_challenge_fails_liveness_and_costs_an_attempt() {
    use facegate_pipeline::challenge::{apply, verify, ChallengeLimits, FrameObservation};
    let (s, a) = (svc(), challenge_app());
    let (id, token) = session_on(&s, &a, FLASH, "u-stale");
    let stale = challenge_of(&s, &a, &token)["challenge"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let current = challenge_of(&s, &a, &token)["challenge"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(stale, current);

    // What the worker does with the frames: verify against the session's challenge, fold the
    // verdict into the liveness item of the best frame.
    let ctx = block_on(s.begin_capture(std::slice::from_ref(&a), &token, None)).unwrap();
    let frames = [FrameObservation::tracked(0, None)];
    let verdict = verify(
        ctx.challenge.as_ref(),
        Some(&stale),
        &frames,
        &ChallengeLimits::default(),
    );
    assert!(!verdict.passed);
    let mut o = outcome(CheckStatus::Approved, Some(CheckStatus::Approved), None);
    apply(
        &mut o.liveness,
        ctx.workflow.liveness_method,
        Some(&stale),
        &verdict,
    );
    let r = block_on(s.finish_capture(ctx, o)).unwrap();

    assert!(r.retry && r.attempts_left == 2, "{:?}", r.to_json());
    assert_eq!(r.session.attempts, 1);
    let item = &r.session.liveness_checks[0];
    assert_eq!(
        (item.status, item.method.as_str()),
        (CheckStatus::Declined, "FLASHING")
    );
    assert_eq!(item.warnings[0].risk, "LOW_LIVENESS_SCORE");
    assert!(item.warnings[0]
        .long_description
        .contains("another challenge"));
    // The answered challenge is spent; the recapture gets a new one, also returned to the page.
    let next = r
        .challenge
        .clone()
        .expect("a fresh challenge for the retry");
    assert_ne!(next.id, current);
    assert_eq!(r.to_json()["challenge"]["id"], next.id.as_str());
    assert_eq!(
        block_on(s.store.get_challenge(&a.id, &id)).unwrap(),
        Some(next)
    );
}

#[test]
fn deciding_or_deleting_a_session_drops_its_challenge() {
    let (s, a) = (svc(), challenge_app());
    let (id, token) = session_on(&s, &a, TURNS, "u-done");
    challenge_of(&s, &a, &token);
    let active = |id: &str| block_on(s.store.get_active(&a.id, id)).unwrap();
    assert!(active(&id).unwrap().current.is_some());
    let ctx = block_on(s.begin_capture(std::slice::from_ref(&a), &token, None)).unwrap();
    let r = block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::Approved), None),
    ))
    .unwrap();
    assert_eq!(r.session.status, SessionStatus::Approved);
    assert!(r.challenge.is_none());
    assert!(active(&id).unwrap().current.is_none());
    // A decided session gets no new challenge.
    let refused =
        block_on(s.hosted_challenge(std::slice::from_ref(&a), &token, &Default::default()));
    assert!(matches!(refused, Err(ApiError::Conflict(_))), "{refused:?}");

    let (id2, token2) = session_on(&s, &a, FLASH, "u-deleted");
    challenge_of(&s, &a, &token2);
    assert!(block_on(s.store.get_challenge(&a.id, &id2))
        .unwrap()
        .is_some());
    ok_body(block_on(s.delete(&a, &id2)));
    ok_body(block_on(s.delete(&a, &id)));
    assert!(
        active(&id).is_none(),
        "a deleted session's ACTIVE_3D row goes too"
    );
    assert!(block_on(s.store.get_challenge(&a.id, &id2))
        .unwrap()
        .is_none());
}

// ------------------------------------------------------------------------ Idempotency-Key

/// What an adapter does with a keyed write: check, run, record.
fn keyed_create(s: &Svc, a: &Application, key: &str, body: Value) -> (u16, String, bool) {
    use crate::idempotency::{fingerprint, Decision};
    let raw = body.to_string();
    let hash = fingerprint("POST", "/v3/session/", raw.as_bytes());
    match block_on(s.idempotency_check(&a.id, key, &hash)) {
        Ok(Decision::Replay(r)) => (r.status, r.body, true),
        Ok(Decision::Execute) => {
            match block_on(s.create(a, raw.as_bytes(), |_| Ok(Some(emb(1))))) {
                Ok(resp) => {
                    block_on(s.idempotency_record(&a.id, key, &hash, &resp)).expect("recorded");
                    (
                        resp.status,
                        String::from_utf8(resp.body_bytes()).unwrap(),
                        false,
                    )
                }
                Err(e) => (e.status(), e.to_http().2.to_string(), false),
            }
        }
        Err(e) => (e.status(), e.to_http().2.to_string(), false),
    }
}

#[test]
fn idempotency_key_replays_a_create_and_refuses_reuse() {
    let s = svc();
    let a = app();
    let body = json!({ "workflow_id": KYC, "vendor_data": "idem-user" });
    let (st1, first, replayed1) = keyed_create(&s, &a, "key-1", body.clone());
    assert_eq!((st1, replayed1), (201, false));
    let (st2, second, replayed2) = keyed_create(&s, &a, "key-1", body.clone());
    assert_eq!((st2, replayed2), (201, true));
    assert_eq!(first, second, "the replay is byte-identical");
    assert_eq!(s.store.sessions.borrow().len(), 1, "nothing ran twice");

    // Same key, another body: 409, and nothing created.
    let other = json!({ "workflow_id": KYC, "vendor_data": "someone-else" });
    let (st3, conflict, _) = keyed_create(&s, &a, "key-1", other.clone());
    assert_eq!(st3, 409);
    assert_eq!(
        serde_json::from_str::<Value>(&conflict).unwrap(),
        json!({ "detail": crate::idempotency::MSG_KEY_REUSED })
    );
    assert_eq!(s.store.sessions.borrow().len(), 1);

    // Keys are per application: another application's same key runs afresh.
    let mut b = app();
    b.id = "bbbbbbbb-0000-4000-8000-000000000000".into();
    assert!(!keyed_create(&s, &b, "key-1", other).2);
}

#[test]
fn idempotency_errors_are_not_kept_and_answers_expire() {
    use crate::idempotency::TTL_SECONDS;
    let s = svc();
    let a = app();
    // A refused create keeps nothing: the retry runs again (and fails again).
    let (st, _, _) = keyed_create(&s, &a, "bad", json!({ "vendor_data": "x" }));
    assert_eq!(st, 400);
    assert!(s.store.idempotency.borrow().is_empty());

    let body = json!({ "workflow_id": KYC, "vendor_data": "ttl-user" });
    let (_, first, _) = keyed_create(&s, &a, "k", body.clone());
    s.clock.advance(TTL_SECONDS);
    assert_eq!(block_on(s.purge_idempotency()).unwrap(), 0);
    let (_, again, replayed) = keyed_create(&s, &a, "k", body.clone());
    assert!(replayed);
    assert_eq!(first, again);

    // After a day the key is forgotten (the sweep drops it; even unswept, it is not replayed).
    s.clock.advance(1);
    let stale = crate::idempotency::decide(
        block_on(s.store.get_idempotency(&a.id, "k"))
            .unwrap()
            .as_ref(),
        "anything",
        crate::store::Clock::now(&s.clock),
    );
    assert_eq!(stale, Ok(crate::idempotency::Decision::Execute));
    assert_eq!(block_on(s.purge_idempotency()).unwrap(), 1);
    assert_eq!(block_on(s.store.get_idempotency(&a.id, "k")).unwrap(), None);
}
