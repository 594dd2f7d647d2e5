//! The IP data as one file read in pages (`ip.pages`), for a Worker: the three tables take
//! 18 MB, more than an isolate can spare beside the face models, so the file stays in R2 and a
//! lookup reads two small ranges of it. Only the head (a few KB) stays resident.
//!
//! The file joins the ASN, country and flag tables into one partition of each family's address
//! space: each row starts a run of addresses with the same answer and holds the index of a
//! fixed-size record with that answer (or `NONE`), up to the next row's start. Rows carry no end,
//! so a block of rows is all a lookup needs. IPv6 rows are keyed by all 128 bits: the country
//! database splits some blocks finer than /64.
//!
//! Layout (little-endian): a `HEADER_LEN`-byte header (`magic[8] version head_len
//! rows_per_block n4 n6 n_records record_size file_len:u64`), the sparse index (the first key of
//! each block: `u32` per IPv4 block, `u128` per IPv6 block), together the head; then `n4 ×
//! (start:u32 record:u32)`, `n6 × (start:u128 record:u32)`, `n_records × record_size`.
//! A record is `asn:u32 country[2] bits:u8 name_len:u8 name[record_size - 8]`.
//!
//! Nothing here does I/O: the caller reads `HEADER_LEN` bytes, then the head (`head_len`),
//! then per lookup the ranges `block_for` and `record_range` name. All of it is checked, since
//! it comes from a bucket: a damaged file is an error, never a panic.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::ranges::{normalise, u32_at, u64_at, Range, Step};
use crate::{country, flags, is_public, IpData, IpFacts, SignalsError};

pub const MAGIC: &[u8; 8] = b"FGIPPAG1";
pub const VERSION: u32 = 1;
/// Bytes to read first: the header, which gives the head's length.
pub const HEADER_LEN: usize = 64;
/// Rows per block: the head holds one key per block, a lookup reads one block. 1024 keeps both
/// near 10 KB.
pub const ROWS_PER_BLOCK: u32 = 1024;
/// Organisation names longer than this are cut (at a character boundary).
pub const NAME_MAX: usize = 64;
/// A row's record for addresses nothing is known about.
pub const NONE: u32 = u32::MAX;

const V4_ROW: usize = 8;
const V6_ROW: usize = 20;
const RECORD_FIXED: usize = 8;
const BIT_TOR: u8 = 1;
const BIT_VPN: u8 = 2;
const BIT_DC: u8 = 4;
const BIT_ASN: u8 = 8;

/// One answer, as stored.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Record {
    asn: Option<(u32, String)>,
    country: [u8; 2],
    bits: u8,
}

/// Builds the file from loaded tables (any may be missing: its fields stay unknown).
pub fn build(data: &IpData) -> Result<Vec<u8>, SignalsError> {
    build_with(data, ROWS_PER_BLOCK as usize)
}

