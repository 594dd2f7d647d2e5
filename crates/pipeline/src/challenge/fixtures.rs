//! Constructed challenge observations, for the tests of this crate and of the service's
//! protocol (feature `testing`): a deterministic generator, a face texture as a camera films it,
//! and a frame of a face at a given yaw.

use super::{FaceTrack, FrameObservation, Patch, Regions};

/// A small linear congruential generator, so many sequences can be drawn deterministically.
pub fn lcg(seed: u64) -> impl FnMut(u32) -> u32 {
    let mut s = seed;
    move |n| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) % u64::from(n)) as u32
    }
}

/// A smooth luma pattern seen through a camera: shifted by (dx, dy) px (a head never quite
/// still) plus noise from `seed` (the sensor's, drawn afresh each frame).
pub fn camera_patch(dx: f32, dy: f32, seed: u64) -> Patch {
    let mut noise = lcg(seed);
    let (w, h) = (48u32, 48u32);
    let luma = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32 + dx, (i / w) as f32 + dy);
            // A chirp, so that no shift or flip of the pattern looks like another part of it.
            let v = 128.0
                + 40.0 * (0.35 * x).sin() * (0.3 * y).cos()
                + 30.0 * (0.004 * (x * x + 2.0 * y * y)).sin()
                + (noise(3) as f32 - 1.0);
            v.round() as u8
        })
        .collect();
    Patch {
        x: 100,
        y: 80,
        width: w,
        height: h,
        luma,
    }
}

/// A frame of a face at `yaw`, its texture moved by `shift` px, with fresh sensor noise.
pub fn frame(yaw: f32, shift: f32, seed: u64) -> FrameObservation {
    FrameObservation {
        step: 0,
        face: Some(FaceTrack {
            bbox: [0.3 + yaw / 900.0, 0.2, 0.35, 0.45],
            yaw,
            pitch: 0.0,
            roll: 0.0,
            sharpness: 80.0,
            chroma: None,
            regions: Regions {
                centre: None,
                sides: None,
                background: None,
            },
        }),
        patch: Some(camera_patch(shift, 0.2 * shift, seed)),
    }
}
