//! The shipped SFace keeps its fully-connected layer in int8 and the pipeline runs it
//! (crates/pipeline/src/qgemm.rs). On real faces its embeddings must be those of the same file
//! with that layer expanded to float32 and run by tract, up to summation order.

mod common;

use facegate_models::dequantize_onnx;
use facegate_pipeline::embed::Embedder;

#[test]
fn int8_fc_layer_gives_the_float32_embeddings() {
    let shipped = common::prepared().sface;
    let float = dequantize_onnx(&shipped).expect("the kept int8 weight expands");
    assert!(
        float.len() > shipped.len() + 15_000_000,
        "the float32 layer is the big part"
    );
    let split = Embedder::load(shipped).expect("shipped SFace loads");
    let whole = Embedder::load(float).expect("float32 SFace loads");

    let pipeline = common::pipeline();
    let images = [
        "faces/lfw/Abel_Pacheco/Abel_Pacheco_0001.jpg",
        "faces/lfw/Akhmed_Zakayev/Akhmed_Zakayev_0003.jpg",
        "video/enroll_portrait_apfol_s1_t9.5s.jpg",
        "liveness/frames/apfol_s1/live_003.jpg",
    ];
    let mut worst = 1f32;
    for path in images {
        let image = pipeline.decode(&common::read(path)).expect("decodes");
        let faces = pipeline.detect(&image).expect("detects");
        let aligned = pipeline.align(&image, &faces[0]);
        for flip in [false, true] {
            let a = split.embed(&aligned, flip).unwrap();
            let b = whole.embed(&aligned, flip).unwrap();
            let max_diff =
                a.0.iter()
                    .zip(&b.0)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
            assert!(max_diff < 1e-4, "{path}: max |diff| {max_diff}");
            worst = worst.min(a.cosine(&b));
        }
    }
    eprintln!("int8 vs float32 fc layer: lowest cosine {worst:.7}");
    assert!(worst > 0.99999, "{worst}");
}
