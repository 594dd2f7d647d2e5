//! Half-precision *storage* of float32 weights, for the models the browser downloads.
//!
//! Every large float32 initializer is stored as float16 under a new name and followed by a
//! `Cast(to=FLOAT)` node that recreates the original name, so the graph still computes in float32
//! and every consumer is untouched. tract evaluates the casts of constants once, when it
//! optimises the model, so inference cost is unchanged; the file is about half the size.
//!
//! Before that, every `Reshape` of a constant weight by a constant shape (the int8 tooling
//! stores YuNet's conv weights flat and reshapes them in the graph) is folded into the weight's
//! dims: the same values under the Reshape's output name, with no node or shape tensor left. tract
//! folds those too when it optimises, so this only saves bytes (about 10 KB of YuNet's 241 KB).
//!
//! The only numerical change is the rounding of each weight to float16 (round to nearest even,
//! relative error at most 2^-11 for normal values). Tensors that float16 cannot hold (a finite
//! value that would become infinite) are left in float32, as are small ones (biases of a few
//! channels, scalars, Resize scales): they cost little and are the most likely to matter.

use std::collections::{HashMap, HashSet};

use half::f16;
use prost::Message;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};

use crate::error::ModelsError;

// TensorProto.DataType values (onnx.proto).
const FLOAT: i32 = 1;
const FLOAT16: i32 = 10;
const INT64: i32 = 7;
// TensorProto.DataLocation.EXTERNAL
const EXTERNAL: i32 = 1;
// AttributeProto.AttributeType.INT
const ATTR_INT: i32 = 2;

/// Float32 initializers with fewer elements than this stay float32.
pub const HALF_MIN_ELEMENTS: usize = 64;

/// Identifies the conversion; part of the stamp of every half-precision file `prepare` writes.
/// Bump it whenever the output bytes would change for the same input.
pub const HALF_FORMAT: &str = "facegate-models/f16w-v1";

/// Suffix of the new float16 initializer's name.
const F16_SUFFIX: &str = "__f16";

/// Stores every float32 initializer of at least [`HALF_MIN_ELEMENTS`] elements as float16
/// followed by a `Cast(to=FLOAT)` node producing the original name (see the module docs).
/// Constant `Reshape`s of weights are folded first (see the module docs). Everything else in the
/// model is carried over unchanged.
///
/// Left in float32: initializers that are also graph inputs (a caller may feed them, as a
/// float32 tensor), tensors held in external files, and tensors with a finite value beyond
/// float16's range. Initializers of subgraphs are not touched.
///
/// Fails if the model cannot be decoded, has no graph, imports a default-domain opset older than
/// 6 (where Cast's `to` was a string), or has a float32 initializer whose data does not match
/// its shape.
pub fn half_precision_weights(onnx: &[u8]) -> Result<Vec<u8>, ModelsError> {
    let mut model = ModelProto::decode(onnx)?;
    let opset = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max();
    let graph = model.graph.as_mut().ok_or(ModelsError::NoGraph)?;
    fold_constant_reshapes(graph)?;
    // A model without a default-domain import is opset 1 by the spec's reading; we only need
    // the check when there is something to convert.
    if graph_would_change(graph)? && opset.unwrap_or(1) < 6 {
        return Err(ModelsError::HalfPrecision(format!(
            "the model imports default-domain opset {}, whose Cast takes `to` as a string; \
             half-precision weights need opset 6 or later",
            opset.unwrap_or(1)
        )));
    }
    convert_graph(graph)?;
    Ok(model.encode_to_vec())
}

/// How many times each name is read: by nodes of the graph and of its subgraphs (which may
/// capture outer values), or as a graph output.
fn use_counts(graph: &GraphProto) -> HashMap<String, usize> {
    fn visit(nodes: &[NodeProto], counts: &mut HashMap<String, usize>) {
        for node in nodes {
            for input in node.input.iter().filter(|i| !i.is_empty()) {
                *counts.entry(input.clone()).or_default() += 1;
            }
            for attr in &node.attribute {
                for g in attr.g.iter().chain(attr.graphs.iter()) {
                    visit(&g.node, counts);
                    for o in &g.output {
                        *counts.entry(o.name.clone()).or_default() += 1;
                    }
                }
            }
        }
    }
    let mut counts = HashMap::new();
    visit(&graph.node, &mut counts);
    for o in &graph.output {
        *counts.entry(o.name.clone()).or_default() += 1;
    }
    counts
}

