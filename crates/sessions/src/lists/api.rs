//! `/v3/lists/…` in Didit's shape (the MCP server's list tools): lists, their entries, face
//! entries from an image. Every call names its application: another application's list,
//! entry or session answers like an unknown one.

use base64::Engine;
use facegate_pipeline::Embedding;
use serde_json::{json, Value};

use super::store::{entry_aad, Entry, EntryCount, ListStore, ListWrite};
use super::{
    parse_new_entry, parse_new_list, render_list, system_blocklist, text, EntryType, List,
    NewEntry, MAX_NAME, MAX_TEXT,
};
use crate::cipher::{open_embedding, seal_embedding, session_aad, template_aad, TemplateCipher};
use crate::destinations::object;
use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::service::{Service, SLOT_PENDING, SLOT_REFERENCE};
use crate::store::{Clock, Ids, Store, StoreError};
use crate::types::{Application, Session};
use crate::validate::{page, page_window, query_get, split_query};

pub const MSG_NAME_TAKEN: &str = "A list with this name already exists.";
pub const MSG_DUPLICATE: &str = "This value is already in the list.";
pub const MSG_SYSTEM_IMMUTABLE: &str = "System blocklists cannot be modified or deleted.";
pub const MSG_SESSION_NOT_FOUND: &str = "Session not found.";
pub const MSG_NO_FACE_IN_IMAGE: &str = "No face could be detected in image.";
pub const MSG_NOT_FACE_LIST: &str = "Face images can only be added to face lists.";
const NOT_IMAGE_B64: &str = "Invalid image: image must be a base64-encoded image.";
/// Decoded image cap, as a session's `portrait_image`.
const MAX_IMAGE_BYTES: usize = crate::validate::MAX_PORTRAIT_BYTES;

/// The application's lists: the system blocklists first (one per entry type, without rows),
/// then the created ones, oldest first.
pub async fn all_lists(
    store: &impl ListStore,
    application_id: &str,
) -> Result<Vec<List>, StoreError> {
    let mut all: Vec<List> = EntryType::ALL
        .iter()
        .map(|t| system_blocklist(application_id, *t))
        .collect();
    all.extend(store.lists(application_id).await?);
    Ok(all)
}

/// A list of the application by id, system blocklists included.
pub async fn find_list(
    store: &impl ListStore,
    application_id: &str,
    uuid: &str,
) -> Result<Option<List>, StoreError> {
    let uuid = uuid.to_ascii_lowercase();
    if let Some(system) = EntryType::ALL
        .iter()
        .map(|t| system_blocklist(application_id, *t))
        .find(|l| l.uuid == uuid)
    {
        return Ok(Some(system));
    }
    store.list(application_id, &uuid).await
}

pub fn render_entry(e: &Entry) -> Value {
    json!({
        "uuid": e.uuid,
        "value": e.value,
        "display_label": e.display_label.clone().unwrap_or_default(),
        "comment": e.comment.clone().unwrap_or_default(),
        "added_by": e.added_by,
        "reference_session_id": e.reference_session_id,
        "reference_session_number": e.reference_session_number,
        "reference_object_uuid": e.reference_object_uuid,
        "metadata": e.metadata,
        "created_at": crate::time::iso8601(e.created_at),
    })
}

/// The query's last non-blank value of `k`.
fn invalid_choice(field: &str, v: &str) -> ApiError {
    FieldErrors::single(
        field,
        format!("Select a valid choice. {v} is not one of the available choices."),
    )
}

/// Base64 (or a data URL) → image bytes, refused before decoding when too large.
fn decode_image(s: &str) -> Result<Vec<u8>, &'static str> {
    let payload = match s.split_once(";base64,") {
        Some((head, rest)) if head.starts_with("data:") => rest,
        _ => s,
    };
    if payload.starts_with("http://") || payload.starts_with("https://") {
        return Err("Image URLs are not supported; send the image as base64.");
    }
    let compact: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() / 4 * 3 > MAX_IMAGE_BYTES + 2 {
        return Err("Image size exceeds the maximum allowed size of 2 MB.");
    }
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    match engine.decode(compact.as_bytes()) {
        Ok(b) if b.is_empty() => Err(NOT_IMAGE_B64),
        Ok(b) if b.len() > MAX_IMAGE_BYTES => {
            Err("Image size exceeds the maximum allowed size of 2 MB.")
        }
        Ok(b) => Ok(b),
        Err(_) => Err(NOT_IMAGE_B64),
    }
}

