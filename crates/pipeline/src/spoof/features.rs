//! Hand-made screen and print artefact measures on the face and its surround. Each is a plain
//! number, cheap (about a millisecond for all of them), deterministic and free of any model, so
//! it fails differently from MiniFASNet: that independence is what makes fusing them worth it.

use std::sync::Arc;

use image::RgbImage;
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use crate::detect::Face;
use crate::imaging::{luma, resize_region};

/// Names, in the order of [`SpoofFeatures::values`]; the fusion file refers to them by name.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "moire",
    "hf_ratio",
    "sat_mean",
    "sat_std",
    "blue_cast",
    "chroma_std",
    "specular",
    "contrast",
    "sharp_ratio",
    "straight_edge",
];
pub const N_FEATURES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpoofFeatures {
    pub values: [f32; N_FEATURES],
}

impl SpoofFeatures {
    pub fn get(&self, name: &str) -> Option<f32> {
        FEATURE_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| self.values[i])
    }

    pub fn named(&self) -> impl Iterator<Item = (&'static str, f32)> + '_ {
        FEATURE_NAMES
            .iter()
            .copied()
            .zip(self.values.iter().copied())
    }
}

/// A box scaled `scale` times around the face centre: (left, top, right, bottom).
fn scaled_box(face: &Face, scale: f32) -> (f32, f32, f32, f32) {
    let (cx, cy) = face.centre();
    let (w, h) = (face.width * scale, face.height * scale);
    (cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
}

pub fn measure(image: &RgbImage, face: &Face) -> SpoofFeatures {
    // Skin and features without hair or background: the central 60 % of the box, at a fixed
    // 64 px so colour figures do not depend on the face's size.
    let inner = resize_region(image, scaled_box(face, 0.6), 64, 64);
    let colour = colour_stats(&inner);
    let (moire, hf_ratio) = spectrum(image, face);
    let surround = Surround::new(image, face);
    SpoofFeatures {
        values: [
            moire,
            hf_ratio,
            colour.sat_mean,
            colour.sat_std,
            colour.blue_cast,
            colour.chroma_std,
            colour.specular,
            surround.contrast(),
            surround.sharp_ratio(),
            surround.straight_edge(),
        ],
    }
}

struct Colour {
    sat_mean: f32,
    sat_std: f32,
    blue_cast: f32,
    chroma_std: f32,
    specular: f32,
}

fn mean_std(v: &[f32]) -> (f32, f32) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, var.sqrt() as f32)
}

fn colour_stats(inner: &RgbImage) -> Colour {
    let mut sat = Vec::with_capacity(64 * 64);
    let mut cast = Vec::with_capacity(64 * 64);
    let (mut cb, mut cr) = (Vec::with_capacity(64 * 64), Vec::with_capacity(64 * 64));
    let mut bright = 0usize;
    for p in inner.pixels() {
        let [r, g, b] = p.0.map(f32::from);
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        sat.push(if max > 0.0 { (max - min) / max } else { 0.0 });
        cast.push((b - r) / (r + g + b + 1.0));
        let y = luma(p.0);
        cb.push((b - y) / 255.0);
        cr.push((r - y) / 255.0);
        // A glossy screen or photo reflects a light source as a near-white patch; skin's own
        // highlights are smaller and keep some colour.
        if y >= 235.0 && max - min < 30.0 {
            bright += 1;
        }
    }
    let (sat_mean, sat_std) = mean_std(&sat);
    let (cb_std, cr_std) = (mean_std(&cb).1, mean_std(&cr).1);
    Colour {
        sat_mean,
        sat_std,
        blue_cast: mean_std(&cast).0,
        chroma_std: (cb_std * cb_std + cr_std * cr_std).sqrt(),
        specular: bright as f32 / sat.len().max(1) as f32,
    }
}

fn fft(len: usize) -> Arc<dyn Fft<f32>> {
    FftPlanner::new().plan_fft_forward(len)
}

