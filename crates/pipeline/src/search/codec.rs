//! The index as bytes, so a worker can cache it instead of rebuilding it from every template:
//!
//! ```text
//! "FGIX" | version u8 = 1 | dimension u16 LE | count u32 LE
//! count × ( scale f32 LE | dimension × i8 code | id length u16 LE | id UTF-8 )
//! ```
//!
//! Everything is checked on the way in (a cache can be truncated or from another version), and
//! a bad file is an error, never a panic or a half-built index.

use super::{Code, FaceIndex, SearchError, DIM, LEVELS, MAX_ID_BYTES};

const MAGIC: &[u8; 4] = b"FGIX";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + 2 + 4;

pub(super) fn encode(index: &FaceIndex) -> Vec<u8> {
    let ids: usize = index.entries().map(|(id, _, _)| id.len()).sum();
    let mut out = Vec::with_capacity(HEADER + index.len() * (4 + DIM + 2) + ids);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(DIM as u16).to_le_bytes());
    out.extend_from_slice(&(index.len() as u32).to_le_bytes());
    for (id, codes, scale) in index.entries() {
        out.extend_from_slice(&scale.to_le_bytes());
        out.extend(codes.iter().map(|&c| c as u8));
        // `insert` bounds ids to MAX_ID_BYTES, well within the u16 length.
        out.extend_from_slice(&(id.len() as u16).to_le_bytes());
        out.extend_from_slice(id.as_bytes());
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], SearchError> {
        if self.bytes.len() < n {
            return Err(SearchError::Corrupt(format!("truncated in {what}")));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u16(&mut self, what: &str) -> Result<u16, SearchError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, SearchError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

pub(super) fn decode(bytes: &[u8]) -> Result<FaceIndex, SearchError> {
    let mut r = Reader { bytes };
    if r.take(4, "the header")? != MAGIC {
        return Err(SearchError::Corrupt("no FGIX header".into()));
    }
    let version = r.take(1, "the header")?[0];
    if version != VERSION {
        return Err(SearchError::Corrupt(format!(
            "version {version}, expected {VERSION}"
        )));
    }
    let dim = r.u16("the header")? as usize;
    if dim != DIM {
        return Err(SearchError::Corrupt(format!(
            "{dim}-d codes, expected {DIM}"
        )));
    }
    let count = r.u32("the header")? as usize;
    // Each entry takes at least this much: a count the bytes cannot hold is refused before
    // anything is allocated for it.
    let min_entry = 4 + DIM + 2;
    if count > r.bytes.len() / min_entry {
        return Err(SearchError::Corrupt(format!(
            "{count} entries announced in {} bytes",
            bytes.len()
        )));
    }
    let mut index = FaceIndex::new();
    index.codes.reserve_exact(count);
    index.scales.reserve_exact(count);
    index.ids.reserve_exact(count);
    for n in 0..count {
        let what = format!("entry {n}");
        let s = r.take(4, &what)?;
        let scale = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
        // A unit vector's largest component is at most 1, so its step at most 1/127.
        if !(scale.is_finite() && scale > 0.0 && scale <= 1.0 / LEVELS * 1.0001) {
            return Err(SearchError::Corrupt(format!("{what}: scale {scale}")));
        }
        let mut codes = [0i8; DIM];
        for (c, &b) in codes.iter_mut().zip(r.take(DIM, &what)?) {
            *c = b as i8;
        }
        if codes.contains(&i8::MIN) {
            return Err(SearchError::Corrupt(format!("{what}: code -128")));
        }
        let len = r.u16(&what)? as usize;
        if len > MAX_ID_BYTES {
            return Err(SearchError::Corrupt(format!("{what}: id of {len} bytes")));
        }
        let id = std::str::from_utf8(r.take(len, &what)?)
            .map_err(|_| SearchError::Corrupt(format!("{what}: id is not UTF-8")))?;
        if index.insert_code(id, Code { codes, scale }) {
            return Err(SearchError::Corrupt(format!("{what}: id {id:?} twice")));
        }
    }
    if !r.bytes.is_empty() {
        return Err(SearchError::Corrupt(format!(
            "{} bytes after the last entry",
            r.bytes.len()
        )));
    }
    Ok(index)
}
