"""Computes the onnxruntime reference outputs that the Rust tests compare tract against.

Run once by a developer (needs `pip install onnx onnxruntime numpy`); its output is committed as
crates/pipeline/tests/fixtures/reference_outputs.json. The inputs are synthetic integer patterns
that both sides can build bit-exactly, so the comparison checks the models (dequantisation and
tract) rather than image decoding. onnxruntime refuses the shipped int8 files (some nodes carry a
block_size with a per-tensor scale), so they are dequantised here with numpy, independently of the
Rust implementation under test.

usage: python3 make_reference_outputs.py WHEEL_MODELS_DIR SHARED_MODELS_DIR OUT.json
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def pattern(c, h, w):
    cc, yy, xx = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return ((xx * 7 + yy * 13 + cc * 29) % 256).astype(np.float32)[None]


def dequantize(model):
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    kept, produced = [], []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(i in inits for i in node.input):
            kept.append(node)
            continue
        q = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
        s = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        z = numpy_helper.to_array(inits[node.input[2]]).astype(np.float32)
        attrs = {a.name: a.i for a in node.attribute}
        axis, block = attrs.get("axis", 1) % q.ndim, attrs.get("block_size", 0)
        if s.size == 1:
            w = (q - z.reshape(())) * s.reshape(())
        elif block:
            crop = tuple(slice(0, d) for d in q.shape)
            w = (q - np.repeat(z, block, axis=axis)[crop]) * np.repeat(s, block, axis=axis)[crop]
        else:
            shape = [1] * q.ndim
            shape[axis] = s.size
            w = (q - z.reshape(shape)) * s.reshape(shape)
        produced.append(numpy_helper.from_array(w.astype(np.float32), node.output[0]))
    used = {i for n in kept for i in n.input}
    del graph.node[:]
    graph.node.extend(kept)
    remaining = [i for i in graph.initializer if i.name in used] + produced
    del graph.initializer[:]
    graph.initializer.extend(remaining)
    # Old exporters list weights as graph inputs too; only real, used inputs may remain.
    names = {i.name for i in graph.initializer} | {o for n in graph.node for o in n.output}
    used = {i for n in graph.node for i in n.input}
    real = [i for i in graph.input if i.name not in names and i.name in used]
    del graph.input[:]
    graph.input.extend(real)
    return model


def run(path, feeds, dynamic_input=None):
    model = dequantize(onnx.load(path))
    if dynamic_input:
        # The detector declares 640x640; the pipeline runs it at other sizes.
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "h", "w"
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, feeds)
    return {n: {"shape": list(o.shape), "data": [float(v) for v in o.ravel()]} for n, o in zip(names, outs)}


def main():
    wheel, shared, out = sys.argv[1:4]
    ref = {
        "pattern": "((x*7 + y*13 + c*29) % 256) as f32, NCHW, batch 1",
        "yunet_128x160": run(f"{wheel}/face_detection_yunet_2023mar_int8bq.onnx",
                             {"input": pattern(3, 128, 160)}, dynamic_input=True),
        "sface_112": run(f"{wheel}/face_recognition_sface_2021dec_int8bq.onnx",
                         {"data": pattern(3, 112, 112)}),
        "minifasnet_v2_80": run(f"{shared}/minifasnet_v2_2.7_80x80.onnx", {"input": pattern(3, 80, 80)}),
        "minifasnet_v1se_80": run(f"{shared}/minifasnet_v1se_4.0_80x80.onnx", {"input": pattern(3, 80, 80)}),
    }
    with open(out, "w") as f:
        json.dump(ref, f)


if __name__ == "__main__":
    main()
