//! A token WeChat refuses (40001/40014/42001) is replaced with a forced refresh: WeChat's
//! `stable_token` in normal mode may answer a revoked token again until it expires, so only
//! `force_refresh: true` gets a working one. WeChat limits forced refreshes, so they happen at
//! most once a minute per account, whichever instance asks. The simulator behaves like WeChat
//! here; the database store is checked on SQLite and PostgreSQL in `service/tests/token_store.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use wechat::client::http_client;
use wechat::sim::{SimApp, SimConfig, spawn};
use wechat::token::{FetchedToken, TokenManager};
use wechat::{
    AccountConfig, MemoryTokenStore, QrCodeRequest, QrLifetime, Scene, TokenPolicy, TokenStore, WechatApi, WechatClient, WechatError,
};

const APP: &str = "wx2222222222222222";
const SECRET: &str = "refresh-app-secret-value";

fn fast() -> TokenPolicy {
    TokenPolicy { lease: Duration::from_secs(2), poll: Duration::from_millis(10), ..TokenPolicy::default() }
}

async fn token(t: &'static str) -> Result<FetchedToken, WechatError> {
    Ok(FetchedToken { token: SecretString::from(t), expires_in: 7200 })
}

fn code(n: u32) -> QrCodeRequest {
    QrCodeRequest { scene: Scene::Id(n), lifetime: QrLifetime::Temporary { expire_seconds: 600 } }
}

#[tokio::test]
async fn a_refused_token_is_forced_once_per_window() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let m = TokenManager::new("wx1", store, fast());
    let first = m.get(|| token("old")).await.unwrap();
    let new = m.replace_refused(&first, || token("new")).await.unwrap().unwrap();
    assert_eq!(new.expose_secret(), "new");
    assert_eq!(m.get(|| async { panic!("must use the cache") }).await.unwrap().expose_secret(), "new");
    // A late report about the old token gives the new one, without fetching.
    let again = m.replace_refused(&first, || async { panic!("already replaced") }).await.unwrap().unwrap();
    assert_eq!(again.expose_secret(), "new");
    // The new one refused too, within the window: no second forced refresh, no retry.
    assert!(m.replace_refused(&new, || async { panic!("forced twice in a window") }).await.unwrap().is_none());
}

#[tokio::test]
async fn instances_refused_at_once_force_once_and_share_it() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let managers: Vec<_> = (0..4).map(|_| Arc::new(TokenManager::new("wx1", store.clone(), fast()))).collect();
    let stale = managers[0].get(|| token("revoked")).await.unwrap();
    let forced = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = managers
        .iter()
        .map(|m| {
            let (m, forced, stale) = (m.clone(), forced.clone(), stale.clone());
            tokio::spawn(async move {
                m.replace_refused(&stale, || async {
                    forced.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(FetchedToken { token: SecretString::from("forced"), expires_in: 7200 })
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().unwrap().expose_secret(), "forced");
    }
    assert_eq!(forced.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_force_window_is_a_compare_and_set() {
    let store = MemoryTokenStore::new();
    assert!(store.try_claim_force("wx1", 1000, 940).await.unwrap());
    assert!(!store.try_claim_force("wx1", 1059, 999).await.unwrap(), "within the minute");
    assert!(store.try_claim_force("wx1", 1060, 1000).await.unwrap(), "a minute later");
    assert!(store.try_claim_force("wx2", 1000, 940).await.unwrap(), "per account");
}

/// The simulator's `stable_token` as WeChat's: the same token while it lives, even revoked;
/// `force_refresh` issues a new one and revokes the old at once.
#[tokio::test]
async fn the_simulator_answers_a_revoked_stable_token_until_forced() {
    let sim = spawn(SimConfig::with_apps(vec![SimApp::new(APP, SECRET)])).await.unwrap();
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let stable = |force: bool| {
        let body = json!({ "grant_type": "client_credential", "appid": APP, "secret": SECRET, "force_refresh": force });
        let request = http.post(format!("{base}/cgi-bin/stable_token")).json(&body).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned() }
    };
    let errcode = |token: String| {
        let request = http.get(format!("{base}/cgi-bin/tags/get")).query(&[("access_token", token)]).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap()["errcode"].as_i64() }
    };
    let first = stable(false).await;
    assert_eq!(stable(false).await, first, "normal mode: the same token while it lives");
    assert_eq!(errcode(first.clone()).await, None);

    sim.state.invalidate_tokens(APP);
    assert_eq!(errcode(first.clone()).await, Some(40001), "revoked");
    assert_eq!(stable(false).await, first, "normal mode still answers the revoked token");

    let forced = stable(true).await;
    assert_ne!(forced, first);
    assert_eq!(errcode(forced.clone()).await, None);
    assert_eq!(stable(false).await, forced, "normal mode now answers the forced one");
    let again = stable(true).await;
    assert_eq!(errcode(forced).await, Some(40001), "forcing revokes the previous token at once");
    assert_eq!(errcode(again).await, None);
    assert_eq!((sim.state.token_fetches(APP), sim.state.forced_refreshes(APP)), (3, 2));
}

/// The client: a revoked token gets 40001, the client forces one new token and the call
/// succeeds with it; a second refusal within the minute is not forced again.
#[tokio::test]
async fn the_client_forces_a_new_token_after_a_refusal() {
    let sim = spawn(SimConfig::with_apps(vec![SimApp::new(APP, SECRET)])).await.unwrap();
    let account = AccountConfig::new(APP, SecretString::from(SECRET)).with_api_base(sim.base_url());
    let client = WechatClient::with_http(http_client(Default::default()).unwrap(), account, Arc::new(MemoryTokenStore::new()), fast());
    client.create_qr_code(&code(1)).await.unwrap();
    let revoked = client.access_token().await.unwrap();

    sim.state.invalidate_tokens(APP);
    client.create_qr_code(&code(2)).await.unwrap();
    let new = client.access_token().await.unwrap();
    assert_ne!(new.expose_secret(), revoked.expose_secret());
    assert_eq!((sim.state.token_fetches(APP), sim.state.forced_refreshes(APP)), (2, 1));
    assert_eq!(sim.state.codes(APP).len(), 2);

    sim.state.invalidate_tokens(APP);
    let err = client.create_qr_code(&code(3)).await.unwrap_err();
    assert_eq!(err.errcode(), Some(40001));
    assert_eq!(sim.state.forced_refreshes(APP), 1, "not forced twice within a minute");
    assert_eq!(sim.state.codes(APP).len(), 2);
}
