//! The console's server side over `MemoryStore`: the first admin's link, sign-in and lock-out,
//! the cookie and its CSRF token, roles per application, invitations, the review queue and a
//! review recorded as the signed-in person's.

use serde_json::{json, Value};

use crate::console::signin::{self, Principal};
use crate::console::{apps as console_apps, Action, OperatorStore, Role};
use crate::memory::block_on;
use crate::routes::{route, Route};
use crate::tests::{app, approve_capture, bio_session, err, ok_body, outcome, token_of, Svc};
use crate::types::*;
use facegate_pipeline::CheckStatus;

pub(crate) const ORIGIN: &str = "https://console.example";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A form sent from the console's own page (a browser names no other origin).
pub(crate) fn form(body: &[u8]) -> signin::SignInForm<'_> {
    signin::SignInForm {
        headers: &[],
        own_origin: ORIGIN,
        body,
    }
}

pub(crate) fn names() -> Vec<(String, String)> {
    vec![(app().id, app().name), ("other-app".into(), "Other".into())]
}

/// The token of a `/console/#setup=<token>` link.
fn link_token(v: &Value) -> String {
    v["setup_url"]
        .as_str()
        .and_then(|u| u.split_once("#setup="))
        .map(|(_, t)| t.to_owned())
        .expect("a setup link")
}

pub(crate) fn cookie_of(r: &crate::HttpResponse) -> String {
    let set = r
        .headers
        .iter()
        .find(|(k, _)| k == "Set-Cookie")
        .map(|(_, v)| v.clone())
        .expect("a cookie");
    set.split(';').next().unwrap_or_default().to_owned()
}

/// The first admin, set up through the bootstrap link: (cookie header, csrf token).
pub(crate) fn first_admin(s: &Svc) -> (String, String) {
    let (st, b) = ok_body(block_on(signin::bootstrap(&s.store, &s.clock, &s.ids)));
    assert_eq!(st, 201);
    let body = json!({"token": link_token(&b), "name": "Ada", "email": "Ada@Example.com", "password": PASSWORD});
    let r = block_on(signin::setup(
        &s.store,
        &s.clock,
        &s.ids,
        &form(body.to_string().as_bytes()),
        &names(),
    ))
    .expect("setup");
    let me = r.body.clone().expect("me");
    assert_eq!(me["operator"]["email"], "ada@example.com");
    assert_eq!(me["operator"]["platform_admin"], true);
    (
        cookie_of(&r),
        me["csrf_token"].as_str().expect("csrf").to_owned(),
    )
}

/// The status of what must be a refusal.
pub(crate) fn refused<T: std::fmt::Debug>(r: Result<T, crate::ApiError>) -> u16 {
    r.expect_err("refused").status()
}

pub(crate) fn headers(cookie: &str, csrf: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![("Cookie".to_owned(), format!("other=1; {cookie}"))];
    if let Some(c) = csrf {
        h.push(("X-CSRF-Token".into(), c.into()));
    }
    h
}

pub(crate) fn who(
    s: &Svc,
    h: &[(String, String)],
    write: bool,
) -> Result<Principal, crate::ApiError> {
    block_on(signin::from_cookie(
        &s.store,
        s.clock.0.get(),
        h,
        write,
        ORIGIN,
    ))
}

fn login(s: &Svc, email: &str, password: &str) -> Result<crate::HttpResponse, crate::ApiError> {
    let body = json!({"email": email, "password": password});
    block_on(signin::login(
        &s.store,
        &s.clock,
        &s.ids,
        &form(body.to_string().as_bytes()),
        &names(),
    ))
}

/// An invited operator with `role` in the test application, set up: their principal.
pub(crate) fn invited(s: &Svc, admin: &Principal, email: &str, role: &str) -> Principal {
    invited_in(s, admin, email, role, &app().id)
}

/// `invited` into any application of `names()`.
pub(crate) fn invited_in(
    s: &Svc,
    admin: &Principal,
    email: &str,
    role: &str,
    application_id: &str,
) -> Principal {
    let body =
        json!({"email": email, "name": "Rev", "application_id": application_id, "role": role});
    let (st, b) = ok_body(block_on(console_apps::invite(
        &s.store,
        &s.clock,
        &s.ids,
        admin,
        body.to_string().as_bytes(),
        |id| names().iter().any(|(a, _)| a == id),
    )));
    assert_eq!(st, 201);
    let setup = json!({"token": link_token(&b), "password": PASSWORD, "name": "Rev"});
    let r = block_on(signin::setup(
        &s.store,
        &s.clock,
        &s.ids,
        &form(setup.to_string().as_bytes()),
        &names(),
    ))
    .expect("invited setup");
    who(s, &headers(&cookie_of(&r), None), false).expect("signed in")
}