/// Periodic energy on the face at the image's own resolution (resampling would fold moiré
/// away). Returns (moire, hf_ratio): the strongest isolated peak of the mid/high band over the
/// band's median, and the share of high over mid frequencies, both as log10. The 8-pixel JPEG
/// grid's frequencies and the two axes (edges, image borders) are left out: re-encoding a live
/// image puts energy there without making it a screen.
fn spectrum(image: &RgbImage, face: &Face) -> (f32, f32) {
    let side = face.width.min(face.height) * 0.6;
    let n = [128usize, 64, 32]
        .into_iter()
        .find(|&n| n as f32 <= side)
        .unwrap_or(32);
    let (cx, cy) = face.centre();
    let (x0, y0) = (cx - n as f32 / 2.0, cy - n as f32 / 2.0);
    let (w, h) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let hann: Vec<f32> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / n as f32).cos())
        .collect();
    let mut grid: Vec<Complex32> = Vec::with_capacity(n * n);
    let mut values = Vec::with_capacity(n * n);
    for y in 0..n {
        for x in 0..n {
            let sx = (x0 as i64 + x as i64).clamp(0, w - 1) as usize;
            let sy = (y0 as i64 + y as i64).clamp(0, h - 1) as usize;
            let i = (sy * w as usize + sx) * 3;
            values.push(luma([raw[i], raw[i + 1], raw[i + 2]]));
        }
    }
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    for y in 0..n {
        for x in 0..n {
            grid.push(Complex32::new(
                (values[y * n + x] - mean) * hann[x] * hann[y],
                0.0,
            ));
        }
    }
    let plan = fft(n);
    for row in grid.chunks_mut(n) {
        plan.process(row);
    }
    let mut column = vec![Complex32::new(0.0, 0.0); n];
    for x in 0..n {
        for y in 0..n {
            column[y] = grid[y * n + x];
        }
        plan.process(&mut column);
        for y in 0..n {
            grid[y * n + x] = column[y];
        }
    }
    let block = n / 8;
    let (mut band, mut mid, mut high) = (Vec::new(), 0f64, 0f64);
    for v in 0..n {
        for u in 0..n {
            let fu = if u > n / 2 {
                u as i64 - n as i64
            } else {
                u as i64
            };
            let fv = if v > n / 2 {
                v as i64 - n as i64
            } else {
                v as i64
            };
            let r = ((fu * fu + fv * fv) as f32).sqrt() / n as f32;
            let p = grid[v * n + u].norm_sqr();
            if (1.0 / 16.0..0.25).contains(&r) {
                mid += p as f64;
            } else if r >= 0.25 {
                high += p as f64;
            }
            let on_grid = |f: i64| {
                let m = f.rem_euclid(block as i64);
                m == 0 || m == 1 || m == block as i64 - 1
            };
            if (0.125..=0.5).contains(&r)
                && fu.abs() > 1
                && fv.abs() > 1
                && !on_grid(fu)
                && !on_grid(fv)
            {
                band.push(p);
            }
        }
    }
    if band.is_empty() {
        return (0.0, 0.0);
    }
    band.sort_by(f32::total_cmp);
    let median = band[band.len() / 2].max(1e-6);
    let peak = band[band.len() - 1];
    (
        (peak / median).max(1.0).log10(),
        ((high + 1.0) / (mid + 1.0)).log10() as f32,
    )
}

/// The face's surround at a fixed scale: 2.5 face boxes resampled to 160 px, with a mask of the
/// pixels that lie inside the image (a tight crop has almost none).
struct Surround {
    gray: Vec<f32>,
    inside: Vec<bool>,
}

const RING: usize = 160;
const RING_SCALE: f32 = 2.5;

