//! The database token store on real SQLite and PostgreSQL: the lease and the forced-refresh
//! window are compare-and-sets, tokens are sealed at rest, instances sharing one database (in
//! one process, and as two processes) fetch one token per validity window from the WeChat
//! simulator over HTTP, and a token WeChat revoked is force-refreshed once for all of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use secrecy::{ExposeSecret, SecretString};
use service::entity::{access_token, wechat_account};
use service::testing::{Backend, TestDb};
use service::token_store::DbTokenStore;
use service::{Keys, dual_test};
use wechat::client::{TokenEndpoint, http_client};
use wechat::sim::{SimApp, SimConfig, SimHandle, spawn};
use wechat::token::unix_now;
use wechat::{AccountConfig, QrCodeRequest, QrLifetime, Scene, StoredToken, TokenPolicy, TokenStore, WechatApi, WechatClient};

/// Adds the sandbox account, pointed at `api_base`; returns its AppID.
async fn add_account(db: &DatabaseConnection, keys: &Keys, api_base: &str) -> String {
    let app = SimApp::sandbox();
    let now = chrono::Utc::now();
    wechat_account::ActiveModel {
        name: Set("Sandbox".into()),
        app_id: Set(app.app_id.clone()),
        app_secret_enc: Set(keys.seal(&format!("wechat_accounts.app_secret:{}", app.app_id), &app.secret)),
        token: Set("sceneboard".into()),
        aes_key_enc: Set(None),
        message_mode: Set("plain".into()),
        api_base_url: Set(api_base.into()),
        token_endpoint: Set("classic".into()),
        timezone: Set("Asia/Shanghai".into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    app.app_id
}

fn store(db: &DatabaseConnection, keys: &Arc<Keys>) -> Arc<dyn TokenStore> {
    Arc::new(DbTokenStore::new(db.clone(), keys.clone()))
}

/// A client as one app instance builds it. `cgi-bin/token` (classic) is used on purpose: unlike
/// `stable_token`, every call there is a new fetch, so a duplicate fetch cannot hide.
fn client(base: &str, store: Arc<dyn TokenStore>) -> WechatClient {
    let app = SimApp::sandbox();
    let account =
        AccountConfig::new(app.app_id, SecretString::from(app.secret)).with_api_base(base).with_token_endpoint(TokenEndpoint::Classic);
    let policy = TokenPolicy { poll: Duration::from_millis(20), ..TokenPolicy::default() };
    WechatClient::with_http(http_client(Default::default()).unwrap(), account, store, policy)
}

fn temp_code(n: u32) -> QrCodeRequest {
    QrCodeRequest { scene: Scene::Id(n), lifetime: QrLifetime::Temporary { expire_seconds: 600 } }
}

/// One past the simulator's token lifetime: every token issued so far has expired.
fn one_validity_window() -> Duration {
    Duration::from_secs(u64::try_from(SimConfig::default().token_ttl).unwrap() + 1)
}

/// A TCP proxy to `sim` that holds every new connection for `delay` before forwarding it.
///
/// A local fetch takes a millisecond or two, too little for two instances to ever overlap,
/// so a broken lease could pass unnoticed. Each instance's first request on a fresh connection
/// is its token fetch: slowing it opens the window in which a second fetch would happen.
async fn slow_proxy(sim: &SimHandle, delay: Duration) -> String {
    let target = sim.addr;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    format!("http://{addr}")
}

/// How long the proxy holds a new connection.
const SLOW: Duration = Duration::from_millis(300);

dual_test!(lease_is_a_compare_and_set, |t: TestDb| async move {
    let st = t.state();
    let app = add_account(&st.db, &st.keys, "http://127.0.0.1:9").await;
    let s = DbTokenStore::new(st.db.clone(), st.keys.clone());
    let now = unix_now();

    assert!(s.try_lease(&app, "a", now, now + 30).await.unwrap(), "the first taker wins");
    assert!(!s.try_lease(&app, "b", now, now + 30).await.unwrap(), "a live lease is not taken");
    assert!(!s.try_lease(&app, "b", now + 29, now + 59).await.unwrap(), "still live just before it ends");
    assert!(s.try_lease(&app, "a", now, now + 30).await.unwrap(), "the holder may renew its own lease");

    // Releasing someone else's lease does nothing.
    s.release(&app, "b").await.unwrap();
    assert!(!s.try_lease(&app, "b", now, now + 30).await.unwrap());

    // An expired lease (its holder died mid-fetch) is taken over.
    assert!(s.try_lease(&app, "b", now + 31, now + 61).await.unwrap());
    assert!(!s.try_lease(&app, "a", now + 31, now + 61).await.unwrap());
    let row = access_token::Entity::find().one(&st.db).await.unwrap().unwrap();
    assert_eq!(row.lease_holder.as_deref(), Some("b"));
    assert_eq!(row.lease_until.unwrap().timestamp(), now + 61);

    // Released: free for anyone at once.
    s.release(&app, "b").await.unwrap();
    assert!(s.try_lease(&app, "c", now, now + 30).await.unwrap());

    // Many instances racing for a free lease: exactly one wins.
    s.release(&app, "c").await.unwrap();
    let mut racers = Vec::new();
    for i in 0..16 {
        let s = DbTokenStore::new(st.db.clone(), st.keys.clone());
        let app = app.clone();
        racers.push(tokio::spawn(async move { s.try_lease(&app, &format!("racer{i}"), now, now + 30).await.unwrap() }));
    }
    let mut winners = 0;
    for r in racers {
        winners += usize::from(r.await.unwrap());
    }
    assert_eq!(winners, 1);
    assert_eq!(access_token::Entity::find().all(&st.db).await.unwrap().len(), 1, "one row per account");

    // An unknown AppID is an error, not a silent lease.
    assert!(s.try_lease("wx0000000000000000", "a", now, now + 30).await.is_err());
});

dual_test!(tokens_are_sealed_and_the_force_window_is_a_compare_and_set, |t: TestDb| async move {
    let st = t.state();
    let app = add_account(&st.db, &st.keys, "http://127.0.0.1:9").await;
    let s = DbTokenStore::new(st.db.clone(), st.keys.clone());
    assert!(s.load(&app).await.unwrap().is_none(), "nothing stored yet");

    let plain = "82_plain-access-token-value";
    let expires_at = unix_now() + 7200;
    s.save(&app, &StoredToken { token: SecretString::from(plain), expires_at }).await.unwrap();
    let loaded = s.load(&app).await.unwrap().unwrap();
    assert_eq!(loaded.token.expose_secret(), plain);
    assert_eq!(loaded.expires_at, expires_at);

    let row = access_token::Entity::find().one(&st.db).await.unwrap().unwrap();
    let sealed = row.token_enc.clone().unwrap();
    assert!(!sealed.contains(plain) && !sealed.contains("plain-access-token"), "sealed at rest");
    assert!(row.fetched_at.is_some());

    // Another secret key cannot read it: treated as absent, so a new one gets fetched.
    let stranger = DbTokenStore::new(st.db.clone(), Arc::new(Keys::random()));
    assert!(stranger.load(&app).await.unwrap().is_none());

    // Saving keeps the lease of whoever holds it.
    let now = unix_now();
    assert!(s.try_lease(&app, "holder", now, now + 30).await.unwrap());
    let newer = "83_newer-access-token-value";
    s.save(&app, &StoredToken { token: SecretString::from(newer), expires_at }).await.unwrap();
    let row = access_token::Entity::find().one(&st.db).await.unwrap().unwrap();
    assert_eq!(row.lease_holder.as_deref(), Some("holder"));
    assert_ne!(row.token_enc.as_deref(), Some(sealed.as_str()));

    // One forced refresh per window: the first claim wins, a second within it does not, one
    // a minute later does; the token and the lease are left alone.
    assert!(s.try_claim_force(&app, now, now - 60).await.unwrap());
    assert!(!s.try_claim_force(&app, now + 59, now - 1).await.unwrap());
    assert!(s.try_claim_force(&app, now + 60, now).await.unwrap());
    let row = access_token::Entity::find().one(&st.db).await.unwrap().unwrap();
    assert_eq!(row.forced_at.unwrap().timestamp(), now + 60);
    assert_eq!(row.lease_holder.as_deref(), Some("holder"));
    assert_eq!(s.load(&app).await.unwrap().unwrap().token.expose_secret(), newer);
    // Instances racing for the window: exactly one wins.
    let mut racers = Vec::new();
    for _ in 0..16 {
        let s = DbTokenStore::new(st.db.clone(), st.keys.clone());
        let app = app.clone();
        racers.push(tokio::spawn(async move { s.try_claim_force(&app, now + 200, now + 140).await.unwrap() }));
    }
    let mut winners = 0;
    for r in racers {
        winners += usize::from(r.await.unwrap());
    }
    assert_eq!(winners, 1);
});

dual_test!(two_instances_fetch_one_token_per_validity_window, |t: TestDb| async move {
    let st = t.state();
    let sim = spawn(SimConfig::default()).await.unwrap();
    let base = slow_proxy(&sim, SLOW).await;
    let app = add_account(&st.db, &st.keys, &base).await;
    // Two instances: each its own client, token manager and store, one database.
    let a = Arc::new(client(&base, store(&st.db, &st.keys)));
    let b = Arc::new(client(&base, store(&st.db, &st.keys)));

    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            if i % 4 < 2 {
                c.access_token().await.map(|t| t.expose_secret().to_owned())
            } else {
                c.create_qr_code(&temp_code(i + 1)).await.map(|_| String::new())
            }
        }));
    }
    let mut tokens = std::collections::HashSet::new();
    for task in tasks {
        let token = task.await.unwrap().unwrap();
        if !token.is_empty() {
            tokens.insert(token);
        }
    }
    assert_eq!(tokens.len(), 1, "everyone got the same token");
    assert_eq!(sim.state.token_fetches(&app), 1);

    // A validity window later WeChat answers 42001: one of the two fetches anew, once.
    sim.state.advance(one_validity_window());
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { c.create_qr_code(&temp_code(100 + i)).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(sim.state.token_fetches(&app), 2);
    assert_eq!(sim.state.codes(&app).len(), 40);
});

