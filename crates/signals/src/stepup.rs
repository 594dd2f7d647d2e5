//! The step-up rules: from what is known of this visit's device and network, how much proof the
//! returning user must give. Pure: the caller gathers the facts (IP data, the application's known
//! devices and addresses, its lists) and applies the verdict.
//!
//! Defaults follow Didit's recommendations for adaptive re-authentication: blocklisted →
//! Declined; a VPN, Tor or data-centre network on a device never seen → ACTIVE_3D; a new
//! device, or a known device on a new address → the passive selfie; a known device on a known
//! address → the selfie may be skipped, only when the workflow opts in. The rules only ever
//! raise the workflow's own liveness method, except that opted-in skip.

use serde::{Deserialize, Serialize};

use crate::IpFacts;

/// Liveness methods in increasing strength (the workflow's `face_liveness_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Method {
    Passive,
    Flashing,
    #[serde(rename = "ACTIVE_3D")]
    Active3d,
}

/// A workflow's step-up settings (and a session's overrides at create time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// Approve a known device on a known address without a capture. Off by default: it trades
    /// assurance for convenience, and only the integrator can make that trade.
    pub skip_when_known: bool,
    /// The method a VPN, Tor or data-centre network on a new device escalates to.
    pub risky_network_method: Method,
    /// The integrator's expected address (`expected_details.ip_address` or
    /// `metadata.from_ip`) differing from the page's escalates to ACTIVE_3D: the link may have
    /// been forwarded by whoever is on the other end.
    pub escalate_on_ip_mismatch: bool,
    /// Two-letter country codes; when non-empty, only these are allowed.
    pub allowed_countries: Vec<String>,
    pub denied_countries: Vec<String>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            skip_when_known: false,
            risky_network_method: Method::Active3d,
            escalate_on_ip_mismatch: true,
            allowed_countries: Vec::new(),
            denied_countries: Vec::new(),
        }
    }
}

/// What is known of this visit.
#[derive(Debug, Clone, Default)]
pub struct Visit {
    pub ip: IpFacts,
    /// This application has seen this device for this vendor_data before.
    pub known_device: bool,
    /// … and this address.
    pub known_ip: bool,
    /// The address or device is seen on other vendor_data of this application.
    pub ip_on_other_users: bool,
    pub device_on_other_users: bool,
    pub ip_blocklisted: bool,
    pub device_blocklisted: bool,
    /// The integrator stated an address and it differs from the page's.
    pub expected_ip_mismatch: bool,
    /// The integrator allowed this vendor_data or address through its allowlist: the network
    /// rules (not the blocklists) are waived.
    pub allowlisted: bool,
    /// The workflow's own `face_liveness_method`.
    pub workflow_method: Option<Method>,
}

/// Didit's IP-analysis risk codes, as they appear in a warning's `risk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    PrivateNetworkDetected,
    ExpectedIpAddressMismatch,
    DuplicatedIpAddress,
    DuplicatedDeviceFingerprint,
    IpLocationNotAllowed,
    IpAddressInBlocklist,
    DeviceFingerprintInBlocklist,
}

impl Risk {
    pub fn code(self) -> &'static str {
        match self {
            Risk::PrivateNetworkDetected => "PRIVATE_NETWORK_DETECTED",
            Risk::ExpectedIpAddressMismatch => "EXPECTED_IP_ADDRESS_MISMATCH",
            Risk::DuplicatedIpAddress => "DUPLICATED_IP_ADDRESS",
            Risk::DuplicatedDeviceFingerprint => "DUPLICATED_DEVICE_FINGERPRINT",
            Risk::IpLocationNotAllowed => "IP_LOCATION_NOT_ALLOWED",
            Risk::IpAddressInBlocklist => "IP_ADDRESS_IN_BLOCKLIST",
            Risk::DeviceFingerprintInBlocklist => "DEVICE_FINGERPRINT_IN_BLOCKLIST",
        }
    }
}

impl Serialize for Risk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// What the visit must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "method", rename_all = "snake_case")]
pub enum Action {
    /// Approved without a capture: no liveness or face match runs.
    Skip,
    Capture(Method),
    Decline,
}

/// The rule that fired, for the decision, the webhook and the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Blocklisted,
    LocationNotAllowed,
    ExpectedIpMismatch,
    RiskyNetworkNewDevice,
    KnownDeviceAndIp,
    KnownDeviceNewIp,
    NewDevice,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub action: Action,
    pub rule: Rule,
    /// Every risk seen, whether or not it decided the action.
    pub risks: Vec<Risk>,
}

