//! The audit log and the resend of a delivery over D1 (migration 0009). Audit rows keep their
//! full record as JSON in `data`, with the columns queries filter on copied out; the table's
//! triggers make it append-only.

use facegate_sessions::{AuditRow, DeliveryRow, StoreError};
use worker::D1PreparedStatement;

use super::{encode, int, opt, text, D1Store, DataRow, DeliveryDbRow, DELIVERY_COLUMNS};

impl D1Store {
    pub(super) fn insert_audit(&self, r: &AuditRow) -> Result<D1PreparedStatement, StoreError> {
        self.statement(
            "INSERT INTO audit_log (id, application_id, session_id, vendor_data, activity_type, created_at, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                text(&r.id),
                text(&r.application_id),
                opt(r.session_id.as_deref()),
                opt(r.vendor_data.as_deref()),
                text(&r.activity_type),
                int(r.created_at),
                text(&encode(r)?),
            ],
        )
    }

    /// Pending, due now, no sends counted, no claim: the sender that held it (if any) loses
    /// its lease, and its result is not recorded over the resend.
    pub(super) fn requeue_delivery(
        &self,
        application_id: &str,
        id: &str,
        now: i64,
    ) -> Result<D1PreparedStatement, StoreError> {
        self.statement(
            "UPDATE webhook_deliveries SET status = 'pending', attempt = 0, next_attempt_at = ?3, \
             updated_at = ?3, claim = NULL WHERE application_id = ?1 AND id = ?2",
            &[text(application_id), text(id), int(now)],
        )
    }

    pub(super) async fn audit_rows(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let rows: Vec<DataRow> = self
            .rows(
                "SELECT data FROM audit_log WHERE application_id = ?1 AND session_id = ?2 ORDER BY rowid",
                &[text(application_id), text(session_id)],
            )
            .await?;
        rows.iter().map(|r| super::decode(&r.data)).collect()
    }

    pub(super) async fn delivery(
        &self,
        application_id: &str,
        id: &str,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        let rows: Vec<DeliveryDbRow> = self
            .rows(
                &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE application_id = ?1 AND id = ?2"),
                &[text(application_id), text(id)],
            )
            .await?;
        rows.into_iter()
            .next()
            .map(DeliveryRow::try_from)
            .transpose()
    }
}

#[derive(serde::Deserialize)]
struct VendorRow {
    vendor_data: String,
}

impl D1Store {
    pub(super) async fn vendor_data(
        &self,
        application_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<VendorRow> = self
            .rows(
                "SELECT vendor_data FROM sessions WHERE application_id = ?1 AND vendor_data IS NOT NULL \
                 UNION SELECT vendor_data FROM templates WHERE application_id = ?1 \
                 UNION SELECT vendor_data FROM users WHERE application_id = ?1 ORDER BY vendor_data",
                &[text(application_id)],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.vendor_data).collect())
    }
}
