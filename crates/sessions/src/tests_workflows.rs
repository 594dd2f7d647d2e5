//! `/v3/workflows/`: Didit's features body mapped onto enrolment and re-authentication,
//! versions that sessions keep, drafts, deletion, and the bodies refused.

use serde_json::{json, Value};

use crate::memory::{block_on, SeqIds};
use crate::routes::{route, Route};
use crate::tests::{app, create, err, ok_body, portrait_b64, svc, token_of, Svc, T0};
use crate::types::*;
use crate::workflows::{self, HISTORY_LIMIT};
use facegate_pipeline::challenge::LivenessMethod;

const REAUTH: &str = r#"{"workflow_label": "Re-auth", "features": [
    {"feature": "LIVENESS", "config": {"face_liveness_method": "FLASHING", "face_liveness_score_decline_threshold": 40}, "label": "selfie"},
    {"feature": "FACE_MATCH", "config": {"face_match_score_decline_threshold": 55, "face_match_score_review_threshold": 75}}
]}"#;

fn post(a: &mut Application, body: &str) -> Result<crate::HttpResponse, crate::ApiError> {
    let ids = SeqIds(std::cell::Cell::new(500 + a.workflows.len() as u64));
    workflows::create(a, body.as_bytes(), &ids, T0)
}

fn patch(
    a: &mut Application,
    id: &str,
    body: Value,
) -> Result<crate::HttpResponse, crate::ApiError> {
    // Ids are drawn from a counter seeded by the history's length, so versions get distinct
    // uuids across calls.
    let ids = SeqIds(std::cell::Cell::new(1000 + a.workflow_history.len() as u64));
    workflows::update(a, id, body.to_string().as_bytes(), &ids, T0 + 60)
}

fn created(a: &mut Application, body: &str) -> String {
    let (st, b) = ok_body(post(a, body));
    assert_eq!(st, 201, "{b}");
    b["workflow_id"].as_str().expect("workflow_id").to_owned()
}

fn session(s: &Svc, a: &Application, workflow: &str, vendor: &str) -> Result<String, (u16, Value)> {
    create(
        s,
        a,
        json!({"workflow_id": workflow, "vendor_data": vendor, "portrait_image": portrait_b64()}),
    )
    .map(|r| {
        r.body.expect("body")["session_id"]
            .as_str()
            .expect("id")
            .to_owned()
    })
    .map_err(|e| {
        let (st, _, b) = e.to_http();
        (st, b)
    })
}

/// The workflow a capture of session `id` would be decided with.
fn workflow_of_capture(s: &Svc, a: &Application, id: &str) -> Workflow {
    block_on(s.begin_capture(std::slice::from_ref(a), &token_of(s, id), None))
        .expect("begin")
        .workflow
}

#[test]
fn routes_of_workflows() {
    assert_eq!(route("GET", "/v3/workflows/"), Ok(Route::ListWorkflows));
    assert_eq!(route("POST", "/v3/workflows/"), Ok(Route::CreateWorkflow));
    assert_eq!(
        route("PATCH", "/v3/workflows/w/"),
        Ok(Route::UpdateWorkflow("w".into()))
    );
    assert_eq!(
        route("DELETE", "/v3/workflows/w"),
        Ok(Route::DeleteWorkflow("w".into()))
    );
}

