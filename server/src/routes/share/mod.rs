//! Share links: `GET /s/{token}` shows one campaign or one group read-only, without signing in;
//! `POST /s/{token}` takes the password of a link that has one.
//!
//! - `noindex` (header and meta), `Referrer-Policy: same-origin` (the token is in the URL: it
//!   never goes to another site, while the password form still sends its `Origin`, which the
//!   cross-site check needs; `no-referrer` would make it `null`), `Cache-Control: private, no-store`.
//! - A token that opens nothing (unknown, revoked, expired, an archived campaign, a group with
//!   no live campaign left) gets one and the same 404 page.
//! - A right password sets a cookie for that link's path only ([`share_links::unlock_tag`]),
//!   for 12 hours. Tries are limited per link and per instance ([`PasswordTries`]): with the
//!   cost of argon2 that keeps guessing a password of 8 characters out of reach.

mod page;

use super::ServerState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use chrono::Utc;
use page::{Frame, PRESETS};
use serde::Deserialize;
use service::ServiceError;
use service::analytics::{self, Lang, Metric};
use service::series::RangeRequest;
use service::share_links::{self, Shared, Target};

/// How long a given password is remembered.
const UNLOCK_HOURS: i64 = 12;

/// Password tries per link: 10 a minute, 5 at once, per instance.
#[derive(Clone)]
pub struct PasswordTries(crate::rate::KeyedRate);

impl Default for PasswordTries {
    fn default() -> Self {
        PasswordTries(crate::rate::KeyedRate::new(10, 5))
    }
}

/// Where share links live.
pub const PREFIX: &str = "/s/";

/// Routes of this module.
pub fn routes() -> Router<ServerState> {
    Router::new().route("/s/{token}", get(view).post(unlock))
}

#[derive(Deserialize, Default)]
pub struct ShareQuery {
    days: Option<String>,
    lang: Option<String>,
}

#[derive(Deserialize)]
pub struct Unlock {
    #[serde(default)]
    password: String,
}

/// The language asked for by `?lang=`, else the request's.
fn language(q: &ShareQuery, headers: &HeaderMap) -> Lang {
    match q.lang.as_deref() {
        Some("en") => Lang::En,
        Some("zh") => Lang::Zh,
        _ => super::lang::lang_of(headers),
    }
}

/// The preset asked for, or the default (30 days): a hand-edited URL shows the default.
fn preset(q: &ShareQuery) -> &'static str {
    let asked = q.days.as_deref().unwrap_or_default();
    PRESETS.iter().map(|(d, ..)| *d).find(|d| *d == asked).unwrap_or("30")
}