/// Replaces `y = Reshape(w, shape)` by an initializer `y` (w's data, the new dims) when `w` and
/// `shape` are initializers that no caller can feed and `w` has no other reader. Initializers left
/// unread are dropped. Reshapes whose shape does not fit are left for tract to report.
fn fold_constant_reshapes(graph: &mut GraphProto) -> Result<(), ModelsError> {
    let graph_inputs: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    let index: HashMap<&str, usize> = graph
        .initializer
        .iter()
        .enumerate()
        .filter(|(_, t)| !graph_inputs.contains(t.name.as_str()))
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let uses = use_counts(graph);
    let mut folded: Vec<(usize, TensorProto)> = Vec::new();
    let mut removed: HashSet<usize> = HashSet::new();
    for (n, node) in graph.node.iter().enumerate() {
        let is_reshape = node.op_type == "Reshape"
            && (node.domain.is_empty() || node.domain == "ai.onnx")
            && node.input.len() == 2
            && node.output.len() == 1
            && !node.output[0].is_empty();
        if !is_reshape || index.contains_key(node.output[0].as_str()) {
            continue;
        }
        let (Some(&w), Some(&s)) = (
            index.get(node.input[0].as_str()),
            index.get(node.input[1].as_str()),
        ) else {
            continue;
        };
        let (data, shape) = (&graph.initializer[w], &graph.initializer[s]);
        if uses.get(&data.name) != Some(&1)
            || shape.data_type != INT64
            || data.data_location == Some(EXTERNAL)
            || !data.external_data.is_empty()
            || data.segment.is_some()
        {
            continue;
        }
        let shape_values: Vec<i64> = if shape.raw_data.is_empty() {
            shape.int64_data.clone()
        } else {
            if shape.raw_data.len() % 8 != 0 {
                continue;
            }
            shape
                .raw_data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect()
        };
        let allow_zero = node
            .attribute
            .iter()
            .any(|a| a.name == "allowzero" && a.i != 0);
        let Some(dims) = reshaped_dims(&data.dims, &shape_values, allow_zero) else {
            continue;
        };
        let mut tensor = data.clone();
        tensor.name = node.output[0].clone();
        tensor.dims = dims;
        folded.push((w, tensor));
        removed.insert(n);
    }
    if folded.is_empty() {
        return Ok(());
    }
    let mut n = 0;
    graph.node.retain(|_| {
        n += 1;
        !removed.contains(&(n - 1))
    });
    // Each folded weight takes its source's place, keeping the initializer order stable.
    for (w, tensor) in folded {
        graph.initializer[w] = tensor;
    }
    let uses = use_counts(graph);
    let inputs: HashSet<String> = graph.input.iter().map(|i| i.name.clone()).collect();
    graph
        .initializer
        .retain(|t| uses.contains_key(&t.name) || inputs.contains(&t.name));
    Ok(())
}

/// The dims `Reshape` gives a tensor of dims `from` for the shape input `to` (0 copies the input
/// dim unless `allow_zero`, one -1 is inferred), or None if they do not describe the same count.
fn reshaped_dims(from: &[i64], to: &[i64], allow_zero: bool) -> Option<Vec<i64>> {
    if from.iter().any(|&d| d < 0) {
        return None;
    }
    let count: i64 = from.iter().try_fold(1i64, |acc, &d| acc.checked_mul(d))?;
    let mut dims = Vec::with_capacity(to.len());
    let mut infer = None;
    for (i, &d) in to.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                dims.push(1);
            }
            0 if !allow_zero => dims.push(*from.get(i)?),
            d if d >= 0 => dims.push(d),
            _ => return None,
        }
    }
    let known: i64 = dims.iter().try_fold(1i64, |acc, &d| acc.checked_mul(d))?;
    if let Some(i) = infer {
        if known == 0 || count % known != 0 {
            return None;
        }
        dims[i] = count / known;
    } else if known != count {
        return None;
    }
    Some(dims)
}

