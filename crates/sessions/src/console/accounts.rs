//! Operators (the people who use the console), what their roles allow, and the port that
//! stores them. Operators are platform-wide, not rows of one application: a role is granted
//! per application, so one person can review for one integrator and administer another.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::store::StoreError;

/// What an operator may do in one application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything in the application: keys, webhook destinations, workflows, inviting people.
    Admin,
    /// Reads, decides sessions in review, resends webhooks.
    Reviewer,
    /// Reads only.
    ReadOnly,
}

/// The kinds of console work a role is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    /// Approve or decline a session, resend a webhook.
    Decide,
    /// Keys, destinations, invitations: what changes who can reach the application.
    Configure,
}

impl Role {
    pub fn allows(self, action: Action) -> bool {
        match self {
            Role::Admin => true,
            Role::Reviewer => matches!(action, Action::Read | Action::Decide),
            Role::ReadOnly => action == Action::Read,
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "reviewer" => Some(Role::Reviewer),
            "read_only" => Some(Role::ReadOnly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
            Role::ReadOnly => "read_only",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub application_id: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub id: String,
    /// Lower-case; empty only for the first admin before they follow their setup link.
    pub email: String,
    pub name: String,
    /// argon2id in PHC form; `None` until the operator has set a password.
    pub password_hash: Option<String>,
    /// Administers every application and creates new ones.
    pub platform_admin: bool,
    pub grants: Vec<Grant>,
    pub created_at: i64,
    /// Optimistic-concurrency counter of the row.
    pub version: i64,
    /// Failed sign-ins since the last success or lock (its own column in SQL, counted
    /// atomically so parallel guesses are all counted).
    #[serde(default)]
    pub failed_logins: u32,
    /// Unix seconds until which sign-in is refused without checking the password.
    #[serde(default)]
    pub locked_until: i64,
    /// Sign-in also needs a facegate selfie (`second_factor` module) once this is set.
    #[serde(default)]
    pub second_factor: Option<SecondFactor>,
    /// The enrolment session of a second factor being set up, until it is confirmed.
    #[serde(default)]
    pub pending_second_factor: Option<String>,
}

/// An operator's enrolled selfie: their face is the template of the console sign-in
/// application's user named by the operator's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactor {
    pub enrolled_at: i64,
    /// The enrolment session whose capture became the template.
    pub session_id: String,
}

impl Operator {
    pub fn role_in(&self, application_id: &str) -> Option<Role> {
        if self.platform_admin {
            return Some(Role::Admin);
        }
        self.grants
            .iter()
            .find(|g| g.application_id == application_id)
            .map(|g| g.role)
    }

    /// An application the operator has no role in is answered 404, as if it did not exist:
    /// its id says nothing to someone outside it. A role that lacks the action is a 403.
    pub fn authorize(&self, application_id: &str, action: Action) -> Result<Role, ApiError> {
        let role = self.role_in(application_id).ok_or(ApiError::NotFound)?;
        if role.allows(action) {
            Ok(role)
        } else {
            Err(ApiError::Forbidden(match action {
                Action::Configure => "Only an admin of this application may do this.",
                Action::Decide => "Read-only operators cannot decide sessions.",
                Action::Read => "You have no access to this application.",
            }))
        }
    }

    /// The public part, as the console and the operator API show it.
    pub fn public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "platform_admin": self.platform_admin,
            "second_factor": self.second_factor.is_some(),
            "grants": self.grants.iter().map(|g| serde_json::json!({
                "application_id": g.application_id, "role": g.role.as_str(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// A signed-in browser: the cookie's token (kept as its sha256) and the CSRF token the page
/// must echo on every write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSession {
    pub token_hash: String,
    pub operator_id: String,
    pub csrf: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set while the password was right but the selfie (the operator's second factor) is still
    /// to come: the id of the re-authentication session that must end Approved. Such a browser
    /// session opens nothing but the selfie step.
    #[serde(default)]
    pub awaiting_selfie: Option<String>,
}

/// A one-time link that lets an operator set their password (the first admin's, or an
/// invitation). Kept as the sha256 of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupLink {
    pub token_hash: String,
    pub operator_id: String,
    pub expires_at: i64,
}

/// One write of an operator unit of work; a list commits whole or not at all.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorWrite {
    /// Insert (`expected_version` 0) or update an operator at the version read; another
    /// version (or an email another operator has) → `Conflict`.
    PutOperator {
        operator: Operator,
        expected_version: i64,
    },
    /// One more failed sign-in, atomically; the `limit`-th locks the account until
    /// `lock_until` and restarts the count.
    CountFailure {
        operator_id: String,
        limit: u32,
        lock_until: i64,
    },
    /// A successful sign-in forgets earlier failures.
    ClearFailures {
        operator_id: String,
    },
    PutConsoleSession(ConsoleSession),
    DeleteConsoleSession {
        token_hash: String,
    },
    /// Ends a browser session that must be used once (a sign-in waiting for its selfie);
    /// already gone → `Conflict`, so two racing requests cannot both turn it into a session.
    ConsumeConsoleSession {
        token_hash: String,
    },
    PutSetupLink(SetupLink),
    /// Uses a link up: gone afterwards; already gone → `Conflict` (two tabs racing one link).
    ConsumeSetupLink {
        token_hash: String,
    },
    /// Earlier links of an operator stop working when a new one is issued.
    DeleteSetupLinksOf {
        operator_id: String,
    },
    /// Refuses the whole unit (`Conflict`) unless an operator other than `besides` holds an
    /// admin grant in the application, as the store is when it commits: goes with a write
    /// that takes `besides`' admin role away (`team` module).
    RequireOtherAdmin {
        application_id: String,
        besides: String,
    },
}

/// Where operators, their browser sessions and setup links live (D1 in the worker).
#[allow(async_fn_in_trait)]
pub trait OperatorStore {
    async fn commit_operators(&self, writes: &[OperatorWrite]) -> Result<(), StoreError>;
    async fn operator(&self, id: &str) -> Result<Option<Operator>, StoreError>;
    async fn operator_by_email(&self, email: &str) -> Result<Option<Operator>, StoreError>;
    async fn operators(&self) -> Result<Vec<Operator>, StoreError>;
    async fn console_session(&self, token_hash: &str)
        -> Result<Option<ConsoleSession>, StoreError>;
    async fn setup_link(&self, token_hash: &str) -> Result<Option<SetupLink>, StoreError>;
}
