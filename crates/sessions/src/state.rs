//! The session state machine, as one pure function. The service persists what it returns
//! with an optimistic version check, so two writers racing from one state cannot both win.

use facegate_pipeline::CheckStatus;

use crate::error::ApiError;
use crate::types::{ResubmitNode, Session, SessionStatus as S};
use crate::validate::ManualStatus;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The user opened the capture with the session token.
    Start,
    /// A capture was analysed; `verdict` is `decide::verdict` of its items.
    Captured {
        verdict: CheckStatus,
        max_attempts: u32,
    },
    /// A borderline passive capture was not decided: a challenge was asked for instead. Not
    /// an attempt.
    Escalated,
    /// The step-up rules decided the visit without a capture (`visits`): approved (a known
    /// device and address, where the workflow allows) or declined (blocklisted, a country not
    /// allowed). Not an attempt.
    StepUp { approve: bool },
    /// The sweeper (or a read) found the session past `expires_at`.
    Expire,
    /// `PATCH update-status`. `expires_at` is the fresh deadline a resubmission gets.
    Manual {
        to: ManualStatus,
        nodes: Vec<ResubmitNode>,
        expires_at: i64,
    },
}

pub const MSG_DECIDED: &str = "This session has already been completed.";
pub const MSG_EXPIRED: &str = "This session has expired.";

/// Statuses from which a reviewer may set a status (§1.8).
pub fn manual_allowed_from(s: S) -> bool {
    matches!(
        s,
        S::Approved | S::Declined | S::InReview | S::KycExpired | S::Abandoned | S::Resubmitted
    )
}

/// The status a session past its deadline falls into: never started → Expired; started
/// (or sent back for resubmission) but unfinished → Abandoned.
pub fn expiry_status(s: S) -> Option<S> {
    match s {
        S::NotStarted => Some(S::Expired),
        S::InProgress | S::Resubmitted | S::AwaitingUser => Some(S::Abandoned),
        _ => None,
    }
}

