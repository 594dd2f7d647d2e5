//! The lists' routes over the memory store: Didit's shapes, the system blocklists, entries
//! from sessions of the same application only, duplicates, tenancy, and `screen`.

use std::net::IpAddr;

use serde_json::{json, Value};

use super::api::{MSG_DUPLICATE, MSG_NAME_TAKEN, MSG_SESSION_NOT_FOUND};
use super::screen::{ip_matches, screen};
use super::store::ListStore;
use super::{system_blocklist, EntryType};
use crate::memory::block_on;
use crate::routes::{hash_api_key, route, Route};
use crate::tests::{app, approve_capture, create, emb, err, ok_body, svc, Svc, KYC};
use crate::types::Application;

fn other_app() -> Application {
    let mut b = app();
    b.id = "bbbbbbbb-0000-4000-8000-000000000000".into();
    b.api_key_hashes = vec![hash_api_key("sk_test_other")];
    b
}

fn new_list(s: &Svc, a: &Application, body: Value) -> Value {
    let (st, b) = ok_body(block_on(s.create_list(a, body.to_string().as_bytes())));
    assert_eq!(st, 201);
    b
}

fn add(
    s: &Svc,
    a: &Application,
    list: &str,
    body: Value,
) -> Result<crate::HttpResponse, crate::ApiError> {
    block_on(s.create_entry(a, list, body.to_string().as_bytes()))
}

fn uuid(v: &Value) -> String {
    v["uuid"].as_str().expect("uuid").to_owned()
}

fn enrolled(s: &Svc, a: &Application, vendor: &str) -> String {
    let (_, b) = ok_body(create(
        s,
        a,
        json!({"workflow_id": KYC, "vendor_data": vendor}),
    ));
    let id = b["session_id"].as_str().expect("id").to_owned();
    approve_capture(s, a, &id);
    id
}

#[test]
fn routes_of_the_lists() {
    assert_eq!(route("GET", "/v3/lists/"), Ok(Route::ListLists));
    assert_eq!(route("POST", "/v3/lists"), Ok(Route::CreateList));
    assert_eq!(
        route("PATCH", "/v3/lists/x/"),
        Ok(Route::UpdateList("x".into()))
    );
    assert_eq!(
        route("POST", "/v3/lists/x/entries/face-upload/"),
        Ok(Route::UploadFaceEntry("x".into()))
    );
    assert_eq!(
        route("DELETE", "/v3/lists/x/entries/y/"),
        Ok(Route::DeleteEntry("x".into(), "y".into()))
    );
    assert_eq!(route("POST", "/v3/face-search/"), Ok(Route::FaceSearch));
}

