//! Didit-compatible webhook signing and verification.
//!
//! Reproduces Didit's server-side signer byte for byte (contract §2.3) and the community
//! `didit-sdk` verifier (§2.4). Pure computation: no I/O and no clock (time is passed in),
//! so it runs unchanged on wasm32 (Cloudflare Workers).
//!
//! ```
//! use facegate_webhook::{sign, verify};
//! let payload = serde_json::json!({
//!     "session_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
//!     "status": "Approved",
//!     "webhook_type": "status.updated",
//! });
//! let now = 1_774_970_000;
//! let signed = sign(&payload, "secret", now)?;
//! // POST signed.body with signed.headers …
//! let headers: Vec<(String, String)> =
//!     signed.headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
//! verify(signed.body.as_bytes(), &headers, "secret", now, None)?;
//! # Ok::<(), facegate_webhook::WebhookError>(())
//! ```

mod canonical;
mod error;
mod node;
mod parse;
mod pyfmt;
mod sign;
mod verify;

pub use canonical::{canonical_v1, canonical_v2};
pub use error::WebhookError;
pub use sign::{
    hmac_sha256_hex, sign, simple_message, SignedWebhook, CONTENT_TYPE_JSON, DIDIT_USER_AGENT,
    HEADER_CONTENT_TYPE, HEADER_SIGNATURE, HEADER_SIGNATURE_SIMPLE, HEADER_SIGNATURE_V2,
    HEADER_TIMESTAMP,
};
pub use verify::{verify, verify_with, VerifyOptions, DEFAULT_MAX_AGE_SECONDS};