/// Applies `event` at `now`. A no-op returns the session unchanged (same `version`), which
/// tells the caller there is nothing to write; a change bumps `version` and `updated_at`.
pub fn transition(session: &Session, event: &Event, now: i64) -> Result<Session, ApiError> {
    let mut next = session.clone();
    let past_deadline = now >= session.expires_at;
    match event {
        Event::Start => match session.status {
            S::NotStarted | S::Resubmitted | S::AwaitingUser | S::InProgress if past_deadline => {
                return Err(ApiError::Gone(MSG_EXPIRED.into()))
            }
            S::InProgress => return Ok(next),
            S::NotStarted | S::Resubmitted | S::AwaitingUser => next.status = S::InProgress,
            S::Expired | S::Abandoned => return Err(ApiError::Gone(MSG_EXPIRED.into())),
            S::Approved | S::Declined | S::InReview | S::KycExpired => {
                return Err(ApiError::Conflict(MSG_DECIDED.into()))
            }
        },
        Event::Captured {
            verdict,
            max_attempts,
        } => {
            if session.status != S::InProgress {
                return Err(match session.status {
                    S::Expired | S::Abandoned => ApiError::Gone(MSG_EXPIRED.into()),
                    _ => ApiError::Conflict(MSG_DECIDED.into()),
                });
            }
            next.attempts = session.attempts.saturating_add(1);
            next.status = match verdict {
                CheckStatus::Approved => S::Approved,
                CheckStatus::InReview | CheckStatus::NotFinished => S::InReview,
                // A decline with captures left keeps the session open for a recapture,
                // as Didit's face_match_max_attempts does.
                CheckStatus::Declined if next.attempts < *max_attempts => S::InProgress,
                CheckStatus::Declined => S::Declined,
            };
        }
        Event::StepUp { approve } => match session.status {
            _ if past_deadline => return Err(ApiError::Gone(MSG_EXPIRED.into())),
            S::NotStarted | S::InProgress | S::Resubmitted | S::AwaitingUser => {
                next.status = if *approve { S::Approved } else { S::Declined };
                next.resubmit_nodes = None;
            }
            S::Expired | S::Abandoned => return Err(ApiError::Gone(MSG_EXPIRED.into())),
            S::Approved | S::Declined | S::InReview | S::KycExpired => {
                return Err(ApiError::Conflict(MSG_DECIDED.into()))
            }
        },
        Event::Escalated => {
            if session.status != S::InProgress {
                return Err(ApiError::Conflict(MSG_DECIDED.into()));
            }
            next.escalations = session.escalations.saturating_add(1);
        }
        Event::Expire => match (past_deadline, expiry_status(session.status)) {
            (true, Some(to)) => next.status = to,
            _ => {
                return Err(ApiError::Conflict(
                    "The session is not past its deadline or already finished.".into(),
                ))
            }
        },
        Event::Manual {
            to,
            nodes,
            expires_at,
        } => {
            if !manual_allowed_from(session.status) {
                return Err(ApiError::BadRequest(format!(
                    "Cannot update the status of a session in status \"{}\".",
                    session.status.as_str()
                )));
            }
            match to {
                ManualStatus::Approved | ManualStatus::Declined | ManualStatus::InReview
                    if to.status() == session.status =>
                {
                    return Ok(next)
                }
                ManualStatus::Approved | ManualStatus::Declined | ManualStatus::InReview => {
                    next.status = to.status();
                    next.resubmit_nodes = None;
                }
                ManualStatus::Resubmitted => {
                    next.status = S::Resubmitted;
                    next.attempts = 0;
                    next.escalations = 0;
                    next.expires_at = *expires_at;
                    next.resubmit_nodes = Some(nodes.clone());
                }
            }
        }
    }
    next.updated_at = now;
    next.version = session.version + 1;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{CallbackMethod, ReferenceSource};

    fn session(status: S) -> Session {
        Session {
            id: "s".into(),
            application_id: "a".into(),
            number: 1,
            token: "t".into(),
            status,
            vendor_data: None,
            metadata: None,
            callback: None,
            callback_method: CallbackMethod::Initiator,
            language: None,
            contact_details: None,
            expected_details: None,
            workflow_id: "w".into(),
            workflow_version: 1,
            created_at: 0,
            updated_at: 0,
            expires_at: 1000,
            liveness_checks: vec![],
            face_matches: vec![],
            reference: ReferenceSource::None,
            reference_template: None,
            pending_template: None,
            attempts: 0,
            resubmit_nodes: None,
            reviews: vec![],
            version: 5,
            public_origin: None,
            escalations: 0,
            assignee: None,
            visit: None,
            step_up: None,
        }
    }

    /// Outcome code per (status, event): the resulting status, "=" for a no-op, or the
    /// HTTP status of the refusal.
    fn outcome(status: S, ev: &Event, now: i64) -> String {
        match transition(&session(status), ev, now) {
            Ok(n) if n.version == 5 => "=".into(),
            Ok(n) => {
                assert_eq!(n.version, 6);
                assert_eq!(n.updated_at, now);
                n.status.as_str().into()
            }
            Err(e) => e.status().to_string(),
        }
    }

    fn manual(to: ManualStatus) -> Event {
        Event::Manual {
            to,
            nodes: vec![],
            expires_at: 5000,
        }
    }

    #[test]
    fn full_transition_table() {
        let cap = |v| Event::Captured {
            verdict: v,
            max_attempts: 1,
        };
        let events: Vec<(&str, Event, i64)> = vec![
            ("start", Event::Start, 10),
            ("start-late", Event::Start, 1000),
            ("approve", cap(CheckStatus::Approved), 10),
            ("review", cap(CheckStatus::InReview), 10),
            ("decline", cap(CheckStatus::Declined), 10),
            ("expire-early", Event::Expire, 999),
            ("expire", Event::Expire, 1000),
            ("m-approve", manual(ManualStatus::Approved), 10),
            ("m-decline", manual(ManualStatus::Declined), 10),
            ("m-resubmit", manual(ManualStatus::Resubmitted), 10),
        ];
        // Columns follow `events`.
        let table: [(S, [&str; 10]); 10] = [
            (
                S::NotStarted,
                [
                    "In Progress",
                    "410",
                    "409",
                    "409",
                    "409",
                    "409",
                    "Expired",
                    "400",
                    "400",
                    "400",
                ],
            ),
            (
                S::InProgress,
                [
                    "=",
                    "410",
                    "Approved",
                    "In Review",
                    "Declined",
                    "409",
                    "Abandoned",
                    "400",
                    "400",
                    "400",
                ],
            ),
            (
                S::InReview,
                [
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "Approved",
                    "Declined",
                    "Resubmitted",
                ],
            ),
            (
                S::Approved,
                [
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "=",
                    "Declined",
                    "Resubmitted",
                ],
            ),
            (
                S::Declined,
                [
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "Approved",
                    "=",
                    "Resubmitted",
                ],
            ),
            (
                S::Expired,
                [
                    "410", "410", "410", "410", "410", "409", "409", "400", "400", "400",
                ],
            ),
            (
                S::Abandoned,
                [
                    "410",
                    "410",
                    "410",
                    "410",
                    "410",
                    "409",
                    "409",
                    "Approved",
                    "Declined",
                    "Resubmitted",
                ],
            ),
            (
                S::KycExpired,
                [
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "409",
                    "Approved",
                    "Declined",
                    "Resubmitted",
                ],
            ),
            (
                S::Resubmitted,
                [
                    "In Progress",
                    "410",
                    "409",
                    "409",
                    "409",
                    "409",
                    "Abandoned",
                    "Approved",
                    "Declined",
                    "Resubmitted",
                ],
            ),
            (
                S::AwaitingUser,
                [
                    "In Progress",
                    "410",
                    "409",
                    "409",
                    "409",
                    "409",
                    "Abandoned",
                    "400",
                    "400",
                    "400",
                ],
            ),
        ];
        for (status, row) in table {
            for ((name, ev, now), want) in events.iter().zip(row) {
                assert_eq!(
                    outcome(status, ev, *now),
                    want,
                    "{} + {name}",
                    status.as_str()
                );
            }
        }
    }

    #[test]
    fn declines_leave_room_for_recaptures_until_the_budget_is_spent() {
        let ev = Event::Captured {
            verdict: CheckStatus::Declined,
            max_attempts: 3,
        };
        let mut s = session(S::InProgress);
        for want in [S::InProgress, S::InProgress, S::Declined] {
            s = transition(&s, &ev, 10).expect("allowed");
            assert_eq!(s.status, want);
        }
        assert_eq!(s.attempts, 3);
    }

    #[test]
    fn resubmission_resets_attempts_and_deadline() {
        let mut s = session(S::Declined);
        s.attempts = 3;
        let n = transition(
            &s,
            &Event::Manual {
                to: ManualStatus::Resubmitted,
                nodes: vec![ResubmitNode {
                    node_id: "feature_liveness".into(),
                    feature: Some("LIVENESS".into()),
                }],
                expires_at: 7777,
            },
            10,
        )
        .expect("allowed");
        assert_eq!(
            (n.status, n.attempts, n.expires_at),
            (S::Resubmitted, 0, 7777)
        );
        assert_eq!(n.resubmit_nodes.as_ref().map(Vec::len), Some(1));
    }
}
