//! An instance that starts while the database cannot be reached: it has nothing in memory,
//! yet it must verify pushes (with the sealed accounts file an earlier run left in its data
//! dir) and journal them in the spool, or WeChat gives up after three tries during exactly the
//! outage the spool exists for. Once the database answers, each acknowledged push is stored
//! once. Liveness stays up through it; readiness does not.

mod support;

use chrono::Utc;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use service::dual_test;
use service::entity::event;
use service::ingest::{ACCOUNTS_FILE, IngestOptions, Ingestor, SPOOL_FILE};
use service::testing::{TestDb, account_row, campaign_row};
use service::{AppState, Keys};
use std::path::Path;
use std::time::{Duration, Instant};
use support::serve_with_spool;
use wechat::EncryptMode;
use wechat::sim::SimApp;
use wechat::xml::event_xml;

const PLAIN: &str = "wx9100000000000001";
const SAFE: &str = "wx9100000000000002";
const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH";

/// Two accounts (plain, and safe mode with its AES key sealed in its column) and a campaign.
async fn accounts(app: &AppState) -> i32 {
    let plain = service::entity::wechat_account::ActiveModel { token: Set("token-cold".to_owned()), ..account_row(PLAIN) }
        .insert(&app.db)
        .await
        .unwrap();
    service::entity::wechat_account::ActiveModel {
        token: Set("token-safe".to_owned()),
        message_mode: Set("safe".into()),
        aes_key_enc: Set(Some(app.keys.seal(&format!("wechat_accounts.aes_key:{SAFE}"), AES))),
        ..account_row(SAFE)
    }
    .insert(&app.db)
    .await
    .unwrap();
    campaign_row(plain.id, "Cold poster", "7").insert(&app.db).await.unwrap();
    plain.id
}

/// A pool on the same database, closed: every query fails as when the server is down.
async fn down(t: &TestDb, app: &AppState) -> AppState {
    let db = service::db::connect(&t.url).await.unwrap();
    db.close_by_ref().await.unwrap();
    AppState { db, ..app.clone() }
}

async fn push(base: &str, sim: &SimApp, openid: &str, xml: &str) -> (u16, String) {
    let url = format!("{base}/wechat/callback/{}", sim.app_id);
    match wechat::sim::push(&reqwest::Client::new(), sim, &url, openid, xml, Utc::now().timestamp(), 1).await {
        Ok(d) => (d.status, d.body),
        // A refusal: "HTTP 403 Forbidden".
        Err(wechat::sim::SimError::PushFailed { last, .. }) => (last.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), last),
        Err(e) => panic!("{e}"),
    }
}

fn spool_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join(SPOOL_FILE)).unwrap_or_default().lines().count()
}

async fn status_of(base: &str, path: &str) -> (StatusCode, String) {
    let res = reqwest::get(format!("{base}{path}")).await.unwrap();
    (res.status(), res.text().await.unwrap())
}

