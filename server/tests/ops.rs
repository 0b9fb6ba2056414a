//! The operator's commands on the real binary: `rotate-key` (key in the data dir, key in
//! SCENEBOARD_SECRET_KEY, a row that does not open), on SQLite and PostgreSQL; `backup` while a
//! `sceneboard serve` keeps storing pushes, and `restore` into a new data dir that then serves
//! the same campaigns (SQLite); both refusing PostgreSQL with the pg_dump hint.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use service::AppState;
use service::Keys;
use service::db::stmt;
use service::ingest::{Ingestor, Push};
use service::keys::scanner_key;
use service::rotate::NewKey;
use service::state::Settings;
use service::testing::{Backend, TestDb};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wechat::InboundMessage;
use wechat::sim::{SimApp, SimConfig, SimHandle};
use wechat::xml::event_xml;

const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH";
/// An hour start (2024-04-25 09:00 UTC).
const T0: i64 = 1_714_035_600;

/// The `sceneboard` binary with a data dir and (optionally) a database URL.
#[derive(Clone)]
struct Sb {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Sb {
    /// Runs in `dir`, with `dir/data` as the data dir; `database_url` `None` = the default
    /// SQLite file in the data dir.
    fn new(dir: &Path, database_url: Option<&str>) -> Self {
        let mut env = vec![("SCENEBOARD_DATA_DIR".to_owned(), dir.join("data").display().to_string())];
        if let Some(url) = database_url {
            env.push(("DATABASE_URL".into(), url.into()));
        }
        Self { dir: dir.to_owned(), env }
    }

