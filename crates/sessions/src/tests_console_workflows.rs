//! Workflows in the console: read by every role with their measured figures, changed only by
//! an application's admin, each change a new version that sessions already begun do not see.

use serde_json::{json, Value};

use crate::console::signin::Principal;
use crate::console::workflows as console_workflows;
use crate::console::{ConsoleSession, Grant, Operator, Role};
use crate::memory::{block_on, SeqIds};
use crate::routes::{route, Route};
use crate::tests::{app, create, portrait_b64, svc, token_of, BIO, T0};
use crate::types::*;

fn person(role: Option<Role>) -> Principal {
    let operator = Operator {
        id: "op-1".into(),
        email: "op@example.com".into(),
        name: "Op".into(),
        password_hash: None,
        platform_admin: false,
        grants: role
            .map(|role| Grant {
                application_id: app().id,
                role,
            })
            .into_iter()
            .collect(),
        created_at: 0,
        version: 1,
        failed_logins: 0,
        locked_until: 0,
        second_factor: None,
        pending_second_factor: None,
    };
    Principal::Operator {
        session: ConsoleSession {
            token_hash: String::new(),
            operator_id: operator.id.clone(),
            csrf: String::new(),
            created_at: 0,
            expires_at: i64::MAX,
            awaiting_selfie: None,
        },
        operator,
    }
}

fn edit(
    who: &Principal,
    a: &mut Application,
    body: Value,
) -> Result<console_workflows::Changed, crate::ApiError> {
    let ids = SeqIds(std::cell::Cell::new(2000 + a.workflow_history.len() as u64));
    console_workflows::update(who, a, BIO, body.to_string().as_bytes(), &ids, T0 + 60)
}

fn refusal(r: Result<console_workflows::Changed, crate::ApiError>) -> (u16, Value) {
    let (st, _, body) = r.err().expect("refused").to_http();
    (st, body)
}

#[test]
fn the_console_workflow_routes_are_console_routes() {
    let a = "a".to_owned();
    for (m, p, want) in [
        ("GET", "/console/api/error-rates/", Route::ConsoleErrorRates),
        (
            "GET",
            "/console/api/applications/a/workflows/",
            Route::ConsoleWorkflows(a.clone()),
        ),
        (
            "POST",
            "/console/api/applications/a/workflows/",
            Route::ConsoleCreateWorkflow(a.clone()),
        ),
        (
            "GET",
            "/console/api/applications/a/workflows/w/",
            Route::ConsoleWorkflow(a.clone(), "w".into()),
        ),
        (
            "PATCH",
            "/console/api/applications/a/workflows/w/",
            Route::ConsoleUpdateWorkflow(a.clone(), "w".into()),
        ),
    ] {
        assert_eq!(route(m, p), Ok(want.clone()));
        assert_eq!(want.spec().auth, crate::Auth::Console);
    }
}

#[test]
fn every_role_reads_workflows_with_their_figures() {
    let a = app();
    for role in [Role::Admin, Role::Reviewer, Role::ReadOnly] {
        let r = console_workflows::list(&person(Some(role)), &a).expect("read");
        let body = r.body.unwrap();
        assert_eq!(body["count"], 2);
        let bio = &body["results"][0];
        assert_eq!(bio["workflow_id"], BIO);
        assert_eq!(bio["face_match_score_review_threshold"], 70.0);
        let text = bio["error_rates"]["face_match"]["text"].as_str().unwrap();
        assert!(
            text.contains("Approved above 70: FMR 0.10 % (of 1,040 impostor pairs)"),
            "{text}"
        );
        assert!(bio["error_rates"]["liveness"]["groups"]["all"]["false_accept"].is_f64());
        // Enrolment has no face match, so no face-match figures.
        assert_eq!(body["results"][1]["error_rates"]["face_match"], Value::Null);
    }
    let curves = console_workflows::curves(&person(Some(Role::ReadOnly)))
        .body
        .unwrap();
    assert_eq!(curves["face_match"]["impostor"], 1040);
    // Someone without a role in the application: as if it did not exist.
    let st = console_workflows::list(&person(None), &a)
        .unwrap_err()
        .status();
    assert_eq!(st, 404);
    let st = console_workflows::get(&person(None), &a, BIO)
        .unwrap_err()
        .status();
    assert_eq!(st, 404);
}

#[test]
fn reviewers_and_readers_cannot_edit_and_another_applications_admin_gets_404() {
    let mut a = app();
    let before = a.clone();
    let body = json!({"face_match_score_review_threshold": 80});
    for role in [Role::Reviewer, Role::ReadOnly] {
        assert_eq!(
            refusal(edit(&person(Some(role)), &mut a, body.clone())).0,
            403
        );
    }
    assert_eq!(refusal(edit(&person(None), &mut a, body.clone())).0, 404);
    let ids = SeqIds::default();
    let st = refusal(console_workflows::create(
        &person(Some(Role::Reviewer)),
        &mut a,
        br#"{"workflow_label": "Mine"}"#,
        &ids,
        T0,
    ))
    .0;
    assert_eq!(st, 403);
    assert_eq!(a, before, "nothing changed");
}

