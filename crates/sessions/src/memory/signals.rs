//! The in-memory store's remembered devices and addresses (the D1 side is
//! edge-worker/src/d1_store/signals.rs, migration 0015).

use crate::store::{SeenSignal, SignalRow, StoreError, Write};

use super::MemoryStore;

impl MemoryStore {
    /// The writes of this file; `apply` hands over exactly these.
    pub(super) fn apply_signal(&self, w: &Write) -> Result<(), StoreError> {
        let mut rows = self.signal_rows.borrow_mut();
        match w {
            Write::SeeSignal(SeenSignal {
                application_id,
                vendor_data,
                kind,
                hash,
                session_id,
                at,
            }) => {
                let key = (
                    application_id.clone(),
                    vendor_data.clone(),
                    kind.clone(),
                    hash.clone(),
                );
                let row = rows.entry(key).or_insert_with(|| SignalRow {
                    vendor_data: vendor_data.clone(),
                    kind: kind.clone(),
                    hash: hash.clone(),
                    session_id: session_id.clone(),
                    first_seen: *at,
                    last_seen: *at,
                    count: 0,
                });
                row.count += 1;
                row.last_seen = *at;
                row.session_id = session_id.clone();
            }
            Write::ForgetSignalsBefore { before } => rows.retain(|_, r| r.last_seen >= *before),
            Write::ForgetUserSignals {
                application_id,
                vendor_data,
            } => rows.retain(|(a, v, _, _), _| !(a == application_id && v == vendor_data)),
            _ => {}
        }
        Ok(())
    }

    pub(super) fn signals_of(&self, application_id: &str, hashes: &[&str]) -> Vec<SignalRow> {
        let mut out: Vec<SignalRow> = self
            .signal_rows
            .borrow()
            .iter()
            .filter(|((a, _, _, h), _)| a == application_id && hashes.contains(&h.as_str()))
            .map(|(_, r)| r.clone())
            .collect();
        out.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
        out.truncate(20);
        out
    }
}
