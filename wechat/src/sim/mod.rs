//! A local stand-in for `api.weixin.qq.com`: token, stable_token, qrcode/create, showqrcode
//! and tags, with WeChat's validation and error codes, plus a "scan" that pushes
//! signed (optionally AES-encrypted) events to a callback the way WeChat does.
//!
//! It exists because the real API cannot be reached from development machines and a new user
//! has no Official Account yet. It is deliberately strict: a request that real WeChat would
//! refuse or misread is refused or misread here too (e.g. a `qrcode/create` body without the
//! `action_info.scene` wrapper yields a code for scene 0, as on WeChat).
//!
//! All state is in memory. [`router`] gives the axum app, [`serve`] runs it, [`spawn`] binds
//! it on a free loopback port for tests.

mod page;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Json;
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::crypto::{EncryptMode, MsgCrypt, msg_signature, signature, verify_msg_signature};
use crate::error::CryptoError;
use crate::token::unix_now;
use crate::xml::{envelope_xml, event_xml, parse_encrypted_reply};

/// One simulated Official Account.
#[derive(Clone)]
pub struct SimApp {
    /// The AppID (`wx` + 16 hex digits on WeChat).
    pub app_id: String,
    /// The AppSecret the simulator expects.
    pub secret: String,
    /// The callback Token used to sign pushes.
    pub token: String,
    /// The EncodingAESKey (43 characters), needed for compat and safe mode.
    pub aes_key: Option<String>,
    /// How pushes are sent.
    pub mode: EncryptMode,
    /// Where pushes go; `None` records scans without pushing.
    pub callback_url: Option<String>,
    /// The account's original id (`gh_...`), the `ToUserName` of pushes.
    pub original_id: String,
    /// A display name for the page.
    pub name: String,
}

impl fmt::Debug for SimApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimApp")
            .field("app_id", &self.app_id)
            .field("secret", &crate::error::Redacted)
            .field("token", &crate::error::Redacted)
            .field("aes_key", &self.aes_key.as_ref().map(|_| crate::error::Redacted))
            .field("mode", &self.mode)
            .field("callback_url", &self.callback_url)
            .field("original_id", &self.original_id)
            .finish()
    }
}

impl SimApp {
    /// An account with the given credentials, plaintext mode, no callback.
    pub fn new(app_id: impl Into<String>, secret: impl Into<String>) -> Self {
        let app_id = app_id.into();
        let original_id = format!("gh_{}", app_id.trim_start_matches("wx").chars().take(12).collect::<String>());
        Self {
            name: format!("Simulated account {app_id}"),
            app_id,
            secret: secret.into(),
            token: "sceneboard".into(),
            aes_key: None,
            mode: EncryptMode::Plain,
            callback_url: None,
            original_id,
        }
    }

    /// The built-in sandbox account the demo and `wechat-sim` use when none is given.
    pub fn sandbox() -> Self {
        Self::new("wx5ce0b0a4d0000001", "sandbox-secret-0123456789abcdef").with_name("Sceneboard sandbox")
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the callback URL and Token.
    pub fn with_callback(mut self, url: impl Into<String>, token: impl Into<String>) -> Self {
        self.callback_url = Some(url.into());
        self.token = token.into();
        self
    }

    /// Sets the EncodingAESKey and mode.
    pub fn with_encryption(mut self, aes_key: impl Into<String>, mode: EncryptMode) -> Self {
        self.aes_key = Some(aes_key.into());
        self.mode = mode;
        self
    }
}

/// The simulator's configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The accounts it knows; any other AppID gets 40013.
    pub apps: Vec<SimApp>,
    /// Token lifetime in seconds (WeChat: 7200).
    pub token_ttl: i64,
    /// Permanent codes each account may create (WeChat: 100000).
    pub permanent_quota: usize,
    /// How long a push waits for the callback (WeChat: 5 s).
    pub push_timeout: Duration,
    /// Tries per push (WeChat: 3).
    pub push_tries: u32,
    /// Path prefix when the router is nested in another app (e.g. `/wechat-sim`), so the
    /// page's forms and redirects point at the right place; empty when served at the root.
    pub mount_path: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            apps: vec![SimApp::sandbox()],
            token_ttl: 7200,
            permanent_quota: 100_000,
            push_timeout: Duration::from_secs(5),
            push_tries: 3,
            mount_path: String::new(),
        }
    }
}

