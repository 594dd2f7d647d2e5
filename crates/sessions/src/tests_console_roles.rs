//! Changing and removing operators' roles in an application (`console::team`): who may, the
//! last admin an application keeps, the audit log, and the same rule through an invitation.

use serde_json::json;

use crate::console::signin::Principal;
use crate::console::team;
use crate::console::{Action, OperatorStore, OperatorWrite, Role};
use crate::memory::block_on;
use crate::store::Store;
use crate::tests::{app, err, ok_body, Svc};
use crate::tests_console::{first_admin, headers, invited, invited_in, refused, who};

fn set(
    s: &Svc,
    by: &Principal,
    app_id: &str,
    target: &Principal,
    role: Option<Role>,
) -> Result<crate::HttpResponse, crate::ApiError> {
    block_on(team::set_role(
        &s.store,
        &s.clock,
        &s.ids,
        by,
        app_id,
        &target.operator().id,
        role,
    ))
}

fn role_of(s: &Svc, p: &Principal, app_id: &str) -> Option<Role> {
    block_on(s.store.operator(&p.operator().id))
        .unwrap()
        .unwrap()
        .role_in(app_id)
}

struct Team {
    s: Svc,
    platform: Principal,
    boss: Principal,
    reviewer: Principal,
    reader: Principal,
    other_admin: Principal,
}

/// A platform admin, an admin of the test application (not a platform admin), a reviewer, a
/// read-only operator and the admin of another application.
fn team() -> Team {
    let s = crate::tests::svc();
    let (cookie, _) = first_admin(&s);
    let platform = who(&s, &headers(&cookie, None), false).unwrap();
    let boss = invited(&s, &platform, "boss@example.com", "admin");
    let reviewer = invited(&s, &platform, "rev@example.com", "reviewer");
    let reader = invited(&s, &platform, "ro@example.com", "read_only");
    let other_admin = invited_in(&s, &platform, "other@example.com", "admin", "other-app");
    Team {
        s,
        platform,
        boss,
        reviewer,
        reader,
        other_admin,
    }
}

#[test]
fn an_admin_changes_and_removes_roles_and_the_audit_log_says_so() {
    let t = team();
    let a = app().id;
    let (st, b) = ok_body(set(&t.s, &t.boss, &a, &t.reviewer, Some(Role::ReadOnly)));
    assert_eq!((st, b["role"].as_str()), (200, Some("read_only")));
    assert_eq!(role_of(&t.s, &t.reviewer, &a), Some(Role::ReadOnly));
    // The change is effective at once: the stored operator is what every request reads.
    let now = block_on(t.s.store.operator(&t.reviewer.operator().id))
        .unwrap()
        .unwrap();
    assert_eq!(refused(now.authorize(&a, Action::Decide)), 403);
    let (st, _) = ok_body(set(&t.s, &t.boss, &a, &t.reviewer, None));
    assert_eq!(st, 204);
    assert_eq!(role_of(&t.s, &t.reviewer, &a), None);
    // Gone from the application: another change to them is a 404, like an unknown id.
    assert_eq!(refused(set(&t.s, &t.boss, &a, &t.reviewer, None)), 404);
    let rows = block_on(t.s.store.audit_for_application(&a, 50)).unwrap();
    let said: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r.activity_type.starts_with("OPERATOR_ROLE_"))
        .map(|r| (r.activity_type.as_str(), r.comment.as_deref().unwrap_or("")))
        .collect();
    assert!(
        said.contains(&(
            "OPERATOR_ROLE_CHANGED",
            "Rev <rev@example.com> is read_only (was reviewer)"
        )),
        "{said:?}"
    );
    assert!(
        said.contains(&(
            "OPERATOR_ROLE_REMOVED",
            "Rev <rev@example.com> is no longer read_only"
        )),
        "{said:?}"
    );
    assert!(rows
        .iter()
        .filter(|r| r.activity_type.starts_with("OPERATOR_ROLE_"))
        .all(|r| r.actor_email.as_deref() == Some("boss@example.com")));
    // The list shows who is left, with their roles; another application's people are not in it.
    let (_, list) = ok_body(block_on(team::list(&t.s.store, &t.boss, &a)));
    let mut emails: Vec<(&str, &str)> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["email"].as_str().unwrap(), o["role"].as_str().unwrap()))
        .collect();
    emails.sort();
    assert_eq!(
        emails,
        vec![
            ("boss@example.com", "admin"),
            ("ro@example.com", "read_only")
        ]
    );
}

#[test]
fn the_last_admin_of_an_application_stays_one() {
    let t = team();
    let a = app().id;
    // Their own last admin role: neither removed nor lowered, by them or a platform admin.
    let (st, b) = err(set(&t.s, &t.boss, &a, &t.boss, None));
    assert_eq!(st, 409);
    assert!(b["detail"].as_str().unwrap().contains("last admin"), "{b}");
    assert_eq!(
        refused(set(&t.s, &t.boss, &a, &t.boss, Some(Role::Reviewer))),
        409
    );
    assert_eq!(refused(set(&t.s, &t.platform, &a, &t.boss, None)), 409);
    // Nor through an invitation naming them with a lesser role.
    let again = json!({"email": "boss@example.com", "name": "Boss", "application_id": a, "role": "reviewer"});
    let (st, _) = err(block_on(crate::console::apps::invite(
        &t.s.store,
        &t.s.clock,
        &t.s.ids,
        &t.platform,
        again.to_string().as_bytes(),
        |id| id == a,
    )));
    assert_eq!(st, 409);
    assert_eq!(role_of(&t.s, &t.boss, &a), Some(Role::Admin));
    // With a second admin, the first may step down.
    ok_body(set(&t.s, &t.boss, &a, &t.reviewer, Some(Role::Admin)));
    let (st, _) = ok_body(set(&t.s, &t.boss, &a, &t.boss, Some(Role::Reviewer)));
    assert_eq!(st, 200);
    assert_eq!(role_of(&t.s, &t.boss, &a), Some(Role::Reviewer));
    // Their admin role is gone with it: no more role changes by them.
    let boss_now = block_on(t.s.store.operator(&t.boss.operator().id))
        .unwrap()
        .unwrap();
    assert_eq!(refused(boss_now.authorize(&a, Action::Configure)), 403);
}

