//! A running server over a test database, signed-in clients, and the WeChat simulator: shared
//! by the HTTP test files that need them.
#![allow(dead_code, reason = "each test file uses only some of these helpers; `expect` would fail in the others")]

pub mod smtp;
pub mod wecom;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use server::routes::{ServerState, router};
use service::testing::TestDb;
use service::users::{self, Role};

pub struct Running {
    pub base: String,
    pub http: reqwest::Client,
    pub t: TestDb,
    pub state: service::AppState,
}

/// Longest a request of the route tests may wait for its answer (the slowest answer on
/// purpose, a WeChat timeout, takes about 10 s).
pub const REQUEST_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The app on a free port, served as `sceneboard serve` serves it, with an `admin` and a
/// `staff` user.
pub async fn start(t: TestDb) -> Running {
    let app = t.state();
    start_on(t, app).await
}

/// [`start`] on an app state of the test's own (other settings, say).
pub async fn start_on(t: TestDb, app: service::AppState) -> Running {
    start_with(t, app, service::ingest::IngestOptions::default()).await
}

/// [`start_on`] with the callback's writer tuned as `opts` (a spool, the replay window).
pub async fn start_with(t: TestDb, app: service::AppState, opts: service::ingest::IngestOptions) -> Running {
    users::create(&t.db, "admin", "admin-password", Role::Admin, None).await.unwrap();
    users::create(&t.db, "staff", "staff-password", Role::Staff, None).await.unwrap();
    let base = serve_with_options(app.clone(), opts).await;
    // A request that gets no answer fails naming its URL rather than hanging the test.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(REQUEST_LIMIT).build().unwrap();
    Running { base, http, t, state: app }
}

impl Running {
    /// Sign in and return the `name=value` of the session cookie.
    pub async fn login(&self, user: &str, password: &str) -> String {
        let res =
            self.http.post(format!("{}/api/login", self.base)).form(&[("username", user), ("password", password)]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        session_cookie(&res).expect("a session cookie")
    }

    /// The sum over `/metrics` of the series named `name` whose labels include every one of
    /// `labels` (`key="value"`); 0 when there is none. The recorder is the process's, shared
    /// by a test file's servers, so counters only grow.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let text = self.http.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
            .filter(|l| labels.iter().all(|label| l.split(' ').next().unwrap_or_default().contains(label)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// GET as a browser navigating.
    pub async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.base)).header(COOKIE, cookie).header(ACCEPT, "text/html").send().await.unwrap()
    }

    /// Call a server function as the hydrated app does (form-encoded arguments).
    pub async fn call(&self, name: &str, cookie: &str, args: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(format!("{}/api/{name}", self.base)).header(COOKIE, cookie).form(args).send().await.unwrap()
    }

    /// Post a server function's form as a browser with JavaScript off does: the answer is a
    /// redirect, to the result page or back to the form with the error in the URL.
    pub async fn post_form(&self, name: &str, cookie: &str, referer: &str, args: &[(&str, &str)]) -> (StatusCode, String) {
        let res = self
            .http
            .post(format!("{}/api/{name}", self.base))
            .header(COOKIE, cookie)
            .header(ACCEPT, "text/html")
            .header("referer", format!("{}{referer}", self.base))
            .form(args)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let location = res.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (status, location)
    }
}

/// The `name=value` of the session cookie a response sets (either name: `sb_session`, or
/// `__Host-sb_session` under an https public URL).
pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    set_cookie(res, "sb_session").or_else(|| set_cookie(res, "__Host-sb_session"))
}

/// The `name=value` of the cookie `name` among a response's `Set-Cookie` headers.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with(&prefix))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// A client whose connections come from `ip`: on Linux every 127.x.y.z reaches the test
/// server, so the sign-in limiter sees another client address than the default 127.0.0.1.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The router on a free port over `app`, as `sceneboard serve` runs it: its callback writer
/// journals in (and replays) the spool in `data_dir`, where it keeps its accounts file too.
pub async fn serve_with_spool(app: service::AppState, data_dir: &std::path::Path) -> String {
    serve_with_options(app, service::ingest::IngestOptions::serving(data_dir)).await
}

