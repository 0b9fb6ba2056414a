//! Test databases: a fresh SQLite file or a fresh PostgreSQL database per test, migrated.
//!
//! PostgreSQL is the local server of CI (`SCENEBOARD_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates its own database and drops it
//! afterwards, so tests run in parallel without seeing each other's rows.

use crate::state::Settings;
use crate::{AppState, Keys, db};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use std::sync::Arc;

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A migrated, empty database that is removed when dropped.
pub struct TestDb {
    pub db: DatabaseConnection,
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

/// The admin URL of the PostgreSQL server used by tests.
pub fn pg_admin_url() -> String {
    std::env::var("SCENEBOARD_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

impl TestDb {
    /// A fresh database on `backend`, migrated (or not, for migration tests).
    pub async fn new(backend: Backend, migrate: bool) -> Self {
        let (url, dir, pg_name) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let name = format!("sbt_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(pg_admin_url()).await.expect("connect to the test PostgreSQL server");
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                admin.close().await.ok();
                (replace_db_name(&pg_admin_url(), &name), None, Some(name))
            }
        };
        let conn = db::connect(&url).await.expect("connect to test database");
        if migrate {
            db::migrate(&conn).await.expect("migrate test database");
        }
        TestDb { db: conn, url, backend, _dir: dir, pg_name }
    }

    /// Application state over this database with random keys.
    pub fn state(&self) -> AppState {
        AppState {
            db: self.db.clone(),
            keys: Arc::new(Keys::random()),
            settings: Arc::new(Settings {
                public_url: "http://127.0.0.1:3000".into(),
                timezone: "Asia/Shanghai".into(),
                secure_cookies: false,
                metrics_token: None,
                trusted_proxies: Vec::new(),
                mail: None,
            }),
            health: Default::default(),
            clock: crate::Clock::system(),
            changes: Default::default(),
        }
    }

    /// Make the database unreachable for this connection (for health checks): PostgreSQL
    /// drops the database under the pool; SQLite closes the pool.
    pub async fn make_unreachable(&mut self) {
        match self.backend {
            Backend::Sqlite => {
                self.db.close_by_ref().await.ok();
            }
            Backend::Postgres => {
                if let Some(name) = self.pg_name.take() {
                    drop_pg(&name).await;
                }
            }
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

async fn drop_pg(name: &str) {
    if let Ok(admin) = Database::connect(pg_admin_url()).await {
        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        admin.close().await.ok();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop can't await; a short-lived runtime on its own thread removes the database.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(drop_pg(&name));
                }
            })
            .join();
        }
    }
}

/// Longest a database test may run: far beyond the slowest (tens of seconds), so a test that
/// hangs fails with its name instead of holding CI until its time runs out.
pub const TEST_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Runs a test body, failing it when it takes longer than [`TEST_LIMIT`].
pub async fn within_limit(body: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(TEST_LIMIT, body).await.is_err() {
        panic!("the test did not finish within {} s", TEST_LIMIT.as_secs());
    }
}

/// Run an async test body once on SQLite and once on PostgreSQL:
/// `dual_test!(name, |t: TestDb| async move { .. });` makes `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! dual_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports, reason = "a test body may use nothing of its file's scope; `expect` would fail where it does")]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::testing::TestDb::new($crate::testing::Backend::Sqlite, true).await;
                $crate::testing::within_limit(($body)(t)).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let t = $crate::testing::TestDb::new($crate::testing::Backend::Postgres, true).await;
                $crate::testing::within_limit(($body)(t)).await;
            }
        }
    };
}

/// A plaintext-mode account row for tests, ready to insert; override fields with struct
/// update syntax (`wechat_account::ActiveModel { timezone: Set(..), ..account_row(id) }`).
/// The AppSecret is a placeholder: tests that call WeChat seal a real one.
pub fn account_row(app_id: &str) -> crate::entity::wechat_account::ActiveModel {
    use sea_orm::Set;
    let now = chrono::Utc::now();
    crate::entity::wechat_account::ActiveModel {
        name: Set(format!("Account {app_id}")),
        app_id: Set(app_id.into()),
        app_secret_enc: Set("sealed-elsewhere".into()),
        token: Set("callback-token".into()),
        aes_key_enc: Set(None),
        message_mode: Set("plain".into()),
        api_base_url: Set("http://127.0.0.1:9".into()),
        token_endpoint: Set("stable".into()),
        timezone: Set("Asia/Shanghai".into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// A permanent campaign row of `account_id` for `scene`, ready to insert; override fields
/// with struct update syntax.
pub fn campaign_row(account_id: i32, name: &str, scene: &str) -> crate::entity::campaign::ActiveModel {
    use sea_orm::Set;
    let now = chrono::Utc::now();
    crate::entity::campaign::ActiveModel {
        account_id: Set(account_id),
        name: Set(name.into()),
        group_name: Set(None),
        kind: Set("permanent".into()),
        scene: Set(scene.into()),
        expire_days: Set(None),
        auto_renew: Set(false),
        welcome_message: Set(None),
        tag_name: Set(None),
        tag_id: Set(None),
        archived_at: Set(None),
        created_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        logo: Set(None),
        ..Default::default()
    }
}

/// Waits (at most `within`) until some session of this PostgreSQL database waits for a lock:
/// how a test knows that a statement it started has reached a row another transaction holds,
/// instead of sleeping and hoping. Panics when none does in time.
pub async fn wait_for_lock_waiter<C: ConnectionTrait>(db: &C, within: std::time::Duration) {
    let deadline = std::time::Instant::now() + within;
    let sql = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
               AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()";
    loop {
        let row =
            db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql)).await.expect("read pg_stat_activity");
        let waiting: i64 = row.and_then(|r| r.try_get("", "n").ok()).unwrap_or(0);
        if waiting > 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no session waited for a lock within {within:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
