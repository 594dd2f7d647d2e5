//! What the tests on real data share: where ../shared/data and the prepared models are, the
//! full pipeline built once per test binary, and the frames of the fake-camera clips.
#![allow(dead_code)] // each test binary uses its own part of this

use std::path::PathBuf;
use std::sync::OnceLock;

use facegate_pipeline::{ModelBytes, Pipeline, PipelineConfig};

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared data set (../shared/data beside the project, or $FACEGATE_DATA_DIR).
pub fn data_dir() -> PathBuf {
    std::env::var_os("FACEGATE_DATA_DIR")
        .map_or_else(|| workspace().join("../shared/data"), PathBuf::from)
}

pub fn data(path: &str) -> PathBuf {
    data_dir().join(path)
}

pub fn read(path: &str) -> Vec<u8> {
    let p = data(path);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared data set must sit beside the project)",
            p.display()
        )
    })
}

/// models/prepared (or $FACEGATE_PREPARED_DIR): `facegate models prepare` writes it.
pub fn prepared_dir() -> PathBuf {
    std::env::var_os("FACEGATE_PREPARED_DIR")
        .map_or_else(|| workspace().join("models/prepared"), PathBuf::from)
}

pub fn prepared() -> facegate_models::PreparedBytes {
    let manifest = facegate_models::Manifest::load().unwrap();
    facegate_models::read_prepared(&prepared_dir(), &manifest).unwrap_or_else(|e| panic!("{e}"))
}

pub fn pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        let b = prepared();
        let models = ModelBytes {
            yunet: b.yunet,
            sface: b.sface,
            minifasnet_v2: b.minifasnet_v2,
            minifasnet_v1se: b.minifasnet_v1se,
        };
        Pipeline::load(models, PipelineConfig::default()).expect("models load")
    })
}

/// The JPEG frames of an .mjpeg clip in the data set.
pub fn mjpeg_frames(path: &str) -> Vec<Vec<u8>> {
    facegate_pipeline::burst::split_mjpeg(&read(path))
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}
pub mod flash_sim;
