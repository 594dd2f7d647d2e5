//! Temporal cues between the frames of a burst, without optical flow: landmark geometry,
//! block matching on small grey copies of the frames, and aligned-crop appearance.

use image::RgbImage;

use crate::detect::Face;
use crate::imaging::luma;

/// Width of the grey copy block matching runs on: motion of a face at arm's length is several
/// pixels even at this size, and the search stays a few milliseconds per frame pair.
pub const SMALL_WIDTH: u32 = 160;
const BLOCK: usize = 12;
const SEARCH: i32 = 8;
/// Blocks flatter than this (grey-level standard deviation) cannot be matched reliably.
const MIN_BLOCK_STD: f32 = 4.0;

/// A frame's grey copy at `SMALL_WIDTH`, and the factor from frame to grey-copy pixels.
pub struct Small {
    pub w: usize,
    pub h: usize,
    pub px: Vec<f32>,
    pub scale: f32,
}

impl Small {
    pub fn of(image: &RgbImage) -> Small {
        let (w0, h0) = image.dimensions();
        let w = SMALL_WIDTH.min(w0).max(1);
        let h = ((h0 as f32 * w as f32 / w0 as f32).round() as u32).max(1);
        let scale = w as f32 / w0 as f32;
        // Box-average each output pixel's footprint: the grey copy doubles as the duplicate
        // detector, and averaging keeps sensor noise from hiding a repeated frame.
        let (fx, fy) = (w0 as f32 / w as f32, h0 as f32 / h as f32);
        let raw = image.as_raw();
        let mut px = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            let (y0, y1) = (
                (y as f32 * fy) as u32,
                (((y + 1) as f32 * fy) as u32).min(h0),
            );
            for x in 0..w {
                let (x0, x1) = (
                    (x as f32 * fx) as u32,
                    (((x + 1) as f32 * fx) as u32).min(w0),
                );
                let (mut sum, mut n) = (0f32, 0f32);
                for yy in y0..y1.max(y0 + 1) {
                    for xx in x0..x1.max(x0 + 1) {
                        let i = (yy as usize * w0 as usize + xx as usize) * 3;
                        sum += luma([raw[i], raw[i + 1], raw[i + 2]]);
                        n += 1.0;
                    }
                }
                px.push(sum / n);
            }
        }
        Small {
            w: w as usize,
            h: h as usize,
            px,
            scale,
        }
    }

    /// Mean absolute grey-level difference from another copy of the same size.
    pub fn mean_abs_diff(&self, other: &Small) -> f32 {
        if self.px.len() != other.px.len() {
            return f32::INFINITY;
        }
        self.px
            .iter()
            .zip(&other.px)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / self.px.len().max(1) as f32
    }

    fn at(&self, x: i32, y: i32) -> f32 {
        self.px[y as usize * self.w + x as usize]
    }
}

/// Distance between the eye landmarks, the unit every geometric cue is expressed in, so that
/// the cues do not depend on the frame size or the distance to the camera.
pub fn eye_span(face: &Face) -> f32 {
    let [a, b] = [face.landmarks[0], face.landmarks[1]];
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2))
        .sqrt()
        .max(1.0)
}

fn centroid(l: &[[f32; 2]; 5]) -> [f32; 2] {
    let s = l.iter().fold([0.0, 0.0], |s, p| [s[0] + p[0], s[1] + p[1]]);
    [s[0] / 5.0, s[1] / 5.0]
}

