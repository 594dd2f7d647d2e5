//! Do two frames come from a camera filming a living face, or from one image re-encoded?
//!
//! Two frames of a real face taken a few hundred milliseconds apart differ in two ways: the
//! sensor's noise is drawn afresh, and the head never holds perfectly still, so every edge of
//! the face moves a little. Copies of one still differ only by re-encoding (almost nothing), or
//! by whatever noise a forger adds, which is not tied to the face's edges. So the check keeps a
//! small luma patch of each frame at its absolute position, compares two frames on the pixels
//! both patches cover (the same pixels: a detector that jitters by a pixel on a re-encoded
//! still must not create motion that is not there), removes a global gain and offset (the
//! light may change between the frames), and asks how much of what is left a small local
//! motion explains.

use image::RgbImage;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::detect::Face;
use crate::imaging::luma;

/// Largest patch side kept per frame, pixels: enough blocks for the motion fit (25), small
/// enough to keep for 16 frames and to store one with a challenge (4 KB).
const MAX_SIDE: u32 = 64;
/// Side of the blocks in which a local motion is fitted.
const BLOCK: usize = 12;

/// The luma of the face between the eyes and the mouth, at the frame's own resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patch {
    /// Absolute position of the patch's top-left pixel in the frame.
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// Rounded luma, row by row; hex in JSON.
    #[serde(serialize_with = "to_hex", deserialize_with = "from_hex")]
    pub luma: Vec<u8>,
}

fn to_hex<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.serialize_str(&text)
}

fn from_hex<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    if text.len() % 2 != 0 {
        return Err(serde::de::Error::custom("odd-length hex"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(serde::de::Error::custom))
        .collect()
}

impl Patch {
    pub fn from_face(image: &RgbImage, face: &Face) -> Option<Patch> {
        let l = &face.landmarks;
        let d = ((l[1][0] - l[0][0]).powi(2) + (l[1][1] - l[0][1]).powi(2)).sqrt();
        let eye_y = (l[0][1] + l[1][1]) / 2.0;
        let mouth_y = (l[3][1] + l[4][1]) / 2.0;
        let cx = (l[0][0] + l[1][0] + l[2][0]) / 3.0;
        let cy = (eye_y + mouth_y) / 2.0;
        let half_w = ((d * 0.8).min(MAX_SIDE as f32 / 2.0)).max(4.0);
        let half_h = (((mouth_y - eye_y) * 0.75).min(MAX_SIDE as f32 / 2.0)).max(4.0);
        let x0 = (cx - half_w).max(0.0) as u32;
        let y0 = (cy - half_h).max(0.0) as u32;
        let x1 = ((cx + half_w) as u32).min(image.width());
        let y1 = ((cy + half_h) as u32).min(image.height());
        if x1 < x0 + 2 * BLOCK as u32 || y1 < y0 + 2 * BLOCK as u32 {
            return None;
        }
        let mut values = Vec::with_capacity(((x1 - x0) * (y1 - y0)) as usize);
        for y in y0..y1 {
            for x in x0..x1 {
                values.push(luma(image.get_pixel(x, y).0).round() as u8);
            }
        }
        Some(Patch {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
            luma: values,
        })
    }

    fn at(&self, x: u32, y: u32) -> f32 {
        f32::from(self.luma[((y - self.y) * self.width + (x - self.x)) as usize])
    }
}

/// How two frames differ once a global change of light is removed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairTexture {
    /// RMS of the luma difference left after the gain and offset fit, grey levels.
    pub residual: f32,
    /// Share of that difference a local motion explains (a translation fitted per block of
    /// 12x12 px to the luma gradient), 0-1. Pure noise gives about 2/144 ≈ 0.014.
    pub motion: f32,
    /// Correlation of that difference with itself one pixel over (mean of both directions):
    /// a face that moved leaves smooth, connected differences along its features; noise added
    /// to each copy of a still is grainy (near 0 before compression).
    pub smoothness: f32,
}

