//! Network and device signals for the step-up rules, computed offline: nothing here makes a
//! network call, so a lookup costs microseconds and leaks no visitor's address to a third party.
//!
//! - `client_ip`: whose address a request comes from (which proxy header, if any, to believe).
//! - `asn`, `country`, `flags` over `ranges`: what an address is (owner, country, data centre,
//!   Tor/VPN), from three files made at setup from npm packages (see `facegate ip-data`). Each
//!   is optional: a missing file leaves its fields unknown rather than failing a session.
//! - `device`: the user agent's facts, the keyed fingerprint of the page's device id, and the
//!   keyed hashes devices and addresses are remembered by.
//! - `stepup`: from all that, how much proof this visit needs; `analysis`: Didit's
//!   `ip_analyses[]` item for the decision.

pub mod analysis;
pub mod asn;
pub mod client_ip;
pub mod country;
pub mod device;
pub mod flags;
pub mod paged;
pub mod ranges;
pub mod stepup;

use std::net::IpAddr;

use serde::Serialize;

pub use asn::AsnTable;
pub use country::CountryDb;
pub use flags::FlagTable;
pub use paged::PagedHead;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignalsError {
    #[error("line {line}: {why}")]
    BadInput { line: usize, why: String },
    #[error("damaged data file: {0}")]
    BadTable(String),
}

/// What the data say about one address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IpFacts {
    /// A public address; private, loopback and other special ranges have no owner to look up.
    pub public: bool,
    pub country_code: Option<String>,
    pub country: Option<&'static str>,
    pub asn: Option<u32>,
    pub organization: Option<String>,
    pub is_data_center: bool,
    pub is_vpn: bool,
    pub is_tor: bool,
}

impl IpFacts {
    pub fn is_vpn_or_tor(&self) -> bool {
        self.is_vpn || self.is_tor
    }
}

/// The loaded data files.
#[derive(Default)]
pub struct IpData {
    pub asn: Option<AsnTable>,
    pub flags: Option<FlagTable>,
    pub country: Option<CountryDb>,
}

impl IpData {
    pub fn facts(&self, ip: IpAddr) -> IpFacts {
        if !is_public(ip) {
            return IpFacts::default();
        }
        let network = self.asn.as_ref().and_then(|t| t.lookup(ip));
        let flags = self.flags.as_ref().map_or(0, |t| t.lookup(ip));
        let country_code = self.country.as_ref().and_then(|c| c.lookup(ip));
        IpFacts {
            public: true,
            country: country_code.as_deref().and_then(country::name),
            country_code,
            asn: network.as_ref().map(|n| n.asn),
            organization: network
                .as_ref()
                .map(|n| n.name.to_owned())
                .filter(|n| !n.is_empty()),
            is_data_center: network.is_some_and(|n| n.is_data_center)
                || flags & flags::DATA_CENTER != 0,
            is_vpn: flags & flags::VPN != 0,
            is_tor: flags & flags::TOR != 0,
        }
    }

    /// Bytes held by the loaded files (each is kept as read, nothing is built beside it).
    pub fn memory_bytes(&self) -> usize {
        self.asn.as_ref().map_or(0, AsnTable::memory_bytes)
            + self.flags.as_ref().map_or(0, FlagTable::memory_bytes)
            + self.country.as_ref().map_or(0, CountryDb::memory_bytes)
    }
}

/// An address with its prefix length as written, `a.b.c.d[/n]` or `x::y[/n]`; without `/n`,
/// the whole address. The one parser of address blocks: operator imports, trusted proxies and
/// list entries all read them through it.
pub fn parse_prefix(text: &str) -> Option<(IpAddr, u32)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u32>().ok()?)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((ip, len))
}

/// Whether an address is on the public internet (and so has an owner and a country).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240
                // Carrier-grade NAT (100.64/10) and benchmarking (198.18/15).
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                // Global unicast is 2000::/3, less documentation (2001:db8::/32).
                (s[0] & 0xe000) == 0x2000 && !(s[0] == 0x2001 && s[1] == 0x0db8)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses_are_not_public() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "192.0.2.1",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["8.8.8.8", "3.5.140.2", "2600:1f18::1", "::ffff:81.2.69.1"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn facts_combine_the_tables_and_skip_private_addresses() {
        let dcs = asn::parse_asn_list(asn::DEFAULT_DATA_CENTRE_ASNS).expect("list");
        let asn = AsnTable::parse(
            asn::build(
                "81.2.69.0,81.2.69.255,20712,Andrews & Arnold Ltd\n3.0.0.0,3.127.255.255,16509,Amazon\n",
                "",
                &dcs,
            )
            .expect("build"),
        )
        .expect("asn");
        let tor = flags::parse_list("81.2.69.77\n", flags::TOR).expect("tor");
        let data = IpData {
            asn: Some(asn),
            flags: Some(FlagTable::parse(flags::build(vec![tor])).expect("flags")),
            country: None,
        };
        let home = data.facts("81.2.69.1".parse().expect("ip"));
        assert_eq!(
            (
                home.public,
                home.asn,
                home.organization.as_deref(),
                home.is_data_center,
                home.is_vpn_or_tor()
            ),
            (
                true,
                Some(20712),
                Some("Andrews & Arnold Ltd"),
                false,
                false
            )
        );
        assert!(data.facts("81.2.69.77".parse().expect("ip")).is_tor);
        assert!(data.facts("3.3.3.3".parse().expect("ip")).is_data_center);
        assert_eq!(
            data.facts("10.0.0.1".parse().expect("ip")),
            IpFacts::default()
        );
        assert_eq!(
            IpData::default().facts("8.8.8.8".parse().expect("ip")).asn,
            None
        );
    }
}
