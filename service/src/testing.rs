//! Test databases: a fresh SQLite file or a fresh PostgreSQL database per test, migrated.
//!
//! PostgreSQL is the local server of CI (`SCENEBOARD_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates its own database and drops it
//! afterwards, so tests run in parallel without seeing each other's rows.

use crate::{AppState, Keys, db};
use crate::state::Settings;
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
            }),
            health: Default::default(),
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

/// Run an async test body once on SQLite and once on PostgreSQL:
/// `dual_test!(name, |t: TestDb| async move { .. });` makes `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! dual_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::testing::TestDb::new($crate::testing::Backend::Sqlite, true).await;
                ($body)(t).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let t = $crate::testing::TestDb::new($crate::testing::Backend::Postgres, true).await;
                ($body)(t).await;
            }
        }
    };
}
