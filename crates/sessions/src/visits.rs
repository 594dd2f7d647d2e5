//! Adaptive step-up: how much proof this visit of the hosted page needs, from its network and
//! device. The adapter measures (client address from the platform, the IP data, the user
//! agent, the page's device id); this module gathers what the application knows (its users'
//! remembered devices and addresses, the integrator's statements in the create call), asks
//! `facegate_signals::stepup` for the verdict and applies it to the session:
//!
//! - skip: Approved now, without a capture (only when the workflow or session opted in);
//! - capture: the hosted page must answer with at least that liveness method, which
//!   `stepped_up` imposes on the summary, the challenge and the capture alike;
//! - decline: Declined now (blocklisted, or a country the workflow does not allow).
//!
//! Within one session the demand only rises: a visit from a clean network after a risky one
//! does not lower the method, so an attacker can't shop for the easiest visit. A device or
//! address becomes known to a user when a session of theirs is Approved from it
//! (`remember_writes`), and is remembered only as a keyed hash.

use std::net::IpAddr;

use facegate_pipeline::challenge::LivenessMethod;
use facegate_signals::analysis::{self, Match};
use facegate_signals::device::{self, DeviceFacts, Reported};
use facegate_signals::stepup::{self, Action, Method, Rules};
use facegate_signals::IpFacts;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cipher::TemplateCipher;
use crate::error::ApiError;
use crate::lists::screen::screen;
use crate::service::Service;
use crate::state::{transition, Event};
use crate::store::{Clock, Ids, SeenSignal, SignalRow, Store, Write};
use crate::types::{Application, Session, SessionStatus, Workflow};

/// Didit's node id of the IP analysis item and its warnings.
pub const IP_ANALYSIS_NODE: &str = "feature_ip_analysis";
/// Devices and addresses unseen this long are forgotten (housekeeping): a known device is a
/// recent one, and the table can't grow without bound.
pub const SIGNAL_RETENTION_SECONDS: i64 = 180 * 86_400;

const KIND_DEVICE: &str = "device";
const KIND_IP: &str = "ip";

/// What the adapter saw of one hosted-page request.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// The client's address as the platform (or a trusted proxy) reports it.
    pub ip: Option<IpAddr>,
    pub facts: IpFacts,
    pub user_agent: Option<String>,
    /// The page's first-party device id (`X-Facegate-Device`), unchecked.
    pub device_id: Option<String>,
    /// The page's coarse facts (`X-Facegate-Device-Facts`); they only corroborate.
    pub reported: Option<Reported>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitAction {
    Skip,
    Capture,
    Decline,
}

/// The judged visit, kept on the session: what the decision's `ip_analyses` shows and what the
/// capture must satisfy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub action: VisitAction,
    /// The least liveness method a capture must use.
    pub method: LivenessMethod,
    /// The rule that fired (`stepup::Rule`, snake case).
    pub rule: String,
    pub ip: Option<String>,
    pub device_fingerprint: Option<String>,
    /// The keyed hash the address is remembered by once the session is approved.
    pub ip_hash: Option<String>,
    /// Didit's `ip_analyses[]` item.
    pub analysis: Value,
    pub at: i64,
}

impl Visit {
    /// What the decision shows: Didit's item plus which rule allowed or demanded what.
    pub fn item(&self) -> Value {
        let mut item = self.analysis.clone();
        item["step_up"] = json!({
            "rule": self.rule,
            "action": self.action,
            "liveness_method": self.method,
            // A skipped session ran neither check: the integrator must be able to tell.
            "liveness_and_face_match_ran": self.action == VisitAction::Capture,
        });
        item
    }
}

fn method_of(m: LivenessMethod) -> Method {
    match m {
        LivenessMethod::Passive => Method::Passive,
        LivenessMethod::Flashing => Method::Flashing,
        LivenessMethod::Active3d => Method::Active3d,
    }
}

