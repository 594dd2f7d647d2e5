//! Reviews (`GET/POST /sessions/{id}/reviews/`), the audit rows they and `update-status`
//! leave, and the resend of a webhook delivery, over `MemoryStore` with two tenants.

use serde_json::{json, Value};

use crate::memory::block_on;
use crate::routes::{hash_api_key, route, Route};
use crate::store::Store;
use crate::tests::{
    app, approve_capture, bio_session, create, err, ok_body, outcome, token_of, Svc, KYC,
};
use crate::types::*;
use facegate_pipeline::CheckStatus;

fn other_app() -> Application {
    let mut b = app();
    b.id = "bbbbbbbb-0000-4000-8000-000000000000".into();
    b.api_key_hashes = vec![hash_api_key("sk_test_other")];
    b
}

/// A bio session whose capture ended In Review (face match between the thresholds).
fn in_review(s: &Svc, a: &Application) -> String {
    let id = bio_session(s, a, "rev-user")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ctx = block_on(s.begin_capture(std::slice::from_ref(a), &token_of(s, &id), None)).expect("begin");
    block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::InReview), None),
    ))
    .expect("finish");
    assert_eq!(
        s.store.sessions.borrow()[&id].status,
        SessionStatus::InReview
    );
    id
}

fn review(
    s: &Svc,
    a: &Application,
    id: &str,
    body: Value,
) -> Result<crate::HttpResponse, crate::ApiError> {
    block_on(s.add_review(
        a,
        id,
        body.to_string().as_bytes(),
        crate::types::Actor::api_key(),
    ))
}

#[test]
fn routes_of_reviews_and_resend() {
    assert_eq!(
        route("GET", "/v3/sessions/x/reviews/"),
        Ok(Route::ListReviews("x".into()))
    );
    assert_eq!(
        route("POST", "/v3/sessions/x/reviews"),
        Ok(Route::AddReview("x".into()))
    );
    assert_eq!(
        route("POST", "/v3/webhook/destinations/d/deliveries/w/resend/"),
        Ok(Route::ResendDelivery("d".into(), "w".into()))
    );
}

