//! 1:N face search: which enrolled or blocklisted faces resemble a capture.
//!
//! Templates are kept as int8 codes, a quarter of their fp32 size: 100k faces are 13 MB of
//! codes (27 MB with short ids and the id map), scanned in ~1.6 ms on one core (README, "1:N
//! face search"). Exhaustive scanning, not an approximate-neighbour graph: at these sizes it is
//! fast enough, and a blocklist check must not miss a face because a graph walk skipped it.
//!
//! The scan estimates every cosine from the codes and keeps those within
//! [`QUANTISATION_MARGIN`] of the threshold; the caller can then re-rank them on their exact
//! fp32 templates (in the worker, read from storage) so that decisions compare exact cosines.
//! Thresholds for a gallery size: [`crate::search_thresholds`].

mod codec;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use thiserror::Error;

use crate::embed::{Embedding, EMBEDDING_DIM};

/// Largest |int8 estimate − fp32 cosine| allowed for: a face can be missed by the scan only if
/// its estimate is off by more. Measured: at most 0.0051 (mean 0.0006) over the 2.96 million
/// pairs of the shared faces (search_thresholds.json, `quantisation`), at most 0.0068 (mean
/// 0.0010) over 2 million pairs of embedding-like random vectors
/// (`tests::quantisation_error_is_bounded`). The margin is three times the worst of those, and
/// costs only a few extra candidates to re-rank. Without re-ranking, a returned cosine is off by
/// at most that much, which is why `Hit::exact` says which it is.
pub const QUANTISATION_MARGIN: f32 = 0.02;

const DIM: usize = EMBEDDING_DIM;
/// Codes span −127..=127 (never −128) so that negation is exact and a product fits an i16.
const LEVELS: f32 = 127.0;
/// Ids are the service's own (user and blocklist entry ids); the bound keeps the byte format's
/// length field small and a hostile id from bloating every cached copy.
pub const MAX_ID_BYTES: usize = 256;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum SearchError {
    #[error("the face template is not a {DIM}-d vector of finite numbers with a non-zero length")]
    InvalidTemplate,
    #[error("the query is not a {DIM}-d vector of finite numbers with a non-zero length")]
    InvalidQuery,
    #[error("a face id must be at most {MAX_ID_BYTES} bytes")]
    IdTooLong,
    #[error("the index bytes are not a face index: {0}")]
    Corrupt(String),
}

/// A face found by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub cosine: f32,
    /// True when `cosine` comes from the fp32 template; false when it is the int8 estimate,
    /// within [`QUANTISATION_MARGIN`] of it.
    pub exact: bool,
}

/// A face the scan kept, before re-ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: String,
    pub estimate: f32,
}

/// One template as int8: component i ≈ codes[i] · scale.
///
/// A scale per vector rather than one fixed scale: a unit vector's components are bounded by 1,
/// so a fixed scale of 1/127 is always safe, but SFace components rarely exceed 0.35, so it
/// would use a quarter of the int8 range and give ~3× the rounding error of scaling each
/// vector by its own largest component, for the same 128 bytes plus 4 for the scale.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Code {
    pub codes: [i8; DIM],
    pub scale: f32,
}

impl Code {
    /// The code of `v` normalised to unit length; None for a wrong length, a non-finite
    /// component or a zero vector.
    pub(crate) fn quantise(v: &[f32]) -> Option<Code> {
        if v.len() != DIM || !v.iter().all(|x| x.is_finite()) {
            return None;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs())) / norm;
        if !(norm.is_finite() && norm > 1e-12 && max > 0.0) {
            return None;
        }
        let step = max / LEVELS;
        let mut codes = [0i8; DIM];
        for (c, x) in codes.iter_mut().zip(v) {
            *c = (x / norm / step).round().clamp(-LEVELS, LEVELS) as i8;
        }
        Some(Code { codes, scale: step })
    }
}