fn liveness_of(m: Method) -> LivenessMethod {
    match m {
        Method::Passive => LivenessMethod::Passive,
        Method::Flashing => LivenessMethod::Flashing,
        Method::Active3d => LivenessMethod::Active3d,
    }
}

/// The workflow as this session must be answered: its own liveness method, raised to what the
/// visit demanded. Every hosted route (summary, challenge, steps, capture) reads this one.
pub fn stepped_up(wf: &Workflow, s: &Session) -> Workflow {
    let mut wf = wf.clone();
    if let Some(v) = &s.visit {
        if method_of(v.method) > method_of(wf.liveness_method) {
            wf.liveness_method = v.method;
        }
    }
    wf
}

/// The workflow's rules with the session's `step_up` changes laid over them (keys of
/// `stepup::Rules`; an unknown key or a wrong type is an error naming it).
pub fn rules_for(base: &Rules, overrides: Option<&Value>) -> Result<Rules, String> {
    let Some(over) = overrides else {
        return Ok(base.clone());
    };
    let Value::Object(over) = over else {
        return Err("Expected an object of step-up rules.".into());
    };
    let mut merged = serde_json::to_value(base).map_err(|e| e.to_string())?;
    for (k, v) in over {
        merged[k] = v.clone();
    }
    serde_json::from_value(merged).map_err(|e| e.to_string())
}