#[test]
fn a_review_decides_audits_and_sends_the_webhook_in_one_commit() {
    let (s, a) = (crate::tests::svc(), app());
    let id = in_review(&s, &a);
    let events_before = s.store.deliveries.borrow().len();

    let (st, b) = ok_body(review(
        &s,
        &a,
        &id,
        json!({"new_status": "Approved", "comment": "same person, new glasses"}),
    ));
    assert_eq!(st, 201);
    assert_eq!(b["user"], "API Client");
    assert_eq!(b["new_status"], "Approved");
    assert_eq!(b["comment"], "same person, new glasses");
    assert!(
        b["created_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{b}"
    );
    assert_eq!(
        s.store.sessions.borrow()[&id].status,
        SessionStatus::Approved
    );
    // status.updated to the two destinations that want it, as update-status sends it.
    let rows: Vec<DeliveryRow> = s
        .store
        .deliveries
        .borrow()
        .values()
        .skip(events_before)
        .cloned()
        .collect();
    assert!(s.store.deliveries.borrow().len() > events_before);
    assert!(rows
        .iter()
        .chain(s.store.deliveries.borrow().values())
        .any(|r| r.session_id == id && r.payload["status"] == "Approved"));

    // The log: newest first, Didit's item shape.
    let (_, log) = ok_body(block_on(s.list_reviews(&a, &id)));
    assert_eq!(log["count"], 1);
    assert!(log["next"].is_null() && log["previous"].is_null());
    let item = &log["results"][0];
    assert_eq!(item["activity_type"], "STATUS_UPDATED");
    assert_eq!(item["actor_type"], "API_KEY");
    assert_eq!(item["actor_display"], "API Client");
    assert_eq!(item["previous_status"], "In Review");
    assert_eq!(item["new_status"], "Approved");
    assert_eq!(item["comment"], "same person, new glasses");
    for k in ["uuid", "actor_email", "created_at"] {
        assert!(item.get(k).is_some(), "{k}");
    }

    // The decision's reviews carry what didit-sdk reads, with the audit row's id.
    let (_, d) = ok_body(block_on(s.decision(&a, &id)));
    assert_eq!(d["reviews"][0]["reviewed_by"], "API Client");
    assert_eq!(
        d["reviews"][0]["decision_reason"],
        "same person, new glasses"
    );
    assert_eq!(d["reviews"][0]["id"], item["uuid"]);

    // A note without a status change is recorded, with no event.
    let n = s.store.deliveries.borrow().len();
    ok_body(review(
        &s,
        &a,
        &id,
        json!({"new_status": "Approved", "comment": "double-checked"}),
    ));
    assert_eq!(s.store.deliveries.borrow().len(), n);
    let (_, log) = ok_body(block_on(s.list_reviews(&a, &id)));
    assert_eq!(log["count"], 2);
    assert_eq!(log["results"][0]["comment"], "double-checked");

    // Back to review, then Declined: both recorded, both announced.
    ok_body(review(&s, &a, &id, json!({"new_status": "In Review"})));
    assert_eq!(
        s.store.sessions.borrow()[&id].status,
        SessionStatus::InReview
    );
    ok_body(review(
        &s,
        &a,
        &id,
        json!({"new_status": "Declined", "comment": null}),
    ));
    assert_eq!(
        s.store.sessions.borrow()[&id].status,
        SessionStatus::Declined
    );
    assert_eq!(ok_body(block_on(s.list_reviews(&a, &id))).1["count"], 4);
}

#[test]
fn update_status_leaves_an_audit_row_too() {
    let (s, a) = (crate::tests::svc(), app());
    let id = in_review(&s, &a);
    ok_body(block_on(s.update_status(
        &a,
        &id,
        br#"{"new_status": "Declined", "comment": "no"}"#,
    )));
    // A no-op update writes nothing.
    ok_body(block_on(s.update_status(
        &a,
        &id,
        br#"{"new_status": "Declined"}"#,
    )));
    let (_, log) = ok_body(block_on(s.list_reviews(&a, &id)));
    assert_eq!(log["count"], 1);
    assert_eq!(log["results"][0]["previous_status"], "In Review");
    assert_eq!(log["results"][0]["new_status"], "Declined");
    // update-status still refuses In Review (§1.8): only a review sets it.
    assert_eq!(
        err(block_on(s.update_status(
            &a,
            &id,
            br#"{"new_status": "In Review"}"#
        )))
        .0,
        400
    );
}

#[test]
fn review_refusals_are_400s_in_didits_shape_and_change_nothing() {
    let (s, a) = (crate::tests::svc(), app());
    let id = in_review(&s, &a);
    let cases = [
        (
            json!({"new_status": "Resubmitted"}),
            json!({"new_status": ["\"Resubmitted\" is not a valid choice."]}),
        ),
        (
            json!({"new_status": "Not Started"}),
            json!({"new_status": ["\"Not Started\" is not a valid choice."]}),
        ),
        (
            json!({}),
            json!({"new_status": ["This field is required."]}),
        ),
        (
            json!({"new_status": null}),
            json!({"new_status": ["This field may not be null."]}),
        ),
        (
            json!({"new_status": 3}),
            json!({"new_status": ["Expected a string but got type \"int\"."]}),
        ),
        (
            json!({"new_status": "Approved", "comment": ["x"]}),
            json!({"comment": ["Not a valid string."]}),
        ),
        (
            json!({"new_status": "Approved", "comment": "é".repeat(10_001)}),
            json!({"comment": ["Ensure this field has no more than 10000 characters."]}),
        ),
        (
            json!([1]),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
    ];
    for (body, want) in cases {
        assert_eq!(
            err(review(&s, &a, &id, body.clone())),
            (400, want),
            "{body}"
        );
    }
    let (st, b) = err(block_on(s.add_review(
        &a,
        &id,
        b"{not json",
        crate::types::Actor::api_key(),
    )));
    assert_eq!(st, 400);
    assert!(b["detail"]
        .as_str()
        .is_some_and(|d| d.contains("JSON parse error")));
    // Exactly 10000 characters is fine.
    ok_body(review(
        &s,
        &a,
        &id,
        json!({"new_status": "In Review", "comment": "é".repeat(10_000)}),
    ));

    // A session not decided yet cannot be reviewed.
    let fresh = bio_session(&s, &a, "u2")["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (st, b) = err(review(&s, &a, &fresh, json!({"new_status": "Approved"})));
    assert_eq!(st, 400, "{b}");
    assert!(b["detail"].is_string());
    assert_eq!(ok_body(block_on(s.list_reviews(&a, &fresh))).1["count"], 0);
    // Unknown id: 404 for both.
    assert_eq!(
        err(review(&s, &a, "nope", json!({"new_status": "Approved"}))).0,
        404
    );
    assert_eq!(err(block_on(s.list_reviews(&a, "nope"))).0, 404);
    assert_eq!(ok_body(block_on(s.list_reviews(&a, &id))).1["count"], 1);
}

#[test]
fn another_tenant_can_neither_read_nor_review() {
    let (s, a, b) = (crate::tests::svc(), app(), other_app());
    let id = in_review(&s, &a);
    let deliveries = s.store.deliveries.borrow().len();
    assert_eq!(
        err(review(&s, &b, &id, json!({"new_status": "Approved"}))).0,
        404
    );
    assert_eq!(err(block_on(s.list_reviews(&b, &id))).0, 404);
    assert_eq!(
        s.store.sessions.borrow()[&id].status,
        SessionStatus::InReview
    );
    assert!(s.store.audit.borrow().is_empty());
    assert_eq!(s.store.deliveries.borrow().len(), deliveries);
    // And its own audit rows are not visible under the other tenant's id.
    ok_body(review(&s, &a, &id, json!({"new_status": "Declined"})));
    assert!(block_on(s.store.audit_for_session(&b.id, &id))
        .expect("rows")
        .is_empty());
}

#[test]
fn audit_rows_outlive_the_session_and_fail_with_the_commit() {
    let (s, a) = (crate::tests::svc(), app());
    let id = in_review(&s, &a);
    s.store.failing_commits.set(1);
    assert!(review(&s, &a, &id, json!({"new_status": "Approved"})).is_err());
    assert!(
        s.store.audit.borrow().is_empty(),
        "rolled back with the status change"
    );
    assert_eq!(
        s.store.sessions.borrow()[&id].status,
        SessionStatus::InReview
    );
    ok_body(review(&s, &a, &id, json!({"new_status": "Approved"})));
    ok_body(block_on(s.delete(&a, &id)));
    assert_eq!(
        s.store.audit.borrow().len(),
        1,
        "the log keeps what happened"
    );
    assert_eq!(err(block_on(s.list_reviews(&a, &id))).0, 404);
}

#[test]
fn a_kyc_review_enrols_or_withdraws_like_update_status() {
    let (s, a) = (crate::tests::svc(), app());
    let (_, b) = ok_body(create(
        &s,
        &a,
        json!({"workflow_id": KYC, "vendor_data": "kyc-u"}),
    ));
    let id = b["session_id"].as_str().expect("id").to_owned();
    approve_capture(&s, &a, &id);
    assert!(block_on(s.store.get_template(&a.id, "kyc-u"))
        .expect("t")
        .is_some());
    ok_body(review(
        &s,
        &a,
        &id,
        json!({"new_status": "In Review", "comment": "check again"}),
    ));
    assert!(
        block_on(s.store.get_template(&a.id, "kyc-u"))
            .expect("t")
            .is_none(),
        "withdrawn"
    );
}

#[test]
fn resend_requeues_a_delivery_of_this_tenant_only() {
    let (s, a, b) = (crate::tests::svc(), app(), other_app());
    let id = in_review(&s, &a);
    let row = s
        .store
        .deliveries
        .borrow()
        .values()
        .find(|r| r.session_id == id && r.destination_id == "dest-status")
        .cloned()
        .expect("row");
    // Delivered, then resent: pending and due now, the same event and payload.
    let (claim, rows) = block_on(s.claim_deliveries(10)).expect("claim");
    for r in &rows {
        block_on(s.record_delivery_result(
            &claim.id,
            r,
            crate::SendResult::Http {
                status: 200,
                retry_after: None,
            },
            Some(1),
        ))
        .expect("record");
    }
    assert_eq!(
        s.store.deliveries.borrow()[&row.id].status,
        DeliveryStatus::Delivered
    );
    s.clock.advance(3600);

    // Another tenant, a wrong destination, an unknown id: 404 and nothing changes.
    assert_eq!(
        err(block_on(s.resend_delivery(&b, "dest-status", &row.id))).0,
        404
    );
    assert_eq!(
        err(block_on(s.resend_delivery(&a, "dest-legacy", &row.id))).0,
        404
    );
    assert_eq!(err(block_on(s.resend_delivery(&a, "nope", &row.id))).0, 404);
    assert_eq!(
        err(block_on(s.resend_delivery(&a, "dest-status", "nope"))).0,
        404
    );
    assert_eq!(
        s.store.deliveries.borrow()[&row.id].status,
        DeliveryStatus::Delivered
    );

    let (st, body) = ok_body(block_on(s.resend_delivery(&a, "dest-status", &row.id)));
    assert_eq!(st, 200);
    assert_eq!(body["uuid"], row.id.as_str());
    assert_eq!(body["status"], "pending");
    let now = s.clock.0.get();
    let (claim, due) = block_on(s.claim_deliveries(10)).expect("claim");
    let again = due.iter().find(|r| r.id == row.id).expect("due again");
    assert_eq!(
        (again.attempt, again.event_id.as_str()),
        (0, row.event_id.as_str())
    );
    assert_eq!(again.payload, row.payload);
    // Signed at send time like any delivery: the fresh timestamp is in the body.
    let signed = crate::sign_for_send(again, &a, now)
        .expect("dest")
        .expect("sign");
    assert!(signed.body.contains(&format!("\"timestamp\":{now}")));
    let _ = claim;
}
