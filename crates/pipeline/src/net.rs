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
    parsed: InferenceModel,
    plans: Mutex<HashMap<Vec<usize>, Plan>>,
}

impl Net {
    pub fn load(name: &'static str, onnx: &[u8]) -> Result<Self, PipelineError> {
        let parsed = tract_onnx::onnx()
            .model_for_read(&mut &onnx[..])
            .map_err(|e| PipelineError::model(name, e))?;
        Ok(Net {
            name,
            parsed,
            plans: Mutex::new(HashMap::new()),
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
        let plan = self
            .parsed
            .clone()
            .with_input_fact(0, f32::fact(shape).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| PipelineError::model(self.name, e))?;
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

    /// Output names in the order `run` returns them.
    pub fn output_names(&self) -> Vec<String> {
        self.parsed
            .output_outlets()
            .map(|outlets| {
                outlets
                    .iter()
                    .map(|o| {
                        self.parsed
                            .outlet_label(*o)
                            .map(str::to_owned)
                            .unwrap_or_else(|| self.parsed.node(o.node).name.clone())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
