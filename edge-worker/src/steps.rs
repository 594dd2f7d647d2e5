//! `POST /hosted/v1/{session_token}/challenge/{id}/steps/{n}`: one ACTIVE_3D step's frames
//! (`frames` repeated, filmed at the revealed cadence). The core checks the upload against
//! the challenge in progress before any frame is decoded (a replayed, late or foreign step is
//! refused for free), the pipeline measures each frame here (face track and patch) and embeds
//! one, and the core stamps them with its clock, records them and reveals the next step.
//! Frames are never stored.

use facegate_pipeline::challenge::active::ProtocolError;
use facegate_pipeline::challenge::{self, FrameObservation};
use facegate_pipeline::{decode, Embedding, Pipeline, Want};
use facegate_sessions::{ApiError, FieldErrors, HttpResponse};
use worker::Env;

use crate::app::AppService;
use crate::capture::{files, frame_error};
use crate::memory::Held;
use crate::{apps, models, standalone};

pub async fn handle(
    svc: &AppService,
    env: &Env,
    headers: &[(String, String)],
    body: Vec<u8>,
    (token, challenge_id, step): (&str, &str, &str),
) -> Result<HttpResponse, ApiError> {
    let form = crate::http::form(
        headers,
        body,
        "Send multipart/form-data: this step's frames, each in a `frames` field.",
    )
    .await?;
    let frames = files(&form, "frames").await?;
    // The limits in force are the loaded pipeline's (its configuration may override them).
    let pipeline = models::pipeline(env).await?;
    let limits = &pipeline.config.challenge;
    // Before any frame is decoded: a wrong count costs no attempt.
    if let Err(ProtocolError::FrameCount { sent, max }) = limits.check_step_frames(frames.len()) {
        return Err(FieldErrors::single(
            "frames",
            format!("Send 1 to {max} frames of this step; {sent} were sent."),
        ));
    }
    let applications = apps::all(env).await?;
    let ctx = svc
        .begin_step(&applications, token, challenge_id, step, limits)
        .await?;
    match measure(&pipeline, &frames, ctx.step) {
        Ok((observed, identity)) => svc
            .answer_step(ctx, &observed, identity, limits)
            .await
            .map(|v| HttpResponse::json(200, v)),
        // A frame read and refused costs an attempt, as in a capture; the core says which.
        Err(e) => Err(svc
            .refuse_step(&applications, token, e, &pipeline.config)
            .await),
    }
}

/// Each frame's face track and patch, and the embedding of the step's best frame (one
/// embedding a step: enough to tell that one person did every step, at a fifth of the CPU).
fn measure(
    pipeline: &Pipeline,
    frames: &[Vec<u8>],
    step: usize,
) -> Result<(Vec<FrameObservation>, Option<Embedding>), ApiError> {
    decode::probe_all(frames, &pipeline.config.decode)
        .map_err(|(i, e)| frame_error("frames", i, e))?;
    crate::memory::admit(frames, &pipeline.config.decode, Held::OneAtATime)?;
    let mut observed = Vec::with_capacity(frames.len());
    for (i, bytes) in frames.iter().enumerate() {
        let image = pipeline
            .decode(bytes)
            .map_err(|e| frame_error("frames", i, e))?;
        observed.push(
            pipeline
                .observe_frame(&image, step)
                .map_err(|e| frame_error("frames", i, e))?,
        );
    }
    let Some(best) = challenge::best_frame(&observed, &pipeline.config.challenge) else {
        return Ok((observed, None));
    };
    let want = Want {
        embedding: true,
        liveness: false,
    };
    let analysis = standalone::analyze(pipeline, &frames[best], "frames", want)?;
    Ok((observed, analysis.subject.and_then(|s| s.embedding)))
}
