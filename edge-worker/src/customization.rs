//! `PATCH /v3/customization/`: the multipart form read into the core's `BrandingChange`
//! (the core decodes, checks and re-encodes; this only moves bytes).

use facegate_sessions::branding::{BrandingChange, Slot, TEXT_FIELDS};
use facegate_sessions::{ApiError, FieldErrors};
use worker::FormEntry;

pub async fn read_change(
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<BrandingChange, ApiError> {
    let form = crate::http::form(
        headers,
        body,
        "Send multipart/form-data with image_square, image_rectangular or image_favicon.",
    )
    .await?;
    let mut change = BrandingChange::default();
    for slot in Slot::ALL {
        match form.get(slot.field()) {
            None => {}
            Some(FormEntry::File(file)) => {
                let bytes = file.bytes().await.map_err(|e| {
                    FieldErrors::single(slot.field(), format!("Unreadable upload: {e}"))
                })?;
                change.images.push((slot, Some(bytes)));
            }
            // An empty text field removes the image; any other text is not an image.
            Some(FormEntry::Field(v)) if v.is_empty() => change.images.push((slot, None)),
            Some(FormEntry::Field(_)) => {
                return Err(FieldErrors::single(
                    slot.field(),
                    "Upload a file, not a text field.",
                ))
            }
        }
    }
    for name in TEXT_FIELDS {
        if let Some(v) = form.get_field(name) {
            change.texts.push((name.to_owned(), v));
        }
    }
    Ok(change)
}
