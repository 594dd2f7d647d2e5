//! 1:N face checks over one application's faces: its enrolled templates and its face list
//! entries, in one compact index (`facegate_pipeline::search::FaceIndex`, int8 codes) with the
//! exact templates beside it for re-ranking, so every decision compares exact cosines.
//!
//! The thresholds are the 1:N ones (`search_thresholds.json`), by the size of the gallery
//! searched: the blocklist check meets only blocklisted faces, the duplicate check only
//! enrolled ones, each at its own FPIR operating point (1 % for a match, 10 % for a possible
//! match). A gallery is rebuilt when `FaceStamp` moves (any list write, any enrolment or
//! deletion); the worker keeps one per application and isolate.

use facegate_pipeline::decide::Warning;
use facegate_pipeline::search::FaceIndex;
use facegate_pipeline::search_thresholds::{SearchThresholds, Thresholds};
use facegate_pipeline::{CheckStatus, Embedding, LivenessCheck};
use serde_json::json;

use super::api::all_lists;
use super::{EntryType, ListType};
use crate::cipher::{open_embedding, template_aad, TemplateCipher};
use crate::error::ApiError;
use crate::service::Service;
use crate::store::{Clock, Ids, Store, StoreError};
use crate::types::Application;

pub const RISK_FACE_IN_BLOCKLIST: &str = "FACE_IN_BLOCKLIST";
pub const RISK_POSSIBLE_FACE_IN_BLOCKLIST: &str = "POSSIBLE_FACE_IN_BLOCKLIST";
pub const RISK_DUPLICATED_FACE: &str = "DUPLICATED_FACE";
pub const RISK_POSSIBLE_DUPLICATED_FACE: &str = "POSSIBLE_DUPLICATED_FACE";

/// What the gallery of an application was built from: when this changes, rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaceStamp {
    pub lists_version: i64,
    pub templates: u64,
    pub newest_template: i64,
}

/// Whose face an index slot holds.
#[derive(Debug, Clone, PartialEq)]
pub enum FaceOwner {
    /// An enrolled template of `vendor_data`, from that session.
    Enrolled {
        vendor_data: String,
        session_id: String,
        created_at: i64,
    },
    /// A face list entry.
    Entry {
        list_uuid: String,
        list_type: ListType,
        entry_uuid: String,
        reference_session_id: Option<String>,
        vendor_data: Option<String>,
        created_at: i64,
    },
}

impl FaceOwner {
    pub fn is_blocklisted(&self) -> bool {
        matches!(
            self,
            FaceOwner::Entry {
                list_type: ListType::Blocklist,
                ..
            }
        )
    }
    pub fn is_allowlisted(&self) -> bool {
        matches!(
            self,
            FaceOwner::Entry {
                list_type: ListType::Allowlist,
                ..
            }
        )
    }
    pub fn vendor_data(&self) -> Option<&str> {
        match self {
            FaceOwner::Enrolled { vendor_data, .. } => Some(vendor_data),
            FaceOwner::Entry { vendor_data, .. } => vendor_data.as_deref(),
        }
    }
    /// The session the face came from, if any.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            FaceOwner::Enrolled { session_id, .. } => Some(session_id),
            FaceOwner::Entry {
                reference_session_id,
                ..
            } => reference_session_id.as_deref(),
        }
    }
}

/// One face found, with its exact cosine and the level it reached.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceHit {
    pub owner: FaceOwner,
    pub cosine: f32,
    /// Above the match threshold (else above the possible-match one).
    pub is_match: bool,
}

/// An application's searchable faces. Ids in the index are slot numbers into `owners`.
#[derive(Debug, Default)]
pub struct FaceGallery {
    pub stamp: FaceStamp,
    index: FaceIndex,
    owners: Vec<FaceOwner>,
    exact: Vec<Embedding>,
    blocklisted: usize,
    enrolled: usize,
}

/// At most this many faces come back from one search.
const MAX_HITS: usize = 10;

impl FaceGallery {
    pub fn new(stamp: FaceStamp) -> FaceGallery {
        FaceGallery {
            stamp,
            ..FaceGallery::default()
        }
    }