fn build_with(data: &IpData, rows_per_block: usize) -> Result<Vec<u8>, SignalsError> {
    let (asn4, asn6) = data.asn.as_ref().map(|t| t.ranges()).unwrap_or_default();
    let (flag4, flag6) = data.flags.as_ref().map(|t| t.ranges()).unwrap_or_default();
    let (country4, country6) = match &data.country {
        Some(c) => c.ranges()?,
        None => Default::default(),
    };
    // The range tables key IPv6 by its upper 64 bits: a row covers that whole /64.
    let widen = |rs: Vec<Range<u64>>| -> Vec<Range<u128>> {
        rs.into_iter()
            .map(|r| Range {
                start: u128::from(r.start) << 64,
                end: u128::from(r.end) << 64 | u128::from(u64::MAX),
                value: r.value,
            })
            .collect()
    };
    let mut records: Vec<Record> = Vec::new();
    let mut ids: HashMap<Record, u32> = HashMap::new();
    let mut record_of = |[asn, cc, fl]: [Option<u32>; 3]| -> u32 {
        let network = asn.and_then(|i| data.asn.as_ref()?.network(i));
        let fl = fl.unwrap_or(0);
        let mut bits = 0;
        for (has, bit) in [
            (fl & flags::TOR != 0, BIT_TOR),
            (fl & flags::VPN != 0, BIT_VPN),
            (
                fl & flags::DATA_CENTER != 0 || network.as_ref().is_some_and(|n| n.is_data_center),
                BIT_DC,
            ),
            (network.is_some(), BIT_ASN),
        ] {
            bits |= if has { bit } else { 0 };
        }
        let record = Record {
            asn: network.map(|n| (n.asn, truncate(n.name, NAME_MAX).to_owned())),
            country: cc.map_or([0; 2], country::unpack),
            bits,
        };
        if record.asn.is_none() && record.country == [0; 2] && bits == 0 {
            return NONE;
        }
        *ids.entry(record.clone()).or_insert_with(|| {
            records.push(record);
            records.len() as u32 - 1
        })
    };
    // Country ranges come from a tree walk (and IPv4 twice over): sort and join them first.
    let v4 = sweep(
        [&asn4, &normalise(country4, |a, _| a), &flag4],
        &mut record_of,
    );
    let v6 = sweep(
        [&widen(asn6), &normalise(country6, |a, _| a), &widen(flag6)],
        &mut record_of,
    );
    let blocks = |n: usize| n.div_ceil(rows_per_block);
    let head_len = HEADER_LEN + blocks(v4.len()) * 4 + blocks(v6.len()) * 16;
    let record_size = RECORD_FIXED + NAME_MAX;
    let file_len = head_len + v4.len() * V4_ROW + v6.len() * V6_ROW + records.len() * record_size;
    let mut out = Vec::with_capacity(file_len);
    out.extend_from_slice(MAGIC);
    for n in [
        VERSION as usize,
        head_len,
        rows_per_block,
        v4.len(),
        v6.len(),
        records.len(),
        record_size,
    ] {
        out.extend_from_slice(&u32::try_from(n).map_err(|_| too_big())?.to_le_bytes());
    }
    out.extend_from_slice(&(file_len as u64).to_le_bytes());
    out.resize(HEADER_LEN, 0);
    for chunk in v4.chunks(rows_per_block) {
        out.extend_from_slice(&chunk[0].0.to_le_bytes());
    }
    for chunk in v6.chunks(rows_per_block) {
        out.extend_from_slice(&chunk[0].0.to_le_bytes());
    }
    for (start, record) in &v4 {
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&record.to_le_bytes());
    }
    for (start, record) in &v6 {
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&record.to_le_bytes());
    }
    for r in &records {
        let (asn, name) = r.asn.as_ref().map_or((0, ""), |(a, n)| (*a, n.as_str()));
        out.extend_from_slice(&asn.to_le_bytes());
        out.extend_from_slice(&r.country);
        out.push(r.bits);
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.resize(out.len() + NAME_MAX - name.len(), 0);
    }
    debug_assert_eq!(out.len(), file_len);
    Ok(out)
}

fn too_big() -> SignalsError {
    SignalsError::BadTable("IP data too large for the paged file".into())
}

