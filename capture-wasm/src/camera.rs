//! The front camera and frame grabbing, on the page's main thread (the DOM lives there).

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement, ImageData, MediaStream,
    MediaStreamConstraints, MediaStreamTrack,
};

fn set(target: &Object, key: &str, value: impl Into<JsValue>) -> Result<(), JsValue> {
    Reflect::set(target, &key.into(), &value.into()).map(|_| ())
}

/// Asks for the front camera at about 640x480 (enough for the checks and the server, small
/// enough to upload fast) and plays it in `video`. Rejects with the browser's DOMException
/// (`NotAllowedError`, `NotFoundError`, …) so that the page can say what happened.
#[wasm_bindgen(js_name = openCamera)]
pub async fn open_camera(video: HtmlVideoElement) -> Result<(), JsValue> {
    let devices = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()?;
    let wanted = Object::new();
    // `facingMode: {exact: 'user'}` would fail on desktops and fake cameras; a preference
    // picks the front camera where there is a choice.
    set(&wanted, "facingMode", "user")?;
    let ideal = |v: u32| -> Result<Object, JsValue> {
        let o = Object::new();
        set(&o, "ideal", v)?;
        Ok(o)
    };
    set(&wanted, "width", ideal(640)?)?;
    set(&wanted, "height", ideal(480)?)?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_video(&wanted);
    constraints.set_audio(&JsValue::FALSE);
    let stream: MediaStream =
        JsFuture::from(devices.get_user_media_with_constraints(&constraints)?)
            .await?
            .dyn_into()?;
    video.set_src_object(Some(&stream));
    video.set_muted(true);
    JsFuture::from(video.play()?).await?;
    Ok(())
}

/// Stops the camera, so its light goes off as soon as the picture is taken.
#[wasm_bindgen(js_name = stopCamera)]
pub fn stop_camera(video: HtmlVideoElement) {
    if let Some(stream) = video
        .src_object()
        .and_then(|s| s.dyn_into::<MediaStream>().ok())
    {
        for track in stream.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                track.stop();
            }
        }
    }
    video.set_src_object(None);
}

/// Draws the current video frame into `canvas` at the video's size and returns its pixels
/// (RGBA), which the page hands to the checking worker. `None` before the first frame.
#[wasm_bindgen(js_name = grabFrame)]
pub fn grab_frame(
    video: HtmlVideoElement,
    canvas: HtmlCanvasElement,
) -> Result<Option<ImageData>, JsValue> {
    let (w, h) = (video.video_width(), video.video_height());
    if w == 0 || h == 0 {
        return Ok(None);
    }
    if canvas.width() != w || canvas.height() != h {
        canvas.set_width(w);
        canvas.set_height(h);
    }
    // The page reads every frame back: a CPU-backed canvas makes that cheap.
    let options = Object::new();
    set(&options, "willReadFrequently", true)?;
    let context: CanvasRenderingContext2d = canvas
        .get_context_with_context_options("2d", &options)?
        .ok_or("no 2d context")?
        .dyn_into()?;
    context.draw_image_with_html_video_element(&video, 0.0, 0.0)?;
    context
        .get_image_data(0.0, 0.0, f64::from(w), f64::from(h))
        .map(Some)
}
