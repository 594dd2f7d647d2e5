//! The pipeline, loaded once per isolate from the MODELS bucket. Model files are too large for
//! the Worker bundle; a cold isolate pays one R2 read and one model build, then reuses both.

use std::cell::RefCell;
use std::rc::Rc;

use facegate_pipeline::detect::Detector;
use facegate_pipeline::embed::Embedder;
use facegate_pipeline::liveness::LivenessModel;
use facegate_pipeline::{Pipeline, PipelineConfig};
use worker::{Bucket, Env};

use facegate_sessions::pdf::{FontId, Report};
use facegate_sessions::ApiError;

use crate::http::internal;
use crate::memory;

thread_local! {
    static PIPELINE: RefCell<Option<Rc<Pipeline>>> = const { RefCell::new(None) };
}

pub async fn pipeline(env: &Env) -> Result<Rc<Pipeline>, ApiError> {
    if let Some(p) = PIPELINE.with(|c| c.borrow().clone()) {
        return Ok(p);
    }
    let bucket = env
        .bucket("MODELS")
        .map_err(|e| internal("MODELS binding", e))?;
    // One model at a time, each file's bytes dropped once built: the isolate's linear memory
    // never shrinks, so its peak is what counts against the 128 MB limit. The largest (SFace)
    // first, while the heap is empty: what its loading frees is reused by the others.
    let model = |e| internal("model load", e);
    memory::record("start");
    let embedder = Embedder::load(read(&bucket, "sface").await?).map_err(model)?;
    memory::record("sface");
    let detector = Detector::load(&read(&bucket, "yunet").await?).map_err(model)?;
    memory::record("yunet");
    let v2 = read(&bucket, "minifasnet_v2").await?;
    let liveness =
        LivenessModel::load(v2, Some(read(&bucket, "minifasnet_v1se").await?)).map_err(model)?;
    memory::record("minifasnet_v2+v1se");
    let pipeline = Rc::new(
        Pipeline::from_parts(detector, embedder, liveness, PipelineConfig::default())
            .map_err(model)?,
    );
    memory::record("warm-up");
    PIPELINE.with(|c| *c.borrow_mut() = Some(pipeline.clone()));
    Ok(pipeline)
}

/// The PDF report's fonts (models/fonts.tsv), read from the bucket for one report and dropped
/// with it: only the ones its text needs, Latin always, so a CJK font's 5-10 MB are read only
/// for a report with CJK text. A missing script font leaves its characters drawn as U+FFFD.
pub async fn fonts(env: &Env, ids: &[FontId]) -> Result<Vec<(FontId, Vec<u8>)>, ApiError> {
    let bucket = env
        .bucket("MODELS")
        .map_err(|e| internal("MODELS binding", e))?;
    let mut fonts = Vec::with_capacity(ids.len());
    for &id in ids {
        match read(&bucket, &format!("font/{}", id.key())).await {
            Ok(bytes) => fonts.push((id, bytes)),
            Err(e) if id == FontId::Latin => return Err(e),
            Err(_) => {}
        }
    }
    Ok(fonts)
}

/// A report as PDF bytes, with the fonts it needs.
pub async fn report_pdf(env: &Env, report: &Report) -> Result<Vec<u8>, ApiError> {
    let loaded = fonts(env, &report.fonts()).await?;
    let fonts: Vec<(FontId, &[u8])> = loaded.iter().map(|(id, b)| (*id, b.as_slice())).collect();
    report.render(&fonts)
}

/// A model file from the bucket, stored under its manifest name.
async fn read(bucket: &Bucket, key: &str) -> Result<Vec<u8>, ApiError> {
    let missing = || {
        internal("R2", format!("`{key}` missing from the MODELS bucket: run `npm run dev` (it uploads models/prepared and models/fonts)"))
    };
    let object = bucket
        .get(key)
        .execute()
        .await
        .map_err(|e| internal("R2 read", e))?
        .ok_or_else(missing)?;
    object
        .body()
        .ok_or_else(missing)?
        .bytes()
        .await
        .map_err(|e| internal("R2 body", e))
}
