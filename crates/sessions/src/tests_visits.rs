//! Adaptive step-up (`visits`): the visit's network and device decide the method, a known
//! device on a known address may skip the selfie, and nothing lowers the demand within a
//! session. Over `MemoryStore`, with IP facts as the worker's data would give them.

use facegate_pipeline::challenge::LivenessMethod;
use facegate_pipeline::CheckStatus;
use facegate_signals::IpFacts;
use serde_json::{json, Value};

use crate::capture::CaptureKind;
use crate::memory::block_on;
use crate::tests::*;
use crate::types::*;
use crate::visits::Seen;

const DEVICE: &str = "dev_AAAAAAAAAAAAAAAAAAAA";
const OTHER_DEVICE: &str = "dev_BBBBBBBBBBBBBBBBBBBB";
const HOME: &str = "81.2.69.142";
const AWS: &str = "3.5.140.2";
const PHONE_UA: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";

fn stepup_app(skip: bool) -> Application {
    let mut a = app();
    a.workflows[0].ip_analysis = Some(facegate_signals::stepup::Rules {
        skip_when_known: skip,
        denied_countries: vec!["KP".into()],
        ..Default::default()
    });
    a
}

fn seen(ip: &str, device: &str) -> Seen {
    let aws = ip == AWS;
    Seen {
        ip: Some(ip.parse().expect("ip")),
        facts: IpFacts {
            public: true,
            country_code: Some(if aws { "US" } else { "GB" }.into()),
            country: Some(if aws {
                "United States"
            } else {
                "United Kingdom"
            }),
            asn: Some(if aws { 16509 } else { 20712 }),
            organization: Some(
                if aws {
                    "AMAZON-02"
                } else {
                    "Andrews & Arnold Ltd"
                }
                .into(),
            ),
            is_data_center: aws,
            ..IpFacts::default()
        },
        user_agent: Some(PHONE_UA.into()),
        device_id: Some(device.into()),
        reported: None,
    }
}

fn session(s: &Svc, a: &Application, vendor: &str, extra: Value) -> String {
    let mut body =
        json!({"workflow_id": BIO, "vendor_data": vendor, "portrait_image": portrait_b64()});
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let (st, b) = ok_body(create(s, a, body));
    assert_eq!(st, 201, "{b}");
    b["session_id"].as_str().expect("id").to_owned()
}

fn summary(s: &Svc, a: &Application, id: &str, visit: &Seen) -> Value {
    block_on(s.hosted_summary(std::slice::from_ref(a), &token_of(s, id), visit)).expect("summary")
}

fn decision(s: &Svc, a: &Application, id: &str) -> Value {
    ok_body(block_on(s.decision(a, id))).1
}

/// An approved capture from this visit: what makes a device and an address known.
fn approve_from(s: &Svc, a: &Application, id: &str, visit: &Seen) {
    let ctx = block_on(s.begin_capture(std::slice::from_ref(a), &token_of(s, id), Some(visit)))
        .expect("begin");
    let r = block_on(s.finish_capture(
        ctx,
        outcome(CheckStatus::Approved, Some(CheckStatus::Approved), None),
    ))
    .expect("finish");
    assert_eq!(r.session.status, SessionStatus::Approved);
}

fn risks(d: &Value) -> Vec<String> {
    d["ip_analyses"][0]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w["risk"].as_str().expect("risk").to_owned())
        .collect()
}

#[test]
fn a_data_centre_on_a_new_device_escalates_and_a_home_network_does_not() {
    let (s, a) = (svc(), stepup_app(false));
    let cloud = session(&s, &a, "u1", json!({}));
    let sum = summary(&s, &a, &cloud, &seen(AWS, DEVICE));
    assert_eq!(sum["liveness_method"], "ACTIVE_3D");
    assert_eq!(sum["step_up"]["rule"], "risky_network_new_device");
    let d = decision(&s, &a, &cloud);
    let item = &d["ip_analyses"][0];
    assert_eq!(item["is_data_center"], true);
    assert_eq!(item["ip_address"], AWS);
    assert_eq!(item["ip_country_code"], "US");
    assert_eq!(item["browser_family"], "Chrome");
    assert_eq!(item["step_up"]["liveness_method"], "ACTIVE_3D");
    assert!(d["features"]
        .as_array()
        .expect("features")
        .contains(&json!("IP_ANALYSIS")));
    // The capture is held to it: a passive burst is refused before any frame is decoded.
    let ctx = block_on(s.begin_capture(
        std::slice::from_ref(&a),
        &token_of(&s, &cloud),
        Some(&seen(AWS, DEVICE)),
    ))
    .expect("begin");
    assert_eq!(ctx.workflow.liveness_method, LivenessMethod::Active3d);
    assert!(ctx.expect(CaptureKind::Burst).is_err());

    let home = session(&s, &a, "u2", json!({}));
    let sum = summary(&s, &a, &home, &seen(HOME, DEVICE));
    assert_eq!(sum["liveness_method"], "PASSIVE");
    assert_eq!(sum["step_up"]["rule"], "new_device");
    assert_eq!(
        decision(&s, &a, &home)["ip_analyses"][0]["is_data_center"],
        false
    );
}