#[test]
fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let t = team();
    let a = app().id;
    ok_body(set(&t.s, &t.platform, &a, &t.reviewer, Some(Role::Admin)));
    // Both checked "another admin exists" before either wrote: the store's guard decides.
    let demote = |p: &Principal| {
        let mut op = block_on(t.s.store.operator(&p.operator().id))
            .unwrap()
            .unwrap();
        let v = op.version;
        op.grants.retain(|g| g.application_id != a);
        op.version += 1;
        vec![
            OperatorWrite::RequireOtherAdmin {
                application_id: a.clone(),
                besides: op.id.clone(),
            },
            OperatorWrite::PutOperator {
                operator: op,
                expected_version: v,
            },
        ]
    };
    let (one, two) = (demote(&t.boss), demote(&t.reviewer));
    assert!(block_on(t.s.store.commit_operators(&one)).is_ok());
    assert_eq!(
        block_on(t.s.store.commit_operators(&two)),
        Err(crate::store::StoreError::Conflict)
    );
    assert_eq!(role_of(&t.s, &t.reviewer, &a), Some(Role::Admin));
}

#[test]
fn only_admins_of_the_application_touch_its_roles() {
    let t = team();
    let a = app().id;
    // A reviewer or a reader: 403, whatever they ask.
    assert_eq!(refused(set(&t.s, &t.reviewer, &a, &t.reader, None)), 403);
    assert_eq!(
        refused(set(&t.s, &t.reviewer, &a, &t.reviewer, Some(Role::Admin))),
        403
    );
    assert_eq!(refused(set(&t.s, &t.reader, &a, &t.reviewer, None)), 403);
    assert_eq!(
        refused(block_on(team::list(&t.s.store, &t.reviewer, &a))),
        403
    );
    // Another application's admin: this application does not exist for them.
    assert_eq!(refused(set(&t.s, &t.other_admin, &a, &t.reader, None)), 404);
    assert_eq!(
        refused(block_on(team::list(&t.s.store, &t.other_admin, &a))),
        404
    );
    // Nor can this application's admin reach into theirs, even naming their operator.
    assert_eq!(
        refused(set(&t.s, &t.boss, "other-app", &t.other_admin, None)),
        404
    );
    // An operator without a role here is unknown here.
    assert_eq!(refused(set(&t.s, &t.boss, &a, &t.other_admin, None)), 404);
    assert_eq!(role_of(&t.s, &t.reader, &a), Some(Role::ReadOnly));
    assert_eq!(
        role_of(&t.s, &t.other_admin, "other-app"),
        Some(Role::Admin)
    );
    // A platform admin may do it anywhere (here it reaches the last-admin rule, past the
    // rights check).
    assert_eq!(
        refused(set(
            &t.s,
            &t.platform,
            "other-app",
            &t.other_admin,
            Some(Role::Reviewer)
        )),
        409
    );
    assert_eq!(
        ok_body(set(&t.s, &t.platform, &a, &t.reader, Some(Role::Reviewer))).0,
        200
    );
}

#[test]
fn a_role_change_body_is_checked() {
    assert!(matches!(
        team::parse_role(br#"{"role": "reviewer"}"#),
        Ok(Role::Reviewer)
    ));
    for bad in [
        &br#"{}"#[..],
        br#"{"role": "owner"}"#,
        br#"{"role": 1}"#,
        br#"{"role": "admin", "platform_admin": true}"#,
        br#"[]"#,
        b"not json",
    ] {
        assert_eq!(
            refused(team::parse_role(bad)),
            400,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn unassign_is_for_the_holder_or_an_admin_of_the_application() {
    use crate::tests::{bio_session, outcome, token_of};
    use facegate_pipeline::CheckStatus;
    let t = team();
    let (s, a) = (&t.s, app());
    let id = bio_session(s, &a, "unassign-1")["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ctx = block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(s, &id), None)).unwrap();
    block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::InReview), None),
    ))
    .unwrap();
    let take = |p: &Principal, assign: bool| {
        let body = json!({ "assign": assign }).to_string();
        block_on(s.console_assign(p, &a, &id, body.as_bytes()))
    };
    // The holder gives it back themselves.
    ok_body(take(&t.reviewer, true));
    let (_, e) = ok_body(take(&t.reviewer, false));
    assert_eq!(e["assigned_to"], serde_json::Value::Null);
    // The application's own admin (not a platform admin) frees someone else's.
    ok_body(take(&t.reviewer, true));
    assert_eq!(refused(take(&t.reader, false)), 403);
    assert_eq!(refused(take(&t.other_admin, false)), 404);
    let (_, e) = ok_body(take(&t.boss, false));
    assert_eq!(e["assigned_to"], serde_json::Value::Null);
    assert_eq!(
        refused(take(&t.reviewer, true).and(take(&t.boss, true))),
        409
    );
}
