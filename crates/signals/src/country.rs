//! Country by address from `@ip-location-db/geo-whois-asn-country-mmdb` (CC0: the RIRs'
//! registration country of each block, with ASN data filling the gaps), read with `maxminddb`
//! from bytes. Registration country is where the block's holder is registered: right for the
//! home and mobile networks people re-authenticate from, wrong for anycast and some clouds.

use std::net::IpAddr;

use serde::Deserialize;

use crate::SignalsError;

/// ISO 3166-1 alpha-2 code → English name (npm `countries-list`, MIT).
const NAMES: &str = include_str!("countries.tsv");

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
        let record: Record = self.reader.lookup(ip).ok()?.decode().ok()??;
        let code = record.country_code.to_ascii_uppercase();
        (code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())).then_some(code)
    }

    pub fn memory_bytes(&self) -> usize {
        // The reader keeps the file as is and builds nothing beside it.
        self.bytes
    }
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
