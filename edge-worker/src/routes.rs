//! The router: the core's route table (`facegate_sessions::ROUTES`) decides what a request
//! is, who may send it, its budget and its body limit; this file applies them in that order,
//! before a byte of the body is read, and then dispatches with one `match`.

use facegate_sessions::idempotency::{self, Decision};
use facegate_sessions::routes::{
    failed_authentication_bucket, rate_bucket, table_json, FAILED_AUTHENTICATION,
};
use facegate_sessions::{
    authorize_operator, billing, branding, destinations, resolve, workflows, ApiError, Application,
    Auth, Clock, HttpResponse, Matched, Route, Store,
};
use serde_json::json;
use worker::{Context, Env, Request, Response, Result};

use crate::app::{self, setting, url_policy, AppService};
use crate::http::{self, internal};
use crate::ports::WorkerIds;
use crate::{
    apps, capture, console, customization, deliver, hosted, models, rate_limit, standalone, steps,
};
use facegate_sessions::console::signin::{self, Principal};

pub async fn handle(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let matched = match resolve(req.method().as_ref(), &req.path()) {
        Ok(m) => m,
        Err(e) => return http::respond(Err(e)),
    };
    match serve(&mut req, &env, &ctx, matched).await {
        Ok(Reply::Json(response)) => http::respond(Ok(response)),
        Ok(Reply::Pdf { name, bytes }) => http::pdf(&name, bytes),
        Ok(Reply::Csv { name, text }) => {
            http::attachment("text/csv; charset=utf-8", &name, text.into_bytes())
        }
        Ok(Reply::Replay(replay)) => http::replay(replay),
        Ok(Reply::Svg(svg)) => http::svg(svg),
        Ok(Reply::Page(response)) => Ok(response),
        Err(e) => http::respond(Err(e)),
    }
}

/// What a route answers: JSON, except the PDF report, the usage CSV, the QR code and the page.
enum Reply {
    Json(HttpResponse),
    Pdf {
        name: String,
        bytes: Vec<u8>,
    },
    Csv {
        name: String,
        text: String,
    },
    /// An earlier answer to the same `Idempotency-Key`, sent as first sent.
    Replay(facegate_sessions::Replay),
    Svg(String),
    Page(Response),
}

/// Who the request turned out to be, per the route's `Auth`.
enum Caller {
    Public,
    App(Application),
    Token(String),
    Operator,
    Console(Principal),
}

/// Declared size, then the caller, then the budget, then (only now) the body.
async fn serve(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    m: Matched,
) -> std::result::Result<Reply, ApiError> {
    let spec = m.spec;
    http::check_declared_length(req, spec.body_limit)?;
    let headers = http::headers(req);
    let caller = match authenticate(req, env, &headers, &m.route, spec.auth).await {
        Ok(caller) => caller,
        Err(e) => {
            if let Some(bucket) = failed_authentication_bucket(&e, &http::client_ip(env, &headers))
            {
                rate_limit::check(env, bucket, FAILED_AUTHENTICATION).await?;
            }
            return Err(e);
        }
    };
    let operator_id;
    let (app_id, token) = match &caller {
        Caller::App(app) => (Some(app.id.as_str()), None),
        Caller::Token(token) => (None, Some(token.as_str())),
        Caller::Console(who) => {
            operator_id = who.operator().id;
            (None, Some(operator_id.as_str()))
        }
        Caller::Public | Caller::Operator => (None, None),
    };
    let bucket = rate_bucket(spec, app_id, token, &http::client_ip(env, &headers));
    rate_limit::check(env, bucket, spec.budget).await?;
    let body = if spec.body_limit > facegate_sessions::routes::NO_BODY {
        http::read_bounded(req, spec.body_limit).await?
    } else {
        Vec::new()
    };
    let request = Incoming {
        req,
        env,
        ctx,
        headers,
        body,
    };
    match caller {
        Caller::App(app) if spec.idempotent => replayable(request, m.route, app).await,
        caller => dispatch(request, m.route, caller).await,
    }
}

/// The request as the handlers see it: authenticated, bounded, its body read.
pub(crate) struct Incoming<'a> {
    pub(crate) req: &'a Request,
    pub(crate) env: &'a Env,
    ctx: &'a Context,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// API key (→ the application), session token (→ it names a session), operator secret,