#[test]
fn system_blocklists_are_listed_for_every_application_and_are_immutable() {
    let (s, a) = (svc(), app());
    let (_, b) = ok_body(block_on(s.list_lists(&a, "")));
    assert_eq!(b["count"], 4);
    assert!(b["results"]
        .as_array()
        .expect("results")
        .iter()
        .all(|l| l["is_system"] == true && l["list_type"] == "blocklist"));
    let face = system_blocklist(&a.id, EntryType::Face).uuid;
    let (st, _) = err(block_on(s.delete_list(&a, &face)));
    assert_eq!(st, 400);
    let (st, _) = err(block_on(s.update_list(&a, &face, br#"{"name": "mine"}"#)));
    assert_eq!(st, 400);
    // Another application's system list is not this one's.
    let theirs = system_blocklist(&other_app().id, EntryType::Face).uuid;
    assert_eq!(err(block_on(s.get_list(&a, &theirs))).0, 404);
    let (_, f) = ok_body(block_on(s.list_lists(&a, "entry_type=face")));
    assert_eq!(f["count"], 1);
    assert_eq!(err(block_on(s.list_lists(&a, "list_type=nope"))).0, 400);
}

#[test]
fn lists_are_created_renamed_and_deleted_in_didits_shape() {
    let (s, a) = (svc(), app());
    let l = new_list(
        &s,
        &a,
        json!({"name": "Trusted IPs", "list_type": "allowlist", "entry_type": "ip_address"}),
    );
    for k in [
        "uuid",
        "name",
        "description",
        "list_type",
        "entry_type",
        "is_system",
        "entry_count",
        "last_entry_added_at",
        "created_at",
        "updated_at",
    ] {
        assert!(l.get(k).is_some(), "{k}");
    }
    assert_eq!(l["entry_count"], 0);
    let id = uuid(&l);
    // Names are unique per application, system names included.
    let (st, e) = err(block_on(s.create_list(
        &a,
        br#"{"name": "Trusted IPs", "list_type": "custom", "entry_type": "user"}"#,
    )));
    assert_eq!((st, e["name"][0].as_str()), (400, Some(MSG_NAME_TAKEN)));
    let (st, _) = err(block_on(s.create_list(
        &a,
        br#"{"name": "FACE BLOCKLIST", "list_type": "custom", "entry_type": "user"}"#,
    )));
    assert_eq!(st, 400);
    // Another application may use the name.
    new_list(
        &s,
        &other_app(),
        json!({"name": "Trusted IPs", "list_type": "allowlist", "entry_type": "ip_address"}),
    );
    let (_, u) = ok_body(block_on(s.update_list(
        &a,
        &id,
        br#"{"name": "Office", "description": "HQ"}"#,
    )));
    assert_eq!(
        (u["name"].as_str(), u["description"].as_str()),
        (Some("Office"), Some("HQ"))
    );
    assert_eq!(
        err(block_on(s.update_list(
            &a,
            &id,
            br#"{"entry_type": "face"}"#
        )))
        .0,
        400
    );
    assert_eq!(
        err(block_on(s.update_list(&a, &id, br#"{"name": ""}"#))).0,
        400
    );
    add(&s, &a, &id, json!({"value": "10.0.0.0/8"})).expect("entry");
    let (_, g) = ok_body(block_on(s.get_list(&a, &id)));
    assert_eq!(g["entry_count"], 1);
    assert!(g["last_entry_added_at"].is_string());
    // Another application sees nothing of it.
    let b = other_app();
    assert_eq!(err(block_on(s.get_list(&b, &id))).0, 404);
    assert_eq!(
        err(block_on(s.update_list(&b, &id, br#"{"name": "x"}"#))).0,
        404
    );
    assert_eq!(err(block_on(s.delete_list(&b, &id))).0, 404);
    assert_eq!(err(block_on(s.list_entries(&b, &id, ""))).0, 404);
    assert_eq!(ok_body(block_on(s.delete_list(&a, &id))).0, 204);
    assert_eq!(err(block_on(s.get_list(&a, &id))).0, 404);
    assert!(
        block_on(s.store.entries_of_type(&a.id, EntryType::IpAddress))
            .expect("e")
            .is_empty()
    );
}

#[test]
fn entries_are_canonical_unique_searchable_and_paged() {
    let (s, a) = (svc(), app());
    let ips = system_blocklist(&a.id, EntryType::IpAddress).uuid;
    let (st, e) = ok_body(add(
        &s,
        &a,
        &ips,
        json!({"value": " 203.0.113.0/24 ", "display_label": "scrapers", "comment": "abuse", "metadata": {"k": 1}}),
    ));
    assert_eq!(st, 201);
    assert_eq!(e["value"], "203.0.113.0/24");
    assert_eq!(e["added_by"], "api");
    assert_eq!(e["metadata"]["k"], 1);
    let (st, d) = err(add(&s, &a, &ips, json!({"value": "203.0.113.0/24"})));
    assert_eq!((st, d["value"][0].as_str()), (400, Some(MSG_DUPLICATE)));
    for i in 0..3 {
        ok_body(add(
            &s,
            &a,
            &ips,
            json!({"value": format!("198.51.100.{i}")}),
        ));
    }
    let (_, page) = ok_body(block_on(s.list_entries(&a, &ips, "limit=2")));
    assert_eq!(page["count"], 4);
    assert_eq!(page["results"].as_array().expect("r").len(), 2);
    assert!(page["next"].as_str().expect("next").contains("offset=2"));
    let (_, found) = ok_body(block_on(s.list_entries(&a, &ips, "search=SCRAP")));
    assert_eq!(found["count"], 1);
    let entry = uuid(&found["results"][0]);
    // Deleting: only through its own list and application.
    let other_list = system_blocklist(&a.id, EntryType::User).uuid;
    assert_eq!(
        err(block_on(s.delete_entry(&a, &other_list, &entry))).0,
        404
    );
    assert_eq!(
        err(block_on(s.delete_entry(&other_app(), &ips, &entry))).0,
        404
    );
    assert_eq!(ok_body(block_on(s.delete_entry(&a, &ips, &entry))).0, 204);
    assert_eq!(err(block_on(s.delete_entry(&a, &ips, &entry))).0, 404);
    // Malformed bodies: the contract's 400 shapes.
    assert_eq!(err(add(&s, &a, &ips, json!({"value": "not an ip"}))).0, 400);
    let (st, b) = err(block_on(s.create_entry(&a, &ips, b"{")));
    assert!(st == 400 && b["detail"].is_string());
    assert_eq!(
        err(add(
            &s,
            &a,
            &ips,
            json!({"value": "1.2.3.4", "metadata": [1]})
        ))
        .0,
        400
    );
}

#[test]
fn entries_from_sessions_of_the_same_application_only() {
    let (s, a) = (svc(), app());
    let b = other_app();
    let theirs = enrolled(&s, &b, "their-user");
    let ours = enrolled(&s, &a, "our-user");
    let users = system_blocklist(&a.id, EntryType::User).uuid;
    let (st, e) = err(add(&s, &a, &users, json!({"reference_session_id": theirs})));
    assert_eq!(
        (st, e["reference_session_id"][0].as_str()),
        (400, Some(MSG_SESSION_NOT_FOUND))
    );
    let (st, e) = err(add(
        &s,
        &a,
        &users,
        json!({"reference_session_id": "99999999-9999-4999-8999-999999999999"}),
    ));
    assert_eq!(
        (st, e["reference_session_id"][0].as_str()),
        (400, Some(MSG_SESSION_NOT_FOUND))
    );
    let (_, u) = ok_body(add(&s, &a, &users, json!({"reference_session_id": ours})));
    assert_eq!(u["value"], "our-user");
    assert_eq!(u["reference_session_id"], ours.as_str());
    assert!(u["reference_session_number"].is_number());
    assert_eq!(
        err(add(
            &s,
            &a,
            &users,
            json!({"reference_session_id": ours, "value": "someone-else"})
        ))
        .0,
        400
    );
    // The face the session enrolled, sealed for the entry; never the image.
    let faces = system_blocklist(&a.id, EntryType::Face).uuid;
    let (_, f) = ok_body(add(
        &s,
        &a,
        &faces,
        json!({"reference_session_id": ours, "display_label": "fraudster"}),
    ));
    let stored = block_on(s.store.entries_of_type(&a.id, EntryType::Face)).expect("e");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].uuid, uuid(&f));
    let face = s.entry_face(&stored[0]).expect("opens");
    assert!(face.cosine(&emb(1)) > 0.999);
    assert_eq!(
        err(add(&s, &a, &faces, json!({"reference_session_id": theirs}))).0,
        400
    );
    // A session without a visit has no address to add.
    let ips = system_blocklist(&a.id, EntryType::IpAddress).uuid;
    let (st, e) = err(add(&s, &a, &ips, json!({"reference_session_id": ours})));
    assert!(
        st == 400
            && e["reference_session_id"][0]
                .as_str()
                .expect("m")
                .contains("no IP address")
    );
    // Entries outlive the session they were taken from (Didit keeps them).
    ok_body(block_on(s.delete(&a, &ours)));
    assert_eq!(
        block_on(s.store.entries_of_type(&a.id, EntryType::Face))
            .expect("e")
            .len(),
        1
    );
}

#[test]
fn face_upload_needs_a_face_list_and_a_face() {
    let (s, a) = (svc(), app());
    let faces = system_blocklist(&a.id, EntryType::Face).uuid;
    let users = system_blocklist(&a.id, EntryType::User).uuid;
    let img = json!({"image": "aGVsbG8=", "display_label": "walk-in"}).to_string();
    let upload = |list: &str, body: &str, face: bool| {
        block_on(s.upload_face_entry(&a, list, body.as_bytes(), |bytes| {
            assert_eq!(bytes, b"hello");
            Ok(face.then(|| emb(3)))
        }))
    };
    assert_eq!(err(upload(&users, &img, true)).0, 400);
    let (st, b) = err(upload(&faces, &img, false));
    assert!(st == 400 && b["image"][0].is_string());
    let (st, b) = err(upload(&faces, r#"{"display_label": "x"}"#, true));
    assert!(st == 400 && b["image"][0].is_string());
    assert_eq!(err(upload(&faces, r#"{"image": "%%%"}"#, true)).0, 400);
    assert_eq!(
        err(upload(
            &faces,
            r#"{"image": "https://x.example/a.jpg"}"#,
            true
        ))
        .0,
        400
    );
    let (st, e) = ok_body(upload(&faces, &img, true));
    assert_eq!((st, e["display_label"].as_str()), (201, Some("walk-in")));
    // Two uploads of one photo are two entries (a face's value is its entry id).
    ok_body(upload(&faces, &img, true));
    assert_eq!(
        block_on(s.store.entries_of_type(&a.id, EntryType::Face))
            .expect("e")
            .len(),
        2
    );
    assert_eq!(
        err(block_on(s.upload_face_entry(
            &other_app(),
            &faces,
            img.as_bytes(),
            |_| Ok(Some(emb(3)))
        )))
        .0,
        404
    );
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect("ip"))
}

#[test]
fn addresses_match_exactly_or_inside_a_block() {
    assert!(ip_matches(
        "203.0.113.0/24",
        "203.0.113.77".parse().expect("ip")
    ));
    assert!(!ip_matches(
        "203.0.113.0/24",
        "203.0.114.1".parse().expect("ip")
    ));
    assert!(ip_matches(
        "198.51.100.7",
        "::ffff:198.51.100.7".parse().expect("ip")
    ));
    assert!(ip_matches(
        "2001:db8::/32",
        "2001:db8:1::5".parse().expect("ip")
    ));
    assert!(!ip_matches(
        "2001:db8::/32",
        "203.0.113.1".parse().expect("ip")
    ));
    assert!(ip_matches("0.0.0.0/0", "8.8.8.8".parse().expect("ip")));
}

#[test]
fn screening_reports_blocklists_allowlists_and_never_lets_an_allowlist_win() {
    let (s, a) = (svc(), app());
    let fp = "ab".repeat(32);
    let ips = system_blocklist(&a.id, EntryType::IpAddress).uuid;
    let devices = system_blocklist(&a.id, EntryType::DeviceFingerprint).uuid;
    let users = system_blocklist(&a.id, EntryType::User).uuid;
    let office = uuid(&new_list(
        &s,
        &a,
        json!({"name": "Office", "list_type": "allowlist", "entry_type": "ip_address"}),
    ));
    let vip = uuid(&new_list(
        &s,
        &a,
        json!({"name": "VIP", "list_type": "allowlist", "entry_type": "user"}),
    ));
    let watch = uuid(&new_list(
        &s,
        &a,
        json!({"name": "Watch", "list_type": "custom", "entry_type": "device_fingerprint"}),
    ));
    ok_body(add(&s, &a, &ips, json!({"value": "203.0.113.0/24"})));
    ok_body(add(&s, &a, &office, json!({"value": "198.51.100.0/24"})));
    ok_body(add(&s, &a, &office, json!({"value": "203.0.113.9"})));
    ok_body(add(&s, &a, &devices, json!({"value": fp.to_uppercase()})));
    ok_body(add(&s, &a, &watch, json!({"value": "cd".repeat(32)})));
    ok_body(add(&s, &a, &users, json!({"value": "mallory"})));
    ok_body(add(&s, &a, &vip, json!({"value": "alice"})));

    let nothing = block_on(screen(&s.store, &a.id, None, None, None)).expect("s");
    assert!(!nothing.blocklisted() && !nothing.waives_network_rules() && nothing.hits.is_empty());

    let office_visit = block_on(screen(
        &s.store,
        &a.id,
        ip("198.51.100.20"),
        None,
        Some("bob"),
    ))
    .expect("s");
    assert!(office_visit.ip_allowlisted && office_visit.waives_network_rules());
    assert_eq!(office_visit.hits[0].list_name, "Office");

    // Inside a blocked block and allowlisted by address: the blocklist wins.
    let both = block_on(screen(
        &s.store,
        &a.id,
        ip("203.0.113.9"),
        None,
        Some("alice"),
    ))
    .expect("s");
    assert!(both.ip_blocklisted && both.ip_allowlisted && both.user_allowlisted);
    assert!(both.blocklisted() && !both.waives_network_rules());
    assert_eq!(both.hits[0].list_uuid, ips);

    let device = block_on(screen(&s.store, &a.id, ip("192.0.2.1"), Some(&fp), None)).expect("s");
    assert!(device.device_blocklisted && !device.ip_blocklisted);
    let custom = block_on(screen(&s.store, &a.id, None, Some(&"CD".repeat(32)), None)).expect("s");
    assert!(!custom.blocklisted() && !custom.waives_network_rules());
    assert_eq!(custom.hits.len(), 1);
    let user = block_on(screen(&s.store, &a.id, None, None, Some("mallory"))).expect("s");
    assert!(user.user_blocklisted);
    // Another application's lists match nothing.
    let theirs = block_on(screen(
        &s.store,
        &other_app().id,
        ip("203.0.113.9"),
        Some(&fp),
        Some("mallory"),
    ))
    .expect("s");
    assert_eq!(theirs, Default::default());
    // Every list write moved the version.
    assert!(block_on(s.store.lists_version(&a.id)).expect("v") >= 10);
    assert_eq!(
        block_on(s.store.lists_version(&other_app().id)).expect("v"),
        0
    );
}