    pub fn add(&mut self, owner: FaceOwner, face: Embedding) {
        let slot = self.owners.len();
        if self.index.insert(&slot.to_string(), &face).is_err() {
            return;
        }
        if owner.is_blocklisted() {
            self.blocklisted += 1;
        }
        if matches!(owner, FaceOwner::Enrolled { .. }) {
            self.enrolled += 1;
        }
        self.owners.push(owner);
        self.exact.push(face);
    }

    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// Gives back the spare capacity of a gallery that is built (kept for a while per isolate).
    pub fn shrink(&mut self) {
        self.owners.shrink_to_fit();
        self.exact.shrink_to_fit();
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// Heap bytes: the index plus the exact templates and owners (estimated).
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
            + self.exact.capacity() * (std::mem::size_of::<Embedding>() + 128 * 4)
            + self.owners.capacity() * (std::mem::size_of::<FaceOwner>() + 2 * 40)
    }

    /// The faces among those `keep` admits that resemble `query` above the thresholds for a
    /// gallery of `gallery_size` faces, best first.
    fn search_where(
        &self,
        query: &Embedding,
        gallery_size: usize,
        keep: impl Fn(&FaceOwner) -> bool,
    ) -> Vec<FaceHit> {
        if gallery_size == 0 {
            return Vec::new();
        }
        let t: Thresholds = SearchThresholds::shipped().for_gallery(gallery_size);
        // Ask for more than needed: faces `keep` refuses share the index.
        let k = self.len().min(MAX_HITS * 8).max(1);
        let hits = self
            .index
            .search_exact(query, k, t.possible_cosine, |id| {
                id.parse::<usize>()
                    .ok()
                    .and_then(|i| self.exact.get(i).cloned())
            })
            .unwrap_or_default();
        hits.into_iter()
            .filter_map(|h| {
                let owner = self.owners.get(h.id.parse::<usize>().ok()?)?;
                (keep(owner) && h.cosine > t.possible_cosine).then(|| FaceHit {
                    owner: owner.clone(),
                    cosine: h.cosine,
                    is_match: h.cosine > t.match_cosine,
                })
            })
            .take(MAX_HITS)
            .collect()
    }

    /// Blocklisted faces like `query` (thresholds for the blocklist's size).
    pub fn blocklisted(&self, query: &Embedding) -> Vec<FaceHit> {
        self.search_where(query, self.blocklisted, FaceOwner::is_blocklisted)
    }

    /// Enrolled faces of other users like `query` (thresholds for the enrolled count).
    pub fn duplicates(&self, query: &Embedding, vendor_data: Option<&str>) -> Vec<FaceHit> {
        self.search_where(query, self.enrolled, |o| {
            matches!(o, FaceOwner::Enrolled { .. }) && o.vendor_data() != vendor_data
        })
    }

    /// Every face like `query` (the standalone face search), thresholds for the whole gallery;
    /// as Didit's, the faces of `vendor_data` itself are left out.
    pub fn everything(&self, query: &Embedding, vendor_data: Option<&str>) -> Vec<FaceHit> {
        self.search_where(query, self.len(), |o| {
            vendor_data.is_none() || o.vendor_data() != vendor_data
        })
    }
}

/// A hit as Didit's `matches[]` item (liveness item and face search): the session it came
/// from, its similarity, whose it is and whether it is listed.
pub fn match_json(h: &FaceHit, score: f64) -> serde_json::Value {
    let (source, created_at, entry) = match &h.owner {
        FaceOwner::Enrolled { created_at, .. } => ("session", *created_at, None),
        FaceOwner::Entry {
            created_at,
            entry_uuid,
            ..
        } => ("list_entry", *created_at, Some(entry_uuid.clone())),
    };
    json!({
        "session_id": h.owner.session_id(),
        "similarity_percentage": (score * 100.0).round() / 100.0,
        "source": source,
        "vendor_data": h.owner.vendor_data(),
        "verification_date": crate::time::iso8601(created_at),
        "is_blocklisted": h.owner.is_blocklisted(),
        "is_allowlisted": h.owner.is_allowlisted(),
        "list_entry_uuid": entry,
    })
}