    fn with(&self, key: &str, value: &str) -> Self {
        let mut s = self.clone();
        s.env.retain(|(k, _)| k != key);
        s.env.push((key.into(), value.into()));
        s
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sceneboard"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env_remove("DATABASE_URL")
            .env_remove("SCENEBOARD_SECRET_KEY")
            .env_remove("RUST_LOG")
            .env_remove("SCENEBOARD_ADDR");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a one-shot command to the end (on a blocking thread, so the simulator and the
    /// test's own tasks keep running).
    async fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = self.command(args);
        let stdin = stdin.to_owned();
        tokio::task::spawn_blocking(move || {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("spawn sceneboard");
            child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }

    /// Runs and expects success; returns stdout.
    async fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin).await;
        assert!(out.status.success(), "sceneboard {args:?} failed: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs and expects failure with exactly one line on stderr; returns it.
    async fn fails(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin).await;
        assert!(!out.status.success(), "sceneboard {args:?} should have failed: {}", text(&out.stdout));
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "one line on stderr: {err}");
        err
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The WeChat simulator with the sandbox app (AppSecret checked on every token fetch).
async fn sim() -> SimHandle {
    wechat::sim::spawn(SimConfig::with_apps(vec![SimApp::sandbox()])).await.unwrap()
}

/// `account add` of the sandbox app against `sim`, in `mode` (with the EncodingAESKey unless
/// plain); returns the account id.
async fn add_sandbox(sb: &Sb, sim: &SimHandle, db: &DatabaseConnection, mode: &str) -> i32 {
    let app = SimApp::sandbox();
    let base = sim.base_url();
    let mut args = vec!["account", "add", "--name", "Sandbox", "--app-id", &app.app_id, "--api-base", &base];
    args.extend(["--mode", mode]);
    let mut sb = sb.with("SCENEBOARD_ACCOUNT_TOKEN", "sandboxtoken");
    if mode != "plain" {
        sb = sb.with("SCENEBOARD_ACCOUNT_AES_KEY", AES_KEY);
    }
    let out = sb.ok(&args, &format!("{}\n", app.secret)).await;
    assert!(out.contains("/wechat/callback/wx5ce0b0a4d0000001"), "{out}");
    account_id(db, &app.app_id).await
}

async fn account_id(db: &DatabaseConnection, app_id: &str) -> i32 {
    service::accounts::find_by_app_id(db, app_id).await.unwrap().expect("account stored").id
}

/// `campaign add` for the sandbox app: opens the AppSecret and fetches a token from the
/// simulator, so it only works when the configured key opens the stored secrets.
async fn campaign_add(sb: &Sb, name: &str, scene: &str) -> Output {
    sb.run(&["campaign", "add", "--app-id", "wx5ce0b0a4d0000001", "--name", name, "--scene", scene, "--kind", "permanent"], "").await
}

fn state(db: &DatabaseConnection, keys: Keys) -> AppState {
    AppState {
        db: db.clone(),
        keys: Arc::new(keys),
        settings: Arc::new(Settings {
            public_url: "http://127.0.0.1:3000".into(),
            timezone: "Asia/Shanghai".into(),
            secure_cookies: false,
            metrics_token: None,
            trusted_proxies: Vec::new(),
            mail: None,
        }),
        health: Default::default(),
        clock: service::Clock::system(),
        changes: Default::default(),
    }
}

/// Stores one event push through the real ingest path with `st`'s keys.
async fn ingest(ing: &Ingestor, account: i32, openid: &str, at: i64, event: &str, key: Option<&str>) {
    let xml = event_xml("gh_5ce0b0a4d000", openid, at, event, key, None);
    let msg = InboundMessage::parse(&xml).unwrap();
    ing.submit(Push::new(account, &msg, chrono::Utc::now())).await.unwrap();
}

async fn count(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
    let backend = db.get_database_backend();
    let row = db.query_one_raw(stmt(backend, sql, values)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// The sealed columns and ids of every account, for "nothing changed" checks.
async fn sealed_rows(db: &DatabaseConnection) -> Vec<(i32, String, Option<String>)> {
    let backend = db.get_database_backend();
    let rows =
        db.query_all_raw(stmt(backend, "SELECT id, app_secret_enc, aes_key_enc FROM wechat_accounts ORDER BY id", vec![])).await.unwrap();
    rows.iter().map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap(), r.try_get_by_index(2).unwrap())).collect()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------------
// rotate-key

async fn rotate_with_the_key_file(backend: Backend) {
    let t = TestDb::new(backend, true).await;
    let dir = tempfile::tempdir().unwrap();
    let sb = Sb::new(dir.path(), Some(&t.url));
    let sim = sim().await;
    let account = add_sandbox(&sb, &sim, &t.db, "compat").await;
    let out = campaign_add(&sb, "Poster", "42").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cid: i32 = text(&out.stdout).trim().parse().unwrap();
    let key_file = sb.data().join("secret.key");
    let old_text = std::fs::read_to_string(&key_file).unwrap();
    let old = Keys::from_base64(&old_text).unwrap();

    // Alice follows through the campaign and scans again; Bob follows and leaves (erased).
    let ing = Ingestor::without_spool(state(&t.db, old.clone()));
    ingest(&ing, account, "oAlice", T0 + 1, "subscribe", Some("qrscene_42")).await;
    ingest(&ing, account, "oAlice", T0 + 60, "SCAN", Some("42")).await;
    ingest(&ing, account, "oBob", T0 + 5, "subscribe", Some("qrscene_42")).await;
    ingest(&ing, account, "oBob", T0 + 100, "unsubscribe", None).await;
    // A signed-in admin.
    let user = service::users::create(&t.db, "ops", "ops-password-1", service::users::Role::Admin, None).await.unwrap();
    let session = service::sessions::create(&t.db, &old, user.id, None).await.unwrap();
    assert!(service::sessions::lookup(&t.db, &old, &session.token).await.unwrap().is_some());

    let out = sb.run(&["rotate-key"], "").await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim_end().lines().count(), 1, "{stdout}");
    assert!(stdout.contains("1 accounts re-encrypted") && stdout.contains("1 sessions ended"), "{stdout}");
    assert!(stdout.contains("secret.key.old"), "{stdout}");

    // The key file holds a new key; the old one is kept beside it; both private.
    let new_text = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_text.trim(), old_text.trim());
    assert_eq!(std::fs::read_to_string(sb.data().join("secret.key.old")).unwrap(), old_text);
    assert!(!sb.data().join("secret.key.new").exists());
    #[cfg(unix)]
    {
        assert_eq!(mode(&key_file), 0o600);
        assert_eq!(mode(&sb.data().join("secret.key.old")), 0o600);
    }
    // No key and no secret was printed.
    for secret in [new_text.trim(), old_text.trim(), SimApp::sandbox().secret.as_str(), AES_KEY] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "a secret was printed");
    }

    // The secrets open with the new key, and no longer with the old.
    let new = Keys::from_base64(&new_text).unwrap();
    let m = service::accounts::model(&t.db, account).await.unwrap();
    assert!(service::accounts::account_config(&state(&t.db, new.clone()), &m).is_ok());
    assert_eq!(service::accounts::aes_key(&state(&t.db, new.clone()), &m).unwrap().as_deref(), Some(AES_KEY));
    assert!(service::accounts::account_config(&state(&t.db, old.clone()), &m).is_err());
    assert!(service::accounts::aes_key(&state(&t.db, old.clone()), &m).is_err());

