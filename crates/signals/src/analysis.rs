//! One `ip_analyses[]` item of a decision, in Didit's shape, from what the visit showed and
//! what the step-up rules made of it. The single definition of that shape: the decision, the
//! webhook and the console all render this.

use std::net::IpAddr;

use serde::Serialize;

use crate::device::DeviceFacts;
use crate::stepup::{Action, Risk, Verdict};
use crate::IpFacts;

/// Didit's item-level warning, with `feature: "IP_ANALYSIS"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub feature: &'static str,
    pub risk: Risk,
    pub additional_data: Option<serde_json::Value>,
    pub log_type: &'static str,
    pub short_description: &'static str,
    pub long_description: &'static str,
    pub node_id: String,
}

/// Another session this one shares an address or a device with (same application).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    pub session_id: String,
    pub vendor_data: Option<String>,
    /// `ip_address` or `device_fingerprint`.
    pub match_type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IpAnalysis {
    pub status: &'static str,
    pub node_id: String,
    pub ip_address: Option<String>,
    pub ip_country: Option<&'static str>,
    pub ip_country_code: Option<String>,
    /// Region, city, coordinates and time zone: no registry data with a licence that allows
    /// them, so always `null` (the README says so).
    pub ip_state: Option<String>,
    pub ip_city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub time_zone: Option<String>,
    pub isp: Option<String>,
    pub organization: Option<String>,
    pub is_vpn_or_tor: bool,
    pub is_data_center: bool,
    pub device_brand: Option<String>,
    pub device_model: Option<String>,
    pub browser_family: Option<String>,
    pub os_family: Option<String>,
    pub platform: Option<String>,
    pub device_fingerprint: Option<String>,
    pub matches: Vec<Match>,
    pub warnings: Vec<Warning>,
}

/// Everything the item is made of.
pub struct Seen<'a> {
    pub node_id: &'a str,
    pub ip: Option<IpAddr>,
    pub facts: &'a IpFacts,
    pub device: &'a DeviceFacts,
    pub device_fingerprint: Option<&'a str>,
    pub matches: Vec<Match>,
    pub verdict: &'a Verdict,
}

pub fn render(seen: Seen<'_>) -> IpAnalysis {
    let v = seen.verdict;
    // Declined when the rules declined; In Review when anything was flagged but the visit went
    // on; Approved when the network and device raised nothing.
    let status = match (v.action, v.risks.is_empty()) {
        (Action::Decline, _) => "Declined",
        (_, false) => "In Review",
        (_, true) => "Approved",
    };
    let warnings = v
        .risks
        .iter()
        .map(|&risk| {
            let (log_type, short, long) = describe(risk, v.action);
            Warning {
                feature: "IP_ANALYSIS",
                risk,
                additional_data: None,
                log_type,
                short_description: short,
                long_description: long,
                node_id: seen.node_id.to_owned(),
            }
        })
        .collect();
    let f = seen.facts;
    IpAnalysis {
        status,
        node_id: seen.node_id.to_owned(),
        ip_address: seen.ip.map(|ip| ip.to_string()),
        ip_country: f.country,
        ip_country_code: f.country_code.clone(),
        ip_state: None,
        ip_city: None,
        latitude: None,
        longitude: None,
        time_zone: None,
        isp: f.organization.clone(),
        organization: f.organization.clone(),
        is_vpn_or_tor: f.is_vpn_or_tor(),
        is_data_center: f.is_data_center,
        device_brand: seen.device.device_brand.clone(),
        device_model: seen.device.device_model.clone(),
        browser_family: seen.device.browser_family.clone(),
        os_family: seen.device.os_family.clone(),
        platform: seen.device.platform.clone(),
        device_fingerprint: seen.device_fingerprint.map(str::to_owned),
        matches: seen.matches,
        warnings,
    }
}