#[test]
fn a_features_body_becomes_a_reauthentication_workflow_that_sessions_use() {
    let (s, mut a) = (svc(), app());
    let (st, b) = ok_body(post(&mut a, REAUTH));
    assert_eq!(st, 201);
    assert_eq!(b["workflow_type"], "biometric_authentication");
    assert_eq!(b["features"], json!(["LIVENESS", "FACE_MATCH"]));
    assert_eq!(b["version"], 1);
    assert_eq!(b["uuid"], b["workflow_id"]);
    assert_eq!(b["status"], "published");
    assert_eq!(b["face_liveness_method"], "flashing");
    assert_eq!(b["face_match_score_review_threshold"], 75.0);
    assert_eq!(b["nodes"][0]["label"], "selfie");
    let id = b["workflow_id"].as_str().unwrap();

    // What a GET shows can be sent back: its nodes are the features body.
    let (_, got) = ok_body(workflows::get(&a, id));
    assert_eq!(got, b);
    let before = a.clone();
    ok_body(patch(&mut a, id, json!({"features": got["nodes"]})));
    assert_eq!(
        a.workflows, before.workflows,
        "an unchanged body makes no version"
    );

    let sid = session(&s, &a, id, "wf-user").expect("session");
    let wf = workflow_of_capture(&s, &a, &sid);
    assert_eq!(wf.liveness_method, LivenessMethod::Flashing);
    assert_eq!(wf.thresholds.face_match_decline, 55.0);
    assert_eq!(wf.thresholds.liveness_decline, 40.0);
    assert!(wf.has(Feature::FaceMatch));
}

#[test]
fn liveness_alone_is_enrolment() {
    let mut a = app();
    let (_, b) = ok_body(post(&mut a, r#"{"features": [{"feature": "LIVENESS"}]}"#));
    assert_eq!(b["workflow_type"], "kyc");
    assert_eq!(b["is_face_match_enabled"], false);
    assert_eq!(b["face_match_score_decline_threshold"], Value::Null);
}

#[test]
fn a_change_is_a_new_version_and_sessions_keep_theirs() {
    let (s, mut a) = (svc(), app());
    let id = created(&mut a, REAUTH);
    let old_session = session(&s, &a, &id, "u-old").expect("session");

    let (st, b) = ok_body(patch(
        &mut a,
        &id,
        json!({"features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH", "config": {"face_match_score_review_threshold": 90}}]}),
    ));
    assert_eq!(st, 200);
    assert_eq!(b["version"], 2);
    assert_eq!(b["workflow_id"], id.as_str());
    assert_ne!(b["uuid"], id.as_str(), "each version has its own uuid");
    let new_session = session(&s, &a, &id, "u-new").expect("session");

    let old = workflow_of_capture(&s, &a, &old_session);
    assert_eq!((old.version, old.thresholds.face_match_review), (1, 75.0));
    assert_eq!(old.liveness_method, LivenessMethod::Flashing);
    let new = workflow_of_capture(&s, &a, &new_session);
    assert_eq!((new.version, new.thresholds.face_match_review), (2, 90.0));
    assert_eq!(
        new.liveness_method,
        LivenessMethod::Passive,
        "features replace the config whole"
    );

    // Both versions are listed and readable by their uuid; only the latest can be changed.
    let list = workflows::list(&a).body.unwrap();
    let versions: Vec<&Value> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["workflow_id"] == id.as_str())
        .map(|w| &w["version"])
        .collect();
    assert_eq!(versions, [&json!(2), &json!(1)], "newest first");
    let latest = workflows::get(&a, &id).unwrap().body.unwrap();
    assert_eq!(
        latest["version"], 2,
        "the workflow id names the latest version"
    );
    let v2_uuid = b["uuid"].as_str().unwrap();
    assert_eq!(ok_body(workflows::get(&a, v2_uuid)).1["version"], 2);
    // The first version's uuid is the workflow id, so the history is reached by version.
    assert_eq!(a.workflow_history[0].version, 1);
}

