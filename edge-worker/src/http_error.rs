//! Errors as Didit returns them (Django REST Framework bodies, contract 3.1), mapped to HTTP in
//! this one place.

use serde_json::{json, Value};
use worker::{Headers, Response, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct HttpError {
    pub status: u16,
    pub body: Value,
}

impl HttpError {
    pub fn not_found() -> Self {
        HttpError { status: 404, body: json!({"detail": "Not found."}) }
    }

    /// Didit answers a missing key with 403 and this exact text (contract 1.1).
    pub fn missing_key() -> Self {
        HttpError { status: 403, body: json!({"detail": "You do not have permission to perform this action."}) }
    }

    pub fn bad_key() -> Self {
        HttpError { status: 401, body: json!({"detail": "Invalid API key."}) }
    }

    /// A field-keyed validation error: `{"field": ["message"]}`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        HttpError { status: 400, body: json!({ field: [message.into()] }) }
    }

    pub fn too_large(field: &str, message: impl Into<String>) -> Self {
        HttpError { status: 413, body: json!({ field: [message.into()] }) }
    }

    /// Our fault: the message is logged, the client gets no internals.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        worker::console_error!("{context}: {err}");
        HttpError { status: 500, body: json!({"detail": "Internal server error."}) }
    }

    pub fn into_response(self) -> Result<Response> {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        Ok(Response::from_json(&self.body)?.with_status(self.status).with_headers(headers))
    }
}
