//! SFace's fully-connected layer, run here from its int8 weights instead of by tract.
//!
//! `pre_fc1` maps the 1024x7x7 feature map to 128 values: a 128x50176 weight, two thirds of the
//! model. tract would hold it as 25.7 MB of float32 (twice over while it optimises), which is
//! what pushed a Worker isolate with every model loaded to 120 MB of its 128 MB. The prepared
//! file keeps that weight as the source published it (int8, one scale and zero point per block
//! of 64, 6.9 MB; `keep_int8` in models/manifest.toml), and this module computes
//! `Gemm(x, (q - zp) * s) + bias`, followed by the `BatchNormalization` that ends the graph.
//! Those are the values tract would compute from the float32 expansion, up to summation order.

use tract_onnx::pb::{GraphProto, NodeProto, TensorProto, ValueInfoProto};

use crate::PipelineError;

// TensorProto.DataType values (onnx.proto).
const FLOAT: i32 = 1;
const INT8: i32 = 3;

/// `y = Gemm(x, dequantize(q)) + bias`, then the optional batch norm, folded into one scale and
/// shift per output.
#[derive(Debug)]
pub struct Int8Gemm {
    n: usize,
    k: usize,
    block: usize,
    /// Row-major `[n, k]`.
    weights: Vec<i8>,
    /// `[n, k / block]`.
    scales: Vec<f32>,
    zero_points: Vec<f32>,
    out_scale: Vec<f32>,
    out_shift: Vec<f32>,
}

fn bad(message: impl Into<String>) -> PipelineError {
    PipelineError::Model {
        model: "sface",
        message: message.into(),
    }
}

impl Int8Gemm {
    /// Removes `DequantizeLinear → Gemm [→ BatchNormalization]` from the end of `graph` when
    /// the graph ends that way, and returns it; the graph then outputs the Gemm's input. A graph
    /// that ends otherwise (a float32 Gemm, say) is left as it is: `None`.
    pub fn split_off(graph: &mut GraphProto) -> Result<Option<Int8Gemm>, PipelineError> {
        let [output] = &graph.output[..] else {
            return Ok(None);
        };
        let producer = |name: &str| {
            graph
                .node
                .iter()
                .position(|n| n.output.iter().any(|o| o == name))
        };
        let Some(last) = producer(&output.name) else {
            return Ok(None);
        };
        let (gemm, norm) = if graph.node[last].op_type == "BatchNormalization" {
            match producer(&graph.node[last].input[0]) {
                Some(g) => (g, Some(last)),
                None => return Ok(None),
            }
        } else {
            (last, None)
        };
        // Copies (a few names and attributes): the tensors are taken out of `graph` below.
        let g = graph.node[gemm].clone();
        if g.op_type != "Gemm" || g.input.len() < 2 {
            return Ok(None);
        }
        let Some(dq) =
            producer(&g.input[1]).filter(|&i| graph.node[i].op_type == "DequantizeLinear")
        else {
            return Ok(None);
        };
        for (attr, want) in [("transA", 0), ("transB", 1)] {
            if int_attr(&g, attr).unwrap_or(0) != want {
                return Err(bad(format!(
                    "int8 Gemm with {attr} != {want} is not supported"
                )));
            }
        }
        for attr in ["alpha", "beta"] {
            if float_attr(&g, attr).unwrap_or(1.0) != 1.0 {
                return Err(bad(format!("int8 Gemm with {attr} != 1 is not supported")));
            }
        }
        let d = graph.node[dq].clone();
        let block = usize::try_from(int_attr(&d, "block_size").unwrap_or(0)).unwrap_or(0);
        if int_attr(&d, "axis") != Some(1) || block == 0 || d.input.len() < 2 {
            return Err(bad(
                "the int8 Gemm weight must be quantised in blocks along axis 1",
            ));
        }

        let (dims, weights) = int8(graph, &d.input[0])?;
        let [n, k] = dims[..] else {
            return Err(bad(format!(
                "int8 Gemm weight has dims {dims:?}, expected [n, k]"
            )));
        };
        if k % block != 0 {
            return Err(bad(format!(
                "k = {k} is not a multiple of the block size {block}"
            )));
        }
        let blocks = n * (k / block);
        let scales = float(graph, &d.input[1], blocks)?;
        let zero_points = match d.input.get(2).filter(|z| !z.is_empty()) {
            None => vec![0.0; blocks],
            Some(z) => {
                let (zdims, zp) = int8(graph, z)?;
                if zp.len() != blocks {
                    return Err(bad(format!(
                        "zero points have dims {zdims:?}, scales {blocks}"
                    )));
                }
                zp.into_iter().map(f32::from).collect()
            }
        };
        let bias = match g.input.get(2).filter(|b| !b.is_empty()) {
            None => vec![0.0; n],
            Some(b) => float(graph, b, n)?,
        };
        let (out_scale, out_shift) = match norm {
            None => (vec![1.0; n], bias),
            Some(i) => {
                let bn = graph.node[i].clone();
                if bn.input.len() < 5 {
                    return Err(bad("BatchNormalization without its parameters"));
                }
                let gamma = float(graph, &bn.input[1], n)?;
                let beta = float(graph, &bn.input[2], n)?;
                let mean = float(graph, &bn.input[3], n)?;
                let var = float(graph, &bn.input[4], n)?;
                let eps = float_attr(&bn, "epsilon").unwrap_or(1e-5);
                let scale: Vec<f32> = gamma
                    .iter()
                    .zip(&var)
                    .map(|(g, v)| g / (v + eps).sqrt())
                    .collect();
                let shift = (0..n)
                    .map(|j| (bias[j] - mean[j]) * scale[j] + beta[j])
                    .collect();
                (scale, shift)
            }
        };

        let input = g.input[0].clone();
        let mut removed: Vec<usize> = [Some(dq), Some(gemm), norm].into_iter().flatten().collect();
        removed.sort_unstable();
        for i in removed.into_iter().rev() {
            graph.node.remove(i);
        }
        let read: std::collections::HashSet<String> = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter().cloned())
            .collect();
        graph.initializer.retain(|t| read.contains(&t.name));
        let constant: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let unread = |name: &str| !read.contains(name) && !constant.contains(name);
        graph.input.retain(|i| !unread(&i.name));
        graph.output = vec![ValueInfoProto {
            name: input,
            ..Default::default()
        }];
        Ok(Some(Int8Gemm {
            n,
            k,
            block,
            weights,
            scales,
            zero_points,
            out_scale,
            out_shift,
        }))
    }

    /// The layer's output for one input row of `k` values.
    pub fn run(&self, x: &[f32]) -> Result<Vec<f32>, PipelineError> {
        if x.len() != self.k {
            return Err(bad(format!(
                "int8 Gemm got {} inputs, expected {}",
                x.len(),
                self.k
            )));
        }
        let blocks = self.k / self.block;
        // Σ (q - zp)·x = Σ q·x - zp·Σ x: the block sums of x are shared by every row.
        let sums: Vec<f32> = x.chunks_exact(self.block).map(|c| c.iter().sum()).collect();
        Ok((0..self.n)
            .map(|row| {
                let w = &self.weights[row * self.k..(row + 1) * self.k];
                let at = row * blocks;
                let acc: f32 = w
                    .chunks_exact(self.block)
                    .zip(x.chunks_exact(self.block))
                    .enumerate()
                    .map(|(b, (wb, xb))| {
                        self.scales[at + b] * (dot(wb, xb) - self.zero_points[at + b] * sums[b])
                    })
                    .sum();
                acc * self.out_scale[row] + self.out_shift[row]
            })
            .collect())
    }
}

