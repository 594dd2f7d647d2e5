use thiserror::Error;

/// Everything that can go wrong while canonicalising, signing or verifying a webhook.
///
/// Verification failures are split by cause so a receiver can log *why* a delivery was
/// refused; all of them mean "reject" (the community SDK collapses them into `False`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    #[error("webhook payload must be a JSON object")]
    NotAnObject,
    #[error("webhook body is not valid UTF-8")]
    InvalidUtf8,
    #[error("webhook body is not valid JSON at byte {offset}: {reason}")]
    InvalidJson { offset: usize, reason: &'static str },
    #[error("JSON nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("integer literal has more than {0} digits (Python refuses to convert it)")]
    IntegerTooLong(usize),
    #[error("number is not finite (NaN/Infinity cannot be serialised)")]
    NonFiniteNumber,
    #[error("string contains an unpaired UTF-16 surrogate escape, which has no UTF-8 form")]
    LoneSurrogate,
    #[error("field `{0}` is an object or array; it cannot be used in X-Signature-Simple")]
    UnsupportedSimpleField(&'static str),
    #[error("webhook secret is empty")]
    EmptySecret,
    #[error("neither X-Signature-V2 nor X-Signature header is present")]
    MissingSignature,
    #[error(
        "signed timestamp (body `timestamp`, else `created_at`) is missing or not a JSON integer"
    )]
    InvalidTimestamp,
    #[error("timestamp {timestamp} is more than {max_age_seconds}s away from now ({now})")]
    StaleTimestamp {
        timestamp: String,
        now: i64,
        max_age_seconds: i64,
    },
    #[error("X-Timestamp header does not equal the body's signed timestamp")]
    TimestampMismatch,
    #[error("no signature header matches the body")]
    SignatureMismatch,
}