/// The router on a free port over `app`, its callback writer tuned as `opts`.
pub async fn serve_with_options(app: service::AppState, opts: service::ingest::IngestOptions) -> String {
    let ingest = service::ingest::Ingestor::spawn(app.clone(), opts).unwrap();
    let state = ServerState {
        leptos: leptos::prelude::LeptosOptions::builder().output_name("sceneboard").build().into(),
        site: server::site::Site::new(None).into(),
        app,
        ingest,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The accept loop `sceneboard serve` runs: peer addresses (the per-address sign-in limit
    // applies) and the header-read timeout.
    tokio::spawn(async move { server::http::serve(listener, router(state), std::future::pending()).await.unwrap() });
    format!("http://{addr}")
}

/// A simulator with the sandbox app, and an account row pointing at it (plain mode).
pub async fn sandbox_account(r: &Running) -> (wechat::sim::SimHandle, i32) {
    sandbox_account_on(r, wechat::sim::SimConfig::with_apps(vec![wechat::sim::SimApp::sandbox()])).await
}

/// [`sandbox_account`] on a simulator configured as `config` (quotas, faults).
pub async fn sandbox_account_on(r: &Running, config: wechat::sim::SimConfig) -> (wechat::sim::SimHandle, i32) {
    let sim = wechat::sim::spawn(config).await.unwrap();
    let app = wechat::sim::SimApp::sandbox();
    let input = service::accounts::AccountInput {
        name: "Sandbox".into(),
        app_id: app.app_id.clone(),
        app_secret: Some(app.secret.clone()),
        token: "sandboxtoken".into(),
        aes_key: None,
        message_mode: "plain".into(),
        api_base_url: Some(sim.base_url()),
        timezone: None,
    };
    let account = service::accounts::create(&r.state, input, None).await.unwrap();
    (sim, account.id)
}

/// A `timestamp` and `nonce` for a push signed now: the current second, and a nonce no other
/// request of this test binary uses (the callback binds each signed triple to its body).
pub fn fresh_stamp() -> (String, String) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(100_000_000);
    (chrono::Utc::now().timestamp().to_string(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string())
}

/// The query of a plaintext push to an account with `token`, signed now.
pub fn signed_now(token: &str) -> Vec<(&'static str, String)> {
    let (ts, nonce) = fresh_stamp();
    vec![("signature", wechat::signature(token, &ts, &nonce)), ("timestamp", ts), ("nonce", nonce), ("openid", "o1".into())]
}

/// The query of an encrypted push (`encrypt` is its `Encrypt` text), signed now.
pub fn signed_encrypted_now(token: &str, encrypt: &str) -> Vec<(&'static str, String)> {
    let mut q = signed_now(token);
    let signature = wechat::msg_signature(token, &q[1].1, &q[2].1, encrypt);
    q.extend([("encrypt_type", "aes".to_owned()), ("msg_signature", signature)]);
    q
}

/// `pairs` as a query string.
pub fn query_string(pairs: &[(&str, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// A permanent campaign of `account` named `name` (in `group`), its code issued by the
/// account's API (the simulator).
pub async fn campaign(r: &Running, account: i32, name: &str, group: Option<&str>) -> service::campaigns::CampaignView {
    let model = service::accounts::model(&r.t.db, account).await.unwrap();
    let api = service::accounts::api_client(&r.state, &model).unwrap();
    let input = service::campaigns::CampaignInput {
        account_id: account,
        name: name.into(),
        kind: "permanent".into(),
        group: group.map(str::to_owned),
        ..Default::default()
    };
    service::campaigns::create(&r.state, api.as_ref(), input, None).await.unwrap()
}

/// The field named by the error a form post was sent back with (`__err`, base64 of its JSON).
pub fn refused_field(location: &str) -> String {
    use base64::Engine;
    let url = url::Url::parse(location).unwrap();
    let err = url.query_pairs().find(|(k, _)| k == "__err").unwrap_or_else(|| panic!("no error in {location}")).1;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(err.trim_end_matches('=')).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    v["Field"]["field"].as_str().unwrap_or_else(|| panic!("{v}")).to_owned()
}

/// Counters of campaign `c` for the hour starting at `when` (RFC 3339): scans, new followers,
/// unsubscribes, inserted as the callback's writer would have summed them.
pub async fn counts(r: &Running, c: i32, when: &str, (scans, new_followers, unsubscribes): (i64, i64, i64)) {
    use sea_orm::{ActiveModelTrait, Set};
    service::entity::campaign_hourly::ActiveModel {
        campaign_id: Set(c),
        hour: Set(chrono::DateTime::parse_from_rfc3339(when).unwrap().timestamp()),
        scans: Set(scans),
        new_followers: Set(new_followers),
        unsubscribes: Set(unsubscribes),
    }
    .insert(&r.t.db)
    .await
    .unwrap();
}

/// The actions of the audit log that start with `prefix` (`api_key.`), oldest first.
pub async fn audit_actions(r: &Running, prefix: &str) -> Vec<String> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use service::entity::audit_log;
    audit_log::Entity::find()
        .filter(audit_log::Column::Action.starts_with(prefix))
        .all(&r.t.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}
