//! Domain types. Every enum serialises with the exact wire casing of the contract (§1.15),
//! so rows and responses never need a second mapping.

use facegate_pipeline::challenge::escalate::EscalationSetting;
use facegate_pipeline::challenge::LivenessMethod;
use facegate_pipeline::decide::{Effect, Policy};
use facegate_pipeline::{FaceMatch, LivenessCheck};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Workflow node ids the adapter passes to the pipeline, so decision items carry the ids
/// the PY CLI's `--nodes feature_liveness:LIVENESS` shorthand expects.
pub const LIVENESS_NODE: &str = "feature_liveness";
pub const FACE_MATCH_NODE: &str = "feature_face_match";

/// The 10 session statuses (§1.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionStatus {
    #[serde(rename = "Not Started")]
    NotStarted,
    #[serde(rename = "In Progress")]
    InProgress,
    #[serde(rename = "In Review")]
    InReview,
    Approved,
    Declined,
    Expired,
    Abandoned,
    #[serde(rename = "Kyc Expired")]
    KycExpired,
    Resubmitted,
    #[serde(rename = "Awaiting User")]
    AwaitingUser,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 10] = [
        SessionStatus::NotStarted,
        SessionStatus::InProgress,
        SessionStatus::InReview,
        SessionStatus::Approved,
        SessionStatus::Declined,
        SessionStatus::Expired,
        SessionStatus::Abandoned,
        SessionStatus::KycExpired,
        SessionStatus::Resubmitted,
        SessionStatus::AwaitingUser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::NotStarted => "Not Started",
            SessionStatus::InProgress => "In Progress",
            SessionStatus::InReview => "In Review",
            SessionStatus::Approved => "Approved",
            SessionStatus::Declined => "Declined",
            SessionStatus::Expired => "Expired",
            SessionStatus::Abandoned => "Abandoned",
            SessionStatus::KycExpired => "Kyc Expired",
            SessionStatus::Resubmitted => "Resubmitted",
            SessionStatus::AwaitingUser => "Awaiting User",
        }
    }

    /// Exact wire value only.
    pub fn parse(s: &str) -> Option<SessionStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Wire value or the docs' `IN_REVIEW` spelling, any case: the list filter must accept
    /// both (§1.7) and the two spellings never collide.
    pub fn parse_lenient(s: &str) -> Option<SessionStatus> {
        let norm = |x: &str| x.replace(['_', ' '], "").to_ascii_lowercase();
        let want = norm(s.trim());
        Self::ALL.into_iter().find(|v| norm(v.as_str()) == want)
    }

    /// Statuses in which the user may still (re)capture, and which create reuses (§1.3).
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            SessionStatus::NotStarted
                | SessionStatus::InProgress
                | SessionStatus::Resubmitted
                | SessionStatus::AwaitingUser
        )
    }

    /// Statuses that carry the `decision` object in webhooks (§2.2).
    pub fn webhook_has_decision(self) -> bool {
        matches!(
            self,
            SessionStatus::Approved
                | SessionStatus::Declined
                | SessionStatus::InReview
                | SessionStatus::Abandoned
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackMethod {
    #[default]
    Initiator,
    Completer,
    Both,
}

impl CallbackMethod {
    pub fn parse(s: &str) -> Option<CallbackMethod> {
        match s.to_ascii_lowercase().as_str() {
            "initiator" => Some(CallbackMethod::Initiator),
            "completer" => Some(CallbackMethod::Completer),
            "both" => Some(CallbackMethod::Both),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Live,
    Sandbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowType {
    /// Re-authentication: liveness + 1:1 match against the enrolled face.
    BiometricAuthentication,
    /// Enrolment: liveness only; an approved capture becomes the user's face template.
    Kyc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Feature {
    Liveness,
    FaceMatch,
    /// The visit's network and device (`visits` module): on when the workflow has step-up rules.
    IpAnalysis,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Liveness => "LIVENESS",
            Feature::FaceMatch => "FACE_MATCH",
            Feature::IpAnalysis => "IP_ANALYSIS",
        }
    }
}

/// Thresholds on Didit's 0-100 scale; defaults are Didit's (§1.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    pub face_match_review: f32,
    pub face_match_decline: f32,
    pub liveness_decline: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            face_match_review: 70.0,
            face_match_decline: 50.0,
            liveness_decline: 50.0,
        }
    }
}

/// Whether a workflow version may start sessions (Didit's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    #[default]
    Published,
    /// Saved, not yet usable: a session on it is refused until it is published.
    Draft,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    /// The stable id sessions name (Didit's `workflow_id`, the version group).
    pub id: String,
    /// The published version new sessions pin; older-version sessions are never reused.
    pub version: u32,
    /// This version's own id (Didit's per-version `uuid`). Unset for a first version, whose
    /// uuid is the workflow id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_uuid: Option<String>,
    /// Didit's `workflow_label` (at most 50 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default)]
    pub status: WorkflowStatus,
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_default: bool,
    /// Seconds a session of this workflow stays open; unset: the application's setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expiration_time: Option<i64>,
    /// Deleted: kept only for the sessions that began on it, never for new ones.
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
    /// Node labels by feature (`LIVENESS`, `FACE_MATCH`), as the `features` body gave them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    pub workflow_type: WorkflowType,
    /// Biometric only: `false` is Didit's liveness-only mode.
    #[serde(default = "yes")]
    pub face_match: bool,
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Captures allowed per session before a decline is final (Didit default 3, range 2-5).
    #[serde(default = "three")]
    pub max_attempts: u32,
    /// Didit's flat config `liveness_method` (`passive`, `active_3d`, `flashing`; upper case
    /// read too). Active methods make the hosted page answer a server-issued challenge.
    #[serde(default)]
    pub liveness_method: LivenessMethod,
    /// Kyc: what a capture whose face does not match the face already enrolled for its
    /// vendor_data does (`review` by default, `decline`, or `approve` to allow replacement
    /// outright). Never a silent replacement: the liveness item carries the warning.
    #[serde(default = "review")]
    pub on_face_change: Effect,
    /// Passive workflows: a borderline liveness score asks for an active challenge (FLASHING
    /// by default) instead of deciding (`{"enabled": true}`); off by default.
    #[serde(default)]
    pub liveness_escalation: EscalationSetting,
    /// Didit's IP_ANALYSIS feature with the step-up rules (`visits` module); absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_analysis: Option<facegate_signals::stepup::Rules>,
    /// Duplicate detection (LIVENESS config `duplicate_face_action`): a capture whose face is
    /// another vendor_data's enrolled face gets DUPLICATED_FACE with this effect (a possible
    /// one, review). Off (`None`) by default. Blocklisted faces are always checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_face_action: Option<Effect>,
}

