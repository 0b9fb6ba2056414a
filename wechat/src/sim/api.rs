//! The WeChat API under `/cgi-bin/`: token, stable_token, qrcode/create, showqrcode and tags.
//! WeChat answers HTTP 200 with an `errcode` JSON on every API error.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};

use super::page;
use super::random_string;
use super::state::{Inner, IssuedCode, SimScene, SimState, TokenRec};

pub(super) type Params = Query<HashMap<String, String>>;

pub(super) fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str)
}

fn rid() -> String {
    let mut rng = rand::thread_rng();
    format!("{:08x}-{:08x}-{:08x}", rng.r#gen::<u32>(), rng.r#gen::<u32>(), rng.r#gen::<u32>())
}

fn wx_error(errcode: i64, errmsg: &str) -> Value {
    json!({ "errcode": errcode, "errmsg": format!("{errmsg} rid: {}", rid()) })
}

/// The answer WeChat gives to a stale or missing token.
fn token_error(inner: &Inner, token: Option<&str>, now: i64) -> Result<String, Value> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(wx_error(41001, "access_token missing"));
    };
    match inner.tokens.get(token) {
        None => Err(wx_error(40001, "invalid credential, access_token is invalid or not latest")),
        Some(rec) if rec.revoked => Err(wx_error(40001, "invalid credential, access_token is invalid or not latest")),
        Some(rec) if rec.expires_at <= now => Err(wx_error(42001, "access_token expired")),
        Some(rec) => Ok(rec.app_id.clone()),
    }
}

/// Issues a token; `stable` reuses a still-valid stable token unless `force`.
fn issue_token(state: &SimState, app_id: Option<&str>, secret: Option<&str>, grant_type: Option<&str>, stable: bool, force: bool) -> Value {
    let now = state.now();
    let ttl = state.settings.token_ttl;
    let mut guard = state.lock();
    let inner = &mut *guard;
    if grant_type != Some("client_credential") {
        return wx_error(40002, "invalid grant_type");
    }
    let Some(app_id) = app_id.filter(|a| !a.is_empty()) else {
        return wx_error(41002, "appid missing");
    };
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return wx_error(41004, "appsecret missing");
    };
    let Some(app) = inner.apps.get_mut(app_id) else {
        return wx_error(40013, "invalid appid");
    };
    app.token_requests += 1;
    if let Some(ip) = &app.blocked_ip {
        return wx_error(40164, &format!("invalid ip {ip} ipv6 ::ffff:{ip}, not in whitelist"));
    }
    if app.busy > 0 {
        app.busy -= 1;
        return wx_error(-1, "system error");
    }
    if app.cfg.secret != secret {
        return wx_error(40125, "invalid appsecret");
    }
    let current = if stable { app.stable.clone() } else { None };
    // Normal mode answers the current stable token while it lives, revoked or not (WeChat's
    // stable_token does: only `force_refresh` gets past a revoked one).
    if let (Some(tok), false) = (current, force)
        && let Some(rec) = inner.tokens.get(&tok).filter(|r| r.expires_at > now)
    {
        return json!({ "access_token": tok, "expires_in": rec.expires_at - now });
    }
    let token = format!("{}_{}", rand::thread_rng().gen_range(80..99), random_string(134));
    let previous = if stable { app.stable.replace(token.clone()) } else { app.classic.replace(token.clone()) };
    app.token_fetches += 1;
    app.forced_refreshes += u64::from(stable && force);
    if let Some(prev) = previous.and_then(|p| inner.tokens.get_mut(&p)) {
        if stable {
            // A forced stable refresh revokes the previous stable token at once.
            prev.revoked = true;
        } else {
            // cgi-bin/token keeps the previous token for a five-minute grace period.
            prev.expires_at = prev.expires_at.min(now + 300);
        }
    }
    inner.tokens.insert(token.clone(), TokenRec { app_id: app_id.to_owned(), expires_at: now + ttl, revoked: false });
    json!({ "access_token": token, "expires_in": ttl })
}

pub(super) async fn token_classic(State(state): State<SimState>, Query(q): Params) -> Json<Value> {
    Json(issue_token(&state, param(&q, "appid"), param(&q, "secret"), param(&q, "grant_type"), false, false))
}

