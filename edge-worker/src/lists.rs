//! `/v3/lists/…` and `/v3/face-search/`: the core's handlers (`facegate_sessions::lists`) over
//! D1, with the face model for face entries uploaded as images.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use facegate_pipeline::Want;
use facegate_sessions::lists::faces::{
    match_json, FaceGallery, RISK_FACE_IN_BLOCKLIST, RISK_POSSIBLE_FACE_IN_BLOCKLIST,
};
use facegate_sessions::validate::PortraitImage;
use facegate_sessions::{ApiError, Application, HttpResponse, Route};
use serde_json::json;

use crate::app::AppService;
use crate::http::internal;
use crate::routes::Incoming;
use crate::{capture, models, standalone};

thread_local! {
    /// Each application's face gallery, per isolate, with the stamp it was built at: rebuilt
    /// when the stamp read from D1 (one query) has moved, i.e. after any list write, enrolment
    /// or template deletion. About 1 KB a face (10k faces: ~10.4 MB, measured natively in
    /// `lists::faces` tests), so an isolate serving many large applications keeps a few.
    static GALLERIES: RefCell<HashMap<String, Arc<FaceGallery>>> = RefCell::new(HashMap::new());
}

/// Galleries kept at most, per isolate; past it the cache starts over.
const MAX_GALLERIES: usize = 16;

/// The application's current face gallery, from the isolate's cache when still valid.
pub(crate) async fn gallery(
    svc: &AppService,
    app: &Application,
) -> Result<Arc<FaceGallery>, ApiError> {
    let stamp = svc.face_stamp(app).await?;
    if let Some(g) = GALLERIES.with(|c| {
        c.borrow()
            .get(&app.id)
            .filter(|g| g.stamp == stamp)
            .cloned()
    }) {
        return Ok(g);
    }
    let g = Arc::new(svc.build_face_gallery(app).await?);
    GALLERIES.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_GALLERIES && !c.contains_key(&app.id) {
            c.clear();
        }
        c.insert(app.id.clone(), g.clone());
    });
    Ok(g)
}

/// `POST /v3/face-search/` (multipart `user_image`): the application's enrolled faces and face
/// list entries like the one in the image. A blocklisted face (or a possible one) declines,
/// as Didit's standalone search does; otherwise Approved with whatever matched.
async fn face_search(
    r: &Incoming<'_>,
    svc: &AppService,
    app: &Application,
) -> Result<HttpResponse, ApiError> {
    let form = standalone::read_form(&r.headers, r.body.clone()).await?;
    let image = standalone::image_field(&form, "user_image").await?;
    let pipeline = models::pipeline(r.env).await?;
    let analysis = standalone::analyze(
        &pipeline,
        &image,
        "user_image",
        Want {
            embedding: true,
            liveness: false,
        },
    )?;
    let cal = &pipeline.config.calibration;
    let mut warnings = Vec::new();
    let mut matches = Vec::new();
    let mut status = "Approved";
    match analysis.subject.as_ref().and_then(|s| s.embedding.as_ref()) {
        None => {
            status = "Declined";
            warnings.push(json!({
                "risk": "NO_FACE_DETECTED", "feature": "LIVENESS", "additional_data": null, "log_type": "error",
                "short_description": "No face detected", "long_description": "No face could be found in user_image.",
            }));
        }
        Some(query) => {
            let g = gallery(svc, app).await?;
            let blocked = g.blocklisted(query);
            let own = form
                .get_field("vendor_data")
                .filter(|v| !v.trim().is_empty());
            for h in g.everything(query, own.as_deref()) {
                matches.push(match_json(&h, cal.match_score(h.cosine)));
            }
            if let Some(best) = blocked.first() {
                status = "Declined";
                warnings.push(json!({
                    "risk": if best.is_match { RISK_FACE_IN_BLOCKLIST } else { RISK_POSSIBLE_FACE_IN_BLOCKLIST },
                    "feature": "LIVENESS",
                    "additional_data": {
                        "blocklisted_session_id": best.owner.session_id(),
                        "similarity_percentage": cal.match_score(best.cosine),
                    },
                    "log_type": "error",
                    "short_description": "Face in blocklist",
                    "long_description": "The face resembles a face in the application's face blocklist.",
                }));
            }
        }
    }
    Ok(HttpResponse::json(
        200,
        json!({
            "request_id": standalone::new_request_id()?,
            "face_search": {
                "status": status,
                "total_matches": matches.len(),
                "matches": matches,
                "user_image": standalone::image_entities(&analysis),
                "warnings": warnings,
            },
            "created_at": standalone::now_iso(),
        }),
    ))
}

pub(crate) async fn route(
    r: &Incoming<'_>,
    route: Route,
    svc: &AppService,
    app: &Application,
) -> Result<HttpResponse, ApiError> {
    let query = || -> Result<String, ApiError> {
        let url = r.req.url().map_err(|e| internal("url", e))?;
        Ok(url.query().unwrap_or("").to_owned())
    };
    match route {
        Route::ListLists => svc.list_lists(app, &query()?).await,
        Route::CreateList => svc.create_list(app, &r.body).await,
        Route::GetList(id) => svc.get_list(app, &id).await,
        Route::UpdateList(id) => svc.update_list(app, &id, &r.body).await,
        Route::DeleteList(id) => svc.delete_list(app, &id).await,
        Route::ListEntries(id) => svc.list_entries(app, &id, &query()?).await,
        Route::CreateEntry(id) => svc.create_entry(app, &id, &r.body).await,
        Route::DeleteEntry(list, entry) => svc.delete_entry(app, &list, &entry).await,
        Route::UploadFaceEntry(id) => {
            let pipeline = models::pipeline(r.env).await?;
            svc.upload_face_entry(app, &id, &r.body, |image| {
                capture::enrol_portrait(&pipeline, &PortraitImage(image.to_vec()))
            })
            .await
        }
        Route::FaceSearch => face_search(r, svc, app).await,
        _ => Err(internal("route", "not a lists route")),
    }
}