#[test]
fn a_draft_starts_no_session_until_published() {
    let (s, mut a) = (svc(), app());
    let id = created(
        &mut a,
        r#"{"status": "draft", "features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH"}]}"#,
    );
    let (st, b) = session(&s, &a, &id, "d").unwrap_err();
    assert_eq!(st, 400);
    assert!(
        b["workflow_id"][0].as_str().unwrap().contains("draft"),
        "{b}"
    );

    // A draft is edited in place; saving without a status publishes it (Didit's rule).
    let (_, b) = ok_body(patch(
        &mut a,
        &id,
        json!({"status": "draft", "workflow_label": "WIP"}),
    ));
    assert_eq!(
        (b["status"].as_str(), b["version"].as_u64()),
        (Some("draft"), Some(1))
    );
    let (_, b) = ok_body(patch(&mut a, &id, json!({"workflow_label": "Ready"})));
    assert_eq!(
        (b["status"].as_str(), b["version"].as_u64()),
        (Some("published"), Some(1))
    );
    assert!(a.workflow_history.is_empty());
    session(&s, &a, &id, "d").expect("published");

    let (st, b) = err(patch(&mut a, &id, json!({"status": "draft"})));
    assert_eq!(st, 400);
    assert!(
        b["status"][0].as_str().unwrap().contains("Cannot revert"),
        "{b}"
    );
}

#[test]
fn deleting_refuses_new_sessions_and_keeps_begun_ones() {
    let (s, mut a) = (svc(), app());
    let id = created(&mut a, REAUTH);
    let begun = session(&s, &a, &id, "u").expect("session");
    ok_body(patch(&mut a, &id, json!({"workflow_label": "v2"})));
    let r = workflows::delete(&mut a, &id).expect("delete");
    assert_eq!(r.status, 204);
    let (st, _) = session(&s, &a, &id, "u2").unwrap_err();
    assert_eq!(st, 400);
    assert_eq!(
        workflow_of_capture(&s, &a, &begun)
            .thresholds
            .face_match_review,
        75.0
    );
    let (_, deleted) = ok_body(workflows::get(&a, &id));
    assert_eq!(
        (
            deleted["is_archived"].as_bool(),
            deleted["version"].as_u64()
        ),
        (Some(true), Some(2))
    );
    assert_eq!(
        err(workflows::delete(&mut a, &id)).0,
        400,
        "an archived version cannot change"
    );
    assert_eq!(err(workflows::delete(&mut a, "no-such")).0, 404);
}

#[test]
fn one_default_at_a_time() {
    let mut a = app();
    let first = created(
        &mut a,
        r#"{"is_default": true, "features": [{"feature": "LIVENESS"}]}"#,
    );
    let second = created(
        &mut a,
        r#"{"is_default": true, "features": [{"feature": "LIVENESS"}]}"#,
    );
    let defaults: Vec<&str> = a
        .workflows
        .iter()
        .filter(|w| w.is_default)
        .map(|w| w.id.as_str())
        .collect();
    assert_eq!(defaults, [second.as_str()]);
    assert_ne!(first, second);
}

