//! `POST /users/delete/`: a data-subject deletion removes the enrolled face and every session
//! of the user, leaves an audit row, and touches no other tenant.

use serde_json::json;

use crate::memory::block_on;
use crate::routes::{hash_api_key, route, Route};
use crate::service::MSG_NO_STORED_FACE;
use crate::store::Store;
use crate::tests::{app, approve_capture, create, err, ok_body, svc, Svc, KYC};
use crate::types::*;

const BIO: &str = "11111111-1111-4111-8111-111111111111";

fn other_app() -> Application {
    let mut b = app();
    b.id = "bbbbbbbb-0000-4000-8000-000000000000".into();
    b.api_key_hashes = vec![hash_api_key("sk_test_other")];
    b
}

fn enrolled(s: &Svc, a: &Application, vendor: &str) -> String {
    let (_, b) = ok_body(create(
        s,
        a,
        json!({"workflow_id": KYC, "vendor_data": vendor}),
    ));
    let id = b["session_id"].as_str().expect("id").to_owned();
    approve_capture(s, a, &id);
    assert!(block_on(s.store.get_template(&a.id, vendor))
        .expect("t")
        .is_some());
    id
}

fn delete(
    s: &Svc,
    a: &Application,
    body: serde_json::Value,
) -> Result<crate::HttpResponse, crate::ApiError> {
    block_on(s.delete_users(a, body.to_string().as_bytes()))
}

#[test]
fn route_of_user_deletion() {
    assert_eq!(route("POST", "/v3/users/delete/"), Ok(Route::DeleteUsers));
}

#[test]
fn deleting_a_user_removes_face_and_sessions_and_leaves_an_audit_row() {
    let (s, a) = (svc(), app());
    let id = enrolled(&s, &a, "dsr-user");
    enrolled(&s, &a, "kept-user");
    assert_eq!(
        ok_body(create(
            &s,
            &a,
            json!({"workflow_id": BIO, "vendor_data": "dsr-user"})
        ))
        .0,
        201
    );

    let r = delete(
        &s,
        &a,
        json!({"vendor_data_list": ["dsr-user", "never-seen"], "delete_all": false}),
    )
    .expect("ok");
    assert_eq!(r.status, 204);
    assert!(block_on(s.store.get_template(&a.id, "dsr-user"))
        .expect("t")
        .is_none());
    assert!(
        block_on(s.store.sessions_for_vendor_data(&a.id, "dsr-user"))
            .expect("s")
            .is_empty()
    );
    assert_eq!(err(block_on(s.decision(&a, &id))).0, 404);
    assert!(block_on(s.store.get_template(&a.id, "kept-user"))
        .expect("t")
        .is_some());
    let audit = s.store.audit.borrow().clone();
    assert_eq!(audit.len(), 1, "one row, none for an unknown user");
    assert_eq!(audit[0].activity_type, "USER_DELETED");
    assert_eq!(audit[0].vendor_data.as_deref(), Some("dsr-user"));
    assert_eq!(audit[0].actor_type, "API_KEY");
    assert!(audit[0]
        .comment
        .as_deref()
        .is_some_and(|c| c.contains("2 session(s) and the enrolled face")));

    // Afterwards a re-auth without a portrait has no face to compare with: 400.
    let (st, b) = err(create(
        &s,
        &a,
        json!({"workflow_id": BIO, "vendor_data": "dsr-user"}),
    ));
    assert_eq!(st, 400);
    assert_eq!(b["portrait_image"], MSG_NO_STORED_FACE);

    // A retry deletes nothing more and leaves no second row.
    assert_eq!(
        delete(&s, &a, json!({"vendor_data_list": ["dsr-user"]}))
            .expect("ok")
            .status,
        204
    );
    assert_eq!(s.store.audit.borrow().len(), 1);
}

#[test]
fn delete_all_forgets_every_user_of_this_tenant_only() {
    let (s, a, b) = (svc(), app(), other_app());
    enrolled(&s, &a, "u1");
    enrolled(&s, &a, "u2");
    enrolled(&s, &b, "u1");
    assert_eq!(
        delete(&s, &a, json!({"delete_all": true}))
            .expect("ok")
            .status,
        204
    );
    assert!(block_on(s.store.vendor_data_of(&a.id))
        .expect("v")
        .is_empty());
    assert_eq!(block_on(s.store.vendor_data_of(&b.id)).expect("v"), ["u1"]);
    assert!(block_on(s.store.get_template(&b.id, "u1"))
        .expect("t")
        .is_some());
    assert_eq!(s.store.audit.borrow().len(), 2);

    // Another tenant naming this tenant's user deletes nothing.
    enrolled(&s, &a, "u3");
    assert_eq!(
        delete(&s, &b, json!({"vendor_data_list": ["u3"]}))
            .expect("ok")
            .status,
        204
    );
    assert!(block_on(s.store.get_template(&a.id, "u3"))
        .expect("t")
        .is_some());
}

#[test]
fn malformed_deletions_are_400s_and_delete_nothing() {
    let (s, a) = (svc(), app());
    enrolled(&s, &a, "u1");
    for (body, field) in [
        (json!({}), "detail"),
        (json!({"vendor_data_list": []}), "detail"),
        (json!({"vendor_data_list": "u1"}), "vendor_data_list"),
        (json!({"vendor_data_list": [1]}), "vendor_data_list"),
        (json!({"vendor_data_list": [" "]}), "vendor_data_list"),
        (
            json!({"vendor_data_list": ["x".repeat(1001)]}),
            "vendor_data_list",
        ),
        (
            json!({"vendor_data_list": vec!["u"; 1001]}),
            "vendor_data_list",
        ),
        (json!({"delete_all": "yes please"}), "delete_all"),
        (json!(["u1"]), "non_field_errors"),
    ] {
        let (st, b) = err(delete(&s, &a, body.clone()));
        assert_eq!(st, 400, "{body}");
        assert!(b.get(field).is_some(), "{body}: {b}");
    }
    assert!(block_on(s.store.get_template(&a.id, "u1"))
        .expect("t")
        .is_some());
    assert!(s.store.audit.borrow().is_empty());
}
