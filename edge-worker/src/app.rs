//! The core service over this Worker's bindings: what the route handlers, the capture
//! endpoint, the hosted page and webhook sending all build on (so none of them needs the
//! router, and the router needs none of their insides).

use facegate_sessions::{AesGcmCipher, ApiError, Service, UrlPolicy, Urls};
use facegate_signals::client_ip::ProxyTrust;
use worker::{Env, Request};

use crate::d1_store::D1Store;
use crate::http::{self, internal};
use crate::ports::{WorkerClock, WorkerIds};

pub type AppService = Service<D1Store, WorkerClock, WorkerIds, AesGcmCipher>;

/// The core service over this request's bindings. Public URLs are derived from the request's
/// own origin, so the service needs no configuration to run behind any host name.
pub fn service(env: &Env, req: &Request) -> Result<AppService, ApiError> {
    let origin = req
        .url()
        .map_err(|e| internal("url", e))?
        .origin()
        .ascii_serialization();
    service_with(
        env,
        Urls {
            hosted_base: origin.clone(),
            api_base: format!("{origin}/v3"),
        },
    )
}

/// For work outside a request (cron, webhook sending), which renders no URLs.
pub fn housekeeping_service(env: &Env) -> Result<AppService, ApiError> {
    service_with(
        env,
        Urls {
            hosted_base: String::new(),
            api_base: String::new(),
        },
    )
}

fn service_with(env: &Env, urls: Urls) -> Result<AppService, ApiError> {
    let db = http::database(env)?;
    Ok(Service {
        store: D1Store::new(db).with_dev_faults(env),
        clock: WorkerClock,
        ids: WorkerIds,
        cipher: template_cipher(env)?,
        urls,
    })
}

/// Templates are sealed under their own key (Worker secret TEMPLATE_KEY, 64 hex chars),
/// distinct from API keys and webhook secrets.
fn template_cipher(env: &Env) -> Result<AesGcmCipher, ApiError> {
    let hex_key = env
        .secret("TEMPLATE_KEY")
        .map_err(|_| internal("TEMPLATE_KEY", "secret not set"))?
        .to_string();
    let key: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| internal("TEMPLATE_KEY", "must be 64 hex characters"))?;
    Ok(AesGcmCipher::new(&key))
}

/// A Worker var or secret as text, when set.
pub fn setting(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
}

/// Whose proxy header is believed for the client's address (`TRUSTED_PROXY_HEADER` from
/// `TRUSTED_PROXIES`, both or neither). Unset, only the platform's `CF-Connecting-IP` counts;
/// `npm run dev` trusts `X-Forwarded-For` from loopback only. A half or broken setting is
/// logged and ignored, never widened.
pub fn proxy_trust(env: &Env) -> ProxyTrust {
    let header = setting(env, "TRUSTED_PROXY_HEADER");
    let proxies = setting(env, "TRUSTED_PROXIES");
    ProxyTrust::parse(header.as_deref(), proxies.as_deref()).unwrap_or_else(|e| {
        worker::console_error!("TRUSTED_PROXY_HEADER / TRUSTED_PROXIES ignored: {e}");
        ProxyTrust::default()
    })
}

/// Loopback webhook destinations only where the development server said so
/// (`ALLOW_LOOPBACK_WEBHOOKS = "1"` in edge-worker/.dev.vars); deployed, never.
pub fn url_policy(env: &Env) -> UrlPolicy {
    UrlPolicy {
        allow_loopback: setting(env, "ALLOW_LOOPBACK_WEBHOOKS").as_deref() == Some("1"),
    }
}
