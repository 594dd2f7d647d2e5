//! The operator's own lists of risky networks: Tor exit addresses, VPN ranges and extra
//! data-centre ranges, imported by `facegate ip-data import` from plain text files (one address
//! or CIDR per line, `#` comments: the format the public Tor exit list and the common VPN range
//! lists use) into one range table of flag bits.

use std::net::IpAddr;

use crate::ranges::{self, normalise, Range, Table};
use crate::SignalsError;

const MAGIC: &[u8; 8] = b"FGIPFLG1";

pub const TOR: u32 = 1;
pub const VPN: u32 = 2;
pub const DATA_CENTER: u32 = 4;

/// One list's ranges, by address family.
pub type List = (Vec<Range<u32>>, Vec<Range<u64>>);

/// Parses one list: addresses (`185.220.101.1`, `2001:db8::1`) and CIDRs (`10.0.0.0/8`).
pub fn parse_list(text: &str, flag: u32) -> Result<List, SignalsError> {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = || SignalsError::BadInput {
            line: n + 1,
            why: format!("`{line}` is not an address or CIDR"),
        };
        match parse_cidr(line).ok_or_else(bad)? {
            Cidr::V4(start, end) => v4.push(Range {
                start,
                end,
                value: flag,
            }),
            Cidr::V6(start, end) => v6.push(Range {
                start,
                end,
                value: flag,
            }),
        }
    }
    Ok((v4, v6))
}

/// An address range as the tables key it (IPv6 by its upper 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4(u32, u32),
    V6(u64, u64),
}

/// `a.b.c.d`, `a.b.c.d/n`, `x::y`, `x::y/n`. Host bits set in the address are ignored, as
/// routers do.
pub fn parse_cidr(text: &str) -> Option<Cidr> {
    match crate::parse_prefix(text)? {
        (IpAddr::V4(v4), len) => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            let start = u32::from(v4) & mask;
            Some(Cidr::V4(start, start | !mask))
        }
        (IpAddr::V6(v6), len) => {
            let hi = (u128::from(v6) >> 64) as u64;
            // Past /64 the table can't tell hosts apart: the whole /64 is flagged.
            let len = len.min(64);
            let mask = u64::MAX.checked_shl(64 - len).unwrap_or(0);
            Some(Cidr::V6(hi & mask, (hi & mask) | !mask))
        }
    }
}

/// Builds the flag table from lists already parsed, OR-ing flags where they overlap.
pub fn build(lists: Vec<List>) -> Vec<u8> {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (a, b) in lists {
        v4.extend(a);
        v6.extend(b);
    }
    let v4 = normalise(v4, |a, b| a | b);
    let v6 = normalise(v6, |a, b| a | b);
    ranges::write(MAGIC, &v4, &v6, &[])
}

#[derive(Debug)]
pub struct FlagTable(Table);

impl FlagTable {
    pub fn parse(bytes: Vec<u8>) -> Result<FlagTable, SignalsError> {
        Table::parse(MAGIC, bytes).map(FlagTable)
    }

    pub fn lookup(&self, ip: IpAddr) -> u32 {
        self.0.lookup(ip).unwrap_or(0)
    }

    /// The ranges, each valued with its flag bits.
    pub fn ranges(&self) -> List {
        self.0.rows()
    }

    pub fn memory_bytes(&self) -> usize {
        self.0.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_single_addresses() {
        assert_eq!(
            parse_cidr("10.1.2.3/8"),
            Some(Cidr::V4(0x0a00_0000, 0x0aff_ffff))
        );
        assert_eq!(parse_cidr("0.0.0.0/0"), Some(Cidr::V4(0, u32::MAX)));
        assert_eq!(
            parse_cidr("1.2.3.4"),
            Some(Cidr::V4(0x0102_0304, 0x0102_0304))
        );
        assert_eq!(
            parse_cidr("2001:db8::/32"),
            Some(Cidr::V6(0x2001_0db8_0000_0000, 0x2001_0db8_ffff_ffff))
        );
        assert_eq!(
            parse_cidr("2001:db8::1"),
            Some(Cidr::V6(0x2001_0db8_0000_0000, 0x2001_0db8_0000_0000))
        );
        for bad in [
            "1.2.3.4/33",
            "::/129",
            "1.2.3",
            "example.com",
            "1.2.3.4/-1",
            "",
        ] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn overlapping_lists_combine_their_flags() {
        let tor = parse_list("# exits\n185.220.101.1\n185.220.101.2\n", TOR).expect("tor");
        let vpn = parse_list("185.220.101.0/24\n2a0d:5600::/32 # a VPN\n", VPN).expect("vpn");
        let t = FlagTable::parse(build(vec![tor, vpn])).expect("table");
        let at = |ip: &str| t.lookup(ip.parse().expect("ip"));
        assert_eq!(at("185.220.101.1"), TOR | VPN);
        assert_eq!(at("185.220.101.9"), VPN);
        assert_eq!(at("2a0d:5600:1::7"), VPN);
        assert_eq!(at("8.8.8.8"), 0);
        let err = parse_list("1.2.3.4\nnot-an-ip\n", TOR).expect_err("bad line");
        assert!(matches!(err, SignalsError::BadInput { line: 2, .. }));
    }
}