pub(super) async fn token_stable(State(state): State<SimState>, body: Bytes) -> Json<Value> {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return Json(wx_error(47001, "data format error"));
    };
    let force = v.get("force_refresh").and_then(Value::as_bool).unwrap_or(false);
    Json(issue_token(
        &state,
        v.get("appid").and_then(Value::as_str),
        v.get("secret").and_then(Value::as_str),
        v.get("grant_type").and_then(Value::as_str),
        true,
        force,
    ))
}

/// Checks the token and the busy switch; gives the account's AppID.
fn authorize(state: &SimState, q: &HashMap<String, String>) -> Result<String, Value> {
    let now = state.now();
    let mut inner = state.lock();
    let app_id = token_error(&inner, param(q, "access_token"), now)?;
    if let Some(app) = inner.apps.get_mut(&app_id)
        && app.busy > 0
    {
        app.busy -= 1;
        return Err(wx_error(-1, "system error"));
    }
    Ok(app_id)
}

pub(super) fn qr_create(state: &SimState, app_id: &str, body: &[u8]) -> Value {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return wx_error(47001, "data format error");
    };
    let action = v.get("action_name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let (temporary, string) = match action.as_str() {
        "QR_SCENE" => (true, false),
        "QR_STR_SCENE" => (true, true),
        "QR_LIMIT_SCENE" => (false, false),
        "QR_LIMIT_STR_SCENE" => (false, true),
        _ => return wx_error(40097, "invalid args: action_name"),
    };
    // As on WeChat: without the `action_info.scene` wrapper the scene silently becomes 0/"".
    let scene_obj = v.pointer("/action_info/scene");
    let scene = if string {
        let s = scene_obj.and_then(|s| s.get("scene_str")).and_then(Value::as_str).unwrap_or_default();
        let chars = s.chars().count();
        if scene_obj.is_some() && !(1..=64).contains(&chars) {
            return wx_error(40097, "invalid args: scene_str length must be 1 to 64");
        }
        SimScene::Str(s.to_owned())
    } else {
        let n = match scene_obj.and_then(|s| s.get("scene_id")) {
            None => 0,
            Some(id) => match id.as_u64() {
                Some(n) => n,
                None => return wx_error(40097, "invalid args: scene_id"),
            },
        };
        if scene_obj.is_some() {
            let ok = if temporary { (1..=u64::from(u32::MAX)).contains(&n) } else { (1..=100_000).contains(&n) };
            if !ok {
                return wx_error(40097, "invalid args: scene_id out of range");
            }
        }
        SimScene::Id(n)
    };
    let now = state.now();
    let expire_seconds = if temporary {
        match v.get("expire_seconds") {
            // WeChat's default when the field is missing: a code that dies in a minute.
            None => 60,
            Some(e) => match e.as_i64() {
                Some(e) if (60..=2_592_000).contains(&e) => e,
                _ => return wx_error(40097, "invalid args: expire_seconds must be 60 to 2592000"),
            },
        }
    } else {
        0
    };
    let quota = state.settings.permanent_quota;
    let mut guard = state.lock();
    let inner = &mut *guard;
    let Some(app) = inner.apps.get_mut(app_id) else {
        return wx_error(40013, "invalid appid");
    };
    if !temporary {
        if let Some(&idx) = app.permanent.get(&scene)
            && let Some(code) = app.codes.get(idx)
        {
            return json!({ "ticket": code.ticket, "url": code.url });
        }
        if app.permanent.len() >= quota {
            return wx_error(45029, "qrcode count out of limit");
        }
    }
    let url = format!("http://weixin.qq.com/q/02{}", random_string(20));
    let mut raw = vec![0u8; 12];
    rand::thread_rng().fill(&mut raw[..]);
    raw.extend_from_slice(url.as_bytes());
    let ticket = {
        use base64::Engine as _;
        format!("gQ{}", base64::prelude::BASE64_STANDARD.encode(&raw))
    };
    let code = IssuedCode {
        app_id: app_id.to_owned(),
        ticket: ticket.clone(),
        url: url.clone(),
        action_name: action.clone(),
        scene: scene.clone(),
        created_at: now,
        expires_at: temporary.then_some(now + expire_seconds),
    };
    let idx = app.codes.len();
    app.codes.push(code);
    if !temporary {
        app.permanent.insert(scene.clone(), idx);
    }
    inner.tickets.insert(ticket.clone(), (app_id.to_owned(), idx));
    inner.note(format!("{app_id} issued {action} scene {scene}"));
    if temporary {
        json!({ "ticket": ticket, "expire_seconds": expire_seconds, "url": url })
    } else {
        json!({ "ticket": ticket, "url": url })
    }
}

