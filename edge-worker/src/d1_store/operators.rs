//! Console operators, their browser sessions and setup links over D1 (migration 0012). An
//! operator's record is JSON in `data`; the sign-in failure count and lock are columns of
//! their own, so a failure is counted by one atomic UPDATE however many guesses race.

use facegate_sessions::console::{
    ConsoleSession, Operator, OperatorStore, OperatorWrite, SetupLink,
};
use facegate_sessions::StoreError;
use serde::Deserialize;
use worker::D1PreparedStatement;

use super::{decode, encode, int, text, D1Store, DataRow};

#[derive(Deserialize)]
struct OperatorRow {
    data: String,
    failed_logins: f64,
    locked_until: f64,
}

impl OperatorRow {
    fn operator(self) -> Result<Operator, StoreError> {
        let mut op: Operator = decode(&self.data)?;
        op.failed_logins = self.failed_logins as u32;
        op.locked_until = self.locked_until as i64;
        Ok(op)
    }
}

#[derive(Deserialize)]
struct LinkRow {
    token_hash: String,
    operator_id: String,
    expires_at: f64,
}

const OPERATOR_COLUMNS: &str = "data, failed_logins, locked_until";

impl D1Store {
    /// Deletes the row of a one-use token (`table` is one of ours, never input), and makes the
    /// whole batch fail (the write_conflicts guard) when it is already gone: of two requests
    /// racing one token, only one commits.
    fn consume_once(
        &self,
        table: &str,
        token_hash: &str,
    ) -> Result<[D1PreparedStatement; 2], StoreError> {
        Ok([
            self.statement(
                &format!(
                    "INSERT INTO write_conflicts (session_id) SELECT ?1 WHERE \
                     NOT EXISTS (SELECT 1 FROM {table} WHERE token_hash = ?1)"
                ),
                &[text(token_hash)],
            )?,
            self.statement(
                &format!("DELETE FROM {table} WHERE token_hash = ?1"),
                &[text(token_hash)],
            )?,
        ])
    }

    fn operator_statements(
        &self,
        w: &OperatorWrite,
        out: &mut Vec<D1PreparedStatement>,
    ) -> Result<(), StoreError> {
        match w {
            OperatorWrite::PutOperator {
                operator: op,
                expected_version,
            } => {
                // The write_conflicts guard (migration 0006): a row is inserted, and refused,
                // exactly when the stored version is not the one read (0: no row yet).
                out.push(self.statement(
                    "INSERT INTO write_conflicts (session_id) SELECT ?1 WHERE \
                     COALESCE((SELECT version FROM operators WHERE id = ?1), 0) <> ?2",
                    &[text(&op.id), int(*expected_version)],
                )?);
                // An email another operator has is refused by the guard too, not left to
                // the unique index (whose error would read as a fault).
                out.push(self.statement(
                    "INSERT INTO write_conflicts (session_id) SELECT ?1 WHERE ?2 <> '' AND \
                     EXISTS (SELECT 1 FROM operators WHERE email = ?2 AND id <> ?1)",
                    &[text(&op.id), text(&op.email)],
                )?);
                out.push(self.statement(
                    "INSERT INTO operators (id, email, version, created_at, data) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (id) DO UPDATE SET email = ?2, version = ?3, data = ?5",
                    &[text(&op.id), text(&op.email), int(op.version), int(op.created_at), text(&encode(op)?)],
                )?);
            }
            OperatorWrite::CountFailure {
                operator_id,
                limit,
                lock_until,
            } => out.push(self.statement(
                "UPDATE operators SET \
                 locked_until = CASE WHEN failed_logins + 1 >= ?2 THEN ?3 ELSE locked_until END, \
                 failed_logins = CASE WHEN failed_logins + 1 >= ?2 THEN 0 ELSE failed_logins + 1 END \
                 WHERE id = ?1",
                &[text(operator_id), int(i64::from(*limit)), int(*lock_until)],
            )?),
            OperatorWrite::ClearFailures { operator_id } => out.push(self.statement(
                "UPDATE operators SET failed_logins = 0, locked_until = 0 WHERE id = ?1",
                &[text(operator_id)],
            )?),
            OperatorWrite::PutConsoleSession(s) => out.push(self.statement(
                "INSERT INTO console_sessions (token_hash, operator_id, expires_at, data) VALUES (?1, ?2, ?3, ?4)",
                &[text(&s.token_hash), text(&s.operator_id), int(s.expires_at), text(&encode(s)?)],
            )?),
            OperatorWrite::DeleteConsoleSession { token_hash } => out.push(self.statement(
                "DELETE FROM console_sessions WHERE token_hash = ?1",
                &[text(token_hash)],
            )?),
            OperatorWrite::ConsumeConsoleSession { token_hash } => {
                out.extend(self.consume_once("console_sessions", token_hash)?)
            }
            OperatorWrite::PutSetupLink(l) => out.push(self.statement(
                "INSERT INTO setup_links (token_hash, operator_id, expires_at) VALUES (?1, ?2, ?3)",
                &[text(&l.token_hash), text(&l.operator_id), int(l.expires_at)],
            )?),
            OperatorWrite::ConsumeSetupLink { token_hash } => {
                out.extend(self.consume_once("setup_links", token_hash)?)
            }
            OperatorWrite::DeleteSetupLinksOf { operator_id } => out.push(self.statement(
                "DELETE FROM setup_links WHERE operator_id = ?1",
                &[text(operator_id)],
            )?),
            // Grants live in the record's JSON; a batch runs as one transaction, so a second
            // demotion racing this one sees it and is refused here.
            OperatorWrite::RequireOtherAdmin {
                application_id,
                besides,
            } => out.push(self.statement(
                "INSERT INTO write_conflicts (session_id) SELECT ?1 WHERE NOT EXISTS (\
                 SELECT 1 FROM operators o, json_each(o.data, '$.grants') g WHERE o.id <> ?1 \
                 AND json_extract(g.value, '$.application_id') = ?2 AND json_extract(g.value, '$.role') = 'admin')",
                &[text(besides), text(application_id)],
            )?),
        }
        Ok(())
    }

