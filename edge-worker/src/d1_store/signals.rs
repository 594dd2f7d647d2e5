//! Remembered devices and addresses over D1 (migration 0015): keyed hashes only.

use facegate_sessions::store::{SeenSignal, SignalRow};
use facegate_sessions::StoreError;
use serde::Deserialize;
use worker::D1PreparedStatement;

use super::{int, text, D1Store};

#[derive(Deserialize)]
struct Row {
    vendor_data: String,
    kind: String,
    hash: String,
    session_id: String,
    first_seen: i64,
    last_seen: i64,
    count: i64,
}

impl D1Store {
    pub(super) fn see_signal(&self, s: &SeenSignal) -> Result<D1PreparedStatement, StoreError> {
        self.statement(
            "INSERT INTO known_signals (application_id, vendor_data, kind, hash, session_id, first_seen, last_seen, count) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 1) \
             ON CONFLICT (application_id, vendor_data, kind, hash) DO UPDATE SET \
             session_id = ?5, last_seen = ?6, count = count + 1",
            &[text(&s.application_id), text(&s.vendor_data), text(&s.kind), text(&s.hash), text(&s.session_id), int(s.at)],
        )
    }

    pub(super) fn forget_signals_before(
        &self,
        before: i64,
    ) -> Result<D1PreparedStatement, StoreError> {
        self.statement(
            "DELETE FROM known_signals WHERE last_seen < ?1",
            &[int(before)],
        )
    }

    pub(super) fn forget_user_signals(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<D1PreparedStatement, StoreError> {
        self.statement(
            "DELETE FROM known_signals WHERE application_id = ?1 AND vendor_data = ?2",
            &[text(application_id), text(vendor_data)],
        )
    }

    pub(super) async fn signal_rows(
        &self,
        application_id: &str,
        hashes: &[&str],
    ) -> Result<Vec<SignalRow>, StoreError> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..hashes.len()).map(|i| format!("?{}", i + 2)).collect();
        let mut args = vec![text(application_id)];
        args.extend(hashes.iter().map(|h| text(h)));
        let rows: Vec<Row> = self
            .rows(
                &format!(
                    "SELECT vendor_data, kind, hash, session_id, first_seen, last_seen, count FROM known_signals \
                     WHERE application_id = ?1 AND hash IN ({}) ORDER BY last_seen DESC LIMIT 20",
                    marks.join(", ")
                ),
                &args,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| SignalRow {
                vendor_data: r.vendor_data,
                kind: r.kind,
                hash: r.hash,
                session_id: r.session_id,
                first_seen: r.first_seen,
                last_seen: r.last_seen,
                count: r.count.max(0) as u64,
            })
            .collect())
    }
}
