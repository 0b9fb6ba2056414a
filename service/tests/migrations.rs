//! Migrations go up, down and up again on SQLite and PostgreSQL.

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};
use service::testing::{Backend, TestDb};

async fn table_count(t: &TestDb) -> i64 {
    let sql = match t.backend {
        Backend::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations'",
        Backend::Postgres => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'",
    };
    let row = t.db.query_one_raw(Statement::from_string(t.db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn up_down_up(backend: Backend) {
    let t = TestDb::new(backend, false).await;
    assert_eq!(table_count(&t).await, 0);
    Migrator::up(&t.db, None).await.unwrap();
    assert_eq!(table_count(&t).await, 14, "every domain table exists after up");
    assert!(Migrator::get_pending_migrations(&t.db).await.unwrap().is_empty());
    Migrator::down(&t.db, None).await.unwrap();
    assert_eq!(table_count(&t).await, 0, "down removes every table");
    Migrator::up(&t.db, None).await.unwrap();
    assert_eq!(table_count(&t).await, 14);
    // Running up again is a no-op.
    Migrator::up(&t.db, None).await.unwrap();
}

#[tokio::test]
async fn up_down_up_sqlite() {
    up_down_up(Backend::Sqlite).await;
}

#[tokio::test]
async fn up_down_up_postgres() {
    up_down_up(Backend::Postgres).await;
}
