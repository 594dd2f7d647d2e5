//! `POST /hosted/v1/{session_token}/capture`: the hosted page (or a test, without a camera)
//! posts one frame (`frame`), or for an active liveness challenge the frames it filmed
//! (`frames` repeated, `steps` JSON with each frame's step, `challenge_id`); the pipeline runs
//! here, authoritatively, between the core's `begin_capture` and `capture`, which decides from
//! the measurements and stores the outcome. Frames are never stored. A request refused before
//! any frame is decoded (not multipart, malformed labels) costs no attempt; a frame decoded
//! and refused does (`refuse_capture`).

use facegate_pipeline::{challenge, decode};
use facegate_pipeline::challenge::FrameObservation;
use facegate_pipeline::{Analysis, Embedding, Pipeline, PipelineError, Want};
use facegate_sessions::validate::PortraitImage;
use facegate_sessions::{
    parse_frame_labels, ApiError, CaptureEvidence, ChallengeAnswer, FieldErrors, HttpResponse,
    MAX_FRAME_BYTES,
};
use worker::{Env, FormData, FormEntry};

use crate::app::AppService;
use crate::http::internal;
use crate::{apps, models, standalone};

pub async fn handle(
    svc: &AppService,
    env: &Env,
    headers: &[(String, String)],
    body: Vec<u8>,
    token: &str,
) -> Result<HttpResponse, ApiError> {
    // The router has checked the token and read the body within the route's limit.
    let form = crate::http::form(
        headers,
        body,
        "Send multipart/form-data with the image in the `frame` field (or `frames`, `steps` and `challenge_id` for a challenge).",
    )
    .await?;
    // The client's own figures are kept as a signal only; the decision never reads them.
    let precheck = match form.get_field("precheck") {
        None => None,
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|_| FieldErrors::single("precheck", "Must be a JSON object."))?,
        ),
    };
    if ["frames", "steps", "challenge_id"]
        .iter()
        .any(|f| form.has(f))
    {
        return handle_frames(svc, env, &form, token, precheck).await;
    }
    let frame = standalone::image_field(&form, "frame").await?;
    let applications = apps::all(env).await?;
    let ctx = svc.begin_capture(&applications, token).await?;
    let pipeline = models::pipeline(env).await?;
    let analysis = match standalone::analyze(&pipeline, &frame, "frame", Want::ALL) {
        Ok(analysis) => analysis,
        // A frame read and refused costs an attempt; the core says which refusals count.
        Err(e) => return Err(svc.refuse_capture(ctx, e, &pipeline.config).await),
    };
    let evidence = CaptureEvidence {
        analysis,
        challenge: None,
        precheck,
    };
    let result = svc.capture(ctx, evidence, &pipeline.config).await?;
    Ok(HttpResponse::json(200, result.to_json()))
}

/// An active-liveness capture: the frames filmed while the page showed the challenge, each
/// labelled with its step. Every frame is detected and measured; only the best one is embedded
/// and scored for passive liveness.
async fn handle_frames(
    svc: &AppService,
    env: &Env,
    form: &FormData,
    token: &str,
    precheck: Option<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let entries = form.get_all("frames").unwrap_or_default();
    let labels = parse_frame_labels(
        form.get_field("challenge_id").as_deref(),
        form.get_field("steps").as_deref(),
        entries.len(),
    )?;
    let mut frames = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let FormEntry::File(file) = entry else {
            return Err(FieldErrors::single(
                "frames",
                format!("Frame {i}: upload a file, not a text field."),
            ));
        };
        let bytes = file.bytes().await.map_err(|e| {
            FieldErrors::single("frames", format!("Frame {i}: unreadable upload: {e}"))
        })?;
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(FieldErrors::single(
                "frames",
                format!("Frame {i} is larger than {MAX_FRAME_BYTES} bytes: send frames about 480 px wide."),
            ));
        }
        frames.push(bytes);
    }
    let applications = apps::all(env).await?;
    let ctx = svc.begin_capture(&applications, token).await?;
    let method = ctx.workflow.liveness_method;
    if !method.is_active() {
        return Err(FieldErrors::single(
            "frames",
            "This workflow uses passive liveness: send one image in the `frame` field.",
        ));
    }
    if let Some(c) = ctx
        .challenge
        .as_ref()
        .filter(|c| c.id == labels.challenge_id)
    {
        if let Some((i, step)) = labels
            .steps
            .iter()
            .enumerate()
            .find(|(_, s)| **s >= c.steps.len())
        {
            return Err(FieldErrors::single(
                "steps",
                format!(
                    "Entry {i} names step {step}; the challenge has {} steps.",
                    c.steps.len()
                ),
            ));
        }
    }
    let pipeline = models::pipeline(env).await?;
    let measured = measure_frames(&pipeline, &frames, &labels.steps);
    let (observed, analysis) = match measured {
        Ok(measured) => measured,
        // A frame read and refused costs an attempt; the core says which refusals count.
        Err(e) => return Err(svc.refuse_capture(ctx, e, &pipeline.config).await),
    };
    let evidence = CaptureEvidence {
        analysis,
        challenge: Some(ChallengeAnswer {
            challenge_id: labels.challenge_id,
            frames: observed,
        }),
        precheck,
    };
    let result = svc.capture(ctx, evidence, &pipeline.config).await?;
    Ok(HttpResponse::json(200, result.to_json()))
}

/// Every challenge frame detected and measured, and the best one analysed in full.
fn measure_frames(
    pipeline: &Pipeline,
    frames: &[Vec<u8>],
    steps: &[usize],
) -> Result<(Vec<FrameObservation>, Analysis), ApiError> {
    decode::probe_all(frames, &pipeline.config.decode).map_err(|(i, e)| frame_error(i, e))?;
    crate::memory::admit(frames, &pipeline.config.decode)?;
    let mut observed = Vec::with_capacity(frames.len());
    for (i, (bytes, step)) in frames.iter().zip(steps).enumerate() {
        let image = pipeline.decode(bytes).map_err(|e| frame_error(i, e))?;
        observed.push(
            pipeline
                .observe_frame(&image, *step)
                .map_err(|e| frame_error(i, e))?,
        );
    }
    let best = challenge::best_frame(&observed, &pipeline.config.challenge).unwrap_or(0);
    // The best frame is decoded a second time (a few ms) rather than keeping all the decoded
    // frames: up to 16 of them would add about 8 MB to an isolate already near 128 MB.
    let analysis = standalone::analyze(pipeline, &frames[best], "frames", Want::ALL)?;
    Ok((observed, analysis))
}

fn frame_error(i: usize, e: PipelineError) -> ApiError {
    match e {
        PipelineError::Model { .. } => internal("pipeline", e),
        input => FieldErrors::single("frames", format!("Frame {i}: {input}")),
    }
}

/// The embedding of a `portrait_image` sent at session creation; `None` when it holds no
/// usable face (the core answers 400). Behind the memory guard like any frame: a portrait is
/// decoded in the same isolate.
pub fn enrol_portrait(
    pipeline: &Pipeline,
    portrait: &PortraitImage,
) -> Result<Option<Embedding>, ApiError> {
    crate::memory::admit(&[&portrait.0], &pipeline.config.decode)?;
    let want = Want {
        embedding: true,
        liveness: false,
    };
    Ok(pipeline
        .analyze(&portrait.0, want)
        .ok()
        .and_then(|a| a.subject)
        .and_then(|s| s.embedding))
}