impl SimConfig {
    /// A configuration with exactly these accounts.
    pub fn with_apps(apps: Vec<SimApp>) -> Self {
        Self { apps, ..Self::default() }
    }

    /// The configuration of `sceneboard wechat-sim --addr A [--callback URL --token T
    /// [--aes-key K --app-id A]]`: the sandbox account (or `app_id`), pushing to `callback`
    /// signed with `token`, in safe mode when an EncodingAESKey is given.
    pub fn from_cli(
        callback: Option<String>,
        token: Option<String>,
        aes_key: Option<String>,
        app_id: Option<String>,
    ) -> Result<Self, String> {
        let mut app = SimApp::sandbox();
        if let Some(app_id) = app_id {
            app = SimApp::new(app_id, app.secret).with_name("Sceneboard sandbox");
        }
        match (callback, token) {
            (Some(url), Some(token)) => app = app.with_callback(url, token),
            (Some(_), None) => return Err("--callback needs --token-file FILE (or SCENEBOARD_ACCOUNT_TOKEN)".into()),
            (None, Some(token)) => app.token = token,
            (None, None) => {}
        }
        if let Some(key) = aes_key {
            crate::crypto::decode_aes_key(&key).map_err(|e| e.to_string())?;
            app = app.with_encryption(key, EncryptMode::Safe);
        }
        Ok(Self::with_apps(vec![app]))
    }
}

/// A scene as the simulator stored it: raw, since WeChat accepts temporary ids beyond 100000
/// and the wrapper-less body yields 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimScene {
    /// `scene_id`.
    Id(u64),
    /// `scene_str`.
    Str(String),
}

impl fmt::Display for SimScene {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(n) => write!(f, "{n}"),
            Self::Str(s) => f.write_str(s),
        }
    }
}

/// A code the simulator issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCode {
    /// The account.
    pub app_id: String,
    /// The ticket.
    pub ticket: String,
    /// The text inside the code.
    pub url: String,
    /// `QR_SCENE`, `QR_LIMIT_STR_SCENE`...
    pub action_name: String,
    /// The scene it carries.
    pub scene: SimScene,
    /// Unix seconds of creation (simulator clock).
    pub created_at: i64,
    /// Temporary codes: unix seconds of expiry (simulator clock).
    pub expires_at: Option<i64>,
}

impl IssuedCode {
    /// True for `QR_LIMIT_*` codes.
    pub fn is_permanent(&self) -> bool {
        self.expires_at.is_none()
    }
}

/// A simulated follower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follower {
    /// The OpenID.
    pub openid: String,
    /// Following right now.
    pub subscribed: bool,
    /// Unix seconds of the latest follow.
    pub subscribe_time: i64,
    /// `ADD_SCENE_QR_CODE` or `ADD_SCENE_SEARCH`.
    pub subscribe_scene: String,
    /// The scene they last followed through.
    pub scene: Option<SimScene>,
    /// Tag ids.
    pub tags: BTreeSet<u64>,
}

#[derive(Debug, Clone)]
struct TokenRec {
    app_id: String,
    expires_at: i64,
    revoked: bool,
}

#[derive(Debug)]
struct AppSim {
    cfg: SimApp,
    classic: Option<String>,
    stable: Option<String>,
    codes: Vec<IssuedCode>,
    permanent: HashMap<SimScene, usize>,
    followers: BTreeMap<String, Follower>,
    tags: BTreeMap<u64, String>,
    next_tag: u64,
    token_fetches: u64,
    /// `stable_token` calls with `force_refresh: true` that issued a token.
    forced_refreshes: u64,
    busy: u32,
    blocked_ip: Option<String>,
    /// For `/sim/stats`: every token request naming this account, new token or not.
    token_requests: u64,
    /// For `/sim/stats`: accepted and refused `batchtagging` calls, and taggings per OpenID.
    tag_calls: u64,
    tag_call_failures: u64,
    tagged: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Inner {
    apps: BTreeMap<String, AppSim>,
    tickets: HashMap<String, (String, usize)>,
    tokens: HashMap<String, TokenRec>,
    log: VecDeque<String>,
}

impl Inner {
    fn note(&mut self, line: String) {
        // Notes name simulated followers by OpenID: at debug only, since the simulator runs
        // inside `sceneboard demo`, whose log at info never names a follower.
        tracing::debug!(target: "wechat_sim", "{line}");
        self.log.push_front(line);
        self.log.truncate(30);
    }
}

/// The simulator's shared state; cheap to clone.
#[derive(Clone)]
pub struct SimState {
    inner: Arc<Mutex<Inner>>,
    clock_offset: Arc<AtomicI64>,
    settings: Arc<SimConfig>,
    http: reqwest::Client,
    faults: Arc<Mutex<Faults>>,
}

/// Faults of the whole API (every `/cgi-bin/` call of every account), for fault drills: WeChat
/// slow to answer, or down behind its gateway.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Wait this long before answering.
    pub delay: Duration,
    /// Answer 502 with an HTML error page (what a failing gateway sends) instead of the API.
    pub down: bool,
}

