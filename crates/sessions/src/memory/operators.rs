//! The in-memory store's operators, console sessions and setup links (the D1 side is
//! edge-worker/src/d1_store/operators.rs): the same guards, so tests see the same conflicts.

use std::collections::BTreeMap;

use crate::console::{ConsoleSession, Operator, OperatorStore, OperatorWrite, SetupLink};
use crate::store::StoreError;

use super::MemoryStore;

#[derive(Default, Clone)]
pub struct OperatorTables {
    pub operators: BTreeMap<String, Operator>,
    pub sessions: BTreeMap<String, ConsoleSession>,
    pub links: BTreeMap<String, SetupLink>,
}

fn apply(t: &mut OperatorTables, w: &OperatorWrite) -> Result<(), StoreError> {
    match w {
        OperatorWrite::PutOperator {
            operator,
            expected_version,
        } => {
            let stored = t.operators.get(&operator.id).map_or(0, |o| o.version);
            let email_taken = !operator.email.is_empty()
                && t.operators
                    .values()
                    .any(|o| o.email == operator.email && o.id != operator.id);
            if stored != *expected_version || email_taken {
                return Err(StoreError::Conflict);
            }
            // The failure count and lock are their own columns: a record write keeps them.
            let (failed, locked) = t
                .operators
                .get(&operator.id)
                .map_or((0, 0), |o| (o.failed_logins, o.locked_until));
            let mut op = operator.clone();
            op.failed_logins = failed;
            op.locked_until = locked;
            t.operators.insert(op.id.clone(), op);
        }
        OperatorWrite::CountFailure {
            operator_id,
            limit,
            lock_until,
        } => {
            if let Some(o) = t.operators.get_mut(operator_id) {
                if o.failed_logins + 1 >= *limit {
                    o.failed_logins = 0;
                    o.locked_until = *lock_until;
                } else {
                    o.failed_logins += 1;
                }
            }
        }
        OperatorWrite::ClearFailures { operator_id } => {
            if let Some(o) = t.operators.get_mut(operator_id) {
                o.failed_logins = 0;
                o.locked_until = 0;
            }
        }
        OperatorWrite::PutConsoleSession(s) => {
            t.sessions.insert(s.token_hash.clone(), s.clone());
        }
        OperatorWrite::DeleteConsoleSession { token_hash } => {
            t.sessions.remove(token_hash);
        }
        OperatorWrite::ConsumeConsoleSession { token_hash } => {
            t.sessions.remove(token_hash).ok_or(StoreError::Conflict)?;
        }
        OperatorWrite::PutSetupLink(l) => {
            t.links.insert(l.token_hash.clone(), l.clone());
        }
        OperatorWrite::ConsumeSetupLink { token_hash } => {
            t.links.remove(token_hash).ok_or(StoreError::Conflict)?;
        }
        OperatorWrite::DeleteSetupLinksOf { operator_id } => {
            t.links.retain(|_, l| &l.operator_id != operator_id);
        }
        OperatorWrite::RequireOtherAdmin {
            application_id,
            besides,
        } => {
            let another = t.operators.values().any(|o| {
                &o.id != besides
                    && o.grants.iter().any(|g| {
                        &g.application_id == application_id && g.role == crate::console::Role::Admin
                    })
            });
            if !another {
                return Err(StoreError::Conflict);
            }
        }
    }
    Ok(())
}

impl OperatorStore for MemoryStore {
    async fn commit_operators(&self, writes: &[OperatorWrite]) -> Result<(), StoreError> {
        // All or nothing, like the D1 batch: work on a copy, keep it only if every write held.
        let mut copy = self.operator_tables.borrow().clone();
        for w in writes {
            apply(&mut copy, w)?;
        }
        *self.operator_tables.borrow_mut() = copy;
        Ok(())
    }

    async fn operator(&self, id: &str) -> Result<Option<Operator>, StoreError> {
        Ok(self.operator_tables.borrow().operators.get(id).cloned())
    }

    async fn operator_by_email(&self, email: &str) -> Result<Option<Operator>, StoreError> {
        Ok(self
            .operator_tables
            .borrow()
            .operators
            .values()
            .find(|o| !email.is_empty() && o.email == email)
            .cloned())
    }

    async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        let mut all: Vec<Operator> = self
            .operator_tables
            .borrow()
            .operators
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|o| o.created_at);
        Ok(all)
    }

    async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        Ok(self
            .operator_tables
            .borrow()
            .sessions
            .get(token_hash)
            .cloned())
    }

    async fn setup_link(&self, token_hash: &str) -> Result<Option<SetupLink>, StoreError> {
        Ok(self.operator_tables.borrow().links.get(token_hash).cloned())
    }
}
