//! Seeded fuzzing of everything that reads client input before the store is touched: the JSON
//! bodies (create, update-status, batch delete), the list query, the route matcher and the
//! multipart labels of a challenge capture. Each generated input must be answered with a value
//! or a 4xx error, never a panic or a 5xx. `FUZZ_CASES` and `FUZZ_SEED` change the run.

use std::panic::{catch_unwind, AssertUnwindSafe};

use facegate_sessions::validate::{
    normalise_metadata, parse_batch_delete, parse_create, parse_list, parse_object,
    parse_update_status, split_query,
};
use facegate_sessions::{parse_frame_labels, route, ApiError, Application};
use serde_json::{json, Map, Value};

/// A small, fast, reproducible generator (64-bit LCG, high bits out).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn env_or(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const FIELDS: &[&str] = &[
    "workflow_id",
    "vendor_data",
    "callback",
    "callback_method",
    "language",
    "metadata",
    "portrait_image",
    "new_status",
    "comment",
    "send_email",
    "email_address",
    "email_language",
    "nodes_to_resubmit",
    "node_id",
    "feature",
    "session_numbers",
    "expected_document_types",
    "contact_details",
    "",
    "__proto__",
];

const STRINGS: &[&str] = &[
    "",
    " ",
    "Approved",
    "Declined",
    "Resubmitted",
    "In Review",
    "kyc",
    "en",
    "xx",
    "POST",
    "GET",
    "https://example.com/cb",
    "javascript:alert(1)",
    "http://169.254.169.254/",
    "not a url",
    "aaaaaaaa-0000-4000-8000-000000000000",
    "AAAAAAAA-0000-4000-8000-00000000000G",
    "{}",
    "[1,2]",
    "{\"a\":",
    "null",
    "true",
    "1e309",
    "-0",
    "\u{0}",
    "\u{feff}x",
    "日本語",
    "🙂",
    "%00",
    "a@b",
    "iVBORw0KGgo=",
    "////",
    "LIVENESS",
    "FACE",
    "feature_liveness",
];

fn string(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => "x".repeat(rng.below(5000)),
        1 => (0..rng.below(40))
            .map(|_| char::from_u32(rng.next() as u32 % 0x11_0000).unwrap_or('?'))
            .collect(),
        _ => rng.pick(STRINGS).to_string(),
    }
}

fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 4 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => json!(rng.next() as i64 - (1 << 30)),
        3 => json!(*rng.pick(&[0.5, -1.0, 1e300, f64::MIN_POSITIVE, 100.0, 101.0])),
        4 | 5 => Value::String(string(rng)),
        6 => Value::Array((0..rng.below(6)).map(|_| value(rng, depth + 1)).collect()),
        _ => Value::Object(object(rng, depth + 1)),
    }
}

fn object(rng: &mut Rng, depth: usize) -> Map<String, Value> {
    (0..rng.below(8))
        .map(|_| (rng.pick(FIELDS).to_string(), value(rng, depth)))
        .collect()
}

/// A JSON body, or something that is not quite one.
fn body(rng: &mut Rng) -> Vec<u8> {
    let text = serde_json::to_vec(&Value::Object(object(rng, 0))).unwrap();
    match rng.below(6) {
        0 => text[..rng.below(text.len() + 1)].to_vec(),
        1 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        2 => serde_json::to_vec(&value(rng, 0)).unwrap(),
        3 => {
            let mut t = text;
            if !t.is_empty() {
                let i = rng.below(t.len());
                t[i] = rng.next() as u8;
            }
            t
        }
        _ => text,
    }
}

fn app() -> Application {
    serde_json::from_value(json!({
        "id": "aaaaaaaa-0000-4000-8000-000000000000",
        "name": "Fuzz",
        "api_key_hashes": [],
        "workflows": [
            {"id": "bbbbbbbb-0000-4000-8000-000000000000", "version": 1, "workflow_type": "kyc"},
            {"id": "cccccccc-0000-4000-8000-000000000000", "version": 1, "workflow_type": "biometric_authentication"}
        ]
    }))
    .expect("application JSON")
}

