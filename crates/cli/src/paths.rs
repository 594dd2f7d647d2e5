//! Where things are: the project root, the prepared models, the shared data.

use std::path::{Path, PathBuf};

use facegate_pipeline::{ModelBytes, Pipeline, PipelineConfig};

/// The folder holding `models/manifest.toml`: the current directory or one above it, else the
/// one the binary was built in (target/release/facegate → the workspace).
pub fn project_root() -> Result<PathBuf, String> {
    let from_cwd = std::env::current_dir().ok();
    let from_exe = std::env::current_exe().ok();
    for start in from_cwd.iter().chain(from_exe.iter()) {
        if let Some(root) = start
            .ancestors()
            .find(|d| d.join("models/manifest.toml").is_file())
        {
            return Ok(root.to_path_buf());
        }
    }
    Err(
        "cannot find the facegate project (models/manifest.toml) above the current directory"
            .into(),
    )
}

fn prepared_dir(root: &Path) -> PathBuf {
    std::env::var_os("FACEGATE_PREPARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/prepared"))
}

/// Defaults, overridden by the JSON file given with --config or $FACEGATE_CONFIG.
pub fn pipeline_config(file: Option<&Path>) -> Result<PipelineConfig, String> {
    let file = file
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("FACEGATE_CONFIG").map(PathBuf::from));
    let Some(file) = file else {
        return Ok(PipelineConfig::default());
    };
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
}

pub fn load_pipeline(config: PipelineConfig) -> Result<Pipeline, String> {
    let root = project_root()?;
    let dir = prepared_dir(&root);
    let manifest = facegate_models::Manifest::load().map_err(|e| e.to_string())?;
    let b = facegate_models::read_prepared(&dir, &manifest).map_err(|e| e.to_string())?;
    let models = ModelBytes {
        yunet: b.yunet,
        sface: b.sface,
        minifasnet_v2: b.minifasnet_v2,
        minifasnet_v1se: b.minifasnet_v1se,
    };
    let extra = config.extra_liveness_model.as_ref().map(|spec| {
        // A relative path is the operator's, relative to where they run the command.
        std::fs::read(&spec.path).map_err(|e| format!("extra_liveness_model {}: {e}", spec.path))
    });
    let pipeline = Pipeline::load(models, config).map_err(|e| e.to_string())?;
    match extra {
        None => Ok(pipeline),
        Some(bytes) => pipeline.with_extra_model(bytes?).map_err(|e| e.to_string()),
    }
}

/// A fixed, varied set for the benchmark: a 640x480 selfie frame, video frames, and
/// higher-resolution photos.
pub fn default_bench_images() -> Result<Vec<PathBuf>, String> {
    let data = project_root()?.join("../shared/data");
    let images: Vec<PathBuf> = [
        "video/enroll_portrait_apfol_s1_t9.5s.jpg",
        "faces/deepface/img1.jpg",
        "faces/deepface/img2.jpg",
        "faces/lfw/AJ_Lamas/AJ_Lamas_0001.jpg",
    ]
    .iter()
    .map(|p| data.join(p))
    .filter(|p| p.is_file())
    .collect();
    if images.is_empty() {
        return Err(format!(
            "no benchmark images under {}; pass --images",
            data.display()
        ));
    }
    Ok(images)
}

/// The live webcam clip of ../shared/data, which `bench --burst` cuts into bursts.
pub fn live_clip() -> Result<PathBuf, String> {
    let clip = std::env::var_os("FACEGATE_DATA_DIR")
        .map_or_else(
            || project_root().map(|r| r.join("../shared/data")),
            |d| Ok(PathBuf::from(d)),
        )?
        .join("video/live_selfie_640x480_30fps_5s.mjpeg");
    if clip.is_file() {
        Ok(clip)
    } else {
        Err(format!(
            "{}: not found (set FACEGATE_DATA_DIR)",
            clip.display()
        ))
    }
}
