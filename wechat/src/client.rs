//! The WeChat API client: a trait the app codes against, and its reqwest implementation with
//! an injectable base URL (the real `https://api.weixin.qq.com`, the built-in simulator, or a
//! test double).
//!
//! Every call gets a token from the shared [`TokenManager`]; on 40001/40014/42001 it has the
//! token replaced with a forced refresh (at most once a minute per account) and retries once;
//! on -1 (busy) it retries with a short, bounded backoff. Secrets travel as [`SecretString`] and never reach `Debug` or errors (the
//! request URL, which carries the token, is stripped from transport errors).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::WechatError;
use crate::scene::Scene;
use crate::token::{FetchedToken, TokenManager, TokenPolicy, TokenStore, unix_now};

/// The production API host.
pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";
/// Shortest lifetime of a temporary code, in seconds.
pub const MIN_EXPIRE_SECONDS: u32 = 60;
/// Longest lifetime of a temporary code (30 days), in seconds.
pub const MAX_EXPIRE_SECONDS: u32 = 2_592_000;
/// Most OpenIDs `tags/members/batchtagging` accepts per call.
pub const BATCH_TAGGING_LIMIT: usize = 50;
/// Waits between tries when WeChat answers -1 (busy): three tries in all.
const BUSY_BACKOFF: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(400)];

/// Which endpoint hands out access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpoint {
    /// `POST cgi-bin/stable_token` (normal mode): repeated calls return the same token and
    /// invalidate nothing, so several instances can share one account safely. A token WeChat
    /// refused is replaced with `force_refresh: true`, since normal mode may answer it again.
    #[default]
    Stable,
    /// `GET cgi-bin/token`: each call replaces the previous token (after a grace period).
    Classic,
}

/// One account's API credentials and endpoint.
#[derive(Clone)]
pub struct AccountConfig {
    /// The AppID (`wx...`), not a secret.
    pub app_id: String,
    /// The AppSecret.
    pub secret: SecretString,
    /// API base URL without trailing slash, e.g. [`DEFAULT_API_BASE`] or the simulator's.
    pub api_base: String,
    /// Which token endpoint to use.
    pub token_endpoint: TokenEndpoint,
}

impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("app_id", &self.app_id)
            .field("secret", &crate::error::Redacted)
            .field("api_base", &self.api_base)
            .field("token_endpoint", &self.token_endpoint)
            .finish()
    }
}

impl AccountConfig {
    /// Credentials against the production API with `stable_token`.
    pub fn new(app_id: impl Into<String>, secret: SecretString) -> Self {
        Self { app_id: app_id.into(), secret, api_base: DEFAULT_API_BASE.into(), token_endpoint: TokenEndpoint::Stable }
    }

    /// The same credentials against another base URL (simulator, test double).
    pub fn with_api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into().trim_end_matches('/').to_owned();
        self
    }

    /// The same credentials with another token endpoint.
    pub fn with_token_endpoint(mut self, endpoint: TokenEndpoint) -> Self {
        self.token_endpoint = endpoint;
        self
    }
}

/// How long a code lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QrLifetime {
    /// `QR_SCENE` / `QR_STR_SCENE`, expiring after this many seconds (60..=2592000).
    Temporary {
        /// Seconds until expiry.
        expire_seconds: u32,
    },
    /// `QR_LIMIT_SCENE` / `QR_LIMIT_STR_SCENE`, counted against the 100000 quota.
    Permanent,
}

/// A request to issue a parametric code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCodeRequest {
    /// What the code carries.
    pub scene: Scene,
    /// Temporary or permanent.
    pub lifetime: QrLifetime,
}

