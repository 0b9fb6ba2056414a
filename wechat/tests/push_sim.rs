//! The simulator's pushes against a real callback on 127.0.0.1 that uses this crate's own
//! callback protocol: plaintext, compatible and safe mode, encrypted replies, retries, and the
//! HTML page's forms.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::post;
use wechat::sim::{Scanner, SimApp, SimConfig, spawn};
use wechat::{CallbackQuery, EncryptMode, EventKind, InboundMessage, MsgCrypt, Reply, Scene, open_push};

const APP: &str = "wx2222222222222222";
const TOKEN: &str = "callback-token";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH";

#[derive(Clone)]
struct Callback {
    mode: EncryptMode,
    received: Arc<Mutex<Vec<InboundMessage>>>,
    /// Answer 500 to this many requests first, then sleep this long on the next one.
    fail_first: Arc<Mutex<u32>>,
    slow_first: Arc<Mutex<Option<Duration>>>,
}

async fn handle(State(cb): State<Callback>, Query(q): Query<CallbackQuery>, body: String) -> (axum::http::StatusCode, String) {
    {
        let mut fails = cb.fail_first.lock().unwrap();
        if *fails > 0 {
            *fails -= 1;
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, String::new());
        }
    }
    let slow = cb.slow_first.lock().unwrap().take();
    if let Some(d) = slow {
        tokio::time::sleep(d).await;
    }
    let crypt = MsgCrypt::new(KEY, APP).unwrap();
    match open_push(TOKEN, cb.mode, Some(&crypt), &q, &body) {
        Ok(opened) => {
            let msg = opened.message.clone();
            cb.received.lock().unwrap().push(opened.message);
            let reply = Reply::Text { content: "welcome".into() }.to_xml(&msg.from_user_name, &msg.to_user_name, msg.create_time);
            let answer = if opened.encrypted { crypt.seal_reply(TOKEN, &reply, "1714037059", "12345").unwrap() } else { reply };
            (axum::http::StatusCode::OK, answer)
        }
        Err(e) => (axum::http::StatusCode::from_u16(e.status()).unwrap(), e.to_string()),
    }
}

async fn callback(mode: EncryptMode) -> (String, Callback, tokio::task::JoinHandle<()>) {
    let cb = Callback { mode, received: Arc::default(), fail_first: Arc::new(Mutex::new(0)), slow_first: Arc::new(Mutex::new(None)) };
    let app = axum::Router::new().route("/wechat/callback/{app_id}", post(handle)).with_state(cb.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wechat/callback/{APP}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, cb, task)
}

async fn scenario(mode: EncryptMode) {
    let (url, cb, task) = callback(mode).await;
    let app = SimApp::new(APP, "secret").with_callback(url, TOKEN).with_encryption(KEY, mode);
    let sim = spawn(SimConfig::with_apps(vec![app])).await.unwrap();
    let account = wechat::AccountConfig::new(APP, "secret".into()).with_api_base(sim.base_url());
    let client = wechat::WechatClient::new(account, Arc::new(wechat::MemoryTokenStore::new())).unwrap();
    use wechat::WechatApi as _;
    let code =
        client.create_qr_code(&wechat::QrCodeRequest { scene: Scene::Id(42), lifetime: wechat::QrLifetime::Permanent }).await.unwrap();

    let first = sim.state.scan(&code.ticket, Scanner::NewFollower).await.unwrap();
    let delivery = first.delivery.unwrap();
    assert_eq!((delivery.status, delivery.tries), (200, 1));
    assert_eq!(delivery.reply_error, None, "{mode}: {:?}", delivery.body);
    assert!(delivery.reply.unwrap().contains("welcome"));
    sim.state.scan(&code.ticket, Scanner::Existing(None)).await.unwrap();
    sim.state.unsubscribe(APP, &first.openid).await.unwrap();

    let received = cb.received.lock().unwrap().clone();
    let kinds: Vec<EventKind> = received.iter().map(InboundMessage::kind).collect();
    assert_eq!(
        kinds,
        vec![EventKind::Subscribe { scene: Some(Scene::Id(42)) }, EventKind::Scan { scene: Scene::Id(42) }, EventKind::Unsubscribe,],
        "{mode}"
    );
    assert!(received.iter().all(|m| m.from_user_name == first.openid));
    assert_eq!(received[0].ticket.as_deref(), Some(code.ticket.as_str()));
    task.abort();
}

#[tokio::test]
async fn plaintext_pushes_arrive_signed() {
    scenario(EncryptMode::Plain).await;
}

#[tokio::test]
async fn compatible_mode_pushes_arrive_signed_and_encrypted() {
    scenario(EncryptMode::Compat).await;
}

#[tokio::test]
async fn safe_mode_pushes_and_encrypted_replies() {
    scenario(EncryptMode::Safe).await;
}

