//! facegate's models: the manifest of accepted files, their sha256 verification, and their
//! preparation into float32 ONNX files that tract-onnx can load.
//!
//! Typical use (what `facegate models prepare` does):
//!
//! ```no_run
//! use facegate_models::{prepare, Manifest, PrepareOptions};
//! let manifest = Manifest::load()?;
//! let opts = PrepareOptions::for_project(std::path::Path::new("."));
//! for model in prepare(&manifest, &opts, &mut |msg| eprintln!("{msg}"))? {
//!     println!("{} → {}", model.name, model.path.display());
//! }
//! # Ok::<(), facegate_models::ModelsError>(())
//! ```

mod dequantize;
mod error;
mod half_weights;
mod manifest;
mod prepare;
mod sources;

pub use dequantize::dequantize_onnx;
pub use error::ModelsError;
pub use half_weights::{half_precision_weights, HALF_FORMAT, HALF_MIN_ELEMENTS};
pub use manifest::{Manifest, ModelEntry, Source, MANIFEST_TOML};
pub use prepare::{
    client_path, client_paths, default_model_dir, prepare, prepared_path, read_prepared,
    PrepareOptions, PreparedBytes, PreparedClient, PreparedModel, CLIENT_DIR, PREPARE_FORMAT,
};

use sha2::{Digest, Sha256};

/// Lower-case hex sha256 of `bytes`, the form the manifest uses.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_hex_matches_known_vectors() {
        assert_eq!(
            super::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
