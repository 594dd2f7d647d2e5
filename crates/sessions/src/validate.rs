//! Request bodies and query strings → typed requests, with DRF-style 400 bodies (§3.1).
//! Every problem found in one body is reported at once, as DRF serializers do.

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::routes::HttpResponse;

use crate::error::{ApiError, FieldErrors};
use crate::store::SessionFilter;
use crate::types::{Application, CallbackMethod, ResubmitNode, SessionStatus, WorkflowStatus};

/// Whole-body cap: a 2 MB portrait is ~2.8 MB of base64 plus the rest of the JSON.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Decoded `portrait_image` cap (docs: 2 MB).
pub const MAX_PORTRAIT_BYTES: usize = 2 * 1024 * 1024;

pub const REQUIRED: &str = "This field is required.";
pub const NOT_NULL: &str = "This field may not be null.";
pub const NOT_BLANK: &str = "This field may not be blank.";
pub const NOT_STRING: &str = "Not a valid string.";
pub const NOT_UUID: &str = "Must be a valid UUID.";
pub const NOT_BOOL: &str = "Must be a valid boolean.";
pub const NOT_URL: &str = "Enter a valid URL.";
pub const NOT_EMAIL: &str = "Enter a valid email address.";
pub const NOT_INT: &str = "A valid integer is required.";
pub const NOT_DATETIME: &str = "Enter a valid date/time.";
pub const NOT_PORTRAIT_B64: &str = "Invalid image: portrait_image must be a base64-encoded image.";
pub const PORTRAIT_TOO_LARGE: &str = "Image size exceeds the maximum allowed size of 2 MB.";

/// Didit's UI languages as the community SDK lists them (§1.15).
pub const LANGUAGES: [&str; 56] = [
    "en", "ar", "bg", "bn", "bs", "ca", "cnr", "cs", "da", "de", "el", "es", "et", "eu", "fa",
    "fi", "fr", "gl", "he", "hi", "hr", "hu", "hy", "id", "it", "ja", "ka", "kk", "ko", "ky", "lt",
    "lv", "mk", "mn", "ms", "nl", "no", "pl", "pt-BR", "pt", "ro", "ru", "sk", "sl", "so", "sq",
    "sr", "sv", "th", "tr", "uk", "uz", "vi", "zh-CN", "zh-TW", "zh",
];

/// update-status `email_language`: the UI list minus the codes its docs lack.
fn is_email_language(code: &str) -> bool {
    LANGUAGES.contains(&code) && !["eu", "gl", "cnr", "mn", "bs", "kk", "sq", "ky"].contains(&code)
}

pub(crate) fn choice_error(v: &str) -> String {
    format!("\"{v}\" is not a valid choice.")
}

/// A required choice field: absent → required, null → not null, a string outside `choices` →
/// not a valid choice. What a value of another type gets is the caller's (`non_string`): the
/// endpoints answer it differently.
pub(crate) fn required_choice<T: Copy>(
    m: &Map<String, Value>,
    key: &str,
    choices: &[(&str, T)],
    non_string: fn(&Value) -> String,
    e: &mut FieldErrors,
) -> Option<T> {
    match m.get(key) {
        None => e.add(key, REQUIRED),
        Some(Value::Null) => e.add(key, NOT_NULL),
        Some(Value::String(s)) => match choices.iter().find(|(name, _)| name == s) {
            Some((_, v)) => return Some(*v),
            None => e.add(key, choice_error(s)),
        },
        Some(other) => e.add(key, non_string(other)),
    }
    None
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Raw bytes → JSON object. An empty body counts as `{}` (DRF then reports required fields).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => {
            let mut e = FieldErrors::new();
            e.add(
                "non_field_errors",
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    type_name(&other)
                ),
            );
            Err(ApiError::Validation(e))
        }
        Err(err) => Err(ApiError::BadRequest(format!("JSON parse error - {err}"))),
    }
}

/// Optional string field: absent or null → None; blank → error unless `allow_blank`.
pub(crate) fn opt_str(
    m: &Map<String, Value>,
    key: &str,
    allow_blank: bool,
    e: &mut FieldErrors,
) -> Option<String> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() && !allow_blank => {
            e.add(key, NOT_BLANK);
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        // DRF CharField coerces numbers to text; a list/object/bool is refused.
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            e.add(key, NOT_STRING);
            None
        }
    }
}