#[test]
fn a_known_device_on_a_known_address_skips_the_selfie_only_when_allowed() {
    for skip in [true, false] {
        let (s, a) = (svc(), stepup_app(skip));
        let first = session(&s, &a, "alice", json!({}));
        summary(&s, &a, &first, &seen(HOME, DEVICE));
        approve_from(&s, &a, &first, &seen(HOME, DEVICE));

        let again = session(&s, &a, "alice", json!({}));
        let sum = summary(&s, &a, &again, &seen(HOME, DEVICE));
        let d = decision(&s, &a, &again);
        assert_eq!(sum["step_up"]["rule"], "known_device_and_ip");
        if skip {
            assert_eq!(sum["status"], "Approved");
            assert_eq!(d["status"], "Approved");
            assert_eq!(d["liveness_checks"], json!([]));
            assert_eq!(d["face_matches"], json!([]));
            let step = &d["ip_analyses"][0]["step_up"];
            assert_eq!(step["action"], "skip");
            assert_eq!(step["liveness_and_face_match_ran"], false);
            // The webhook says so too.
            let hooks = s.store.deliveries.borrow();
            let approved = hooks
                .values()
                .find(|r| r.session_id == again && r.payload["status"] == "Approved")
                .expect("an Approved webhook");
            assert_eq!(
                approved.payload["decision"]["ip_analyses"][0]["step_up"]["rule"],
                "known_device_and_ip"
            );
        } else {
            assert_eq!(sum["status"], "Not Started");
            assert_eq!(sum["liveness_method"], "PASSIVE");
        }
    }
}

#[test]
fn a_session_may_opt_in_to_the_skip_at_create_time() {
    let (s, a) = (svc(), stepup_app(false));
    let first = session(&s, &a, "alice", json!({}));
    summary(&s, &a, &first, &seen(HOME, DEVICE));
    approve_from(&s, &a, &first, &seen(HOME, DEVICE));
    let again = session(
        &s,
        &a,
        "alice",
        json!({"step_up": {"skip_when_known": true}}),
    );
    assert_eq!(
        summary(&s, &a, &again, &seen(HOME, DEVICE))["status"],
        "Approved"
    );
    // A bad override is a field error, not a 500 or a silent default.
    let (st, b) = err(create(
        &s,
        &a,
        json!({"workflow_id": BIO, "vendor_data": "x", "step_up": {"skip": true}}),
    ));
    assert_eq!(st, 400);
    assert!(b["step_up"].is_array(), "{b}");
}

#[test]
fn a_new_address_or_another_device_or_a_contradicted_statement_does_not_skip() {
    let (s, a) = (svc(), stepup_app(true));
    let first = session(&s, &a, "alice", json!({}));
    summary(&s, &a, &first, &seen(HOME, DEVICE));
    approve_from(&s, &a, &first, &seen(HOME, DEVICE));

    let mut elsewhere = seen(HOME, DEVICE);
    elsewhere.ip = Some("81.2.69.200".parse().expect("ip"));
    let id = session(&s, &a, "alice", json!({}));
    let sum = summary(&s, &a, &id, &elsewhere);
    assert_eq!(
        (sum["status"].as_str(), sum["step_up"]["rule"].as_str()),
        (Some("Not Started"), Some("known_device_new_ip"))
    );

    let id = session(&s, &a, "alice", json!({}));
    assert_eq!(
        summary(&s, &a, &id, &seen(HOME, OTHER_DEVICE))["step_up"]["rule"],
        "new_device"
    );

    // The integrator said which device should come back: another id is not the known device.
    let id = session(
        &s,
        &a,
        "alice",
        json!({"metadata": {"device_id": OTHER_DEVICE}}),
    );
    assert_eq!(
        summary(&s, &a, &id, &seen(HOME, DEVICE))["step_up"]["rule"],
        "new_device"
    );

    // A page whose reported facts contradict its user agent (a desktop posing as a phone).
    let mut posing = seen(HOME, DEVICE);
    posing.reported = Some(facegate_signals::device::Reported {
        platform: Some("desktop".into()),
        ..Default::default()
    });
    let id = session(&s, &a, "alice", json!({}));
    assert_eq!(summary(&s, &a, &id, &posing)["status"], "Not Started");
}