/// RMS distance left after the best affine map from `a`'s landmarks onto `b`'s, in eye spans.
/// A flat picture moved, tilted or zoomed in front of the camera moves its landmarks by an
/// affine map (a homography, to first order); a head turning, nodding or changing expression
/// does not, because the nose sits in front of the eyes and mouth.
pub fn affine_residual(a: &Face, b: &Face) -> f32 {
    let (ca, cb) = (centroid(&a.landmarks), centroid(&b.landmarks));
    let p: Vec<[f64; 2]> = a
        .landmarks
        .iter()
        .map(|q| [f64::from(q[0] - ca[0]), f64::from(q[1] - ca[1])])
        .collect();
    let r: Vec<[f64; 2]> = b
        .landmarks
        .iter()
        .map(|q| [f64::from(q[0] - cb[0]), f64::from(q[1] - cb[1])])
        .collect();
    // Centred least squares: the translation is the centroid difference, the linear part
    // M = (R^T P)(P^T P)^-1.
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    let mut rp = [[0.0f64; 2]; 2];
    for (pi, ri) in p.iter().zip(&r) {
        sxx += pi[0] * pi[0];
        sxy += pi[0] * pi[1];
        syy += pi[1] * pi[1];
        for k in 0..2 {
            rp[k][0] += ri[k] * pi[0];
            rp[k][1] += ri[k] * pi[1];
        }
    }
    let det = sxx * syy - sxy * sxy;
    if det.abs() < 1e-9 {
        return 0.0;
    }
    let inv = [[syy / det, -sxy / det], [-sxy / det, sxx / det]];
    let m = [
        [
            rp[0][0] * inv[0][0] + rp[0][1] * inv[1][0],
            rp[0][0] * inv[0][1] + rp[0][1] * inv[1][1],
        ],
        [
            rp[1][0] * inv[0][0] + rp[1][1] * inv[1][0],
            rp[1][0] * inv[0][1] + rp[1][1] * inv[1][1],
        ],
    ];
    let sq: f64 = p
        .iter()
        .zip(&r)
        .map(|(pi, ri)| {
            let ex = m[0][0] * pi[0] + m[0][1] * pi[1] - ri[0];
            let ey = m[1][0] * pi[0] + m[1][1] * pi[1] - ri[1];
            ex * ex + ey * ey
        })
        .sum();
    (sq / 5.0).sqrt() as f32 / eye_span(a)
}

/// How the face moved from a reference frame to another, against what surrounds it, in eye
/// spans of the reference face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairMotion {
    /// Median displacement of the textured blocks inside the face, `None` when too few.
    pub face: Option<[f32; 2]>,
    /// Median displacement of the textured blocks outside the face, `None` when too few.
    pub background: Option<[f32; 2]>,
}

impl PairMotion {
    /// Face displacement relative to the background; `None` unless both were measured.
    pub fn relative(&self) -> Option<f32> {
        let (f, b) = (self.face?, self.background?);
        Some((f[0] - b[0]).hypot(f[1] - b[1]))
    }
}

/// Face and background motion from frame `a` to frame `b`, both by block matching so that a
/// picture moved as a whole gives the same displacement to both whatever the landmarks'
/// jitter. Face blocks lie inside the central part of the face box and are searched around the
/// landmarks' displacement (a head can move further than the search radius); background
/// blocks lie outside the face box grown by half its size (hair, ears and neck move with the
/// head).
pub fn pair_motion(sa: &Small, fa: &Face, sb: &Small, fb: &Face) -> PairMotion {
    let none = PairMotion {
        face: None,
        background: None,
    };
    if (sa.w, sa.h) != (sb.w, sb.h) {
        return none;
    }
    let span = eye_span(fa);
    let s = sa.scale;
    let (ca, cb) = (centroid(&fa.landmarks), centroid(&fb.landmarks));
    let predicted = [
        ((cb[0] - ca[0]) * s).round() as i32,
        ((cb[1] - ca[1]) * s).round() as i32,
    ];
    let grown = |g: f32| {
        (
            (fa.x - g * fa.width) * s,
            (fa.y - g * fa.height) * s,
            (fa.x + (1.0 + g) * fa.width) * s,
            (fa.y + (1.0 + g) * fa.height) * s,
        )
    };
    let outer = grown(0.5);
    let inner = grown(-0.15);
    let (mut face, mut bg) = (Vec::new(), Vec::new());
    let half = (BLOCK / 2) as i32;
    let mut by = 0;
    while by + BLOCK <= sa.h {
        let mut bx = 0;
        while bx + BLOCK <= sa.w {
            let (x0, y0, x1, y1) = (
                bx as f32,
                by as f32,
                (bx + BLOCK) as f32,
                (by + BLOCK) as f32,
            );
            let touches = |r: (f32, f32, f32, f32)| x1 > r.0 && x0 < r.2 && y1 > r.1 && y0 < r.3;
            let (cx, cy) = ((bx as i32 + half) as f32, (by as i32 + half) as f32);
            let centre_inside = cx > inner.0 && cx < inner.2 && cy > inner.1 && cy < inner.3;
            let target = if centre_inside {
                Some((&mut face, predicted, FACE_SEARCH))
            } else if !touches(outer) {
                Some((&mut bg, [0, 0], SEARCH))
            } else {
                None
            };
            if let Some((acc, centre, radius)) = target {
                if let Some(d) = match_block(sa, sb, bx as i32, by as i32, centre, radius) {
                    acc.push(([cx, cy], d));
                }
            }
            bx += BLOCK;
        }
        by += BLOCK;
    }
    if face.len() < 3 {
        return none;
    }
    let mut fx: Vec<f32> = face.iter().map(|(_, d)| d[0]).collect();
    let mut fy: Vec<f32> = face.iter().map(|(_, d)| d[1]).collect();
    let face_d = [median(&mut fx), median(&mut fy)];
    let unit = |d: [f32; 2]| [d[0] / s / span, d[1] / s / span];
    PairMotion {
        face: Some(unit(face_d)),
        background: plane_at(&bg).map(unit),
    }
}

