//! facegate's edge verifier as a Cloudflare Worker. A thin adapter: it turns requests into calls
//! on the pure crates (pipeline, and soon sessions and webhook) and their results back into
//! responses. Everything worth testing lives in those crates or in the pure modules here
//! (`standalone`, `http_error`); the rest is I/O glue.

mod auth;
mod http_error;
mod models;
mod routes;
pub mod standalone;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    routes::handle(req, &env).await
}