#[test]
fn the_demand_never_drops_within_a_session_and_the_capture_is_judged_too() {
    let (s, a) = (svc(), stepup_app(true));
    // Risky first, clean later: still ACTIVE_3D.
    let id = session(&s, &a, "u1", json!({}));
    summary(&s, &a, &id, &seen(AWS, DEVICE));
    assert_eq!(
        summary(&s, &a, &id, &seen(HOME, DEVICE))["liveness_method"],
        "ACTIVE_3D"
    );
    // Clean summary, then frames from a data centre: the capture is held to ACTIVE_3D.
    let id = session(&s, &a, "u2", json!({}));
    assert_eq!(
        summary(&s, &a, &id, &seen(HOME, DEVICE))["liveness_method"],
        "PASSIVE"
    );
    let ctx = block_on(s.begin_capture(
        std::slice::from_ref(&a),
        &token_of(&s, &id),
        Some(&seen(AWS, DEVICE)),
    ))
    .expect("begin");
    assert!(ctx.expect(CaptureKind::Burst).is_err());
    assert_eq!(ctx.workflow.liveness_method, LivenessMethod::Active3d);
}

#[test]
fn polls_of_an_unchanged_visit_write_nothing() {
    let (s, a) = (svc(), stepup_app(false));
    let id = session(&s, &a, "u1", json!({}));
    summary(&s, &a, &id, &seen(HOME, DEVICE));
    let v = s.store.sessions.borrow()[&id].version;
    for _ in 0..3 {
        summary(&s, &a, &id, &seen(HOME, DEVICE));
    }
    assert_eq!(s.store.sessions.borrow()[&id].version, v);
}

#[test]
fn the_expected_address_and_the_country_rules_are_checked() {
    let (s, a) = (svc(), stepup_app(false));
    let id = session(
        &s,
        &a,
        "u1",
        json!({"expected_details": {"ip_address": "81.2.70.0/24"}}),
    );
    let sum = summary(&s, &a, &id, &seen(HOME, DEVICE));
    assert_eq!(sum["liveness_method"], "ACTIVE_3D");
    assert_eq!(sum["step_up"]["rule"], "expected_ip_mismatch");
    assert!(risks(&decision(&s, &a, &id)).contains(&"EXPECTED_IP_ADDRESS_MISMATCH".to_owned()));
    // Within the stated block: no mismatch. `metadata.from_ip` is read the same way.
    let id = session(
        &s,
        &a,
        "u2",
        json!({"metadata": {"from_ip": "81.2.69.0/24"}}),
    );
    assert_eq!(
        summary(&s, &a, &id, &seen(HOME, DEVICE))["step_up"]["rule"],
        "new_device"
    );
    let (st, b) = err(create(
        &s,
        &a,
        json!({"workflow_id": BIO, "expected_details": {"ip_address": "not an ip"}}),
    ));
    assert_eq!(st, 400);
    assert!(b["expected_details"]["ip_address"].is_array(), "{b}");

    // A denied country declines the session outright.
    let id = session(&s, &a, "u3", json!({}));
    let mut north = seen(HOME, DEVICE);
    north.facts.country_code = Some("KP".into());
    let sum = summary(&s, &a, &id, &north);
    assert_eq!(sum["status"], "Declined");
    let d = decision(&s, &a, &id);
    assert_eq!(d["ip_analyses"][0]["status"], "Declined");
    assert!(risks(&d).contains(&"IP_LOCATION_NOT_ALLOWED".to_owned()));
}

#[test]
fn another_users_device_is_flagged_with_the_session_it_was_seen_on() {
    let (s, a) = (svc(), stepup_app(true));
    let first = session(&s, &a, "alice", json!({}));
    summary(&s, &a, &first, &seen(HOME, DEVICE));
    approve_from(&s, &a, &first, &seen(HOME, DEVICE));
    let id = session(&s, &a, "mallory", json!({}));
    summary(&s, &a, &id, &seen(HOME, DEVICE));
    let d = decision(&s, &a, &id);
    let r = risks(&d);
    assert!(
        r.contains(&"DUPLICATED_DEVICE_FINGERPRINT".to_owned()),
        "{r:?}"
    );
    assert!(r.contains(&"DUPLICATED_IP_ADDRESS".to_owned()), "{r:?}");
    let matches = d["ip_analyses"][0]["matches"].as_array().expect("matches");
    assert!(matches
        .iter()
        .any(|m| m["session_id"] == first.as_str() && m["vendor_data"] == "alice"));
    // Another application never sees alice's device: the fingerprint is keyed per application.
    let mut other = stepup_app(true);
    other.id = "bbbbbbbb-0000-4000-8000-000000000000".into();
    let id = session(&s, &other, "mallory", json!({}));
    summary(&s, &other, &id, &seen(HOME, DEVICE));
    assert!(risks(&decision(&s, &other, &id)).is_empty());
}

