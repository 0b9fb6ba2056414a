//! The real client against the simulator over HTTP on 127.0.0.1: token sharing, the
//! retry-once path, error messages, all four code kinds, user info and tags.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use wechat::client::{TokenEndpoint, http_client};
use wechat::sim::{Scanner, SimApp, SimConfig, SimScene, spawn};
use wechat::{
    AccountConfig, MemoryTokenStore, QrCodeRequest, QrLifetime, Scene, TokenPolicy, TokenStore, WechatApi, WechatClient, WechatError,
};

const APP: &str = "wx1111111111111111";
const SECRET: &str = "s3cret-app-secret-value";

fn config() -> SimConfig {
    SimConfig::with_apps(vec![SimApp::new(APP, SECRET)])
}

fn client_for(base: &str, secret: &str, store: Arc<dyn TokenStore>) -> WechatClient {
    let account = AccountConfig::new(APP, SecretString::from(secret)).with_api_base(base);
    WechatClient::with_http(http_client(Default::default()).unwrap(), account, store, TokenPolicy::default())
}

fn temp(scene: Scene, secs: u32) -> QrCodeRequest {
    QrCodeRequest { scene, lifetime: QrLifetime::Temporary { expire_seconds: secs } }
}

fn perm(scene: Scene) -> QrCodeRequest {
    QrCodeRequest { scene, lifetime: QrLifetime::Permanent }
}

#[tokio::test]
async fn many_calls_share_one_token_fetch() {
    let sim = spawn(config()).await.unwrap();
    let client = Arc::new(client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new())));
    let mut tasks = Vec::new();
    for i in 1..=20u32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { client.create_qr_code(&temp(Scene::Id(i), 600)).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for i in 21..=30u32 {
        client.create_qr_code(&temp(Scene::Id(i), 600)).await.unwrap();
    }
    assert_eq!(sim.state.token_fetches(APP), 1);
    assert_eq!(sim.state.codes(APP).len(), 30);
}

#[tokio::test]
async fn two_clients_on_one_store_fetch_once() {
    let sim = spawn(config()).await.unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let a = client_for(&sim.base_url(), SECRET, store.clone());
    let b = client_for(&sim.base_url(), SECRET, store);
    let (ra, rb) = tokio::join!(a.access_token(), b.access_token());
    assert_eq!(ra.unwrap().expose_secret(), rb.unwrap().expose_secret());
    assert_eq!(sim.state.token_fetches(APP), 1);
}

#[tokio::test]
async fn revoked_token_is_refetched_once_and_the_call_retried() {
    let sim = spawn(config()).await.unwrap();
    let client = client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new()));
    client.create_qr_code(&temp(Scene::Id(1), 600)).await.unwrap();
    sim.state.invalidate_tokens(APP);
    client.create_qr_code(&temp(Scene::Id(2), 600)).await.unwrap();
    // stable_token answers the revoked token again in normal mode: the new one was forced.
    assert_eq!((sim.state.token_fetches(APP), sim.state.forced_refreshes(APP)), (2, 1));
    assert_eq!(sim.state.codes(APP).len(), 2);
}

#[tokio::test]
async fn expired_token_is_refetched() {
    let sim = spawn(config()).await.unwrap();
    let client = client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new()));
    client.create_qr_code(&temp(Scene::Id(1), 600)).await.unwrap();
    // The client still thinks its token is fresh; WeChat says 42001.
    sim.state.advance(Duration::from_secs(7200));
    client.create_qr_code(&temp(Scene::Id(2), 600)).await.unwrap();
    assert_eq!(sim.state.token_fetches(APP), 2);
}

