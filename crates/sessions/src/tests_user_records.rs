//! `/users/…` records: create, read, PATCH, update-status (with its audit row), the list's
//! filters and pages, deletion of a record, and another tenant reaching none of it.

use serde_json::{json, Value};

use crate::memory::block_on;
use crate::routes::{hash_api_key, route, Route};
use crate::tests::{app, approve_capture, create, err, ok_body, svc, Svc, KYC};
use crate::types::*;

fn other_app() -> Application {
    let mut b = app();
    b.id = "bbbbbbbb-0000-4000-8000-000000000000".into();
    b.api_key_hashes = vec![hash_api_key("sk_test_other")];
    b
}

fn new_user(s: &Svc, a: &Application, body: Value) -> Result<crate::HttpResponse, crate::ApiError> {
    block_on(s.create_user(a, body.to_string().as_bytes()))
}

fn patch(
    s: &Svc,
    a: &Application,
    v: &str,
    body: Value,
    status_only: bool,
) -> Result<crate::HttpResponse, crate::ApiError> {
    block_on(s.update_user(a, v, body.to_string().as_bytes(), status_only))
}

#[test]
fn routes_of_users() {
    assert_eq!(route("GET", "/v3/users/"), Ok(Route::ListUsers));
    assert_eq!(route("POST", "/v3/users/create/"), Ok(Route::CreateUser));
    assert_eq!(route("POST", "/v3/users/delete/"), Ok(Route::DeleteUsers));
    // A user may be called "delete" or "create": reads and PATCHes still reach it.
    assert_eq!(
        route("GET", "/v3/users/delete/"),
        Ok(Route::GetUser("delete".into()))
    );
    assert_eq!(
        route("PATCH", "/v3/users/u%201/"),
        Ok(Route::UpdateUser("u%201".into()))
    );
    assert_eq!(
        route("PATCH", "/v3/users/u/update-status/"),
        Ok(Route::UpdateUserStatus("u".into()))
    );
}

#[test]
fn a_user_is_created_read_patched_and_its_status_audited() {
    let (s, a) = (svc(), app());
    let (st, u) = ok_body(new_user(
        &s,
        &a,
        json!({"vendor_data": "user 1", "full_name": "Ada L", "metadata": {"tier": 2}}),
    ));
    assert_eq!(st, 201);
    assert_eq!(
        (u["vendor_data"].as_str(), u["status"].as_str()),
        (Some("user 1"), Some("ACTIVE"))
    );
    assert_eq!(
        err(new_user(&s, &a, json!({"vendor_data": "user 1"}))).0,
        400,
        "exists"
    );

    // The path segment is percent-decoded, as clients send it.
    let (_, got) = ok_body(block_on(s.get_user(&a, "user%201")));
    assert_eq!(got["full_name"], "Ada L");
    assert_eq!(
        (
            got["face_enrolled"].as_bool(),
            got["session_count"].as_u64()
        ),
        (Some(false), Some(0))
    );

    let (_, p) = ok_body(patch(
        &s,
        &a,
        "user%201",
        json!({"display_name": "ada", "date_of_birth": "1990-01-31"}),
        false,
    ));
    assert_eq!(
        (p["display_name"].as_str(), p["full_name"].as_str()),
        (Some("ada"), Some("Ada L"))
    );
    assert!(
        s.store.audit.borrow().is_empty(),
        "no status change, no audit row"
    );
    let (_, p) = ok_body(patch(
        &s,
        &a,
        "user%201",
        json!({"status": "BLOCKED"}),
        true,
    ));
    assert_eq!(p["status"], "BLOCKED");
    let audit = s.store.audit.borrow().clone();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].activity_type, "USER_STATUS_UPDATED");
    assert_eq!(audit[0].vendor_data.as_deref(), Some("user 1"));

    // Refusals: 400 in Didit's shape, nothing written.
    for (body, only, field) in [
        (json!({"status": "GONE"}), true, "status"),
        (json!({}), true, "status"),
        (
            json!({"date_of_birth": "31/01/1990"}),
            false,
            "date_of_birth",
        ),
        (json!({"metadata": [1]}), false, "metadata"),
        (
            json!({"approved_emails": "a@b.c"}),
            false,
            "approved_emails",
        ),
        (json!({"full_name": "x".repeat(256)}), false, "full_name"),
    ] {
        let (st, b) = err(patch(&s, &a, "user%201", body.clone(), only));
        assert_eq!(st, 400, "{body}");
        assert!(b.get(field).is_some(), "{body}: {b}");
    }
    assert_eq!(
        ok_body(block_on(s.get_user(&a, "user%201"))).1["status"],
        "BLOCKED"
    );
    assert_eq!(
        err(patch(&s, &a, "nobody", json!({"status": "FLAGGED"}), true)).0,
        404
    );
    assert_eq!(err(block_on(s.get_user(&a, "nobody"))).0, 404);
    assert_eq!(err(new_user(&s, &a, json!({"vendor_data": " "}))).0, 400);
    assert_eq!(err(new_user(&s, &a, json!({}))).0, 400);
}