impl fmt::Debug for SimState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimState").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// Why a simulated scan or unsubscribe did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// No code with this ticket.
    #[error("no code with this ticket")]
    UnknownTicket,
    /// The temporary code has expired: WeChat would show nothing.
    #[error("this temporary code has expired")]
    Expired,
    /// No account with this AppID.
    #[error("no simulated account {0}")]
    UnknownApp(String),
    /// No such follower (or none to pick).
    #[error("no such follower")]
    UnknownFollower,
    /// The account's EncodingAESKey is invalid.
    #[error("the account's EncodingAESKey: {0}")]
    Crypto(CryptoError),
    /// The callback never answered 2xx.
    #[error("the callback failed after {tries} tries: {last}")]
    PushFailed {
        /// Tries made.
        tries: u32,
        /// The last failure.
        last: String,
    },
}

/// Who scans a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanner {
    /// A new user, who follows through the code (`subscribe` with `qrscene_<scene>`).
    NewFollower,
    /// A known follower: `SCAN` if following, a new `subscribe` if they had left. `None`
    /// picks the most recent follower.
    Existing(Option<String>),
}

/// What happened to one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The follower's OpenID.
    pub openid: String,
    /// The event pushed (`subscribe`, `SCAN`, `unsubscribe`).
    pub event: String,
    /// The plaintext event XML.
    pub xml: String,
    /// The callback's answer, `None` when no callback is configured.
    pub delivery: Option<Delivery>,
}

/// The callback's answer to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Tries used (1..=3).
    pub tries: u32,
    /// HTTP status of the accepted answer.
    pub status: u16,
    /// The body as sent.
    pub body: String,
    /// The reply, decrypted when encrypted; `None` for `success` or empty.
    pub reply: Option<String>,
    /// Why WeChat would reject the reply ("this account cannot serve you right now").
    pub reply_error: Option<String>,
}

