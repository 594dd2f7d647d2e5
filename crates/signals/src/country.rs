//! Country by address from `@ip-location-db/geo-whois-asn-country-mmdb` (CC0: the RIRs'
//! registration country of each block, with ASN data filling the gaps), read with `maxminddb`
//! from bytes. Registration country is where the block's holder is registered: right for the
//! home and mobile networks people re-authenticate from, wrong for anycast and some clouds.

use std::net::IpAddr;

use serde::Deserialize;

use crate::ranges::Range;
use crate::SignalsError;

/// ISO 3166-1 alpha-2 code → English name (npm `countries-list`, MIT).
const NAMES: &str = include_str!("countries.tsv");

/// IPv4 and IPv6 ranges of country codes.
pub type Ranges = (Vec<Range<u32>>, Vec<Range<u128>>);

pub struct CountryDb {
    reader: maxminddb::Reader<Vec<u8>>,
    bytes: usize,
}

#[derive(Deserialize)]
struct Record {
    country_code: String,
}

impl CountryDb {
    pub fn parse(bytes: Vec<u8>) -> Result<CountryDb, SignalsError> {
        let len = bytes.len();
        maxminddb::Reader::from_source(bytes)
            .map(|reader| CountryDb { reader, bytes: len })
            .map_err(|e| SignalsError::BadTable(format!("country database: {e}")))
    }

    /// The two-letter code, or `None` when the block isn't in the data (or the record is odd:
    /// a lookup never fails a session).
    pub fn lookup(&self, ip: IpAddr) -> Option<String> {
        // The database has no `::ffff:0:0/96` alias: a dual-stack socket's IPv4 client is looked
        // up as the IPv4 address it is, as the range tables do.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let record: Record = self.reader.lookup(ip).ok()?.decode().ok()??;
        valid_code(record.country_code)
    }

    /// Every network of the database as ranges valued with `pack`ed country codes: IPv4 by
    /// address, IPv6 by the whole 128 bits (some blocks are split finer than /64). Networks
    /// whose record has no valid code are left out, as `lookup` leaves them unknown.
    pub fn ranges(&self) -> Result<Ranges, SignalsError> {
        let bad =
            |e: maxminddb::MaxMindDbError| SignalsError::BadTable(format!("country database: {e}"));
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for item in self.reader.networks(Default::default()).map_err(bad)? {
            let item = item.map_err(bad)?;
            let Some(code) = item
                .decode::<Record>()
                .ok()
                .flatten()
                .and_then(|r| valid_code(r.country_code))
            else {
                continue;
            };
            let value = pack(&code);
            let net = item.network().map_err(bad)?;
            match net.ip() {
                IpAddr::V4(a) => {
                    let mask = u32::MAX
                        .checked_shl(32 - u32::from(net.prefix()))
                        .unwrap_or(0);
                    let start = u32::from(a) & mask;
                    v4.push(Range {
                        start,
                        end: start | !mask,
                        value,
                    });
                }
                IpAddr::V6(a) => {
                    let mask = u128::MAX
                        .checked_shl(128 - u32::from(net.prefix()))
                        .unwrap_or(0);
                    let start = u128::from(a) & mask;
                    let end = start | !mask;
                    // A network over `::/96` also answers IPv4 lookups (the database keeps
                    // IPv4 there).
                    if start <= u128::from(u32::MAX) {
                        v4.push(Range {
                            start: start as u32,
                            end: end.min(u128::from(u32::MAX)) as u32,
                            value,
                        });
                    }
                    v6.push(Range { start, end, value });
                }
            }
        }
        Ok((v4, v6))
    }

    pub fn memory_bytes(&self) -> usize {
        // The reader keeps the file as is and builds nothing beside it.
        self.bytes
    }
}

/// A two-letter code as a range value.
pub fn pack(code: &str) -> u32 {
    let b = code.as_bytes();
    u32::from(b[0]) << 8 | u32::from(b[1])
}

pub fn unpack(value: u32) -> [u8; 2] {
    [(value >> 8) as u8, value as u8]
}

fn valid_code(code: String) -> Option<String> {
    let code = code.to_ascii_uppercase();
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())).then_some(code)
}

/// The English name of a country code (`None` for codes the list lacks).
pub fn name(code: &str) -> Option<&'static str> {
    NAMES.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.split_once('\t')
            .filter(|(c, _)| *c == code)
            .map(|(_, n)| n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_code() {
        assert_eq!(name("DE"), Some("Germany"));
        assert_eq!(name("US"), Some("United States"));
        assert_eq!(name("ZZ"), None);
        assert_eq!(name(""), None);
    }

    #[test]
    fn a_damaged_database_is_refused() {
        assert!(CountryDb::parse(b"not an mmdb".to_vec()).is_err());
        assert!(CountryDb::parse(Vec::new()).is_err());
    }
}