/// console cookie or operator secret (→ the operator).
async fn authenticate(
    req: &Request,
    env: &Env,
    headers: &[(String, String)],
    route: &Route,
    auth: Auth,
) -> std::result::Result<Caller, ApiError> {
    match auth {
        Auth::Public => Ok(Caller::Public),
        Auth::ApiKey => apps::by_key(env, headers).await.map(Caller::App),
        Auth::Operator => {
            authorize_operator(headers, setting(env, "OPERATOR_TOKEN").as_deref())?;
            Ok(Caller::Operator)
        }
        Auth::Console => {
            let origin = req
                .url()
                .map_err(|e| internal("url", e))?
                .origin()
                .ascii_serialization();
            let unsafe_method = !matches!(req.method(), worker::Method::Get | worker::Method::Head);
            let svc = app::housekeeping_service(env)?;
            console::principal(env, &svc, headers, unsafe_method, &origin)
                .await
                .map(Caller::Console)
        }
        Auth::SessionToken => {
            let token = route.token().ok_or(ApiError::NotFound)?;
            app::housekeeping_service(env)?
                .store
                .get_session_by_token(token)
                .await?
                .ok_or(ApiError::NotFound)?;
            Ok(Caller::Token(token.to_owned()))
        }
    }
}

/// A keyed write (`Idempotency-Key`) that already succeeded is replayed instead of run again;
/// a first success is kept for the retry.
async fn replayable(
    request: Incoming<'_>,
    route: Route,
    app: Application,
) -> std::result::Result<Reply, ApiError> {
    let method = request.req.method().to_string();
    let Some(key) = idempotency::key_of(&method, &request.headers)? else {
        return dispatch(request, route, Caller::App(app)).await;
    };
    let hash = idempotency::fingerprint(&method, &request.req.path(), &request.body);
    let svc = app::housekeeping_service(request.env)?;
    if let Decision::Replay(replay) = svc.idempotency_check(&app.id, &key, &hash).await? {
        return Ok(Reply::Replay(replay));
    }
    let app_id = app.id.clone();
    let reply = dispatch(request, route, Caller::App(app)).await?;
    if let Reply::Json(response) = &reply {
        // The write has happened: failing the request now would invite the very retry that
        // duplicates it, so a lost record only costs the replay.
        if let Err(e) = svc.idempotency_record(&app_id, &key, &hash, response).await {
            worker::console_error!("idempotency record: {e:?}");
        }
    }
    Ok(reply)
}

