//! Whose address a request comes from. Every network signal, every per-IP budget and every
//! "known address" rests on this, so a client must not be able to choose it.
//!
//! On Cloudflare the platform sets `CF-Connecting-IP` from the connection itself and that is
//! the answer. Self-hosted behind a proxy, the operator names the proxy's header and the
//! addresses the proxy connects from; the header is believed only on connections from them,
//! and then read from the right (the entries a client wrote come first, each proxy appends).
//! A client's own `X-Forwarded-For` is never read by default.

use std::net::IpAddr;

use crate::SignalsError;

/// An address block, compared on all 128 bits (IPv4 as IPv4-mapped IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    base: u128,
    mask: u128,
}

impl Net {
    fn parse(text: &str) -> Option<Net> {
        let (ip, len) = crate::parse_prefix(text)?;
        // IPv4 lives in the last 32 bits of its mapped IPv6 form.
        let bits = if ip.is_ipv4() { len + 96 } else { len };
        let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
        Some(Net {
            base: wide(ip) & mask,
            mask,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        wide(ip) & self.mask == self.base
    }
}

fn wide(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Which proxy header, if any, is believed, and from whom.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyTrust {
    header: Option<String>,
    proxies: Vec<Net>,
}

impl ProxyTrust {
    /// `header` (e.g. `x-forwarded-for`) from connections out of `proxies` (comma-separated
    /// addresses or CIDRs). Both or neither: a header without proxies would trust everyone.
    pub fn parse(header: Option<&str>, proxies: Option<&str>) -> Result<ProxyTrust, SignalsError> {
        let bad = |why: String| SignalsError::BadInput { line: 0, why };
        let header = header.map(str::trim).filter(|h| !h.is_empty());
        let proxies: Vec<&str> = proxies
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        match (header, proxies.is_empty()) {
            (None, true) => Ok(ProxyTrust::default()),
            (None, false) => Err(bad("trusted proxies are set but no header to read".into())),
            (Some(_), true) => Err(bad("a proxy header is trusted but from no address".into())),
            (Some(h), false) => Ok(ProxyTrust {
                header: Some(h.to_ascii_lowercase()),
                proxies: proxies
                    .iter()
                    .map(|p| {
                        Net::parse(p).ok_or_else(|| bad(format!("`{p}` is not an address or CIDR")))
                    })
                    .collect::<Result<_, _>>()?,
            }),
        }
    }

    /// The header to pass to `client_ip`, when one is trusted.
    pub fn header(&self) -> Option<&str> {
        self.header.as_deref()
    }

    /// The client: the platform's address, or, when that is a trusted proxy, the rightmost
    /// address in `forwarded` that isn't one. A malformed entry stops the walk at the proxy
    /// that wrote it: nothing left of a liar is believed.
    pub fn client_ip(&self, platform: Option<&str>, forwarded: Option<&str>) -> Option<IpAddr> {
        let peer: IpAddr = platform?.trim().parse().ok()?;
        let trusted = |ip: IpAddr| self.proxies.iter().any(|n| n.contains(ip));
        let (Some(_), Some(forwarded)) = (&self.header, forwarded) else {
            return Some(peer);
        };
        if !trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        for entry in forwarded.rsplit(',') {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !trusted(ip) {
                break;
            }
        }
        Some(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn by_default_only_the_platform_is_believed() {
        let t = ProxyTrust::default();
        assert_eq!(
            t.client_ip(Some("203.0.113.7"), Some("3.5.140.2")),
            ip("203.0.113.7")
        );
        assert_eq!(
            t.client_ip(Some("127.0.0.1"), Some("3.5.140.2")),
            ip("127.0.0.1")
        );
        assert_eq!(t.client_ip(None, Some("3.5.140.2")), None);
        assert_eq!(t.client_ip(Some("not an ip"), None), None);
    }

    #[test]
    fn a_trusted_proxys_header_is_read_from_the_right() {
        let t = ProxyTrust::parse(
            Some("X-Forwarded-For"),
            Some("127.0.0.0/8, ::1, 10.0.0.0/8"),
        )
        .expect("trust");
        assert_eq!(t.header(), Some("x-forwarded-for"));
        // A loopback client (the development server's tests) presents any address.
        assert_eq!(
            t.client_ip(Some("127.0.0.1"), Some("3.5.140.2")),
            ip("3.5.140.2")
        );
        assert_eq!(
            t.client_ip(Some("::1"), Some("81.2.69.142")),
            ip("81.2.69.142")
        );
        // The client wrote the first entry; proxies 10.x appended theirs.
        assert_eq!(
            t.client_ip(Some("127.0.0.1"), Some("1.1.1.1, 81.2.69.142, 10.0.0.5")),
            ip("81.2.69.142")
        );
        // Not from a trusted proxy: the header is the client's own claim, ignored.
        assert_eq!(
            t.client_ip(Some("198.51.100.9"), Some("3.5.140.2")),
            ip("198.51.100.9")
        );
        // Garbage stops the walk at the last proxy believed.
        assert_eq!(
            t.client_ip(Some("127.0.0.1"), Some("3.5.140.2, junk")),
            ip("127.0.0.1")
        );
        assert_eq!(t.client_ip(Some("127.0.0.1"), None), ip("127.0.0.1"));
        // IPv4-mapped peers match IPv4 proxy ranges.
        assert_eq!(
            t.client_ip(Some("::ffff:127.0.0.1"), Some("3.5.140.2")),
            ip("3.5.140.2")
        );
    }

    #[test]
    fn half_a_configuration_is_refused() {
        assert!(ProxyTrust::parse(Some("x-forwarded-for"), None).is_err());
        assert!(ProxyTrust::parse(None, Some("127.0.0.1")).is_err());
        assert!(ProxyTrust::parse(Some("x-forwarded-for"), Some("127.0.0.1/33")).is_err());
        assert!(ProxyTrust::parse(Some("x-forwarded-for"), Some("localhost")).is_err());
        assert_eq!(
            ProxyTrust::parse(Some(" "), Some("")),
            Ok(ProxyTrust::default())
        );
    }
}
