//! A simulation of a phone screen's light falling on a real face, for the pass side of the
//! FLASHING checks: there is no real footage of a face under flashes in ../shared/data. It is
//! kept apart from the checks (src/challenge/flashing.rs) on purpose: it is built from the
//! physics the checks rely on, so passing it shows the checks accept what that physics
//! produces, not that real faces produce it.
//!
//! Model: the screen is a broad source in front of the face, along the camera's axis. The head
//! is an ellipsoid over the detected face box (plus a bump at the nose): the light a point
//! receives goes with the cosine between its surface normal and the axis (Lambert) and falls
//! off with the square of its distance; the background sits `background_distance` times
//! further than the face. Each channel of a pixel is scaled by `1 + share · irradiance ·
//! colour`: the screen adds light of its colour to the ambient light already in the frame.
//!
//! What it cannot show: skin's specular highlights and subsurface scattering; hair, ears, neck
//! and shoulders (everything outside the face ellipse is treated as background); a camera's
//! automatic exposure and white balance reacting to the flash; the screen's real spectrum,
//! brightness against daylight, and its own refresh; rolling-shutter frames caught half-way;
//! real backgrounds at mixed depths. Sensor noise and head motion are not simulated: they come
//! from the real consecutive frames the light is added to.

use facegate_pipeline::challenge::Colour;
use facegate_pipeline::Face;
use image::RgbImage;

#[derive(Debug, Clone, Copy)]
pub struct Screen {
    /// The screen's light on a frontal point of the face, as a share of the ambient light.
    pub share: f32,
    /// Background distance over face distance.
    pub background_distance: f32,
    /// Head radius over face distance (8 cm at 30 cm ≈ 0.27).
    pub head_depth: f32,
}

impl Screen {
    /// A phone at arm's length indoors, a wall a metre behind.
    pub const PHONE: Screen = Screen {
        share: 0.10,
        background_distance: 3.0,
        head_depth: 0.27,
    };
}

/// The frame `img` as it would be exposed while the screen shows `colour` (`None`: dark).
pub fn light(img: &RgbImage, face: &Face, colour: Option<Colour>, screen: Screen) -> RgbImage {
    let Some(colour) = colour else {
        return img.clone();
    };
    let c = colour.rgb();
    let (cx, cy) = face.centre();
    // The box covers brow to chin; the head reaches a little higher (forehead).
    let (a, b) = (face.width * 0.5, face.height * 0.6);
    let cy = cy - face.height * 0.05;
    let nose = face.landmarks[2];
    let eye_d = ((face.landmarks[1][0] - face.landmarks[0][0]).powi(2)
        + (face.landmarks[1][1] - face.landmarks[0][1]).powi(2))
    .sqrt()
    .max(1.0);
    let background = 1.0 / screen.background_distance.powi(2);
    let mut out = img.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (u, v) = ((x as f32 - cx) / a, (y as f32 - cy) / b);
        let r2 = u * u + v * v;
        let irradiance = if r2 < 1.0 {
            let nz = (1.0 - r2).sqrt();
            // The nose stands out towards the screen by about a fifth of the head's radius.
            let dn = ((x as f32 - nose[0]).powi(2) + (y as f32 - nose[1]).powi(2))
                / (0.3 * eye_d).powi(2);
            let depth = screen.head_depth * (1.0 - nz) - 0.2 * screen.head_depth * (-dn).exp();
            let face_light = nz / (1.0 + depth).powi(2);
            // Near the silhouette the background shows through between hair and cheek.
            face_light.max(background)
        } else {
            background
        };
        for (channel, gain) in p.0.iter_mut().zip(c) {
            let value = f32::from(*channel) * (1.0 + screen.share * irradiance * gain);
            *channel = value.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}
