//! Campaign code images (docs/contract.md: `/campaigns/{id}/qr.png?size=N` and `qr.svg`), the
//! ZIP of several codes, and logo uploads. Behind login like every page: the session is
//! checked here, in each handler, not by the browser.
//!
//! Images are rendered on request from the ticket's `url` (never fetched from WeChat's
//! `showqrcode`), so downloads work offline and at any size.

use super::ServerState;
use crate::door::{HttpError, Params, SignedIn};
use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use service::campaigns::{self, CampaignView};
use service::qr::{self, QrOptions};
use service::{AppState, Msg, ServiceError};

/// Largest logo upload accepted (the service checks the 1 MiB image limit itself; the
/// multipart envelope gets a little room on top).
const LOGO_UPLOAD_LIMIT: usize = qr::MAX_LOGO_BYTES + 64 * 1024;

/// At most this many codes in one ZIP: 200 PNGs at 1280 px are about 10 MB.
const MAX_ZIP_CODES: usize = 200;
/// And at most this many pixels in all (200 codes at 1280 px, or 78 at 2048 px): the work
/// and the size of one download stay bounded whatever the size asked for.
const MAX_ZIP_PIXELS: u64 = MAX_ZIP_CODES as u64 * 1280 * 1280;

/// Routes of this module.
pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/campaigns/{id}/qr.png", get(png))
        .route("/campaigns/{id}/qr.svg", get(svg))
        .route("/campaigns/codes.zip", get(zip))
        .route("/campaigns/{id}/logo", post(campaign_logo).layer(axum::extract::DefaultBodyLimit::max(LOGO_UPLOAD_LIMIT)))
        .route("/settings/accounts/{id}/logo", post(account_logo).layer(axum::extract::DefaultBodyLimit::max(LOGO_UPLOAD_LIMIT)))
}

#[derive(Deserialize)]
pub struct ImageQuery {
    size: Option<String>,
    /// `1`: draw the campaign name under the code (SVG).
    caption: Option<String>,
}

/// A stored logo ready to draw. Stored logos were validated and re-encoded on upload; one that
/// no longer decodes is skipped rather than breaking every download.
pub(crate) fn decode_logo(bytes: Option<Vec<u8>>) -> Option<qr::LogoImage> {
    bytes.and_then(|b| qr::load_logo(&b).ok())
}

/// The campaign and the text of its current code.
async fn code_of(st: &AppState, id: i32) -> Result<(CampaignView, String), HttpError> {
    let c = campaigns::get(&st.db, id).await?;
    let url = c.code.as_ref().map(|k| k.url.clone()).ok_or_else(HttpError::not_found)?;
    Ok((c, url))
}

/// The two drawings of a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Png,
    Svg,
}

impl Format {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

/// What to draw: the code's text, its size, a caption (SVG), and the stored logo's bytes.
pub(crate) struct Drawing {
    pub(crate) url: String,
    pub(crate) size: u32,
    pub(crate) caption: Option<String>,
    pub(crate) logo: Option<Vec<u8>>,
}

impl Drawing {
    /// Decodes the logo and draws; CPU work, for [`service::heavy::run`].
    fn draw(self, format: Format) -> Result<Vec<u8>, qr::QrError> {
        let opts = QrOptions { size: self.size, caption: self.caption, logo: decode_logo(self.logo) };
        match format {
            Format::Png => qr::render_png(&self.url, &opts),
            Format::Svg => qr::render_svg(&self.url, &opts).map(String::into_bytes),
        }
    }
}

/// The drawing as `format`, as a response: the one renderer behind every code image, the
/// signed-in routes here and the public links of [`super::public_code`] alike. Drawn on the
/// heavy-work threads ([`service::heavy`]), never on the runtime that answers WeChat.
pub(crate) async fn render(format: Format, drawing: Drawing) -> Result<Response, HttpError> {
    let bytes = drawn(format, drawing).await?;
    let kind = match format {
        Format::Png => "image/png",
        Format::Svg => "image/svg+xml; charset=utf-8",
    };
    Ok(image_response(kind, bytes))
}

/// The drawing's bytes, drawn on the heavy-work threads.
async fn drawn(format: Format, drawing: Drawing) -> Result<Vec<u8>, HttpError> {
    service::heavy::run(move || drawing.draw(format)).await?.map_err(HttpError::invalid)
}

fn image_response(content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Private: codes are behind login. Short: a renewed code must show up soon.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=60"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

async fn png(_: SignedIn, State(s): State<ServerState>, Path(id): Path<i32>, Query(q): Query<ImageQuery>) -> Result<Response, HttpError> {
    let size = qr::parse_size(q.size.as_deref()).map_err(HttpError::invalid)?;
    let (c, url) = code_of(&s.app, id).await?;
    render(Format::Png, Drawing { url, size, caption: None, logo: campaigns::logo(&s.app.db, &c).await? }).await
}

async fn svg(_: SignedIn, State(s): State<ServerState>, Path(id): Path<i32>, Query(q): Query<ImageQuery>) -> Result<Response, HttpError> {
    let size = qr::parse_size(q.size.as_deref()).map_err(HttpError::invalid)?;
    let (c, url) = code_of(&s.app, id).await?;
    let caption = matches!(q.caption.as_deref(), Some("1" | "true" | "on")).then(|| c.name.clone());
    render(Format::Svg, Drawing { url, size, caption, logo: campaigns::logo(&s.app.db, &c).await? }).await
}

/// `GET /campaigns/codes.zip?ids=1&ids=2&size=430`: the PNGs of the ticked campaigns.
async fn zip(SignedIn(user): SignedIn, State(s): State<ServerState>, p: Params) -> Result<Response, HttpError> {
    let mut ids = p.ids(MAX_ZIP_CODES, || Msg::ZipTooMany { max: MAX_ZIP_CODES })?;
    ids.sort_unstable();
    if ids.is_empty() {
        return Err(HttpError::invalid("ids: tick at least one campaign to download its code"));
    }
    let size = qr::parse_size(p.get("size").as_deref()).map_err(HttpError::invalid)?;
    if ids.len() as u64 * u64::from(size) * u64::from(size) > MAX_ZIP_PIXELS {
        let fit = MAX_ZIP_PIXELS / (u64::from(size) * u64::from(size));
        return Err(HttpError::invalid(format!(
            "size: at most {fit} codes of {size} px fit in one download: choose a smaller size or fewer codes"
        )));
    }
    let mut files = Vec::with_capacity(ids.len());
    for id in &ids {
        let (c, url) = code_of(&s.app, *id).await?;
        let drawing = Drawing { url, size, caption: None, logo: campaigns::logo(&s.app.db, &c).await? };
        // One job per code: the slots go round between this download and other requests.
        files.push((campaigns::code_file_name(&c, "png"), drawn(Format::Png, drawing).await?));
    }
    let archive = service::heavy::run(move || campaigns::zip_files(&files)).await??;
    service::audit::record(&s.app.db, Some(user.id), "export.codes_zip", "campaign", None, serde_json::json!({ "ids": ids, "size": size }))
        .await
        .map_err(ServiceError::from)?;
    let mut res = image_response("application/zip", archive);
    res.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"sceneboard-codes.zip\""));
    Ok(res)
}

