//! Lists in Didit's shape (`/v3/lists/…`, the MCP server's list tools): what a list and an
//! entry are, how their bodies are parsed, and the system blocklists. Storage is its own port
//! (`store::ListStore`), the routes' logic is `api`, and `screen` is what a visit is checked
//! against.
//!
//! Every application has one system blocklist per entry type without creating it: its id is
//! derived from the application and the type, so it exists in every store from the start and
//! can't be created, renamed or deleted. An **allowlist** entry waives the network rules of
//! step-up (VPN, data centre, country, the expected address) for its user, address or device;
//! it never overrides a blocklist.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::destinations::object;
use crate::error::{ApiError, FieldErrors};
use crate::validate::{required_choice, NOT_BLANK, NOT_STRING, NOT_UUID, REQUIRED};

pub mod api;
#[cfg(test)]
mod api_tests;
pub mod faces;
pub mod screen;
pub mod store;

/// What facegate can match a visit or a capture against. Didit's other entry types
/// (documents, phones, wallets…) belong to checks facegate doesn't run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    Face,
    IpAddress,
    DeviceFingerprint,
    User,
}

impl EntryType {
    pub const ALL: [EntryType; 4] = [
        EntryType::Face,
        EntryType::IpAddress,
        EntryType::DeviceFingerprint,
        EntryType::User,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::Face => "face",
            EntryType::IpAddress => "ip_address",
            EntryType::DeviceFingerprint => "device_fingerprint",
            EntryType::User => "user",
        }
    }
}