/// A double that refuses every token: the client must retry exactly once, never loop.
#[tokio::test]
async fn token_errors_never_loop() {
    use axum::routing::post;
    let token_calls = Arc::new(AtomicUsize::new(0));
    let api_calls = Arc::new(AtomicUsize::new(0));
    let (tc, ac) = (token_calls.clone(), api_calls.clone());
    let app = axum::Router::new()
        .route(
            "/cgi-bin/stable_token",
            post(move || async move {
                tc.fetch_add(1, Ordering::SeqCst);
                axum::Json(serde_json::json!({"access_token": format!("T{}", rand_suffix()), "expires_in": 7200}))
            }),
        )
        .route(
            "/cgi-bin/qrcode/create",
            post(move || async move {
                ac.fetch_add(1, Ordering::SeqCst);
                axum::Json(serde_json::json!({"errcode": 40001, "errmsg": "invalid credential"}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = client_for(&base, SECRET, Arc::new(MemoryTokenStore::new()));
    let err = client.create_qr_code(&temp(Scene::Id(1), 600)).await.unwrap_err();
    assert_eq!(err.errcode(), Some(40001));
    assert_eq!(api_calls.load(Ordering::SeqCst), 2);
    assert_eq!(token_calls.load(Ordering::SeqCst), 2);
    server.abort();
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    u64::from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos())
}

#[tokio::test]
async fn wrong_secret_and_appid_read_clearly_and_hide_the_secret() {
    let sim = spawn(config()).await.unwrap();
    let wrong = "wrong-secret-do-not-print";
    let client = client_for(&sim.base_url(), wrong, Arc::new(MemoryTokenStore::new()));
    let err = client.access_token().await.unwrap_err();
    assert_eq!(err.errcode(), Some(40125));
    let text = err.to_string();
    assert!(text.contains("the AppSecret is wrong"), "{text}");
    assert!(!text.contains(wrong) && !format!("{err:?}").contains(wrong));
    assert!(!format!("{client:?}").contains(wrong));

    let account = AccountConfig::new("wx9999999999999999", SecretString::from(SECRET)).with_api_base(sim.base_url());
    let other = WechatClient::new(account, Arc::new(MemoryTokenStore::new())).unwrap();
    let err = other.access_token().await.unwrap_err();
    assert!(err.to_string().contains("the AppID is wrong"), "{err}");
}

#[tokio::test]
async fn whitelist_error_names_the_ip() {
    let sim = spawn(config()).await.unwrap();
    sim.state.block_ip(APP, Some("198.51.100.23".into()));
    let client = client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new()));
    let err = client.access_token().await.unwrap_err();
    assert!(err.to_string().contains("add this server's outgoing IP (198.51.100.23) to the IP whitelist"), "{err}");
}

#[tokio::test]
async fn busy_is_retried_a_bounded_number_of_times() {
    let sim = spawn(config()).await.unwrap();
    let client = client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new()));
    client.access_token().await.unwrap();
    sim.state.set_busy(APP, 2);
    client.create_qr_code(&temp(Scene::Id(1), 600)).await.unwrap();
    sim.state.set_busy(APP, 5);
    let err = client.create_qr_code(&temp(Scene::Id(2), 600)).await.unwrap_err();
    assert!(err.is_busy(), "{err}");
    // three tries were spent, two busy answers remain
    client.create_qr_code(&temp(Scene::Id(3), 600)).await.unwrap();
    assert_eq!(sim.state.codes(APP).len(), 2);
}

#[tokio::test]
async fn classic_token_endpoint_works() {
    let sim = spawn(config()).await.unwrap();
    let account =
        AccountConfig::new(APP, SecretString::from(SECRET)).with_api_base(sim.base_url()).with_token_endpoint(TokenEndpoint::Classic);
    let client = WechatClient::new(account, Arc::new(MemoryTokenStore::new())).unwrap();
    client.create_qr_code(&perm(Scene::Id(5))).await.unwrap();
    assert_eq!(sim.state.token_fetches(APP), 1);
}