#[test]
fn console_routes_are_in_the_table_with_their_auth() {
    assert_eq!(
        route("POST", "/console/api/login/"),
        Ok(Route::ConsoleLogin)
    );
    assert_eq!(
        route("POST", "/console/api/applications/a/sessions/s/reviews/"),
        Ok(Route::ConsoleReview("a".into(), "s".into()))
    );
    assert_eq!(
        route("DELETE", "/console/api/applications/a/keys/k/"),
        Ok(Route::ConsoleRevokeKey("a".into(), "k".into()))
    );
    assert_eq!(Route::ConsoleLogin.spec().auth, crate::Auth::Public);
    assert_eq!(Route::ConsoleLogin.spec().budget.per_minute, 20);
    assert_eq!(Route::ConsoleBootstrap.spec().auth, crate::Auth::Operator);
    assert_eq!(
        Route::ConsoleQueue("a".into()).spec().auth,
        crate::Auth::Console
    );
}

#[test]
fn the_first_admin_link_works_once_and_only_until_an_admin_exists() {
    let s = crate::tests::svc();
    let (st, b) = ok_body(block_on(signin::bootstrap(&s.store, &s.clock, &s.ids)));
    assert_eq!(st, 201);
    let token = link_token(&b);
    // A short password and a missing email are refused, and the link survives them.
    let weak = json!({"token": token, "name": "Ada", "password": "short"});
    let (st, e) = err(block_on(signin::setup(
        &s.store,
        &s.clock,
        &s.ids,
        &form(weak.to_string().as_bytes()),
        &names(),
    )));
    assert_eq!(st, 400);
    assert!(e["password"].is_array() && e["email"].is_array(), "{e}");
    let good =
        json!({"token": token, "name": "Ada", "email": "ada@example.com", "password": PASSWORD});
    let r = block_on(signin::setup(
        &s.store,
        &s.clock,
        &s.ids,
        &form(good.to_string().as_bytes()),
        &names(),
    ));
    let r = r.expect("setup");
    let cookie = r
        .headers
        .iter()
        .find(|(k, _)| k == "Set-Cookie")
        .expect("cookie")
        .1
        .clone();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    // Replayed: the link is used up.
    let (st, _) = err(block_on(signin::setup(
        &s.store,
        &s.clock,
        &s.ids,
        &form(good.to_string().as_bytes()),
        &names(),
    )));
    assert_eq!(st, 404);
    // A second bootstrap now that an admin has a password: refused.
    let (st, _) = err(block_on(signin::bootstrap(&s.store, &s.clock, &s.ids)));
    assert_eq!(st, 409);
    // The password is stored as argon2id, never in clear.
    let op = block_on(s.store.operator_by_email("ada@example.com"))
        .unwrap()
        .unwrap();
    let hash = op.password_hash.expect("hash");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[test]
fn an_expired_setup_link_is_refused() {
    let s = crate::tests::svc();
    let (_, b) = ok_body(block_on(signin::bootstrap(&s.store, &s.clock, &s.ids)));
    s.clock.advance(signin::SETUP_LINK_SECONDS + 1);
    let body =
        json!({"token": link_token(&b), "name": "Ada", "email": "a@b.co", "password": PASSWORD});
    let (st, _) = err(block_on(signin::setup(
        &s.store,
        &s.clock,
        &s.ids,
        &form(body.to_string().as_bytes()),
        &names(),
    )));
    assert_eq!(st, 404);
}

#[test]
fn sign_in_locks_after_five_failures_and_the_lock_expires() {
    let s = crate::tests::svc();
    first_admin(&s);
    let (st, b) = err(login(&s, "ada@example.com", "wrong password!"));
    assert_eq!(
        (st, b["detail"].as_str()),
        (401, Some("Email or password is wrong."))
    );
    // An unknown email gets the same answer as a wrong password.
    let (st, b2) = err(login(&s, "nobody@example.com", PASSWORD));
    assert_eq!((st, &b2), (401, &b));
    for _ in 0..4 {
        assert_eq!(err(login(&s, "ada@example.com", "wrong password!")).0, 401);
    }
    // Locked: even the right password is refused, with how long to wait.
    let e = login(&s, "ada@example.com", PASSWORD).expect_err("locked");
    let (st, headers, body) = e.to_http();
    assert_eq!(st, 429, "{body}");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "Retry-After" && v == "900"),
        "{headers:?}"
    );
    s.clock.advance(signin::LOCKOUT_SECONDS);
    let r = login(&s, " ADA@example.com ", PASSWORD).expect("unlocked");
    assert_eq!(r.status, 200);
    let op = block_on(s.store.operator_by_email("ada@example.com"))
        .unwrap()
        .unwrap();
    assert_eq!((op.failed_logins, op.locked_until), (0, 0));
}

