//! Pixel-level helpers shared by the stages: sampling, resizing and tensor layout.

use image::RgbImage;

/// Channel order a network was trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// Bilinear sample at a sub-pixel position with the border replicated, as OpenCV's
/// `BORDER_REPLICATE` does: the networks were trained on crops made that way.
#[inline]
pub fn sample_bilinear(image: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = image.dimensions();
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let x0 = x.floor() as u32;
    let y0 = y.floor() as u32;
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let fx = x - x0 as f32;
    let fy = y - y0 as f32;
    let raw = image.as_raw();
    let stride = w as usize * 3;
    let at = |xx: u32, yy: u32, c: usize| raw[yy as usize * stride + xx as usize * 3 + c] as f32;
    let mut out = [0.0; 3];
    for (c, v) in out.iter_mut().enumerate() {
        let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
        let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
        *v = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// Resizes the rectangle `[x0, x1) x [y0, y1)` of `image` to `out_w x out_h` with plain bilinear
/// interpolation and pixel-centre alignment (OpenCV's `INTER_LINEAR`), which is how the
/// anti-spoofing models' training crops were made. Parts of the rectangle outside the image take
/// the nearest edge pixel.
pub fn resize_region(
    image: &RgbImage,
    (x0, y0, x1, y1): (f32, f32, f32, f32),
    out_w: u32,
    out_h: u32,
) -> RgbImage {
    let sx = (x1 - x0) / out_w as f32;
    let sy = (y1 - y0) / out_h as f32;
    RgbImage::from_fn(out_w, out_h, |j, i| {
        let x = x0 + (j as f32 + 0.5) * sx - 0.5;
        let y = y0 + (i as f32 + 0.5) * sy - 0.5;
        let p = sample_bilinear(image, x, y);
        image::Rgb([p[0].round() as u8, p[1].round() as u8, p[2].round() as u8])
    })
}

/// Resize with a triangle filter whose support widens with the scale factor, so downscaling
/// averages the source instead of aliasing it (which would cost the detector small faces).
pub fn resize_smooth(image: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    if (out_w, out_h) == (w, h) {
        return image.clone();
    }
    image::imageops::resize(image, out_w, out_h, image::imageops::FilterType::Triangle)
}

/// Lays out an image as a planar NCHW float tensor (values 0-255), placed at the top-left of a
/// `pad_w x pad_h` canvas filled with zeros.
pub fn planar_f32(image: &RgbImage, order: ChannelOrder, pad_w: usize, pad_h: usize) -> Vec<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    debug_assert!(pad_w >= w && pad_h >= h);
    let plane = pad_w * pad_h;
    let mut out = vec![0f32; 3 * plane];
    let raw = image.as_raw();
    for y in 0..h {
        for x in 0..w {
            let p = &raw[(y * w + x) * 3..(y * w + x) * 3 + 3];
            let idx = y * pad_w + x;
            let (c0, c2) = match order {
                ChannelOrder::Rgb => (p[0], p[2]),
                ChannelOrder::Bgr => (p[2], p[0]),
            };
            out[idx] = c0 as f32;
            out[plane + idx] = p[1] as f32;
            out[2 * plane + idx] = c2 as f32;
        }
    }
    out
}

/// Mean luma (BT.601) of an image, 0-255.
pub fn mean_luma(image: &RgbImage) -> f32 {
    let n = (image.width() * image.height()).max(1) as f64;
    let sum: f64 = image.pixels().map(|p| luma(p.0) as f64).sum();
    (sum / n) as f32
}

#[inline]
pub fn luma(p: [u8; 3]) -> f32 {
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

/// Variance of the 4-neighbour Laplacian of the luma: low on blurred images.
pub fn laplacian_variance(image: &RgbImage) -> f32 {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let gray: Vec<f32> = image.pixels().map(|p| luma(p.0)).collect();
    let (mut sum, mut sum_sq, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let c = gray[y * w + x];
            let lap = gray[y * w + x - 1]
                + gray[y * w + x + 1]
                + gray[(y - 1) * w + x]
                + gray[(y + 1) * w + x]
                - 4.0 * c;
            sum += lap as f64;
            sum_sq += (lap * lap) as f64;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_region_of_whole_image_keeps_a_gradient() {
        let image = RgbImage::from_fn(8, 8, |x, _| image::Rgb([(x * 30) as u8, 0, 0]));
        let same = resize_region(&image, (0.0, 0.0, 8.0, 8.0), 8, 8);
        assert_eq!(same, image);
        let half = resize_region(&image, (0.0, 0.0, 8.0, 8.0), 4, 4);
        // Output pixel 0 centres between source pixels 0 and 1.
        assert_eq!(half.get_pixel(0, 0).0[0], 15);
    }

    #[test]
    fn planar_layout_pads_and_swaps_channels() {
        let image = RgbImage::from_pixel(2, 1, image::Rgb([1, 2, 3]));
        let t = planar_f32(&image, ChannelOrder::Bgr, 4, 2);
        assert_eq!(t.len(), 3 * 8);
        assert_eq!((t[0], t[8], t[16]), (3.0, 2.0, 1.0));
        assert_eq!(t[2], 0.0);
    }

    #[test]
    fn laplacian_variance_separates_sharp_from_flat() {
        let flat = RgbImage::from_pixel(16, 16, image::Rgb([128, 128, 128]));
        let checker = RgbImage::from_fn(16, 16, |x, y| {
            let v = if (x + y) % 2 == 0 { 0 } else { 255 };
            image::Rgb([v, v, v])
        });
        assert_eq!(laplacian_variance(&flat), 0.0);
        assert!(laplacian_variance(&checker) > 1000.0);
    }
}