/// A 1:N warning that ends the session at once, whatever captures are left: the face is in
/// the blocklist, or is another user's and the workflow declines duplicates.
pub fn declines_for_good(w: &Warning) -> bool {
    w.risk == RISK_FACE_IN_BLOCKLIST || (w.risk == RISK_DUPLICATED_FACE && w.log_type == "error")
}

/// The worse of two statuses, as a session's checks are ranked.
fn worse(a: CheckStatus, b: CheckStatus) -> CheckStatus {
    let rank = |s: CheckStatus| match s {
        CheckStatus::Declined => 3,
        CheckStatus::InReview => 2,
        CheckStatus::NotFinished => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Didit's `log_type` of a configurable risk follows its effect: decline → error, review →
/// warning, no action → information.
fn warning(
    node: &str,
    risk: &str,
    data: serde_json::Value,
    status: CheckStatus,
    short: &str,
    long: &str,
) -> Warning {
    Warning {
        feature: "LIVENESS".into(),
        risk: risk.into(),
        additional_data: Some(data),
        log_type: match status {
            CheckStatus::Declined => "error",
            CheckStatus::InReview => "warning",
            _ => "information",
        }
        .into(),
        short_description: short.into(),
        long_description: long.into(),
        node_id: node.into(),
    }
}

/// Folds a capture's 1:N results into its liveness item (Didit: the face checks belong to
/// LIVENESS). A blocklisted face declines (`FACE_IN_BLOCKLIST`); a possible one sends to review
/// (`POSSIBLE_FACE_IN_BLOCKLIST`). Another user's enrolled face (when the workflow checks for
/// duplicates) takes the workflow's effect for a match (`DUPLICATED_FACE`) and review for a
/// possible one (`POSSIBLE_DUPLICATED_FACE`). Never makes a check better than it was.
pub fn apply_face_checks(
    check: &mut LivenessCheck,
    blocklisted: &[FaceHit],
    duplicates: &[FaceHit],
    on_duplicate: CheckStatus,
    score: impl Fn(f32) -> f64,
) {
    let node = check.node_id.clone();
    for h in blocklisted.iter().chain(duplicates) {
        check.matches.push(match_json(h, score(h.cosine)));
    }
    if let Some(best) = blocklisted.first() {
        let (risk, status) = if best.is_match {
            (RISK_FACE_IN_BLOCKLIST, CheckStatus::Declined)
        } else {
            (RISK_POSSIBLE_FACE_IN_BLOCKLIST, CheckStatus::InReview)
        };
        check.status = worse(check.status, status);
        let entry = match &best.owner {
            FaceOwner::Entry {
                entry_uuid,
                list_uuid,
                ..
            } => (Some(entry_uuid.clone()), Some(list_uuid.clone())),
            FaceOwner::Enrolled { .. } => (None, None),
        };
        check.warnings.push(warning(
            &node,
            risk,
            json!({
                "blocklisted_session_id": best.owner.session_id(),
                "blocklist_entry_uuid": entry.0,
                "list_uuid": entry.1,
                "similarity_percentage": score(best.cosine),
            }),
            status,
            if best.is_match {
                "Face in blocklist"
            } else {
                "Possible face in blocklist"
            },
            "The face resembles a face in the application's face blocklist.",
        ));
    }
    if let Some(best) = duplicates.first() {
        let (risk, status) = if best.is_match {
            (RISK_DUPLICATED_FACE, on_duplicate)
        } else {
            // A possible duplicate goes to review, unless the workflow approves duplicates.
            let possible = if on_duplicate == CheckStatus::Approved {
                CheckStatus::Approved
            } else {
                CheckStatus::InReview
            };
            (RISK_POSSIBLE_DUPLICATED_FACE, possible)
        };
        check.status = worse(check.status, status);
        check.warnings.push(warning(
            &node,
            risk,
            json!({
                "duplicated_session_id": best.owner.session_id(),
                "duplicated_vendor_data": best.owner.vendor_data(),
                "similarity_percentage": score(best.cosine),
            }),
            status,
            if best.is_match {
                "Duplicated face"
            } else {
                "Possible duplicated face"
            },
            "The face resembles the enrolled face of another user of this application.",
        ));
    }
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    pub async fn face_stamp(&self, app: &Application) -> Result<FaceStamp, StoreError> {
        self.store.face_stamp(&app.id).await
    }

    /// The application's gallery: every enrolled template and every face list entry, opened.
    /// A blob that fails to open is left out (and logged by the caller's metrics, not here).
    pub async fn build_face_gallery(&self, app: &Application) -> Result<FaceGallery, ApiError> {
        let stamp = self.store.face_stamp(&app.id).await?;
        let mut g = FaceGallery::new(stamp);
        for t in self.store.templates_of(&app.id).await? {
            if let Ok(face) = open_embedding(
                &self.cipher,
                &t.blob,
                &template_aad(&app.id, &t.vendor_data),
            ) {
                g.add(
                    FaceOwner::Enrolled {
                        vendor_data: t.vendor_data,
                        session_id: t.source_session_id,
                        created_at: t.created_at,
                    },
                    face,
                );
            }
        }
        let lists = all_lists(&self.store, &app.id).await?;
        for e in self.store.entries_of_type(&app.id, EntryType::Face).await? {
            let Some(list) = lists.iter().find(|l| l.uuid == e.list_uuid) else {
                continue;
            };
            if let Some(face) = self.entry_face(&e) {
                g.add(
                    FaceOwner::Entry {
                        list_uuid: e.list_uuid.clone(),
                        list_type: list.list_type,
                        entry_uuid: e.uuid.clone(),
                        reference_session_id: e.reference_session_id.clone(),
                        vendor_data: e.vendor_data.clone(),
                        created_at: e.created_at,
                    },
                    face,
                );
            }
        }
        g.shrink();
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::block_on;
    use crate::tests::{app, approve_capture, create, emb, ok_body, svc, KYC};
    use facegate_pipeline::CheckStatus;
    use serde_json::json;

    fn live() -> LivenessCheck {
        LivenessCheck {
            node_id: "feature_liveness".into(),
            status: CheckStatus::Approved,
            method: "PASSIVE".into(),
            score: 90.0,
            reference_image: None,
            video_url: None,
            age_estimation: None,
            matches: Vec::new(),
            face_quality: None,
            face_luminance: None,
            warnings: Vec::new(),
            evidence: None,
        }
    }

    #[test]
    fn blocklisted_faces_decline_and_other_users_faces_are_duplicates() {
        let (s, a) = (svc(), app());
        // "alice" enrols emb(1) (approve_capture's face).
        let (_, b) = ok_body(create(
            &s,
            &a,
            json!({"workflow_id": KYC, "vendor_data": "alice"}),
        ));
        approve_capture(&s, &a, b["session_id"].as_str().expect("id"));
        let faces = super::super::system_blocklist(&a.id, EntryType::Face).uuid;
        let body = json!({"image": "aGVsbG8="}).to_string();
        ok_body(block_on(s.upload_face_entry(
            &a,
            &faces,
            body.as_bytes(),
            |_| Ok(Some(emb(7))),
        )));
        let g = block_on(s.build_face_gallery(&a)).expect("gallery");
        assert_eq!(g.len(), 2);
        assert_eq!(g.stamp, block_on(s.face_stamp(&a)).expect("stamp"));

        let hits = g.blocklisted(&emb(7));
        assert_eq!(hits.len(), 1);
        assert!(hits[0].is_match && hits[0].owner.is_blocklisted());
        assert!(g.blocklisted(&emb(1)).is_empty());
        // alice's own face is no duplicate of alice; it is one of anyone else.
        assert!(g.duplicates(&emb(1), Some("alice")).is_empty());
        let d = g.duplicates(&emb(1), Some("bob"));
        assert_eq!(d[0].owner.vendor_data(), Some("alice"));
        assert_eq!(g.everything(&emb(1), None).len(), 1);
        assert!(g.everything(&emb(1), Some("alice")).is_empty());

        let mut check = live();
        apply_face_checks(
            &mut check,
            &g.blocklisted(&emb(7)),
            &[],
            CheckStatus::Declined,
            |c| f64::from(c) * 100.0,
        );
        assert_eq!(check.status, CheckStatus::Declined);
        assert_eq!(check.warnings[0].risk, RISK_FACE_IN_BLOCKLIST);
        assert_eq!(check.warnings[0].log_type, "error");
        let mut check = live();
        apply_face_checks(&mut check, &[], &d, CheckStatus::InReview, |c| {
            f64::from(c) * 100.0
        });
        assert_eq!(check.status, CheckStatus::InReview);
        assert_eq!(check.warnings[0].risk, RISK_DUPLICATED_FACE);
        assert_eq!(
            check.warnings[0].additional_data.as_ref().expect("d")["duplicated_vendor_data"],
            "alice"
        );
        // Nothing found: nothing changes.
        let mut check = live();
        apply_face_checks(&mut check, &[], &[], CheckStatus::Declined, |_| 0.0);
        assert_eq!(
            (check.status, check.warnings.len()),
            (CheckStatus::Approved, 0)
        );

        // A list write moves the stamp.
        let before = block_on(s.face_stamp(&a)).expect("stamp");
        ok_body(block_on(s.upload_face_entry(
            &a,
            &faces,
            body.as_bytes(),
            |_| Ok(Some(emb(9))),
        )));
        assert_ne!(before, block_on(s.face_stamp(&a)).expect("stamp"));
    }

    #[test]
    fn a_blocklisted_face_ends_the_session_with_captures_left() {
        let (s, a) = (svc(), app());
        let b = crate::tests::bio_session(&s, &a, "mallory");
        let id = b["session_id"].as_str().expect("id").to_owned();
        let ctx =
            block_on(s.begin_capture(std::slice::from_ref(&a), &crate::tests::token_of(&s, &id), None))
                .expect("begin");
        let mut out = crate::tests::outcome(
            CheckStatus::Approved,
            Some(CheckStatus::Approved),
            Some(emb(1)),
        );
        let hit = FaceHit {
            owner: FaceOwner::Entry {
                list_uuid: "l".into(),
                list_type: ListType::Blocklist,
                entry_uuid: "e".into(),
                reference_session_id: None,
                vendor_data: None,
                created_at: 0,
            },
            cosine: 0.9,
            is_match: true,
        };
        apply_face_checks(
            &mut out.liveness,
            &[hit],
            &[],
            CheckStatus::Declined,
            |_| 99.0,
        );
        let r = block_on(s.finish_capture(ctx, out)).expect("finish");
        assert!(!r.retry);
        assert_eq!(r.session.status, crate::types::SessionStatus::Declined);
        assert_eq!(
            r.session.liveness_checks[0].warnings[0].risk,
            RISK_FACE_IN_BLOCKLIST
        );
    }

    #[test]
    fn a_gallery_of_ten_thousand_faces_is_small_and_fast() {
        let mut g = FaceGallery::new(FaceStamp::default());
        let face = |i: usize| {
            Embedding::from_raw(
                (0..128)
                    .map(|d| {
                        ((d * 31 + i * 17) as f32 * 0.7311).sin()
                            + ((i * (d + 3)) as f32 * 0.013).cos()
                    })
                    .collect(),
            )
            .expect("face")
        };
        for i in 0..10_000 {
            g.add(
                FaceOwner::Enrolled {
                    vendor_data: format!("user-{i}"),
                    session_id: format!("{i:08}-0000-4000-8000-000000000000"),
                    created_at: 0,
                },
                face(i),
            );
        }
        g.shrink();
        let bytes = g.memory_bytes();
        let started = std::time::Instant::now();
        let hits = g.duplicates(&face(4242), None);
        let took = started.elapsed();
        eprintln!(
            "gallery of 10k faces: {:.1} MB, one duplicate search {took:?}",
            bytes as f64 / 1e6
        );
        assert!(bytes < 16_000_000, "{bytes}");
        assert_eq!(hits[0].owner.vendor_data(), Some("user-4242"));
    }
}