impl QrCodeRequest {
    /// WeChat's `action_name` for this scene kind and lifetime.
    pub fn action_name(&self) -> &'static str {
        match (&self.scene, self.lifetime) {
            (Scene::Id(_), QrLifetime::Temporary { .. }) => "QR_SCENE",
            (Scene::Str(_), QrLifetime::Temporary { .. }) => "QR_STR_SCENE",
            (Scene::Id(_), QrLifetime::Permanent) => "QR_LIMIT_SCENE",
            (Scene::Str(_), QrLifetime::Permanent) => "QR_LIMIT_STR_SCENE",
        }
    }

    /// The JSON body of `qrcode/create`, with the `action_info.scene` wrapper (without it
    /// WeChat silently issues a code for `qrscene_0`). Checks ranges first.
    pub fn body(&self) -> Result<Value, WechatError> {
        let scene = match &self.scene {
            Scene::Id(n) => json!({ "scene_id": n }),
            Scene::Str(s) => json!({ "scene_str": s }),
        };
        // Re-check: a Scene built by hand may bypass the constructors.
        match &self.scene {
            Scene::Id(n) => {
                Scene::id(u64::from(*n)).map_err(|e| WechatError::InvalidInput(e.to_string()))?;
            }
            Scene::Str(s) => {
                Scene::string(s).map_err(|e| WechatError::InvalidInput(e.to_string()))?;
            }
        }
        let mut body = json!({
            "action_name": self.action_name(),
            "action_info": { "scene": scene },
        });
        if let QrLifetime::Temporary { expire_seconds } = self.lifetime {
            if !(MIN_EXPIRE_SECONDS..=MAX_EXPIRE_SECONDS).contains(&expire_seconds) {
                return Err(WechatError::InvalidInput(format!(
                    "expire_seconds must be {MIN_EXPIRE_SECONDS} to {MAX_EXPIRE_SECONDS}, not {expire_seconds}"
                )));
            }
            body["expire_seconds"] = json!(expire_seconds);
        }
        Ok(body)
    }
}

/// An issued code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrCode {
    /// Exchange for an image at `showqrcode?ticket=` (URL-encode it: it contains `+/=`).
    pub ticket: String,
    /// The text inside the QR code, so images can be rendered locally.
    pub url: String,
    /// Temporary codes: unix seconds at which it stops working, from the request time.
    pub expires_at: Option<i64>,
    /// Temporary codes: the life WeChat granted, in seconds (callers that keep their own
    /// clock date the expiry from it).
    #[serde(default)]
    pub expire_seconds: Option<i64>,
}

/// A follower tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// WeChat's id.
    pub id: u64,
    /// The name (30 characters at most).
    pub name: String,
}

/// The calls Sceneboard makes. Object safe, so the app can hold `Arc<dyn WechatApi>` and tests
/// can substitute a double.
#[async_trait]
pub trait WechatApi: Send + Sync {
    /// The account's AppID.
    fn app_id(&self) -> &str;
    /// A valid access token (shared and cached).
    async fn access_token(&self) -> Result<SecretString, WechatError>;
    /// Issues a parametric code (`cgi-bin/qrcode/create`).
    async fn create_qr_code(&self, request: &QrCodeRequest) -> Result<QrCode, WechatError>;
    /// Creates a tag (`cgi-bin/tags/create`); 45157 when the name is taken.
    async fn create_tag(&self, name: &str) -> Result<Tag, WechatError>;
    /// The account's tags (`cgi-bin/tags/get`).
    async fn list_tags(&self) -> Result<Vec<Tag>, WechatError>;
    /// Tags followers (`cgi-bin/tags/members/batchtagging`), 50 per call.
    async fn batch_tag(&self, tag_id: u64, openids: &[String]) -> Result<(), WechatError>;
}

/// Timeouts of every request.
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    /// Connection establishment.
    pub connect: Duration,
    /// The whole request.
    pub total: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(5), total: Duration::from_secs(10) }
    }
}

/// Builds the shared HTTP client (one per process is enough: it pools connections).
pub fn http_client(timeouts: HttpTimeouts) -> Result<reqwest::Client, WechatError> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .user_agent(concat!("sceneboard-wechat/", env!("CARGO_PKG_VERSION")))
        // A redirect would re-send the body (the AppSecret of a token request) wherever the
        // API base points it: WeChat's API never redirects, so a 3xx is an answer, not JSON.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(WechatError::from_reqwest)
}