fn review() -> Effect {
    Effect::Review
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}
fn three() -> u32 {
    3
}

impl Workflow {
    /// A first, published version with Didit's defaults: re-authentication matches faces,
    /// enrolment does not.
    pub fn new(id: impl Into<String>, workflow_type: WorkflowType) -> Workflow {
        Workflow {
            id: id.into(),
            version: 1,
            version_uuid: None,
            label: None,
            status: WorkflowStatus::Published,
            is_default: false,
            session_expiration_time: None,
            archived: false,
            labels: Default::default(),
            updated_at: None,
            workflow_type,
            face_match: workflow_type == WorkflowType::BiometricAuthentication,
            thresholds: Thresholds::default(),
            max_attempts: three(),
            liveness_method: LivenessMethod::Passive,
            on_face_change: review(),
            liveness_escalation: EscalationSetting::default(),
            ip_analysis: None,
            duplicate_face_action: None,
        }
    }

    pub fn features(&self) -> Vec<Feature> {
        let mut out = match (self.workflow_type, self.face_match) {
            (WorkflowType::BiometricAuthentication, true) => {
                vec![Feature::Liveness, Feature::FaceMatch]
            }
            _ => vec![Feature::Liveness],
        };
        if self.ip_analysis.is_some() {
            out.push(Feature::IpAnalysis);
        }
        out
    }

    pub fn has(&self, f: Feature) -> bool {
        self.features().contains(&f)
    }

    /// The uuid of this version (Didit's `uuid`, distinct per version).
    pub fn uuid(&self) -> &str {
        self.version_uuid.as_deref().unwrap_or(&self.id)
    }

    /// How long a new session of this workflow stays open.
    pub fn session_expiry_seconds(&self, settings: &AppSettings) -> i64 {
        self.session_expiration_time
            .unwrap_or(settings.session_expiry_seconds)
    }

