//! The pipeline, loaded once per isolate from the MODELS bucket. Model files are too large for
//! the Worker bundle; a cold isolate pays one R2 read and one model build, then reuses both.

use std::cell::RefCell;
use std::rc::Rc;

use facegate_pipeline::{ModelBytes, Pipeline, PipelineConfig};
use worker::Env;

use facegate_sessions::ApiError;

use crate::http::internal;

thread_local! {
    static PIPELINE: RefCell<Option<Rc<Pipeline>>> = const { RefCell::new(None) };
}

/// Object keys in the bucket: the model names of models/manifest.toml.
const KEYS: [&str; 4] = ["yunet", "sface", "minifasnet_v2", "minifasnet_v1se"];

pub async fn pipeline(env: &Env) -> Result<Rc<Pipeline>, ApiError> {
    if let Some(p) = PIPELINE.with(|c| c.borrow().clone()) {
        return Ok(p);
    }
    let bucket = env
        .bucket("MODELS")
        .map_err(|e| internal("MODELS binding", e))?;
    let mut files = Vec::with_capacity(KEYS.len());
    for key in KEYS {
        let missing = || {
            internal("R2", format!("model `{key}` missing from the MODELS bucket: run `npm run dev` (it uploads models/prepared)"))
        };
        let object = bucket
            .get(key)
            .execute()
            .await
            .map_err(|e| internal("R2 read", e))?
            .ok_or_else(missing)?;
        let body = object.body().ok_or_else(missing)?;
        files.push(body.bytes().await.map_err(|e| internal("R2 body", e))?);
    }
    let models = ModelBytes {
        yunet: &files[0],
        sface: &files[1],
        minifasnet_v2: &files[2],
        minifasnet_v1se: &files[3],
    };
    let pipeline = Rc::new(
        Pipeline::load(models, PipelineConfig::default()).map_err(|e| internal("model load", e))?,
    );
    PIPELINE.with(|c| *c.borrow_mut() = Some(pipeline.clone()));
    Ok(pipeline)
}
