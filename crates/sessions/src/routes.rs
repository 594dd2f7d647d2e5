//! Authentication and path → endpoint, so the adapter's router is one `match`.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::types::Application;

/// Where applications come from (configuration, a D1 table loaded at startup, …).
pub trait Directory {
    fn application(&self, id: &str) -> Option<&Application>;
    fn by_api_key_hash(&self, sha256_hex: &str) -> Option<&Application>;
}

impl Directory for [Application] {
    fn application(&self, id: &str) -> Option<&Application> {
        self.iter().find(|a| a.id == id)
    }
    fn by_api_key_hash(&self, hash: &str) -> Option<&Application> {
        self.iter().find(|a| {
            a.api_key_hashes
                .iter()
                .any(|h| h.eq_ignore_ascii_case(hash))
        })
    }
}

impl Directory for Vec<Application> {
    fn application(&self, id: &str) -> Option<&Application> {
        self.as_slice().application(id)
    }
    fn by_api_key_hash(&self, hash: &str) -> Option<&Application> {
        self.as_slice().by_api_key_hash(hash)
    }
}

/// What `Application::api_key_hashes` holds for a key.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `x-api-key` → application. No key → 403, unknown key → 401 (§1.1). Keys are compared
/// by hash, so the lookup leaks nothing about stored keys through timing.
pub fn authenticate<'a, D: Directory + ?Sized>(
    dir: &'a D,
    headers: &[(String, String)],
) -> Result<&'a Application, ApiError> {
    let key = header(headers, "x-api-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(ApiError::MissingApiKey)?;
    dir.by_api_key_hash(&hash_api_key(key))
        .ok_or(ApiError::InvalidApiKey)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    CreateSession,
    ListSessions,
    BatchDelete,
    GetSession(String),
    Decision(String),
    UpdateStatus(String),
    DeleteSession(String),
    /// Recognised so the adapter can answer it; the core renders no PDF.
    GeneratePdf(String),
}

/// Matches a path under the API base (`/v3` prefix optional, trailing slash optional:
/// Didit redirects slash-less forms, which clients never follow, so serving both is safe).
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = path.strip_prefix("/v3").unwrap_or(path);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let m = method.to_ascii_uppercase();
    let only = |allowed: &'static str, r: Route| {
        if m == allowed {
            Ok(r)
        } else {
            Err(ApiError::MethodNotAllowed {
                method: m.clone(),
                allow: vec![allowed, "OPTIONS"],
            })
        }
    };
    match segs.as_slice() {
        ["session"] => only("POST", Route::CreateSession),
        ["sessions"] => only("GET", Route::ListSessions),
        ["sessions", "delete"] => only("POST", Route::BatchDelete),
        ["session", id] => only("GET", Route::GetSession((*id).to_owned())),
        ["session", id, "decision"] => only("GET", Route::Decision((*id).to_owned())),
        ["session", id, "update-status"] => only("PATCH", Route::UpdateStatus((*id).to_owned())),
        ["session", id, "delete"] => only("DELETE", Route::DeleteSession((*id).to_owned())),
        ["session", id, "generate-pdf"] => only("GET", Route::GeneratePdf((*id).to_owned())),
        _ => Err(ApiError::NotFound),
    }
}

impl Route {
    /// Didit's per-minute budget for this endpoint (§3.4: 60 s sliding window per key). The
    /// adapter counts (it owns the shared state); the core only knows the numbers and renders
    /// the 429 (`ApiError::RateLimited`).
    pub fn rate_limit_per_minute(&self) -> u32 {
        match self {
            Route::CreateSession => 600,
            Route::Decision(_) => 100,
            Route::GeneratePdf(_) => 50,
            Route::ListSessions | Route::GetSession(_) => 600,
            Route::BatchDelete | Route::UpdateStatus(_) | Route::DeleteSession(_) => 300,
        }
    }
}

/// A response for the adapter to send as is.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `None` for 204.
    pub body: Option<Value>,
}

impl HttpResponse {
    pub fn json(status: u16, body: Value) -> Self {
        HttpResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body),
        }
    }

    pub fn no_content() -> Self {
        HttpResponse {
            status: 204,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn body_bytes(&self) -> Vec<u8> {
        self.body
            .as_ref()
            .map(|b| b.to_string().into_bytes())
            .unwrap_or_default()
    }
}

impl From<ApiError> for HttpResponse {
    fn from(e: ApiError) -> Self {
        let (status, headers, body) = e.to_http();
        HttpResponse {
            status,
            headers,
            body: Some(body),
        }
    }
}