dual_test!(a_cold_start_in_an_outage_verifies_spools_and_stores_once, |t: TestDb| async move {
    let app = t.state();
    let account = accounts(&app).await;
    let data = tempfile::tempdir().unwrap();
    // An earlier run, on a reachable database, leaves the accounts file behind, sealed.
    Ingestor::spawn(app.clone(), IngestOptions::serving(data.path())).unwrap().refresh_accounts().await.unwrap();
    let sealed = std::fs::read_to_string(data.path().join(ACCOUNTS_FILE)).unwrap();
    for secret in ["token-cold", "token-safe", PLAIN, AES] {
        assert!(!sealed.contains(secret), "{secret} in clear in the accounts file");
    }

    // The database goes away; a new instance starts with nothing in memory.
    let base = serve_with_spool(down(&t, &app).await, data.path()).await;
    let plain = SimApp::new(PLAIN, "secret").with_callback(String::new(), "token-cold");
    let safe = SimApp::new(SAFE, "secret").with_callback(String::new(), "token-safe").with_encryption(AES, EncryptMode::Safe);
    let subscribe = event_xml("gh_cold", "oCold", 1_714_035_601, "subscribe", Some("qrscene_7"), None);
    let scan = event_xml("gh_safe", "oSafe", 1_714_035_602, "SCAN", Some("7"), None);
    assert_eq!(push(&base, &plain, "oCold", &subscribe).await, (200, "success".into()));
    assert_eq!(push(&base, &safe, "oSafe", &scan).await, (200, "success".into()));
    assert_eq!(spool_lines(data.path()), 2, "both journaled");
    // The file's Token really verifies: a wrong signature is still refused, and an AppID the
    // file does not know cannot be told apart from a new one, so WeChat is asked to retry.
    let forged = SimApp::new(PLAIN, "secret").with_callback(String::new(), "not-the-token");
    assert_eq!(push(&base, &forged, "oCold", &subscribe).await.0, 403);
    let stranger = SimApp::new("wx9100000000000003", "secret").with_callback(String::new(), "t");
    assert_eq!(push(&base, &stranger, "oX", &subscribe).await.0, 503);
    assert_eq!(spool_lines(data.path()), 2);
    assert_eq!(status_of(&base, "/livez").await, (StatusCode::OK, "live".into()));
    assert_eq!(status_of(&base, "/readyz").await, (StatusCode::SERVICE_UNAVAILABLE, "database unavailable".into()));

    // The database answers again (here: the next start, on a reachable pool): the spool is
    // replayed, each push stored once, a late retry a duplicate.
    let again = serve_with_spool(app.clone(), data.path()).await;
    let count = || event::Entity::find().filter(event::Column::AccountId.eq(account)).count(&app.db);
    let all = || event::Entity::find().count(&app.db);
    let deadline = Instant::now() + Duration::from_secs(15);
    while all().await.unwrap() < 2 || spool_lines(data.path()) > 0 {
        assert!(Instant::now() < deadline, "the spool was not replayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(push(&again, &plain, "oCold", &subscribe).await, (200, "success".into()));
    assert_eq!(count().await.unwrap(), 1);
    assert_eq!(all().await.unwrap(), 2, "the safe-mode scan too, once");
    assert_eq!(status_of(&again, "/readyz").await, (StatusCode::OK, "ready".into()));
});

dual_test!(an_accounts_file_sealed_with_another_key_is_not_used, |t: TestDb| async move {
    let app = t.state();
    accounts(&app).await;
    let data = tempfile::tempdir().unwrap();
    Ingestor::spawn(app.clone(), IngestOptions::serving(data.path())).unwrap().refresh_accounts().await.unwrap();
    // Same database and data dir, another secret key: the file does not open, nothing is
    // verified against a guess, and WeChat is asked to retry.
    let other = AppState { keys: std::sync::Arc::new(Keys::random()), ..down(&t, &app).await };
    let base = serve_with_spool(other, data.path()).await;
    let plain = SimApp::new(PLAIN, "secret").with_callback(String::new(), "token-cold");
    let subscribe = event_xml("gh_cold", "oCold", 1_714_035_601, "subscribe", Some("qrscene_7"), None);
    assert_eq!(push(&base, &plain, "oCold", &subscribe).await.0, 503);
    assert_eq!(spool_lines(data.path()), 0);
});

dual_test!(not_live_when_the_spool_cannot_be_written, |t: TestDb| async move {
    let data = tempfile::tempdir().unwrap();
    let base = serve_with_spool(t.state(), data.path()).await;
    assert_eq!(status_of(&base, "/livez").await, (StatusCode::OK, "live".into()));
    // The probe's file is in the way (a directory of that name): no synced write gets through,
    // as on a disk that refuses them. A full disk is the fault drill's (scripts/fault-drill.sh).
    std::fs::remove_file(data.path().join(".livez")).unwrap();
    std::fs::create_dir(data.path().join(".livez")).unwrap();
    let (status, body) = status_of(&base, "/livez").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.starts_with("the spool's directory cannot be written"), "{body}");
    std::fs::remove_dir(data.path().join(".livez")).unwrap();
    assert_eq!(status_of(&base, "/livez").await.0, StatusCode::OK);
});