/// The longest prefix of `name` within `max` bytes that ends at a character boundary.
pub fn truncate(name: &str, max: usize) -> &str {
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// One family's partition: every point where any table's answer changes starts a row, and
/// neighbours with the same record are joined. The first row starts at 0, so every address
/// falls in a row. Each list must be sorted and disjoint.
fn sweep<K: Copy + Ord + Step + Default>(
    lists: [&[Range<K>]; 3],
    record_of: &mut impl FnMut([Option<u32>; 3]) -> u32,
) -> Vec<(K, u32)> {
    let mut points: Vec<K> = vec![K::default()];
    for list in lists {
        for r in list {
            points.push(r.start);
            if r.end != K::MAX {
                points.push(r.end.next());
            }
        }
    }
    points.sort_unstable();
    points.dedup();
    let mut at = [0usize; 3];
    let mut rows: Vec<(K, u32)> = Vec::new();
    for p in points {
        let mut values = [None; 3];
        for (j, list) in lists.iter().enumerate() {
            while at[j] < list.len() && list[at[j]].end < p {
                at[j] += 1;
            }
            values[j] = list.get(at[j]).filter(|r| r.start <= p).map(|r| r.value);
        }
        let record = record_of(values);
        if rows.last().is_none_or(|&(_, last)| last != record) {
            rows.push((p, record));
        }
    }
    rows
}

/// The head of a paged file: header and sparse index, kept per isolate.
#[derive(Debug, Clone)]
pub struct PagedHead {
    head: Vec<u8>,
    rows_per_block: usize,
    n4: usize,
    n6: usize,
    n_records: usize,
    record_size: usize,
    file_len: u64,
}

/// Which of the file's parts a block belongs to.
enum Family {
    V4(u32),
    V6(u128),
}

impl PagedHead {
    /// The head's length, from the file's first `HEADER_LEN` bytes.
    pub fn head_len(header: &[u8]) -> Result<usize, SignalsError> {
        if header.len() < HEADER_LEN || &header[..8] != MAGIC {
            return Err(bad("not a facegate paged IP data file"));
        }
        if u32_at(header, 8) != VERSION {
            return Err(bad("paged IP data of another version"));
        }
        Ok(u32_at(header, 12) as usize)
    }

    /// Parses the head: the file's first `head_len` bytes (more are ignored).
    pub fn parse(bytes: &[u8]) -> Result<PagedHead, SignalsError> {
        let head_len = Self::head_len(bytes)?;
        if bytes.len() < head_len {
            return Err(bad("head truncated"));
        }
        let field = |i: usize| u32_at(bytes, 16 + 4 * i) as usize;
        let (rows_per_block, n4, n6, n_records, record_size) =
            (field(0), field(1), field(2), field(3), field(4));
        let file_len = u64_at(bytes, 36);
        if rows_per_block == 0 || rows_per_block > 1 << 16 {
            return Err(bad("block size out of range"));
        }
        if !(RECORD_FIXED..=RECORD_FIXED + 255).contains(&record_size) {
            return Err(bad("record size out of range"));
        }
        let (b4, b6) = (n4.div_ceil(rows_per_block), n6.div_ceil(rows_per_block));
        if head_len != HEADER_LEN + b4 * 4 + b6 * 16 {
            return Err(bad("head length does not match the row counts"));
        }
        // All in u64: counts up to 2^32 times row sizes can't overflow it.
        let want = head_len as u64
            + n4 as u64 * V4_ROW as u64
            + n6 as u64 * V6_ROW as u64
            + n_records as u64 * record_size as u64;
        // Under 4 GiB, every offset fits a wasm32 `usize`.
        if file_len != want || file_len > u64::from(u32::MAX) {
            return Err(bad("file length does not match the counts"));
        }
        let head = PagedHead {
            head: bytes[..head_len].to_vec(),
            rows_per_block,
            n4,
            n6,
            n_records,
            record_size,
            file_len,
        };
        // Blocks are found by binary search of the index: it must be sorted, from 0.
        let k4: Vec<u32> = (0..b4).map(|b| head.key4(b)).collect();
        let k6: Vec<u128> = (0..b6).map(|b| head.key6(b)).collect();
        if k4.first().is_some_and(|&k| k != 0)
            || k6.first().is_some_and(|&k| k != 0)
            || k4.windows(2).any(|w| w[0] >= w[1])
            || k6.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(bad("index is not sorted from the first address"));
        }
        Ok(head)
    }

    /// The byte range (offset, length) of the block holding `ip`'s row; `None` for an address
    /// that isn't public (nothing to look up) or a family the file has no rows for.
    pub fn block_for(&self, ip: IpAddr) -> Option<(u64, u32)> {
        let (family, b) = self.locate(ip)?;
        let (n, rows_at, row) = match family {
            Family::V4(_) => (self.n4, self.head.len(), V4_ROW),
            Family::V6(_) => (self.n6, self.head.len() + self.n4 * V4_ROW, V6_ROW),
        };
        let first = b * self.rows_per_block;
        let rows = self.rows_per_block.min(n - first);
        Some(((rows_at + first * row) as u64, (rows * row) as u32))
    }

    /// The record index of `ip`'s row in its block (the bytes `block_for` named); `None` when
    /// nothing is known of the address.
    pub fn row_in_block(&self, ip: IpAddr, block: &[u8]) -> Result<Option<u32>, SignalsError> {
        let Some((family, b)) = self.locate(ip) else {
            return Ok(None);
        };
        if Some(block.len() as u32) != self.block_for(ip).map(|(_, len)| len) {
            return Err(bad("block of the wrong length"));
        }
        // A block read from the wrong place, or damaged, would send the binary search astray:
        // its rows must rise strictly from the index's key to below the next block's.
        let record = match family {
            Family::V4(k) => {
                let next = (b + 1 < self.blocks4()).then(|| self.key4(b + 1));
                let start = |i: usize| u32_at(block, i * V4_ROW);
                let i = checked_search(block.len() / V4_ROW, start, self.key4(b), next, k)?;
                u32_at(block, i * V4_ROW + 4)
            }
            Family::V6(k) => {
                let next = (b + 1 < self.blocks6()).then(|| self.key6(b + 1));
                let start = |i: usize| u128_at(block, i * V6_ROW);
                let i = checked_search(block.len() / V6_ROW, start, self.key6(b), next, k)?;
                u32_at(block, i * V6_ROW + 16)
            }
        };
        match record {
            NONE => Ok(None),
            r if (r as usize) < self.n_records => Ok(Some(r)),
            _ => Err(bad("row names a record past the end")),
        }
    }

    /// The byte range (offset, length) of a record `row_in_block` returned.
    pub fn record_range(&self, index: u32) -> (u64, u32) {
        let records_at = self.file_len - self.n_records as u64 * self.record_size as u64;
        (
            records_at + u64::from(index) * self.record_size as u64,
            self.record_size as u32,
        )
    }

    /// A record's facts.
    pub fn decode_record(&self, bytes: &[u8]) -> Result<IpFacts, SignalsError> {
        if bytes.len() != self.record_size {
            return Err(bad("record of the wrong length"));
        }
        let (cc, bits, name_len) = ([bytes[4], bytes[5]], bytes[6], bytes[7] as usize);
        let name = bytes
            .get(RECORD_FIXED..RECORD_FIXED + name_len)
            .and_then(|n| std::str::from_utf8(n).ok())
            .ok_or_else(|| bad("record's name out of bounds or not UTF-8"))?;
        let country_code = match cc {
            [0, 0] => None,
            [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => {
                Some(String::from_utf8_lossy(&cc).into_owned())
            }
            _ => return Err(bad("record's country code")),
        };
        let has_asn = bits & BIT_ASN != 0;
        Ok(IpFacts {
            public: true,
            country: country_code.as_deref().and_then(country::name),
            country_code,
            asn: has_asn.then(|| u32_at(bytes, 0)),
            organization: (has_asn && !name.is_empty()).then(|| name.to_owned()),
            is_data_center: bits & BIT_DC != 0,
            is_vpn: bits & BIT_VPN != 0,
            is_tor: bits & BIT_TOR != 0,
        })
    }

    /// Facts of `ip` from the whole file in memory (tests, the CLI's bench): the same reads a
    /// Worker makes, from a slice.
    pub fn facts_in(&self, file: &[u8], ip: IpAddr) -> Result<IpFacts, SignalsError> {
        let slice = |(at, len): (u64, u32)| {
            let at = usize::try_from(at).map_err(|_| bad("offset"))?;
            file.get(at..at + len as usize)
                .ok_or_else(|| bad("file truncated"))
        };
        let Some(block) = self.block_for(ip) else {
            return Ok(IpFacts::default());
        };
        match self.row_in_block(ip, slice(block)?)? {
            None => Ok(unknown(ip)),
            Some(r) => self.decode_record(slice(self.record_range(r))?),
        }
    }

    /// (IPv4 rows, IPv6 rows, records)
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.n4, self.n6, self.n_records)
    }

    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    pub fn record_size(&self) -> usize {
        self.record_size
    }

    pub fn rows_per_block(&self) -> usize {
        self.rows_per_block
    }

    /// Bytes held resident: the head.
    pub fn memory_bytes(&self) -> usize {
        self.head.capacity()
    }

    fn blocks4(&self) -> usize {
        self.n4.div_ceil(self.rows_per_block)
    }

    fn blocks6(&self) -> usize {
        self.n6.div_ceil(self.rows_per_block)
    }

    fn key4(&self, b: usize) -> u32 {
        u32_at(&self.head, HEADER_LEN + b * 4)
    }

    fn key6(&self, b: usize) -> u128 {
        u128_at(&self.head, HEADER_LEN + self.blocks4() * 4 + b * 16)
    }

    /// The address's key and the index of its block.
    fn locate(&self, ip: IpAddr) -> Option<(Family, usize)> {
        if !is_public(ip) {
            return None;
        }
        let family = match ip {
            IpAddr::V4(v4) => Family::V4(u32::from(v4)),
            // `::ffff:a.b.c.d` is how a dual-stack socket reports an IPv4 client.
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Family::V4(u32::from(v4)),
                None => Family::V6(u128::from(v6)),
            },
        };
        let b = match family {
            Family::V4(k) => last_at_or_below(self.blocks4(), |b| self.key4(b) <= k),
            Family::V6(k) => last_at_or_below(self.blocks6(), |b| self.key6(b) <= k),
        }?;
        Some((family, b))
    }
}

