//! A thin wrapper around tract: parse an ONNX file once, optimise it per input shape, run it.

use std::sync::{Arc, Mutex};

use prost::Message;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::PipelineError;

type Plan = Arc<TypedRunnableModel>;

/// Plans kept per net. Each costs its own packed copy of the weights and scratch, and the
/// detector meets a new input shape with every new aspect ratio: unbounded, a stream of
/// oddly-shaped images would grow an isolate's memory until it died. The usual shapes (4:3,
/// 16:9, portrait and landscape, the padded pass) fit; a rare one is planned again (~10 ms).
const MAX_PLANS: usize = 8;

/// An ONNX network with one input. Optimised plans are cached per input shape because tract
/// optimises for concrete shapes, and optimising costs far more than running.
pub struct Net {
    name: &'static str,
    /// Kept only by nets that run at several shapes. A fixed-shape net drops it once planned:
    /// SFace's weights would otherwise sit in memory twice, which matters in a 128 MB isolate.
    parsed: Option<InferenceModel>,
    /// Least recently used first.
    plans: Mutex<Vec<(Vec<usize>, Plan)>>,
}

/// Decodes an ONNX file straight from the caller's bytes. (tract's own `model_for_read` first
/// copies them into a buffer of its own: with the caller's copy, the decoded protobuf and the
/// parsed model, that made four copies of SFace's weights at the moment memory peaked.)
pub(crate) fn decode(name: &'static str, onnx: &[u8]) -> Result<ModelProto, PipelineError> {
    ModelProto::decode(onnx).map_err(|e| PipelineError::model(name, e))
}

fn parse(name: &'static str, proto: &ModelProto) -> Result<InferenceModel, PipelineError> {
    tract_onnx::onnx()
        .model_for_proto_model(proto)
        .map_err(|e| PipelineError::model(name, e))
}

fn optimise(
    name: &'static str,
    model: InferenceModel,
    shape: &[usize],
) -> Result<Plan, PipelineError> {
    model
        .with_input_fact(0, f32::fact(shape).into())
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| PipelineError::model(name, e))
}

impl Net {
    /// A net that is planned for each input shape it meets.
    pub fn load(name: &'static str, onnx: &[u8]) -> Result<Self, PipelineError> {
        Ok(Net {
            name,
            parsed: Some(parse(name, &decode(name, onnx)?)?),
            plans: Mutex::new(Vec::new()),
        })
    }

    /// A net that only ever runs at `shape`: planned now, the file, its decoded protobuf and its
    /// parsed form each released as soon as it is no longer needed, so that no more than two
    /// copies of the weights exist at any moment.
    pub fn load_fixed(
        name: &'static str,
        onnx: Vec<u8>,
        shape: &[usize],
    ) -> Result<Self, PipelineError> {
        let proto = decode(name, &onnx)?;
        drop(onnx);
        Net::load_fixed_proto(name, proto, shape)
    }

    /// [`Net::load_fixed`] from an already decoded file (which a caller may have edited).
    pub(crate) fn load_fixed_proto(
        name: &'static str,
        proto: ModelProto,
        shape: &[usize],
    ) -> Result<Self, PipelineError> {
        let parsed = parse(name, &proto)?;
        drop(proto);
        let plan = optimise(name, parsed, shape)?;
        Ok(Net {
            name,
            parsed: None,
            plans: Mutex::new(vec![(shape.to_vec(), plan)]),
        })
    }

    /// Optimises the plan for `shape` now, so that the first request does not pay for it.
    pub fn prepare(&self, shape: &[usize]) -> Result<(), PipelineError> {
        self.plan(shape).map(|_| ())
    }

    fn plan(&self, shape: &[usize]) -> Result<Plan, PipelineError> {
        let mut plans = self
            .plans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(i) = plans.iter().position(|(s, _)| s == shape) {
            let entry = plans.remove(i);
            let plan = entry.1.clone();
            plans.push(entry);
            return Ok(plan);
        }
        let parsed = self.parsed.as_ref().ok_or_else(|| PipelineError::Model {
            model: self.name,
            message: format!("planned for one input shape only, asked for {shape:?}"),
        })?;
        let plan = optimise(self.name, parsed.clone(), shape)?;
        if plans.len() >= MAX_PLANS {
            plans.remove(0);
        }
        plans.push((shape.to_vec(), plan.clone()));
        Ok(plan)
    }

    /// Runs the network on one NCHW tensor and returns every output, flattened.
    pub fn run(&self, shape: &[usize], data: &[f32]) -> Result<Vec<Vec<f32>>, PipelineError> {
        let plan = self.plan(shape)?;
        let input =
            Tensor::from_shape(shape, data).map_err(|e| PipelineError::model(self.name, e))?;
        let outputs = plan
            .run(tvec!(input.into()))
            .map_err(|e| PipelineError::model(self.name, e))?;
        outputs
            .iter()
            .map(|o| {
                o.to_plain_array_view::<f32>()
                    .map(|v| v.iter().copied().collect())
                    .map_err(|e| PipelineError::model(self.name, e))
            })
            .collect()
    }

    /// Output names in the order `run` returns them (nets loaded with `load` only).
    pub fn output_names(&self) -> Vec<String> {
        let Some(parsed) = &self.parsed else {
            return Vec::new();
        };
        parsed
            .output_outlets()
            .map(|outlets| {
                outlets
                    .iter()
                    .map(|o| {
                        parsed
                            .outlet_label(*o)
                            .map(str::to_owned)
                            .unwrap_or_else(|| parsed.node(o.node).name.clone())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