/// The real client for one account.
pub struct WechatClient {
    http: reqwest::Client,
    account: AccountConfig,
    tokens: TokenManager,
}

impl std::fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatClient").field("account", &self.account).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

#[derive(Deserialize)]
struct QrAnswer {
    ticket: String,
    url: String,
    expire_seconds: Option<i64>,
}

#[derive(Deserialize)]
struct TagAnswer {
    tag: Tag,
}

#[derive(Deserialize)]
struct TagsAnswer {
    #[serde(default)]
    tags: Vec<Tag>,
}

/// The API paths this client calls (also the `endpoint` label of its metrics).
const QR_CREATE: &str = "cgi-bin/qrcode/create";
const TAGS_CREATE: &str = "cgi-bin/tags/create";
const TAGS_GET: &str = "cgi-bin/tags/get";
const BATCH_TAGGING: &str = "cgi-bin/tags/members/batchtagging";

/// Counts one try of a call: `ok`, WeChat's errcode (a finite set WeChat documents), or
/// `timeout` / `network` / `answer` (not the expected JSON) when no errcode came back.
fn count_call<T>(endpoint: &'static str, result: &Result<T, WechatError>) {
    let outcome = match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => match (e.errcode(), e) {
            // WeChat's codes have at most six digits; anything else is not worth a series.
            (Some(code), _) if (-1..1_000_000).contains(&code) => code.to_string(),
            (Some(_), _) => "other".to_owned(),
            (None, WechatError::Timeout(_)) => "timeout".to_owned(),
            (None, WechatError::Decode(_)) => "answer".to_owned(),
            (None, _) => "network".to_owned(),
        },
    };
    metrics::counter!("sceneboard_wechat_api_calls_total", "endpoint" => endpoint, "outcome" => outcome).increment(1);
}

/// Turns a JSON answer into `T`, or into [`WechatError::Api`] when `errcode` is non-zero.
fn decode_answer<T: DeserializeOwned>(value: Value) -> Result<T, WechatError> {
    let errcode = value.get("errcode").and_then(Value::as_i64).unwrap_or(0);
    if errcode != 0 {
        let errmsg = value.get("errmsg").and_then(Value::as_str).unwrap_or_default().to_owned();
        return Err(WechatError::Api { errcode, errmsg });
    }
    serde_json::from_value(value).map_err(|e| WechatError::Decode(e.to_string()))
}

impl WechatClient {
    /// A client with the default HTTP client, token policy and the given store.
    pub fn new(account: AccountConfig, store: Arc<dyn TokenStore>) -> Result<Self, WechatError> {
        Ok(Self::with_http(http_client(HttpTimeouts::default())?, account, store, TokenPolicy::default()))
    }

    /// A client sharing an existing HTTP client (connection pool) and a custom token policy.
    pub fn with_http(http: reqwest::Client, account: AccountConfig, store: Arc<dyn TokenStore>, policy: TokenPolicy) -> Self {
        let tokens = TokenManager::new(account.app_id.clone(), store, policy);
        Self { http, account, tokens }
    }