fn random_string(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
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

impl SimState {
    /// Builds the state from a configuration.
    pub fn new(config: SimConfig) -> Self {
        let mut inner = Inner::default();
        for app in &config.apps {
            inner.apps.insert(
                app.app_id.clone(),
                AppSim {
                    cfg: app.clone(),
                    classic: None,
                    stable: None,
                    codes: Vec::new(),
                    permanent: HashMap::new(),
                    followers: BTreeMap::new(),
                    tags: BTreeMap::new(),
                    next_tag: 100,
                    token_fetches: 0,
                    forced_refreshes: 0,
                    busy: 0,
                    blocked_ip: None,
                    token_requests: 0,
                    tag_calls: 0,
                    tag_call_failures: 0,
                    tagged: BTreeMap::new(),
                },
            );
        }
        let http = reqwest::Client::builder()
            .timeout(config.push_timeout)
            .connect_timeout(config.push_timeout)
            .user_agent("Mozilla/4.0")
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(Mutex::new(inner)),
            clock_offset: Arc::new(AtomicI64::new(0)),
            settings: Arc::new(config),
            http,
            faults: Arc::new(Mutex::new(Faults::default())),
        }
    }

    /// Sets the API's faults (all clear by default).
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = faults;
        self.lock().note(format!("API faults: delay {} ms, down {}", faults.delay.as_millis(), faults.down));
    }

    /// The API's current faults.
    pub fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The simulator's clock: real time plus whatever [`SimState::advance`] added.
    pub fn now(&self) -> i64 {
        unix_now().saturating_add(self.clock_offset.load(Ordering::Relaxed))
    }

    /// Moves the simulator's clock forward, so tokens and temporary codes expire in tests.
    pub fn advance(&self, by: Duration) {
        self.clock_offset.fetch_add(i64::try_from(by.as_secs()).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// How many tokens were handed out for `app_id` (both endpoints).
    pub fn token_fetches(&self, app_id: &str) -> u64 {
        self.lock().apps.get(app_id).map_or(0, |a| a.token_fetches)
    }

    /// How many tokens `stable_token` issued for `app_id` because of `force_refresh: true`.
    pub fn forced_refreshes(&self, app_id: &str) -> u64 {
        self.lock().apps.get(app_id).map_or(0, |a| a.forced_refreshes)
    }

    /// Revokes every token of `app_id`: API calls with them get 40001. As on WeChat,
    /// `stable_token` in normal mode keeps answering the current (revoked) stable token until
    /// it expires; only `force_refresh: true` replaces it.
    pub fn invalidate_tokens(&self, app_id: &str) {
        let mut inner = self.lock();
        for rec in inner.tokens.values_mut().filter(|r| r.app_id == app_id) {
            rec.revoked = true;
        }
        if let Some(app) = inner.apps.get_mut(app_id) {
            app.classic = None;
        }
    }

    /// Makes the next `calls` API calls of `app_id` answer -1 (system busy).
    pub fn set_busy(&self, app_id: &str, calls: u32) {
        if let Some(app) = self.lock().apps.get_mut(app_id) {
            app.busy = calls;
        }
    }

    /// Makes token requests of `app_id` fail with 40164 as if `ip` were not whitelisted.
    pub fn block_ip(&self, app_id: &str, ip: Option<String>) {
        if let Some(app) = self.lock().apps.get_mut(app_id) {
            app.blocked_ip = ip;
        }
    }

    /// Points an account's pushes at a callback (e.g. once the app under test has a port).
    pub fn set_callback(&self, app_id: &str, url: Option<String>) {
        if let Some(app) = self.lock().apps.get_mut(app_id) {
            app.cfg.callback_url = url;
        }
    }

    /// The codes issued for `app_id`, oldest first.
    pub fn codes(&self, app_id: &str) -> Vec<IssuedCode> {
        self.lock().apps.get(app_id).map(|a| a.codes.clone()).unwrap_or_default()
    }

    /// One follower of `app_id`.
    pub fn follower(&self, app_id: &str, openid: &str) -> Option<Follower> {
        self.lock().apps.get(app_id).and_then(|a| a.followers.get(openid).cloned())
    }

    /// The code with this ticket.
    pub fn code(&self, ticket: &str) -> Option<IssuedCode> {
        let inner = self.lock();
        let (app_id, idx) = inner.tickets.get(ticket)?;
        inner.apps.get(app_id)?.codes.get(*idx).cloned()
    }

    /// Simulates a scan of the code with `ticket` and pushes the event WeChat would push.
    pub async fn scan(&self, ticket: &str, scanner: Scanner) -> Result<PushReport, SimError> {
        let now = self.now();
        let (app, openid, event, key, note) = {
            let mut inner = self.lock();
            let (app_id, idx) = inner.tickets.get(ticket).cloned().ok_or(SimError::UnknownTicket)?;
            let app = inner.apps.get_mut(&app_id).ok_or_else(|| SimError::UnknownApp(app_id.clone()))?;
            let code = app.codes.get(idx).cloned().ok_or(SimError::UnknownTicket)?;
            if code.expires_at.is_some_and(|at| at <= now) {
                return Err(SimError::Expired);
            }
            let openid = match scanner {
                Scanner::NewFollower => format!("o{}", random_string(27)),
                Scanner::Existing(Some(openid)) => {
                    if !app.followers.contains_key(&openid) {
                        return Err(SimError::UnknownFollower);
                    }
                    openid
                }
                Scanner::Existing(None) => app
                    .followers
                    .values()
                    .filter(|f| f.subscribed)
                    .max_by_key(|f| f.subscribe_time)
                    .map(|f| f.openid.clone())
                    .ok_or(SimError::UnknownFollower)?,
            };
            let following = app.followers.get(&openid).is_some_and(|f| f.subscribed);
            let (event, key) = if following {
                ("SCAN", code.scene.to_string())
            } else {
                let follower = app.followers.entry(openid.clone()).or_insert_with(|| Follower {
                    openid: openid.clone(),
                    subscribed: true,
                    subscribe_time: now,
                    subscribe_scene: "ADD_SCENE_QR_CODE".into(),
                    scene: None,
                    tags: BTreeSet::new(),
                });
                follower.subscribed = true;
                follower.subscribe_time = now;
                follower.subscribe_scene = "ADD_SCENE_QR_CODE".into();
                follower.scene = Some(code.scene.clone());
                ("subscribe", format!("qrscene_{}", code.scene))
            };
            let note = format!("{openid} scanned {} ({} {}) → {event}", code.ticket, code.action_name, code.scene);
            (app.cfg.clone(), openid, event, key, note)
        };
        self.lock().note(note);
        let xml = event_xml(&app.original_id, &openid, now, event, Some(&key), Some(ticket));
        self.deliver(&app, openid, event, xml, now).await
    }

    /// Simulates a follower leaving and pushes `unsubscribe`.
    pub async fn unsubscribe(&self, app_id: &str, openid: &str) -> Result<PushReport, SimError> {
        let now = self.now();
        let app = {
            let mut inner = self.lock();
            let app = inner.apps.get_mut(app_id).ok_or_else(|| SimError::UnknownApp(app_id.to_owned()))?;
            let follower = app.followers.get_mut(openid).filter(|f| f.subscribed).ok_or(SimError::UnknownFollower)?;
            follower.subscribed = false;
            follower.tags.clear();
            let cfg = app.cfg.clone();
            inner.note(format!("{openid} unsubscribed from {app_id}"));
            cfg
        };
        let xml = event_xml(&app.original_id, openid, now, "unsubscribe", Some(""), None);
        self.deliver(&app, openid.to_owned(), "unsubscribe", xml, now).await
    }

    async fn deliver(&self, app: &SimApp, openid: String, event: &str, xml: String, now: i64) -> Result<PushReport, SimError> {
        let delivery = match &app.callback_url {
            None => None,
            Some(url) => {
                let result = push(&self.http, app, url, &openid, &xml, now, self.settings.push_tries).await;
                let line = match &result {
                    Ok(d) => format!("push {event} for {openid}: HTTP {} after {} tries{}", d.status, d.tries,
                        d.reply_error.as_ref().map(|e| format!(", reply refused: {e}")).unwrap_or_default()),
                    Err(e) => format!("push {event} for {openid}: {e}"),
                };
                self.lock().note(line);
                Some(result?)
            }
        };
        Ok(PushReport { openid, event: event.to_owned(), xml, delivery })
    }
}

/// Pushes one event to a callback as WeChat does: signed query (`signature`, `timestamp`,
/// `nonce`, `openid`, plus `encrypt_type=aes` and `msg_signature` in compat/safe mode), each
/// try bounded by the client's timeout, up to `tries` tries, then reads the reply like WeChat.
pub async fn push(
    http: &reqwest::Client,
    app: &SimApp,
    callback_url: &str,
    openid: &str,
    plain_xml: &str,
    timestamp: i64,
    tries: u32,
) -> Result<Delivery, SimError> {
    let timestamp = timestamp.to_string();
    let nonce = rand::thread_rng().gen_range(100_000_000u32..2_000_000_000).to_string();
    let crypt = match (&app.aes_key, app.mode) {
        (_, EncryptMode::Plain) => None,
        (Some(key), _) => Some(MsgCrypt::new(key, &app.app_id).map_err(SimError::Crypto)?),
        (None, _) => return Err(SimError::Crypto(CryptoError::InvalidAesKey)),
    };
    let mut query = vec![
        ("signature", signature(&app.token, &timestamp, &nonce)),
        ("timestamp", timestamp.clone()),
        ("nonce", nonce.clone()),
        ("openid", openid.to_owned()),
    ];
    let body = match &crypt {
        None => plain_xml.to_owned(),
        Some(crypt) => {
            let encrypt = crypt.encrypt(plain_xml).map_err(SimError::Crypto)?;
            query.push(("encrypt_type", "aes".into()));
            query.push(("msg_signature", msg_signature(&app.token, &timestamp, &nonce, &encrypt)));
            let plain_fields = (app.mode == EncryptMode::Compat).then_some(plain_xml);
            envelope_xml(&app.original_id, &encrypt, plain_fields)
        }
    };
    let mut last = String::from("not tried");
    for attempt in 1..=tries.max(1) {
        let sent = http
            .post(callback_url)
            .query(&query)
            .header(header::CONTENT_TYPE, "text/xml")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                let (reply, reply_error) = read_reply(app, crypt.as_ref(), &text);
                return Ok(Delivery { tries: attempt, status, body: text, reply, reply_error });
            }
            Ok(resp) => last = format!("HTTP {}", resp.status()),
            Err(e) if e.is_timeout() => last = "timed out".into(),
            Err(e) => last = e.without_url().to_string(),
        }
    }
    Err(SimError::PushFailed { tries: tries.max(1), last })
}

