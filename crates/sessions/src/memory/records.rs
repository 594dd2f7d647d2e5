//! The in-memory store's audit log, user records, branding and delivery resend (the D1 side is
//! edge-worker/src/d1_store/{audit,users}.rs).

use crate::store::{StoreError, Write};
use crate::types::{AuditRow, DeliveryRow, DeliveryStatus};
use crate::user_records::UserRow;

use super::MemoryStore;

impl MemoryStore {
    /// The writes of this file; `apply` hands over exactly these.
    pub(super) fn apply_record(&self, w: &Write) -> Result<(), StoreError> {
        let key = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        match w {
            Write::RequeueDelivery {
                application_id,
                id,
                now,
            } => {
                if let Some(r) = self.deliveries.borrow_mut().get_mut(id) {
                    if &r.application_id == application_id {
                        r.status = DeliveryStatus::Pending;
                        r.attempt = 0;
                        r.next_attempt_at = *now;
                        r.updated_at = *now;
                        self.claims.borrow_mut().remove(id);
                    }
                }
            }
            Write::PutUser(u) => {
                self.users
                    .borrow_mut()
                    .insert(key(&u.application_id, &u.vendor_data), u.clone());
            }
            Write::DeleteUser {
                application_id,
                vendor_data,
            } => {
                self.users
                    .borrow_mut()
                    .remove(&key(application_id, vendor_data));
            }
            Write::InsertAudit(row) => {
                let mut all = self.audit.borrow_mut();
                if all.iter().any(|r| r.id == row.id) {
                    return Err(StoreError::Backend("UNIQUE constraint failed".into()));
                }
                all.push(row.clone());
            }
            Write::PutBranding {
                application_id,
                branding,
            } => {
                self.branding
                    .borrow_mut()
                    .insert(application_id.clone(), branding.clone());
            }
            Write::PutImage {
                application_id,
                session_id,
                slot,
                blob,
            } => {
                let key = (application_id.clone(), session_id.clone(), slot.clone());
                self.images.borrow_mut().insert(key, blob.clone());
            }
            // Every other write is `apply`'s.
            _ => {}
        }
        Ok(())
    }

    pub(super) fn delivery(&self, application_id: &str, id: &str) -> Option<DeliveryRow> {
        self.deliveries
            .borrow()
            .get(id)
            .filter(|r| r.application_id == application_id)
            .cloned()
    }

    pub(super) fn user(&self, application_id: &str, vendor_data: &str) -> Option<UserRow> {
        self.users
            .borrow()
            .get(&(application_id.to_owned(), vendor_data.to_owned()))
            .cloned()
    }

    pub(super) fn users_of(&self, application_id: &str) -> Vec<UserRow> {
        self.users
            .borrow()
            .values()
            .filter(|u| u.application_id == application_id)
            .cloned()
            .collect()
    }

    pub(super) fn vendor_data(&self, application_id: &str) -> Vec<String> {
        let mut all: Vec<String> = self
            .sessions
            .borrow()
            .values()
            .filter(|s| s.application_id == application_id)
            .filter_map(|s| s.vendor_data.clone())
            .chain(
                self.templates
                    .borrow()
                    .keys()
                    .filter(|(a, _)| a == application_id)
                    .map(|(_, v)| v.clone()),
            )
            .chain(
                self.users
                    .borrow()
                    .keys()
                    .filter(|(a, _)| a == application_id)
                    .map(|(_, v)| v.clone()),
            )
            .collect();
        all.sort();
        all.dedup();
        all
    }

    pub(super) fn audit_rows(&self, application_id: &str, session_id: &str) -> Vec<AuditRow> {
        self.audit
            .borrow()
            .iter()
            .filter(|r| {
                r.application_id == application_id && r.session_id.as_deref() == Some(session_id)
            })
            .cloned()
            .collect()
    }
}
