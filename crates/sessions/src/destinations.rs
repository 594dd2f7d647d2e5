//! `/webhook/destinations/` management, as the MCP server's tools call it (contract
//! Appendix A): list, create, get, update, delete. Destinations live in the application's
//! configuration; the adapter persists the changed `Application`.

use serde_json::{json, Map, Value};

use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::store::Ids;
use crate::types::{Application, WebhookDestination};

const VERSIONS: [&str; 3] = ["v1", "v2", "v3"];

/// The destination as the API shows it. The signing secret is shown: the integrator needs it
/// to verify deliveries, and only the application's own key can read it.
pub fn render(d: &WebhookDestination) -> Value {
    json!({
        "uuid": d.id,
        "label": d.label,
        "url": d.url,
        "enabled": d.enabled,
        "webhook_version": d.webhook_version,
        "subscribed_events": d.subscribed_events,
        "secret_shared_key": d.secret_shared_key,
    })
}

pub fn list(app: &Application) -> HttpResponse {
    let results: Vec<Value> = app.webhooks.iter().map(render).collect();
    HttpResponse::json(
        200,
        json!({ "count": results.len(), "next": null, "previous": null, "results": results }),
    )
}

pub fn get(app: &Application, id: &str) -> Result<HttpResponse, ApiError> {
    find(app, id).map(|d| HttpResponse::json(200, render(d)))
}

fn find<'a>(app: &'a Application, id: &str) -> Result<&'a WebhookDestination, ApiError> {
    app.webhooks
        .iter()
        .find(|d| d.id.eq_ignore_ascii_case(id))
        .ok_or(ApiError::NotFound)
}

fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::BadRequest("Expected a JSON object.".into())),
        Err(e) => Err(ApiError::BadRequest(format!("JSON parse error - {e}"))),
    }
}

/// Applies the fields present in `fields` to `d`, collecting DRF-style errors.
fn apply(d: &mut WebhookDestination, fields: &Map<String, Value>, errors: &mut FieldErrors) {
    if let Some(v) = fields.get("url") {
        match v.as_str().map(str::trim) {
            Some(u)
                if (u.starts_with("https://") || u.starts_with("http://"))
                    && u.len() > "https://".len() =>
            {
                d.url = u.to_owned()
            }
            _ => errors.add("url", "Enter a valid URL."),
        }
    }
    if let Some(v) = fields.get("label") {
        match v {
            Value::Null => d.label = None,
            Value::String(s) if s.chars().count() <= 255 => d.label = Some(s.clone()),
            _ => errors.add("label", "Not a valid string of at most 255 characters."),
        }
    }
    if let Some(v) = fields.get("enabled") {
        match v.as_bool() {
            Some(b) => d.enabled = b,
            None => errors.add("enabled", "Must be a valid boolean."),
        }
    }
    if let Some(v) = fields.get("webhook_version") {
        match v.as_str().filter(|s| VERSIONS.contains(s)) {
            Some(s) => d.webhook_version = s.to_owned(),
            None => errors.add(
                "webhook_version",
                format!(
                    "\"{}\" is not a valid choice.",
                    v.as_str().unwrap_or_default()
                ),
            ),
        }
    }
    if let Some(v) = fields.get("subscribed_events") {
        match v.as_array().and_then(|a| {
            a.iter()
                .map(|e| e.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        }) {
            Some(events) => d.subscribed_events = events,
            None => errors.add("subscribed_events", "Expected a list of strings."),
        }
    }
}

pub fn create(
    app: &mut Application,
    body: &[u8],
    ids: &impl Ids,
) -> Result<HttpResponse, ApiError> {
    let fields = object(body)?;
    let mut errors = FieldErrors::new();
    if !fields.contains_key("url") {
        errors.add("url", "This field is required.");
    }
    let mut d = WebhookDestination {
        id: ids.uuid()?,
        url: String::new(),
        secret_shared_key: format!("whsec_{}", ids.token()?),
        subscribed_events: vec!["status.updated".to_owned()],
        enabled: true,
        label: None,
        webhook_version: "v3".to_owned(),
    };
    apply(&mut d, &fields, &mut errors);
    errors.into_result()?;
    let shown = render(&d);
    app.webhooks.push(d);
    Ok(HttpResponse::json(201, shown))
}

pub fn update(app: &mut Application, id: &str, body: &[u8]) -> Result<HttpResponse, ApiError> {
    let fields = object(body)?;
    let index = app
        .webhooks
        .iter()
        .position(|d| d.id.eq_ignore_ascii_case(id))
        .ok_or(ApiError::NotFound)?;
    let mut d = app.webhooks[index].clone();
    let mut errors = FieldErrors::new();
    apply(&mut d, &fields, &mut errors);
    errors.into_result()?;
    let shown = render(&d);
    app.webhooks[index] = d;
    Ok(HttpResponse::json(200, shown))
}

pub fn delete(app: &mut Application, id: &str) -> Result<HttpResponse, ApiError> {
    let before = app.webhooks.len();
    app.webhooks.retain(|d| !d.id.eq_ignore_ascii_case(id));
    if app.webhooks.len() == before {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::SeqIds;

    fn app() -> Application {
        serde_json::from_value(json!({"id": "a", "name": "A", "api_key_hashes": []})).unwrap()
    }

    #[test]
    fn create_get_update_delete() {
        let mut a = app();
        let ids = SeqIds::default();
        let created = create(&mut a, br#"{"url": "https://hooks.example/x", "label": "main", "subscribed_events": ["status.updated"]}"#, &ids).unwrap();
        assert_eq!(created.status, 201);
        let body = created.body.unwrap();
        let id = body["uuid"].as_str().unwrap().to_owned();
        assert_eq!(body["webhook_version"], "v3");
        assert!(body["secret_shared_key"]
            .as_str()
            .unwrap()
            .starts_with("whsec_"));
        assert_eq!(list(&a).body.unwrap()["count"], 1);
        let updated = update(
            &mut a,
            &id,
            br#"{"enabled": false, "webhook_version": "v2"}"#,
        )
        .unwrap()
        .body
        .unwrap();
        assert_eq!(
            (updated["enabled"].clone(), updated["url"].clone()),
            (json!(false), json!("https://hooks.example/x"))
        );
        assert_eq!(get(&a, &id).unwrap().body.unwrap()["webhook_version"], "v2");
        assert_eq!(delete(&mut a, &id).unwrap().status, 204);
        assert!(matches!(get(&a, &id), Err(ApiError::NotFound)));
        assert!(matches!(delete(&mut a, &id), Err(ApiError::NotFound)));
    }

    #[test]
    fn bad_fields_are_field_keyed_errors_and_change_nothing() {
        let mut a = app();
        let ids = SeqIds::default();
        let err = create(
            &mut a,
            br#"{"url": "ftp://x", "enabled": "yes", "webhook_version": "v9"}"#,
            &ids,
        )
        .unwrap_err();
        let (status, _, body) = err.to_http();
        assert_eq!(status, 400);
        for field in ["url", "enabled", "webhook_version"] {
            assert!(body[field].is_array(), "{field}: {body}");
        }
        assert!(a.webhooks.is_empty());
        assert!(matches!(
            create(&mut a, b"{}", &ids),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            create(&mut a, b"[1]", &ids),
            Err(ApiError::BadRequest(_))
        ));
    }
}