/// Every route's handler, in the table's order.
async fn dispatch(
    r: Incoming<'_>,
    route: Route,
    caller: Caller,
) -> std::result::Result<Reply, ApiError> {
    let env = r.env;
    let svc = app::service(env, r.req)?;
    let json = |response: std::result::Result<HttpResponse, ApiError>| response.map(Reply::Json);
    let (mut app, who) = match caller {
        Caller::App(app) => (Some(app), None),
        Caller::Console(who) => (None, Some(who)),
        _ => (None, None),
    };
    if let Some(who) = who {
        return console_route(r, route, &svc, &who).await;
    }
    match route {
        Route::CreateSession => {
            let pipeline = models::pipeline(env).await?;
            json(
                svc.create(the(&mut app)?, &r.body, |portrait| {
                    capture::enrol_portrait(&pipeline, portrait)
                })
                .await,
            )
        }
        Route::ListSessions => {
            let url = r.req.url().map_err(|e| internal("url", e))?;
            json(svc.list(the(&mut app)?, url.query().unwrap_or("")).await)
        }
        Route::BatchDelete => json(svc.batch_delete(the(&mut app)?, &r.body).await),
        Route::GetSession(id) => json(svc.get(the(&mut app)?, &id).await),
        Route::Decision(id) => json(svc.decision(the(&mut app)?, &id).await),
        Route::UpdateStatus(id) => {
            let reply = svc.update_status(the(&mut app)?, &id, &r.body).await;
            send_soon(r.env, r.ctx);
            json(reply)
        }
        Route::DeleteUsers => json(svc.delete_users(the(&mut app)?, &r.body).await),
        Route::ListUsers => {
            let url = r.req.url().map_err(|e| internal("url", e))?;
            json(
                svc.list_users(the(&mut app)?, url.query().unwrap_or(""))
                    .await,
            )
        }
        Route::CreateUser => json(svc.create_user(the(&mut app)?, &r.body).await),
        Route::GetUser(v) => json(svc.get_user(the(&mut app)?, &v).await),
        Route::UpdateUser(v) => json(svc.update_user(the(&mut app)?, &v, &r.body, false).await),
        Route::UpdateUserStatus(v) => {
            json(svc.update_user(the(&mut app)?, &v, &r.body, true).await)
        }
        Route::ListReviews(id) => json(svc.list_reviews(the(&mut app)?, &id).await),
        Route::AddReview(id) => {
            let reply = svc
                .add_review(
                    the(&mut app)?,
                    &id,
                    &r.body,
                    facegate_sessions::Actor::api_key(),
                )
                .await;
            send_soon(r.env, r.ctx);
            json(reply)
        }
        Route::ResendDelivery(destination, delivery) => {
            let reply = svc
                .resend_delivery(the(&mut app)?, &destination, &delivery)
                .await;
            send_soon(r.env, r.ctx);
            json(reply)
        }
        Route::DeleteSession(id) => json(svc.delete(the(&mut app)?, &id).await),
        Route::GeneratePdf(id) => {
            let report = svc.report(the(&mut app)?, &id).await?;
            Ok(Reply::Pdf {
                name: format!("facegate-{id}.pdf"),
                bytes: models::report_pdf(env, &report).await?,
            })
        }
        Route::SessionWebhooks(id) => json(session_webhooks(&svc, the(&mut app)?, &id).await),
        Route::ListDestinations => json(Ok(destinations::list(the(&mut app)?))),
        Route::GetDestination(id) => json(destinations::get(the(&mut app)?, &id)),
        Route::CreateDestination => {
            let policy = url_policy(env);
            change_config(env, &mut app, |a| {
                destinations::create(a, &r.body, &WorkerIds, policy)
            })
            .await
        }
        Route::UpdateDestination(id) => {
            let policy = url_policy(env);
            change_config(env, &mut app, |a| {
                destinations::update(a, &id, &r.body, policy)
            })
            .await
        }
        Route::DeleteDestination(id) => {
            change_config(env, &mut app, |a| destinations::delete(a, &id)).await
        }
        Route::GetCustomization => json(branding::get(&svc.store, the(&mut app)?).await),
        Route::UpdateCustomization => {
            let change = customization::read_change(&r.headers, r.body).await?;
            json(branding::patch(&svc.store, the(&mut app)?, change, svc.clock.now()).await)
        }
        Route::BillingBalance => {
            json(billing::balance(&svc.store, the(&mut app)?, svc.clock.now()).await)
        }
        Route::ListWorkflows => json(Ok(workflows::list(the(&mut app)?))),
        Route::GetWorkflow(id) => json(workflows::get(the(&mut app)?, &id)),
        Route::CreateWorkflow => {
            let now = svc.clock.now();
            change_config(env, &mut app, |a| {
                workflows::create(a, &r.body, &WorkerIds, now)
            })
            .await
        }
        Route::UpdateWorkflow(id) => {
            let now = svc.clock.now();
            change_config(env, &mut app, |a| {
                workflows::update(a, &id, &r.body, &WorkerIds, now)
            })
            .await
        }
        Route::DeleteWorkflow(id) => {
            change_config(env, &mut app, |a| workflows::delete(a, &id)).await
        }
        Route::PassiveLiveness => {
            let form = standalone::read_form(&r.headers, r.body).await?;
            json(standalone::passive_liveness(form, env).await)
        }
        Route::FaceMatch => {
            let form = standalone::read_form(&r.headers, r.body).await?;
            json(standalone::face_match(form, env).await)
        }
        Route::ListLists
        | Route::CreateList
        | Route::GetList(_)
        | Route::UpdateList(_)
        | Route::DeleteList(_)
        | Route::ListEntries(_)
        | Route::CreateEntry(_)
        | Route::UploadFaceEntry(_)
        | Route::DeleteEntry(..)
        | Route::FaceSearch => json(crate::lists::route(&r, route, &svc, the(&mut app)?).await),
        Route::HostedPage(token) => Ok(Reply::Page(
            hosted::page(&svc, env, &token)
                .await
                .map_err(|e| internal("page", e))?,
        )),
        Route::HostedSummary(token) => {
            json(hosted::summary(&svc, env, &r.headers, &token).await)
        }
        Route::HostedQr(token) => hosted::qr_code(&svc, &token).await.map(Reply::Svg),
        Route::HostedChallenge(token) => json(hosted::challenge(&svc, env, &token).await),
        Route::HostedChallengeStep(token, id, n) => {
            json(steps::handle(&svc, env, &r.headers, r.body, (&token, &id, &n)).await)
        }
        Route::HostedCapture(token) => {
            let outcome = capture::handle(&svc, env, &r.headers, r.body, &token).await;
            send_soon(r.env, r.ctx);
            json(outcome)
        }
        Route::Healthcheck => json(Ok(http::json(200, crate::memory::health()))),
        Route::Housekeeping => {
            // Development only (never set in wrangler.toml): the operator may run the
            // housekeeping as of a later time, `x-facegate-dev-now` (unix seconds).
            if app::setting(env, "FACEGATE_DEV_CLOCK").as_deref() == Some("1") {
                if let Some(to) =
                    facegate_sessions::routes::header(&r.headers, "x-facegate-dev-now")
                        .and_then(|v| v.trim().parse().ok())
                {
                    crate::ports::advance_dev_clock(to);
                }
            }
            housekeeping(env).await?;
            json(Ok(http::json(200, json!({ "status": "ok" }))))
        }
        Route::RouteTable => json(Ok(http::json(
            200,
            json!({ "count": facegate_sessions::ROUTES.len(), "results": table_json() }),
        ))),
        // Sign-in and the first admin's link come before there is a console caller.
        Route::ConsoleBootstrap => json(signin::bootstrap(&svc.store, &svc.clock, &svc.ids).await),
        Route::ConsoleSetup | Route::ConsoleLogin | Route::ConsoleLoginSelfie => {
            let form = signin::SignInForm {
                headers: &r.headers,
                own_origin: &svc.urls.hosted_base,
                body: &r.body,
            };
            let names = console::names(env).await?;
            json(match route {
                Route::ConsoleSetup => {
                    signin::setup(&svc.store, &svc.clock, &svc.ids, &form, &names).await
                }
                Route::ConsoleLogin => {
                    let app = console::second_factor_app(env, &svc).await?;
                    svc.console_login(&app, &form, &names).await
                }
                _ => {
                    let app = console::second_factor_app(env, &svc).await?;
                    svc.console_login_selfie(&app, &form, &names).await
                }
            })
        }
        _ => Err(internal("route", "a console route without its caller")),
    }
}