/// The background's displacement: the median block's. An affine motion field fitted to the
/// blocks was tried (a picture rotated or zoomed moves its corners differently) and measured
/// worse: block-matching outliers tilt the fit, and the error lands on the face.
fn plane_at(blocks: &[([f32; 2], [f32; 2])]) -> Option<[f32; 2]> {
    if blocks.len() < 4 {
        return None;
    }
    let mut dx: Vec<f32> = blocks.iter().map(|b| b.1[0]).collect();
    let mut dy: Vec<f32> = blocks.iter().map(|b| b.1[1]).collect();
    Some([median(&mut dx), median(&mut dy)])
}

/// Search radius around the landmarks' prediction for face blocks, grey-copy pixels.
const FACE_SEARCH: i32 = 3;

/// Best displacement of a block from `a` to `b` within `radius` of `centre`, by the sum of
/// absolute differences, refined to a fraction of a pixel by a parabola through the minimum
/// and its neighbours. `None` for a flat block or a search window leaving the frame.
fn match_block(
    a: &Small,
    b: &Small,
    bx: i32,
    by: i32,
    centre: [i32; 2],
    radius: i32,
) -> Option<[f32; 2]> {
    let n = (BLOCK * BLOCK) as f32;
    let block: Vec<f32> = (0..BLOCK as i32)
        .flat_map(|y| (0..BLOCK as i32).map(move |x| (x, y)))
        .map(|(x, y)| a.at(bx + x, by + y))
        .collect();
    let mean = block.iter().sum::<f32>() / n;
    let var = block.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
    if var.sqrt() < MIN_BLOCK_STD {
        return None;
    }
    let reach = radius + 1;
    let (lo_x, lo_y) = (bx + centre[0] - reach, by + centre[1] - reach);
    let (hi_x, hi_y) = (
        bx + centre[0] + reach + BLOCK as i32,
        by + centre[1] + reach + BLOCK as i32,
    );
    if lo_x < 0 || lo_y < 0 || hi_x > b.w as i32 || hi_y > b.h as i32 {
        return None;
    }
    let sad = |ox: i32, oy: i32| -> f32 {
        let mut s = 0.0;
        for y in 0..BLOCK as i32 {
            for x in 0..BLOCK as i32 {
                s +=
                    (block[(y * BLOCK as i32 + x) as usize] - b.at(bx + x + ox, by + y + oy)).abs();
            }
        }
        s
    };
    let mut best = (f32::INFINITY, [0i32; 2]);
    for oy in centre[1] - radius..=centre[1] + radius {
        for ox in centre[0] - radius..=centre[0] + radius {
            let v = sad(ox, oy);
            if v < best.0 {
                best = (v, [ox, oy]);
            }
        }
    }
    let [ox, oy] = best.1;
    let refine = |m: f32, p: f32| {
        let denom = m - 2.0 * best.0 + p;
        if denom > 1e-6 {
            (0.5 * (m - p) / denom).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    };
    Some([
        ox as f32 + refine(sad(ox - 1, oy), sad(ox + 1, oy)),
        oy as f32 + refine(sad(ox, oy - 1), sad(ox, oy + 1)),
    ])
}

/// Median of a non-empty slice (reorders it); 0 for an empty one.
pub fn median(v: &mut [f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Grey levels of an aligned 112x112 crop inside `rect` (x, y, w, h).
pub fn grey_region(aligned: &RgbImage, (x, y, w, h): (u32, u32, u32, u32)) -> Vec<f32> {
    let mut out = Vec::with_capacity((w * h) as usize);
    for yy in y..(y + h).min(aligned.height()) {
        for xx in x..(x + w).min(aligned.width()) {
            out.push(luma(aligned.get_pixel(xx, yy).0));
        }
    }
    out
}

/// The face without hair or background in the aligned crop: eyes to chin, cheek to cheek.
pub const FACE_REGION: (u32, u32, u32, u32) = (24, 36, 64, 68);
/// Both eyes and brows in the aligned crop: where a blink shows.
pub const EYE_REGION: (u32, u32, u32, u32) = (24, 38, 64, 26);

/// Normalised cross-correlation of two equally sized grey patches, -1..1.
pub fn ncc(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let n = a.len() as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x - ma, y - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa < 1e-6 || sbb < 1e-6 {
        return 0.0;
    }
    sab / (saa * sbb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_with(landmarks: [[f32; 2]; 5]) -> Face {
        Face {
            x: 80.0,
            y: 80.0,
            width: 100.0,
            height: 120.0,
            landmarks,
            score: 0.9,
        }
    }

    const L: [[f32; 2]; 5] = [
        [110.0, 120.0],
        [150.0, 120.0],
        [130.0, 145.0],
        [115.0, 165.0],
        [145.0, 165.0],
    ];

    #[test]
    fn affine_motion_leaves_no_residual_and_a_moved_nose_does() {
        let a = face_with(L);
        // Rotate, shear, scale and shift: still one plane.
        let moved = L.map(|[x, y]| [1.1 * x + 0.2 * y + 7.0, -0.1 * x + 0.9 * y - 3.0]);
        assert!(affine_residual(&a, &face_with(moved)) < 1e-4);
        let mut turned = L;
        turned[2][0] += 8.0; // the nose swings sideways as the head turns
        let r = affine_residual(&a, &face_with(turned));
        assert!(r > 0.05, "{r}");
    }

    #[test]
    fn ncc_is_one_for_a_gain_change_and_low_for_unrelated_patches() {
        let a: Vec<f32> = (0..100).map(|i| ((i * 37) % 23) as f32).collect();
        let b: Vec<f32> = a.iter().map(|v| 2.0 * v + 5.0).collect();
        assert!((ncc(&a, &b) - 1.0).abs() < 1e-5);
        let c: Vec<f32> = (0..100).map(|i| ((i * 11) % 7) as f32).collect();
        assert!(ncc(&a, &c).abs() < 0.5);
        assert_eq!(ncc(&a, &a[..50]), 0.0);
    }

    #[test]
    fn block_matching_finds_a_shift_of_textured_background() {
        let tex = |x: u32, y: u32| ((x * 7 + y * 13) % 31 * 8 + (x * y) % 5) as u8;
        let a = RgbImage::from_fn(160, 120, |x, y| {
            let v = tex(x, y);
            image::Rgb([v, v, v])
        });
        let b = RgbImage::from_fn(160, 120, |x, y| {
            let v = tex(x.saturating_sub(3), y.saturating_sub(2));
            image::Rgb([v, v, v])
        });
        let f = face_with(L);
        let m = pair_motion(&Small::of(&a), &f, &Small::of(&b), &f);
        let (bg, face) = (m.background.expect("textured"), m.face.expect("textured"));
        let span = eye_span(&f);
        assert!(
            (bg[0] * span - 3.0).abs() < 0.05 && (bg[1] * span - 2.0).abs() < 0.05,
            "{bg:?}"
        );
        // The whole picture moved, face included: no motion of one against the other.
        assert!(m.relative().unwrap() * span < 0.1, "{face:?}");
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