/// Eight independent sums, so the compiler can keep them in one SIMD register.
fn dot(w: &[i8], x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (wc, xc) = (w.chunks_exact(8), x.chunks_exact(8));
    let tail: f32 = wc
        .remainder()
        .iter()
        .zip(xc.remainder())
        .map(|(a, b)| f32::from(*a) * b)
        .sum();
    for (w8, x8) in wc.zip(xc) {
        for i in 0..8 {
            acc[i] += f32::from(w8[i]) * x8[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn int_attr(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

fn float_attr(node: &NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

fn initializer<'a>(
    graph: &'a mut GraphProto,
    name: &str,
) -> Result<&'a mut TensorProto, PipelineError> {
    graph
        .initializer
        .iter_mut()
        .find(|t| t.name == name)
        .ok_or_else(|| bad(format!("`{name}` is not an initializer")))
}

/// An int8 initializer's dims and values, moved out of the graph (the weight is not copied).
fn int8(graph: &mut GraphProto, name: &str) -> Result<(Vec<usize>, Vec<i8>), PipelineError> {
    let t = initializer(graph, name)?;
    if t.data_type != INT8 {
        return Err(bad(format!("`{name}` is not int8")));
    }
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .collect();
    let len: usize = dims.iter().product();
    let values: Vec<i8> = if t.raw_data.is_empty() {
        t.int32_data.iter().map(|&v| v as i8).collect()
    } else {
        std::mem::take(&mut t.raw_data)
            .into_iter()
            .map(|b| b as i8)
            .collect()
    };
    if values.len() != len {
        return Err(bad(format!(
            "`{name}` holds {} values for dims {dims:?}",
            values.len()
        )));
    }
    Ok((dims, values))
}

/// A float32 initializer with exactly `len` values.
fn float(graph: &mut GraphProto, name: &str, len: usize) -> Result<Vec<f32>, PipelineError> {
    let t = initializer(graph, name)?;
    if t.data_type != FLOAT {
        return Err(bad(format!("`{name}` is not float32")));
    }
    let values: Vec<f32> = if t.raw_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    if values.len() != len {
        return Err(bad(format!(
            "`{name}` holds {} values, expected {len}",
            values.len()
        )));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::AttributeProto;

    fn tensor(name: &str, dims: &[i64], data_type: i32, raw: Vec<u8>) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type,
            raw_data: raw,
            ..Default::default()
        }
    }

    fn floats(name: &str, v: &[f32]) -> TensorProto {
        tensor(
            name,
            &[v.len() as i64],
            FLOAT,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: output.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: attrs,
            ..Default::default()
        }
    }

    fn int(name: &str, i: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            i,
            r#type: 2,
            ..Default::default()
        }
    }

    /// n = 2 outputs, k = 8 inputs in blocks of 4, with a batch norm.
    fn graph() -> GraphProto {
        let q: Vec<u8> = [1i8, -2, 3, 4, 5, 6, -7, 8, 0, 1, 0, 1, 127, -128, 2, 2]
            .iter()
            .map(|&v| v as u8)
            .collect();
        GraphProto {
            node: vec![
                node("Relu", &["x"], "features", vec![]),
                node(
                    "DequantizeLinear",
                    &["q", "s", "zp"],
                    "w",
                    vec![int("axis", 1), int("block_size", 4)],
                ),
                node(
                    "Gemm",
                    &["features", "w", "bias"],
                    "g",
                    vec![int("transB", 1)],
                ),
                node(
                    "BatchNormalization",
                    &["g", "gamma", "beta", "mean", "var"],
                    "y",
                    vec![],
                ),
            ],
            initializer: vec![
                tensor("q", &[2, 8], INT8, q),
                tensor(
                    "s",
                    &[2, 2],
                    FLOAT,
                    [0.5f32, 0.25, 2.0, 0.125]
                        .iter()
                        .flat_map(|x| x.to_le_bytes())
                        .collect(),
                ),
                tensor("zp", &[2, 2], INT8, vec![1, 0xFF, 0, 3]),
                floats("bias", &[0.5, -1.0]),
                floats("gamma", &[2.0, 1.0]),
                floats("beta", &[0.0, 3.0]),
                floats("mean", &[1.0, 0.0]),
                floats("var", &[4.0 - 1e-5, 1.0 - 1e-5]),
            ],
            output: vec![ValueInfoProto {
                name: "y".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn splits_the_tail_and_computes_what_the_float_graph_would() {
        let mut g = graph();
        let layer = Int8Gemm::split_off(&mut g).unwrap().expect("an int8 tail");
        assert_eq!(g.node.len(), 1, "only the trunk is left");
        assert_eq!(g.output[0].name, "features");
        assert!(g.initializer.is_empty(), "the tail's tensors left with it");

        let x = [1.0f32, 2.0, -1.0, 0.5, 3.0, 0.0, 1.0, -2.0];
        // Reference: dequantise to float32 and do the textbook Gemm + batch norm.
        let q = [[1i8, -2, 3, 4, 5, 6, -7, 8], [0, 1, 0, 1, 127, -128, 2, 2]];
        let (s, zp) = ([[0.5f32, 0.25], [2.0, 0.125]], [[1f32, -1.0], [0.0, 3.0]]);
        let (bias, gamma, beta, mean, std) = (
            [0.5, -1.0],
            [2.0, 1.0],
            [0.0, 3.0],
            [1.0, 0.0],
            [2.0f32, 1.0],
        );
        let want: Vec<f32> = (0..2)
            .map(|r| {
                let dot: f32 = (0..8)
                    .map(|c| (f32::from(q[r][c]) - zp[r][c / 4]) * s[r][c / 4] * x[c])
                    .sum();
                (dot + bias[r] - mean[r]) / std[r] * gamma[r] + beta[r]
            })
            .collect();
        let got = layer.run(&x).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
        }
        assert!(
            layer.run(&x[..4]).is_err(),
            "a wrong input length is a model error"
        );
    }

    #[test]
    fn leaves_other_graphs_alone_and_refuses_layouts_it_cannot_run() {
        let mut float_tail = graph();
        float_tail.node.retain(|n| n.op_type != "DequantizeLinear");
        assert!(Int8Gemm::split_off(&mut float_tail).unwrap().is_none());
        assert_eq!(float_tail.node.len(), 3, "untouched");

        let mut transposed = graph();
        transposed.node[2].attribute = vec![int("transB", 0)];
        assert!(Int8Gemm::split_off(&mut transposed).is_err());

        let mut per_tensor = graph();
        per_tensor.node[1].attribute = vec![];
        assert!(Int8Gemm::split_off(&mut per_tensor).is_err());
    }
}