/// Reads a callback answer as WeChat does: empty or `success` means no reply; an encrypted
/// account must answer encrypted XML signed with its Token.
fn read_reply(app: &SimApp, crypt: Option<&MsgCrypt>, text: &str) -> (Option<String>, Option<String>) {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "success" {
        return (None, None);
    }
    let Some(crypt) = crypt else {
        return match crate::xml::check_body(trimmed) {
            Ok(()) if trimmed.starts_with("<xml>") => (Some(trimmed.to_owned()), None),
            _ => (None, Some("the reply is not XML".into())),
        };
    };
    let opened = parse_encrypted_reply(trimmed).map_err(|e| e.to_string()).and_then(|r| {
        verify_msg_signature(&app.token, &r.timestamp, &r.nonce, &r.encrypt, &r.msg_signature).map_err(|e| e.to_string())?;
        crypt.decrypt(&r.encrypt).map_err(|e| e.to_string())
    });
    match opened {
        Ok(plain) => (Some(plain), None),
        Err(e) => (None, Some(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// API handlers. WeChat answers HTTP 200 with an `errcode` JSON on every API error.

type Params = Query<HashMap<String, String>>;

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str)
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
        && let Some(rec) = inner.tokens.get(&tok).filter(|r| r.expires_at > now) {
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

async fn token_classic(State(state): State<SimState>, Query(q): Params) -> Json<Value> {
    Json(issue_token(&state, param(&q, "appid"), param(&q, "secret"), param(&q, "grant_type"), false, false))
}

async fn token_stable(State(state): State<SimState>, body: Bytes) -> Json<Value> {
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
        && app.busy > 0 {
            app.busy -= 1;
            return Err(wx_error(-1, "system error"));
        }
    Ok(app_id)
}

fn qr_create(state: &SimState, app_id: &str, body: &[u8]) -> Value {
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
            && let Some(code) = app.codes.get(idx) {
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

async fn qrcode_create(State(state): State<SimState>, Query(q): Params, body: Bytes) -> Json<Value> {
    Json(match authorize(&state, &q) {
        Ok(app_id) => qr_create(&state, &app_id, &body),
        Err(e) => e,
    })
}

async fn showqrcode(State(state): State<SimState>, Query(q): Params) -> Response {
    let now = state.now();
    match param(&q, "ticket").and_then(|t| state.code(t)) {
        Some(code) if code.expires_at.is_none_or(|at| at > now) => (
            [(header::CONTENT_TYPE, "image/svg+xml")],
            page::placeholder_svg(&code.url),
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "ticket not found or expired").into_response(),
    }
}

async fn tags_create(State(state): State<SimState>, Query(q): Params, body: Bytes) -> Json<Value> {
    let app_id = match authorize(&state, &q) {
        Ok(a) => a,
        Err(e) => return Json(e),
    };
    let Some(name) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.pointer("/tag/name").and_then(Value::as_str).map(str::to_owned))
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

async fn tags_get(State(state): State<SimState>, Query(q): Params) -> Json<Value> {
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

async fn tags_batchtagging(State(state): State<SimState>, Query(q): Params, body: Bytes) -> Json<Value> {
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

/// `GET /sim/stats`: read-only counters per account, for benchmarks and the scale-out check
/// (`scripts/scale-out.sh`): token requests and tokens issued (one per validity window when
/// instances share the token; forced refreshes among them), codes, followers, and `batchtagging` calls with how many
/// OpenIDs were tagged more than once (a tag job that ran twice).
async fn stats(State(state): State<SimState>) -> Json<Value> {
    let inner = state.lock();
    let apps: Vec<Value> = inner
        .apps
        .values()
        .map(|a| {
            json!({
                "app_id": a.cfg.app_id,
                "token_requests": a.token_requests,
                "tokens_issued": a.token_fetches,
                "forced_refreshes": a.forced_refreshes,
                "codes_issued": a.codes.len(),
                "followers": a.followers.len(),
                "subscribed": a.followers.values().filter(|f| f.subscribed).count(),
                "tag_calls": a.tag_calls,
                "tag_call_failures": a.tag_call_failures,
                "tagged_openids": a.tagged.len(),
                "taggings": a.tagged.values().sum::<u64>(),
                "openids_tagged_more_than_once": a.tagged.values().filter(|n| **n > 1).count(),
            })
        })
        .collect();
    Json(json!({ "apps": apps }))
}

// ---------------------------------------------------------------------------------------------
// The page and its forms.

async fn index(State(state): State<SimState>) -> Html<String> {
    let now = state.now();
    let inner = state.lock();
    let apps: Vec<page::AppView<'_>> = inner
        .apps
        .values()
        .map(|a| page::AppView {
            app: &a.cfg,
            codes: &a.codes,
            followers: a.followers.values().collect(),
            tags: &a.tags,
        })
        .collect();
    let log: Vec<&str> = inner.log.iter().map(String::as_str).collect();
    Html(page::render(&apps, &log, now, &state.settings.mount_path))
}

#[derive(Deserialize)]
struct ScanForm {
    ticket: String,
    who: String,
    #[serde(default)]
    openid: String,
}

async fn scan_form(State(state): State<SimState>, Form(form): Form<ScanForm>) -> Redirect {
    let scanner = match form.who.as_str() {
        "new" => Scanner::NewFollower,
        _ => Scanner::Existing(Some(form.openid).filter(|o| !o.is_empty())),
    };
    if let Err(e) = state.scan(&form.ticket, scanner).await {
        state.lock().note(format!("scan refused: {e}"));
    }
    Redirect::to(page_path(&state))
}

#[derive(Deserialize)]
struct UnsubscribeForm {
    app_id: String,
    openid: String,
}

async fn unsubscribe_form(State(state): State<SimState>, Form(form): Form<UnsubscribeForm>) -> Redirect {
    if let Err(e) = state.unsubscribe(&form.app_id, &form.openid).await {
        state.lock().note(format!("unsubscribe refused: {e}"));
    }
    Redirect::to(page_path(&state))
}

/// Where the page lives: `/`, or the mount path itself (axum's `nest` maps `/` to it).
fn page_path(state: &SimState) -> &str {
    match state.settings.mount_path.as_str() {
        "" => "/",
        mount => mount,
    }
}

async fn admin_invalidate(State(state): State<SimState>, Query(q): Params) -> StatusCode {
    match param(&q, "appid") {
        Some(app_id) => {
            state.invalidate_tokens(app_id);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

/// `POST /sim/admin/faults?delay_ms=N&down=true|false`: sets [`Faults`] (both default to
/// clear), for fault-drill scripts.
async fn admin_faults(State(state): State<SimState>, Query(q): Params) -> StatusCode {
    let delay = match param(&q, "delay_ms").map(str::parse::<u64>) {
        None => Duration::ZERO,
        Some(Ok(ms)) if ms <= 600_000 => Duration::from_millis(ms),
        Some(_) => return StatusCode::BAD_REQUEST,
    };
    let down = match param(&q, "down") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return StatusCode::BAD_REQUEST,
    };
    state.set_faults(Faults { delay, down });
    StatusCode::NO_CONTENT
}

/// Applies [`Faults`] to an API call.
async fn api_faults(State(state): State<SimState>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let faults = state.faults();
    if !faults.delay.is_zero() {
        tokio::time::sleep(faults.delay).await;
    }
    if faults.down {
        return (StatusCode::BAD_GATEWAY, Html("<html><body><h1>502 Bad Gateway</h1></body></html>")).into_response();
    }
    next.run(req).await
}

/// The simulator's routes: the WeChat API under `/cgi-bin/` (subject to [`Faults`]), the page
/// at `/`, its forms, test hooks and read-only counters (`/sim/stats`) under `/sim/`.
pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/cgi-bin/token", get(token_classic))
        .route("/cgi-bin/stable_token", post(token_stable))
        .route("/cgi-bin/qrcode/create", post(qrcode_create))
        .route("/cgi-bin/showqrcode", get(showqrcode))
        .route("/cgi-bin/tags/create", post(tags_create))
        .route("/cgi-bin/tags/get", get(tags_get))
        .route("/cgi-bin/tags/members/batchtagging", post(tags_batchtagging))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), api_faults))
        .route("/", get(index))
        .route("/sim/scan", post(scan_form))
        .route("/sim/unsubscribe", post(unsubscribe_form))
        .route("/sim/admin/invalidate-tokens", post(admin_invalidate))
        .route("/sim/admin/faults", post(admin_faults))
        .route("/sim/stats", get(stats))
        .with_state(state)
}

/// Runs the simulator on `addr` until the process ends (`sceneboard wechat-sim`).
pub async fn serve(addr: SocketAddr, config: SimConfig) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("WeChat simulator listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router(SimState::new(config))).await
}

/// A simulator running in the background (tests, demo).
#[derive(Debug)]
pub struct SimHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state, for assertions and hooks.
    pub state: SimState,
    task: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// The base URL to configure as an account's API base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the simulator on `127.0.0.1:0` in the background; it stops when the handle drops.
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let state = SimState::new(config);
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("WeChat simulator stopped: {e}");
        }
    });
    Ok(SimHandle { addr, state, task })
}

#[cfg(test)]
mod stats_tests {
    use super::*;

    #[tokio::test]
    async fn stats_count_token_requests_and_taggings() {
        let sim = spawn(SimConfig::default()).await.unwrap();
        let app = SimApp::sandbox();
        let http = reqwest::Client::new();
        let base = sim.base_url();
        let body = json!({ "grant_type": "client_credential", "appid": app.app_id, "secret": app.secret });
        let mut token = String::new();
        for _ in 0..2 {
            let v: Value = http.post(format!("{base}/cgi-bin/stable_token")).json(&body).send().await.unwrap().json().await.unwrap();
            token = v["access_token"].as_str().unwrap().to_owned();
        }
        let tag: Value = http
            .post(format!("{base}/cgi-bin/tags/create?access_token={token}"))
            .json(&json!({ "tag": { "name": "poster" } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tag_id = tag["tag"]["id"].as_u64().unwrap();
        let code = qr_create(&sim.state, &app.app_id, br#"{"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":1}}}"#);
        let openid = sim.state.scan(code["ticket"].as_str().unwrap(), Scanner::NewFollower).await.unwrap().openid;
        let tagging = |list: Vec<&str>| {
            http.post(format!("{base}/cgi-bin/tags/members/batchtagging?access_token={token}"))
                .json(&json!({ "openid_list": list, "tagid": tag_id }))
                .send()
        };
        tagging(vec![openid.as_str()]).await.unwrap();
        tagging(vec![openid.as_str()]).await.unwrap();
        tagging(vec!["oUnknown"]).await.unwrap();
        let stats: Value = http.get(format!("{base}/sim/stats")).send().await.unwrap().json().await.unwrap();
        let a = &stats["apps"][0];
        assert_eq!(a["app_id"], app.app_id.as_str());
        assert_eq!((a["token_requests"].as_u64(), a["tokens_issued"].as_u64()), (Some(2), Some(1)));
        assert_eq!((a["tag_calls"].as_u64(), a["tag_call_failures"].as_u64()), (Some(2), Some(1)));
        assert_eq!((a["tagged_openids"].as_u64(), a["taggings"].as_u64()), (Some(1), Some(2)));
        assert_eq!(a["openids_tagged_more_than_once"].as_u64(), Some(1));
        assert_eq!((a["followers"].as_u64(), a["subscribed"].as_u64(), a["codes_issued"].as_u64()), (Some(1), Some(1), Some(1)));
    }
}
