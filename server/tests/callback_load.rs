//! The callback under load, through the real HTTP route, on SQLite and PostgreSQL: thousands
//! of distinct pushes from many concurrent senders, every push sent twice at once and a share
//! of them again later (as WeChat retries), and afterwards the stored events and every
//! counter match the plan exactly.
//!
//! Also holds `drill_load`, the `#[ignore]`d client of `scripts/fault-drill.sh`: it pushes
//! to a running server and records which pushes were acknowledged.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use server::routes::{ServerState, router};
use service::dual_test;
use service::entity::{account_hourly, campaign_hourly, event, scanner_hour, subscription, wechat_account};
use service::ingest::{IngestOptions, Ingestor, hour_bucket};
use service::keys::scanner_key;
use service::testing::{TestDb, account_row, campaign_row};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wechat::xml::event_xml;

const APP_ID: &str = "wx9000000000000001";
const TOKEN: &str = "load-token";
const GH: &str = "gh_load";
const T0: i64 = 1_714_035_600;
const FOLLOWERS: usize = 1000;
const CAMPAIGNS: usize = 10;
const SENDERS: usize = 64;

/// Posts a plaintext push signed with `token`; true when acknowledged (HTTP 200).
async fn send(http: &reqwest::Client, url: &str, token: &str, xml: &str) -> bool {
    let ts = Utc::now().timestamp().to_string();
    let nonce = format!("{}", rand_nonce());
    let query = [("signature", wechat::signature(token, &ts, &nonce)), ("timestamp", ts), ("nonce", nonce)];
    match http.post(url).query(&query).body(xml.to_owned()).send().await {
        Ok(res) => res.status() == reqwest::StatusCode::OK && res.text().await.is_ok(),
        Err(_) => false,
    }
}

/// A nonce that differs between tries, like WeChat's (no RNG crate needed).
fn rand_nonce() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) % 2_000_000_000
}

/// The pushes of follower `i`: follow through one campaign, scan another, then leave (every
/// fourth follower) or click a menu.
fn plan(i: usize) -> Vec<(String, i64, &'static str, String)> {
    let openid = format!("oLoad{i:06}");
    let t = T0 + (i as i64 * 7) % 7200;
    let follow = i % CAMPAIGNS;
    let scan = (i + 3) % CAMPAIGNS;
    let last = if i.is_multiple_of(4) { ("unsubscribe", String::new()) } else { ("CLICK", "MENU".to_owned()) };
    vec![
        (openid.clone(), t, "subscribe", format!("qrscene_{}", follow + 1)),
        (openid.clone(), t + 1, "SCAN", format!("{}", scan + 1)),
        (openid, t + 2, last.0, last.1),
    ]
}