/// The operator API's routes (`Auth::Console`): the caller is a signed-in operator or the
/// operator token; each handler checks the role it needs in the application named.
async fn console_route(
    r: Incoming<'_>,
    route: Route,
    svc: &AppService,
    who: &Principal,
) -> std::result::Result<Reply, ApiError> {
    use facegate_sessions::console::{
        apps as console_apps, settings as console_settings, team, workflows as console_workflows,
    };
    let env = r.env;
    let json = |response: std::result::Result<HttpResponse, ApiError>| response.map(Reply::Json);
    match route {
        Route::ConsoleLogout => json(signin::logout(&svc.store, who).await),
        Route::ConsoleMe => {
            let names = console::names(env).await?;
            json(Ok(http::json(200, signin::me_json(who, &names))))
        }
        Route::ConsoleSecondFactor => json(svc.second_factor_status(who).await),
        Route::ConsoleEnrolSecondFactor => {
            let app = console::second_factor_app(env, svc).await?;
            json(svc.second_factor_enrol(&app, who, &r.body).await)
        }
        Route::ConsoleConfirmSecondFactor => {
            let app = console::second_factor_app(env, svc).await?;
            json(svc.second_factor_confirm(&app, who).await)
        }
        Route::ConsoleRemoveSecondFactor => {
            let app = console::second_factor_app(env, svc).await?;
            json(svc.second_factor_remove(&app, who, &r.body).await)
        }
        Route::ConsoleCreateApplication => {
            json(console::create_application(env, svc, who, &r.body).await)
        }
        Route::ConsoleInvite => json(console::invite(env, svc, who, &r.body).await),
        Route::ConsoleOperators(a) => {
            let app = console::application(env, who, &a).await?;
            json(team::list(&svc.store, who, &app.id).await)
        }
        Route::ConsoleSetRole(a, id) => {
            let app = console::application(env, who, &a).await?;
            console_apps::may_configure(who, &app)?;
            let role = team::parse_role(&r.body)?;
            json(
                team::set_role(
                    &svc.store,
                    &svc.clock,
                    &svc.ids,
                    who,
                    &app.id,
                    &id,
                    Some(role),
                )
                .await,
            )
        }
        Route::ConsoleRemoveRole(a, id) => {
            let app = console::application(env, who, &a).await?;
            json(team::set_role(&svc.store, &svc.clock, &svc.ids, who, &app.id, &id, None).await)
        }
        Route::ConsoleQueue(a) => {
            let app = console::application(env, who, &a).await?;
            json(svc.review_queue(who, &app).await)
        }
        Route::ConsoleSessions(a) => {
            let app = console::application(env, who, &a).await?;
            let url = r.req.url().map_err(|e| internal("url", e))?;
            json(
                svc.console_sessions(who, &app, url.query().unwrap_or(""))
                    .await,
            )
        }
        Route::ConsoleSession(a, id) => {
            let app = console::application(env, who, &a).await?;
            json(svc.session_evidence(who, &app, &id).await)
        }
        Route::ConsoleSessionPdf(a, id) => {
            let app = console::application(env, who, &a).await?;
            let report = svc.report(&app, &id).await?;
            Ok(Reply::Pdf {
                name: format!("facegate-{id}.pdf"),
                bytes: models::report_pdf(env, &report).await?,
            })
        }
        Route::ConsoleReview(a, id) => {
            let app = console::application(env, who, &a).await?;
            let reply = svc.console_review(who, &app, &id, &r.body).await;
            send_soon(env, r.ctx);
            json(reply)
        }
        Route::ConsoleAssign(a, id) => {
            let app = console::application(env, who, &a).await?;
            json(svc.console_assign(who, &app, &id, &r.body).await)
        }
        Route::ConsoleResend(a, destination, delivery) => {
            let app = console::application(env, who, &a).await?;
            let reply = svc.console_resend(who, &app, &destination, &delivery).await;
            send_soon(env, r.ctx);
            json(reply)
        }
        Route::ConsoleKeys(a) => {
            let app = console::application(env, who, &a).await?;
            json(console::keys(env, who, &app).await)
        }
        Route::ConsoleCreateKey(a) => {
            let app = console::application(env, who, &a).await?;
            json(console::create_key(env, svc, who, &app).await)
        }
        Route::ConsoleRevokeKey(a, key) => {
            let app = console::application(env, who, &a).await?;
            json(console::revoke_key(env, svc, who, &app, &key).await)
        }
        Route::ConsoleDestinations(a) => {
            let app = console::application(env, who, &a).await?;
            json(Ok(destinations::list(&app)))
        }
        Route::ConsoleCreateDestination(a) => {
            let app = console::application(env, who, &a).await?;
            console_apps::may_configure(who, &app)?;
            let policy = url_policy(env);
            let created = apps::change(env, &app.id, |a| {
                destinations::create(a, &r.body, &WorkerIds, policy)
            })
            .await?;
            let url = created
                .body
                .as_ref()
                .and_then(|b| b["url"].as_str())
                .unwrap_or("");
            console::audit(
                svc,
                who,
                &app.id,
                "WEBHOOK_DESTINATION_CREATED",
                format!("Webhook destination {url}"),
            )
            .await?;
            Ok(Reply::Json(created))
        }
        Route::ConsoleSettings(a) => {
            let app = console::application(env, who, &a).await?;
            json(Ok(http::json(200, console_settings::settings_json(&app))))
        }
        Route::ConsoleUpdateSettings(a) => {
            let app = console::application(env, who, &a).await?;
            let changed =
                apps::change(env, &app.id, |a| console_settings::patch(who, a, &r.body)).await?;
            // What changed, by name and new value, from the settings as stored (never the raw
            // body, whose extra fields were refused anyway).
            let after = changed.body.clone().unwrap_or_default();
            let detail =
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&r.body)
                    .unwrap_or_default()
                    .keys()
                    .map(|k| format!("{k} = {}", after[k]))
                    .collect::<Vec<_>>()
                    .join(", ");
            console::audit(svc, who, &app.id, "SETTINGS_CHANGED", detail).await?;
            Ok(Reply::Json(changed))
        }
        Route::ConsoleAudit(a) => {
            let app = console::application(env, who, &a).await?;
            json(console_apps::audit_log(&svc.store, who, &app).await)
        }
        Route::ConsoleUsage(a) => {
            let app = console::application(env, who, &a).await?;
            let now = svc.clock.now();
            let days = console_apps::usage(&svc.store, who, &app, now).await?;
            json(Ok(http::json(
                200,
                facegate_sessions::usage::usage_json(&app, now, &days),
            )))
        }
        Route::ConsoleUsageCsv(a) => {
            let app = console::application(env, who, &a).await?;
            let days = console_apps::usage(&svc.store, who, &app, svc.clock.now()).await?;
            Ok(Reply::Csv {
                name: format!("facegate-usage-{}.csv", app.id),
                text: facegate_sessions::usage::usage_csv(&days),
            })
        }
        Route::ConsoleErrorRates => json(Ok(console_workflows::curves(who))),
        Route::ConsoleWorkflows(a) => {
            let app = console::application(env, who, &a).await?;
            json(console_workflows::list(who, &app))
        }
        Route::ConsoleWorkflow(a, id) => {
            let app = console::application(env, who, &a).await?;
            json(console_workflows::get(who, &app, &id))
        }
        Route::ConsoleCreateWorkflow(a) => {
            let app = console::application(env, who, &a).await?;
            json(console::change_workflow(env, svc, who, &app, None, &r.body).await)
        }
        Route::ConsoleUpdateWorkflow(a, id) => {
            let app = console::application(env, who, &a).await?;
            json(console::change_workflow(env, svc, who, &app, Some(&id), &r.body).await)
        }
        _ => Err(internal("route", "not a console route")),
    }
}