/// The integrator's statement of the address (`expected_details.ip_address`, Didit's field, or
/// `metadata.from_ip` as Didit's integration guide sends it): an address or a block.
fn stated_ip(s: &Session) -> Option<(IpAddr, u32)> {
    let text = |v: &Option<Value>, k: &str| {
        v.as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    text(&s.expected_details, "ip_address")
        .or_else(|| text(&s.metadata, "from_ip"))
        .and_then(|t| facegate_signals::parse_prefix(&t))
}

fn within(ip: IpAddr, (net, len): (IpAddr, u32)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// What the application's memory says about this device and address.
struct Known {
    device: bool,
    ip: bool,
    device_on_others: bool,
    ip_on_others: bool,
    matches: Vec<Match>,
}

fn known(rows: &[SignalRow], vendor: Option<&str>, fp: Option<&str>, ip: Option<&str>) -> Known {
    let is =
        |r: &SignalRow, kind: &str, h: Option<&str>| r.kind == kind && Some(r.hash.as_str()) == h;
    let mine = |r: &SignalRow| vendor == Some(r.vendor_data.as_str());
    let others: Vec<&SignalRow> = rows
        .iter()
        .filter(|r| !mine(r) && (is(r, KIND_DEVICE, fp) || is(r, KIND_IP, ip)))
        .collect();
    Known {
        device: rows.iter().any(|r| mine(r) && is(r, KIND_DEVICE, fp)),
        ip: rows.iter().any(|r| mine(r) && is(r, KIND_IP, ip)),
        device_on_others: others.iter().any(|r| r.kind == KIND_DEVICE),
        ip_on_others: others.iter().any(|r| r.kind == KIND_IP),
        matches: others
            .iter()
            .map(|r| Match {
                session_id: r.session_id.clone(),
                vendor_data: Some(r.vendor_data.clone()),
                match_type: if r.kind == KIND_DEVICE {
                    "device_fingerprint"
                } else {
                    "ip_address"
                },
            })
            .collect(),
    }
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    /// Judges this visit and applies the verdict (see the module). Returns the session as it
    /// now is. A workflow without IP analysis, a finished session, or a visit the session
    /// already recorded changes nothing and writes nothing.
    pub async fn observe_visit(
        &self,
        app: &Application,
        wf: &Workflow,
        s: Session,
        seen: &Seen,
    ) -> Result<Session, ApiError> {
        let Some(base) = &wf.ip_analysis else {
            return Ok(s);
        };
        let now = self.clock.now();
        if !s.status.is_unfinished() || now >= s.expires_at {
            return Ok(s);
        }
        // A create call validated its `step_up`; a workflow edited since can't make it fail
        // now, so a bad merge falls back to the workflow's own rules.
        let rules = rules_for(base, s.step_up.as_ref()).unwrap_or_else(|_| base.clone());
        let key = self.cipher.signals_key();
        let ua = seen
            .user_agent
            .as_deref()
            .map(device::from_user_agent)
            .unwrap_or_default();
        let fp = seen
            .device_id
            .as_deref()
            .and_then(|id| device::fingerprint(key, &app.id, id));
        let ip_text = seen.ip.map(|ip| ip.to_string());
        let ip_hash = ip_text
            .as_deref()
            .map(|ip| device::keyed_hash(key, &app.id, KIND_IP, ip));
        let hashes: Vec<&str> = [fp.as_deref(), ip_hash.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let rows = self.store.signals(&app.id, &hashes).await?;
        let vendor = s.vendor_data.as_deref();
        let mut k = known(&rows, vendor, fp.as_deref(), ip_hash.as_deref());
        // `metadata.device_id` is the integrator's word for which device should come back: a
        // different one is not the known device, whatever the page's storage says.
        let stated_device = s
            .metadata
            .as_ref()
            .and_then(|m| m.get("device_id"))
            .and_then(Value::as_str);
        if stated_device.is_some_and(|d| seen.device_id.as_deref() != Some(d)) {
            k.device = false;
        }
        // The page's coarse facts contradicting its user agent (a desktop posing as a phone)
        // make the device unknown too: a skip must rest on a consistent device.
        if seen
            .reported
            .as_ref()
            .is_some_and(|r| !device::contradictions(&ua, r).is_empty())
        {
            k.device = false;
        }
        let expected_ip_mismatch =
            stated_ip(&s).is_some_and(|net| seen.ip.is_none_or(|ip| !within(ip, net)));
        let lists = screen(&self.store, &app.id, seen.ip, fp.as_deref(), vendor).await?;
        let visit = stepup::Visit {
            ip: seen.facts.clone(),
            known_device: k.device,
            known_ip: k.ip,
            ip_on_other_users: k.ip_on_others,
            device_on_other_users: k.device_on_others,
            ip_blocklisted: lists.ip_blocklisted,
            device_blocklisted: lists.device_blocklisted,
            expected_ip_mismatch,
            allowlisted: lists.waives_network_rules(),
            workflow_method: Some(method_of(wf.liveness_method)),
        };
        let verdict = stepup::decide(&rules, &visit);
        let (mut action, mut method) = match verdict.action {
            Action::Skip => (VisitAction::Skip, wf.liveness_method),
            Action::Capture(m) => (VisitAction::Capture, liveness_of(m)),
            Action::Decline => (VisitAction::Decline, wf.liveness_method),
        };
        // Only ever up within a session (see the module).
        if let Some(prev) = &s.visit {
            if method_of(prev.method) > method_of(method) {
                method = prev.method;
            }
            if prev.action == VisitAction::Capture && action == VisitAction::Skip {
                action = VisitAction::Capture;
            }
        }
        let analysis = analysis::render(analysis::Seen {
            node_id: IP_ANALYSIS_NODE,
            ip: seen.ip,
            facts: &seen.facts,
            device: &ua,
            device_fingerprint: fp.as_deref(),
            matches: k.matches,
            verdict: &verdict,
        });
        let next_visit = Visit {
            action,
            method,
            rule: serde_json::to_value(verdict.rule)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            ip: ip_text,
            device_fingerprint: fp,
            ip_hash,
            analysis: serde_json::to_value(&analysis)
                .map_err(|e| ApiError::Internal(format!("ip analysis: {e}")))?,
            at: now,
        };
        if s.visit.as_ref().is_some_and(|v| same_visit(v, &next_visit)) {
            return Ok(s);
        }
        let mut next = s.clone();
        next.visit = Some(next_visit);
        let mut writes = Vec::new();
        match action {
            VisitAction::Capture => {
                next.version += 1;
                next.updated_at = now;
            }
            VisitAction::Skip | VisitAction::Decline => {
                let approve = action == VisitAction::Skip;
                next = transition(&next, &Event::StepUp { approve }, now)?;
                if approve {
                    writes.extend(remember_writes(&next, now));
                }
            }
        }
        writes.insert(
            0,
            Write::UpdateSession {
                session: next.clone(),
                expected_version: s.version,
            },
        );
        if next.status != s.status {
            self.enqueue_status(app, &next, &mut writes)?;
        }
        self.store.commit(&writes).await?;
        Ok(next)
    }

    /// Cron: forgets devices and addresses unseen for `SIGNAL_RETENTION_SECONDS`.
    pub async fn purge_signals(&self) -> Result<(), ApiError> {
        let before = self.clock.now() - SIGNAL_RETENTION_SECONDS;
        Ok(self
            .store
            .commit(&[Write::ForgetSignalsBefore { before }])
            .await?)
    }
}

/// A visit that changes nothing worth a write: same place, same device, same demand. (A page
/// polling the summary must not write on every poll.)
fn same_visit(a: &Visit, b: &Visit) -> bool {
    a.action == b.action
        && a.method == b.method
        && a.rule == b.rule
        && a.ip == b.ip
        && a.device_fingerprint == b.device_fingerprint
}

/// The writes that make this approved session's device and address known to its user (none
/// without a vendor_data or a judged visit).
pub fn remember_writes(s: &Session, now: i64) -> Vec<Write> {
    let (Some(vendor), Some(v)) = (&s.vendor_data, &s.visit) else {
        return Vec::new();
    };
    if s.status != SessionStatus::Approved {
        return Vec::new();
    }
    [
        (KIND_DEVICE, v.device_fingerprint.as_ref()),
        (KIND_IP, v.ip_hash.as_ref()),
    ]
    .into_iter()
    .filter_map(|(kind, hash)| {
        hash.map(|h| {
            Write::SeeSignal(SeenSignal {
                application_id: s.application_id.clone(),
                vendor_data: vendor.clone(),
                kind: kind.into(),
                hash: h.clone(),
                session_id: s.id.clone(),
                at: now,
            })
        })
    })
    .collect()
}

/// The page's device facts header: a small JSON object of `device::Reported`. Anything else
/// (too long, not JSON, unknown keys) is treated as no report rather than refused: the facts
/// only corroborate.
pub fn parse_reported(header: Option<&str>) -> Option<Reported> {
    header
        .filter(|h| h.len() <= 512)
        .and_then(|h| serde_json::from_str(h).ok())
}

/// The user agent's facts, for callers that show them without judging a visit.
pub fn device_facts(user_agent: Option<&str>) -> DeviceFacts {
    user_agent.map(device::from_user_agent).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_overrides_lay_over_the_workflow_rules() {
        let base = Rules::default();
        let r = rules_for(&base, Some(&json!({"skip_when_known": true}))).expect("merge");
        assert!(r.skip_when_known);
        assert_eq!(r.risky_network_method, base.risky_network_method);
        assert!(rules_for(&base, Some(&json!({"skip": true}))).is_err());
        assert!(rules_for(&base, Some(&json!({"skip_when_known": "yes"}))).is_err());
        assert!(rules_for(&base, Some(&json!([1]))).is_err());
    }

    #[test]
    fn stated_blocks_contain_addresses() {
        let ip = |t: &str| t.parse::<IpAddr>().expect("ip");
        assert!(within(ip("81.2.69.7"), (ip("81.2.69.0"), 24)));
        assert!(!within(ip("81.2.70.7"), (ip("81.2.69.0"), 24)));
        assert!(within(ip("81.2.69.7"), (ip("81.2.69.7"), 32)));
        assert!(within(ip("2600:1f18::1"), (ip("2600:1f18::"), 32)));
        assert!(!within(ip("81.2.69.7"), (ip("2600:1f18::"), 0)));
        assert!(within(ip("1.2.3.4"), (ip("0.0.0.0"), 0)));
    }
}
