//! A compact, sorted table of address ranges, each carrying a `u32`, read in place from its
//! bytes. It holds what no MMDB covers here: ASN per range (`@ip-location-db/asn` is only CSV)
//! and the operator's Tor / VPN / data-centre imports.
//!
//! IPv4 keys are the address; IPv6 keys are its upper 64 bits. Routing and allocations stop at
//! /48 and hosts get a /64, so nothing finer is ever needed, and halving the key halves the
//! table. Lookup is a binary search of the raw little-endian bytes: the table is never decoded
//! into a second copy, so its memory is exactly its file size.
//!
//! Layout (little-endian): `magic[8] n4:u32 n6:u32`, then `n4 × (start:u32 end:u32 value:u32)`,
//! then `n6 × (start:u64 end:u64 value:u32)`, then a payload the owner defines (the ASN table
//! puts its names there). Ranges are sorted and disjoint; lookups rely on it, and `parse`
//! checks it once.

use std::net::IpAddr;

use crate::SignalsError;

const V4_ROW: usize = 12;
const V6_ROW: usize = 20;
const HEADER: usize = 16;

/// One input range: first and last address (inclusive) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range<K> {
    pub start: K,
    pub end: K,
    pub value: u32,
}

/// Key of an address in its family's table.
pub fn key(ip: IpAddr) -> Key {
    match ip {
        IpAddr::V4(v4) => Key::V4(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // `::ffff:a.b.c.d` is how a dual-stack socket reports an IPv4 client.
            Some(v4) => Key::V4(u32::from(v4)),
            None => Key::V6((u128::from(v6) >> 64) as u64),
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    V4(u32),
    V6(u64),
}

/// Sorts `ranges`, splits overlaps so each address has one value (`combine` of the values that
/// cover it, e.g. a bitwise OR of flags), and joins neighbours with the same value.
pub fn normalise<K>(ranges: Vec<Range<K>>, combine: impl Fn(u32, u32) -> u32) -> Vec<Range<K>>
where
    K: Copy + Ord + Step,
{
    // A sweep over the points where coverage changes: a range starts at `start` and stops
    // covering at `end + 1` (never, for the family's last address).
    let mut events: Vec<(K, bool, u32)> = Vec::with_capacity(ranges.len() * 2);
    for r in ranges.iter().filter(|r| r.start <= r.end) {
        events.push((r.start, true, r.value));
        if r.end != K::MAX {
            events.push((r.end.next(), false, r.value));
        }
    }
    events.sort_by_key(|e| e.0);
    let mut active: std::collections::BTreeMap<u32, usize> = Default::default();
    let mut out: Vec<Range<K>> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let at = events[i].0;
        while i < events.len() && events[i].0 == at {
            let (_, starts, value) = events[i];
            let n = active.entry(value).or_default();
            if starts {
                *n += 1;
            } else {
                *n -= 1;
                if *n == 0 {
                    active.remove(&value);
                }
            }
            i += 1;
        }
        let Some(value) = active.keys().copied().reduce(&combine) else {
            continue;
        };
        let end = events.get(i).map_or(K::MAX, |e| e.0.prev());
        match out.last_mut() {
            Some(last) if last.value == value && last.end != K::MAX && last.end.next() == at => {
                last.end = end;
            }
            _ => out.push(Range {
                start: at,
                end,
                value,
            }),
        }
    }
    out
}

/// Integer keys the builder walks by one.
pub trait Step: Sized {
    const MAX: Self;
    fn next(self) -> Self;
    fn prev(self) -> Self;
}

impl Step for u32 {
    const MAX: Self = u32::MAX;
    fn next(self) -> Self {
        self.saturating_add(1)
    }
    fn prev(self) -> Self {
        self.saturating_sub(1)
    }
}

impl Step for u128 {
    const MAX: Self = u128::MAX;
    fn next(self) -> Self {
        self.saturating_add(1)
    }
    fn prev(self) -> Self {
        self.saturating_sub(1)
    }
}

impl Step for u64 {
    const MAX: Self = u64::MAX;
    fn next(self) -> Self {
        self.saturating_add(1)
    }
    fn prev(self) -> Self {
        self.saturating_sub(1)
    }
}

/// Writes a table (ranges already `normalise`d) followed by `payload`.
pub fn write(magic: &[u8; 8], v4: &[Range<u32>], v6: &[Range<u64>], payload: &[u8]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(HEADER + v4.len() * V4_ROW + v6.len() * V6_ROW + payload.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&(v4.len() as u32).to_le_bytes());
    out.extend_from_slice(&(v6.len() as u32).to_le_bytes());
    for r in v4 {
        out.extend_from_slice(&r.start.to_le_bytes());
        out.extend_from_slice(&r.end.to_le_bytes());
        out.extend_from_slice(&r.value.to_le_bytes());
    }
    for r in v6 {
        out.extend_from_slice(&r.start.to_le_bytes());
        out.extend_from_slice(&r.end.to_le_bytes());
        out.extend_from_slice(&r.value.to_le_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// A table read in place. `payload` is what follows the ranges.
#[derive(Debug)]
pub struct Table {
    bytes: Vec<u8>,
    n4: usize,
    n6: usize,
}

impl Table {
    pub fn parse(magic: &[u8; 8], bytes: Vec<u8>) -> Result<Table, SignalsError> {
        let bad = |why: &str| SignalsError::BadTable(why.to_owned());
        if bytes.len() < HEADER || &bytes[..8] != magic {
            return Err(bad("not a facegate range table of this kind"));
        }
        let n4 = u32_at(&bytes, 8) as usize;
        let n6 = u32_at(&bytes, 12) as usize;
        let need = n4
            .checked_mul(V4_ROW)
            .and_then(|a| n6.checked_mul(V6_ROW).and_then(|b| a.checked_add(b)))
            .and_then(|n| n.checked_add(HEADER));
        if need.is_none_or(|n| n > bytes.len()) {
            return Err(bad("truncated"));
        }
        let t = Table { bytes, n4, n6 };
        // Binary search is only right on sorted, disjoint rows: check once, not per lookup.
        let sorted =
            (1..n4).all(|i| t.v4(i - 1).1 < t.v4(i).0) && (0..n4).all(|i| t.v4(i).0 <= t.v4(i).1);
        let sorted6 =
            (1..n6).all(|i| t.v6(i - 1).1 < t.v6(i).0) && (0..n6).all(|i| t.v6(i).0 <= t.v6(i).1);
        if !(sorted && sorted6) {
            return Err(bad("ranges are not sorted and disjoint"));
        }
        Ok(t)
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<u32> {
        match key(ip) {
            Key::V4(k) => {
                let i = partition(self.n4, |i| self.v4(i).0 <= k)?;
                let (_, end, value) = self.v4(i);
                (k <= end).then_some(value)
            }
            Key::V6(k) => {
                let i = partition(self.n6, |i| self.v6(i).0 <= k)?;
                let (_, end, value) = self.v6(i);
                (k <= end).then_some(value)
            }
        }
    }

    /// The rows, in order (for building other tables from this one).
    pub fn rows(&self) -> (Vec<Range<u32>>, Vec<Range<u64>>) {
        let v4 = (0..self.n4).map(|i| {
            let (start, end, value) = self.v4(i);
            Range { start, end, value }
        });
        let v6 = (0..self.n6).map(|i| {
            let (start, end, value) = self.v6(i);
            Range { start, end, value }
        });
        (v4.collect(), v6.collect())
    }

    pub fn payload(&self) -> &[u8] {
        &self.bytes[HEADER + self.n4 * V4_ROW + self.n6 * V6_ROW..]
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.n4, self.n6)
    }

    pub fn memory_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    fn v4(&self, i: usize) -> (u32, u32, u32) {
        let at = HEADER + i * V4_ROW;
        (
            u32_at(&self.bytes, at),
            u32_at(&self.bytes, at + 4),
            u32_at(&self.bytes, at + 8),
        )
    }

    fn v6(&self, i: usize) -> (u64, u64, u32) {
        let at = HEADER + self.n4 * V4_ROW + i * V6_ROW;
        (
            u64_at(&self.bytes, at),
            u64_at(&self.bytes, at + 8),
            u32_at(&self.bytes, at + 16),
        )
    }
}

/// The last row index whose start is at or below the key (`None`: the key is below them all).
fn partition(n: usize, starts_at_or_below: impl Fn(usize) -> bool) -> Option<usize> {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if starts_at_or_below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo.checked_sub(1)
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u32, end: u32, value: u32) -> Range<u32> {
        Range { start, end, value }
    }

    #[test]
    fn overlaps_are_split_and_combined_neighbours_joined() {
        let got = normalise(
            vec![
                r(10, 20, 1),
                r(15, 30, 2),
                r(21, 25, 4),
                r(31, 40, 2),
                r(0, 4, 8),
                r(5, 9, 8),
            ],
            |a, b| a | b,
        );
        assert_eq!(
            got,
            vec![
                r(0, 9, 8),
                r(10, 14, 1),
                r(15, 20, 3),
                r(21, 25, 6),
                r(26, 40, 2)
            ]
        );
    }

    #[test]
    fn a_range_inside_another_keeps_both_sides() {
        let got = normalise(vec![r(0, 100, 1), r(40, 50, 2)], |a, b| a | b);
        assert_eq!(got, vec![r(0, 39, 1), r(40, 50, 3), r(51, 100, 1)]);
        let edge = normalise(vec![r(0, u32::MAX, 1), r(u32::MAX, u32::MAX, 2)], |a, b| {
            a | b
        });
        assert_eq!(edge, vec![r(0, u32::MAX - 1, 1), r(u32::MAX, u32::MAX, 3)]);
    }

    #[test]
    fn lookups_hit_inside_and_miss_in_gaps() {
        let v4 = normalise(vec![r(10, 20, 1), r(30, 40, 2)], |_, b| b);
        let v6 = vec![Range {
            start: 5u64,
            end: 9,
            value: 7,
        }];
        let t = Table::parse(b"TESTTBL1", write(b"TESTTBL1", &v4, &v6, b"tail")).expect("table");
        let v4ip = |n: u32| IpAddr::from(std::net::Ipv4Addr::from(n));
        assert_eq!(
            [5, 10, 20, 25, 30, 40, 41].map(|n| t.lookup(v4ip(n))),
            [None, Some(1), Some(1), None, Some(2), Some(2), None]
        );
        let v6ip = |hi: u64| IpAddr::from(std::net::Ipv6Addr::from((u128::from(hi) << 64) | 0xabc));
        assert_eq!(
            [4, 5, 9, 10].map(|h| t.lookup(v6ip(h))),
            [None, Some(7), Some(7), None]
        );
        // An IPv4-mapped IPv6 address is the IPv4 client it stands for.
        assert_eq!(t.lookup("::ffff:0.0.0.15".parse().expect("ip")), Some(1));
        assert_eq!(t.payload(), b"tail");
    }

    #[test]
    fn damaged_tables_are_refused() {
        let good = write(b"TESTTBL1", &[r(1, 2, 0), r(5, 6, 0)], &[], b"");
        assert!(Table::parse(b"OTHERTB1", good.clone()).is_err());
        assert!(Table::parse(b"TESTTBL1", good[..good.len() - 1].to_vec()).is_err());
        let unsorted = write(b"TESTTBL1", &[r(5, 6, 0), r(1, 2, 0)], &[], b"");
        assert!(Table::parse(b"TESTTBL1", unsorted).is_err());
        let mut huge = good;
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Table::parse(b"TESTTBL1", huge).is_err());
    }
}
