//! `POST /hosted/v1/{session_token}/capture`: the hosted page (or a test, without a camera)
//! posts one frame; the pipeline runs here, authoritatively, between the core's
//! `begin_capture` and `finish_capture`. The frame itself is never stored.

use facegate_pipeline::decide;
use facegate_pipeline::{Embedding, Pipeline, Want};
use facegate_sessions::validate::PortraitImage;
use facegate_sessions::{
    ApiError, CaptureOutcome, Feature, FieldErrors, HttpResponse, FACE_MATCH_NODE, LIVENESS_NODE,
};
use worker::{Env, Request};

use crate::routes::AppService;
use crate::{apps, models, standalone};

pub async fn handle(
    svc: &AppService,
    env: &Env,
    req: &mut Request,
    token: &str,
) -> Result<HttpResponse, ApiError> {
    let form = req.form_data().await.map_err(|_| {
        ApiError::BadRequest("Send multipart/form-data with the image in the `frame` field.".into())
    })?;
    let frame = standalone::image_field(&form, "frame").await?;
    // The client's own figures are kept as a signal only; the decision never reads them.
    let precheck = match form.get_field("precheck") {
        None => None,
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|_| FieldErrors::single("precheck", "Must be a JSON object."))?,
        ),
    };
    let applications = apps::all(env).await?;
    let ctx = svc.begin_capture(&applications, token).await?;
    let pipeline = models::pipeline(env).await?;
    // A bad frame is refused before finish_capture, so it costs the user no attempt.
    let analysis = standalone::analyze(&pipeline, &frame, "frame", Want::ALL)?;
    let policy = ctx.workflow.policy();
    let c = &pipeline.config;
    let liveness = decide::liveness_check(
        LIVENESS_NODE,
        &analysis.observation(None),
        &c.calibration,
        &policy,
        &c.quality,
    );
    let face_match = ctx.workflow.has(Feature::FaceMatch).then(|| {
        let obs = analysis.observation(ctx.reference.as_ref());
        decide::face_match(
            FACE_MATCH_NODE,
            &obs,
            ctx.reference.is_some(),
            &c.calibration,
            &policy,
        )
    });
    let embedding = analysis.subject.and_then(|s| s.embedding);
    let result = svc
        .finish_capture(
            ctx,
            CaptureOutcome {
                liveness,
                face_match,
                embedding,
                precheck,
            },
        )
        .await?;
    Ok(HttpResponse::json(200, result.to_json()))
}

/// The embedding of a `portrait_image` sent at session creation; `None` when it holds no
/// usable face (the core answers 400).
pub fn enrol_portrait(pipeline: &Pipeline, portrait: &PortraitImage) -> Option<Embedding> {
    let analysis = pipeline
        .analyze(
            &portrait.0,
            Want {
                embedding: true,
                liveness: false,
            },
        )
        .ok()?;
    analysis.subject.and_then(|s| s.embedding)
}
