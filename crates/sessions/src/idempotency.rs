//! `Idempotency-Key` on the API's mutating requests (contract 3.3, 3.5).
//!
//! didit-sdk retries POST/PATCH that carry the header (on 408/429/5xx and dropped
//! connections), so a create whose answer was lost would otherwise make a second session. The
//! first 2xx answer for an (application, key) is kept for a day and replayed byte for byte; a
//! key reused for a different request is refused rather than silently replaying an answer to
//! something else. Errors are not kept: they changed nothing, so a retry may run again.

use sha2::{Digest, Sha256};

use crate::cipher::TemplateCipher;
use crate::error::ApiError;
use crate::routes::{header, HttpResponse};
use crate::service::Service;
use crate::store::{Clock, Ids, Store};

pub const HEADER: &str = "Idempotency-Key";
/// Set on a replayed answer so a client (or an operator reading logs) can tell.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";
/// How long a key holds its answer: the SDK's retries are over within minutes, and a day
/// covers a client re-sending after an outage without keeping bodies indefinitely.
pub const TTL_SECONDS: i64 = 24 * 60 * 60;
pub const MAX_KEY_LEN: usize = 255;

pub const MSG_BAD_KEY: &str = "Idempotency-Key must be 1 to 255 printable ASCII characters.";
pub const MSG_KEY_REUSED: &str =
    "This Idempotency-Key was already used for a different request; use a new key.";

/// One kept answer, keyed by (application_id, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub application_id: String,
    pub key: String,
    /// `fingerprint` of the request that produced the answer.
    pub request_hash: String,
    pub status: u16,
    /// The JSON body exactly as sent; empty for 204.
    pub body: String,
    pub created_at: i64,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// First time (or the earlier answer expired): run it, then `record` a 2xx.
    Execute,
    /// Send this instead of running the request again.
    Replay(Replay),
}

/// A stored answer ready to send: status, headers and the body bytes as first sent (kept as
/// text rather than re-serialised JSON so the replay is byte-identical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Only writes are keyed; reads are idempotent by nature, and keying them would store
/// every GET's body for nothing.
pub fn applies_to(method: &str) -> bool {
    ["POST", "PATCH", "DELETE"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// The request's key, if it is a keyed write: `Ok(None)` when the method is a read or the
/// header is absent (the request runs as if idempotency did not exist).
pub fn key_of(method: &str, headers: &[(String, String)]) -> Result<Option<String>, ApiError> {
    if !applies_to(method) {
        return Ok(None);
    }
    header(headers, HEADER).map(validate_key).transpose()
}

/// 1–255 printable ASCII characters (space to tilde), as the key is echoed into storage and
/// logs and must compare byte for byte.
pub fn validate_key(raw: &str) -> Result<String, ApiError> {
    let ok =
        (1..=MAX_KEY_LEN).contains(&raw.len()) && raw.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::BadRequest(MSG_BAD_KEY.into()))
    }
}

