//! WeChat's erasure rule end to end, on SQLite and PostgreSQL: once a follower's unsubscribe is
//! stored, no copy of their OpenID is left in any column of any table (listed from the
//! database's catalogue, so a table added later is covered too) nor in any file of the data
//! dir (the SQLite database with its `-wal` and `-shm`, the spool). Aggregates and keyed
//! hashes stay.
//!
//! Two followers of one tagged campaign: one whose pushes were in the spool when the server
//! started, imported while a burst kept the spool from running empty; one who follows, scans,
//! is tagged (the real tag job against the simulator) and leaves through the real callback.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Set, Statement, TransactionTrait};
use server::routes::{ServerState, router};
use service::dual_test;
use service::entity::{campaign, campaign_hourly, job, qr_code, subscription, wechat_account};
use service::ingest::{IngestOptions, Ingestor, SPOOL_FILE};
use service::jobs::JobHandler;
use service::testing::{Backend, TestDb};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wechat::sim::{Scanner, SimApp, SimConfig};
use wechat::xml::event_xml;

const APP: &str = "wx9100000000000001";
const T0: i64 = 1_714_035_600;
/// The follower whose pushes the previous run left in the spool.
const SPOOLED: &str = "oSpooledLeaver5Xk2Qw9Zr1Tb7u";
/// Another follower clicking a menu, again and again: the burst behind the spooled pushes.
const CLICKER: &str = "oMenuClicker00Xk2Qw9Zr1Tb7u0";