/// Webhooks a request queued go out after it has its answer; failures stay queued for the cron.
fn send_soon(env: &Env, ctx: &Context) {
    let env = env.clone();
    ctx.wait_until(async move {
        if let Err(e) = deliver::due(&env).await {
            worker::console_error!("webhook delivery: {:?}", e);
        }
    });
}

/// A change to the calling application's configuration (webhook destinations, workflows),
/// applied to what is stored by `apps::change`, never to the copy read at request start.
async fn change_config(
    env: &Env,
    app: &mut Option<Application>,
    apply: impl FnMut(&mut Application) -> std::result::Result<HttpResponse, ApiError>,
) -> std::result::Result<Reply, ApiError> {
    let id = the(app)?.id.clone();
    apps::change(env, &id, apply).await.map(Reply::Json)
}

/// The application of an API-key route (the router authenticated it).
fn the(app: &mut Option<Application>) -> std::result::Result<&mut Application, ApiError> {
    app.as_mut()
        .ok_or_else(|| internal("route", "no application"))
}

/// `GET /session/{id}/webhooks/`: the session's delivery log (statuses, never the
/// receiver's answer).
async fn session_webhooks(
    svc: &AppService,
    app: &Application,
    id: &str,
) -> std::result::Result<HttpResponse, ApiError> {
    let rows = svc.session_deliveries(app, id).await?;
    let results: Vec<serde_json::Value> = rows
        .iter()
        .map(facegate_sessions::deliveries::delivery_json)
        .collect();
    Ok(http::json(
        200,
        json!({ "count": results.len(), "next": null, "previous": null, "results": results }),
    ))
}

/// The cron's work: expire sessions past their deadline, delete those past the application's
/// retention, forget Idempotency-Key answers past their day, send due webhooks. Also
/// `POST /internal/housekeeping` (operator only) for hosts without cron triggers: workerd
/// self-hosting, and wrangler dev 4.86, whose local static assets break the scheduled trigger
/// (workers-sdk#9882).
pub async fn housekeeping(env: &Env) -> std::result::Result<(), ApiError> {
    let svc = app::housekeeping_service(env)?;
    let applications = apps::all(env).await?;
    svc.expire_due(&applications).await?;
    for app in &applications {
        svc.purge_retention(app).await?;
    }
    svc.purge_idempotency().await?;
    svc.purge_signals().await?;
    rate_limit::sweep(env).await?;
    deliver::due(env).await
}