fn html(status: StatusCode, body: String) -> Response {
    let mut res = (status, axum::response::Html(body)).into_response();
    let h = res.headers_mut();
    h.insert(HeaderName::from_static("x-robots-tag"), HeaderValue::from_static("noindex, nofollow"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    res
}

fn cookie_name(shared: &Shared) -> String {
    format!("sb_share_{}", shared.id)
}

/// Whether the link asks for a password this request has not given.
fn locked(s: &ServerState, shared: &Shared, jar: &CookieJar) -> bool {
    shared.password_hash.is_some() && !jar.get(&cookie_name(shared)).is_some_and(|c| share_links::unlocks(&s.app.keys, shared, c.value()))
}

fn until_words(shared: &Shared, lang: Lang, tz: chrono_tz::Tz) -> Option<String> {
    shared.expires_at.map(|t| {
        let local = t.with_timezone(&tz).format("%Y-%m-%d %H:%M");
        match lang {
            Lang::Zh => format!(" 链接有效至 {local}。"),
            Lang::En => format!(" The link works until {local}."),
        }
    })
}

/// A failure while reading the numbers: logged, and a plain page (the database may be down).
fn failed(e: ServiceError, lang: Lang) -> Response {
    tracing::warn!(error = %e, "share page failed");
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    html(status, lang.pick("暂时无法显示，请稍后再试。", "This view cannot be shown right now; try again later.").to_owned())
}

/// What both routes start from: the link `token` opens, in the language and preset asked for;
/// or the answer for a token that opens nothing (or a database that does not answer).
struct Opened {
    shared: Shared,
    lang: Lang,
    css: String,
    days: &'static str,
}

async fn open(s: &ServerState, token: &str, q: Result<Query<ShareQuery>, QueryRejection>, headers: &HeaderMap) -> Result<Opened, Response> {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let lang = language(&q, headers);
    let css = s.site.assets().css.clone();
    match share_links::resolve(&s.app.db, token, Utc::now()).await {
        Ok(Some(shared)) => Ok(Opened { shared, lang, css, days: preset(&q) }),
        Ok(None) => Err(html(StatusCode::NOT_FOUND, page::gone(lang, &css))),
        Err(e) => Err(failed(e, lang)),
    }
}

async fn view(
    State(s): State<ServerState>,
    Path(token): Path<String>,
    q: Result<Query<ShareQuery>, QueryRejection>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let Opened { shared, lang, css, days } = match open(&s, &token, q, &headers).await {
        Ok(opened) => opened,
        Err(answer) => return answer,
    };
    let tz = analytics::zone(&s.app, None);
    let frame = Frame { lang, css: &css, token: &token, days, until: until_words(&shared, lang, tz) };
    if locked(&s, &shared, &jar) {
        return html(StatusCode::OK, frame.password(None));
    }
    match render(&s, &shared, &frame).await {
        Ok(Some(body)) => html(StatusCode::OK, body),
        Ok(None) => html(StatusCode::NOT_FOUND, page::gone(lang, &css)),
        Err(e) => failed(e, lang),
    }
}

/// The page of an open link; `None` when a group has no live campaign left.
async fn render(s: &ServerState, shared: &Shared, frame: &Frame<'_>) -> Result<Option<String>, ServiceError> {
    let req = RangeRequest { days: Some(frame.days.to_owned()), ..Default::default() };
    let now = Utc::now();
    match &shared.target {
        Target::Campaign(id) => {
            let t = analytics::campaign_trend(&s.app, *id, &req, &Metric::DEFAULT, true, frame.lang, now).await?;
            let svg = service::chart::inline(&t.spec)?;
            let frame = Frame { until: until_words(shared, frame.lang, t.tz), ..*frame };
            Ok(Some(frame.campaign(&t, &svg)))
        }
        Target::Group { account_id, group } => {
            let ids = service::campaigns::group_members(&s.app.db, group, Some(*account_id)).await?;
            if ids.is_empty() {
                return Ok(None);
            }
            let c = analytics::compare(&s.app, &ids, None, Metric::NewFollowers, &req, frame.lang, now).await?;
            let svg = service::chart::inline(&c.spec)?;
            let frame = Frame { until: until_words(shared, frame.lang, c.tz), ..*frame };
            Ok(Some(frame.group(group, &c, &svg)))
        }
    }
}

async fn unlock(
    State(s): State<ServerState>,
    Extension(tries): Extension<PasswordTries>,
    Path(token): Path<String>,
    q: Result<Query<ShareQuery>, QueryRejection>,
    headers: HeaderMap,
    Form(form): Form<Unlock>,
) -> Response {
    let Opened { shared, lang, css, days } = match open(&s, &token, q, &headers).await {
        Ok(opened) => opened,
        Err(answer) => return answer,
    };
    let back = format!("/s/{token}?days={days}&lang={}", lang.code());
    let (Some(hash), Some(tag)) = (shared.password_hash.clone(), share_links::unlock_tag(&s.app.keys, &shared)) else {
        return Redirect::to(&back).into_response();
    };
    let frame = Frame { lang, css: &css, token: &token, days, until: None };
    if let Err(wait) = tries.0.check(shared.id) {
        let words = match lang {
            Lang::Zh => format!("尝试次数太多，请 {wait} 秒后再试。"),
            Lang::En => format!("Too many tries; try again in {wait} s."),
        };
        let mut res = html(StatusCode::TOO_MANY_REQUESTS, frame.password(Some(&words)));
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    if !service::users::verify_password(&form.password, &hash).await {
        return html(StatusCode::UNAUTHORIZED, frame.password(Some(lang.pick("密码不对。", "That password is not right."))));
    }
    let cookie = Cookie::build((cookie_name(&shared), tag))
        .path(format!("/s/{token}"))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(s.app.settings.secure_cookies)
        .max_age(cookie::time::Duration::hours(UNLOCK_HOURS));
    (CookieJar::new().add(cookie), Redirect::to(&back)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_presets_are_shown() {
        let q = |d: &str| ShareQuery { days: Some(d.into()), lang: None };
        assert_eq!(preset(&q("7")), "7");
        assert_eq!(preset(&q("month")), "month");
        assert_eq!(preset(&q("3650")), "30");
        assert_eq!(preset(&ShareQuery::default()), "30");
    }
}
