//! `POST /hosted/v1/{session_token}/capture`: the hosted page (or a test, without a camera)
//! posts a passive workflow's burst (5-8 `burst` files of the steady moment), or for an active
//! liveness challenge the frames it filmed (`frames` repeated, `steps` JSON with each frame's
//! step, `challenge_id`). The pipeline runs here, authoritatively, between the core's
//! `begin_capture` and `capture`, which decides from the measurements and stores the outcome.
//! Frames are never stored. A request refused before any frame is decoded (not multipart, the
//! wrong kind of capture for the workflow, malformed labels, a frame count out of bounds) costs
//! no attempt; a frame decoded and refused does (`refuse_capture`).

use facegate_pipeline::burst::{BurstAnalysis, BurstError};
use facegate_pipeline::challenge::FrameObservation;
use facegate_pipeline::{challenge, decode};
use facegate_pipeline::{Analysis, Embedding, Pipeline, PipelineError, Want};
use facegate_sessions::validate::PortraitImage;
use facegate_sessions::{
    parse_frame_labels, ApiError, CaptureEvidence, CaptureKind, ChallengeAnswer, FieldErrors,
    HttpResponse, MAX_FRAME_BYTES,
};
use worker::{Env, FormData, FormEntry};

use crate::app::AppService;
use crate::http::internal;
use crate::memory::Held;
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
        "Send multipart/form-data: 5 to 8 frames in `burst` fields (or `frames`, `steps` and `challenge_id` for a challenge).",
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
    let kind = if ["frames", "steps", "challenge_id"]
        .iter()
        .any(|f| form.has(f))
    {
        CaptureKind::Challenge
    } else if form.has("burst") {
        CaptureKind::Burst
    } else {
        CaptureKind::SingleFrame
    };
    let field = match kind {
        CaptureKind::Challenge => "frames",
        CaptureKind::Burst => "burst",
        CaptureKind::SingleFrame => "frame",
    };
    let frames = files(&form, field).await?;
    let labels = match kind {
        CaptureKind::Challenge => Some(parse_frame_labels(
            form.get_field("challenge_id").as_deref(),
            form.get_field("steps").as_deref(),
            frames.len(),
        )?),
        _ => None,
    };
    let applications = apps::all(env).await?;
    let seen = crate::visit::seen(env, headers).await;
    let mut ctx = svc
        .begin_capture(&applications, token, Some(&seen))
        .await?;
    ctx.expect(kind)?;
    let pipeline = models::pipeline(env).await?;
    let measured = match &labels {
        Some(labels) => {
            check_steps(&ctx, labels)?;
            measure_frames(&pipeline, &frames, &labels.steps).map(|(observed, analysis)| {
                CaptureEvidence {
                    analysis,
                    burst: None,
                    challenge: Some(ChallengeAnswer {
                        challenge_id: labels.challenge_id.clone(),
                        frames: observed,
                    }),
                    precheck,
                }
            })
        }
        None => {
            // Before any frame is decoded: a wrong count costs no attempt.
            pipeline
                .config
                .burst
                .check_count(frames.len())
                .map_err(|e| FieldErrors::single("burst", e.to_string()))?;
            measure_burst(&pipeline, &frames).map(|burst| CaptureEvidence {
                analysis: burst.best_frame_analysis(),
                burst: Some(burst),
                challenge: None,
                precheck,
            })
        }
    };
    let evidence = match measured {
        Ok(evidence) => evidence,
        // A frame read and refused costs an attempt; the core says which refusals count.
        Err(e) => return Err(svc.refuse_capture(ctx, e, &pipeline.config).await),
    };
    // The burst's best frame (a challenge's first): kept only if the application retains images.
    let best = evidence.burst.as_ref().and_then(|b| b.best).unwrap_or(0);
    ctx.image = frames.get(best).cloned();
    // The face blocklist and duplicate checks (1:N) over the application's cached gallery.
    ctx.faces = Some(crate::lists::gallery(svc, &ctx.application).await?);
    let result = svc.capture(ctx, evidence, &pipeline.config).await?;
    Ok(HttpResponse::json(200, result.to_json()))
}