impl Surround {
    fn new(image: &RgbImage, face: &Face) -> Surround {
        let region = scaled_box(face, RING_SCALE);
        let resized = resize_region(image, region, RING as u32, RING as u32);
        let (w, h) = (image.width() as f32, image.height() as f32);
        let step = (region.2 - region.0) / RING as f32;
        let step_y = (region.3 - region.1) / RING as f32;
        let mut inside = Vec::with_capacity(RING * RING);
        for j in 0..RING {
            for i in 0..RING {
                let x = region.0 + (i as f32 + 0.5) * step;
                let y = region.1 + (j as f32 + 0.5) * step_y;
                inside.push(x >= 0.0 && y >= 0.0 && x < w && y < h);
            }
        }
        Surround {
            gray: resized.pixels().map(|p| luma(p.0)).collect(),
            inside,
        }
    }

    /// Whether (i, j) falls in the face box itself (the central 1/2.5 of the ring).
    fn in_face(i: usize, j: usize) -> bool {
        let lo = (RING as f32 * (0.5 - 0.5 / RING_SCALE)) as usize;
        let hi = (RING as f32 * (0.5 + 0.5 / RING_SCALE)) as usize;
        (lo..hi).contains(&i) && (lo..hi).contains(&j)
    }

    /// Spread of brightness over face and surround: a screen's black is grey and its glare
    /// washes the image out, a print cannot be brighter than the light on it.
    fn contrast(&self) -> f32 {
        let mut v: Vec<f32> = self
            .gray
            .iter()
            .zip(&self.inside)
            .filter(|(_, &i)| i)
            .map(|(&g, _)| g)
            .collect();
        if v.len() < 100 {
            return 0.0;
        }
        v.sort_by(f32::total_cmp);
        let at = |q: f32| v[((v.len() - 1) as f32 * q) as usize];
        (at(0.98) - at(0.02)) / 255.0
    }

    /// log10 of the face's Laplacian variance over its surround's. A live face stands in front
    /// of a background the camera focuses past; a replayed face and its "background" are one flat
    /// picture, equally sharp (or equally blurred). 0 when too little surround is in the image.
    fn sharp_ratio(&self) -> f32 {
        let (mut face, mut ring) = ((0f64, 0f64, 0f64), (0f64, 0f64, 0f64));
        for j in 1..RING - 1 {
            for i in 1..RING - 1 {
                let k = j * RING + i;
                if !(self.inside[k]
                    && self.inside[k - 1]
                    && self.inside[k + 1]
                    && self.inside[k - RING]
                    && self.inside[k + RING])
                {
                    continue;
                }
                let g = &self.gray;
                let lap = (g[k - 1] + g[k + 1] + g[k - RING] + g[k + RING] - 4.0 * g[k]) as f64;
                let acc = if Self::in_face(i, j) {
                    &mut face
                } else {
                    &mut ring
                };
                acc.0 += lap;
                acc.1 += lap * lap;
                acc.2 += 1.0;
            }
        }
        let outer = (RING * RING) as f64 * (1.0 - 1.0 / (RING_SCALE * RING_SCALE) as f64);
        if face.2 < 100.0 || ring.2 < 0.2 * outer {
            return 0.0;
        }
        let var = |(s, s2, n): (f64, f64, f64)| s2 / n - (s / n).powi(2);
        (((var(face) + 1.0) / (var(ring) + 1.0)).log10()) as f32
    }