pub(crate) fn opt_bool(m: &Map<String, Value>, key: &str, e: &mut FieldErrors) -> Option<bool> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        // DRF BooleanField accepts the usual text spellings too.
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => {
                e.add(key, NOT_BOOL);
                None
            }
        },
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Some(true),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Some(false),
        Some(_) => {
            e.add(key, NOT_BOOL);
            None
        }
    }
}

pub fn is_uuid(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let dashed_ok = s.len() == 36
        && s.char_indices()
            .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
    (dashed_ok || s.len() == 32) && hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn is_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn is_alpha3(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// Decoded portrait, handed to the adapter to run the pipeline on. Its bytes never reach a
/// `Session`; only the resulting (encrypted) embedding is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct PortraitImage(pub Vec<u8>);

impl std::fmt::Debug for PortraitImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PortraitImage({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    pub workflow_id: String,
    pub vendor_data: Option<String>,
    pub callback: Option<String>,
    pub callback_method: CallbackMethod,
    pub metadata: Option<Value>,
    pub language: Option<String>,
    pub contact_details: Option<Value>,
    pub expected_details: Option<Value>,
    pub portrait: Option<PortraitImage>,
    /// facegate's `step_up`: this session's changes to the workflow's step-up rules.
    pub step_up: Option<Value>,
}

/// `POST /session/` body. Unknown keys (e.g. the SDK-only `sandbox_scenario`) are ignored,
/// as DRF serializers ignore them.
pub fn parse_create(app: &Application, body: &[u8]) -> Result<CreateRequest, ApiError> {
    let m = parse_object(body)?;
    let mut e = FieldErrors::new();

    let workflow_id = match m.get("workflow_id") {
        None => {
            e.add("workflow_id", REQUIRED);
            None
        }
        Some(Value::Null) => {
            e.add("workflow_id", NOT_NULL);
            None
        }
        Some(Value::String(s)) if !is_uuid(s.trim()) => {
            e.add("workflow_id", NOT_UUID);
            None
        }
        Some(Value::String(s)) => match app.workflow(s.trim()) {
            Some(w) if w.status == WorkflowStatus::Draft => {
                e.add(
                    "workflow_id",
                    "This workflow is a draft: publish it before starting sessions.",
                );
                None
            }
            Some(w) => Some(w.id.clone()),
            None => {
                e.add(
                    "workflow_id",
                    format!("Invalid pk \"{}\" - object does not exist.", s.trim()),
                );
                None
            }
        },
        Some(_) => {
            e.add("workflow_id", NOT_UUID);
            None
        }
    };

    let vendor_data = opt_str(&m, "vendor_data", false, &mut e);
    if vendor_data
        .as_ref()
        .is_some_and(|v| v.chars().count() > 1000)
    {
        e.add(
            "vendor_data",
            "Ensure this field has no more than 1000 characters.",
        );
    }

    let callback = opt_str(&m, "callback", true, &mut e).filter(|s| !s.is_empty());
    if callback.as_deref().is_some_and(|c| !is_url(c)) {
        e.add("callback", NOT_URL);
    }

    let callback_method = match opt_str(&m, "callback_method", true, &mut e) {
        None => CallbackMethod::default(),
        Some(s) if s.is_empty() => CallbackMethod::default(),
        Some(s) => CallbackMethod::parse(&s).unwrap_or_else(|| {
            e.add("callback_method", choice_error(&s));
            CallbackMethod::default()
        }),
    };

    let language = opt_str(&m, "language", true, &mut e).filter(|s| !s.is_empty());
    if let Some(l) = &language {
        if !LANGUAGES.contains(&l.as_str()) {
            e.add("language", choice_error(l));
        }
    }

    let metadata = m.get("metadata").and_then(normalise_metadata);
    let contact_details = parse_contact(&m, &mut e);
    let expected_details = parse_expected(&m, &mut e);
    let portrait = parse_portrait(&m, &mut e);
    let step_up = match m.get("step_up") {
        None | Some(Value::Null) => None,
        Some(v) => match crate::visits::rules_for(&Default::default(), Some(v)) {
            Ok(_) => Some(v.clone()),
            Err(why) => {
                e.add(
                    "step_up",
                    format!("Expected an object of step-up rules ({why})."),
                );
                None
            }
        },
    };
    if let Some(ip) = metadata
        .as_ref()
        .and_then(|m| m.get("from_ip"))
        .and_then(Value::as_str)
    {
        if facegate_signals::parse_prefix(ip.trim()).is_none() {
            e.add("metadata", "from_ip: Enter a valid IPv4 or IPv6 address.");
        }
    }

    e.into_result()?;
    Ok(CreateRequest {
        workflow_id: workflow_id.unwrap_or_default(),
        vendor_data,
        callback,
        callback_method,
        metadata,
        language,
        contact_details,
        expected_details,
        portrait,
        step_up,
    })
}

/// Metadata is any JSON. A string holding a JSON object (what the WordPress plugin sends)
/// is stored as that object: webhooks must carry an object for the PY SDK (§1.6), and the
/// plugin reads either form back.
pub fn normalise_metadata(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(obj @ Value::Object(_)) => Some(obj),
            _ => Some(v.clone()),
        },
        other => Some(other.clone()),
    }
}

fn object_field<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    e: &mut FieldErrors,
) -> Option<&'a Map<String, Value>> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(other) => {
            e.add(
                key,
                format!(
                    "Expected a dictionary of items but got type \"{}\".",
                    type_name(other)
                ),
            );
            None
        }
    }
}