#[test]
fn bodies_facegate_cannot_honour_are_refused_with_the_reason() {
    let mut a = app();
    let before = a.clone();
    for (body, field, says) in [
        (
            r#"{"features": [{"feature": "OCR"}, {"feature": "LIVENESS"}]}"#,
            "features",
            "does not run OCR",
        ),
        (
            r#"{"features": [{"feature": "FACE_MATCH"}, {"feature": "LIVENESS"}]}"#,
            "features",
            "in that order",
        ),
        (
            r#"{"features": [{"feature": "LIVENESS"}, {"feature": "LIVENESS"}]}"#,
            "features",
            "twice",
        ),
        (
            r#"{"features": [{"feature": "SELFIE"}]}"#,
            "features",
            "not a valid choice",
        ),
        (r#"{"features": []}"#, "features", "non-empty"),
        (
            r#"{"features": [{"feature": "LIVENESS", "config": {"face_liveness_method": "BLINK"}}]}"#,
            "features",
            "PASSIVE",
        ),
        (
            r#"{"features": [{"feature": "LIVENESS", "config": {"face_match_score_decline_threshold": 10}}]}"#,
            "features",
            "no such setting",
        ),
        (
            r#"{"features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH", "config": {"face_match_score_decline_threshold": 80, "face_match_score_review_threshold": 60}}]}"#,
            "features",
            "must not be above",
        ),
        (
            r#"{"features": [{"feature": "LIVENESS", "config": {"face_liveness_score_decline_threshold": 101}}]}"#,
            "features",
            "0 to 100",
        ),
        (
            r#"{"features": [{"feature": "LIVENESS", "extra": 1}]}"#,
            "features",
            "unknown key",
        ),
        (
            r#"{"workflow_type": "kyc", "features": [{"feature": "LIVENESS"}]}"#,
            "workflow_type",
            "Unknown field",
        ),
        (
            r#"{"is_liveness_enabled": true, "features": [{"feature": "LIVENESS"}]}"#,
            "is_liveness_enabled",
            "Unknown field",
        ),
        (
            r#"{"retry_window_days": 7, "features": [{"feature": "LIVENESS"}]}"#,
            "retry_window_days",
            "no such setting",
        ),
        (
            r#"{"max_retry_attempts": 0, "features": [{"feature": "LIVENESS"}]}"#,
            "max_retry_attempts",
            "1 to 10",
        ),
        (
            r#"{"session_expiration_time": 5, "features": [{"feature": "LIVENESS"}]}"#,
            "session_expiration_time",
            "60",
        ),
        (
            r#"{"workflow_label": "this label is far longer than the fifty characters Didit allows", "features": [{"feature": "LIVENESS"}]}"#,
            "workflow_label",
            "50",
        ),
        (r#"{"workflow_label": "x"}"#, "features", "required"),
    ] {
        let (st, b) = err(post(&mut a, body));
        assert_eq!(st, 400, "{body}");
        let said = b[field].to_string();
        assert!(said.contains(says), "{body}: {b}");
    }
    for body in ["[]", "not json", "\"features\""] {
        assert_eq!(err(post(&mut a, body)).0, 400, "{body}");
    }
    assert_eq!(a, before, "nothing refused was kept");
}

#[test]
fn the_expiration_time_is_the_sessions() {
    let (s, mut a) = (svc(), app());
    let id = created(
        &mut a,
        r#"{"session_expiration_time": 600, "features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH"}]}"#,
    );
    let sid = session(&s, &a, &id, "exp").expect("session");
    assert_eq!(s.store.sessions.borrow()[&sid].expires_at, T0 + 600);
}

/// Each PATCH adds a version; the history a request must read stays bounded.
#[test]
fn the_version_history_is_bounded() {
    let (s, mut a) = (svc(), app());
    let id = created(&mut a, REAUTH);
    let early = session(&s, &a, &id, "early").expect("session");
    for n in 0..(HISTORY_LIMIT + 20) {
        let review = 60 + (n % 30) as u32;
        ok_body(patch(
            &mut a,
            &id,
            json!({"features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH", "config": {"face_match_score_review_threshold": review}}]}),
        ));
    }
    assert_eq!(a.workflow_history.len(), HISTORY_LIMIT);
    assert_eq!(
        a.workflow(&id).unwrap().version as usize,
        HISTORY_LIMIT + 21
    );
    // The pruned first version's session is decided on the latest.
    let wf = workflow_of_capture(&s, &a, &early);
    assert_eq!(wf.version as usize, HISTORY_LIMIT + 21);
}

/// The MCP server's tools for what facegate does not do get a 404 that says so.
#[test]
fn didits_endpoints_facegate_does_not_offer_say_so() {
    for (method, path) in [
        ("GET", "/v3/businesses/"),
        ("POST", "/v3/id-verification/"),
        ("PATCH", "/v3/session/abc/update-data/"),
        ("POST", "/v3/billing/top-up/"),
        ("GET", "/v3/questionnaires/q/"),
    ] {
        let e = route(method, path).unwrap_err();
        let (status, _, body) = e.to_http();
        assert_eq!(status, 404, "{path}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("facegate does not offer"),
            "{path}: {body}"
        );
    }
    assert_eq!(
        route("GET", "/v3/nothing-here/").unwrap_err(),
        crate::ApiError::NotFound
    );
    assert_eq!(
        route("GET", "/v3/session/abc/nothing/").unwrap_err(),
        crate::ApiError::NotFound
    );
}