pub fn decide(rules: &Rules, visit: &Visit) -> Verdict {
    let risks = risks(rules, visit);
    let base = visit.workflow_method.unwrap_or(Method::Passive);
    let capture = |m: Method| Action::Capture(m.max(base));
    let (action, rule) = if visit.ip_blocklisted || visit.device_blocklisted {
        (Action::Decline, Rule::Blocklisted)
    } else if !visit.allowlisted && risks.contains(&Risk::IpLocationNotAllowed) {
        (Action::Decline, Rule::LocationNotAllowed)
    } else if !visit.allowlisted && rules.escalate_on_ip_mismatch && visit.expected_ip_mismatch {
        (capture(Method::Active3d), Rule::ExpectedIpMismatch)
    } else if !visit.allowlisted
        && !visit.known_device
        && (visit.ip.is_vpn_or_tor() || visit.ip.is_data_center)
    {
        (
            capture(rules.risky_network_method),
            Rule::RiskyNetworkNewDevice,
        )
    } else if visit.known_device && visit.known_ip {
        // Skipping needs a clean visit: any risk (another user's device, a VPN…) means a selfie.
        let clean = risks.is_empty() && !visit.ip.is_data_center;
        if rules.skip_when_known && clean {
            (Action::Skip, Rule::KnownDeviceAndIp)
        } else {
            (capture(base), Rule::KnownDeviceAndIp)
        }
    } else if visit.known_device {
        (capture(Method::Passive), Rule::KnownDeviceNewIp)
    } else {
        (capture(Method::Passive), Rule::NewDevice)
    };
    Verdict {
        action,
        rule,
        risks,
    }
}