/// Where each column of each table holds `needle` (as `table.column`), from the catalogue.
async fn columns_holding(db: &DatabaseConnection, needle: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    let catalogue = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name, c.name, c.type FROM sqlite_master m JOIN pragma_table_info(m.name) c WHERE m.type = 'table' ORDER BY 1, 2"
        }
        _ => {
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = 'public' ORDER BY 1, 2"
        }
    };
    let columns = db.query_all_raw(Statement::from_string(backend, catalogue)).await.unwrap();
    let mut found = Vec::new();
    for row in columns {
        let (table, column, kind): (String, String, String) =
            (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap(), row.try_get_by_index(2).unwrap());
        let test = match backend {
            DbBackend::Sqlite => format!(r#"instr(CAST("{column}" AS BLOB), CAST(? AS BLOB)) > 0"#),
            _ if kind == "bytea" => format!(r#"position(convert_to($1, 'UTF8') IN "{column}") > 0"#),
            _ => format!(r#"strpos("{column}"::text, $1) > 0"#),
        };
        let sql = format!(r#"SELECT COUNT(*) FROM "{table}" WHERE {test}"#);
        let row = db.query_one_raw(Statement::from_sql_and_values(backend, sql, [needle.into()])).await.unwrap().unwrap();
        if row.try_get_by_index::<i64>(0).unwrap() > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

/// Every file under `dir` (recursively) whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            found.push(path);
        }
    }
    found
}

/// Waits (at most 20 s) until no column and no file of `data_dir` holds `openid`.
async fn wait_until_erased(db: &DatabaseConnection, data_dir: &Path, openid: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (columns, files) = (columns_holding(db, openid).await, files_holding(data_dir, openid));
        if columns.is_empty() && files.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{openid} is still in columns {columns:?} and files {files:?}");
        // Between rounds, so the catalogue's queries leave the WAL's checkpoint some room.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Holds the database busy (see `service/tests/ingest_spill.rs`): every batch's insert waits.
async fn hold_busy(t: &TestDb, account: i32) -> sea_orm::DatabaseTransaction {
    let locker = t.db.begin().await.unwrap();
    match t.backend {
        Backend::Sqlite => locker.execute_unprepared(&format!("UPDATE wechat_accounts SET name = name WHERE id = {account}")).await,
        Backend::Postgres => locker.execute_unprepared("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE").await,
    }
    .unwrap();
    locker
}

/// A spool line as the previous version wrote it (with the raw XML it kept then).
fn spooled_line(account: i32, dt: i64, event: &str, key: &str, ticket: Option<&str>) -> String {
    let xml = event_xml("gh_9100000000", SPOOLED, T0 + dt, event, Some(key), ticket);
    let push = serde_json::json!({
        "account_id": account, "to_user": "gh_9100000000", "openid": SPOOLED, "create_time": T0 + dt,
        "msg_type": "event", "event": event, "event_key": key, "ticket": ticket, "raw_xml": xml,
        "received_at": Utc::now(),
    });
    serde_json::json!({ "v": 1, "push": push }).to_string()
}

async fn wait_for<F: Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

dual_test!(an_unsubscribed_follower_leaves_no_openid_in_the_database_or_the_data_dir, |t: TestDb| async move {
    // The data dir: the SQLite file's folder (database, WAL, spool together, as in `serve`).
    let pg_dir = tempfile::tempdir().unwrap();
    let data_dir = match t.backend {
        Backend::Sqlite => Path::new(service::db::sqlite_path(&t.url).unwrap()).parent().unwrap().to_owned(),
        Backend::Postgres => pg_dir.path().to_owned(),
    };
    let app = t.state();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!("http://{}/wechat/callback/{APP}", listener.local_addr().unwrap());
    let sim_app = SimApp::new(APP, "secret").with_callback(callback.clone(), "erasure-token");
    let sim = wechat::sim::spawn(SimConfig::with_apps(vec![sim_app.clone()])).await.unwrap();
    let now = Utc::now();
    let account = wechat_account::ActiveModel {
        name: Set("Erasure".into()),
        app_id: Set(APP.into()),
        app_secret_enc: Set(app.keys.seal(&format!("wechat_accounts.app_secret:{APP}"), "secret")),
        token: Set("erasure-token".into()),
        message_mode: Set("plain".into()),
        api_base_url: Set(sim.base_url()),
        token_endpoint: Set("stable".into()),
        timezone: Set("Asia/Shanghai".into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&t.db)
    .await
    .unwrap()
    .id;
    // A tagged campaign with a code issued by the simulator.
    let model = service::accounts::model(&t.db, account).await.unwrap();
    let api = service::accounts::api_client(&app, &model).unwrap();
    let code = api
        .create_qr_code(&wechat::QrCodeRequest { scene: wechat::Scene::Str("poster".into()), lifetime: wechat::QrLifetime::Permanent })
        .await
        .unwrap();
    let c =
        campaign::ActiveModel { tag_name: Set(Some("海报粉丝".into())), ..service::testing::campaign_row(account, "Poster", "poster") }
            .insert(&t.db)
            .await
            .unwrap()
            .id;
    qr_code::ActiveModel {
        campaign_id: Set(c),
        ticket: Set(code.ticket.clone()),
        url: Set(code.url.clone()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&t.db)
    .await
    .unwrap();

    // 1. A follower's pushes were left in the spool (say the previous run crashed): follow
    // through the code, scan, leave.
    let lines = [
        spooled_line(account, 0, "subscribe", "qrscene_poster", Some(&code.ticket)),
        spooled_line(account, 1, "SCAN", "poster", Some(&code.ticket)),
        spooled_line(account, 2, "unsubscribe", "", None),
    ];
    std::fs::write(data_dir.join(SPOOL_FILE), lines.join("\n") + "\n").unwrap();
    // The server starts while the database is busy, and a burst of menu clicks is journaled
    // behind the spooled pushes before they are imported. Imports take three lines at a time,
    // and wait while the burst goes on: the spool holds the clicks after the leaver's lines
    // are stored, as a spool under a long burst never runs empty.
    let locker = hold_busy(&t, account).await;
    let opts = IngestOptions { max_import: 3, burst_rate: 1, max_import_lag: Duration::from_secs(60), ..IngestOptions::serving(&data_dir) };
    let ingest = Ingestor::spawn(app.clone(), opts).unwrap();
    let state = ServerState {
        leptos: leptos::prelude::LeptosOptions::builder().output_name("sceneboard").build().into(),
        site: server::site::Site::new(None).into(),
        app: app.clone(),
        ingest: ingest.clone(),
    };
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    let http = reqwest::Client::new();
    let clicking = Arc::new(AtomicBool::new(true));
    let (first_click, clicked) = tokio::sync::oneshot::channel();
    let clicker = {
        let (http, sim_app, callback, clicking) = (http.clone(), sim_app.clone(), callback.clone(), clicking.clone());
        tokio::spawn(async move {
            let mut first_click = Some(first_click);
            let mut n = 0;
            while clicking.load(Ordering::Acquire) {
                let xml = event_xml(&sim_app.original_id, CLICKER, T0 + 100 + n, "CLICK", Some("MENU_1"), None);
                let d = wechat::sim::push(&http, &sim_app, &callback, CLICKER, &xml, Utc::now().timestamp(), 1).await.unwrap();
                assert_eq!((d.status, d.body.as_str()), (200, "success"));
                n += 1;
                if let Some(tx) = first_click.take() {
                    let _ = tx.send(());
                }
                // The pace of the burst (well above `burst_rate`), not a synchronisation.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            n as usize
        })
    };
    clicked.await.unwrap();
    locker.rollback().await.unwrap();
    let spooled_hash = app.keys.openid_hash(SPOOLED);
    wait_for("the spooled unsubscribe to be stored", || {
        let sql = format!("SELECT COUNT(*) FROM events WHERE openid_hash = '{spooled_hash}' AND kind = 'unsubscribe'");
        let db = t.db.clone();
        async move { count(&db, &sql).await == 1 }
    })
    .await;
    wait_until_erased(&t.db, &data_dir, SPOOLED).await;
    // The case at hand: the clicks were still waiting in the spool meanwhile.
    assert!(app.health.ingest().spool_waiting > 0, "the spool ran empty: the burst did not hold the import");
    assert_eq!(files_holding(&data_dir, CLICKER), vec![data_dir.join(SPOOL_FILE)], "the waiting clicks stay in the spool");
    clicking.store(false, Ordering::Release);
    let clicks = clicker.await.unwrap();
    assert!(ingest.settle(Duration::from_secs(20)).await, "the burst was not imported after it ended");
    let clicker_hash = app.keys.openid_hash(CLICKER);
    assert_eq!(count(&t.db, &format!("SELECT COUNT(*) FROM events WHERE openid_hash = '{clicker_hash}'")).await, clicks as i64);

    // 2. A follower scans the code in WeChat (the simulator pushes to the callback), scans
    // again, is tagged by the tag job, then leaves.
    let joined = sim.state.scan(&code.ticket, Scanner::NewFollower).await.unwrap();
    let who = joined.openid.clone();
    assert_eq!(joined.delivery.unwrap().status, 200);
    let again = sim.state.scan(&code.ticket, Scanner::Existing(Some(who.clone()))).await.unwrap();
    assert_eq!((again.event.as_str(), again.delivery.unwrap().status), ("SCAN", 200));
    let tag_job = service::jobs::claim(&t.db, "erasure-test", Duration::from_secs(60)).await.unwrap().expect("the follower's tag job");
    assert_eq!(tag_job.kind, "tag_follower");
    server::worker::Handler.run(&app, &tag_job).await.unwrap();
    assert!(service::jobs::complete(&t.db, tag_job.id, "erasure-test").await.unwrap());
    let tag_id = campaign::Entity::find_by_id(c).one(&t.db).await.unwrap().unwrap().tag_id.expect("the tag was created") as u64;
    assert!(sim.state.follower(APP, &who).unwrap().tags.contains(&tag_id), "tagged in WeChat");
    // What holds the OpenID while they follow (so the search below finds what it looks for).
    let held = columns_holding(&t.db, &who).await;
    assert_eq!(held, ["events.openid", "jobs.payload", "subscriptions.openid"], "before the unsubscribe");
    assert_eq!(job::Entity::find_by_id(tag_job.id).one(&t.db).await.unwrap().unwrap().status, "done");
    if t.backend == Backend::Sqlite {
        assert!(!files_holding(&data_dir, &who).is_empty(), "the database's files hold the OpenID before the unsubscribe");
    }
    let left = sim.state.unsubscribe(APP, &who).await.unwrap();
    assert_eq!(left.delivery.unwrap().status, 200);
    wait_until_erased(&t.db, &data_dir, &who).await;

    // The hashes stay: both subscriptions, closed and erased, and the campaign's counts.
    let subs = subscription::Entity::find().all(&t.db).await.unwrap();
    let mut kept: Vec<(String, bool, bool)> =
        subs.iter().map(|s| (s.openid_hash.clone(), s.openid.is_none(), s.unsubscribed_at.is_some())).collect();
    kept.sort();
    let mut expected = vec![(spooled_hash, true, true), (app.keys.openid_hash(&who), true, true)];
    expected.sort();
    assert_eq!(kept, expected);
    let hours = campaign_hourly::Entity::find().all(&t.db).await.unwrap();
    let totals = hours.iter().fold((0, 0, 0), |a, h| (a.0 + h.scans, a.1 + h.new_followers, a.2 + h.unsubscribes));
    assert_eq!(totals, (4, 2, 2), "two followers who scanned twice each and left");
    assert!(job::Entity::find().all(&t.db).await.unwrap().is_empty(), "the done tag job went with the OpenID");
    assert!(columns_holding(&t.db, SPOOLED).await.is_empty());
});
