//! facegate's face verification pipeline: decode → detect → align → embed / liveness → decide.
//!
//! Pure computation on bytes handed in by the caller: no file, network or clock access, so the
//! same code runs natively, in the edge worker and in the browser (wasm32).

pub mod align;
pub mod burst;
pub mod challenge;
pub mod config;
pub mod decide;
pub mod decode;
pub mod detect;
pub mod embed;
mod error;
pub mod error_rates;
pub mod guide;
pub mod imaging;
pub mod liveness;
mod net;
mod qgemm;
pub mod quality;
pub mod search;
pub mod search_thresholds;
pub mod spoof;

use image::RgbImage;
use serde::Serialize;

pub use config::PipelineConfig;
pub use decide::{CheckStatus, FaceMatch, LivenessCheck, Observation};
pub use detect::Face;
pub use embed::Embedding;
pub use error::PipelineError;
pub use liveness::LivenessScore;
pub use quality::Quality;

/// The four ONNX files, float32 (see models/manifest.toml). Owned, so that each file can be
/// released as soon as its model is built.
pub struct ModelBytes {
    pub yunet: Vec<u8>,
    pub sface: Vec<u8>,
    pub minifasnet_v2: Vec<u8>,
    pub minifasnet_v1se: Vec<u8>,
}

/// What to compute for the subject face beyond detection and quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub embedding: bool,
    pub liveness: bool,
}

impl Want {
    pub const ALL: Want = Want {
        embedding: true,
        liveness: true,
    };
}

/// Everything measured on one image.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub width: u32,
    pub height: u32,
    /// Every detected face, best score first.
    pub faces: Vec<Face>,
    pub subject: Option<Subject>,
}

/// The face the image is about, and what was measured on it.
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    pub face: Face,
    pub quality: Quality,
    /// Faces large enough to count as people presenting, the subject included.
    pub presenting_faces: usize,
    pub embedding: Option<Embedding>,
    pub liveness: Option<LivenessScore>,
}

impl Analysis {
    /// The decision inputs, against an optional enrolled embedding.
    pub fn observation(&self, reference: Option<&Embedding>) -> Observation {
        let subject = self.subject.as_ref();
        Observation {
            faces: subject.map_or(0, |s| s.presenting_faces),
            quality: subject.map(|s| s.quality),
            liveness: subject.and_then(|s| s.liveness),
            cosine: subject
                .and_then(|s| s.embedding.as_ref())
                .zip(reference)
                .map(|(e, r)| e.cosine(r)),
        }
    }
}

pub struct Pipeline {
    detector: detect::Detector,
    embedder: embed::Embedder,
    liveness: liveness::LivenessModel,
    /// The operator's own anti-spoofing model, when configured and loaded.
    extra: Option<liveness::ExtraModel>,
    /// The fusion in force: the configured one, else the shipped one; None when switched off.
    fusion: Option<spoof::Fusion>,
    pub config: PipelineConfig,
}

impl Pipeline {
    /// Parses and optimises all models. Slow (hundreds of ms): do it once and keep the pipeline.
    pub fn load(models: ModelBytes, config: PipelineConfig) -> Result<Self, PipelineError> {
        Pipeline::from_parts(
            detect::Detector::load(&models.yunet)?,
            embed::Embedder::load(models.sface)?,
            liveness::LivenessModel::load(models.minifasnet_v2, Some(models.minifasnet_v1se))?,
            config,
        )
    }

    /// From models loaded one at a time, so a caller short of memory (a Worker isolate) can
    /// drop each file's bytes before reading the next.
    pub fn from_parts(
        detector: detect::Detector,
        embedder: embed::Embedder,
        liveness: liveness::LivenessModel,
        config: PipelineConfig,
    ) -> Result<Self, PipelineError> {
        detector.warm_up(&config.detector)?;
        let fusion = config.fusion_in_force();
        Ok(Pipeline {
            detector,
            embedder,
            liveness,
            extra: None,
            fusion,
            config,
        })
    }

    /// Adds the operator's model described by `config.extra_liveness_model`, from its ONNX bytes.
    pub fn with_extra_model(mut self, onnx: Vec<u8>) -> Result<Self, PipelineError> {
        let spec = self.config.extra_liveness_model.clone().ok_or_else(|| {
            PipelineError::model("extra_liveness_model", "not described in the configuration")
        })?;
        self.extra = Some(liveness::ExtraModel::load(&spec, onnx)?);
        Ok(self)
    }

    pub fn fusion(&self) -> Option<&spoof::Fusion> {
        self.fusion.as_ref()
    }

    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, PipelineError> {
        decode::decode_image(bytes, &self.config.decode)
    }

    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>, PipelineError> {
        self.detector.detect(image, &self.config.detector)
    }

    pub fn align(&self, image: &RgbImage, face: &Face) -> RgbImage {
        align::align_face(image, &face.landmarks)
    }

    pub fn embed(&self, aligned: &RgbImage) -> Result<Embedding, PipelineError> {
        self.embedder.embed(aligned, self.config.flip_embeddings)
    }