/// A client with `stable_token`, where a refused token must be force-refreshed: normal mode
/// answers the revoked token again until it expires.
fn stable_client(base: &str, store: Arc<dyn TokenStore>) -> WechatClient {
    let app = SimApp::sandbox();
    let account = AccountConfig::new(app.app_id, SecretString::from(app.secret)).with_api_base(base);
    let policy = TokenPolicy { poll: Duration::from_millis(20), ..TokenPolicy::default() };
    WechatClient::with_http(http_client(Default::default()).unwrap(), account, store, policy)
}

dual_test!(a_revoked_token_is_force_refreshed_once_for_all_instances, |t: TestDb| async move {
    let st = t.state();
    let sim = spawn(SimConfig::default()).await.unwrap();
    let base = slow_proxy(&sim, SLOW).await;
    let app = add_account(&st.db, &st.keys, &base).await;
    let a = Arc::new(stable_client(&base, store(&st.db, &st.keys)));
    let b = Arc::new(stable_client(&base, store(&st.db, &st.keys)));
    a.create_qr_code(&temp_code(1)).await.unwrap();
    let revoked = b.access_token().await.unwrap().expose_secret().to_owned();
    assert_eq!(sim.state.token_fetches(&app), 1);

    // Revoked at WeChat: every call of both instances gets 40001 at once; one forced refresh
    // serves them all and every call succeeds on its retry.
    sim.state.invalidate_tokens(&app);
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { c.create_qr_code(&temp_code(10 + i)).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!((sim.state.token_fetches(&app), sim.state.forced_refreshes(&app)), (2, 1));
    let (ta, tb) = (a.access_token().await.unwrap(), b.access_token().await.unwrap());
    assert_eq!(ta.expose_secret(), tb.expose_secret());
    assert_ne!(ta.expose_secret(), revoked);
    assert_eq!(sim.state.codes(&app).len(), 21);

    // Refused again within the minute: no second forced refresh; the calls fail with WeChat's
    // error rather than spend WeChat's daily allowance of forced refreshes.
    sim.state.invalidate_tokens(&app);
    let (ca, cb) = (temp_code(100), temp_code(101));
    let (ra, rb) = tokio::join!(a.create_qr_code(&ca), b.create_qr_code(&cb));
    assert_eq!((ra.unwrap_err().errcode(), rb.unwrap_err().errcode()), (Some(40001), Some(40001)));
    assert_eq!(sim.state.forced_refreshes(&app), 1);

    // A minute after the forced refresh (moved back rather than waited for), one more.
    let row = access_token::Entity::find().one(&st.db).await.unwrap().unwrap();
    let forced_at = row.forced_at.expect("the forced refresh is recorded");
    let mut row: access_token::ActiveModel = row.into();
    row.forced_at = Set(Some(forced_at - chrono::Duration::seconds(61)));
    row.update(&st.db).await.unwrap();
    let (ca, cb) = (temp_code(102), temp_code(103));
    let (ra, rb) = tokio::join!(a.create_qr_code(&ca), b.create_qr_code(&cb));
    ra.unwrap();
    rb.unwrap();
    assert_eq!(sim.state.forced_refreshes(&app), 2);
    assert_eq!(sim.state.codes(&app).len(), 23);
    let row = access_token::Entity::find().one(&st.db).await.unwrap().unwrap();
    assert!(row.lease_holder.is_none(), "the lease was given back");
});

// ---- Two processes on one database ------------------------------------------------------------

/// Environment of a child instance; the child test does nothing without it.
const CHILD_DB: &str = "SCENEBOARD_TOKEN_CHILD_DB";
const CHILD_SIM: &str = "SCENEBOARD_TOKEN_CHILD_SIM";
const CHILD_KEY: &str = "SCENEBOARD_TOKEN_CHILD_KEY";
/// Unix milliseconds at which the children start calling, so both really race.
const CHILD_START: &str = "SCENEBOARD_TOKEN_CHILD_START_MS";
/// Calls each child makes at once.
const CHILD_CALLS: u32 = 20;
/// Longest a child may take before the test gives up on it.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

fn unix_millis() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// One app instance in a process of its own, started by
/// [`two_processes_fetch_one_token_per_validity_window`] (ignored when run directly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of two_processes_fetch_one_token_per_validity_window"]
async fn token_store_child_instance() {
    let (Ok(url), Ok(base), Ok(key)) = (std::env::var(CHILD_DB), std::env::var(CHILD_SIM), std::env::var(CHILD_KEY)) else {
        return;
    };
    let start_ms: u64 = std::env::var(CHILD_START).unwrap().parse().unwrap();
    let db = service::db::connect(&url).await.unwrap();
    let keys = Arc::new(Keys::from_base64(&key).unwrap());
    let c = Arc::new(client(&base, store(&db, &keys)));
    let wait = start_ms.saturating_sub(unix_millis());
    tokio::time::sleep(Duration::from_millis(wait)).await;

    let mut tasks = Vec::new();
    for i in 0..CHILD_CALLS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            // Half just want a token, half make a call (which retries once on a stale token).
            if i % 2 == 0 { c.access_token().await.map(|_| ()) } else { c.create_qr_code(&temp_code(i + 1)).await.map(|_| ()) }
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // Fresh in this validity window: a call with the shared token works.
    c.create_qr_code(&temp_code(1000)).await.unwrap();
}

/// Starts two child instances against `url` and the simulator at `base`; both must succeed.
async fn run_two_children(url: &str, base: &str, key: &str) {
    let exe = std::env::current_exe().unwrap();
    let start = unix_millis() + 1500;
    let mut children = Vec::new();
    for n in 0..2 {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = std::process::Command::new(&exe)
            .args(["--exact", "token_store_child_instance", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_DB, url)
            .env(CHILD_SIM, base)
            .env(CHILD_KEY, key)
            .env(CHILD_START, start.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        children.push((n, child, log));
    }
    let deadline = Instant::now() + CHILD_TIMEOUT;
    for (n, mut child, log) in children {
        // Polled, not waited on: the simulator runs on this test's runtime and must keep serving.
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child {n} did not finish in {CHILD_TIMEOUT:?}:\n{}", std::fs::read_to_string(log.path()).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let output = std::fs::read_to_string(log.path()).unwrap_or_default();
        assert!(status.success(), "child {n} failed ({status}):\n{output}");
        // Guard against a vacuous pass: the child really ran its test.
        assert!(output.contains("1 passed"), "child {n} did not run the instance test:\n{output}");
    }
}

/// The acceptance test: two app instances (two processes on one database) fetch one
/// token per validity window. PostgreSQL is the multi-instance deployment; SQLite (one file,
/// WAL) is checked too since the lease must work there as well.
async fn two_processes(backend: Backend) {
    let t = TestDb::new(backend, true).await;
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let key = base64::engine::general_purpose::STANDARD.encode(secret);
    let keys = Keys::from_base64(&key).unwrap();
    let sim = spawn(SimConfig::default()).await.unwrap();
    let base = slow_proxy(&sim, SLOW).await;
    let app = add_account(&t.db, &keys, &base).await;

    run_two_children(&t.url, &base, &key).await;
    assert_eq!(sim.state.token_fetches(&app), 1, "one fetch for both processes");

    // The next validity window: the stored token is refused (42001) and replaced once.
    sim.state.advance(one_validity_window());
    run_two_children(&t.url, &base, &key).await;
    assert_eq!(sim.state.token_fetches(&app), 2, "one more fetch in the next window");
    // Every call of both rounds got through: 2 rounds x 2 processes x (half of the calls + 1).
    let per_child = usize::try_from(CHILD_CALLS / 2 + 1).unwrap();
    assert_eq!(sim.state.codes(&app).len(), 2 * 2 * per_child);

    let row = access_token::Entity::find().one(&t.db).await.unwrap().unwrap();
    assert!(row.lease_holder.is_none(), "the lease was given back");
}

mod two_processes_fetch_one_token_per_validity_window {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        two_processes(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        two_processes(Backend::Sqlite).await;
    }
}
