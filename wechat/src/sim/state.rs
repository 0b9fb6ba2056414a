//! The simulator's state: the configured accounts ([`SimApp`], [`SimConfig`]), what it issued
//! (codes, followers, tokens), and [`SimState`] with its clock and test hooks.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::crypto::EncryptMode;
use crate::token::unix_now;

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
pub(super) struct TokenRec {
    pub(super) app_id: String,
    pub(super) expires_at: i64,
    pub(super) revoked: bool,
}

#[derive(Debug)]
pub(super) struct AppSim {
    pub(super) cfg: SimApp,
    pub(super) classic: Option<String>,
    pub(super) stable: Option<String>,
    pub(super) codes: Vec<IssuedCode>,
    pub(super) permanent: HashMap<SimScene, usize>,
    pub(super) followers: BTreeMap<String, Follower>,
    pub(super) tags: BTreeMap<u64, String>,
    pub(super) next_tag: u64,
    pub(super) token_fetches: u64,
    /// `stable_token` calls with `force_refresh: true` that issued a token.
    pub(super) forced_refreshes: u64,
    pub(super) busy: u32,
    pub(super) blocked_ip: Option<String>,
    /// For `/sim/stats`: every token request naming this account, new token or not.
    pub(super) token_requests: u64,
    /// For `/sim/stats`: accepted and refused `batchtagging` calls, and taggings per OpenID.
    pub(super) tag_calls: u64,
    pub(super) tag_call_failures: u64,
    pub(super) tagged: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
pub(super) struct Inner {
    pub(super) apps: BTreeMap<String, AppSim>,
    pub(super) tickets: HashMap<String, (String, usize)>,
    pub(super) tokens: HashMap<String, TokenRec>,
    pub(super) log: VecDeque<String>,
}

impl Inner {
    pub(super) fn note(&mut self, line: String) {
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
    pub(super) settings: Arc<SimConfig>,
    pub(super) http: reqwest::Client,
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

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
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
}
