//! A thin wrapper around tract: parse an ONNX file once, optimise it per input shape, run it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;

use crate::PipelineError;

type Plan = Arc<TypedRunnableModel>;

/// An ONNX network with one input. Optimised plans are cached per input shape because tract
/// optimises for concrete shapes, and optimising costs far more than running.
pub struct Net {
    name: &'static str,
    /// Kept only by nets that run at several shapes. A fixed-shape net drops it once planned:
    /// SFace's weights would otherwise sit in memory twice, which matters in a 128 MB isolate.
    parsed: Option<InferenceModel>,
    plans: Mutex<HashMap<Vec<usize>, Plan>>,
}

fn parse(name: &'static str, onnx: &[u8]) -> Result<InferenceModel, PipelineError> {
    tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
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
            parsed: Some(parse(name, onnx)?),
            plans: Mutex::new(HashMap::new()),
        })
    }

    /// A net that only ever runs at `shape`: planned now, the file and its parsed form released
    /// as soon as each is no longer needed, to keep peak memory at about two copies of the
    /// weights rather than three.
    pub fn load_fixed(
        name: &'static str,
        onnx: Vec<u8>,
        shape: &[usize],
    ) -> Result<Self, PipelineError> {
        let parsed = parse(name, &onnx)?;
        drop(onnx);
        let plan = optimise(name, parsed, shape)?;
        Ok(Net {
            name,
            parsed: None,
            plans: Mutex::new(HashMap::from([(shape.to_vec(), plan)])),
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
        if let Some(plan) = plans.get(shape) {
            return Ok(plan.clone());
        }
        let parsed = self.parsed.as_ref().ok_or_else(|| PipelineError::Model {
            model: self.name,
            message: format!("planned for one input shape only, asked for {shape:?}"),
        })?;
        let plan = optimise(self.name, parsed.clone(), shape)?;
        plans.insert(shape.to_vec(), plan.clone());
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