    /// Length of the longest straight edge around the face, as a fraction of the ring's side: a
    /// phone's or tablet's bezel, a print's border. A coarse Hough transform over strong
    /// gradients outside the face box.
    fn straight_edge(&self) -> f32 {
        const ANGLES: usize = 36;
        let g = &self.gray;
        let mut points = Vec::new();
        let mut mags = Vec::new();
        for j in 1..RING - 1 {
            for i in 1..RING - 1 {
                let k = j * RING + i;
                if Self::in_face(i, j) || !self.inside[k] {
                    continue;
                }
                let gx = g[k + 1] - g[k - 1];
                let gy = g[k + RING] - g[k - RING];
                let mag = (gx * gx + gy * gy).sqrt();
                mags.push(mag);
                points.push((i, j, gy.atan2(gx), mag));
            }
        }
        if points.len() < 500 {
            return 0.0;
        }
        mags.sort_by(f32::total_cmp);
        // Strong edges: the top 10 % of gradients, and never mere noise.
        let strong = mags[mags.len() * 9 / 10].max(20.0);
        let diag = (2.0f32).sqrt() * RING as f32;
        let rhos = (2.0 * diag) as usize + 1;
        let mut acc = vec![0u16; ANGLES * rhos];
        let trig: Vec<(f32, f32)> = (0..ANGLES)
            .map(|a| {
                let t = a as f32 * std::f32::consts::PI / ANGLES as f32;
                (t.cos(), t.sin())
            })
            .collect();
        for &(i, j, theta, mag) in &points {
            if mag < strong {
                continue;
            }
            // Vote only for lines roughly along the edge (normal near the gradient direction).
            let t = theta.rem_euclid(std::f32::consts::PI);
            let centre = (t / std::f32::consts::PI * ANGLES as f32).round() as i64;
            for da in -1..=1i64 {
                let a = (centre + da).rem_euclid(ANGLES as i64) as usize;
                let (c, s) = trig[a];
                let rho = (i as f32 * c + j as f32 * s + diag).round() as usize;
                let cell = &mut acc[a * rhos + rho.min(rhos - 1)];
                *cell = cell.saturating_add(1);
            }
        }
        f32::from(*acc.iter().max().unwrap_or(&0)) / RING as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(size: f32, cx: f32, cy: f32) -> Face {
        Face {
            x: cx - size / 2.0,
            y: cy - size / 2.0,
            width: size,
            height: size,
            landmarks: [[0.0; 2]; 5],
            score: 1.0,
        }
    }

    #[test]
    fn stripes_on_the_face_make_a_moire_peak() {
        let flat = RgbImage::from_fn(400, 400, |x, y| {
            let v = 120.0 + 20.0 * ((x as f32 / 40.0).sin() + (y as f32 / 55.0).cos());
            image::Rgb([v as u8, v as u8, v as u8])
        });
        let mut striped = flat.clone();
        for (x, y, p) in striped.enumerate_pixels_mut() {
            // A period of 3.3 px on a slant: off the JPEG grid, off the axes.
            let s = (2.0 * std::f32::consts::PI * (x as f32 + 0.6 * y as f32) / 3.3).sin();
            p.0 = p.0.map(|c| (c as f32 + 25.0 * s).clamp(0.0, 255.0) as u8);
        }
        let f = face(220.0, 200.0, 200.0);
        let (plain, _) = spectrum(&flat, &f);
        let (moire, _) = spectrum(&striped, &f);
        assert!(moire > plain + 1.0, "moire {moire} vs plain {plain}");
    }

    #[test]
    fn a_bezel_line_is_a_straight_edge() {
        let f = face(100.0, 200.0, 200.0);
        let plain = RgbImage::from_pixel(400, 400, image::Rgb([90, 90, 90]));
        let mut bezel = plain.clone();
        for y in 0..400 {
            for x in 0..95 {
                bezel.put_pixel(x, y, image::Rgb([10, 10, 10]));
            }
        }
        let edge = |img: &RgbImage| Surround::new(img, &f).straight_edge();
        assert_eq!(edge(&plain), 0.0);
        assert!(edge(&bezel) > 0.8, "{}", edge(&bezel));
    }

    #[test]
    fn features_are_finite_on_a_tight_crop() {
        let img = RgbImage::from_fn(90, 90, |x, y| {
            image::Rgb([(x * 2) as u8, (y * 2) as u8, 100])
        });
        let f = measure(&img, &face(80.0, 45.0, 45.0));
        assert!(f.values.iter().all(|v| v.is_finite()), "{f:?}");
        assert_eq!(f.get("sharp_ratio"), Some(0.0));
    }
}