    /// The account configuration (secret redacted in `Debug`).
    pub fn account(&self) -> &AccountConfig {
        &self.account
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.account.api_base.trim_end_matches('/'), path)
    }

    /// Sends one request and decodes the JSON answer.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, WechatError> {
        let response = request.send().await.map_err(WechatError::from_reqwest)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(WechatError::from_reqwest)?;
        serde_json::from_slice::<Value>(&bytes).map_err(|_| WechatError::Decode(format!("HTTP {status}, not JSON ({} bytes)", bytes.len())))
    }

    /// Sends to `endpoint` with bounded retries while WeChat answers -1 (busy); each try is
    /// counted in `sceneboard_wechat_api_calls_total` by endpoint and outcome.
    async fn send_retrying_busy<T, B>(&self, endpoint: &'static str, build: B) -> Result<T, WechatError>
    where
        T: DeserializeOwned,
        B: Fn() -> reqwest::RequestBuilder,
    {
        let mut waits = BUSY_BACKOFF.iter();
        loop {
            let result = self.send(build()).await.and_then(decode_answer::<T>);
            count_call(endpoint, &result);
            match (result, waits.next()) {
                (Err(e), Some(wait)) if e.is_busy() => {
                    tracing::debug!(app_id = %self.account.app_id, "WeChat busy; retrying");
                    tokio::time::sleep(*wait).await;
                }
                (result, _) => return result,
            }
        }
    }

    /// A token from WeChat; `force` asks `stable_token` for a new one even while the current
    /// one has not expired (`cgi-bin/token` hands out a new one every time anyway).
    async fn fetch_token(&self, force: bool) -> Result<FetchedToken, WechatError> {
        let fetched = self.fetch_token_once(force).await;
        let result = if fetched.is_ok() { "ok" } else { "error" };
        metrics::counter!("sceneboard_wechat_token_fetches_total", "forced" => if force { "true" } else { "false" }, "result" => result)
            .increment(1);
        fetched
    }

    async fn fetch_token_once(&self, force: bool) -> Result<FetchedToken, WechatError> {
        let answer: TokenAnswer = match self.account.token_endpoint {
            TokenEndpoint::Stable => {
                let body = json!({
                    "grant_type": "client_credential",
                    "appid": self.account.app_id,
                    "secret": self.account.secret.expose_secret(),
                    "force_refresh": force,
                });
                self.send_retrying_busy("cgi-bin/stable_token", || self.http.post(self.url("cgi-bin/stable_token")).json(&body)).await?
            }
            TokenEndpoint::Classic => {
                self.send_retrying_busy("cgi-bin/token", || {
                    self.http.get(self.url("cgi-bin/token")).query(&[
                        ("grant_type", "client_credential"),
                        ("appid", self.account.app_id.as_str()),
                        ("secret", self.account.secret.expose_secret()),
                    ])
                })
                .await?
            }
        };
        if answer.access_token.is_empty() || answer.expires_in <= 0 {
            return Err(WechatError::Decode("token answer without a token".into()));
        }
        Ok(FetchedToken { token: SecretString::from(answer.access_token), expires_in: answer.expires_in })
    }

    /// Runs an authenticated call: token, busy retries, and one retry with a new token when
    /// WeChat refuses the current one (none when the account was forced within the minute).
    async fn call<T, B>(&self, endpoint: &'static str, build: B) -> Result<T, WechatError>
    where
        T: DeserializeOwned,
        B: Fn(&str) -> reqwest::RequestBuilder,
    {
        let token = self.access_token().await?;
        match self.send_retrying_busy(endpoint, || build(token.expose_secret())).await {
            Err(e) if e.is_token_error() => {
                tracing::info!(app_id = %self.account.app_id, errcode = ?e.errcode(), "access token refused; replacing it");
                match self.tokens.replace_refused(&token, || self.fetch_token(true)).await? {
                    Some(token) => self.send_retrying_busy(endpoint, || build(token.expose_secret())).await,
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    fn authed_post(&self, path: &str, token: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).query(&[("access_token", token)]).json(body)
    }
}

#[async_trait]
impl WechatApi for WechatClient {
    fn app_id(&self) -> &str {
        &self.account.app_id
    }

    async fn access_token(&self) -> Result<SecretString, WechatError> {
        self.tokens.get(|| self.fetch_token(false)).await
    }

    async fn create_qr_code(&self, request: &QrCodeRequest) -> Result<QrCode, WechatError> {
        let body = request.body()?;
        let requested_at = unix_now();
        let answer: QrAnswer = self.call(QR_CREATE, |t| self.authed_post(QR_CREATE, t, &body)).await?;
        let expire_seconds = match request.lifetime {
            QrLifetime::Temporary { expire_seconds } => Some(answer.expire_seconds.unwrap_or(i64::from(expire_seconds))),
            QrLifetime::Permanent => None,
        };
        let expires_at = expire_seconds.map(|secs| requested_at.saturating_add(secs));
        Ok(QrCode { ticket: answer.ticket, url: answer.url, expires_at, expire_seconds })
    }

    async fn create_tag(&self, name: &str) -> Result<Tag, WechatError> {
        let chars = name.chars().count();
        if chars == 0 || chars > 30 {
            return Err(WechatError::InvalidInput("a tag name has 1 to 30 characters".into()));
        }
        let body = json!({ "tag": { "name": name } });
        let answer: TagAnswer = self.call(TAGS_CREATE, |t| self.authed_post(TAGS_CREATE, t, &body)).await?;
        Ok(answer.tag)
    }

    async fn list_tags(&self) -> Result<Vec<Tag>, WechatError> {
        let answer: TagsAnswer = self.call(TAGS_GET, |t| self.http.get(self.url(TAGS_GET)).query(&[("access_token", t)])).await?;
        Ok(answer.tags)
    }

    async fn batch_tag(&self, tag_id: u64, openids: &[String]) -> Result<(), WechatError> {
        for chunk in openids.chunks(BATCH_TAGGING_LIMIT) {
            let body = json!({ "openid_list": chunk, "tagid": tag_id });
            let _: Value = self.call(BATCH_TAGGING, |t| self.authed_post(BATCH_TAGGING, t, &body)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_bodies_have_the_scene_wrapper() {
        let r = QrCodeRequest { scene: Scene::Id(7), lifetime: QrLifetime::Permanent };
        assert_eq!(r.body().unwrap(), json!({"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":7}}}));
        let r = QrCodeRequest { scene: Scene::Str("spring".into()), lifetime: QrLifetime::Temporary { expire_seconds: 600 } };
        assert_eq!(
            r.body().unwrap(),
            json!({"action_name":"QR_STR_SCENE","expire_seconds":600,"action_info":{"scene":{"scene_str":"spring"}}})
        );
        assert_eq!(QrCodeRequest { scene: Scene::Id(1), lifetime: QrLifetime::Temporary { expire_seconds: 60 } }.action_name(), "QR_SCENE");
        assert_eq!(QrCodeRequest { scene: Scene::Str("a".into()), lifetime: QrLifetime::Permanent }.action_name(), "QR_LIMIT_STR_SCENE");
    }

    #[test]
    fn qr_bodies_check_ranges() {
        let bad = |scene, lifetime| QrCodeRequest { scene, lifetime }.body().is_err();
        assert!(bad(Scene::Id(0), QrLifetime::Permanent));
        assert!(bad(Scene::Id(100_001), QrLifetime::Permanent));
        assert!(bad(Scene::Str(String::new()), QrLifetime::Permanent));
        assert!(bad(Scene::Str("x".repeat(65)), QrLifetime::Permanent));
        assert!(bad(Scene::Id(1), QrLifetime::Temporary { expire_seconds: 59 }));
        assert!(bad(Scene::Id(1), QrLifetime::Temporary { expire_seconds: 2_592_001 }));
        assert!(!bad(Scene::Id(1), QrLifetime::Temporary { expire_seconds: 2_592_000 }));
    }

    #[test]
    fn answers_decode() {
        let e = decode_answer::<Value>(json!({"errcode":40013,"errmsg":"invalid appid"})).unwrap_err();
        assert_eq!(e.errcode(), Some(40013));
        let v: TokenAnswer = decode_answer(json!({"access_token":"x","expires_in":7200})).unwrap();
        assert_eq!(v.expires_in, 7200);
        let ok: Value = decode_answer(json!({"errcode":0,"errmsg":"ok"})).unwrap();
        assert_eq!(ok["errmsg"], "ok");
    }

    #[test]
    fn debug_hides_the_secret() {
        let a = AccountConfig::new("wx1", SecretString::from("s3cr3t-value"));
        assert!(!format!("{a:?}").contains("s3cr3t"));
    }
}