    // Everyone signs in again.
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM sessions", vec![]).await, 0);
    assert!(service::sessions::lookup(&t.db, &new, &session.token).await.unwrap().is_none());

    // Alice (still following, OpenID stored) moved to her new hash everywhere; Bob was erased,
    // so his old hash stays.
    let (alice_old, alice_new) = (old.openid_hash("oAlice"), new.openid_hash("oAlice"));
    for table in ["events", "subscriptions"] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE openid_hash = ?");
        let n = |h: String| count(&t.db, &sql, vec![h.into()]);
        assert_eq!(n(alice_old.clone()).await, 0, "{table}: old hash left");
        assert!(n(alice_new.clone()).await >= 1, "{table}: new hash missing");
    }
    // Unique scanners are keyed by the hash's first 64 bits: hers moved, Bob's stayed.
    let scanner_rows = |h: &str| count(&t.db, "SELECT COUNT(*) FROM scanner_hours WHERE scanner = ?", vec![scanner_key(h).into()]);
    assert_eq!(scanner_rows(&alice_old).await, 0, "scanner_hours: old key left");
    assert!(scanner_rows(&alice_new).await >= 1, "scanner_hours: new key missing");
    assert!(scanner_rows(&old.openid_hash("oBob")).await >= 1, "scanner_hours: an erased follower keeps the old key");
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM events WHERE openid_hash = ?", vec![old.openid_hash("oBob").into()]).await, 2);
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM audit_log WHERE action = 'secret_key.rotate'", vec![]).await, 1);

    // A server with the new key: Alice leaves, and it counts against her campaign.
    let ing = Ingestor::without_spool(state(&t.db, new.clone()));
    ingest(&ing, account, "oAlice", T0 + 200, "unsubscribe", None).await;
    let open = count(&t.db, "SELECT COUNT(*) FROM subscriptions WHERE unsubscribed_at IS NULL", vec![]).await;
    assert_eq!(open, 0, "Alice's subscription was found under the new hash and closed");
    let unsubscribes =
        count(&t.db, "SELECT CAST(SUM(unsubscribes) AS BIGINT) FROM campaign_hourly WHERE campaign_id = ?", vec![cid.into()]).await;
    assert_eq!(unsubscribes, 2);

    // The CLI reads the new key file: the AppSecret opens and the simulator issues a token.
    let out = campaign_add(&sb, "After rotation", "43").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

async fn rotate_with_the_environment_key(backend: Backend) {
    let t = TestDb::new(backend, true).await;
    let dir = tempfile::tempdir().unwrap();
    let k0 = NewKey::generate().expose_base64().to_owned();
    let sb = Sb::new(dir.path(), Some(&t.url));
    let sb0 = sb.with("SCENEBOARD_SECRET_KEY", &k0);
    let sim = sim().await;
    add_sandbox(&sb0, &sim, &t.db, "safe").await;
    assert!(campaign_add(&sb0, "Poster", "42").await.status.success());

    // A generated key is printed, alone, on stdout: the only copy the operator gets.
    let out = sb0.run(&["rotate-key"], "").await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let k1 = lines[0].to_owned();
    assert!(NewKey::parse(&k1).is_ok(), "stdout is the new key");
    assert_ne!(k1, k0);
    assert!(stderr.contains("SCENEBOARD_SECRET_KEY") && stderr.contains("printed on standard output"), "{stderr}");
    assert!(!stderr.contains(&k1) && !stderr.contains(&k0) && !stdout.contains(&k0));
    assert!(!sb.data().join("secret.key").exists(), "no key file is written when the key is a setting");

    let sb1 = sb.with("SCENEBOARD_SECRET_KEY", &k1);
    let out = campaign_add(&sb1, "With the new key", "43").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&campaign_add(&sb0, "With the old key", "44").await.stderr);
    assert!(err.contains("cannot be decrypted"), "the old key opens nothing: {err}");