#[test]
fn only_keyed_hashes_are_kept_and_deleting_the_user_forgets_them() {
    let (s, a) = (svc(), stepup_app(true));
    let first = session(&s, &a, "alice", json!({}));
    summary(&s, &a, &first, &seen(HOME, DEVICE));
    approve_from(&s, &a, &first, &seen(HOME, DEVICE));
    {
        let rows = s.store.signal_rows.borrow();
        assert_eq!(rows.len(), 2);
        for r in rows.values() {
            assert!(!r.hash.contains(HOME) && !r.hash.contains(DEVICE));
            assert_eq!(r.hash.len(), 64);
        }
    }
    block_on(s.delete_user_data(&a, "alice")).expect("delete");
    assert!(s.store.signal_rows.borrow().is_empty());
}

#[test]
fn a_workflow_without_ip_analysis_judges_nothing() {
    let (s, a) = (svc(), app());
    let id = session(&s, &a, "u1", json!({}));
    let sum = summary(&s, &a, &id, &seen(AWS, DEVICE));
    assert_eq!(sum["liveness_method"], "PASSIVE");
    assert!(sum.get("step_up").is_none());
    assert_eq!(decision(&s, &a, &id)["ip_analyses"], json!([]));
}

#[test]
fn the_console_shows_the_network_the_device_and_the_rule() {
    let (s, a) = (svc(), stepup_app(false));
    let id = session(&s, &a, "u1", json!({}));
    summary(&s, &a, &id, &seen(AWS, DEVICE));
    let session = s.store.sessions.borrow()[&id].clone();
    let ev = crate::console::review::evidence(&session, &a, &s.urls);
    assert_eq!(
        ev["ip_address"],
        "3.5.140.2 · AMAZON-02 · United States · data centre"
    );
    assert!(ev["device"]
        .as_str()
        .expect("device")
        .starts_with("Chrome on Android (mobile) · device "));
    assert!(
        !ev.to_string().contains(DEVICE),
        "the page's own id is never shown"
    );
    assert_eq!(ev["step_up"]["rule"], "risky_network_new_device");
    assert_eq!(ev["step_up"]["liveness_method"], "ACTIVE_3D");
}

#[test]
fn lists_decide_visits_blocklists_decline_and_allowlists_waive_only_the_network_rules() {
    use crate::lists::{system_blocklist, EntryType};
    let (s, a) = (svc(), stepup_app(false));
    let add = |list: &str, body: Value| {
        let (st, b) = ok_body(block_on(s.create_entry(&a, list, body.to_string().as_bytes())));
        assert_eq!(st, 201, "{b}");
    };
    // An address blocklisted as a block: Declined at once, with Didit's risk.
    let blocked_ips = system_blocklist(&a.id, EntryType::IpAddress).uuid;
    add(&blocked_ips, json!({"value": "81.2.69.0/24"}));
    let id = session(&s, &a, "u1", json!({}));
    assert_eq!(summary(&s, &a, &id, &seen(HOME, DEVICE))["status"], "Declined");
    let d = decision(&s, &a, &id);
    assert_eq!(d["ip_analyses"][0]["step_up"]["rule"], "blocklisted");
    assert!(risks(&d).contains(&"IP_ADDRESS_IN_BLOCKLIST".to_owned()));

    // A device taken from a session's visit (reference_session_id) is blocked from then on.
    let seen_there = session(&s, &a, "u2", json!({}));
    summary(&s, &a, &seen_there, &seen(AWS, OTHER_DEVICE));
    let blocked_devices = system_blocklist(&a.id, EntryType::DeviceFingerprint).uuid;
    add(&blocked_devices, json!({"reference_session_id": seen_there}));
    let id = session(&s, &a, "u3", json!({}));
    assert_eq!(summary(&s, &a, &id, &seen(AWS, OTHER_DEVICE))["status"], "Declined");
    assert!(risks(&decision(&s, &a, &id)).contains(&"DEVICE_FINGERPRINT_IN_BLOCKLIST".to_owned()));

    // The office's data-centre egress is allowlisted: no escalation for it, but the blocklist
    // above still wins where both match.
    let (_, office) = ok_body(block_on(s.create_list(
        &a,
        json!({"name": "Office", "list_type": "allowlist", "entry_type": "ip_address"})
            .to_string()
            .as_bytes(),
    )));
    add(office["uuid"].as_str().expect("uuid"), json!({"value": AWS}));
    let id = session(&s, &a, "u4", json!({}));
    assert_eq!(summary(&s, &a, &id, &seen(AWS, DEVICE))["liveness_method"], "PASSIVE");
    let id = session(&s, &a, "u5", json!({}));
    assert_eq!(summary(&s, &a, &id, &seen(AWS, OTHER_DEVICE))["status"], "Declined");
}