fn parse_contact(m: &Map<String, Value>, e: &mut FieldErrors) -> Option<Value> {
    let o = object_field(m, "contact_details", e)?;
    let mut inner = FieldErrors::new();
    if let Some(email) = opt_str(o, "email", true, &mut inner).filter(|s| !s.is_empty()) {
        if !is_email(&email) {
            inner.add("email", NOT_EMAIL);
        }
    }
    opt_bool(o, "send_notification_emails", &mut inner);
    if let Some(l) = opt_str(o, "email_lang", true, &mut inner).filter(|s| !s.is_empty()) {
        if !LANGUAGES.contains(&l.as_str()) {
            inner.add("email_lang", choice_error(&l));
        }
    }
    if let Some(p) = opt_str(o, "phone", true, &mut inner).filter(|s| !s.is_empty()) {
        if !is_e164(&p) {
            inner.add("phone", "Enter a valid phone number in E.164 format.");
        }
    }
    let ok = inner.is_empty();
    e.nest("contact_details", inner);
    ok.then(|| Value::Object(o.clone()))
}

const DOCUMENT_TYPES: [&str; 7] = ["P", "ID", "DL", "RP", "HIC", "TC", "SSC"];

fn parse_expected(m: &Map<String, Value>, e: &mut FieldErrors) -> Option<Value> {
    let o = object_field(m, "expected_details", e)?;
    let mut out = o.clone();
    let mut inner = FieldErrors::new();
    if let Some(d) = opt_str(o, "date_of_birth", true, &mut inner).filter(|s| !s.is_empty()) {
        if crate::time::parse_date(&d).is_none() {
            inner.add(
                "date_of_birth",
                "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
            );
        }
    }
    if let Some(g) = opt_str(o, "gender", true, &mut inner) {
        if g != "M" && g != "F" {
            inner.add("gender", choice_error(&g));
        }
    }
    for key in ["nationality", "country", "id_country", "poa_country"] {
        if let Some(c) = opt_str(o, key, true, &mut inner).filter(|s| !s.is_empty()) {
            if !is_alpha3(&c.to_ascii_uppercase()) {
                inner.add(key, "Enter a valid ISO 3166-1 alpha-3 country code.");
            } else {
                out.insert(key.to_owned(), Value::String(c.to_ascii_uppercase()));
            }
        }
    }
    if let Some(ip) = opt_str(o, "ip_address", true, &mut inner).filter(|s| !s.is_empty()) {
        // An address, or a block for a user behind a changing carrier address.
        match facegate_signals::parse_prefix(ip.trim()) {
            Some(_) => {
                out.insert("ip_address".into(), Value::String(ip.trim().to_owned()));
            }
            None => inner.add("ip_address", "Enter a valid IPv4 or IPv6 address."),
        }
    }
    match o.get("expected_document_types") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let mut seen: Vec<Value> = Vec::new();
            for it in items {
                match it.as_str().map(|s| s.trim().to_ascii_uppercase()) {
                    Some(s) if DOCUMENT_TYPES.contains(&s.as_str()) => {
                        if !seen.iter().any(|x| x.as_str() == Some(s.as_str())) {
                            seen.push(Value::String(s));
                        }
                    }
                    Some(s) => inner.add("expected_document_types", choice_error(&s)),
                    None => inner.add("expected_document_types", NOT_STRING),
                }
            }
            out.insert("expected_document_types".into(), Value::Array(seen));
        }
        Some(other) => inner.add(
            "expected_document_types",
            format!(
                "Expected a list of items but got type \"{}\".",
                type_name(other)
            ),
        ),
    }
    let ok = inner.is_empty();
    e.nest("expected_details", inner);
    ok.then_some(Value::Object(out))
}

