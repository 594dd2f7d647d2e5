//! SFace embeddings of aligned faces, and their comparison.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::align::ALIGNED_SIDE;
use crate::imaging::{planar_f32, ChannelOrder};
use crate::net::{self, Net};
use crate::qgemm::Int8Gemm;
use crate::PipelineError;

pub const EMBEDDING_DIM: usize = 128;

/// A unit-length face embedding. This is the only thing of a face that facegate keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding(pub Vec<f32>);

impl Embedding {
    pub fn from_raw(mut v: Vec<f32>) -> Option<Embedding> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if v.len() != EMBEDDING_DIM || !norm.is_finite() || norm < 1e-6 {
            return None;
        }
        v.iter_mut().for_each(|x| *x /= norm);
        Some(Embedding(v))
    }

    /// Cosine similarity, -1..1.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum()
    }

    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    pub fn from_le_bytes(bytes: &[u8]) -> Option<Embedding> {
        if bytes.len() != EMBEDDING_DIM * 4 {
            return None;
        }
        let v = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Embedding::from_raw(v)
    }
}

pub struct Embedder {
    net: Net,
    /// The int8 fully-connected layer that ends SFace, when the file keeps it int8 (the prepared
    /// file does): tract runs the convolutions, this the rest.
    head: Option<Int8Gemm>,
}

const SIDE: usize = ALIGNED_SIDE as usize;
const SHAPE: [usize; 4] = [1, 3, SIDE, SIDE];

impl Embedder {
    pub fn load(onnx: Vec<u8>) -> Result<Self, PipelineError> {
        let mut proto = net::decode("sface", &onnx)?;
        drop(onnx);
        let graph = proto.graph.as_mut().ok_or_else(|| PipelineError::Model {
            model: "sface",
            message: "the file has no graph".into(),
        })?;
        let head = Int8Gemm::split_off(graph)?;
        Ok(Embedder {
            net: Net::load_fixed_proto("sface", proto, &SHAPE)?,
            head,
        })
    }

    /// Raw 128-d output for one aligned 112x112 crop (RGB 0-255 in; the graph normalises).
    fn raw(&self, aligned: &RgbImage) -> Result<Vec<f32>, PipelineError> {
        let tensor = planar_f32(aligned, ChannelOrder::Rgb, SIDE, SIDE);
        let mut out = self.net.run(&SHAPE, &tensor)?.swap_remove(0);
        if let Some(head) = &self.head {
            out = head.run(&out)?;
        }
        if out.len() != EMBEDDING_DIM {
            return Err(PipelineError::Model {
                model: "sface",
                message: format!("{} outputs, expected {EMBEDDING_DIM}", out.len()),
            });
        }
        Ok(out)
    }

    /// The embedding of an aligned crop. With `flip`, the mirrored crop's output is added before
    /// normalising, which cancels part of the pose and lighting asymmetry between two photos.
    /// (Two batch-1 runs: tract runs one batch of 2 at a third of the speed.)
    pub fn embed(&self, aligned: &RgbImage, flip: bool) -> Result<Embedding, PipelineError> {
        let mut sum = self.raw(aligned)?;
        if flip {
            for (s, m) in sum
                .iter_mut()
                .zip(self.raw(&image::imageops::flip_horizontal(aligned))?)
            {
                *s += m;
            }
        }
        Embedding::from_raw(sum).ok_or(PipelineError::Model {
            model: "sface",
            message: "degenerate embedding".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_compares() {
        let mut v = vec![0.0; EMBEDDING_DIM];
        v[0] = 3.0;
        v[1] = 4.0;
        let e = Embedding::from_raw(v).unwrap();
        assert!((e.0[0] - 0.6).abs() < 1e-6);
        assert!((e.cosine(&e) - 1.0).abs() < 1e-6);
        let mut w = vec![0.0; EMBEDDING_DIM];
        w[2] = 1.0;
        assert_eq!(e.cosine(&Embedding::from_raw(w).unwrap()), 0.0);
    }

    #[test]
    fn refuses_degenerate_vectors_and_round_trips_bytes() {
        assert!(Embedding::from_raw(vec![0.0; EMBEDDING_DIM]).is_none());
        assert!(Embedding::from_raw(vec![1.0; 3]).is_none());
        assert!(Embedding::from_raw(vec![f32::NAN; EMBEDDING_DIM]).is_none());
        let e = Embedding::from_raw((0..EMBEDDING_DIM).map(|i| i as f32 - 60.0).collect()).unwrap();
        let back = Embedding::from_le_bytes(&e.to_le_bytes()).unwrap();
        assert!((back.cosine(&e) - 1.0).abs() < 1e-6);
        assert!(Embedding::from_le_bytes(&[0u8; 12]).is_none());
    }
}