fn risks(rules: &Rules, v: &Visit) -> Vec<Risk> {
    let country = v.ip.country_code.as_deref();
    let listed =
        |list: &[String]| country.is_some_and(|c| list.iter().any(|l| l.eq_ignore_ascii_case(c)));
    // An address with no known country passes an allow list only when it isn't public (tests,
    // private networks behind a proxy): a public address we can't place is not "allowed".
    let not_allowed =
        (!rules.allowed_countries.is_empty() && v.ip.public && !listed(&rules.allowed_countries))
            || listed(&rules.denied_countries);
    [
        (v.ip.is_vpn_or_tor(), Risk::PrivateNetworkDetected),
        (v.expected_ip_mismatch, Risk::ExpectedIpAddressMismatch),
        (v.ip_on_other_users, Risk::DuplicatedIpAddress),
        (v.device_on_other_users, Risk::DuplicatedDeviceFingerprint),
        (not_allowed, Risk::IpLocationNotAllowed),
        (v.ip_blocklisted, Risk::IpAddressInBlocklist),
        (v.device_blocklisted, Risk::DeviceFingerprintInBlocklist),
    ]
    .into_iter()
    .filter_map(|(on, r)| on.then_some(r))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(country: &str, dc: bool, vpn: bool) -> IpFacts {
        IpFacts {
            public: true,
            country_code: Some(country.into()),
            is_data_center: dc,
            is_vpn: vpn,
            ..IpFacts::default()
        }
    }

    fn visit(known_device: bool, known_ip: bool, facts: IpFacts) -> Visit {
        Visit {
            ip: facts,
            known_device,
            known_ip,
            ..Visit::default()
        }
    }

    #[test]
    fn didits_recommended_ladder() {
        let r = Rules::default();
        let home = || ip("GB", false, false);
        let cases = [
            (
                visit(true, true, home()),
                Action::Capture(Method::Passive),
                Rule::KnownDeviceAndIp,
            ),
            (
                visit(true, false, home()),
                Action::Capture(Method::Passive),
                Rule::KnownDeviceNewIp,
            ),
            (
                visit(false, false, home()),
                Action::Capture(Method::Passive),
                Rule::NewDevice,
            ),
            (
                visit(false, false, ip("US", true, false)),
                Action::Capture(Method::Active3d),
                Rule::RiskyNetworkNewDevice,
            ),
            (
                visit(false, true, ip("US", false, true)),
                Action::Capture(Method::Active3d),
                Rule::RiskyNetworkNewDevice,
            ),
            // A known device on a data-centre address (a corporate proxy, say) isn't escalated.
            (
                visit(true, false, ip("US", true, false)),
                Action::Capture(Method::Passive),
                Rule::KnownDeviceNewIp,
            ),
        ];
        for (v, action, rule) in cases {
            let got = decide(&r, &v);
            assert_eq!((got.action, got.rule), (action, rule), "{v:?}");
        }
    }

    #[test]
    fn skipping_needs_the_opt_in_and_a_clean_visit() {
        let r = Rules {
            skip_when_known: true,
            ..Rules::default()
        };
        assert_eq!(
            decide(&r, &visit(true, true, ip("GB", false, false))).action,
            Action::Skip
        );
        let mut shared = visit(true, true, ip("GB", false, false));
        shared.device_on_other_users = true;
        let got = decide(&r, &shared);
        assert_eq!(got.action, Action::Capture(Method::Passive));
        assert_eq!(got.risks, vec![Risk::DuplicatedDeviceFingerprint]);
        assert_eq!(
            decide(&r, &visit(true, true, ip("GB", false, true))).action,
            Action::Capture(Method::Passive)
        );
        assert_eq!(
            decide(&r, &visit(true, false, ip("GB", false, false))).action,
            Action::Capture(Method::Passive)
        );
    }

    #[test]
    fn rules_never_lower_the_workflows_method() {
        let mut v = visit(false, false, ip("GB", false, false));
        v.workflow_method = Some(Method::Flashing);
        assert_eq!(
            decide(&Rules::default(), &v).action,
            Action::Capture(Method::Flashing)
        );
        v.ip.is_data_center = true;
        assert_eq!(
            decide(&Rules::default(), &v).action,
            Action::Capture(Method::Active3d)
        );
    }

    #[test]
    fn blocklists_decline_even_allowlisted_and_known_visits() {
        let r = Rules {
            skip_when_known: true,
            ..Rules::default()
        };
        let mut v = visit(true, true, ip("GB", false, false));
        v.device_blocklisted = true;
        v.allowlisted = true;
        let got = decide(&r, &v);
        assert_eq!((got.action, got.rule), (Action::Decline, Rule::Blocklisted));
        assert_eq!(got.risks, vec![Risk::DeviceFingerprintInBlocklist]);
    }

    #[test]
    fn countries_and_the_integrators_expected_address() {
        let r = Rules {
            allowed_countries: vec!["gb".into(), "IE".into()],
            ..Rules::default()
        };
        let got = decide(&r, &visit(true, true, ip("FR", false, false)));
        assert_eq!(
            (got.action, got.rule),
            (Action::Decline, Rule::LocationNotAllowed)
        );
        assert_eq!(got.risks, vec![Risk::IpLocationNotAllowed]);
        assert_eq!(
            decide(&r, &visit(true, true, ip("GB", false, false))).risks,
            vec![]
        );
        // A public address with no known country is not in an allow list.
        let unknown = IpFacts {
            public: true,
            ..IpFacts::default()
        };
        assert_eq!(
            decide(&r, &visit(true, true, unknown)).rule,
            Rule::LocationNotAllowed
        );
        let deny = Rules {
            denied_countries: vec!["FR".into()],
            ..Rules::default()
        };
        assert_eq!(
            decide(&deny, &visit(true, true, ip("FR", false, false))).action,
            Action::Decline
        );
        assert!(decide(&deny, &visit(true, true, IpFacts::default()))
            .risks
            .is_empty());

        let mut v = visit(true, true, ip("GB", false, false));
        v.expected_ip_mismatch = true;
        let got = decide(&Rules::default(), &v);
        assert_eq!(
            (got.action, got.rule),
            (Action::Capture(Method::Active3d), Rule::ExpectedIpMismatch)
        );
        assert_eq!(got.risks, vec![Risk::ExpectedIpAddressMismatch]);
        // An allowlisted user is spared the network rules, not the warning.
        v.allowlisted = true;
        let got = decide(&Rules::default(), &v);
        assert_eq!(
            (got.action, got.risks),
            (
                Action::Capture(Method::Passive),
                vec![Risk::ExpectedIpAddressMismatch]
            )
        );
    }

    #[test]
    fn rules_parse_from_a_workflow_and_refuse_unknown_fields() {
        let r: Rules =
            serde_json::from_str(r#"{"skip_when_known": true, "allowed_countries": ["GB"]}"#)
                .expect("rules");
        assert!(r.skip_when_known && r.risky_network_method == Method::Active3d);
        assert!(serde_json::from_str::<Rules>(r#"{"skip": true}"#).is_err());
        assert!(serde_json::from_str::<Rules>(r#"{"risky_network_method": "NONE"}"#).is_err());
        assert_eq!(
            serde_json::to_value(Method::Active3d).expect("json"),
            serde_json::json!("ACTIVE_3D")
        );
        assert_eq!(
            Risk::PrivateNetworkDetected.code(),
            "PRIVATE_NETWORK_DETECTED"
        );
    }
}