const DIDIT_ONLY_ENTRY_TYPES: [&str; 8] = [
    "document",
    "phone",
    "email",
    "wallet_address",
    "bank_account",
    "business",
    "country",
    "key",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListType {
    Blocklist,
    Allowlist,
    Custom,
}

impl ListType {
    pub fn as_str(self) -> &'static str {
        match self {
            ListType::Blocklist => "blocklist",
            ListType::Allowlist => "allowlist",
            ListType::Custom => "custom",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct List {
    pub uuid: String,
    pub application_id: String,
    pub name: String,
    pub description: Option<String>,
    pub list_type: ListType,
    pub entry_type: EntryType,
    /// The auto-provisioned blocklist of its entry type: immutable.
    pub is_system: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The system blocklist of `entry_type` for an application: the same id every time, in every
/// store, so it needs no row until it has entries.
pub fn system_blocklist(application_id: &str, entry_type: EntryType) -> List {
    let digest = Sha256::digest(format!(
        "facegate-system-blocklist\0{application_id}\0{}",
        entry_type.as_str()
    ));
    let h = hex::encode(&digest[..16]);
    // Shaped as a version-4 UUID (variant bits set) so clients that validate UUIDs accept it.
    let uuid = format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        ["8", "9", "a", "b"][usize::from(digest[8] & 3)],
        &h[17..20],
        &h[20..32]
    );
    List {
        uuid,
        application_id: application_id.to_owned(),
        name: format!("{} blocklist", entry_type.as_str()),
        description: Some("System blocklist: entries here are declined.".into()),
        list_type: ListType::Blocklist,
        entry_type,
        is_system: true,
        created_at: 0,
        updated_at: 0,
    }
}

pub fn render_list(l: &List, entry_count: u64, last_entry_added_at: Option<i64>) -> Value {
    json!({
        "uuid": l.uuid,
        "name": l.name,
        "description": l.description.clone().unwrap_or_default(),
        "list_type": l.list_type.as_str(),
        "entry_type": l.entry_type.as_str(),
        "is_system": l.is_system,
        "entry_count": entry_count,
        "last_entry_added_at": last_entry_added_at.map(crate::time::iso8601),
        "created_at": crate::time::iso8601(l.created_at),
        "updated_at": crate::time::iso8601(l.updated_at),
    })
}

/// A list as a create call asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewList {
    pub name: String,
    pub description: Option<String>,
    pub list_type: ListType,
    pub entry_type: EntryType,
}

const MAX_NAME: usize = 255;
const MAX_TEXT: usize = 2_000;
/// A metadata object's JSON, at most.
const MAX_METADATA: usize = 16 * 1024;

pub fn parse_new_list(body: &[u8]) -> Result<NewList, ApiError> {
    let m = object(body)?;
    let mut errors = FieldErrors::new();
    let name = text(&m, "name", MAX_NAME, true, &mut errors);
    let description = text(&m, "description", MAX_TEXT, false, &mut errors);
    // Didit provisions blocklists itself: asking for one is refused with the reason.
    let list_type = match required_choice(
        &m,
        "list_type",
        &[
            ("allowlist", Some(ListType::Allowlist)),
            ("custom", Some(ListType::Custom)),
            ("blocklist", None),
        ],
        |_| NOT_STRING.to_owned(),
        &mut errors,
    ) {
        Some(None) => {
            errors.add(
                "list_type",
                "Blocklists are provisioned for every entry type and cannot be created.",
            );
            None
        }
        chosen => chosen.flatten(),
    };
    let entry_type = match m.get("entry_type").and_then(Value::as_str) {
        Some(s) if DIDIT_ONLY_ENTRY_TYPES.contains(&s) => {
            errors.add(
                "entry_type",
                format!("facegate keeps no \"{s}\" lists: it checks faces, IP addresses, devices and users."),
            );
            None
        }
        _ => required_choice(
            &m,
            "entry_type",
            &EntryType::ALL.map(|t| (t.as_str(), t)),
            |_| NOT_STRING.to_owned(),
            &mut errors,
        ),
    };
    match (name, list_type, entry_type) {
        (Some(name), Some(list_type), Some(entry_type)) if errors.is_empty() => Ok(NewList {
            name,
            description,
            list_type,
            entry_type,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// A value as a list of this type holds it: an IP address or CIDR in canonical form, a device
/// fingerprint (64 hex), or a user's vendor_data. Face entries come from an image or a session,
/// never from text.
pub fn parse_value(entry_type: EntryType, raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    match entry_type {
        EntryType::IpAddress => {
            let (ip, len) = facegate_signals::parse_prefix(raw)
                .ok_or("Enter a valid IPv4 or IPv6 address or CIDR.")?;
            let whole = if ip.is_ipv4() { 32 } else { 128 };
            Ok(if len == whole { ip.to_string() } else { format!("{ip}/{len}") })
        }
        EntryType::DeviceFingerprint => {
            let fp = raw.to_ascii_lowercase();
            if fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(fp)
            } else {
                Err("A device fingerprint is the 64 hex characters of a decision's device_fingerprint.".into())
            }
        }
        EntryType::User => {
            if raw.is_empty() || raw.chars().count() > MAX_NAME {
                Err("Enter the user's vendor_data (1 to 255 characters).".into())
            } else {
                Ok(raw.to_owned())
            }
        }
        EntryType::Face => Err("Face entries are added from a session (reference_session_id) or an image (face-upload).".into()),
    }
}

/// An entry as a create call asks for it: a value, or a session to take it from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub value: Option<String>,
    pub reference_session_id: Option<String>,
    /// Kept for traceability only (Didit: a transaction, user or business it came from).
    pub reference_object_uuid: Option<String>,
    pub display_label: Option<String>,
    pub comment: Option<String>,
    pub metadata: Option<Value>,
}

/// An optional `metadata` object (of bounded size).
fn metadata(m: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Value> {
    match m.get("metadata") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) if v.to_string().len() <= MAX_METADATA => Some(v.clone()),
        Some(Value::Object(_)) => {
            errors.add(
                "metadata",
                format!("Ensure metadata is at most {MAX_METADATA} bytes of JSON."),
            );
            None
        }
        Some(_) => {
            errors.add("metadata", "Expected a dictionary of items.");
            None
        }
    }
}

pub fn parse_new_entry(entry_type: EntryType, body: &[u8]) -> Result<NewEntry, ApiError> {
    let m = object(body)?;
    let mut errors = FieldErrors::new();
    let display_label = text(&m, "display_label", MAX_NAME, false, &mut errors);
    let comment = text(&m, "comment", MAX_TEXT, false, &mut errors);
    let reference_session_id = text(&m, "reference_session_id", 64, false, &mut errors);
    if reference_session_id
        .as_deref()
        .is_some_and(|id| !crate::validate::is_uuid(id))
    {
        errors.add("reference_session_id", NOT_UUID);
    }
    let reference_object_uuid = text(&m, "reference_object_uuid", 64, false, &mut errors);
    if reference_object_uuid
        .as_deref()
        .is_some_and(|id| !crate::validate::is_uuid(id))
    {
        errors.add("reference_object_uuid", NOT_UUID);
    }
    let metadata = metadata(&m, &mut errors);
    let value = match m.get("value") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match parse_value(entry_type, s) {
            Ok(v) => Some(v),
            Err(why) => {
                errors.add("value", why);
                None
            }
        },
        Some(_) => {
            errors.add("value", NOT_STRING);
            None
        }
    };
    if value.is_none() && reference_session_id.is_none() && errors.is_empty() {
        errors.add("value", "Give a value or a reference_session_id.");
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(NewEntry {
        value,
        reference_session_id,
        reference_object_uuid,
        display_label,
        comment,
        metadata,
    })
}

/// An optional (or required) string field of at most `max` characters.
fn text(
    m: &Map<String, Value>,
    field: &str,
    max: usize,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<String> {
    match m.get(field) {
        None | Some(Value::Null) if required => {
            errors.add(field, REQUIRED);
            None
        }
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if required && s.trim().is_empty() => {
            errors.add(field, NOT_BLANK);
            None
        }
        Some(Value::String(s)) if s.chars().count() <= max => Some(s.trim().to_owned()),
        Some(Value::String(_)) => {
            errors.add(
                field,
                format!("Ensure this field has no more than {max} characters."),
            );
            None
        }
        Some(_) => {
            errors.add(field, NOT_STRING);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(r: Result<impl std::fmt::Debug, ApiError>) -> Value {
        match r {
            Err(ApiError::Validation(e)) => Value::Object(e.0),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn system_blocklists_are_fixed_per_application_and_type() {
        let a = system_blocklist("app-a", EntryType::Face);
        assert_eq!(a, system_blocklist("app-a", EntryType::Face));
        assert_ne!(a.uuid, system_blocklist("app-b", EntryType::Face).uuid);
        assert_ne!(a.uuid, system_blocklist("app-a", EntryType::IpAddress).uuid);
        assert!(crate::validate::is_uuid(&a.uuid), "{}", a.uuid);
        assert!(a.is_system && a.list_type == ListType::Blocklist);
        let shown = render_list(&a, 3, None);
        assert_eq!(shown["list_type"], "blocklist");
        assert_eq!(shown["entry_type"], "face");
        assert_eq!(shown["entry_count"], 3);
    }

    #[test]
    fn creating_a_list_takes_didits_body_and_refuses_the_rest() {
        let ok = parse_new_list(br#"{"name": " VIP ", "list_type": "allowlist", "entry_type": "user", "description": "staff"}"#)
            .expect("valid");
        assert_eq!(
            (ok.name.as_str(), ok.list_type, ok.entry_type),
            ("VIP", ListType::Allowlist, EntryType::User)
        );
        let e = errors(parse_new_list(
            br#"{"name": "x", "list_type": "blocklist", "entry_type": "face"}"#,
        ));
        assert!(e["list_type"][0]
            .as_str()
            .expect("msg")
            .contains("cannot be created"));
        let e = errors(parse_new_list(
            br#"{"name": "x", "list_type": "custom", "entry_type": "phone"}"#,
        ));
        assert!(e["entry_type"][0]
            .as_str()
            .expect("msg")
            .contains("facegate keeps no \"phone\" lists"));
        let e = errors(parse_new_list(
            br#"{"list_type": "custom", "entry_type": "nope"}"#,
        ));
        assert_eq!(e["name"][0], "This field is required.");
        assert_eq!(e["entry_type"][0], "\"nope\" is not a valid choice.");
        let long = format!(
            r#"{{"name": "{}", "list_type": "custom", "entry_type": "user"}}"#,
            "n".repeat(256)
        );
        assert!(errors(parse_new_list(long.as_bytes()))["name"][0]
            .as_str()
            .expect("msg")
            .contains("255"));
        assert!(matches!(
            parse_new_list(b"[]"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(parse_new_list(b"{"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn values_are_checked_and_made_canonical() {
        let ip = |s| parse_value(EntryType::IpAddress, s);
        assert_eq!(ip(" 203.0.113.7 ").as_deref(), Ok("203.0.113.7"));
        assert_eq!(ip("203.0.113.0/24").as_deref(), Ok("203.0.113.0/24"));
        assert_eq!(ip("2001:DB8::1").as_deref(), Ok("2001:db8::1"));
        assert_eq!(ip("10.0.0.1/32").as_deref(), Ok("10.0.0.1"));
        for bad in ["1.2.3.4/33", "999.1.1.1", "example.com", "1.2.3.4/x", ""] {
            assert!(ip(bad).is_err(), "{bad}");
        }
        let fp = "AB".repeat(32);
        assert_eq!(
            parse_value(EntryType::DeviceFingerprint, &fp),
            Ok("ab".repeat(32))
        );
        assert!(parse_value(EntryType::DeviceFingerprint, "abc").is_err());
        assert!(parse_value(EntryType::User, "").is_err());
        assert!(parse_value(EntryType::Face, "anything").is_err());
    }

    #[test]
    fn an_entry_needs_a_value_or_a_session() {
        let e = parse_new_entry(
            EntryType::IpAddress,
            br#"{"value": "3.5.140.0/22", "comment": "AWS scraper"}"#,
        )
        .expect("ok");
        assert_eq!(
            (e.value.as_deref(), e.comment.as_deref()),
            (Some("3.5.140.0/22"), Some("AWS scraper"))
        );
        let by_session = parse_new_entry(
            EntryType::Face,
            br#"{"reference_session_id": "11111111-2222-4333-8444-555555555555"}"#,
        )
        .expect("ok");
        assert_eq!(by_session.value, None);
        assert_eq!(
            errors(parse_new_entry(EntryType::User, b"{}"))["value"][0],
            "Give a value or a reference_session_id."
        );
        assert!(errors(parse_new_entry(
            EntryType::User,
            br#"{"reference_session_id": "../etc"}"#
        ))
        .get("reference_session_id")
        .is_some());
        let huge = format!(
            r#"{{"value": "u", "comment": "{}"}}"#,
            "c".repeat(MAX_TEXT + 1)
        );
        assert!(errors(parse_new_entry(EntryType::User, huge.as_bytes()))
            .get("comment")
            .is_some());
        assert!(
            errors(parse_new_entry(EntryType::IpAddress, br#"{"value": 42}"#))
                .get("value")
                .is_some()
        );
    }
}
