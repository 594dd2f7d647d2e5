//! Hosted-page branding over D1 (migration 0011): one JSON row per application.

use facegate_sessions::branding::Branding;
use facegate_sessions::StoreError;
use worker::D1PreparedStatement;

use super::{encode, text, D1Store, DataRow};

impl D1Store {
    pub(super) fn put_branding(
        &self,
        application_id: &str,
        b: &Branding,
    ) -> Result<D1PreparedStatement, StoreError> {
        self.statement(
            "INSERT OR REPLACE INTO branding (application_id, data) VALUES (?1, ?2)",
            &[text(application_id), text(&encode(b)?)],
        )
    }

    pub(super) async fn branding(
        &self,
        application_id: &str,
    ) -> Result<Option<Branding>, StoreError> {
        let rows: Vec<DataRow> = self
            .rows(
                "SELECT data FROM branding WHERE application_id = ?1",
                &[text(application_id)],
            )
            .await?;
        rows.first().map(|r| super::decode(&r.data)).transpose()
    }
}