fn parse_portrait(m: &Map<String, Value>, e: &mut FieldErrors) -> Option<PortraitImage> {
    let s = opt_str(m, "portrait_image", true, e).filter(|s| !s.trim().is_empty())?;
    // Data URLs are common from browsers; the prefix carries no image bytes.
    let payload = match s.split_once(";base64,") {
        Some((head, rest)) if head.starts_with("data:") => rest,
        _ => s.as_str(),
    };
    if payload.starts_with("http://") || payload.starts_with("https://") {
        // Fetching caller-chosen URLs from the server would be an SSRF hole.
        e.add(
            "portrait_image",
            "Image URLs are not supported; send the image as base64.",
        );
        return None;
    }
    let compact: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    // Refuse before decoding so a huge string costs no allocation beyond the body.
    if compact.len() / 4 * 3 > MAX_PORTRAIT_BYTES + 2 {
        e.add("portrait_image", PORTRAIT_TOO_LARGE);
        return None;
    }
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    match engine.decode(compact.as_bytes()) {
        Ok(bytes) if bytes.is_empty() => {
            e.add("portrait_image", NOT_PORTRAIT_B64);
            None
        }
        Ok(bytes) if bytes.len() > MAX_PORTRAIT_BYTES => {
            e.add("portrait_image", PORTRAIT_TOO_LARGE);
            None
        }
        Ok(bytes) => Some(PortraitImage(bytes)),
        Err(_) => {
            e.add("portrait_image", NOT_PORTRAIT_B64);
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualStatus {
    Approved,
    Declined,
    Resubmitted,
    /// Only a review may send a session back to review (§1.11); `update-status` refuses it.
    InReview,
}

impl ManualStatus {
    pub fn status(self) -> SessionStatus {
        match self {
            ManualStatus::Approved => SessionStatus::Approved,
            ManualStatus::Declined => SessionStatus::Declined,
            ManualStatus::Resubmitted => SessionStatus::Resubmitted,
            ManualStatus::InReview => SessionStatus::InReview,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpdateStatusRequest {
    pub new_status: ManualStatus,
    pub comment: Option<String>,
    /// `None`: resubmit every node of the workflow.
    pub nodes_to_resubmit: Option<Vec<ResubmitNode>>,
    pub send_email: bool,
    pub email_address: Option<String>,
    pub email_language: String,
}

/// `PATCH /session/{id}/update-status/` body (§1.8).
pub fn parse_update_status(body: &[u8]) -> Result<UpdateStatusRequest, ApiError> {
    let m = parse_object(body)?;
    let mut e = FieldErrors::new();
    let new_status = required_choice(
        &m,
        "new_status",
        &[
            ("Approved", ManualStatus::Approved),
            ("Declined", ManualStatus::Declined),
            ("Resubmitted", ManualStatus::Resubmitted),
        ],
        |other| choice_error(&other.to_string()),
        &mut e,
    );
    let comment = opt_str(&m, "comment", true, &mut e);
    let nodes_to_resubmit = parse_nodes(&m, &mut e);
    let send_email = opt_bool(&m, "send_email", &mut e).unwrap_or(false);
    let email_address = opt_str(&m, "email_address", true, &mut e).filter(|s| !s.is_empty());
    match (&email_address, send_email) {
        (Some(a), _) if !is_email(a) => e.add("email_address", NOT_EMAIL),
        (None, true) => e.add(
            "email_address",
            "This field is required when send_email is true.",
        ),
        _ => {}
    }
    let email_language = opt_str(&m, "email_language", true, &mut e)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "en".into());
    if !is_email_language(&email_language) {
        e.add("email_language", choice_error(&email_language));
    }
    e.into_result()?;
    Ok(UpdateStatusRequest {
        new_status: new_status.unwrap_or(ManualStatus::Declined),
        comment,
        nodes_to_resubmit,
        send_email,
        email_address,
        email_language,
    })
}

/// Objects `{node_id, feature}` (PY, docs) or plain strings (MCP); a string may also use the
/// PY CLI's `node:FEATURE` shorthand. MCP may send the whole array as a JSON string.
fn parse_nodes(m: &Map<String, Value>, e: &mut FieldErrors) -> Option<Vec<ResubmitNode>> {
    const KEY: &str = "nodes_to_resubmit";
    let decoded;
    let items = match m.get(KEY) {
        None | Some(Value::Null) => return None,
        Some(Value::Array(a)) => a,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => {
                decoded = a;
                &decoded
            }
            _ => {
                e.add(KEY, "Expected a list of items but got type \"str\".");
                return None;
            }
        },
        Some(other) => {
            e.add(
                KEY,
                format!(
                    "Expected a list of items but got type \"{}\".",
                    type_name(other)
                ),
            );
            return None;
        }
    };
    let mut nodes = Vec::new();
    for it in items {
        let node = match it {
            Value::String(s) => match s.split_once(':') {
                Some((n, f)) => Some((n.trim().to_owned(), Some(f.trim().to_ascii_uppercase()))),
                None => Some((s.trim().to_owned(), None)),
            },
            Value::Object(o) => o.get("node_id").and_then(Value::as_str).map(|n| {
                (
                    n.trim().to_owned(),
                    o.get("feature")
                        .and_then(Value::as_str)
                        .map(|f| f.trim().to_ascii_uppercase()),
                )
            }),
            _ => None,
        };
        match node {
            Some((n, feature)) if !n.is_empty() => nodes.push(ResubmitNode {
                node_id: n,
                feature,
            }),
            _ => {
                e.add(
                    KEY,
                    "Each item must be a node id or an object with node_id.",
                );
                return None;
            }
        }
    }
    Some(nodes)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchDeleteRequest {
    pub session_numbers: Vec<i64>,
    pub delete_all: bool,
}

/// `POST /sessions/delete/` body (§1.9).
pub fn parse_batch_delete(body: &[u8]) -> Result<BatchDeleteRequest, ApiError> {
    let m = parse_object(body)?;
    let mut e = FieldErrors::new();
    let delete_all = opt_bool(&m, "delete_all", &mut e).unwrap_or(false);
    let mut session_numbers = Vec::new();
    match m.get("session_numbers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, it) in items.iter().enumerate() {
                match it
                    .as_i64()
                    .or_else(|| it.as_str().and_then(|s| s.trim().parse().ok()))
                {
                    Some(n) => session_numbers.push(n),
                    None => {
                        e.add("session_numbers", format!("Item {i}: {NOT_INT}"));
                    }
                }
            }
        }
        Some(other) => e.add(
            "session_numbers",
            format!(
                "Expected a list of items but got type \"{}\".",
                type_name(other)
            ),
        ),
    }
    e.into_result()?;
    if !delete_all && session_numbers.is_empty() {
        return Err(ApiError::BadRequest(
            "Provide a non-empty session_numbers list or delete_all: true.".into(),
        ));
    }
    Ok(BatchDeleteRequest {
        session_numbers,
        delete_all,
    })
}

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: SessionFilter,
    pub limit: u64,
    pub offset: u64,
    /// The raw query pairs, kept to rebuild `next`/`previous` with every other param intact.
    pub raw: Vec<(String, String)>,
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn split_query(query: &str) -> Vec<(String, String)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

/// DRF's `_positive_int(strict=True, cutoff=max)`; anything unusable falls back to the
/// default instead of failing, as DRF's paginator does.
pub(crate) fn positive_int(
    v: Option<&str>,
    default: u64,
    strict: bool,
    cutoff: Option<u64>,
) -> u64 {
    match v.and_then(|s| s.trim().parse::<i64>().ok()) {
        Some(n) if n < 0 || (strict && n == 0) => default,
        Some(n) => {
            let n = n as u64;
            cutoff.map_or(n, |c| n.min(c))
        }
        None => default,
    }
}

/// `GET /sessions/` query string (§1.7).
pub fn parse_list(query: &str) -> Result<ListQuery, ApiError> {
    let raw = split_query(query);
    let get = |k: &str| {
        raw.iter()
            .rev()
            .find(|(key, _)| percent_decode(key) == k)
            .map(|(_, v)| percent_decode(v))
            .filter(|v| !v.is_empty())
    };
    let mut e = FieldErrors::new();
    let mut filter = SessionFilter::default();
    if let Some(s) = get("status") {
        match SessionStatus::parse_lenient(&s) {
            Some(st) => filter.status = Some(st),
            None => e.add(
                "status",
                format!("Select a valid choice. {s} is not one of the available choices."),
            ),
        }
    }
    if let Some(k) = get("session_kind") {
        match k.as_str() {
            "user" | "all" => {}
            "business" => filter.none = true,
            _ => e.add(
                "session_kind",
                format!("Select a valid choice. {k} is not one of the available choices."),
            ),
        }
    }
    filter.vendor_data = get("vendor_data");
    filter.workflow_id = get("workflow_id");
    filter.search = get("search")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    filter.country = get("country").map(|c| c.trim().to_ascii_uppercase());
    for (key, slot) in [
        ("date_from", &mut filter.created_from),
        ("date_to", &mut filter.created_to),
    ] {
        if let Some(v) = get(key) {
            match crate::time::parse_datetime(&v) {
                Some(t) => *slot = Some(t),
                None => e.add(key, NOT_DATETIME),
            }
        }
    }
    // A bare date as upper bound means the whole day.
    if let (Some(to), Some(v)) = (filter.created_to.as_mut(), get("date_to")) {
        if v.trim().len() == 10 {
            *to += 86_399;
        }
    }
    if let (Some(from), Some(to)) = (filter.created_from, filter.created_to) {
        if from > to {
            e.add(
                "date_to",
                "date_to must be later than or equal to date_from.",
            );
        }
    }
    e.into_result()?;
    Ok(ListQuery {
        filter,
        limit: positive_int(
            get("limit").as_deref(),
            DEFAULT_LIMIT,
            true,
            Some(MAX_LIMIT),
        ),
        offset: positive_int(get("offset").as_deref(), 0, false, None),
        raw,
    })
}

/// The last value of a query parameter, decoded; blank is absent.
pub(crate) fn query_get(raw: &[(String, String)], k: &str) -> Option<String> {
    raw.iter()
        .rev()
        .find(|(key, _)| percent_decode(key) == k)
        .map(|(_, v)| percent_decode(v))
        .filter(|v| !v.trim().is_empty())
}

/// `{count, next, previous, results}` with absolute links keeping the other parameters.
pub(crate) fn page(
    api_base: &str,
    path: &str,
    raw: &[(String, String)],
    (offset, limit, count): (u64, u64, u64),
    results: Vec<Value>,
) -> HttpResponse {
    let link = |o: Option<u64>| {
        let mut pairs: Vec<String> = raw
            .iter()
            .filter(|(k, _)| k != "limit" && k != "offset")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.push(format!("limit={limit}"));
        if let Some(o) = o {
            pairs.push(format!("offset={o}"));
        }
        format!(
            "{}{path}?{}",
            api_base.trim_end_matches('/'),
            pairs.join("&")
        )
    };
    let next = (offset + limit < count).then(|| link(Some(offset + limit)));
    let previous = (offset > 0).then(|| link((offset > limit).then(|| offset - limit)));
    HttpResponse::json(
        200,
        json!({ "count": count, "next": next, "previous": previous, "results": results }),
    )
}

/// `(offset, limit)` of a paged list, as DRF's limit/offset pagination reads them.
pub(crate) fn page_window(raw: &[(String, String)]) -> (u64, u64) {
    let limit = positive_int(
        query_get(raw, "limit").as_deref(),
        DEFAULT_LIMIT,
        true,
        Some(MAX_LIMIT),
    );
    let offset = positive_int(query_get(raw, "offset").as_deref(), 0, false, None);
    (offset, limit)
}