/// Runs `f`, and fails on a panic or on an error that is not the client's fault.
fn client_safe<T>(
    what: &str,
    input: &dyn std::fmt::Debug,
    f: impl FnOnce() -> Result<T, ApiError>,
) {
    match catch_unwind(AssertUnwindSafe(f)) {
        Err(_) => panic!("{what} panicked on {input:?}"),
        Ok(Err(e)) if !(400..500).contains(&e.status()) => {
            panic!("{what} answered {} ({e}) to {input:?}", e.status())
        }
        Ok(_) => {}
    }
}

#[test]
fn json_bodies_queries_routes_and_labels_never_panic_or_5xx() {
    let cases = env_or("FUZZ_CASES", 20_000);
    let mut rng = Rng(env_or("FUZZ_SEED", 0x5eed));
    let app = app();
    let methods = [
        "GET", "POST", "PATCH", "DELETE", "PUT", "get", "", "OPTIONS",
    ];
    let (mut ok, mut refused) = (0u32, 0u32);
    for _ in 0..cases {
        let b = body(&mut rng);
        client_safe("parse_object", &String::from_utf8_lossy(&b), || {
            parse_object(&b)
        });
        client_safe("parse_create", &String::from_utf8_lossy(&b), || {
            parse_create(&app, &b)
        });
        client_safe("parse_update_status", &String::from_utf8_lossy(&b), || {
            parse_update_status(&b)
        });
        client_safe("parse_batch_delete", &String::from_utf8_lossy(&b), || {
            parse_batch_delete(&b)
        });
        let v = value(&mut rng, 0);
        client_safe("normalise_metadata", &v, || Ok(normalise_metadata(&v)));

        let query: String = (0..rng.below(6))
            .map(|_| {
                let key = rng.pick(&[
                    "status",
                    "limit",
                    "offset",
                    "date_to",
                    "date_from",
                    "session_kind",
                    "country",
                    "vendor_data",
                    "search",
                    "workflow_id",
                    "",
                    "%zz",
                ]);
                format!("{key}={}", string(&mut rng).replace('&', "%26"))
            })
            .collect::<Vec<_>>()
            .join(if rng.below(4) == 0 { "&&" } else { "&" });
        client_safe("split_query", &query, || Ok(split_query(&query)));
        client_safe("parse_list", &query, || parse_list(&query));

        let segments = [
            "v3",
            "session",
            "sessions",
            "delete",
            "decision",
            "update-status",
            "generate-pdf",
            "webhooks",
            "webhook",
            "destinations",
            "passive-liveness",
            "face-match",
            "..",
            "%2e",
            "",
        ];
        let path: String = (0..rng.below(6))
            .map(|_| {
                if rng.below(3) == 0 {
                    string(&mut rng)
                } else {
                    rng.pick(&segments).to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let path = format!("/{path}{}", if rng.below(2) == 0 { "/" } else { "" });
        let method = *rng.pick(&methods);
        client_safe("route", &(method, &path), || route(method, &path));

        let id = (rng.below(4) > 0).then(|| string(&mut rng));
        let frames = rng.below(20);
        let steps = (rng.below(5) > 0).then(|| match rng.below(3) {
            0 => string(&mut rng),
            1 => serde_json::to_string(&value(&mut rng, 3)).unwrap(),
            _ => format!(
                "{:?}",
                (0..frames).map(|_| rng.below(70)).collect::<Vec<_>>()
            ),
        });
        let labels = (&id, &steps, frames);
        match catch_unwind(AssertUnwindSafe(|| {
            parse_frame_labels(id.as_deref(), steps.as_deref(), frames)
        })) {
            Err(_) => panic!("parse_frame_labels panicked on {labels:?}"),
            Ok(Ok(l)) => {
                assert_eq!(l.steps.len(), frames, "one step per frame: {labels:?}");
                ok += 1;
            }
            Ok(Err(e)) => {
                assert_eq!(e.status(), 400, "{e} for {labels:?}");
                refused += 1;
            }
        }
    }
    eprintln!("{cases} cases; frame labels accepted {ok}, refused {refused}");
    assert!(refused > 0 && ok > 0, "both outcomes exercised");
}