#[tokio::test]
async fn all_four_code_kinds_carry_their_scene() {
    let sim = spawn(config()).await.unwrap();
    let client = client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new()));
    let before = wechat::token::unix_now();
    let a = client.create_qr_code(&temp(Scene::Id(77), 3600)).await.unwrap();
    let b = client.create_qr_code(&temp(Scene::Str("spring".into()), 2_592_000)).await.unwrap();
    let c = client.create_qr_code(&perm(Scene::Id(100_000))).await.unwrap();
    let d = client.create_qr_code(&perm(Scene::Str("poster-中文".into()))).await.unwrap();
    let codes = sim.state.codes(APP);
    let kinds: Vec<(&str, SimScene)> = codes.iter().map(|c| (c.action_name.as_str(), c.scene.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            ("QR_SCENE", SimScene::Id(77)),
            ("QR_STR_SCENE", SimScene::Str("spring".into())),
            ("QR_LIMIT_SCENE", SimScene::Id(100_000)),
            ("QR_LIMIT_STR_SCENE", SimScene::Str("poster-中文".into())),
        ]
    );
    let exp = a.expires_at.unwrap();
    assert!(exp >= before + 3600 && exp <= wechat::token::unix_now() + 3600);
    assert!(b.expires_at.is_some() && c.expires_at.is_none() && d.expires_at.is_none());
    let granted: Vec<Option<i64>> = [&a, &b, &c, &d].iter().map(|c| c.expire_seconds).collect();
    assert_eq!(granted, [Some(3600), Some(2_592_000), None, None], "the life WeChat granted");
    for code in [&a, &b, &c, &d] {
        assert!(code.url.starts_with("http://weixin.qq.com/q/"), "{}", code.url);
    }
    // permanent codes are idempotent per scene
    assert_eq!(client.create_qr_code(&perm(Scene::Id(100_000))).await.unwrap().ticket, c.ticket);
    // out-of-range input is refused before any request
    let err = client.create_qr_code(&temp(Scene::Id(1), 30)).await.unwrap_err();
    assert!(matches!(err, WechatError::InvalidInput(_)));
}

#[tokio::test]
async fn permanent_quota_is_enforced() {
    let mut cfg = config();
    cfg.permanent_quota = 2;
    let sim = spawn(cfg).await.unwrap();
    let client = client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new()));
    client.create_qr_code(&perm(Scene::Id(1))).await.unwrap();
    client.create_qr_code(&perm(Scene::Id(2))).await.unwrap();
    let err = client.create_qr_code(&perm(Scene::Id(3))).await.unwrap_err();
    assert_eq!(err.errcode(), Some(45029));
    // temporary codes do not count
    client.create_qr_code(&temp(Scene::Id(3), 60)).await.unwrap();
}

#[tokio::test]
async fn simulator_is_as_strict_as_wechat() {
    let sim = spawn(config()).await.unwrap();
    let client = client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new()));
    let token = client.access_token().await.unwrap();
    let http = reqwest::Client::new();
    let create = |body: serde_json::Value| {
        http.post(format!("{}/cgi-bin/qrcode/create", sim.base_url())).query(&[("access_token", token.expose_secret())]).json(&body).send()
    };
    // Without the action_info.scene wrapper WeChat silently issues scene 0.
    create(serde_json::json!({"action_name": "QR_LIMIT_SCENE", "scene_id": 5})).await.unwrap();
    assert_eq!(sim.state.codes(APP)[0].scene, SimScene::Id(0));
    let answer = |r: reqwest::Response| async move { r.json::<serde_json::Value>().await.unwrap()["errcode"].as_i64() };
    let bad_range = create(serde_json::json!({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}}));
    assert_eq!(answer(bad_range.await.unwrap()).await, Some(40097));
    let long = "x".repeat(65);
    let bad_str = create(serde_json::json!({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": long}}}));
    assert_eq!(answer(bad_str.await.unwrap()).await, Some(40097));
    // Missing expire_seconds: WeChat's 60-second default.
    create(serde_json::json!({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 9}}})).await.unwrap();
    let code = sim.state.codes(APP).pop().unwrap();
    assert_eq!(code.expires_at.unwrap() - code.created_at, 60);
    let no_token = http.post(format!("{}/cgi-bin/qrcode/create", sim.base_url())).json(&serde_json::json!({})).send();
    assert_eq!(answer(no_token.await.unwrap()).await, Some(41001));
}

