//! Which network an address belongs to: its ASN, the organisation's name, and whether that
//! network is a cloud or hosting provider (a data centre: people browse from homes and phones,
//! scripts and proxies from servers).
//!
//! Compiled once by `facegate ip-data build` from `@ip-location-db/asn` (CC BY 4.0: RouteViews,
//! the five RIRs and DB-IP's IP to ASN Lite; the README attributes them) into a range table
//! whose values index an ASN list stored as its payload.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::ranges::{self, normalise, u32_at, Range, Table};
use crate::SignalsError;

const MAGIC: &[u8; 8] = b"FGIPASN1";
const ASN_ROW: usize = 16;

/// The networks facegate calls data centres by default: the big clouds and hosters, by ASN
/// (one per line, `#` comments), plus any whose registered name says hosting (`HOSTING_WORDS`).
/// `facegate ip-data import --datacenter` adds an operator's own.
pub const DEFAULT_DATA_CENTRE_ASNS: &str = include_str!("datacenter_asns.txt");

/// Words in a network's registered name that mark a hosting provider. Whole words only
/// (`servers` not `observers`), case-insensitive.
const HOSTING_WORDS: &[&str] = &[
    "hosting",
    "hoster",
    "datacenter",
    "datacentre",
    "vps",
    "colocation",
    "dedicated",
    "server",
    "servers",
    "cloud",
];
const HOSTING_PHRASES: &[&str] = &["data center", "data centre"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network<'a> {
    pub asn: u32,
    pub name: &'a str,
    pub is_data_center: bool,
}

/// Parses the ASN list format: an ASN per line, optionally `AS`-prefixed, `#` starts a comment.
pub fn parse_asn_list(text: &str) -> Result<Vec<u32>, SignalsError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let digits = line
            .strip_prefix("AS")
            .or_else(|| line.strip_prefix("as"))
            .unwrap_or(line);
        out.push(digits.parse().map_err(|_| SignalsError::BadInput {
            line: n + 1,
            why: format!("`{line}` is not an ASN"),
        })?);
    }
    Ok(out)
}

pub fn is_hosting_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    HOSTING_PHRASES.iter().any(|p| lower.contains(p))
        || lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| HOSTING_WORDS.contains(&w))
}

/// Builds the table from `@ip-location-db/asn`'s `asn-ipv4.csv` and `asn-ipv6.csv`
/// (`first,last,asn,name`), marking `data_centres` and hosting names.
pub fn build(
    ipv4_csv: &str,
    ipv6_csv: &str,
    data_centres: &[u32],
) -> Result<Vec<u8>, SignalsError> {
    let mut asns: BTreeMap<u32, (String, bool)> = BTreeMap::new();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for (csv, is_v4) in [(ipv4_csv, true), (ipv6_csv, false)] {
        for (n, line) in csv.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |why: &str| SignalsError::BadInput {
                line: n + 1,
                why: why.to_owned(),
            };
            let fields = split_csv(line);
            let [first, last, asn, name] = fields.as_slice() else {
                return Err(bad("expected first,last,asn,name"));
            };
            let asn: u32 = asn.parse().map_err(|_| bad("ASN is not a number"))?;
            let (first, last): (IpAddr, IpAddr) = (
                first.parse().map_err(|_| bad("first address"))?,
                last.parse().map_err(|_| bad("last address"))?,
            );
            asns.entry(asn).or_insert_with(|| {
                let dc = data_centres.contains(&asn) || is_hosting_name(name);
                (name.clone(), dc)
            });
            match (ranges::key(first), ranges::key(last), is_v4) {
                (ranges::Key::V4(start), ranges::Key::V4(end), true) => v4.push(Range {
                    start,
                    end,
                    value: asn,
                }),
                (ranges::Key::V6(start), ranges::Key::V6(end), false) => v6.push(Range {
                    start,
                    end,
                    value: asn,
                }),
                _ => return Err(bad("address of the wrong family for this file")),
            }
        }
    }
    // Values become indexes into the ASN list, in ASN order.
    let index: BTreeMap<u32, u32> = asns
        .keys()
        .enumerate()
        .map(|(i, &a)| (a, i as u32))
        .collect();
    for r in &mut v4 {
        r.value = index[&r.value];
    }
    for r in &mut v6 {
        r.value = index[&r.value];
    }
    // Sources disagree at a few edges; the lower ASN wins, so builds are reproducible.
    let v4 = normalise(v4, |a, _| a);
    let v6 = normalise(v6, |a, _| a);
    let mut rows = Vec::with_capacity(4 + asns.len() * ASN_ROW);
    let mut names = Vec::new();
    rows.extend_from_slice(&(asns.len() as u32).to_le_bytes());
    for (asn, (name, dc)) in &asns {
        rows.extend_from_slice(&asn.to_le_bytes());
        rows.extend_from_slice(&u32::from(*dc).to_le_bytes());
        rows.extend_from_slice(&(names.len() as u32).to_le_bytes());
        rows.extend_from_slice(&(name.len() as u32).to_le_bytes());
        names.extend_from_slice(name.as_bytes());
    }
    rows.extend_from_slice(&names);
    Ok(ranges::write(MAGIC, &v4, &v6, &rows))
}

/// The compiled table, read in place.
#[derive(Debug)]
pub struct AsnTable {
    table: Table,
    n_asn: usize,
}

