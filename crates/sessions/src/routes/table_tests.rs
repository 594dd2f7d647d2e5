//! The route table walked: every row resolves to itself and chose its auth, budget and
//! limit; buckets, the operator credential and path matching.

use super::*;

/// A concrete path for a pattern, each `{param}` filled with `value`.
fn fill(pattern: &str, value: &str) -> String {
    pattern
        .split('/')
        .map(|s| match s {
            "{lang}" => "es",
            s if s.starts_with('{') => value,
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_row_resolves_to_itself_with_and_without_the_trailing_slash() {
    for spec in ROUTES {
        let path = fill(spec.pattern, "abc");
        for path in [path.clone(), path.trim_end_matches('/').to_owned()] {
            let m = resolve(spec.method, &path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                (m.spec.method, m.spec.pattern),
                (spec.method, spec.pattern),
                "{path}"
            );
            assert_eq!(m.route.spec().budget, spec.budget, "{path}");
        }
    }
}

#[test]
fn every_row_chose_its_auth_budget_and_limit() {
    for spec in ROUTES {
        assert!(spec.budget.per_minute > 0, "{}", spec.pattern);
        assert!(spec.body_limit > 0, "{}", spec.pattern);
        // Everything under /v3 belongs to an application; nothing else does.
        assert_eq!(
            spec.pattern.starts_with("/v3/"),
            spec.auth == Auth::ApiKey,
            "{}",
            spec.pattern
        );
        assert_eq!(
            spec.pattern.starts_with("/internal/"),
            spec.auth == Auth::Operator,
            "{}",
            spec.pattern
        );
        // The operator API: a console caller, except signing in (which makes one; its
        // selfie step holds only a waiting cookie, which opens nothing else).
        if spec.pattern.starts_with("/console/") {
            let signs_in = spec.pattern.starts_with("/console/api/login/")
                || spec.pattern.ends_with("/setup/");
            let want = if signs_in {
                Auth::Public
            } else {
                Auth::Console
            };
            assert_eq!(spec.auth, want, "{}", spec.pattern);
        }
    }
    // No two rows answer the same method and path (the page's two forms aside: a language
    // segment is what tells them apart).
    for (i, a) in ROUTES.iter().enumerate() {
        for b in &ROUTES[i + 1..] {
            let localised = a.pattern.contains("{lang}") || b.pattern.contains("{lang}");
            let same =
                a.method == b.method && fit(b.pattern, &split(&fill(a.pattern, "abc"))).is_some();
            assert!(
                localised || !same,
                "{} and {} overlap",
                a.pattern,
                b.pattern
            );
        }
    }
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

#[test]
fn paths_and_methods() {
    let id = "abc".to_owned();
    assert_eq!(
        route("GET", "/v3/session/abc/generate-pdf"),
        Ok(Route::GeneratePdf(id.clone()))
    );
    assert_eq!(
        route("GET", "/v3/session/abc/generate-pdf/"),
        Ok(Route::GeneratePdf(id.clone()))
    );
    assert_eq!(
        route("GET", "/hosted/v1/tok/qr.svg"),
        Ok(Route::HostedQr("tok".into()))
    );
    assert_eq!(
        route("POST", "/hosted/v1/tok/capture"),
        Ok(Route::HostedCapture("tok".into()))
    );
    assert_eq!(
        route("GET", "/hosted/v1/tok"),
        Ok(Route::HostedSummary("tok".into()))
    );
    assert_eq!(
        route("GET", "/pt-BR/session/tok"),
        Ok(Route::HostedPage("tok".into()))
    );
    assert_eq!(route("GET", "/system/healthcheck"), Ok(Route::Healthcheck));
    // The API's session path is never the page's, whatever the case of its prefix.
    assert_eq!(route("GET", "/V3/session/tok"), Err(ApiError::NotFound));
    assert_eq!(route("GET", "/hosted/v1/tok/nope"), Err(ApiError::NotFound));
    let Err(ApiError::MethodNotAllowed { allow, .. }) = route("PUT", "/v3/webhook/destinations/x/")
    else {
        panic!("405 expected")
    };
    assert_eq!(allow, vec!["GET", "PATCH", "DELETE", "OPTIONS"]);
    assert_eq!(
        route("GET", "/internal/housekeeping").map_err(|e| e.status()),
        Err(405)
    );
    assert_eq!(route("GET", "/session/").map_err(|e| e.status()), Err(404));
}

#[test]
fn budgets_are_keyed_by_application_or_token_and_client() {
    let create = route("POST", "/v3/session/").unwrap().spec();
    assert_eq!(
        rate_bucket(create, Some("app-1"), None, "1.2.3.4"),
        "app:app-1:create"
    );
    let capture = route("POST", "/hosted/v1/t/capture").unwrap().spec();
    let a = rate_bucket(capture, None, Some("t"), "1.2.3.4");
    let b = rate_bucket(capture, None, Some("t"), "5.6.7.8");
    let c = rate_bucket(capture, None, Some("u"), "1.2.3.4");
    assert!(a != b && a != c && !a.contains(":t:"), "{a} {b} {c}");
    assert_eq!(
        route("POST", "/v3/face-match/").unwrap().spec().budget,
        BIOMETRIC
    );
    assert!(!route("POST", "/v3/face-match/").unwrap().spec().idempotent);
    assert!(route("POST", "/v3/session/").unwrap().spec().idempotent);
    assert!(!route("GET", "/v3/sessions/").unwrap().spec().idempotent);
}

#[test]
fn wrong_credentials_are_counted_per_client_and_missing_ones_are_not() {
    let wrong = failed_authentication_bucket(&ApiError::InvalidApiKey, "1.2.3.4");
    let unknown_token = failed_authentication_bucket(&ApiError::NotFound, "1.2.3.4");
    assert_eq!(wrong.as_deref(), Some("ip:1.2.3.4:failed-auth"));
    assert_eq!(
        wrong, unknown_token,
        "one count per client, whatever was guessed"
    );
    assert_ne!(
        failed_authentication_bucket(&ApiError::InvalidApiKey, "5.6.7.8"),
        wrong
    );
    assert_eq!(
        failed_authentication_bucket(&ApiError::MissingApiKey, "1.2.3.4"),
        None
    );
}

#[test]
fn operator_credential() {
    let bearer = |v: &str| vec![("Authorization".to_owned(), v.to_owned())];
    assert_eq!(
        authorize_operator(&bearer("Bearer s3cret"), Some("s3cret")),
        Ok(())
    );
    assert_eq!(
        authorize_operator(&bearer("Bearer nope"), Some("s3cret")),
        Err(ApiError::InvalidApiKey)
    );
    assert_eq!(
        authorize_operator(&[], Some("s3cret")),
        Err(ApiError::MissingApiKey)
    );
    let app_key = vec![("x-api-key".to_owned(), "s3cret".to_owned())];
    assert_eq!(
        authorize_operator(&app_key, Some("s3cret")),
        Err(ApiError::MissingApiKey)
    );
    // Unconfigured: closed, even to an empty bearer.
    assert_eq!(
        authorize_operator(&bearer("Bearer x"), None),
        Err(ApiError::MissingApiKey)
    );
    assert_eq!(
        authorize_operator(&bearer("Bearer "), Some("")),
        Err(ApiError::MissingApiKey)
    );
}

#[test]
fn the_table_serialises_for_the_operator() {
    let v = table_json();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), ROUTES.len());
    assert_eq!(rows[0]["auth"], "api_key");
    assert!(rows[0]["budget"]["per_minute"].is_u64());
    assert!(rows[0]["body_limit"].is_u64());
}

#[test]
fn language_segments_are_not_api_prefixes() {
    for ok in ["en", "es", "cnr", "pt-BR", "zh-CN"] {
        assert!(is_language(ok), "{ok}");
    }
    for not in ["v3", "V3", "session", "e", "pt-br", "english", ""] {
        assert!(!is_language(not), "{not}");
    }
}
