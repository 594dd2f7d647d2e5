//! User records over D1 (migration 0010): the record as JSON in `data`, keyed by
//! (application_id, vendor_data).

use facegate_sessions::user_records::UserRow;
use facegate_sessions::StoreError;
use worker::D1PreparedStatement;

use super::{encode, text, D1Store, DataRow};

impl D1Store {
    pub(super) fn put_user(&self, u: &UserRow) -> Result<D1PreparedStatement, StoreError> {
        self.statement(
            "INSERT OR REPLACE INTO users (application_id, vendor_data, status, data) VALUES (?1, ?2, ?3, ?4)",
            &[text(&u.application_id), text(&u.vendor_data), text(&u.status), text(&encode(u)?)],
        )
    }

    pub(super) async fn user(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Option<UserRow>, StoreError> {
        let rows: Vec<DataRow> = self
            .rows(
                "SELECT data FROM users WHERE application_id = ?1 AND vendor_data = ?2",
                &[text(application_id), text(vendor_data)],
            )
            .await?;
        rows.first().map(|r| super::decode(&r.data)).transpose()
    }

    pub(super) async fn users(&self, application_id: &str) -> Result<Vec<UserRow>, StoreError> {
        let rows: Vec<DataRow> = self
            .rows(
                "SELECT data FROM users WHERE application_id = ?1",
                &[text(application_id)],
            )
            .await?;
        rows.iter().map(|r| super::decode(&r.data)).collect()
    }
}