#[test]
fn invalid_thresholds_are_refused_by_field_and_change_nothing() {
    let mut a = app();
    let before = a.clone();
    let admin = person(Some(Role::Admin));
    let (st, body) = refusal(edit(
        &admin,
        &mut a,
        json!({"face_match_score_decline_threshold": 80, "face_match_score_review_threshold": 60}),
    ));
    assert_eq!(st, 400);
    assert!(body["face_match_score_review_threshold"][0]
        .as_str()
        .unwrap()
        .contains("must not be above"));
    let (st, body) = refusal(edit(
        &admin,
        &mut a,
        json!({"face_liveness_score_decline_threshold": 101, "face_liveness_method": "SELFIE",
               "face_match_score_review_threshold": "high", "colour": 1}),
    ));
    assert_eq!(st, 400);
    for k in [
        "face_liveness_score_decline_threshold",
        "face_liveness_method",
        "face_match_score_review_threshold",
        "colour",
    ] {
        assert!(body[k].is_array(), "{k}: {body}");
    }
    // Face-match thresholds on an enrolment workflow, which has none.
    let ids = SeqIds(std::cell::Cell::new(3000));
    let (st, body) = refusal(console_workflows::update(
        &admin,
        &mut a,
        crate::tests::KYC,
        br#"{"face_match_score_review_threshold": 75}"#,
        &ids,
        T0,
    ));
    assert_eq!(st, 400);
    assert!(body["face_match_score_review_threshold"].is_array());
    let st = refusal(edit(&admin, &mut a, json!([1, 2]))).0;
    assert_eq!(st, 400);
    assert_eq!(a, before);
}

#[test]
fn an_edit_is_a_new_version_and_begun_sessions_keep_theirs() {
    let s = svc();
    let mut a = app();
    let begun = create(
        &s,
        &a,
        json!({"workflow_id": BIO, "vendor_data": "u1", "portrait_image": portrait_b64()}),
    )
    .unwrap()
    .body
    .unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = edit(
        &person(Some(Role::Admin)),
        &mut a,
        json!({"face_match_score_review_threshold": 82.5, "face_liveness_score_decline_threshold": 60,
               "face_liveness_method": "FLASHING", "workflow_label": "Stricter"}),
    )
    .expect("edited");
    assert!(changed.changed);
    let body = changed.response.body.unwrap();
    assert_eq!(
        body["version"], 4,
        "the app's re-authentication workflow was at version 3"
    );
    assert_eq!(body["face_match_score_review_threshold"], 82.5);
    assert_eq!(
        body["face_match_score_decline_threshold"], 50.0,
        "unsent stays"
    );
    assert_eq!(body["face_liveness_method"], "flashing");
    assert_eq!(body["earlier_versions"][0]["version"], 3);
    let text = body["error_rates"]["face_match"]["text"].as_str().unwrap();
    assert!(text.starts_with("Approved above 82.5: FMR"), "{text}");
    assert!(changed
        .audit_detail
        .contains("face_match_score_review_threshold = 82.5"));
    assert!(changed.audit_detail.contains("version 4"));

    let capture = |id: &str| {
        block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, id), None))
            .expect("begin")
            .workflow
    };
    let old = capture(&begun);
    assert_eq!((old.version, old.thresholds.face_match_review), (3, 70.0));
    let new = create(
        &s,
        &a,
        json!({"workflow_id": BIO, "vendor_data": "u2", "portrait_image": portrait_b64()}),
    )
    .unwrap()
    .body
    .unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new = capture(&new);
    assert_eq!((new.version, new.thresholds.face_match_review), (4, 82.5));
    assert_eq!(new.thresholds.liveness_decline, 60.0);

    // The same values again: no new version, nothing to audit.
    let again = edit(
        &person(Some(Role::Admin)),
        &mut a,
        json!({"face_match_score_review_threshold": 82.5}),
    )
    .unwrap();
    assert!(!again.changed);
    assert_eq!(again.response.body.unwrap()["version"], 4);
}

#[test]
fn an_admin_creates_an_enrolment_workflow_from_the_console() {
    let mut a = app();
    let ids = SeqIds(std::cell::Cell::new(4000));
    let made = console_workflows::create(
        &person(Some(Role::Admin)),
        &mut a,
        br#"{"workflow_label": "Selfie only", "features": ["LIVENESS"], "face_liveness_score_decline_threshold": 45}"#,
        &ids,
        T0,
    )
    .expect("created");
    assert_eq!(made.response.status, 201);
    let b = made.response.body.unwrap();
    assert_eq!(b["workflow_type"], "kyc");
    assert_eq!(b["face_liveness_score_decline_threshold"], 45.0);
    assert_eq!(a.workflows.len(), 3);
}