fn graph_would_change(graph: &GraphProto) -> Result<bool, ModelsError> {
    let inputs: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    for t in &graph.initializer {
        if candidate(t, &inputs) && to_f16_bits(t)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn candidate(t: &TensorProto, graph_inputs: &HashSet<&str>) -> bool {
    t.data_type == FLOAT
        && !graph_inputs.contains(t.name.as_str())
        && t.data_location != Some(EXTERNAL)
        && t.external_data.is_empty()
        && t.segment.is_none()
        && t.dims.iter().all(|&d| d >= 0)
        && t.dims.iter().map(|&d| d as u128).product::<u128>() >= HALF_MIN_ELEMENTS as u128
}

fn convert_graph(graph: &mut GraphProto) -> Result<(), ModelsError> {
    let graph_inputs: HashSet<String> = graph.input.iter().map(|i| i.name.clone()).collect();
    let inputs: HashSet<&str> = graph_inputs.iter().map(String::as_str).collect();
    // Every name already in use, so that the new ones cannot collide with anything.
    let mut taken: HashSet<String> = graph
        .initializer
        .iter()
        .map(|t| t.name.clone())
        .chain(graph.input.iter().map(|i| i.name.clone()))
        .chain(graph.output.iter().map(|o| o.name.clone()))
        .chain(graph.value_info.iter().map(|v| v.name.clone()))
        .chain(
            graph
                .node
                .iter()
                .flat_map(|n| n.input.iter().chain(&n.output).cloned()),
        )
        .chain(graph.node.iter().map(|n| n.name.clone()))
        .collect();
    let mut fresh = |base: String| {
        let mut name = base.clone();
        let mut k = 1;
        while taken.contains(&name) {
            name = format!("{base}{k}");
            k += 1;
        }
        taken.insert(name.clone());
        name
    };

    let mut casts = Vec::new();
    for t in graph.initializer.iter_mut() {
        if !candidate(t, &inputs) {
            continue;
        }
        let Some(bits) = to_f16_bits(t)? else {
            continue;
        };
        let original = std::mem::take(&mut t.name);
        let stored = fresh(format!("{original}{F16_SUFFIX}"));
        *t = TensorProto {
            name: stored.clone(),
            dims: std::mem::take(&mut t.dims),
            data_type: FLOAT16,
            raw_data: bits.iter().flat_map(|b| b.to_le_bytes()).collect(),
            doc_string: std::mem::take(&mut t.doc_string),
            ..Default::default()
        };
        // Unnamed: node names are optional, tract then names the node after its output (the
        // weight's original name), and 64 names would cost YuNet 3 KB.
        casts.push(NodeProto {
            op_type: "Cast".into(),
            input: vec![stored],
            output: vec![original],
            attribute: vec![AttributeProto {
                name: "to".into(),
                r#type: ATTR_INT,
                i: i64::from(FLOAT),
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    // Nodes must be topologically sorted: the casts read only initializers, so they go first.
    casts.append(&mut graph.node);
    graph.node = casts;
    Ok(())
}

/// The float16 bit patterns of a float32 tensor, or `None` when float16 cannot represent it
/// (a finite value would round to infinity).
fn to_f16_bits(t: &TensorProto) -> Result<Option<Vec<u16>>, ModelsError> {
    let count: usize = t.dims.iter().map(|&d| d as usize).product();
    let err = |detail: String| ModelsError::TensorData {
        tensor: t.name.clone(),
        detail,
    };
    let values: Vec<f32> = if !t.raw_data.is_empty() {
        if t.raw_data.len() != count * 4 {
            return Err(err(format!(
                "raw_data has {} bytes, expected {count} × 4",
                t.raw_data.len()
            )));
        }
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        if t.float_data.len() != count {
            return Err(err(format!(
                "float_data has {} values, expected {count}",
                t.float_data.len()
            )));
        }
        t.float_data.clone()
    };
    let mut bits = Vec::with_capacity(values.len());
    for v in values {
        let h = f16::from_f32(v);
        if h.is_infinite() && v.is_finite() {
            return Ok(None);
        }
        bits.push(h.to_bits());
    }
    Ok(Some(bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{OperatorSetIdProto, ValueInfoProto};

    fn f32_raw(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    fn value(name: &str) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            name: format!("{op}_{output}"),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    fn model(inits: Vec<TensorProto>, nodes: Vec<NodeProto>, inputs: &[&str]) -> ModelProto {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(GraphProto {
                name: "g".into(),
                node: nodes,
                initializer: inits,
                input: inputs.iter().map(|n| value(n)).collect(),
                output: vec![value("y")],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn convert(m: &ModelProto) -> Result<ModelProto, ModelsError> {
        let out = half_precision_weights(&m.encode_to_vec())?;
        Ok(ModelProto::decode(&out[..]).unwrap())
    }

    fn f16_values(t: &TensorProto) -> Vec<f32> {
        assert_eq!(t.data_type, FLOAT16);
        t.raw_data
            .chunks_exact(2)
            .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
            .collect()
    }

    /// The conversion the module relies on: round to nearest, ties to even, with the IEEE edge
    /// cases (half rounds f32 → f16 correctly; this pins the behaviour we depend on).
    #[test]
    fn f32_to_f16_rounds_to_nearest_even() {
        let h = |v: f32| f16::from_f32(v).to_bits();
        assert_eq!(h(0.0), 0x0000);
        assert_eq!(h(-0.0), 0x8000);
        assert_eq!(h(1.0), 0x3c00);
        assert_eq!(h(-2.0), 0xc000);
        assert_eq!(h(65504.0), 0x7bff); // largest finite
        assert_eq!(h(65519.0), 0x7bff); // below the halfway point to 2^16: rounds down
        assert_eq!(h(65520.0), 0x7c00); // halfway, ties to even: infinity
        assert_eq!(h(f32::INFINITY), 0x7c00);
        assert_eq!(h(f32::NEG_INFINITY), 0xfc00);
        assert!(f16::from_f32(f32::NAN).is_nan());
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to the even mantissa (1.0).
        assert_eq!(h(1.0 + 2f32.powi(-11)), 0x3c00);
        // 1 + 3·2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9: ties to even (1 + 2^-9).
        assert_eq!(h(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        // Just above halfway rounds up.
        assert_eq!(h(1.0 + 2f32.powi(-11) + 2f32.powi(-20)), 0x3c01);
        // Subnormals: smallest 2^-24, halfway to it (2^-25) ties to zero, above it rounds up.
        assert_eq!(h(2f32.powi(-24)), 0x0001);
        assert_eq!(h(2f32.powi(-25)), 0x0000);
        assert_eq!(h(1.5 * 2f32.powi(-25)), 0x0001);
        assert_eq!(h(2f32.powi(-14)), 0x0400); // smallest normal
        assert_eq!(h(1e-10), 0x0000);
    }

    #[test]
    fn large_float_initializers_become_f16_behind_a_cast() {
        let w: Vec<f32> = (0..64).map(|i| i as f32 * 0.25 - 3.0).collect();
        let m = model(
            vec![f32_raw("w", &[8, 8], &w), f32_raw("b", &[8], &[1.0; 8])],
            vec![
                node("MatMul", &["x", "w"], "t"),
                node("Add", &["t", "b"], "y"),
            ],
            &["x"],
        );
        let out = convert(&m).unwrap();
        let g = out.graph.as_ref().unwrap();
        let names: Vec<_> = g.initializer.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["w__f16", "b"], "the 8-element bias stays float32");
        assert_eq!(g.initializer[0].dims, [8, 8]);
        assert_eq!(f16_values(&g.initializer[0]), w, "exactly representable");
        assert_eq!(g.initializer[1], m.graph.as_ref().unwrap().initializer[1]);
        let cast = &g.node[0];
        assert_eq!(
            (cast.op_type.as_str(), &cast.input[..], &cast.output[..]),
            ("Cast", &["w__f16".to_string()][..], &["w".to_string()][..])
        );
        assert_eq!(
            (cast.attribute[0].name.as_str(), cast.attribute[0].i),
            ("to", 1)
        );
        assert_eq!(cast.attribute[0].r#type, ATTR_INT);
        assert_eq!(&g.node[1..], &m.graph.as_ref().unwrap().node[..]);
        assert_eq!(out.opset_import, m.opset_import);
    }

    #[test]
    fn float_data_is_read_and_rounded() {
        let w: Vec<f32> = (0..100).map(|i| 1.0 + i as f32 * 1e-4).collect();
        let t = TensorProto {
            name: "w".into(),
            dims: vec![100],
            data_type: FLOAT,
            float_data: w.clone(),
            ..Default::default()
        };
        let out = convert(&model(vec![t], vec![node("Mul", &["x", "w"], "y")], &["x"])).unwrap();
        let got = f16_values(&out.graph.unwrap().initializer[0]);
        for (a, b) in w.iter().zip(&got) {
            assert!((a - b).abs() <= a.abs() * 2f32.powi(-11), "{a} → {b}");
        }
    }

    #[test]
    fn inputs_non_float_small_external_and_out_of_range_tensors_stay() {
        let big = vec![1.0f32; 64];
        let mut huge = big.clone();
        huge[3] = 1e6;
        let ints = TensorProto {
            name: "shape".into(),
            dims: vec![100],
            data_type: 7,
            int64_data: vec![1; 100],
            ..Default::default()
        };
        let mut external = f32_raw("ext", &[64], &[]);
        external.data_location = Some(EXTERNAL);
        let m = model(
            vec![
                f32_raw("fed", &[64], &big),
                f32_raw("huge", &[64], &huge),
                f32_raw("small", &[63], &big[..63]),
                ints,
                external,
            ],
            vec![node("Sum", &["fed", "huge", "small", "shape", "ext"], "y")],
            &["fed"],
        );
        let out = convert(&m).unwrap();
        assert_eq!(out, m);
    }

    fn i64_raw(name: &str, data: &[i64]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: vec![data.len() as i64],
            data_type: INT64,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn constant_reshapes_of_weights_are_folded() {
        let w: Vec<f32> = (0..96).map(|i| i as f32).collect();
        let m = model(
            vec![
                f32_raw("flat", &[96], &w),
                i64_raw("shape", &[4, -1, 2, 1]),
                f32_raw("shared", &[64], &w[..64]),
                i64_raw("shape2", &[8, 8]),
            ],
            vec![
                node("Reshape", &["flat", "shape"], "w"),
                node("Reshape", &["shared", "shape2"], "s"),
                node("Conv", &["x", "w"], "t"),
                node("Add", &["t", "s"], "u"),
                node("Add", &["u", "shared"], "y"),
            ],
            &["x"],
        );
        let g = convert(&m).unwrap().graph.unwrap();
        let ops: Vec<_> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        // `flat` is folded; `shared` has a second reader, so its Reshape stays.
        assert_eq!(ops, ["Cast", "Cast", "Reshape", "Conv", "Add", "Add"]);
        let names: Vec<_> = g.initializer.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["w__f16", "shared__f16", "shape2"]);
        assert_eq!(g.initializer[0].dims, [4, 12, 2, 1]);
        assert_eq!(g.node[0].output, ["w"]);
        assert_eq!(f16_values(&g.initializer[0]), w);
    }

    #[test]
    fn reshaped_dims_follows_onnx() {
        assert_eq!(
            reshaped_dims(&[96], &[4, -1, 2, 1], false),
            Some(vec![4, 12, 2, 1])
        );
        assert_eq!(reshaped_dims(&[6, 4], &[0, -1], false), Some(vec![6, 4]));
        assert_eq!(
            reshaped_dims(&[6, 4], &[3, 0, 2], false),
            Some(vec![3, 4, 2])
        );
        assert_eq!(reshaped_dims(&[0, 4], &[0, 4], true), Some(vec![0, 4]));
        assert_eq!(reshaped_dims(&[6, 4], &[0, 4], true), None);
        assert_eq!(reshaped_dims(&[6, 4], &[5, -1], false), None);
        assert_eq!(reshaped_dims(&[6, 4], &[-1, -1], false), None);
        assert_eq!(reshaped_dims(&[6], &[2, 0], false), None);
        assert_eq!(reshaped_dims(&[6], &[7], false), None);
    }

    #[test]
    fn new_names_do_not_collide() {
        let w = vec![0.5f32; 64];
        let m = model(
            vec![
                f32_raw("w", &[64], &w),
                f32_raw("w__f16", &[2], &[1.0, 2.0]),
            ],
            vec![node("Add", &["w", "w__f16"], "y")],
            &[],
        );
        let g = convert(&m).unwrap().graph.unwrap();
        let names: Vec<_> = g.initializer.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["w__f161", "w__f16"]);
        assert_eq!(g.node[0].input, ["w__f161"]);
        assert_eq!(g.node[0].output, ["w"]);
    }

    #[test]
    fn bad_data_old_opsets_and_garbage_are_errors() {
        let m = model(
            vec![f32_raw("w", &[65], &[0.0; 64])],
            vec![node("Mul", &["x", "w"], "y")],
            &["x"],
        );
        assert!(matches!(convert(&m), Err(ModelsError::TensorData { .. })));
        let mut m = model(
            vec![f32_raw("w", &[64], &[0.0; 64])],
            vec![node("Mul", &["x", "w"], "y")],
            &["x"],
        );
        m.opset_import[0].version = 5;
        assert!(matches!(convert(&m), Err(ModelsError::HalfPrecision(_))));
        assert!(matches!(
            half_precision_weights(b"\xff\xff\xff not onnx"),
            Err(ModelsError::OnnxDecode(_))
        ));
        let empty = ModelProto::default().encode_to_vec();
        assert!(matches!(
            half_precision_weights(&empty),
            Err(ModelsError::NoGraph)
        ));
    }
}