    /// MiniFASNet, the operator's model if any, and with fusion on the artefact features and
    /// the fused score, which then becomes `live`.
    pub fn liveness(&self, image: &RgbImage, face: &Face) -> Result<LivenessScore, PipelineError> {
        let raw = self.raw_liveness(image, face, self.fusion.is_some())?;
        Ok(self.fuse(raw))
    }

    /// Every liveness signal, unfused: what evaluation caches and calibration fits on.
    pub fn raw_liveness(
        &self,
        image: &RgbImage,
        face: &Face,
        features: bool,
    ) -> Result<LivenessScore, PipelineError> {
        let config = &self.config.liveness;
        let mut score = self.liveness.score(image, face, config)?;
        if let Some(extra) = &self.extra {
            score.extra = Some(extra.live_probability(image, face, config)?);
        }
        if features {
            score.features = Some(spoof::measure(image, face));
        }
        Ok(score)
    }

    /// Applies the fusion in force (if any) to raw signals.
    pub fn fuse(&self, mut score: LivenessScore) -> LivenessScore {
        if let (Some(fusion), Some(_)) = (&self.fusion, score.features) {
            let weight = self.extra.as_ref().map_or(0.0, |e| e.spec().fusion_weight);
            let margin = fusion.margin(&score, weight);
            score.fused = Some(margin);
            score.live = spoof::fusion::sigmoid(margin);
        }
        score
    }

    /// Runs every stage on encoded image bytes.
    pub fn analyze(&self, bytes: &[u8], want: Want) -> Result<Analysis, PipelineError> {
        let image = self.decode(bytes)?;
        self.analyze_image(&image, want)
    }

    pub fn analyze_image(&self, image: &RgbImage, want: Want) -> Result<Analysis, PipelineError> {
        let faces = self.detect(image)?;
        let subject = match select_subject(&faces, image.width(), image.height()) {
            None => None,
            Some(face) => {
                let aligned = self.align(image, &face);
                let min_side = face.width.min(face.height) * self.config.other_face_min_ratio;
                Some(Subject {
                    face,
                    quality: Quality::measure(&face, &aligned),
                    presenting_faces: faces
                        .iter()
                        .filter(|f| f.width.min(f.height) >= min_side)
                        .count(),
                    embedding: want.embedding.then(|| self.embed(&aligned)).transpose()?,
                    liveness: want
                        .liveness
                        .then(|| self.liveness(image, &face))
                        .transpose()?,
                })
            }
        };
        Ok(Analysis {
            width: image.width(),
            height: image.height(),
            faces,
            subject,
        })
    }

    /// Detection, pose and skin colour of one challenge frame: no embedding, no passive
    /// liveness, so a dozen frames cost about a dozen detections.
    pub fn observe_frame(
        &self,
        image: &RgbImage,
        step: usize,
    ) -> Result<challenge::FrameObservation, PipelineError> {
        let faces = self.detect(image)?;
        let subject = select_subject(&faces, image.width(), image.height());
        let quality = subject.map(|f| Quality::measure(&f, &self.align(image, &f)));
        Ok(challenge::observe(
            image,
            subject.as_ref().zip(quality.as_ref()),
            step,
        ))
    }

    /// The contract's liveness item for an analysed selfie.
    pub fn liveness_check(&self, node_id: &str, analysis: &Analysis) -> LivenessCheck {
        let c = &self.config;
        let mut check = decide::liveness_check(
            node_id,
            &analysis.observation(None),
            &c.calibration,
            &c.policy,
            &c.quality,
        );
        check.evidence = analysis
            .subject
            .as_ref()
            .and_then(|s| s.liveness.as_ref())
            .map(|l| decide::LivenessEvidence::from_score(l, self.fusion.as_ref()));
        check
    }

    /// The contract's face-match item for an analysed selfie against an enrolled embedding.
    pub fn face_match(
        &self,
        node_id: &str,
        analysis: &Analysis,
        reference: Option<&Embedding>,
    ) -> FaceMatch {
        let c = &self.config;
        decide::face_match(
            node_id,
            &analysis.observation(reference),
            reference.is_some(),
            &c.calibration,
            &c.policy,
        )
    }
}

/// The face the picture is of: large and near the centre. A big face at the edge (someone
/// leaning in) loses to the centred subject only if it is not much larger.
pub fn select_subject(faces: &[Face], width: u32, height: u32) -> Option<Face> {
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let half_diag = (cx * cx + cy * cy).sqrt().max(1.0);
    faces
        .iter()
        .map(|f| {
            let (fx, fy) = f.centre();
            let off_centre = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt() / half_diag;
            (f.area() * (1.0 - 0.5 * off_centre.min(1.0)), f)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, f)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, size: f32) -> Face {
        Face {
            x,
            y,
            width: size,
            height: size,
            landmarks: [[0.0; 2]; 5],
            score: 0.9,
        }
    }

    #[test]
    fn subject_is_the_large_central_face() {
        let centred = face(100.0, 100.0, 100.0);
        let corner_small = face(0.0, 0.0, 60.0);
        let corner_large = face(0.0, 0.0, 150.0);
        assert_eq!(
            select_subject(&[corner_small, centred], 300, 300),
            Some(centred)
        );
        assert_eq!(
            select_subject(&[centred, corner_large], 300, 300),
            Some(corner_large)
        );
        assert_eq!(select_subject(&[], 300, 300), None);
    }
}