#[test]
fn writes_need_the_csrf_token_and_the_same_origin() {
    let s = crate::tests::svc();
    let (cookie, csrf) = first_admin(&s);
    // Reads need only the cookie.
    assert!(who(&s, &headers(&cookie, None), false).is_ok());
    assert_eq!(refused(who(&s, &headers(&cookie, None), true)), 403);
    assert_eq!(
        refused(who(&s, &headers(&cookie, Some("forged")), true)),
        403
    );
    assert!(who(&s, &headers(&cookie, Some(&csrf)), true).is_ok());
    // The right token from another site's page (a browser names the origin) is refused too.
    let mut cross = headers(&cookie, Some(&csrf));
    cross.push(("Origin".into(), "https://evil.example".into()));
    assert_eq!(refused(who(&s, &cross, true)), 403);
    let mut cross = headers(&cookie, Some(&csrf));
    cross.push(("Sec-Fetch-Site".into(), "cross-site".into()));
    assert_eq!(refused(who(&s, &cross, true)), 403);
    let mut same = headers(&cookie, Some(&csrf));
    same.push(("Origin".into(), ORIGIN.into()));
    same.push(("Sec-Fetch-Site".into(), "same-origin".into()));
    assert!(who(&s, &same, true).is_ok());
    // No cookie, a forged cookie, an expired session: 401.
    assert_eq!(refused(who(&s, &[], false)), 401);
    let forged = headers("fg_console=tok-999", None);
    assert_eq!(refused(who(&s, &forged, false)), 401);
    s.clock.advance(signin::SESSION_SECONDS);
    assert_eq!(refused(who(&s, &headers(&cookie, None), false)), 401);
}

#[test]
fn sign_out_ends_the_session_on_the_server() {
    let s = crate::tests::svc();
    let (cookie, csrf) = first_admin(&s);
    let me = who(&s, &headers(&cookie, Some(&csrf)), true).expect("signed in");
    let r = block_on(signin::logout(&s.store, &me)).expect("logout");
    assert_eq!(r.status, 204);
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "Set-Cookie" && v.contains("Max-Age=0")));
    // A copy of the old cookie no longer works.
    assert_eq!(refused(who(&s, &headers(&cookie, None), false)), 401);
}

#[test]
fn roles_decide_what_an_operator_may_do_in_each_application() {
    let s = crate::tests::svc();
    let (cookie, _) = first_admin(&s);
    let admin = who(&s, &headers(&cookie, None), false).unwrap();
    let reviewer = invited(&s, &admin, "rev@example.com", "reviewer").operator();
    let reader = invited(&s, &admin, "ro@example.com", "read_only").operator();
    let a = app().id;
    assert_eq!(reviewer.role_in(&a), Some(Role::Reviewer));
    assert!(reviewer.authorize(&a, Action::Decide).is_ok());
    assert_eq!(refused(reviewer.authorize(&a, Action::Configure)), 403);
    assert_eq!(refused(reader.authorize(&a, Action::Decide)), 403);
    // Another application: as if it did not exist.
    assert_eq!(refused(reviewer.authorize("other-app", Action::Read)), 404);
    // A reviewer cannot invite (not even themselves as admin), nor create applications.
    let rev = Principal::Operator {
        operator: reviewer.clone(),
        session: crate::console::ConsoleSession {
            token_hash: String::new(),
            operator_id: reviewer.id.clone(),
            csrf: String::new(),
            created_at: 0,
            expires_at: i64::MAX,
            awaiting_selfie: None,
        },
    };
    let escalate =
        json!({"email": "rev@example.com", "name": "Rev", "application_id": a, "role": "admin"});
    let (st, _) = err(block_on(console_apps::invite(
        &s.store,
        &s.clock,
        &s.ids,
        &rev,
        escalate.to_string().as_bytes(),
        |id| id == a,
    )));
    assert_eq!(st, 403);
    let st = refused(console_apps::new_application(
        &rev,
        br#"{"name":"Mine"}"#,
        &s.ids,
    ));
    assert_eq!(st, 403);
    // `me` lists only the applications with a role, with that role.
    let me = signin::me_json(&rev, &names());
    assert_eq!(
        me["applications"],
        json!([{"id": a, "name": "Test", "role": "reviewer"}])
    );
}