/// Reads the `logo` file (or the `remove` button) of a logo form.
async fn read_logo_form(mut form: Multipart) -> Result<Option<Vec<u8>>, Msg> {
    let mut logo = None;
    let mut remove = false;
    let unreadable = |e: axum::extract::multipart::MultipartError| Msg::UploadUnreadable { detail: e.to_string() };
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("remove") => remove = true,
            Some("logo") => {
                let bytes = field.bytes().await.map_err(unreadable)?;
                if !bytes.is_empty() {
                    logo = Some(bytes.to_vec());
                }
            }
            _ => {}
        }
    }
    match (remove, logo) {
        (true, _) => Ok(None),
        (false, Some(b)) => Ok(Some(b)),
        (false, None) => Err(Msg::LogoMissing),
    }
}

/// Where a browser goes after a logo form: back to `page` with `logo=1` or the error, in the
/// page's language.
fn after_upload(page: &str, result: Result<(), Msg>, headers: &HeaderMap) -> Response {
    let target = match result {
        Ok(()) => format!("{page}?logo=1"),
        Err(m) => format!("{page}?logo_error={}", app::urls::urlencode(&m.text(super::lang::lang_of(headers)))),
    };
    Redirect::to(&target).into_response()
}

async fn campaign_logo(
    SignedIn(user): SignedIn,
    State(s): State<ServerState>,
    headers: HeaderMap,
    Path(id): Path<i32>,
    form: Multipart,
) -> Result<Response, HttpError> {
    campaigns::get(&s.app.db, id).await?;
    let page = format!("/campaigns/{id}");
    let logo = match read_logo_form(form).await {
        Ok(l) => l,
        Err(m) => return Ok(after_upload(&page, Err(m), &headers)),
    };
    let result = campaigns::set_logo(&s.app, id, logo.as_deref(), Some(user.id)).await;
    Ok(after_upload(&page, result.map_err(user_words), &headers))
}

async fn account_logo(
    signed_in: SignedIn,
    State(s): State<ServerState>,
    headers: HeaderMap,
    Path(id): Path<i32>,
    form: Multipart,
) -> Result<Response, HttpError> {
    let user = signed_in.admin()?;
    service::accounts::get(&s.app.db, id).await?;
    let logo = match read_logo_form(form).await {
        Ok(l) => l,
        Err(m) => return Ok(after_upload("/settings", Err(m), &headers)),
    };
    let result = service::accounts::set_logo(&s.app, id, logo.as_deref(), Some(user.id)).await;
    Ok(after_upload("/settings", result.map_err(user_words), &headers))
}

/// The message of a service error that a user may read.
fn user_words(e: ServiceError) -> Msg {
    match e {
        ServiceError::Validation { message, .. } | ServiceError::Conflict { message, .. } => message,
        ServiceError::NotFound => Msg::NotFound,
        other => {
            tracing::error!(error = %other, "logo upload failed");
            Msg::LogoNotSaved
        }
    }
}