#[test]
fn users_known_from_sessions_are_listed_filtered_and_paged() {
    let (s, a) = (svc(), app());
    let (_, b) = ok_body(create(
        &s,
        &a,
        json!({"workflow_id": KYC, "vendor_data": "enrolled-1"}),
    ));
    approve_capture(&s, &a, b["session_id"].as_str().expect("id"));
    ok_body(new_user(
        &s,
        &a,
        json!({"vendor_data": "flagged-1", "status": "FLAGGED", "display_name": "Grace"}),
    ));
    ok_body(new_user(&s, &a, json!({"vendor_data": "active-2"})));

    let list = |q: &str| ok_body(block_on(s.list_users(&a, q))).1;
    let names = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|u| u["vendor_data"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let all = list("");
    assert_eq!(all["count"], 3);
    assert_eq!(names(&all), ["active-2", "enrolled-1", "flagged-1"]);
    let (_, got) = ok_body(block_on(s.get_user(&a, "enrolled-1")));
    assert_eq!(
        (
            got["face_enrolled"].as_bool(),
            got["session_count"].as_u64()
        ),
        (Some(true), Some(1))
    );
    assert_eq!(got["last_session"]["status"], "Approved");

    assert_eq!(names(&list("status=FLAGGED")), ["flagged-1"]);
    assert_eq!(names(&list("status=active")), ["active-2", "enrolled-1"]);
    assert_eq!(names(&list("search=grace")), ["flagged-1"]);
    assert_eq!(names(&list("search=ENROLLED")), ["enrolled-1"]);
    let page = list("limit=2");
    assert_eq!(names(&page), ["active-2", "enrolled-1"]);
    assert!(
        page["next"]
            .as_str()
            .is_some_and(|n| n.ends_with("/users/?limit=2&offset=2")),
        "{page}"
    );
    let last = list("limit=2&offset=2");
    assert_eq!(names(&last), ["flagged-1"]);
    assert!(last["next"].is_null() && last["previous"].is_string());
    assert_eq!(err(block_on(s.list_users(&a, "status=GONE"))).0, 400);

    // Deleting a user removes its record too, and the list forgets it.
    ok_body(block_on(s.delete_users(
        &a,
        br#"{"vendor_data_list": ["flagged-1", "enrolled-1"]}"#,
    )));
    assert_eq!(names(&list("")), ["active-2"]);
    assert_eq!(err(block_on(s.get_user(&a, "flagged-1"))).0, 404);
}

#[test]
fn another_tenant_reaches_no_user_of_this_one() {
    let (s, a, b) = (svc(), app(), other_app());
    ok_body(new_user(
        &s,
        &a,
        json!({"vendor_data": "mine", "status": "FLAGGED"}),
    ));
    assert_eq!(err(block_on(s.get_user(&b, "mine"))).0, 404);
    assert_eq!(
        err(patch(&s, &b, "mine", json!({"status": "ACTIVE"}), true)).0,
        404
    );
    assert_eq!(
        err(patch(&s, &b, "mine", json!({"full_name": "x"}), false)).0,
        404
    );
    assert_eq!(ok_body(block_on(s.list_users(&b, ""))).1["count"], 0);
    // The same vendor_data is a different user in each tenant.
    ok_body(new_user(&s, &b, json!({"vendor_data": "mine"})));
    assert_eq!(
        ok_body(block_on(s.get_user(&a, "mine"))).1["status"],
        "FLAGGED"
    );
    ok_body(block_on(s.delete_users(&b, br#"{"delete_all": true}"#)));
    assert_eq!(
        ok_body(block_on(s.get_user(&a, "mine"))).1["status"],
        "FLAGGED"
    );
}

#[test]
fn a_blocked_user_can_neither_open_a_session_nor_finish_one_opened_before() {
    let (s, a) = (svc(), app());
    let open = crate::tests::bio_session(&s, &a, "blocked-user")["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok_body(patch(
        &s,
        &a,
        "blocked-user",
        json!({"status": "BLOCKED"}),
        true,
    ));

    let (status, body) = err(create(
        &s,
        &a,
        json!({"workflow_id": KYC, "vendor_data": "blocked-user"}),
    ));
    assert_eq!(status, 400);
    assert!(
        body["vendor_data"][0].as_str().unwrap().contains("blocked"),
        "{body}"
    );
    let token = crate::tests::token_of(&s, &open);
    let refused = block_on(s.begin_capture(std::slice::from_ref(&a), &token, None)).unwrap_err();
    assert_eq!(refused.status(), 409);
    assert_eq!(
        s.store.sessions.borrow()[&open].status,
        SessionStatus::NotStarted,
        "nothing spent"
    );
    // Another application's user of the same name is not blocked.
    let mut b = other_app();
    b.id = "cccccccc-0000-4000-8000-000000000000".into();
    ok_body(create(
        &s,
        &b,
        json!({"workflow_id": KYC, "vendor_data": "blocked-user"}),
    ));

    // Unblocked, the open session can be finished.
    ok_body(patch(
        &s,
        &a,
        "blocked-user",
        json!({"status": "ACTIVE"}),
        true,
    ));
    approve_capture(&s, &a, &open);
    assert_eq!(
        s.store.sessions.borrow()[&open].status,
        SessionStatus::Approved
    );
}