    // A key given on stdin (`--new-key -`) is not printed back.
    let k2 = NewKey::generate().expose_base64().to_owned();
    let out = sb1.run(&["rotate-key", "--new-key", "-"], &format!("{k2}\n")).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "", "nothing on stdout");
    assert!(text(&out.stderr).contains("the key given (--new-key-file"), "{}", text(&out.stderr));
    let sb2 = sb.with("SCENEBOARD_SECRET_KEY", &k2);
    assert!(campaign_add(&sb2, "Third key", "45").await.status.success());
    assert!(!campaign_add(&sb1, "Second key", "46").await.status.success());

    // Refusals.
    let err = sb2.with("SCENEBOARD_NEW_KEY", &k2).fails(&["rotate-key"], "").await;
    assert!(err.contains("same as the current key"), "{err}");
    let err = sb2.with("SCENEBOARD_NEW_KEY", "c2hvcnQ=").fails(&["rotate-key"], "").await;
    assert!(err.contains("32 bytes"), "{err}");
    assert!(campaign_add(&sb2, "Still the third key", "47").await.status.success());
}

async fn a_row_that_does_not_open_aborts_the_rotation(backend: Backend) {
    let t = TestDb::new(backend, true).await;
    let dir = tempfile::tempdir().unwrap();
    let sb = Sb::new(dir.path(), Some(&t.url));
    let sim = sim().await;
    add_sandbox(&sb, &sim, &t.db, "compat").await;
    let base = sim.base_url();
    sb.ok(
        &["account", "add", "--name", "Broken", "--app-id", "wx00000000000000b2", "--token-file", "-", "--api-base", &base],
        "s3cret\nbrokentoken\n",
    )
    .await;
    // Its AppSecret sealed under some other key (a restored row, a botched manual edit).
    let foreign = Keys::random().seal("wechat_accounts.app_secret:wx00000000000000b2", "s3cret");
    let backend_of = t.db.get_database_backend();
    t.db.execute_raw(stmt(
        backend_of,
        "UPDATE wechat_accounts SET app_secret_enc = ? WHERE app_id = ?",
        vec![foreign.into(), "wx00000000000000b2".into()],
    ))
    .await
    .unwrap();
    let key_file = sb.data().join("secret.key");
    let old_text = std::fs::read_to_string(&key_file).unwrap();
    let old = Keys::from_base64(&old_text).unwrap();
    let user = service::users::create(&t.db, "ops", "ops-password-1", service::users::Role::Admin, None).await.unwrap();
    let session = service::sessions::create(&t.db, &old, user.id, None).await.unwrap();
    let rows_before = sealed_rows(&t.db).await;

    let err = sb.fails(&["rotate-key"], "").await;
    assert!(err.contains("Broken") && err.contains("wx00000000000000b2") && err.contains("AppSecret"), "names the account: {err}");
    assert!(err.contains("nothing was changed"), "{err}");

    // Nothing changed: key file, sealed rows, sessions; the old key still works.
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), old_text);
    assert!(!sb.data().join("secret.key.new").exists() && !sb.data().join("secret.key.old").exists());
    assert_eq!(sealed_rows(&t.db).await, rows_before);
    assert!(service::sessions::lookup(&t.db, &old, &session.token).await.unwrap().is_some());
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM audit_log WHERE action = 'secret_key.rotate'", vec![]).await, 0);
    let out = campaign_add(&sb, "Poster", "42").await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    // An operator who has no key to rotate is told so.
    let empty = tempfile::tempdir().unwrap();
    let err = Sb::new(empty.path(), None).fails(&["rotate-key"], "").await;
    assert!(err.contains("no secret key to rotate"), "{err}");
    assert!(!empty.path().join("data/secret.key").exists() && !empty.path().join("data/sceneboard.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_file_sqlite() {
    rotate_with_the_key_file(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_file_postgres() {
    rotate_with_the_key_file(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_env_key_sqlite() {
    rotate_with_the_environment_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_env_key_postgres() {
    rotate_with_the_environment_key(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_aborts_on_a_bad_row_sqlite() {
    a_row_that_does_not_open_aborts_the_rotation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_aborts_on_a_bad_row_postgres() {
    a_row_that_does_not_open_aborts_the_rotation(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------
// backup and restore

/// A `sceneboard serve` child, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(sb: &Sb) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let child = sb
        .with("SCENEBOARD_ADDR", &addr)
        .command(&["serve"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sceneboard serve");
    let server = Server { child, base: format!("http://{addr}") };
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{}/healthz", server.base)).send().await
            && r.status() == StatusCode::OK
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become healthy");
}

/// `id,name` of every row of /export/campaigns.csv, signed in as `ops`.
async fn campaign_names(base: &str) -> Vec<String> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.post(format!("{base}/api/login")).form(&[("username", "ops"), ("password", "ops-password-1")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let res = http.get(format!("{base}/export/campaigns.csv")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    let mut rows: Vec<String> =
        body.trim_start_matches('\u{feff}').lines().skip(1).map(|l| l.split(',').take(2).collect::<Vec<_>>().join(",")).collect();
    rows.sort();
    rows
}

async fn open_file(path: &Path) -> DatabaseConnection {
    let opts = sea_orm::ConnectOptions::new(format!("sqlite://{}?mode=ro", path.display()));
    sea_orm::Database::connect(opts).await.unwrap()
}

async fn scalar_i64(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap().unwrap();
    row.try_get_by_index::<Option<i64>>(0).unwrap().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_while_serving_and_restore_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sb::new(dir.path(), None);
    let sim = sim().await;
    let db_file = sb.data().join("sceneboard.db");
    sb.ok(&["migrate"], "").await;
    let db = service::db::connect(&format!("sqlite://{}?mode=rwc", db_file.display())).await.unwrap();
    let account = add_sandbox(&sb, &sim, &db, "plain").await;
    let cid: i32 = sb
        .ok(&["campaign", "add", "--app-id", "wx5ce0b0a4d0000001", "--name", "Poster", "--scene", "42", "--kind", "permanent"], "")
        .await
        .trim()
        .parse()
        .unwrap();
    sb.ok(
        &["campaign", "add", "--app-id", "wx5ce0b0a4d0000001", "--name", "Counter card", "--kind", "temporary", "--expire-days", "7"],
        "",
    )
    .await;
    sb.ok(&["user", "add", "--username", "ops", "--role", "admin"], "ops-password-1\n").await;
    // Some bulk (40 MB of old pushes), so the copy takes a moment while pushes keep coming
    // (SQLite does not hold `ticket` to its declared 255 characters).
    let pad = "x".repeat(2000);
    let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    for chunk in 0..40 {
        let mut sql = String::from(
            "INSERT INTO events (account_id, openid_hash, openid, create_time, msg_type, event, event_key, kind, ticket, received_at) VALUES ",
        );
        for i in 0..500 {
            let n = chunk * 500 + i;
            sql.push_str(&format!(
                "{}({account}, 'pad', NULL, {n}, 'event', 'VIEW', '', 'other', '{pad}', '2024-01-01 00:00:00')",
                if i == 0 { "" } else { "," }
            ));
        }
        txn.execute_unprepared(&sql).await.unwrap();
    }
    txn.commit().await.unwrap();
    db.close().await.unwrap();

    let server = serve(&sb).await;
    let names_before = campaign_names(&server.base).await;
    assert_eq!(names_before.len(), 2, "{names_before:?}");

    // A writer: signed SCAN pushes, one follower each, recording when each was acknowledged
    // (the server answers only once the push is committed).
    let acked: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, url) = (acked.clone(), stop.clone(), format!("{}/wechat/callback/wx5ce0b0a4d0000001", server.base));
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (ts, nonce) = (chrono::Utc::now().timestamp().to_string(), format!("{}", 100_000 + i));
                let sig = wechat::signature("sandboxtoken", &ts, &nonce);
                let xml = event_xml("gh_5ce0b0a4d000", &format!("oW{i}"), T0 + i as i64, "SCAN", Some("42"), None);
                let res = http.post(&url).query(&[("signature", sig), ("timestamp", ts), ("nonce", nonce)]).body(xml).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                assert_eq!(res.text().await.unwrap(), "success");
                acked.lock().unwrap().push((i, Instant::now()));
                i += 1;
            }
        })
    };
    while acked.lock().unwrap().len() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let backup = dir.path().join("backups/sceneboard-backup.db");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let started = Instant::now();
    let before: Vec<usize> = acked.lock().unwrap().iter().map(|(i, _)| *i).collect();
    let out = sb.run(&["backup", "--to", backup.to_str().unwrap()], "").await;
    let ended = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("integrity ok"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("secret.key"), "reminds that the key is not in the backup: {}", text(&out.stderr));
    let acked = acked.lock().unwrap().clone();
    let during = acked.iter().filter(|(_, at)| *at > started && *at < ended).count();
    assert!(during > 0, "pushes kept being stored while the backup ran");

    // The backup: sound, with everything acknowledged before it started, and consistent
    // (each push and its counters were committed together, so they are in it together).
    let copy = open_file(&backup).await;
    let check = copy.query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA integrity_check")).await.unwrap().unwrap();
    assert_eq!(check.try_get_by_index::<String>(0).unwrap(), "ok");
    let scans = scalar_i64(&copy, &format!("SELECT COUNT(*) FROM events WHERE kind = 'scan' AND campaign_id = {cid}")).await;
    let counted = scalar_i64(&copy, &format!("SELECT CAST(SUM(scans) AS BIGINT) FROM campaign_hourly WHERE campaign_id = {cid}")).await;
    assert_eq!(scans, counted, "events and counters from the same instant");
    assert!(scans as usize >= before.len() && scans as usize <= acked.len(), "{} <= {scans} <= {}", before.len(), acked.len());
    let stored: std::collections::HashSet<String> = copy
        .query_all_raw(Statement::from_string(DbBackend::Sqlite, "SELECT openid FROM events WHERE kind = 'scan'"))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    assert!(before.iter().all(|i| stored.contains(&format!("oW{i}"))), "every push acknowledged before the backup is in it");
    assert_eq!(scalar_i64(&copy, "SELECT COUNT(*) FROM events WHERE openid_hash = 'pad'").await, 20_000);
    copy.close().await.unwrap();

    // An existing file is kept unless --force.
    let size = std::fs::metadata(&backup).unwrap().len();
    let err = sb.fails(&["backup", "--to", backup.to_str().unwrap()], "").await;
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::metadata(&backup).unwrap().len(), size);
    sb.ok(&["backup", "--to", backup.to_str().unwrap(), "--force"], "").await;
    let leftovers: Vec<_> = std::fs::read_dir(backup.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");

    // Restore into a new data dir: it needs the key the backup was made under.
    let other = tempfile::tempdir().unwrap();
    let sb2 = Sb::new(other.path(), None);
    let restore = ["restore", "--from", backup.to_str().unwrap()];
    let err = sb2.fails(&restore, "").await;
    assert!(err.contains("no secret key") && err.contains("secret.key"), "{err}");
    std::fs::create_dir_all(sb2.data()).unwrap();
    std::fs::write(sb2.data().join("secret.key"), NewKey::generate().expose_base64()).unwrap();
    // Private, as an operator should leave it (a key others can read is warned about).
    #[cfg(unix)]
    std::fs::set_permissions(sb2.data().join("secret.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let err = sb2.fails(&restore, "").await;
    assert!(err.contains("does not open the secrets of account Sandbox"), "{err}");
    assert!(!sb2.data().join("sceneboard.db").exists(), "nothing restored");
    std::fs::copy(sb.data().join("secret.key"), sb2.data().join("secret.key")).unwrap();
    let not_a_db = other.path().join("notes.txt");
    std::fs::write(&not_a_db, "hello").unwrap();
    let err = sb2.fails(&["restore", "--from", not_a_db.to_str().unwrap()], "").await;
    assert!(err.contains("not a SQLite database"), "{err}");
    let out = sb2.ok(&restore, "").await;
    assert!(out.contains("restored"), "{out}");
    let err = sb2.fails(&restore, "").await;
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    // A WAL and shared-memory file of the database being replaced (left by a server that
    // crashed) go too: replayed over the restored file they would corrupt it.
    let db_file = sb2.data().join("sceneboard.db");
    for suffix in ["-wal", "-shm"] {
        std::fs::write(format!("{}{suffix}", db_file.display()), b"stale").unwrap();
    }
    sb2.ok(&["restore", "--from", backup.to_str().unwrap(), "--force"], "").await;
    for suffix in ["-wal", "-shm"] {
        assert!(!std::path::Path::new(&format!("{}{suffix}", db_file.display())).exists(), "{suffix} left behind");
    }

    // The restored copy serves the same campaigns, and its account's secrets work.
    let restored = serve(&sb2).await;
    assert_eq!(campaign_names(&restored.base).await, names_before);
    let out = campaign_add(&sb2, "After restore", "43").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    drop(restored);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_point_postgres_to_pg_dump() {
    let t = TestDb::new(Backend::Postgres, true).await;
    let dir = tempfile::tempdir().unwrap();
    let sb = Sb::new(dir.path(), Some(&t.url));
    let file = dir.path().join("backup.db");
    let err = sb.fails(&["backup", "--to", file.to_str().unwrap()], "").await;
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!err.contains(&t.url), "no database URL (it may hold a password) in the message: {err}");
    assert!(!file.exists());
    std::fs::write(&file, "x").unwrap();
    let err = sb.fails(&["restore", "--from", file.to_str().unwrap()], "").await;
    assert!(err.contains("pg_dump") && err.contains("pg_restore"), "{err}");
}
