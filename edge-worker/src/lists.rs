//! `/v3/lists/…` and `/v3/face-search/`: the core's handlers (`facegate_sessions::lists`) over
//! D1, with the face model for face entries uploaded as images.

use facegate_sessions::validate::PortraitImage;
use facegate_sessions::{ApiError, Application, HttpResponse, Route};

use crate::app::AppService;
use crate::http::internal;
use crate::routes::Incoming;
use crate::{capture, models};

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
        Route::FaceSearch => Err(ApiError::NotOffered("face search yet")),
        _ => Err(internal("route", "not a lists route")),
    }
}
