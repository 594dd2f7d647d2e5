//! Similarity-transform alignment of a face onto the 112x112 ArcFace template, the geometry
//! SFace was trained on.

use image::RgbImage;

use crate::imaging::sample_bilinear;

pub const ALIGNED_SIDE: u32 = 112;

/// Where the five landmarks sit in a 112x112 ArcFace crop (image-left eye first).
pub const ARCFACE_TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A 2-D similarity transform `x' = [a -b; b a] x + t` (rotation, uniform scale, translation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// Least-squares fit mapping `src` onto `dst` (Umeyama without reflection, which in 2-D has
    /// this closed form; no SVD needed).
    pub fn estimate(src: &[[f32; 2]; 5], dst: &[[f32; 2]; 5]) -> Similarity {
        let mean = |pts: &[[f32; 2]; 5]| {
            let (sx, sy) = pts
                .iter()
                .fold((0.0, 0.0), |(x, y), p| (x + p[0] as f64, y + p[1] as f64));
            (sx / 5.0, sy / 5.0)
        };
        let (mpx, mpy) = mean(src);
        let (mqx, mqy) = mean(dst);
        let (mut sxx, mut sxy, mut var) = (0f64, 0f64, 0f64);
        for (p, q) in src.iter().zip(dst) {
            let (ax, ay) = (p[0] as f64 - mpx, p[1] as f64 - mpy);
            let (bx, by) = (q[0] as f64 - mqx, q[1] as f64 - mqy);
            sxx += ax * bx + ay * by;
            sxy += ax * by - ay * bx;
            var += ax * ax + ay * ay;
        }
        let var = var.max(1e-9);
        let (a, b) = (sxx / var, sxy / var);
        Similarity {
            a: a as f32,
            b: b as f32,
            tx: (mqx - (a * mpx - b * mpy)) as f32,
            ty: (mqy - (b * mpx + a * mpy)) as f32,
        }
    }

    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    pub fn inverse(&self) -> Similarity {
        let d = (self.a * self.a + self.b * self.b).max(1e-12);
        let (a, b) = (self.a / d, -self.b / d);
        Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        }
    }

    /// Scale factor (source pixels to destination pixels).
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// Warps the face with these landmarks to the 112x112 template crop (bilinear, border
/// replicated, as OpenCV's `warpAffine` does for SFace's own `alignCrop`).
pub fn align_face(image: &RgbImage, landmarks: &[[f32; 2]; 5]) -> RgbImage {
    let to_crop = Similarity::estimate(landmarks, &ARCFACE_TEMPLATE);
    warp(image, &to_crop, ALIGNED_SIDE)
}

fn warp(image: &RgbImage, to_crop: &Similarity, side: u32) -> RgbImage {
    let back = to_crop.inverse();
    RgbImage::from_fn(side, side, |u, v| {
        let [x, y] = back.apply([u as f32, v as f32]);
        let p = sample_bilinear(image, x, y);
        image::Rgb([p[0].round() as u8, p[1].round() as u8, p[2].round() as u8])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 2], b: [f32; 2], tol: f32) -> bool {
        (a[0] - b[0]).abs() < tol && (a[1] - b[1]).abs() < tol
    }

    #[test]
    fn recovers_a_known_similarity() {
        let truth = Similarity {
            a: 0.8 * 0.3f32.cos(),
            b: 0.8 * 0.3f32.sin(),
            tx: 12.0,
            ty: -7.0,
        };
        let src = [
            [100.0, 120.0],
            [160.0, 118.0],
            [131.0, 150.0],
            [108.0, 185.0],
            [152.0, 184.0],
        ];
        let dst = src.map(|p| truth.apply(p));
        let fit = Similarity::estimate(&src, &dst);
        assert!((fit.a - truth.a).abs() < 1e-4 && (fit.b - truth.b).abs() < 1e-4);
        assert!((fit.tx - truth.tx).abs() < 1e-2 && (fit.ty - truth.ty).abs() < 1e-2);
        for p in src {
            assert!(close(fit.inverse().apply(fit.apply(p)), p, 1e-3));
        }
    }

    #[test]
    fn template_maps_onto_itself() {
        let fit = Similarity::estimate(&ARCFACE_TEMPLATE, &ARCFACE_TEMPLATE);
        assert!((fit.a - 1.0).abs() < 1e-5 && fit.b.abs() < 1e-5 && fit.tx.abs() < 1e-3);
    }

    #[test]
    fn aligned_crop_puts_landmarks_on_the_template() {
        // Paint a dot at each landmark of a face that is twice the template size, rotated 10°,
        // and check each dot lands on its template point in the crop.
        let rot = Similarity {
            a: 2.0 * 0.17f32.cos(),
            b: 2.0 * 0.17f32.sin(),
            tx: 90.0,
            ty: 40.0,
        };
        let landmarks = ARCFACE_TEMPLATE.map(|p| rot.apply(p));
        let mut image = RgbImage::from_pixel(400, 400, image::Rgb([0, 0, 0]));
        for p in landmarks {
            for dy in -2..=2 {
                for dx in -2..=2 {
                    image.put_pixel(
                        (p[0].round() as i32 + dx) as u32,
                        (p[1].round() as i32 + dy) as u32,
                        image::Rgb([255, 255, 255]),
                    );
                }
            }
        }
        let crop = align_face(&image, &landmarks);
        assert_eq!(crop.dimensions(), (112, 112));
        for t in ARCFACE_TEMPLATE {
            let px = crop.get_pixel(t[0].round() as u32, t[1].round() as u32).0[0];
            assert!(px > 200, "landmark {t:?} landed on {px}");
        }
        assert_eq!(crop.get_pixel(5, 5).0[0], 0);
    }
}