/// The uploaded files of a repeated field, each within the per-frame limit.
pub(crate) async fn files(form: &FormData, field: &str) -> Result<Vec<Vec<u8>>, ApiError> {
    // How many is checked later, per kind; the route's body limit bounds what is read here.
    let entries = form.get_all(field).unwrap_or_default();
    let mut frames = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let FormEntry::File(file) = entry else {
            return Err(FieldErrors::single(
                field,
                format!("Frame {i}: upload a file, not a text field."),
            ));
        };
        let bytes = file.bytes().await.map_err(|e| {
            FieldErrors::single(field, format!("Frame {i}: unreadable upload: {e}"))
        })?;
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(FieldErrors::single(
                field,
                format!("Frame {i} is larger than {MAX_FRAME_BYTES} bytes: send frames of about 640x480."),
            ));
        }
        frames.push(bytes);
    }
    Ok(frames)
}

/// Labels naming a step the session's challenge does not have are malformed (400, free).
fn check_steps(
    ctx: &facegate_sessions::CaptureContext,
    labels: &facegate_sessions::FrameLabels,
) -> Result<(), ApiError> {
    let Some(c) = ctx
        .challenge
        .as_ref()
        .filter(|c| c.id == labels.challenge_id)
    else {
        return Ok(());
    };
    match labels
        .steps
        .iter()
        .enumerate()
        .find(|(_, s)| **s >= c.steps.len())
    {
        Some((i, step)) => Err(FieldErrors::single(
            "steps",
            format!(
                "Entry {i} names step {step}; the challenge has {} steps.",
                c.steps.len()
            ),
        )),
        None => Ok(()),
    }
}

/// The burst decoded (all frames held at once: the cues compare them) and analysed.
fn measure_burst(pipeline: &Pipeline, frames: &[Vec<u8>]) -> Result<BurstAnalysis, ApiError> {
    decode::probe_all(frames, &pipeline.config.decode)
        .map_err(|(i, e)| frame_error("burst", i, e))?;
    crate::memory::admit(frames, &pipeline.config.decode, Held::AllAtOnce)?;
    let images = frames
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            pipeline
                .decode(bytes)
                .map_err(|e| frame_error("burst", i, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    pipeline
        .analyze_burst(&images, &pipeline.config.burst)
        .map_err(|e| match e {
            BurstError::Pipeline(PipelineError::Model { .. }) => internal("pipeline", e),
            input => FieldErrors::single("burst", input.to_string()),
        })
}

/// Every challenge frame detected and measured, and the best one analysed in full.
fn measure_frames(
    pipeline: &Pipeline,
    frames: &[Vec<u8>],
    steps: &[usize],
) -> Result<(Vec<FrameObservation>, Analysis), ApiError> {
    decode::probe_all(frames, &pipeline.config.decode)
        .map_err(|(i, e)| frame_error("frames", i, e))?;
    crate::memory::admit(frames, &pipeline.config.decode, Held::OneAtATime)?;
    let mut observed = Vec::with_capacity(frames.len());
    for (i, (bytes, step)) in frames.iter().zip(steps).enumerate() {
        let image = pipeline
            .decode(bytes)
            .map_err(|e| frame_error("frames", i, e))?;
        observed.push(
            pipeline
                .observe_frame(&image, *step)
                .map_err(|e| frame_error("frames", i, e))?,
        );
    }
    let best = challenge::best_frame(&observed, &pipeline.config.challenge).unwrap_or(0);
    // The best frame is decoded a second time (a few ms) rather than keeping all the decoded
    // frames: up to 16 of them would add about 8 MB to the isolate.
    let analysis = standalone::analyze(pipeline, &frames[best], "frames", Want::ALL)?;
    Ok((observed, analysis))
}

pub(crate) fn frame_error(field: &str, i: usize, e: PipelineError) -> ApiError {
    match e {
        PipelineError::Model { .. } => internal("pipeline", e),
        input => FieldErrors::single(field, format!("Frame {i}: {input}")),
    }
}

/// The embedding of a `portrait_image` sent at session creation; `None` when it holds no
/// usable face (the core answers 400). Behind the memory guard like any frame: a portrait is
/// decoded in the same isolate.
pub fn enrol_portrait(
    pipeline: &Pipeline,
    portrait: &PortraitImage,
) -> Result<Option<Embedding>, ApiError> {
    crate::memory::admit(&[&portrait.0], &pipeline.config.decode, Held::OneAtATime)?;
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