#[tokio::test]
async fn wrong_token_is_refused_by_the_callback() {
    let (url, cb, task) = callback(EncryptMode::Plain).await;
    let app = SimApp::new(APP, "secret").with_callback(url, "another-token");
    let sim = spawn(SimConfig::with_apps(vec![app])).await.unwrap();
    // the sim needs a code: issue one through the API directly
    let account = wechat::AccountConfig::new(APP, "secret".into()).with_api_base(sim.base_url());
    let client = wechat::WechatClient::new(account, Arc::new(wechat::MemoryTokenStore::new())).unwrap();
    use wechat::WechatApi as _;
    let code =
        client.create_qr_code(&wechat::QrCodeRequest { scene: Scene::Id(1), lifetime: wechat::QrLifetime::Permanent }).await.unwrap();
    let err = sim.state.scan(&code.ticket, Scanner::NewFollower).await.unwrap_err();
    assert!(matches!(err, wechat::sim::SimError::PushFailed { tries: 3, .. }), "{err}");
    assert!(cb.received.lock().unwrap().is_empty());
    task.abort();
}

#[tokio::test]
async fn failed_and_slow_pushes_are_retried_up_to_three_times() {
    let (url, cb, task) = callback(EncryptMode::Plain).await;
    let app = SimApp::new(APP, "secret").with_callback(url, TOKEN);
    let mut cfg = SimConfig::with_apps(vec![app]);
    cfg.push_timeout = Duration::from_millis(300);
    let sim = spawn(cfg).await.unwrap();
    let account = wechat::AccountConfig::new(APP, "secret".into()).with_api_base(sim.base_url());
    let client = wechat::WechatClient::new(account, Arc::new(wechat::MemoryTokenStore::new())).unwrap();
    use wechat::WechatApi as _;
    let code = client
        .create_qr_code(&wechat::QrCodeRequest { scene: Scene::Str("retry".into()), lifetime: wechat::QrLifetime::Permanent })
        .await
        .unwrap();

    *cb.fail_first.lock().unwrap() = 2;
    let report = sim.state.scan(&code.ticket, Scanner::NewFollower).await.unwrap();
    assert_eq!(report.delivery.unwrap().tries, 3);

    *cb.slow_first.lock().unwrap() = Some(Duration::from_millis(600));
    let report = sim.state.scan(&code.ticket, Scanner::Existing(None)).await.unwrap();
    assert_eq!(report.delivery.unwrap().tries, 2);
    // The slow try was still processed by the callback: WeChat's retries carry the same
    // CreateTime, which is what lets the app store a retry once.
    let received = cb.received.lock().unwrap().clone();
    let scans: Vec<_> = received.iter().filter(|m| m.event.as_deref() == Some("SCAN")).collect();
    assert!(!scans.is_empty());
    assert!(scans.iter().all(|m| m.create_time == scans[0].create_time));

    *cb.fail_first.lock().unwrap() = 3;
    let err = sim.state.scan(&code.ticket, Scanner::Existing(None)).await.unwrap_err();
    assert!(matches!(err, wechat::sim::SimError::PushFailed { tries: 3, .. }));
    task.abort();
}

#[tokio::test]
async fn the_page_lists_codes_and_its_buttons_push() {
    let (url, cb, task) = callback(EncryptMode::Plain).await;
    let app = SimApp::new(APP, "secret").with_callback(url, TOKEN).with_name("Tea house");
    let sim = spawn(SimConfig::with_apps(vec![app])).await.unwrap();
    let account = wechat::AccountConfig::new(APP, "secret".into()).with_api_base(sim.base_url());
    let client = wechat::WechatClient::new(account, Arc::new(wechat::MemoryTokenStore::new())).unwrap();
    use wechat::WechatApi as _;
    let code = client
        .create_qr_code(&wechat::QrCodeRequest {
            scene: Scene::Str("<b>menu</b>".into()),
            lifetime: wechat::QrLifetime::Temporary { expire_seconds: 3600 },
        })
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let page = http.get(sim.base_url()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Tea house"));
    assert!(page.contains("&lt;b&gt;menu&lt;/b&gt;") && !page.contains("<b>menu</b>"));
    assert!(page.contains("Scan as a new follower"));

    let form = [("ticket", code.ticket.as_str()), ("who", "new")];
    let resp = http.post(format!("{}/sim/scan", sim.base_url())).form(&form).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status()); // followed the 303 back to the page
    let page = resp.text().await.unwrap();
    assert!(page.contains("Unsubscribe") && page.contains("1 following"), "{page}");
    let openid = cb.received.lock().unwrap()[0].from_user_name.clone();

    let form = [("app_id", APP), ("openid", openid.as_str())];
    http.post(format!("{}/sim/unsubscribe", sim.base_url())).form(&form).send().await.unwrap();
    let received = cb.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].kind(), EventKind::Unsubscribe);
    task.abort();
}
