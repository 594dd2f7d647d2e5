//! A visit checked against the application's lists: its client address (exact or inside a
//! CIDR entry), its device fingerprint and its user (vendor_data).
//!
//! What the caller does with the answer: a **blocklist** hit declines, whatever else matched.
//! An **allowlist** hit waives the network rules of step-up (VPN, data centre, country, the
//! expected address) and nothing more: it never overrides a blocklist hit (of the same value
//! or another), and it never skips the face checks. `Screening::waives_network_rules` is that
//! rule. Custom lists are reported (`hits`) and decide nothing.

use std::net::IpAddr;

use super::api::all_lists;
use super::store::{Entry, ListStore};
use super::{EntryType, List, ListType};
use crate::store::StoreError;

/// One entry that matched, with its list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListHit {
    pub list_uuid: String,
    pub list_name: String,
    pub list_type: ListType,
    pub entry_type: EntryType,
    pub entry_uuid: String,
    /// The entry's value (for an address, the address or CIDR that contained the visit's).
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screening {
    pub ip_blocklisted: bool,
    pub ip_allowlisted: bool,
    pub device_blocklisted: bool,
    pub device_allowlisted: bool,
    pub user_blocklisted: bool,
    pub user_allowlisted: bool,
    /// Every matching entry, blocklists first, then allowlists, then custom lists.
    pub hits: Vec<ListHit>,
}

impl Screening {
    /// Any blocklist matched: the visit is declined.
    pub fn blocklisted(&self) -> bool {
        self.ip_blocklisted || self.device_blocklisted || self.user_blocklisted
    }

    /// An allowlist matched and no blocklist did: the network rules (VPN, data centre,
    /// country, expected address) are not applied. Never more than that.
    pub fn waives_network_rules(&self) -> bool {
        (self.ip_allowlisted || self.device_allowlisted || self.user_allowlisted)
            && !self.blocklisted()
    }

    /// The matching entries of one list type.
    pub fn hits_of(&self, list_type: ListType) -> impl Iterator<Item = &ListHit> {
        self.hits.iter().filter(move |h| h.list_type == list_type)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address it carries.
fn plain(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether an entry's address or CIDR holds `ip`.
pub fn ip_matches(entry_value: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = facegate_signals::parse_prefix(entry_value) else {
        return false;
    };
    match (plain(net), plain(ip)) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Checks a visit against every list of the application. Values absent from the visit match
/// nothing. A device fingerprint is compared case-insensitively, vendor_data exactly.
pub async fn screen(
    store: &impl ListStore,
    application_id: &str,
    ip: Option<IpAddr>,
    device_fingerprint: Option<&str>,
    vendor_data: Option<&str>,
) -> Result<Screening, StoreError> {
    let mut out = Screening::default();
    if ip.is_none() && device_fingerprint.is_none() && vendor_data.is_none() {
        return Ok(out);
    }
    let lists = all_lists(store, application_id).await?;
    let device = device_fingerprint.map(|d| d.trim().to_ascii_lowercase());
    let mut check = |t: EntryType, entries: Vec<Entry>, hit: &dyn Fn(&Entry) -> bool| {
        for e in entries.iter().filter(|e| hit(e)) {
            let Some(list) = lists.iter().find(|l: &&List| l.uuid == e.list_uuid) else {
                continue;
            };
            let flags = match t {
                EntryType::IpAddress => (&mut out.ip_blocklisted, &mut out.ip_allowlisted),
                EntryType::DeviceFingerprint => {
                    (&mut out.device_blocklisted, &mut out.device_allowlisted)
                }
                _ => (&mut out.user_blocklisted, &mut out.user_allowlisted),
            };
            match list.list_type {
                ListType::Blocklist => *flags.0 = true,
                ListType::Allowlist => *flags.1 = true,
                ListType::Custom => {}
            }
            out.hits.push(ListHit {
                list_uuid: list.uuid.clone(),
                list_name: list.name.clone(),
                list_type: list.list_type,
                entry_type: t,
                entry_uuid: e.uuid.clone(),
                value: e.value.clone(),
            });
        }
    };
    if let Some(ip) = ip {
        let entries = store
            .entries_of_type(application_id, EntryType::IpAddress)
            .await?;
        check(EntryType::IpAddress, entries, &|e| ip_matches(&e.value, ip));
    }
    if let Some(d) = device.as_deref().filter(|d| !d.is_empty()) {
        let entries = store
            .entries_of_type(application_id, EntryType::DeviceFingerprint)
            .await?;
        check(EntryType::DeviceFingerprint, entries, &|e| e.value == d);
    }
    if let Some(v) = vendor_data.filter(|v| !v.is_empty()) {
        let entries = store
            .entries_of_type(application_id, EntryType::User)
            .await?;
        check(EntryType::User, entries, &|e| e.value == v);
    }
    let rank = |t: ListType| match t {
        ListType::Blocklist => 0,
        ListType::Allowlist => 1,
        ListType::Custom => 2,
    };
    out.hits.sort_by_key(|h| rank(h.list_type));
    Ok(out)
}