/// `POST …/face-upload/`'s body: the image and the entry's texts.
pub struct FaceUpload {
    pub image: Vec<u8>,
    pub display_label: Option<String>,
    pub comment: Option<String>,
    pub metadata: Option<Value>,
}

pub fn parse_face_upload(body: &[u8]) -> Result<FaceUpload, ApiError> {
    let m = object(body)?;
    let mut errors = FieldErrors::new();
    let display_label = text(&m, "display_label", MAX_NAME, false, &mut errors);
    let comment = text(&m, "comment", MAX_TEXT, false, &mut errors);
    let metadata = super::metadata(&m, &mut errors);
    let image = match m.get("image") {
        None | Some(Value::Null) => {
            errors.add("image", crate::validate::REQUIRED);
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.add("image", crate::validate::NOT_BLANK);
            None
        }
        Some(Value::String(s)) => match decode_image(s) {
            Ok(b) => Some(b),
            Err(why) => {
                errors.add("image", why);
                None
            }
        },
        Some(_) => {
            errors.add("image", NOT_IMAGE_B64);
            None
        }
    };
    match image {
        Some(image) if errors.is_empty() => Ok(FaceUpload {
            image,
            display_label,
            comment,
            metadata,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The IP address or device fingerprint a session's judged visit recorded (`visits`), if any.
fn visit_value(s: &Session, entry_type: EntryType) -> Option<String> {
    let v = s.visit.as_ref()?;
    match entry_type {
        EntryType::IpAddress => v.ip.clone(),
        EntryType::DeviceFingerprint => v.device_fingerprint.clone(),
        EntryType::Face | EntryType::User => None,
    }
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    async fn counts(&self, app: &Application) -> Result<Vec<(String, EntryCount)>, ApiError> {
        Ok(self.store.entry_counts(&app.id).await?)
    }

    fn list_json(l: &List, counts: &[(String, EntryCount)]) -> Value {
        let c = counts
            .iter()
            .find(|(u, _)| u == &l.uuid)
            .map(|(_, c)| *c)
            .unwrap_or_default();
        render_list(l, c.count, c.last_added_at)
    }

    async fn own_list(&self, app: &Application, uuid: &str) -> Result<List, ApiError> {
        find_list(&self.store, &app.id, uuid)
            .await?
            .ok_or(ApiError::NotFound)
    }

    /// `GET /lists/?list_type=&entry_type=&limit=&offset=`.
    pub async fn list_lists(
        &self,
        app: &Application,
        query: &str,
    ) -> Result<HttpResponse, ApiError> {
        let raw = split_query(query);
        let list_type = query_get(&raw, "list_type").map(|s| s.trim().to_ascii_lowercase());
        if let Some(t) = &list_type {
            if !["blocklist", "allowlist", "custom"].contains(&t.as_str()) {
                return Err(invalid_choice("list_type", t));
            }
        }
        let entry_type = query_get(&raw, "entry_type").map(|s| s.trim().to_ascii_lowercase());
        let (offset, limit) = page_window(&raw);
        let counts = self.counts(app).await?;
        let lists: Vec<List> = all_lists(&self.store, &app.id)
            .await?
            .into_iter()
            .filter(|l| {
                list_type
                    .as_deref()
                    .is_none_or(|t| l.list_type.as_str() == t)
                    && entry_type
                        .as_deref()
                        .is_none_or(|t| l.entry_type.as_str() == t)
            })
            .collect();
        let count = lists.len() as u64;
        let results = lists
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|l| Self::list_json(l, &counts))
            .collect();
        Ok(page(
            &self.urls.api_base,
            "/lists/",
            &raw,
            (offset, limit, count),
            results,
        ))
    }

    /// `POST /lists/`: an allowlist or custom list (blocklists exist already).
    pub async fn create_list(
        &self,
        app: &Application,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let new = parse_new_list(body)?;
        let taken = |name: &str| {
            EntryType::ALL.iter().any(|t| {
                system_blocklist(&app.id, *t)
                    .name
                    .eq_ignore_ascii_case(name)
            })
        };
        if taken(&new.name) {
            return Err(FieldErrors::single("name", MSG_NAME_TAKEN));
        }
        let now = self.clock.now();
        let list = List {
            uuid: self.ids.uuid()?,
            application_id: app.id.clone(),
            name: new.name,
            description: new.description,
            list_type: new.list_type,
            entry_type: new.entry_type,
            is_system: false,
            created_at: now,
            updated_at: now,
        };
        match self
            .store
            .commit_lists(&[ListWrite::PutList(list.clone())])
            .await
        {
            Err(StoreError::Conflict) => Err(FieldErrors::single("name", MSG_NAME_TAKEN)),
            other => other.map_err(ApiError::from),
        }?;
        Ok(HttpResponse::json(201, render_list(&list, 0, None)))
    }

    pub async fn get_list(&self, app: &Application, uuid: &str) -> Result<HttpResponse, ApiError> {
        let list = self.own_list(app, uuid).await?;
        let counts = self.counts(app).await?;
        Ok(HttpResponse::json(200, Self::list_json(&list, &counts)))
    }

    /// `PATCH /lists/{uuid}/`: name and description; a list's types never change.
    pub async fn update_list(
        &self,
        app: &Application,
        uuid: &str,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let mut list = self.own_list(app, uuid).await?;
        if list.is_system {
            return Err(ApiError::BadRequest(MSG_SYSTEM_IMMUTABLE.into()));
        }
        let m = object(body)?;
        let mut errors = FieldErrors::new();
        for fixed in ["list_type", "entry_type"] {
            if m.get(fixed)
                .and_then(Value::as_str)
                .is_some_and(|v| v != list_type_field(&list, fixed))
            {
                errors.add(fixed, "A list's type cannot be changed.");
            }
        }
        if m.contains_key("name") {
            if let Some(name) = text(&m, "name", MAX_NAME, true, &mut errors) {
                list.name = name;
            }
        }
        if m.contains_key("description") {
            list.description = text(&m, "description", MAX_TEXT, false, &mut errors);
        }
        errors.into_result()?;
        if EntryType::ALL.iter().any(|t| {
            system_blocklist(&app.id, *t)
                .name
                .eq_ignore_ascii_case(&list.name)
        }) {
            return Err(FieldErrors::single("name", MSG_NAME_TAKEN));
        }
        list.updated_at = self.clock.now();
        match self
            .store
            .commit_lists(&[ListWrite::PutList(list.clone())])
            .await
        {
            Err(StoreError::Conflict) => Err(FieldErrors::single("name", MSG_NAME_TAKEN)),
            other => other.map_err(ApiError::from),
        }?;
        let counts = self.counts(app).await?;
        Ok(HttpResponse::json(200, Self::list_json(&list, &counts)))
    }

    /// `DELETE /lists/{uuid}/`: the list and its entries; 204.
    pub async fn delete_list(
        &self,
        app: &Application,
        uuid: &str,
    ) -> Result<HttpResponse, ApiError> {
        let list = self.own_list(app, uuid).await?;
        if list.is_system {
            return Err(ApiError::BadRequest(MSG_SYSTEM_IMMUTABLE.into()));
        }
        self.store
            .commit_lists(&[ListWrite::DeleteList {
                application_id: app.id.clone(),
                uuid: list.uuid,
            }])
            .await?;
        Ok(HttpResponse::no_content())
    }

    /// `GET /lists/{uuid}/entries/?search=&limit=&offset=`, newest first.
    pub async fn list_entries(
        &self,
        app: &Application,
        uuid: &str,
        query: &str,
    ) -> Result<HttpResponse, ApiError> {
        let list = self.own_list(app, uuid).await?;
        let raw = split_query(query);
        let search = query_get(&raw, "search").map(|s| s.trim().to_lowercase());
        let (offset, limit) = page_window(&raw);
        let (count, entries) = self
            .store
            .entries(&app.id, &list.uuid, search.as_deref(), offset, limit)
            .await?;
        let results = entries.iter().map(render_entry).collect();
        let path = format!("/lists/{}/entries/", list.uuid);
        Ok(page(
            &self.urls.api_base,
            &path,
            &raw,
            (offset, limit, count),
            results,
        ))
    }

    /// `POST /lists/{uuid}/entries/`: a value, or one taken from a session of the application.
    pub async fn create_entry(
        &self,
        app: &Application,
        uuid: &str,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let list = self.own_list(app, uuid).await?;
        let new = parse_new_entry(list.entry_type, body)?;
        let mut entry = self.blank_entry(app, &list, &new)?;
        if let Some(id) = &new.reference_session_id {
            // Another application's session is not found, exactly like an unknown id.
            let s = self
                .store
                .get_session(&app.id, &id.to_ascii_lowercase())
                .await?
                .ok_or_else(|| {
                    FieldErrors::single("reference_session_id", MSG_SESSION_NOT_FOUND)
                })?;
            entry.reference_session_id = Some(s.id.clone());
            entry.reference_session_number = Some(s.number);
            entry.vendor_data = s.vendor_data.clone();
            match list.entry_type {
                EntryType::Face => {
                    let face = self.session_face(app, &s).await?.ok_or_else(|| {
                        FieldErrors::single(
                            "reference_session_id",
                            "This session has no face to add: no enrolled, captured or portrait face is kept for it.",
                        )
                    })?;
                    self.seal_face(app, &mut entry, &face)?;
                }
                t => {
                    let taken = match t {
                        EntryType::User => s.vendor_data.clone(),
                        _ => visit_value(&s, t),
                    }
                    .ok_or_else(|| {
                        FieldErrors::single(
                            "reference_session_id",
                            format!("This session has no {} to add.", what(t)),
                        )
                    })?;
                    if new.value.as_ref().is_some_and(|v| v != &taken) {
                        return Err(FieldErrors::single(
                            "value",
                            "The value does not match the session's.",
                        ));
                    }
                    entry.value = taken;
                }
            }
        } else if let Some(v) = &new.value {
            entry.value = v.clone();
        }
        self.insert_entry(entry).await
    }

    /// `POST /lists/{uuid}/entries/face-upload/`: a face entry from an image. `analyse` runs
    /// the pipeline on the decoded image (`None`: no usable face, 400).
    pub async fn upload_face_entry(
        &self,
        app: &Application,
        uuid: &str,
        body: &[u8],
        analyse: impl FnOnce(&[u8]) -> Result<Option<Embedding>, ApiError>,
    ) -> Result<HttpResponse, ApiError> {
        let list = self.own_list(app, uuid).await?;
        if list.entry_type != EntryType::Face {
            return Err(ApiError::BadRequest(MSG_NOT_FACE_LIST.into()));
        }
        let upload = parse_face_upload(body)?;
        let face = analyse(&upload.image)?
            .ok_or_else(|| FieldErrors::single("image", MSG_NO_FACE_IN_IMAGE))?;
        let new = NewEntry {
            value: None,
            reference_session_id: None,
            reference_object_uuid: None,
            display_label: upload.display_label,
            comment: upload.comment,
            metadata: upload.metadata,
        };
        let mut entry = self.blank_entry(app, &list, &new)?;
        self.seal_face(app, &mut entry, &face)?;
        self.insert_entry(entry).await
    }

    /// `DELETE /lists/{uuid}/entries/{entry}/`; 204.
    pub async fn delete_entry(
        &self,
        app: &Application,
        uuid: &str,
        entry: &str,
    ) -> Result<HttpResponse, ApiError> {
        let list = self.own_list(app, uuid).await?;
        let entry = self
            .store
            .entry(&app.id, &list.uuid, &entry.to_ascii_lowercase())
            .await?
            .ok_or(ApiError::NotFound)?;
        self.store
            .commit_lists(&[ListWrite::DeleteEntry {
                application_id: app.id.clone(),
                list_uuid: list.uuid,
                uuid: entry.uuid,
            }])
            .await?;
        Ok(HttpResponse::no_content())
    }

    fn blank_entry(
        &self,
        app: &Application,
        list: &List,
        new: &NewEntry,
    ) -> Result<Entry, ApiError> {
        let uuid = self.ids.uuid()?;
        Ok(Entry {
            value: uuid.clone(),
            uuid,
            application_id: app.id.clone(),
            list_uuid: list.uuid.clone(),
            entry_type: list.entry_type,
            display_label: new.display_label.clone(),
            comment: new.comment.clone(),
            metadata: new.metadata.clone(),
            added_by: "api".into(),
            reference_session_id: None,
            reference_session_number: None,
            reference_object_uuid: new.reference_object_uuid.clone(),
            vendor_data: None,
            template: None,
            created_at: self.clock.now(),
        })
    }

    fn seal_face(
        &self,
        app: &Application,
        entry: &mut Entry,
        face: &Embedding,
    ) -> Result<(), ApiError> {
        let aad = entry_aad(&app.id, &entry.list_uuid, &entry.uuid);
        entry.template = Some(hex::encode(seal_embedding(
            &self.cipher,
            face,
            &aad,
            self.ids.nonce()?,
        )));
        Ok(())
    }

    async fn insert_entry(&self, entry: Entry) -> Result<HttpResponse, ApiError> {
        match self
            .store
            .commit_lists(&[ListWrite::InsertEntry(entry.clone())])
            .await
        {
            Err(StoreError::Conflict) => Err(FieldErrors::single("value", MSG_DUPLICATE)),
            other => other.map_err(ApiError::from),
        }?;
        Ok(HttpResponse::json(201, render_entry(&entry)))
    }

    /// The face a session holds: the template it enrolled, else the capture pending review,
    /// else the portrait it was created with.
    async fn session_face(
        &self,
        app: &Application,
        s: &Session,
    ) -> Result<Option<Embedding>, ApiError> {
        let open = |blob: &[u8], aad: &[u8]| {
            open_embedding(&self.cipher, blob, aad).map_err(|e| ApiError::Internal(e.to_string()))
        };
        if let Some(vendor) = &s.vendor_data {
            if let Some(t) = self
                .store
                .get_template(&app.id, vendor)
                .await?
                .filter(|t| t.source_session_id == s.id)
            {
                return open(&t.blob, &template_aad(&app.id, vendor)).map(Some);
            }
        }
        if let Some(blob) = &s.pending_template {
            return open(blob, &session_aad(&app.id, &s.id, SLOT_PENDING)).map(Some);
        }
        if let Some(blob) = &s.reference_template {
            return open(blob, &session_aad(&app.id, &s.id, SLOT_REFERENCE)).map(Some);
        }
        Ok(None)
    }

    /// A face entry's embedding, opened (entries are always the application's own).
    pub fn entry_face(&self, e: &Entry) -> Option<Embedding> {
        let blob = hex::decode(e.template.as_deref()?).ok()?;
        open_embedding(
            &self.cipher,
            &blob,
            &entry_aad(&e.application_id, &e.list_uuid, &e.uuid),
        )
        .ok()
    }
}

fn list_type_field(l: &List, field: &str) -> &'static str {
    if field == "list_type" {
        l.list_type.as_str()
    } else {
        l.entry_type.as_str()
    }
}

fn what(t: EntryType) -> &'static str {
    match t {
        EntryType::IpAddress => "IP address",
        EntryType::DeviceFingerprint => "device fingerprint",
        EntryType::User => "vendor_data",
        EntryType::Face => "face",
    }
}