impl AsnTable {
    pub fn parse(bytes: Vec<u8>) -> Result<AsnTable, SignalsError> {
        let table = Table::parse(MAGIC, bytes)?;
        let p = table.payload();
        let bad = || SignalsError::BadTable("ASN list truncated".into());
        let n_asn = if p.len() >= 4 {
            u32_at(p, 0) as usize
        } else {
            return Err(bad());
        };
        let names_at = n_asn
            .checked_mul(ASN_ROW)
            .and_then(|n| n.checked_add(4))
            .ok_or_else(bad)?;
        if names_at > p.len() {
            return Err(bad());
        }
        // Every name slice and every range's index is checked once, so lookups can't fail.
        let names_len = p.len() - names_at;
        for i in 0..n_asn {
            let (off, len) = (
                u32_at(p, 4 + i * ASN_ROW + 8) as usize,
                u32_at(p, 4 + i * ASN_ROW + 12) as usize,
            );
            if off.checked_add(len).is_none_or(|end| end > names_len)
                || std::str::from_utf8(&p[names_at + off..names_at + off + len]).is_err()
            {
                return Err(SignalsError::BadTable("ASN name out of bounds".into()));
            }
        }
        Ok(AsnTable { table, n_asn })
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<Network<'_>> {
        self.network(self.table.lookup(ip)?)
    }

    /// The ranges, each valued with the index of its network (see `network`).
    pub fn ranges(&self) -> (Vec<Range<u32>>, Vec<Range<u64>>) {
        self.table.rows()
    }

    /// The network at an index of the list.
    pub fn network(&self, index: u32) -> Option<Network<'_>> {
        let i = index as usize;
        if i >= self.n_asn {
            return None;
        }
        let p = self.table.payload();
        let row = 4 + i * ASN_ROW;
        let names_at = 4 + self.n_asn * ASN_ROW;
        let (off, len) = (u32_at(p, row + 8) as usize, u32_at(p, row + 12) as usize);
        Some(Network {
            asn: u32_at(p, row),
            is_data_center: u32_at(p, row + 4) & 1 == 1,
            // Checked in `parse`.
            name: std::str::from_utf8(&p[names_at + off..names_at + off + len]).unwrap_or(""),
        })
    }

    /// (IPv4 ranges, IPv6 ranges, networks)
    pub fn counts(&self) -> (usize, usize, usize) {
        let (a, b) = self.table.counts();
        (a, b, self.n_asn)
    }

    pub fn memory_bytes(&self) -> usize {
        self.table.memory_bytes()
    }
}

/// One line of the ip-location-db CSVs: plain fields, or double-quoted with `""` for a quote.
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
                      3.0.0.0,3.127.255.255,16509,\"Amazon.com, Inc.\"\n\
                      81.2.69.0,81.2.69.255,20712,Andrews & Arnold Ltd\n\
                      81.2.70.0,81.2.70.255,20712,Andrews & Arnold Ltd\n\
                      185.1.1.0,185.1.1.255,64500,\"Example Hosting \"\"Fast\"\" Ltd\"\n";
    const V6: &str =
        "2600:1f00::,2600:1fff:ffff:ffff:ffff:ffff:ffff:ffff,16509,\"Amazon.com, Inc.\"\n";

    fn table() -> AsnTable {
        let dcs = parse_asn_list(DEFAULT_DATA_CENTRE_ASNS).expect("default list");
        AsnTable::parse(build(V4, V6, &dcs).expect("build")).expect("parse")
    }

    #[test]
    fn networks_names_and_data_centres() {
        let t = table();
        let at = |ip: &str| t.lookup(ip.parse().expect("ip"));
        let aws = at("3.5.140.2").expect("aws");
        assert_eq!(
            (aws.asn, aws.name, aws.is_data_center),
            (16509, "Amazon.com, Inc.", true)
        );
        let home = at("81.2.70.4").expect("isp");
        assert_eq!((home.asn, home.is_data_center), (20712, false));
        let hoster = at("185.1.1.9").expect("hoster");
        assert_eq!(
            (hoster.name, hoster.is_data_center),
            ("Example Hosting \"Fast\" Ltd", true)
        );
        assert!(at("2600:1f18:aaaa::1").expect("aws v6").is_data_center);
        assert_eq!(at("8.8.8.8"), None);
        // The two adjacent ranges of one network became one row.
        assert_eq!(t.counts(), (4, 1, 4));
    }

    #[test]
    fn hosting_names_are_whole_words() {
        assert!(is_hosting_name("Contabo Dedicated Servers"));
        assert!(is_hosting_name("Smart Data Center S.A."));
        assert!(!is_hosting_name("Observers United Broadband"));
        assert!(!is_hosting_name("Deutsche Telekom AG"));
    }

    #[test]
    fn bad_input_names_its_line() {
        let err = build("1.0.0.0,1.0.0.255,x,Name\n", "", &[]).expect_err("bad asn");
        assert!(matches!(err, SignalsError::BadInput { line: 1, .. }));
        assert!(
            build("::1,::2,5,Name\n", "", &[]).is_err(),
            "an IPv6 row in the IPv4 file"
        );
        assert!(parse_asn_list("AS16509\n# comment\n14061 # DigitalOcean\nAmazon\n").is_err());
        assert_eq!(
            parse_asn_list("AS16509\n# c\n14061 # DO\n").expect("list"),
            vec![16509, 14061]
        );
    }

    #[test]
    fn a_name_pointing_outside_the_table_is_refused() {
        let mut bytes = build(V4, V6, &[]).expect("build");
        let len = bytes.len();
        bytes.truncate(len - 3);
        assert!(AsnTable::parse(bytes).is_err());
    }
}