/// Compares two patches on the pixels both cover; `None` when they overlap too little.
pub fn compare(a: &Patch, b: &Patch) -> Option<PairTexture> {
    let x0 = a.x.max(b.x) + 1;
    let y0 = a.y.max(b.y) + 1;
    let x1 = (a.x + a.width).min(b.x + b.width).saturating_sub(1);
    let y1 = (a.y + a.height).min(b.y + b.height).saturating_sub(1);
    if x1 < x0 + 2 * BLOCK as u32 || y1 < y0 + 2 * BLOCK as u32 {
        return None;
    }
    let (w, h) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let mut pa = Vec::with_capacity(w * h);
    let mut pb = Vec::with_capacity(w * h);
    let mut gx = Vec::with_capacity(w * h);
    let mut gy = Vec::with_capacity(w * h);
    for y in y0..y1 {
        for x in x0..x1 {
            pa.push(a.at(x, y));
            pb.push(b.at(x, y));
            // Central differences of the mean of both frames: the motion between them.
            let m = |xx: u32, yy: u32| (a.at(xx, yy) + b.at(xx, yy)) / 2.0;
            gx.push((m(x + 1, y) - m(x - 1, y)) / 2.0);
            gy.push((m(x, y + 1) - m(x, y - 1)) / 2.0);
        }
    }
    // b ≈ g·a + o: a change of exposure or of the screen's light is not texture.
    let n = pa.len() as f64;
    let (ma, mb) = (
        pa.iter().map(|&v| f64::from(v)).sum::<f64>() / n,
        pb.iter().map(|&v| f64::from(v)).sum::<f64>() / n,
    );
    let (mut sab, mut saa) = (0f64, 0f64);
    for (&va, &vb) in pa.iter().zip(&pb) {
        sab += (f64::from(va) - ma) * (f64::from(vb) - mb);
        saa += (f64::from(va) - ma).powi(2);
    }
    let g = if saa > 1e-9 { sab / saa } else { 1.0 };
    let diff: Vec<f32> = pa
        .iter()
        .zip(&pb)
        .map(|(&va, &vb)| (f64::from(vb) - mb - g * (f64::from(va) - ma)) as f32)
        .collect();
    let total: f64 = diff.iter().map(|&v| f64::from(v).powi(2)).sum();
    let residual = (total / n).sqrt() as f32;
    // Per block, d ≈ u·gx + v·gy (+ c): the least-squares share of the energy explained.
    let mut explained = 0f64;
    for by in (0..h - BLOCK + 1).step_by(BLOCK) {
        for bx in (0..w - BLOCK + 1).step_by(BLOCK) {
            explained += block_fit(&diff, &gx, &gy, w, bx, by);
        }
    }
    let (mut across, mut down) = (0f64, 0f64);
    for y in 0..h {
        for x in 0..w {
            let d = f64::from(diff[y * w + x]);
            if x + 1 < w {
                across += d * f64::from(diff[y * w + x + 1]);
            }
            if y + 1 < h {
                down += d * f64::from(diff[(y + 1) * w + x]);
            }
        }
    }
    Some(PairTexture {
        smoothness: if total > 1e-9 {
            ((across + down) / (2.0 * total)) as f32
        } else {
            0.0
        },
        residual,
        motion: if total > 1e-9 {
            (explained / total) as f32
        } else {
            0.0
        },
    })
}

/// Energy of `d` within one block explained by a translation: the projection of the centred
/// difference on the span of the centred gradients.
fn block_fit(d: &[f32], gx: &[f32], gy: &[f32], w: usize, bx: usize, by: usize) -> f64 {
    let idx = |i: usize| (by + i / BLOCK) * w + bx + i % BLOCK;
    let k = (BLOCK * BLOCK) as f64;
    let mean = |v: &[f32]| {
        (0..BLOCK * BLOCK)
            .map(|i| f64::from(v[idx(i)]))
            .sum::<f64>()
            / k
    };
    let (md, mx, my) = (mean(d), mean(gx), mean(gy));
    let (mut xx, mut yy, mut xy, mut dx, mut dy) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for i in 0..BLOCK * BLOCK {
        let j = idx(i);
        let (vd, vx, vy) = (
            f64::from(d[j]) - md,
            f64::from(gx[j]) - mx,
            f64::from(gy[j]) - my,
        );
        xx += vx * vx;
        yy += vy * vy;
        xy += vx * vy;
        dx += vd * vx;
        dy += vd * vy;
    }
    let det = xx * yy - xy * xy;
    if det <= 1e-6 * (xx * yy).max(1e-12) {
        // A flat block or one edge direction: fit along the stronger gradient alone.
        let (s, t) = if xx >= yy { (xx, dx) } else { (yy, dy) };
        return if s > 1e-9 { t * t / s } else { 0.0 };
    }
    let u = (yy * dx - xy * dy) / det;
    let v = (xx * dy - xy * dx) / det;
    u * dx + v * dy
}