/// SHA-256 over method, path and body, each length-prefixed so no two different requests
/// concatenate to the same bytes. The method is upper-cased and the query string dropped:
/// writes take their input from the body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut h = Sha256::new();
    for part in [
        method.to_ascii_uppercase().as_bytes(),
        path.as_bytes(),
        body,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// Past its day: older than `TTL_SECONDS`, the same line the sweep draws.
pub fn is_expired(record: &IdempotencyRecord, now: i64) -> bool {
    now - record.created_at > TTL_SECONDS
}

/// Replay, refuse or run, given what is stored for the key.
pub fn decide(
    stored: Option<&IdempotencyRecord>,
    request_hash: &str,
    now: i64,
) -> Result<Decision, ApiError> {
    match stored {
        Some(r) if !is_expired(r, now) => {
            if r.request_hash == request_hash {
                Ok(Decision::Replay(replay(r)))
            } else {
                Err(ApiError::Conflict(MSG_KEY_REUSED.into()))
            }
        }
        _ => Ok(Decision::Execute),
    }
}

fn replay(r: &IdempotencyRecord) -> Replay {
    let mut headers = vec![(REPLAYED_HEADER.to_owned(), "true".to_owned())];
    if !r.body.is_empty() {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    Replay {
        status: r.status,
        headers,
        body: r.body.clone(),
    }
}

/// The record to keep for an answer, or `None` if it is not a success.
pub fn record(
    application_id: &str,
    key: &str,
    request_hash: &str,
    response: &HttpResponse,
    now: i64,
) -> Option<IdempotencyRecord> {
    (200..300)
        .contains(&response.status)
        .then(|| IdempotencyRecord {
            application_id: application_id.to_owned(),
            key: key.to_owned(),
            request_hash: request_hash.to_owned(),
            status: response.status,
            body: String::from_utf8_lossy(&response.body_bytes()).into_owned(),
            created_at: now,
        })
}

/// The same steps over the service's store and clock, so adapters only wire them in.
impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    /// Before running a keyed request.
    pub async fn idempotency_check(
        &self,
        application_id: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<Decision, ApiError> {
        let stored = self.store.get_idempotency(application_id, key).await?;
        decide(stored.as_ref(), request_hash, self.clock.now())
    }

    /// After running it: keeps a 2xx answer. Returns whether one was kept.
    pub async fn idempotency_record(
        &self,
        application_id: &str,
        key: &str,
        request_hash: &str,
        response: &HttpResponse,
    ) -> Result<bool, ApiError> {
        match record(
            application_id,
            key,
            request_hash,
            response,
            self.clock.now(),
        ) {
            Some(r) => {
                self.store.put_idempotency(&r).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Cron: forgets answers past their day. Returns how many were dropped.
    pub async fn purge_idempotency(&self) -> Result<u64, ApiError> {
        let cutoff = self.clock.now() - TTL_SECONDS;
        Ok(self.store.delete_idempotency_before(cutoff).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: i64 = 1_774_970_000;

    fn hs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn stored(hash: &str, at: i64) -> IdempotencyRecord {
        IdempotencyRecord {
            application_id: "app".into(),
            key: "k".into(),
            request_hash: hash.into(),
            status: 201,
            body: r#"{"session_id":"s1"}"#.into(),
            created_at: at,
        }
    }

    #[test]
    fn only_writes_with_the_header_are_keyed() {
        let with = hs(&[("idempotency-key", "abc")]);
        assert_eq!(key_of("POST", &with), Ok(Some("abc".into())));
        assert_eq!(key_of("patch", &with), Ok(Some("abc".into())));
        assert_eq!(key_of("DELETE", &with), Ok(Some("abc".into())));
        assert_eq!(key_of("GET", &with), Ok(None));
        assert_eq!(key_of("POST", &hs(&[("x-api-key", "k")])), Ok(None));
    }

    #[test]
    fn keys_must_be_short_printable_ascii() {
        assert!(validate_key("a").is_ok());
        assert!(validate_key("with space ~!").is_ok());
        assert!(validate_key(&"x".repeat(255)).is_ok());
        for bad in [
            String::new(),
            "x".repeat(256),
            "tab\there".into(),
            "é".into(),
            "nl\n".into(),
        ] {
            let e = validate_key(&bad).unwrap_err();
            assert_eq!(e.status(), 400);
            assert_eq!(e.to_http().2, json!({ "detail": MSG_BAD_KEY }));
        }
        // A bad key on a read is ignored: reads are not keyed at all.
        assert_eq!(key_of("GET", &hs(&[("Idempotency-Key", "")])), Ok(None));
        assert!(key_of("POST", &hs(&[("Idempotency-Key", "")])).is_err());
    }

    #[test]
    fn fingerprint_covers_method_path_and_body() {
        let a = fingerprint("POST", "/v3/session/", b"{}");
        assert_eq!(a.len(), 64);
        assert_eq!(a, fingerprint("post", "/v3/session/?x=1", b"{}"));
        assert_ne!(a, fingerprint("PATCH", "/v3/session/", b"{}"));
        assert_ne!(a, fingerprint("POST", "/v3/sessions/delete/", b"{}"));
        assert_ne!(a, fingerprint("POST", "/v3/session/", b"{ }"));
        // Length prefixes: moving bytes between parts changes the hash.
        assert_ne!(
            fingerprint("POST", "/a", b"b"),
            fingerprint("POST", "/ab", b"")
        );
    }

    #[test]
    fn same_request_replays_other_request_conflicts() {
        let h = fingerprint("POST", "/v3/session/", b"{}");
        assert_eq!(decide(None, &h, T0), Ok(Decision::Execute));
        let r = stored(&h, T0);
        match decide(Some(&r), &h, T0 + 10) {
            Ok(Decision::Replay(rep)) => {
                assert_eq!(rep.status, 201);
                assert_eq!(rep.body, r.body);
                assert!(rep
                    .headers
                    .contains(&(REPLAYED_HEADER.to_owned(), "true".to_owned())));
            }
            other => panic!("expected a replay, got {other:?}"),
        }
        let e = decide(
            Some(&r),
            &fingerprint("POST", "/v3/session/", b"{\"a\":1}"),
            T0 + 10,
        )
        .unwrap_err();
        assert_eq!(e.status(), 409);
        assert_eq!(e.to_http().2, json!({ "detail": MSG_KEY_REUSED }));
    }

    #[test]
    fn answers_expire_after_a_day() {
        let h = "h";
        let r = stored(h, T0);
        assert!(matches!(
            decide(Some(&r), h, T0 + TTL_SECONDS),
            Ok(Decision::Replay(_))
        ));
        assert_eq!(
            decide(Some(&r), h, T0 + TTL_SECONDS + 1),
            Ok(Decision::Execute)
        );
        // An expired key may be reused for anything.
        assert_eq!(
            decide(Some(&r), "other", T0 + TTL_SECONDS + 1),
            Ok(Decision::Execute)
        );
    }

    #[test]
    fn only_successes_are_recorded_byte_for_byte() {
        let ok = HttpResponse::json(201, json!({"b": 2, "a": [1, 2.5, "x"]}));
        let r = record("app", "k", "h", &ok, T0).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.body.as_bytes(), ok.body_bytes().as_slice());
        assert_eq!(r.created_at, T0);
        let gone = record("app", "k", "h", &HttpResponse::no_content(), T0).unwrap();
        assert_eq!((gone.status, gone.body.as_str()), (204, ""));
        let Decision::Replay(rep) = decide(Some(&gone), "h", T0).unwrap() else {
            panic!("expected a replay")
        };
        assert!(!rep.headers.iter().any(|(k, _)| k == "Content-Type"));
        for status in [400, 404, 409, 429, 500] {
            let e = HttpResponse::json(status, json!({"detail": "x"}));
            assert_eq!(record("app", "k", "h", &e, T0), None);
        }
    }
}