/// Σ a[i]·b[i]. Plain iterator code over fixed-size arrays, so LLVM vectorises it (SSE2/AVX2
/// `pmaddwd`, wasm SIMD128 when enabled) without std::arch, which the browser build lacks.
/// Each product fits an i16 (|code| ≤ 127), the sum an i32 (128 · 127² < 2³¹).
#[inline]
fn dot(a: &[i8; DIM], b: &[i8; DIM]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(i16::from(x) * i16::from(y)))
        .sum()
}

/// Face templates and their ids, searchable by cosine similarity.
#[derive(Debug, Clone, Default)]
pub struct FaceIndex {
    /// Entry i's codes are `codes[i]`: one contiguous block, scanned front to back.
    codes: Vec<[i8; DIM]>,
    scales: Vec<f32>,
    ids: Vec<String>,
    slots: HashMap<String, usize>,
}

impl FaceIndex {
    pub fn new() -> FaceIndex {
        FaceIndex::default()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.slots.contains_key(id)
    }

    /// Adds a face, or replaces the template of an id already present (re-enrolment).
    /// Returns whether it replaced one.
    pub fn insert(&mut self, id: &str, template: &Embedding) -> Result<bool, SearchError> {
        if id.len() > MAX_ID_BYTES {
            return Err(SearchError::IdTooLong);
        }
        let code = Code::quantise(&template.0).ok_or(SearchError::InvalidTemplate)?;
        Ok(self.insert_code(id, code))
    }

    pub(crate) fn insert_code(&mut self, id: &str, code: Code) -> bool {
        if let Some(&slot) = self.slots.get(id) {
            self.codes[slot] = code.codes;
            self.scales[slot] = code.scale;
            return true;
        }
        self.slots.insert(id.to_owned(), self.ids.len());
        self.codes.push(code.codes);
        self.scales.push(code.scale);
        self.ids.push(id.to_owned());
        false
    }

    /// Removes a face; false when the id was not there. The last entry moves into the hole,
    /// so removal is O(1) and the scan never meets a tombstone.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.slots.remove(id) else {
            return false;
        };
        self.codes.swap_remove(slot);
        self.scales.swap_remove(slot);
        self.ids.swap_remove(slot);
        if let Some(moved) = self.ids.get(slot) {
            self.slots.insert(moved.clone(), slot);
        }
        true
    }

    /// Heap bytes held: codes, scales, ids and the id map (its buckets estimated from capacity).
    pub fn memory_bytes(&self) -> usize {
        let id_bytes: usize = self.ids.iter().map(String::capacity).sum();
        let string = std::mem::size_of::<String>();
        // The map's own copy of each id, plus a bucket of key, slot and a control byte.
        let map = self.slots.capacity() * (string + std::mem::size_of::<usize>() + 1);
        self.codes.capacity() * DIM
            + self.scales.capacity() * 4
            + self.ids.capacity() * string
            + 2 * id_bytes
            + map
    }

    /// The `k` faces most similar to `query` with a cosine of at least `min_cosine`, best
    /// first, on the int8 estimates alone (`exact: false`).
    pub fn search(
        &self,
        query: &Embedding,
        k: usize,
        min_cosine: f32,
    ) -> Result<Vec<Hit>, SearchError> {
        let candidates = self.candidates(query, k, min_cosine)?;
        Ok(finish(
            candidates
                .into_iter()
                .map(|c| Hit {
                    id: c.id,
                    cosine: c.estimate,
                    exact: false,
                })
                .collect(),
            k,
            min_cosine,
        ))
    }

    /// As [`FaceIndex::search`], re-ranked on exact templates: `exact(id)` gives a candidate's
    /// fp32 template, or None to keep its estimate (a template not found, or not worth reading).
    pub fn search_exact(
        &self,
        query: &Embedding,
        k: usize,
        min_cosine: f32,
        exact: impl FnMut(&str) -> Option<Embedding>,
    ) -> Result<Vec<Hit>, SearchError> {
        let candidates = self.candidates(query, k, min_cosine)?;
        rerank(query, candidates, k, min_cosine, exact)
    }

    /// The scan alone, for callers that fetch the candidates' templates asynchronously (from
    /// storage) before [`rerank`]: every face whose estimate is within the margin of
    /// `min_cosine` and that could still be among the `k` best once cosines are exact.
    pub fn candidates(
        &self,
        query: &Embedding,
        k: usize,
        min_cosine: f32,
    ) -> Result<Vec<Candidate>, SearchError> {
        let q = Code::quantise(&query.0).ok_or(SearchError::InvalidQuery)?;
        if k == 0 || self.is_empty() || min_cosine.is_nan() {
            return Ok(Vec::new());
        }
        let floor = min_cosine - QUANTISATION_MARGIN;
        let mut kept: Vec<(f32, usize)> = Vec::new();
        for (i, (codes, &scale)) in self.codes.iter().zip(&self.scales).enumerate() {
            let estimate = dot(&q.codes, codes) as f32 * (q.scale * scale);
            if estimate >= floor {
                kept.push((estimate, i));
            }
        }
        // Exact cosines lie within the margin of their estimates, so a face estimated more
        // than two margins below the k-th best estimate cannot overtake any of the k.
        if kept.len() > k {
            kept.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
            let cut = kept[k - 1].0 - 2.0 * QUANTISATION_MARGIN;
            kept.retain(|&(e, _)| e >= cut);
        }
        Ok(kept
            .into_iter()
            .map(|(estimate, i)| Candidate {
                id: self.ids[i].clone(),
                estimate: estimate.clamp(-1.0, 1.0),
            })
            .collect())
    }

    /// The index as bytes, to cache it (format in `codec`).
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<FaceIndex, SearchError> {
        codec::decode(bytes)
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &[i8; DIM], f32)> {
        self.ids
            .iter()
            .zip(&self.codes)
            .zip(&self.scales)
            .map(|((id, c), &s)| (id.as_str(), c, s))
    }
}

