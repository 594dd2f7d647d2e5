//! facegate's edge verifier as a Cloudflare Worker. A thin adapter: requests become calls on
//! the pure crates (pipeline, sessions, webhook) and their results become responses. Storage is
//! D1 (`d1_store`), models and the paged IP data come from R2 (`models`, `ip_data`), time and
//! randomness from the runtime (`ports`).

mod app;
mod apps;
mod capture;
mod console;
mod customization;
mod d1_store;
mod deliver;
mod hosted;
mod http;
mod ip_data;
mod lists;
mod memory;
mod models;
mod ports;
mod rate_limit;
mod routes;
pub mod standalone;
mod steps;
mod visit;

use worker::{event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    routes::handle(req, env, ctx).await
}

/// Cron: expire abandoned sessions and (re)send due webhooks. The outbox is in D1, so a
/// receiver that was down for minutes gets every event once it is back.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    console_error_panic_hook::set_once();
    if let Err(e) = routes::housekeeping(&env).await {
        worker::console_error!("housekeeping: {:?}", e);
    }
}