    /// The pipeline policy this workflow's thresholds imply; the adapter hands it to
    /// `decide::liveness_check` / `decide::face_match`.
    pub fn policy(&self) -> Policy {
        Policy {
            face_match_review_threshold: self.thresholds.face_match_review,
            face_match_decline_threshold: self.thresholds.face_match_decline,
            liveness_decline_threshold: self.thresholds.liveness_decline,
            ..Policy::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDestination {
    pub id: String,
    pub url: String,
    pub secret_shared_key: String,
    /// Empty = every event, like Didit's legacy single `webhook_url` (§2.1).
    #[serde(default)]
    pub subscribed_events: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub label: Option<String>,
    /// Didit's payload version tag (`v1`, `v2`, `v3`); facegate sends one payload shape.
    #[serde(default = "v3")]
    pub webhook_version: String,
}

fn v3() -> String {
    "v3".to_owned()
}

impl WebhookDestination {
    pub fn wants(&self, webhook_type: &str) -> bool {
        self.enabled
            && (self.subscribed_events.is_empty()
                || self.subscribed_events.iter().any(|e| e == webhook_type))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSettings {
    pub session_expiry_seconds: i64,
    /// Sessions (and their templates) older than this are purged by `purge_retention`.
    pub retention_days: Option<u32>,
    /// Keep each capture's frame (sealed) for reviewers (`images` module). Off by default.
    pub retain_images: bool,
    pub environment: Environment,
    /// Origins (`https://app.example`) that may frame the hosted page and receive its
    /// `didit:*` events. Unset: any origin may, as with Didit (a drop-in default).
    pub allowed_origins: Option<Vec<String>>,
    /// The price model `GET /billing/balance/` reports this month's usage against.
    pub pricing: crate::billing::Pricing,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            session_expiry_seconds: 30 * 60,
            retention_days: None,
            retain_images: false,
            environment: Environment::Live,
            allowed_origins: None,
            pricing: Default::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub name: String,
    /// Lower-case hex SHA-256 of each valid API key; raw keys are never kept.
    pub api_key_hashes: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<WebhookDestination>,
    #[serde(default)]
    pub settings: AppSettings,
    /// The latest version of each workflow, in creation order.
    #[serde(default)]
    pub workflows: Vec<Workflow>,
    /// Superseded and deleted versions, oldest first: sessions keep the version they began
    /// with. Bounded (`workflows::HISTORY_LIMIT`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflow_history: Vec<Workflow>,
}

impl Application {
    /// The workflow a new session named: its latest version, by workflow id or by that
    /// version's uuid.
    pub fn workflow(&self, id: &str) -> Option<&Workflow> {
        self.workflows
            .iter()
            .find(|w| w.id.eq_ignore_ascii_case(id) || w.uuid().eq_ignore_ascii_case(id))
    }

    /// The workflow version `s` began with.
    pub fn workflow_of(&self, s: &Session) -> Option<&Workflow> {
        self.workflow_at(&s.workflow_id, s.workflow_version)
    }

    /// The workflow version a session began with. A version pruned from the bounded history
    /// falls back to the workflow's latest version (or, deleted, the newest one kept).
    pub fn workflow_at(&self, id: &str, version: u32) -> Option<&Workflow> {
        let same = |w: &&Workflow| w.id.eq_ignore_ascii_case(id);
        let current = self.workflows.iter().find(same);
        let old = || self.workflow_history.iter().rev().filter(same);
        current
            .filter(|w| w.version == version)
            .or_else(|| old().find(|w| w.version == version))
            .or(current)
            .or_else(|| old().next())
    }
}

/// Where the face-match reference of a session comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReferenceSource {
    None,
    /// `portrait_image` on create; the encrypted template sits in the session row.
    Portrait,
    /// The template enrolled for `vendor_data`, captured in `session_id`.
    Stored {
        session_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResubmitNode {
    pub node_id: String,
    pub feature: Option<String>,
}

/// A session's review entry as its decision shows it. Every entry is also an `AuditRow` with the
/// same id, written in the same commit (`reviews::review_writes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub id: String,
    pub action: String,
    pub old_status: SessionStatus,
    pub new_status: SessionStatus,
    pub note: Option<String>,
    pub created_at: i64,
    /// The review's author as `reviews[].reviewed_by` shows it; unset on entries written
    /// before the console existed, which were all by API keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
}

/// One row of the `sessions` table. Nested values (metadata, details, decision items,
/// reviews) are JSON columns for a SQL store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub application_id: String,
    pub number: i64,
    pub token: String,
    pub status: SessionStatus,
    pub vendor_data: Option<String>,
    pub metadata: Option<Value>,
    pub callback: Option<String>,
    pub callback_method: CallbackMethod,
    pub language: Option<String>,
    pub contact_details: Option<Value>,
    pub expected_details: Option<Value>,
    pub workflow_id: String,
    pub workflow_version: u32,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    pub liveness_checks: Vec<LivenessCheck>,
    pub face_matches: Vec<FaceMatch>,
    pub reference: ReferenceSource,
    /// Encrypted embedding of `portrait_image` (reference = Portrait). Never the image.
    pub reference_template: Option<Vec<u8>>,
    /// Encrypted embedding of a kyc capture sent to review, enrolled if a reviewer approves.
    pub pending_template: Option<Vec<u8>>,
    pub attempts: u32,
    pub resubmit_nodes: Option<Vec<ResubmitNode>>,
    pub reviews: Vec<Review>,
    /// Optimistic-concurrency counter: every update must name the version it read.
    pub version: i64,
    /// Origin of the hosted page when the session was created, so work outside a request
    /// (the cron's webhooks) still renders the absolute `session_url` the integrator got.
    #[serde(default)]
    pub public_origin: Option<String>,
    /// Challenges asked for instead of deciding a borderline passive capture (escalation).
    #[serde(default)]
    pub escalations: u32,
    /// The console operator who took this session to review ("assign to me"): others see
    /// who is on it. Never in the API's answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Assignee>,
    /// The visit the step-up rules judged (`visits` module): IP analysis and the method the
    /// capture must use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<crate::visits::Visit>,
    /// The create call's `step_up`: this session's changes to the workflow's step-up rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignee {
    pub operator_id: String,
    pub name: String,
}

/// A row of the `templates` table, keyed by (application_id, vendor_data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateRow {
    pub application_id: String,
    pub vendor_data: String,
    /// The session whose approved capture produced it (`source_image_session_id`).
    pub source_session_id: String,
    /// `cipher::seal` output over the embedding's little-endian bytes.
    pub blob: Vec<u8>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Gave up: permanent refusal or retry budget spent.
    Failed,
}

/// A row of the `webhook_deliveries` table (an outbox). The payload is stored unsigned:
/// the signature covers the send time (§2.3 `X-Timestamp`), so signing happens at send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    /// Shared by every destination's copy of one event; receivers de-dupe on it.
    pub event_id: String,
    pub application_id: String,
    pub session_id: String,
    pub destination_id: String,
    pub url: String,
    pub webhook_type: String,
    pub payload: Value,
    /// Sends made so far.
    pub attempt: u32,
    pub next_attempt_at: i64,
    pub status: DeliveryStatus,
    /// HTTP status of the last send, or `timeout`.
    pub last_response: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The latest sends, oldest first (at most `deliveries::LOGGED_ATTEMPTS`).
    #[serde(default)]
    pub attempt_log: Vec<DeliveryAttempt>,
}

/// One send of a delivery as the console's timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// 1-based within the current retry budget (a resend starts again at 1).
    pub attempt: u32,
    pub at: i64,
    /// As `last_response`: an HTTP status, `timeout`, or why it was not sent.
    pub response: String,
    /// From the request leaving to its answer (or the give-up), as the sender measured it;
    /// `None` when nothing was sent.
    pub latency_ms: Option<u32>,
}

/// Who made a change an audit row records: an API key (or the platform's operator token) or a
/// person signed in to the console.
pub const ACTOR_API_KEY: &str = "API_KEY";
pub const ACTOR_CONSOLE_USER: &str = "CONSOLE_USER";

/// The author of a change, as the audit log and the decision's `reviews` name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `ACTOR_API_KEY` or `ACTOR_CONSOLE_USER`.
    pub actor_type: String,
    pub display: String,
    pub email: Option<String>,
}

impl Actor {
    /// An application's API key, as Didit names it.
    pub fn api_key() -> Actor {
        Actor {
            actor_type: ACTOR_API_KEY.into(),
            display: API_CLIENT.into(),
            email: None,
        }
    }
}
/// How Didit names an API key as the author of a review (`POST /sessions/{id}/reviews/` answers
/// `"user": "API Client"`).
pub const API_CLIENT: &str = "API Client";

/// One immutable row of the audit log (`audit_log` table): a status change of a session (by a
/// review or `update-status`) or a user's deletion. Never updated, and kept when the session
/// it names is deleted, so the log still says what happened and who did it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: String,
    pub application_id: String,
    pub session_id: Option<String>,
    pub vendor_data: Option<String>,
    /// `STATUS_UPDATED`, `USER_DELETED`.
    pub activity_type: String,
    pub actor_type: String,
    pub actor_display: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_email: Option<String>,
    pub previous_status: Option<SessionStatus>,
    pub new_status: Option<SessionStatus>,
    pub comment: Option<String>,
    pub created_at: i64,
}