/// The facts of an address nothing is known about (and of every address when the file is
/// missing): public or not, nothing else.
pub fn unknown(ip: IpAddr) -> IpFacts {
    IpFacts {
        public: is_public(ip),
        ..IpFacts::default()
    }
}

/// The last index below `n` where `at_or_below` holds (it holds for a prefix of the indexes).
fn last_at_or_below(n: usize, at_or_below: impl Fn(usize) -> bool) -> Option<usize> {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if at_or_below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo.checked_sub(1)
}

/// The row of `key` among a block's `n` rows, after checking them.
fn checked_search<K: Copy + Ord>(
    n: usize,
    start: impl Fn(usize) -> K,
    first: K,
    next: Option<K>,
    key: K,
) -> Result<usize, SignalsError> {
    let rising = (1..n).all(|i| start(i - 1) < start(i));
    if n == 0 || start(0) != first || !rising || next.is_some_and(|k| start(n - 1) >= k) {
        return Err(bad("block does not match the index"));
    }
    last_at_or_below(n, |i| start(i) <= key).ok_or_else(|| bad("address below its block"))
}

fn bad(why: &str) -> SignalsError {
    SignalsError::BadTable(format!("paged IP data: {why}"))
}

fn u128_at(b: &[u8], at: usize) -> u128 {
    let mut a = [0; 16];
    a.copy_from_slice(&b[at..at + 16]);
    u128::from_le_bytes(a)
}

#[cfg(test)]
mod tests;