pub(super) async fn qrcode_create(State(state): State<SimState>, Query(q): Params, body: Bytes) -> Json<Value> {
    Json(match authorize(&state, &q) {
        Ok(app_id) => qr_create(&state, &app_id, &body),
        Err(e) => e,
    })
}

pub(super) async fn showqrcode(State(state): State<SimState>, Query(q): Params) -> Response {
    let now = state.now();
    match param(&q, "ticket").and_then(|t| state.code(t)) {
        Some(code) if code.expires_at.is_none_or(|at| at > now) => {
            ([(header::CONTENT_TYPE, "image/svg+xml")], page::placeholder_svg(&code.url)).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "ticket not found or expired").into_response(),
    }
}

pub(super) async fn tags_create(State(state): State<SimState>, Query(q): Params, body: Bytes) -> Json<Value> {
    let app_id = match authorize(&state, &q) {
        Ok(a) => a,
        Err(e) => return Json(e),
    };
    let Some(name) =
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.pointer("/tag/name").and_then(Value::as_str).map(str::to_owned))
    else {
        return Json(wx_error(47001, "data format error"));
    };
    let mut inner = state.lock();
    let Some(app) = inner.apps.get_mut(&app_id) else {
        return Json(wx_error(40013, "invalid appid"));
    };
    let chars = name.chars().count();
    Json(if chars == 0 {
        wx_error(45157, "invalid tag name")
    } else if chars > 30 {
        wx_error(45158, "tag name too long")
    } else if app.tags.values().any(|n| *n == name) {
        wx_error(45157, "tag name already exists")
    } else if app.tags.len() >= 100 {
        wx_error(45056, "too many tags")
    } else {
        let id = app.next_tag;
        app.next_tag += 1;
        app.tags.insert(id, name.clone());
        json!({ "tag": { "id": id, "name": name } })
    })
}

pub(super) async fn tags_get(State(state): State<SimState>, Query(q): Params) -> Json<Value> {
    let app_id = match authorize(&state, &q) {
        Ok(a) => a,
        Err(e) => return Json(e),
    };
    let inner = state.lock();
    let tags: Vec<Value> = inner
        .apps
        .get(&app_id)
        .map(|app| {
            app.tags
                .iter()
                .map(|(id, name)| {
                    let count = app.followers.values().filter(|f| f.tags.contains(id)).count();
                    json!({ "id": id, "name": name, "count": count })
                })
                .collect()
        })
        .unwrap_or_default();
    Json(json!({ "tags": tags }))
}

pub(super) async fn tags_batchtagging(State(state): State<SimState>, Query(q): Params, body: Bytes) -> Json<Value> {
    let app_id = match authorize(&state, &q) {
        Ok(a) => a,
        Err(e) => return Json(e),
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return Json(wx_error(47001, "data format error"));
    };
    let openids: Vec<String> = v
        .get("openid_list")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let Some(tag) = v.get("tagid").and_then(Value::as_u64) else {
        return Json(wx_error(40032, "invalid tagid"));
    };
    let mut inner = state.lock();
    let Some(app) = inner.apps.get_mut(&app_id) else {
        return Json(wx_error(40013, "invalid appid"));
    };
    let answer = if openids.is_empty() || openids.len() > 50 {
        wx_error(40032, "invalid openid list size, must be 1 to 50")
    } else if !app.tags.contains_key(&tag) {
        wx_error(45159, "invalid tag id")
    } else if openids.iter().any(|o| !app.followers.get(o).is_some_and(|f| f.subscribed)) {
        wx_error(40003, "invalid openid")
    } else {
        for o in &openids {
            if let Some(f) = app.followers.get_mut(o) {
                f.tags.insert(tag);
            }
            *app.tagged.entry(o.clone()).or_default() += 1;
        }
        app.tag_calls += 1;
        json!({ "errcode": 0, "errmsg": "ok" })
    };
    if answer.get("errcode").and_then(Value::as_i64) != Some(0) {
        app.tag_call_failures += 1;
    }
    Json(answer)
}
