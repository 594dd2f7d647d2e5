//! facegate's Didit-compatible Sessions API core (contract: shared/spec/didit-v3-contract.md).
//!
//! Pure: requests come in as bytes, responses go out as `(status, headers, JSON)`, and the
//! outside world (storage, time, randomness) is reached only through the ports in `store`.
//! The Cloudflare Worker is a thin adapter that implements `Store` over D1, runs the face
//! pipeline between `begin_capture` and `finish_capture`, and sends the webhook outbox.

pub mod active;
pub mod billing;
pub mod branding;
pub mod capture;
pub mod cipher;
pub mod console;
pub mod deliveries;
pub mod destinations;
pub mod error;
mod escalation;
pub mod frames;
pub mod hosted;
pub mod idempotency;
pub mod images;
pub mod lists;
pub mod pdf;
pub mod render;
pub mod reviews;
pub mod routes;
pub mod service;
pub mod state;
pub mod store;
pub mod time;
pub mod types;
pub mod usage;
pub mod user_records;
pub mod users;
pub mod validate;
pub mod visits;
pub mod workflows;

#[cfg(any(test, feature = "testing"))]
pub mod memory;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_active;
#[cfg(test)]
mod tests_capture_input;
#[cfg(test)]
mod tests_console;
#[cfg(test)]
mod tests_console_roles;
#[cfg(test)]
mod tests_console_workflows;
#[cfg(test)]
mod tests_escalation;
#[cfg(test)]
mod tests_reviews;
#[cfg(test)]
mod tests_second_factor;
#[cfg(test)]
mod tests_store;
#[cfg(test)]
mod tests_user_records;
#[cfg(test)]
mod tests_users;

pub use active::StepContext;
pub use capture::{
    CaptureContext, CaptureEvidence, CaptureKind, CaptureOutcome, CaptureResult, ChallengeAnswer,
};
pub use cipher::{AesGcmCipher, CipherError, TemplateCipher};
pub use deliveries::{sign_for_send, SendResult};
pub use destinations::{check_url, UrlPolicy};
pub use error::{ApiError, FieldErrors};
pub use frames::{parse_frame_labels, FrameLabels, MAX_FRAMES, MAX_FRAME_BYTES};
pub use idempotency::{Decision as IdempotencyDecision, IdempotencyRecord, Replay};
pub use render::Urls;
pub use routes::{
    authenticate, authorize_operator, hash_api_key, resolve, route, Auth, Budget, Directory,
    HttpResponse, Matched, Route, RouteSpec, ROUTES,
};
pub use service::Service;
pub use state::{transition, Event};
pub use store::{
    ActiveRow, Claim, Clock, DayCount, Ids, RandomnessUnavailable, SessionFilter, Store,
    StoreError, Write,
};
pub use types::*;
#[cfg(test)]
mod tests_workflows;
#[cfg(test)]
mod tests_visits;