    async fn operators_where(
        &self,
        condition: &str,
        args: &[worker::wasm_bindgen::JsValue],
    ) -> Result<Vec<Operator>, StoreError> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators {condition}");
        self.rows::<OperatorRow>(&sql, args)
            .await?
            .into_iter()
            .map(OperatorRow::operator)
            .collect()
    }
}

impl OperatorStore for D1Store {
    async fn commit_operators(&self, writes: &[OperatorWrite]) -> Result<(), StoreError> {
        let mut batch = Vec::with_capacity(writes.len() + 2);
        for w in writes {
            self.operator_statements(w, &mut batch)?;
        }
        self.run_batch(batch).await
    }

    async fn operator(&self, id: &str) -> Result<Option<Operator>, StoreError> {
        Ok(self
            .operators_where("WHERE id = ?1", &[text(id)])
            .await?
            .pop())
    }

    async fn operator_by_email(&self, email: &str) -> Result<Option<Operator>, StoreError> {
        if email.is_empty() {
            return Ok(None);
        }
        Ok(self
            .operators_where("WHERE email = ?1", &[text(email)])
            .await?
            .pop())
    }

    async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        self.operators_where("ORDER BY created_at", &[]).await
    }

    async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let rows: Vec<DataRow> = self
            .rows(
                "SELECT data FROM console_sessions WHERE token_hash = ?1",
                &[text(token_hash)],
            )
            .await?;
        rows.first().map(|r| decode(&r.data)).transpose()
    }

    async fn setup_link(&self, token_hash: &str) -> Result<Option<SetupLink>, StoreError> {
        let rows: Vec<LinkRow> = self
            .rows(
                "SELECT token_hash, operator_id, expires_at FROM setup_links WHERE token_hash = ?1",
                &[text(token_hash)],
            )
            .await?;
        Ok(rows.into_iter().next().map(|r| SetupLink {
            token_hash: r.token_hash,
            operator_id: r.operator_id,
            expires_at: r.expires_at as i64,
        }))
    }
}