dual_test!(thousands_of_concurrent_retried_pushes_are_counted_exactly, |t: TestDb| async move {
    let app = t.state();
    let spool = tempfile::tempdir().unwrap();
    // As `serve` runs it: pushes that arrive while a batch commits are journaled in the spool
    // and imported behind it.
    let ingest = Ingestor::spawn(app.clone(), IngestOptions::serving(spool.path())).unwrap();
    let account = wechat_account::ActiveModel {
        name: Set("Load".into()),
        app_secret_enc: Set(app.keys.seal(&format!("wechat_accounts.app_secret:{APP_ID}"), "secret")),
        token: Set(TOKEN.into()),
        ..account_row(APP_ID)
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id;
    let mut campaign_ids = Vec::new();
    for k in 1..=CAMPAIGNS {
        let c = campaign_row(account, &format!("Poster {k}"), &k.to_string()).insert(&app.db).await.unwrap();
        campaign_ids.push(c.id);
    }
    let state = ServerState {
        leptos: leptos::prelude::LeptosOptions::builder().output_name("sceneboard").build().into(),
        site: server::site::Site::new(None).into(),
        app: app.clone(),
        ingest: ingest.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wechat/callback/{APP_ID}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });

    let started = Instant::now();
    let http = reqwest::Client::builder().pool_max_idle_per_host(SENDERS).build().unwrap();
    let url = Arc::new(url);
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let (http, url) = (http.clone(), url.clone());
        senders.spawn(async move {
            let mut acked = 0usize;
            // Each sender owns its followers, so a follower's pushes keep their order; every
            // push goes out twice at once, as a retry racing the first try.
            for i in (s..FOLLOWERS).step_by(SENDERS) {
                for (openid, t, ev, key) in plan(i) {
                    let xml = event_xml(GH, &openid, t, ev, Some(&key), None);
                    let (a, b) = tokio::join!(send(&http, &url, TOKEN, &xml), send(&http, &url, TOKEN, &xml));
                    assert!(a && b, "push {openid} {t} {ev} not acknowledged");
                    acked += 1;
                }
            }
            acked
        });
    }
    let mut acked = 0;
    while let Some(n) = senders.join_next().await {
        acked += n.unwrap();
    }
    assert_eq!(acked, FOLLOWERS * 3);
    // Late retries, out of order (some subscribes after their unsubscribe): all no-ops.
    let mut late = tokio::task::JoinSet::new();
    for i in (0..FOLLOWERS).step_by(7) {
        let (http, url) = (http.clone(), url.clone());
        late.spawn(async move {
            for (openid, t, ev, key) in plan(i).into_iter().rev() {
                assert!(send(&http, &url, TOKEN, &event_xml(GH, &openid, t, ev, Some(&key), None)).await);
            }
        });
    }
    while let Some(r) = late.join_next().await {
        r.unwrap();
    }
    let elapsed = started.elapsed();
    // Acknowledged means durable, in the database or in the spool; the spool's import ends
    // within moments.
    assert!(ingest.settle(Duration::from_secs(30)).await, "the spool was not imported");

    // What the plan says the numbers must be.
    let mut camp: BTreeMap<(i32, i64), (i64, i64, i64)> = BTreeMap::new();
    let mut acc: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    let mut scanners = BTreeSet::new();
    let mut open = 0;
    for i in 0..FOLLOWERS {
        let p = plan(i);
        let hash = app.keys.openid_hash(&p[0].0);
        let follow = campaign_ids[i % CAMPAIGNS];
        let scan = campaign_ids[(i + 3) % CAMPAIGNS];
        let (h0, h1, h2) = (hour_bucket(p[0].1), hour_bucket(p[1].1), hour_bucket(p[2].1));
        let c = camp.entry((follow, h0)).or_default();
        c.0 += 1;
        c.1 += 1;
        camp.entry((scan, h1)).or_default().0 += 1;
        acc.entry(h0).or_default().0 += 1;
        acc.entry(h0).or_default().1 += 1;
        acc.entry(h1).or_default().0 += 1;
        scanners.insert((follow, h0, scanner_key(&hash)));
        scanners.insert((scan, h1, scanner_key(&hash)));
        if i % 4 == 0 {
            camp.entry((follow, h2)).or_default().2 += 1;
            acc.entry(h2).or_default().2 += 1;
        } else {
            open += 1;
        }
    }

    let db = &app.db;
    assert_eq!(event::Entity::find().count(db).await.unwrap() as usize, FOLLOWERS * 3);
    let stored: BTreeMap<(i32, i64), (i64, i64, i64)> = campaign_hourly::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| ((r.campaign_id, r.hour), (r.scans, r.new_followers, r.unsubscribes)))
        .collect();
    assert_eq!(stored, camp);
    let stored: BTreeMap<i64, (i64, i64, i64)> = account_hourly::Entity::find()
        .filter(account_hourly::Column::AccountId.eq(account))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            assert_eq!((r.organic_followers, r.unknown_scene_events), (0, 0));
            (r.hour, (r.scans, r.new_followers, r.unsubscribes))
        })
        .collect();
    assert_eq!(stored, acc);
    let stored: BTreeSet<(i32, i64, i64)> =
        scanner_hour::Entity::find().all(db).await.unwrap().into_iter().map(|s| (s.campaign_id, s.hour, s.scanner)).collect();
    assert_eq!(stored, scanners);
    assert_eq!(subscription::Entity::find().count(db).await.unwrap() as usize, FOLLOWERS);
    let still_open = subscription::Entity::find().filter(subscription::Column::UnsubscribedAt.is_null()).count(db).await.unwrap();
    assert_eq!(still_open as usize, open);
    assert!(std::fs::read(spool.path().join(service::ingest::SPOOL_FILE)).unwrap_or_default().is_empty(), "the spool is emptied");
    assert_eq!(app.health.ingest().db_down_since, None, "a busy database is not a database that is down");
    eprintln!("{} requests in {elapsed:?}", FOLLOWERS * 6 + FOLLOWERS.div_ceil(7) * 3);
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
});

/// The fault drill's load (`scripts/fault-drill.sh`): pushes `SCENEBOARD_DRILL_COUNT`
/// distinct subscribes through scene `1` to `SCENEBOARD_DRILL_URL`, signed with
/// `SCENEBOARD_DRILL_TOKEN`, from a few concurrent senders at a steady pace, each tried up to
/// three times like WeChat. Every acknowledged push is appended to `SCENEBOARD_DRILL_ACKS` as
/// `openid,create_time` before the next one is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a running server: run by scripts/fault-drill.sh"]
async fn drill_load() {
    use std::io::Write;
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let url = Arc::new(env("SCENEBOARD_DRILL_URL"));
    let token = Arc::new(env("SCENEBOARD_DRILL_TOKEN"));
    let count: usize = env("SCENEBOARD_DRILL_COUNT").parse().unwrap();
    let prefix = Arc::new(env("SCENEBOARD_DRILL_PREFIX"));
    let pace = Duration::from_millis(std::env::var("SCENEBOARD_DRILL_PACE_MS").ok().and_then(|p| p.parse().ok()).unwrap_or(20));
    let acks = std::fs::OpenOptions::new().append(true).create(true).open(env("SCENEBOARD_DRILL_ACKS")).unwrap();
    let acks = Arc::new(std::sync::Mutex::new(acks));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let base_time = Utc::now().timestamp();
    const DRILL_SENDERS: usize = 8;
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..DRILL_SENDERS {
        let (http, url, token, prefix, acks) = (http.clone(), url.clone(), token.clone(), prefix.clone(), acks.clone());
        senders.spawn(async move {
            let (mut ok, mut lost) = (0, 0);
            for i in (s..count).step_by(DRILL_SENDERS) {
                let openid = format!("{prefix}{i:06}");
                let t = base_time + i as i64;
                let xml = event_xml(GH, &openid, t, "subscribe", Some("qrscene_1"), None);
                let mut acked = false;
                for _ in 0..3 {
                    if send(&http, &url, &token, &xml).await {
                        acked = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                if acked {
                    let mut f = acks.lock().unwrap();
                    writeln!(f, "{openid},{t}").unwrap();
                    f.flush().unwrap();
                    ok += 1;
                } else {
                    lost += 1;
                }
                tokio::time::sleep(pace).await;
            }
            (ok, lost)
        });
    }
    let (mut ok, mut lost) = (0, 0);
    while let Some(r) = senders.join_next().await {
        let (a, b) = r.unwrap();
        ok += a;
        lost += b;
    }
    eprintln!("drill load: {ok} acknowledged, {lost} never acknowledged");
    assert!(ok > 0, "no push was acknowledged at all");
}