#[tokio::test]
async fn temporary_codes_expire() {
    let sim = spawn(config()).await.unwrap();
    let client = client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new()));
    let code = client.create_qr_code(&temp(Scene::Id(1), 60)).await.unwrap();
    let show = |ticket: String| {
        let url = format!("{}/cgi-bin/showqrcode", sim.base_url());
        async move { reqwest::Client::new().get(url).query(&[("ticket", ticket)]).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(show(code.ticket.clone()).await, 200);
    sim.state.scan(&code.ticket, Scanner::NewFollower).await.unwrap();
    sim.state.advance(Duration::from_secs(61));
    assert_eq!(sim.state.scan(&code.ticket, Scanner::NewFollower).await, Err(wechat::sim::SimError::Expired));
    assert_eq!(show(code.ticket).await, 404);
}

#[tokio::test]
async fn a_scan_follows_then_scans_and_an_unsubscribe_leaves() {
    let sim = spawn(config()).await.unwrap();
    let client = client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new()));
    let code = client.create_qr_code(&perm(Scene::Str("spring".into()))).await.unwrap();
    let report = sim.state.scan(&code.ticket, Scanner::NewFollower).await.unwrap();
    assert_eq!(report.event, "subscribe");
    let follower = sim.state.follower(APP, &report.openid).unwrap();
    assert!(follower.subscribed);
    assert_eq!(follower.scene.map(|s| s.to_string()).as_deref(), Some("spring"));
    // the same follower scanning again is a SCAN
    let again = sim.state.scan(&code.ticket, Scanner::Existing(Some(report.openid.clone()))).await.unwrap();
    assert_eq!(again.event, "SCAN");
    sim.state.unsubscribe(APP, &report.openid).await.unwrap();
    assert!(!sim.state.follower(APP, &report.openid).unwrap().subscribed);
    assert_eq!(sim.state.unsubscribe(APP, &report.openid).await.unwrap_err(), wechat::sim::SimError::UnknownFollower);
}

#[tokio::test]
async fn tags_are_created_and_applied_in_batches_of_50() {
    let sim = spawn(config()).await.unwrap();
    let client = client_for(&sim.base_url(), SECRET, Arc::new(MemoryTokenStore::new()));
    let code = client.create_qr_code(&perm(Scene::Id(1))).await.unwrap();
    let mut openids = Vec::new();
    for _ in 0..120 {
        openids.push(sim.state.scan(&code.ticket, Scanner::NewFollower).await.unwrap().openid);
    }
    let tag = client.create_tag("spring poster").await.unwrap();
    assert!(tag.id >= 100);
    assert_eq!(client.create_tag("spring poster").await.unwrap_err().errcode(), Some(45157));
    let other = client.create_tag("店内海报").await.unwrap();
    let mut listed = client.list_tags().await.unwrap();
    listed.sort_by_key(|t| t.id);
    assert_eq!(listed, vec![tag.clone(), other]);
    client.batch_tag(tag.id, &openids).await.unwrap();
    assert!(openids.iter().all(|o| sim.state.follower(APP, o).unwrap().tags == [tag.id].into()));
}

#[tokio::test]
async fn nested_simulator_keeps_its_links_and_api() {
    let mut cfg = config();
    cfg.mount_path = "/wechat-sim".into();
    let state = wechat::sim::SimState::new(cfg);
    let app = axum::Router::new().nest("/wechat-sim", wechat::sim::router(state.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/wechat-sim", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = client_for(&base, SECRET, Arc::new(MemoryTokenStore::new()));
    let code = client.create_qr_code(&perm(Scene::Id(3))).await.unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(&base).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("action=\"/wechat-sim/sim/scan\""), "{page}");
    let resp = http.post(format!("{base}/sim/scan")).form(&[("ticket", code.ticket.as_str()), ("who", "new")]).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/wechat-sim");
    assert_eq!(state.codes(APP).len(), 1);
    server.abort();
}

#[test]
fn cli_configuration() {
    let cfg = SimConfig::from_cli(Some("http://127.0.0.1:3000/wechat/callback/wx1".into()), Some("tok".into()), None, None).unwrap();
    assert_eq!(cfg.apps.len(), 1);
    assert_eq!(cfg.apps[0].token, "tok");
    assert!(SimConfig::from_cli(Some("http://x".into()), None, None, None).is_err());
    assert!(SimConfig::from_cli(None, None, Some("bad".into()), None).is_err());
    let safe = SimConfig::from_cli(None, None, Some("A".repeat(43)), Some("wx1234".into())).unwrap();
    assert_eq!(safe.apps[0].mode, wechat::EncryptMode::Safe);
    assert_eq!(safe.apps[0].app_id, "wx1234");
    assert!(!format!("{:?}", safe.apps[0]).contains("AAAA"));
}