#[test]
fn a_new_application_comes_with_workflows_and_a_key_shown_once() {
    let s = crate::tests::svc();
    let empty = console_apps::new_application(&Principal::Platform, br#"{"name": ""}"#, &s.ids);
    assert_eq!(refused(empty), 400);
    let (a, key) =
        console_apps::new_application(&Principal::Platform, br#"{"name": "Shop"}"#, &s.ids)
            .expect("app");
    assert!(key.starts_with("fg_"));
    assert_eq!(a.api_key_hashes, vec![crate::hash_api_key(&key)]);
    let types: Vec<WorkflowType> = a.workflows.iter().map(|w| w.workflow_type).collect();
    assert_eq!(
        types,
        vec![WorkflowType::BiometricAuthentication, WorkflowType::Kyc]
    );
    let shown = console_apps::created_json(&a, &key).body.unwrap();
    assert_eq!(shown["api_key"], key.as_str());
    assert_eq!(shown["key_id"].as_str().map(str::len), Some(16));
}

#[test]
fn the_queue_shows_in_review_sessions_oldest_first_with_their_thresholds() {
    let s = crate::tests::svc();
    let a = app();
    let mut ids = Vec::new();
    for user in ["q-1", "q-2"] {
        let id = bio_session(&s, &a, user)["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let ctx = block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).unwrap();
        block_on(s.finish_capture(
            ctx,
            outcome(CheckStatus::Approved, Some(CheckStatus::InReview), None),
        ))
        .unwrap();
        ids.push(id);
        s.clock.advance(10);
    }
    // An approved session stays out of the queue.
    approve_capture(
        &s,
        &a,
        &bio_session(&s, &a, "q-3")["session_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let (_, q) = ok_body(block_on(s.review_queue(&Principal::Platform, &a)));
    assert_eq!(q["count"], 2);
    let got: Vec<&str> = q["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[0].as_str(), ids[1].as_str()]);
    let e = &q["results"][0];
    assert_eq!(e["face_match"]["review_threshold"], 70.0);
    assert_eq!(e["face_match"]["decline_threshold"], 50.0);
    assert!(e["face_match"]["calibration"]
        .as_str()
        .unwrap()
        .contains("FMR"));
    assert_eq!(e["images"], Value::Null);
    assert_eq!(e["decision"]["status"], "In Review");
}

#[test]
fn a_console_review_is_the_operators_and_reaches_the_api_and_the_webhook() {
    let s = crate::tests::svc();
    let a = app();
    let (cookie, _) = first_admin(&s);
    let admin = who(&s, &headers(&cookie, None), false).unwrap();
    let reviewer = invited(&s, &admin, "rev@example.com", "reviewer");
    let reader = invited(&s, &admin, "ro@example.com", "read_only");
    let id = bio_session(&s, &a, "rev-1")["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ctx = block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).unwrap();
    block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::InReview), None),
    ))
    .unwrap();
    let body = json!({"new_status": "Declined", "comment": "Different person"}).to_string();
    let (st, _) = err(block_on(s.console_review(
        &reader,
        &a,
        &id,
        body.as_bytes(),
    )));
    assert_eq!(st, 403, "read-only cannot decide");
    let huge = json!({"new_status": "Declined", "comment": "x".repeat(10_001)}).to_string();
    assert_eq!(
        err(block_on(s.console_review(
            &reviewer,
            &a,
            &id,
            huge.as_bytes()
        )))
        .0,
        400
    );
    let (st, r) = ok_body(block_on(s.console_review(
        &reviewer,
        &a,
        &id,
        body.as_bytes(),
    )));
    assert_eq!((st, r["user"].as_str()), (201, Some("Rev")));
    // The API's review list and the decision name the person.
    let (_, list) = ok_body(block_on(s.list_reviews(&a, &id)));
    assert_eq!(list["results"][0]["actor_type"], "CONSOLE_USER");
    assert_eq!(list["results"][0]["actor_email"], "rev@example.com");
    let (_, d) = ok_body(block_on(s.decision(&a, &id)));
    assert_eq!(d["status"], "Declined");
    assert_eq!(
        d["reviews"].as_array().unwrap().last().unwrap()["reviewed_by"],
        "Rev"
    );
    // The integrator hears of it, and the timeline shows the review and the webhook.
    assert!(s
        .store
        .deliveries
        .borrow()
        .values()
        .any(|d| d.session_id == id && d.payload["status"] == "Declined"));
    let (_, detail) = ok_body(block_on(s.session_evidence(&reviewer, &a, &id)));
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(&kinds[..3], &["created", "decision", "review"], "{kinds:?}");
    assert!(kinds.contains(&"webhook"));
    let mut other = a.clone();
    other.id = "other-app".into();
    assert_eq!(
        err(block_on(s.session_evidence(&reviewer, &other, &id))).0,
        404
    );
}

#[test]
fn images_are_kept_only_when_the_application_retains_them_and_go_with_their_session() {
    let jpeg: Vec<u8> = [&[0xFF, 0xD8, 0xFF, 0xE0][..], b"a captured frame"].concat();
    let run = |retain: bool| {
        let s = crate::tests::svc();
        let mut a = app();
        a.settings.retain_images = retain;
        let id = bio_session(&s, &a, "img-1")["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut ctx =
            block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).unwrap();
        ctx.image = Some(jpeg.clone());
        block_on(s.finish_capture(
            ctx,
            outcome(CheckStatus::Approved, Some(CheckStatus::InReview), None),
        ))
        .unwrap();
        (s, a, id)
    };
    let (s, a, _) = run(false);
    assert!(
        s.store.images.borrow().is_empty(),
        "off by default: nothing kept"
    );
    let (_, q) = ok_body(block_on(s.review_queue(&Principal::Platform, &a)));
    assert_eq!(q["results"][0]["images"], Value::Null);

    let (s, a, id) = run(true);
    let stored = s
        .store
        .images
        .borrow()
        .values()
        .next()
        .cloned()
        .expect("kept");
    assert!(
        !stored.windows(8).any(|w| w == b"captured"),
        "sealed, not in clear"
    );
    let (_, detail) = ok_body(block_on(s.session_evidence(&Principal::Platform, &a, &id)));
    let captured = detail["images"]["captured"].as_str().expect("a picture");
    assert!(
        captured.starts_with("data:image/jpeg;base64,"),
        "{captured}"
    );
    // Deleting the session deletes its picture.
    ok_body(block_on(s.delete(&a, &id)));
    assert!(s.store.images.borrow().is_empty());
}

#[test]
fn assign_to_me_one_reviewer_at_a_time() {
    let s = crate::tests::svc();
    let a = app();
    let (cookie, _) = first_admin(&s);
    let admin = who(&s, &headers(&cookie, None), false).unwrap();
    let one = invited(&s, &admin, "one@example.com", "reviewer");
    let two = invited(&s, &admin, "two@example.com", "reviewer");
    let reader = invited(&s, &admin, "ro2@example.com", "read_only");
    let id = bio_session(&s, &a, "assign-1")["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ctx = block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &id), None)).unwrap();
    block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::InReview), None),
    ))
    .unwrap();
    let take = |p: &Principal, assign: bool| {
        let body = json!({ "assign": assign }).to_string();
        block_on(s.console_assign(p, &a, &id, body.as_bytes()))
    };
    assert_eq!(refused(take(&reader, true)), 403);
    let (_, e) = ok_body(take(&one, true));
    assert_eq!(e["assigned_to"]["name"], "Rev");
    let (st, b) = err(take(&two, true));
    assert_eq!(
        (st, b["detail"].as_str()),
        (409, Some("Rev is reviewing this session."))
    );
    assert_eq!(refused(take(&two, false)), 403, "not theirs to release");
    // The queue shows who has it; the API never does.
    let (_, q) = ok_body(block_on(s.review_queue(&Principal::Platform, &a)));
    assert_eq!(q["results"][0]["assigned_to"]["name"], "Rev");
    let (_, d) = ok_body(block_on(s.decision(&a, &id)));
    assert!(!d.to_string().contains("assignee") && !d.to_string().contains("operator_id"));
    // An admin frees it; then the other reviewer takes it.
    let (_, e) = ok_body(take(&admin, false));
    assert_eq!(e["assigned_to"], Value::Null);
    assert!(take(&two, true).is_ok());
}

#[test]
fn sign_in_and_setup_from_another_site_are_refused_before_anything_is_read() {
    let s = crate::tests::svc();
    first_admin(&s);
    let body = json!({"email": "ada@example.com", "password": PASSWORD}).to_string();
    let cross = [("Origin".to_owned(), "https://evil.example".to_owned())];
    let from_elsewhere = signin::SignInForm {
        headers: &cross,
        own_origin: ORIGIN,
        body: body.as_bytes(),
    };
    let r = block_on(signin::login(
        &s.store,
        &s.clock,
        &s.ids,
        &from_elsewhere,
        &names(),
    ));
    assert_eq!(refused(r), 403);
    let r = block_on(signin::setup(
        &s.store,
        &s.clock,
        &s.ids,
        &from_elsewhere,
        &names(),
    ));
    assert_eq!(refused(r), 403);
}