/// Replaces the candidates' estimates by exact cosines where `exact` gives a template, then
/// keeps the `k` best of at least `min_cosine`, best first.
pub fn rerank(
    query: &Embedding,
    candidates: Vec<Candidate>,
    k: usize,
    min_cosine: f32,
    mut exact: impl FnMut(&str) -> Option<Embedding>,
) -> Result<Vec<Hit>, SearchError> {
    let q = unit(query).ok_or(SearchError::InvalidQuery)?;
    let hits = candidates
        .into_iter()
        .map(|c| {
            // A stored template that is itself broken keeps the estimate rather than failing
            // the whole search.
            match exact(&c.id).as_ref().and_then(unit) {
                Some(t) => Hit {
                    cosine: q.iter().zip(&t).map(|(a, b)| a * b).sum::<f32>(),
                    id: c.id,
                    exact: true,
                },
                None => Hit {
                    id: c.id,
                    cosine: c.estimate,
                    exact: false,
                },
            }
        })
        .collect();
    Ok(finish(hits, k, min_cosine))
}

/// `e` at unit length, or None when it cannot be (wrong length, NaN, zero).
fn unit(e: &Embedding) -> Option<Vec<f32>> {
    let v = &e.0;
    if v.len() != DIM || !v.iter().all(|x| x.is_finite()) {
        return None;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm.is_finite() && norm > 1e-12).then(|| v.iter().map(|x| x / norm).collect())
}

fn finish(mut hits: Vec<Hit>, k: usize, min_cosine: f32) -> Vec<Hit> {
    hits.retain(|h| h.cosine >= min_cosine);
    // Ties broken by id so that a search is reproducible whatever the insertion order.
    hits.sort_unstable_by(|a, b| b.cosine.total_cmp(&a.cosine).then_with(|| a.id.cmp(&b.id)));
    hits.truncate(k);
    hits
}
