//! Captured images, kept only for applications that ask for it (`AppSettings::retain_images`,
//! off by default): the frame a capture was decided on, sealed under the template key like
//! the face templates, so a reviewer can see it beside the face it was matched against.
//! They live and die with their session: erased with it, purged with it by the application's
//! retention, deleted with the user. The enrolled face's picture is the capture of the
//! session that enrolled it.

use base64::Engine;
use serde_json::{json, Value};

use crate::cipher::{session_aad, TemplateCipher};
use crate::error::ApiError;
use crate::pdf::{Pictures, Report};
use crate::service::Service;
use crate::store::{Clock, Ids, Store, Write};
use crate::types::{Application, Session};

pub const SLOT_CAPTURED: &str = "image:captured";

/// The media type of an image by its first bytes (what the page sends is JPEG; anything else
/// is shown only if it is one of the formats browsers draw).
fn media_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', ..] => Some("image/png"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        _ => None,
    }
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    /// The write keeping a capture's frame, when the application retains images.
    pub(crate) fn keep_capture(
        &self,
        app: &Application,
        session_id: &str,
        image: Option<&[u8]>,
    ) -> Result<Option<Write>, ApiError> {
        let Some(bytes) = image.filter(|b| app.settings.retain_images && media_type(b).is_some())
        else {
            return Ok(None);
        };
        let aad = session_aad(&app.id, session_id, SLOT_CAPTURED);
        Ok(Some(Write::PutImage {
            application_id: app.id.clone(),
            session_id: session_id.to_owned(),
            slot: SLOT_CAPTURED.into(),
            blob: self.cipher.seal(bytes, &aad, self.ids.nonce()?),
        }))
    }

    /// A session's kept frame, opened, if it is one of the formats shown.
    async fn image_bytes(&self, app: &Application, session_id: &str) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(blob) = self
            .store
            .get_image(&app.id, session_id, SLOT_CAPTURED)
            .await?
        else {
            return Ok(None);
        };
        let bytes = self
            .cipher
            .open(&blob, &session_aad(&app.id, session_id, SLOT_CAPTURED))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(media_type(&bytes).is_some().then_some(bytes))
    }

    /// The session's captured frame and the enrolled face's, or `None` when the application
    /// does not retain images. The enrolled one is the capture of the session the face-match
    /// reference came from (none for a portrait reference, which is not kept).
    pub async fn evidence_pictures(&self, app: &Application, s: &Session) -> Result<Option<Pictures>, ApiError> {
        if !app.settings.retain_images {
            return Ok(None);
        }
        let source = s
            .face_matches
            .first()
            .and_then(|m| m.source_image_session_id.as_deref())
            .filter(|id| *id != s.id);
        let enrolled = match source {
            Some(id) => self.image_bytes(app, id).await?,
            None => None,
        };
        Ok(Some(Pictures {
            captured: self.image_bytes(app, &s.id).await?,
            enrolled,
        }))
    }

    /// `{captured, enrolled}` as data URLs for the console (null where there is none), or
    /// `None` when the application does not retain images.
    pub async fn evidence_images(&self, app: &Application, s: &Session) -> Result<Option<Value>, ApiError> {
        let url = |bytes: Option<Vec<u8>>| {
            bytes.and_then(|b| {
                media_type(&b).map(|t| {
                    json!(format!("data:{t};base64,{}", base64::engine::general_purpose::STANDARD.encode(&b)))
                })
            })
        };
        Ok(self.evidence_pictures(app, s).await?.map(|p| {
            json!({ "captured": url(p.captured), "enrolled": url(p.enrolled) })
        }))
    }

    /// The PDF report's content (`pdf::Report`): the evidence the console shows, pictures
    /// included when the application retains them. Another application's session is a 404.
    pub async fn report(&self, app: &Application, id: &str) -> Result<Report, ApiError> {
        let s = self.load(app, id).await?;
        Ok(Report {
            evidence: crate::console::review::evidence(&s, app, &self.urls),
            pictures: self.evidence_pictures(app, &s).await?,
        })
    }
}
