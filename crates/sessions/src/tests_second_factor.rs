//! The operators' selfie second factor over `MemoryStore`: enrolment behind the password,
//! sign-in in two steps, and the attacks on the second step (no cookie, a replayed or raced
//! cookie, a declined or unfinished selfie, another site's request, the platform token).

use serde_json::{json, Value};

use crate::console::second_factor::{self, APPLICATION_ID};
use crate::console::signin::{self, Principal};
use crate::console::OperatorStore;
use crate::store::Store;
use crate::memory::block_on;
use crate::tests::{emb, err, ok_body, outcome, token_of, Svc};
use crate::tests_console::{
    cookie_of, first_admin, headers, names, refused, who, ORIGIN, PASSWORD,
};
use crate::types::*;
use facegate_pipeline::CheckStatus;

fn sf_app() -> Application {
    second_factor::application()
}

fn svc() -> Svc {
    crate::tests::svc()
}

/// A form from the console's own page carrying `cookie` (if any).
fn sign_in_form<'a>(h: &'a [(String, String)], body: &'a [u8]) -> signin::SignInForm<'a> {
    signin::SignInForm {
        headers: h,
        own_origin: ORIGIN,
        body,
    }
}

fn pw(password: &str) -> Vec<u8> {
    json!({ "password": password }).to_string().into_bytes()
}

/// The session a hosted-page URL opens.
fn session_of_url(s: &Svc, url: &str) -> String {
    s.store
        .sessions
        .borrow()
        .values()
        .find(|x| url.ends_with(&x.token))
        .map(|x| x.id.clone())
        .expect("the url names a session")
}

/// The hosted page's captures of `id` until it ends (a failed attempt may be retried):
/// liveness approved, the face matching or not.
fn capture(s: &Svc, id: &str, face_matches: bool) {
    capture_with(s, id, || {
        let m = if face_matches { CheckStatus::Approved } else { CheckStatus::Declined };
        (CheckStatus::Approved, Some(m))
    })
}

fn capture_with(s: &Svc, id: &str, result: impl Fn() -> (CheckStatus, Option<CheckStatus>)) {
    for _ in 0..5 {
        let status = s.store.sessions.borrow()[id].status;
        if !matches!(status, SessionStatus::NotStarted | SessionStatus::InProgress) {
            return;
        }
        let ctx = block_on(s.begin_capture(&[sf_app()][..], &token_of(s, id), None)).expect("begin");
        let kyc = ctx.session.workflow_id == sf_app().workflows[1].id;
        let (live, face) = result();
        let face = if kyc { None } else { face };
        block_on(s.finish_capture(ctx, outcome(live, face, Some(emb(1))))).expect("finish");
    }
    panic!("the session did not end");
}

/// The first admin with the selfie turned on: their principal.
fn enrolled_admin(s: &Svc) -> Principal {
    let (cookie, csrf) = first_admin(s);
    let admin = who(s, &headers(&cookie, Some(&csrf)), true).expect("admin");
    let (st, b) = ok_body(block_on(s.second_factor_enrol(&sf_app(), &admin, &pw(PASSWORD))));
    assert_eq!(st, 201);
    let url = b["url"].as_str().expect("hosted url");
    assert!(url.starts_with("https://verify.example/session/"));
    // Each request reads its operator afresh from the cookie, as the router does.
    let admin = || who(s, &headers(&cookie, Some(&csrf)), true).expect("admin");
    // Not finished: the factor is not on yet.
    assert_eq!(err(block_on(s.second_factor_confirm(&sf_app(), &admin()))).0, 409);
    capture(s, &session_of_url(s, url), true);
    let (st, b) = ok_body(block_on(s.second_factor_confirm(&sf_app(), &admin())));
    assert_eq!((st, &b["enabled"]), (200, &json!(true)));
    who(s, &headers(&cookie, Some(&csrf)), true).expect("still signed in")
}

/// Step one: the password. Returns (the waiting cookie, the body).
fn password_step(s: &Svc) -> (String, Value) {
    let body = json!({"email": "ada@example.com", "password": PASSWORD}).to_string();
    let r = block_on(s.console_login(&sf_app(), &sign_in_form(&[], body.as_bytes()), &names()))
        .expect("password accepted");
    (cookie_of(&r), r.body.expect("body"))
}

fn selfie_step(s: &Svc, cookie: &str) -> Result<crate::HttpResponse, crate::ApiError> {
    let h = headers(cookie, None);
    block_on(s.console_login_selfie(&sf_app(), &sign_in_form(&h, b""), &names()))
}

