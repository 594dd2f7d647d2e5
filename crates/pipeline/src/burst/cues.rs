//! The burst's evidence: per-frame scores aggregated, identity across frames, and the temporal
//! cues a flat picture lacks.

use serde::Serialize;

use super::motion::{affine_residual, median, ncc, pair_motion};
use super::{BurstFrame, Measured};
use crate::embed::Embedding;
use crate::liveness::LivenessScore;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BurstCues {
    /// Frames with a face that repeat no earlier frame.
    pub distinct_faces: usize,
    /// Frames that repeat an earlier one.
    pub duplicates: usize,
    /// Frames where no face was found.
    pub no_face: usize,
    /// Per-frame MiniFASNet probabilities of "live", in frame order, and their median: the
    /// median needs half the frames fooled, not one.
    pub live_probabilities: Vec<f32>,
    pub live_median: Option<f32>,
    /// Lowest cosine similarity of the other embedded frames (first, last) with the best one.
    pub same_person_min_cosine: Option<f32>,
    /// Lowest correlation of neighbouring frames' aligned face regions (reported, not decided
    /// on: a live head turning drops it as low as another person's face would), and lowest
    /// overlap of their boxes: a cut to another picture drops it.
    pub continuity_min_ncc: Option<f32>,
    pub continuity_min_iou: Option<f32>,
    /// Largest landmark motion no affine map (a flat picture moved, tilted or zoomed) explains,
    /// over every pair of frames, in eye spans.
    pub nonrigid: Option<f32>,
    /// Largest motion of the face's texture against the texture around it, from the first
    /// frame to any other, in eye spans: a picture moved as a whole carries its surroundings
    /// with it. `None` when the face leaves too little background (a close-up).
    pub relative_motion: Option<f32>,
    /// The surroundings' own motion (camera shake, a hand holding a screen), same units.
    pub background_motion: Option<f32>,
    /// The face's motion in the frame, same units.
    pub face_motion: Option<f32>,
    /// Largest change of the eye region against the first frame (1 - correlation of the
    /// aligned crops), over the largest change of the whole face region: a blink or a glance
    /// changes the eyes more than the rest.
    pub eye_change: Option<f32>,
    pub face_change: Option<f32>,
    /// The per-frame scores folded into one (see `aggregate_liveness`).
    pub aggregate: Option<LivenessScore>,
}

impl BurstCues {
    /// The burst's liveness in the single-frame shape: the median of each field over the
    /// frames MiniFASNet ran on, `tight` when most were tight.
    pub fn aggregate_liveness(&self) -> Option<LivenessScore> {
        self.aggregate
    }
}

pub(super) fn measure(
    frames: &[BurstFrame],
    measured: &[Measured],
    distinct: &[usize],
    best: Option<usize>,
    embeddings: &[(usize, Embedding)],
) -> BurstCues {
    let mut cues = BurstCues {
        distinct_faces: distinct.len(),
        duplicates: frames.iter().filter(|f| f.duplicate_of.is_some()).count(),
        no_face: frames.iter().filter(|f| f.face.is_none()).count(),
        ..BurstCues::default()
    };
    let scored: Vec<LivenessScore> = frames.iter().filter_map(|f| f.liveness).collect();
    cues.live_probabilities = scored.iter().map(|l| l.live).collect();
    if !scored.is_empty() {
        cues.live_median = Some(median(&mut cues.live_probabilities.clone()));
    }
    // Each embedded frame against the best (sharpest, near-frontal) one, not every pair: a
    // head turning left at the start and right at the end gives two profiles less alike than
    // two different people can be (0.29-0.32 on the live clip), while each is still clearly
    // the frontal face's. A frame of someone else, wherever it sits, is compared with it.
    let anchor = best
        .and_then(|b| embeddings.iter().find(|(i, _)| *i == b))
        .or(embeddings.first());
    cues.same_person_min_cosine = anchor.and_then(|(a, ea)| {
        embeddings
            .iter()
            .filter(|(i, _)| i != a)
            .map(|(_, e)| ea.cosine(e))
            .reduce(f32::min)
    });
    let face = |i: usize| frames[i].face.expect("distinct frames have a face");
    let mut ncc_min: Option<f32> = None;
    let mut iou_min: Option<f32> = None;
    for w in distinct.windows(2) {
        let (a, b) = (w[0], w[1]);
        if let (Some(pa), Some(pb)) = (&measured[a].face_patch, &measured[b].face_patch) {
            let c = ncc(pa, pb);
            ncc_min = Some(ncc_min.map_or(c, |m| m.min(c)));
        }
        let iou = face(a).iou(&face(b));
        iou_min = Some(iou_min.map_or(iou, |m| m.min(iou)));
    }
    cues.continuity_min_ncc = ncc_min;
    cues.continuity_min_iou = iou_min;
    if let Some((&first, rest)) = distinct.split_first() {
        // Every frame against the first: jitter does not add up over the burst as it would
        // along a chain of neighbours.
        let moves: Vec<_> = rest
            .iter()
            .map(|&k| {
                pair_motion(
                    &measured[first].small,
                    &face(first),
                    &measured[k].small,
                    &face(k),
                )
            })
            .collect();
        let largest = |v: Vec<Option<f32>>| v.into_iter().flatten().reduce(f32::max);
        let norm = |d: Option<[f32; 2]>| d.map(|d| d[0].hypot(d[1]));
        cues.relative_motion = largest(moves.iter().map(|m| m.relative()).collect());
        cues.face_motion = largest(moves.iter().map(|m| norm(m.face)).collect());
        cues.background_motion = largest(moves.iter().map(|m| norm(m.background)).collect());
        cues.nonrigid = distinct
            .iter()
            .enumerate()
            .flat_map(|(k, &i)| distinct[k + 1..].iter().map(move |&j| (i, j)))
            .map(|(i, j)| affine_residual(&face(i), &face(j)))
            .reduce(f32::max);
        let change = |patch: fn(&Measured) -> &Option<Vec<f32>>| {
            rest.iter()
                .filter_map(|&j| {
                    Some(
                        1.0 - ncc(
                            patch(&measured[first]).as_ref()?,
                            patch(&measured[j]).as_ref()?,
                        ),
                    )
                })
                .reduce(f32::max)
        };
        cues.eye_change = change(|m| &m.eye_patch);
        cues.face_change = change(|m| &m.face_patch);
    }
    // Only the embedded frames are known to show the same person: live frames of someone else
    // between them must not carry the median.
    let checked: Vec<LivenessScore> = embeddings
        .iter()
        .filter_map(|(i, _)| frames[*i].liveness)
        .collect();
    cues.aggregate = match (aggregate(&scored), aggregate(&checked)) {
        (Some(a), Some(b)) => Some(if b.live < a.live { b } else { a }),
        (a, b) => a.or(b),
    };
    cues
}

/// The frame whose decision score is the (lower) median: robust to a few odd frames, and a
/// real frame's figures, so its fused evidence stays consistent with its score.
fn aggregate(scored: &[LivenessScore]) -> Option<LivenessScore> {
    let mut sorted: Vec<&LivenessScore> = scored.iter().collect();
    sorted.sort_by(|a, b| a.live.total_cmp(&b.live));
    sorted.get(sorted.len().saturating_sub(1) / 2).map(|l| **l)
}