/// Plain words for each risk: `log_type` is `error` when it declined the session.
fn describe(risk: Risk, action: Action) -> (&'static str, &'static str, &'static str) {
    let log_type = match (risk, action) {
        (
            Risk::IpAddressInBlocklist
            | Risk::DeviceFingerprintInBlocklist
            | Risk::IpLocationNotAllowed,
            Action::Decline,
        ) => "error",
        _ => "warning",
    };
    let (short, long) = match risk {
        Risk::PrivateNetworkDetected => (
            "VPN or Tor detected",
            "The user connected through a VPN or the Tor network, which hides where they are.",
        ),
        Risk::ExpectedIpAddressMismatch => (
            "IP address differs from the expected one",
            "The verification page was opened from another IP address than the one the integrator expected.",
        ),
        Risk::DuplicatedIpAddress => (
            "IP address used by another user",
            "Sessions of other users of this application came from the same IP address.",
        ),
        Risk::DuplicatedDeviceFingerprint => (
            "Device used by another user",
            "Sessions of other users of this application came from the same device.",
        ),
        Risk::IpLocationNotAllowed => (
            "IP location not allowed",
            "The IP address is in a country this workflow does not allow.",
        ),
        Risk::IpAddressInBlocklist => (
            "IP address in blocklist",
            "The IP address is on one of this application's blocklists.",
        ),
        Risk::DeviceFingerprintInBlocklist => (
            "Device in blocklist",
            "The device is on one of this application's blocklists.",
        ),
    };
    (log_type, short, long)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stepup::{decide, Method, Rules, Visit};

    fn item(visit: Visit) -> serde_json::Value {
        let verdict = decide(&Rules::default(), &visit);
        let device = DeviceFacts {
            browser_family: Some("Chrome".into()),
            os_family: Some("Android".into()),
            platform: Some("mobile".into()),
            ..DeviceFacts::default()
        };
        serde_json::to_value(render(Seen {
            node_id: "feature_ip_analysis",
            ip: Some("3.5.140.2".parse().expect("ip")),
            facts: &visit.ip,
            device: &device,
            device_fingerprint: Some("ab12"),
            matches: Vec::new(),
            verdict: &verdict,
        }))
        .expect("json")
    }

    fn aws() -> IpFacts {
        IpFacts {
            public: true,
            country_code: Some("US".into()),
            country: Some("United States"),
            asn: Some(16509),
            organization: Some("Amazon.com, Inc.".into()),
            is_data_center: true,
            ..IpFacts::default()
        }
    }

    #[test]
    fn didits_fields_all_present() {
        let v = item(Visit {
            ip: aws(),
            ..Visit::default()
        });
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut want = vec![
            "status",
            "node_id",
            "ip_address",
            "ip_country",
            "ip_country_code",
            "ip_state",
            "ip_city",
            "latitude",
            "longitude",
            "time_zone",
            "isp",
            "organization",
            "is_vpn_or_tor",
            "is_data_center",
            "device_brand",
            "device_model",
            "browser_family",
            "os_family",
            "platform",
            "device_fingerprint",
            "matches",
            "warnings",
        ];
        let mut got = keys.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(v["is_data_center"], true);
        assert_eq!(v["ip_country"], "United States");
        assert_eq!(v["organization"], "Amazon.com, Inc.");
        assert_eq!(v["ip_city"], serde_json::Value::Null);
        // A data centre alone is not a risk code of Didit's: it escalated, it isn't flagged.
        assert_eq!(v["status"], "Approved");
    }

    #[test]
    fn risks_become_warnings_and_set_the_status() {
        let mut visit = Visit {
            ip: aws(),
            ..Visit::default()
        };
        visit.ip.is_vpn = true;
        visit.ip_on_other_users = true;
        let v = item(visit);
        assert_eq!(v["status"], "In Review");
        let risks: Vec<&str> = v["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .map(|w| w["risk"].as_str().expect("risk"))
            .collect();
        assert_eq!(risks, ["PRIVATE_NETWORK_DETECTED", "DUPLICATED_IP_ADDRESS"]);
        assert_eq!(v["warnings"][0]["feature"], "IP_ANALYSIS");
        assert_eq!(v["warnings"][0]["log_type"], "warning");
        assert_eq!(v["warnings"][0]["node_id"], "feature_ip_analysis");

        let blocked = item(Visit {
            ip: aws(),
            device_blocklisted: true,
            workflow_method: Some(Method::Passive),
            ..Visit::default()
        });
        assert_eq!(blocked["status"], "Declined");
        assert_eq!(
            blocked["warnings"][0]["risk"],
            "DEVICE_FINGERPRINT_IN_BLOCKLIST"
        );
        assert_eq!(blocked["warnings"][0]["log_type"], "error");
    }
}