#[test]
fn sign_in_with_the_selfie_on_takes_the_password_then_an_approved_selfie() {
    let s = svc();
    enrolled_admin(&s);
    // The enrolled face is the built-in application's user named by the operator's id.
    let op = block_on(s.store.operator_by_email("ada@example.com")).unwrap().unwrap();
    assert!(block_on(s.store.get_template(APPLICATION_ID, &op.id)).unwrap().is_some());

    let (waiting, body) = password_step(&s);
    assert_eq!(body["second_factor"], "selfie");
    assert!(body.get("csrf_token").is_none(), "no CSRF token before the selfie");
    // The waiting cookie opens nothing else.
    assert_eq!(refused(who(&s, &headers(&waiting, None), false)), 401);
    // Not finished yet: 409, and the step stays open.
    assert_eq!(refused(selfie_step(&s, &waiting)), 409);
    capture(&s, &session_of_url(&s, body["url"].as_str().unwrap()), true);
    let r = selfie_step(&s, &waiting).expect("signed in");
    let me = r.body.clone().unwrap();
    assert_eq!(me["operator"]["email"], "ada@example.com");
    assert!(me["csrf_token"].is_string());
    let fresh = cookie_of(&r);
    assert_ne!(fresh, waiting, "a new token after the second step");
    who(&s, &headers(&fresh, None), false).expect("the new cookie works");
    // Replayed: the waiting cookie was used up.
    assert_eq!(refused(selfie_step(&s, &waiting)), 401);
}

#[test]
fn a_selfie_of_someone_else_ends_the_sign_in_and_counts_as_a_failure() {
    let s = svc();
    enrolled_admin(&s);
    let (waiting, body) = password_step(&s);
    capture(&s, &session_of_url(&s, body["url"].as_str().unwrap()), false);
    assert_eq!(refused(selfie_step(&s, &waiting)), 401);
    assert_eq!(refused(selfie_step(&s, &waiting)), 401, "the step is over");
    let op = block_on(s.store.operator_by_email("ada@example.com")).unwrap().unwrap();
    assert_eq!(op.failed_logins, 1);
}

#[test]
fn the_second_step_refuses_no_cookie_another_site_and_a_late_selfie() {
    let s = svc();
    enrolled_admin(&s);
    assert_eq!(refused(selfie_step(&s, "fg_console=")), 401);
    assert_eq!(refused(selfie_step(&s, "fg_console=forged")), 401);
    let (waiting, body) = password_step(&s);
    let mut h = headers(&waiting, None);
    h.push(("Origin".into(), "https://evil.example".into()));
    let cross = block_on(s.console_login_selfie(&sf_app(), &sign_in_form(&h, b""), &names()));
    assert_eq!(refused(cross), 403);
    capture(&s, &session_of_url(&s, body["url"].as_str().unwrap()), true);
    s.clock.advance(second_factor::SELFIE_SECONDS + 1);
    assert_eq!(refused(selfie_step(&s, &waiting)), 401, "ten minutes at most");
}

#[test]
fn turning_the_selfie_on_or_off_asks_for_the_password_and_off_deletes_the_face() {
    let s = svc();
    let admin = enrolled_admin(&s);
    let wrong = block_on(s.second_factor_enrol(&sf_app(), &admin, &pw("not the password")));
    assert_eq!(refused(wrong), 403);
    assert_eq!(refused(block_on(s.second_factor_enrol(&sf_app(), &admin, b"{}"))), 400);
    // The operator token is nobody's face.
    let platform = block_on(s.second_factor_enrol(&sf_app(), &Principal::Platform, &pw(PASSWORD)));
    assert_eq!(refused(platform), 403);
    let again = block_on(s.second_factor_enrol(&sf_app(), &admin, &pw(PASSWORD)));
    assert_eq!(refused(again), 409, "enrolled already");
    let wrong = block_on(s.second_factor_remove(&sf_app(), &admin, &pw("not the password")));
    assert_eq!(refused(wrong), 403);
    let op = block_on(s.store.operator_by_email("ada@example.com")).unwrap().unwrap();
    assert_eq!(op.failed_logins, 2, "wrong passwords here count like sign-ins");
    let (st, b) = ok_body(block_on(s.second_factor_remove(&sf_app(), &admin, &pw(PASSWORD))));
    assert_eq!((st, &b["enabled"]), (200, &json!(false)));
    assert!(block_on(s.store.get_template(APPLICATION_ID, &op.id)).unwrap().is_none());
    // Password-only again: the first step signs in.
    let (_, body) = password_step(&s);
    assert!(body["csrf_token"].is_string());
}

#[test]
fn an_enrolment_that_is_declined_must_be_started_again() {
    let s = svc();
    let (cookie, csrf) = first_admin(&s);
    let admin = who(&s, &headers(&cookie, Some(&csrf)), true).unwrap();
    let (_, b) = ok_body(block_on(s.second_factor_enrol(&sf_app(), &admin, &pw(PASSWORD))));
    let id = session_of_url(&s, b["url"].as_str().unwrap());
    capture_with(&s, &id, || (CheckStatus::Declined, None));
    let admin = who(&s, &headers(&cookie, Some(&csrf)), true).unwrap();
    assert_eq!(err(block_on(s.second_factor_confirm(&sf_app(), &admin))).0, 409);
    let admin = who(&s, &headers(&cookie, Some(&csrf)), true).unwrap();
    let (_, status) = ok_body(block_on(s.second_factor_status(&admin)));
    assert_eq!(status, json!({"enabled": false, "enrolled_at": null, "pending": false}));
}
