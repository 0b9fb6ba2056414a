//! The ingest writer's SQLite arrangements: a connection of its own (so its page cache stays
//! warm between group commits) and WAL checkpoints done in the background, not inside a
//! batch's commit. PostgreSQL needs neither and keeps the shared pool.

use chrono::DateTime;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Statement};
use service::ingest::{Ingestor, Outcome, Push};
use service::testing::{Backend, TestDb, account_row};
use std::time::{Duration, Instant};

const T0: i64 = 1_714_035_600;

fn push(account_id: i32, i: usize) -> Push {
    Push {
        account_id,
        to_user: "gh_writer".into(),
        // A long OpenID and ticket: about 700 bytes of rows a push (event, subscription and
        // their index entries), so a few hundred pushes are far more than one page of the file.
        openid: format!("o-writer-{i:056}"),
        create_time: T0 + i as i64,
        msg_type: "event".into(),
        event: "subscribe".into(),
        event_key: String::new(),
        ticket: Some(format!("{i}-{}", "t".repeat(250))),
        received_at: DateTime::from_timestamp(T0, 0).unwrap(),
    }
}

fn sqlite_file(t: &TestDb) -> std::path::PathBuf {
    service::db::sqlite_path(&t.url).expect("a file database").into()
}

#[tokio::test]
async fn the_writer_has_its_own_sqlite_connection_and_pg_shares_the_pool() {
    let sqlite = TestDb::new(Backend::Sqlite, true).await;
    let own = service::db::writer_connection(&sqlite.db).await.expect("a connection of its own on SQLite");
    // It is another pool, on the same file: a row written through it is seen by the app's pool.
    own.execute_unprepared("CREATE TABLE writer_probe (n INTEGER)").await.unwrap();
    own.execute_unprepared("INSERT INTO writer_probe VALUES (7)").await.unwrap();
    let backend = sqlite.db.get_database_backend();
    let row = sqlite.db.query_one_raw(Statement::from_string(backend, "SELECT n FROM writer_probe")).await.unwrap().unwrap();
    assert_eq!(row.try_get_by_index::<i32>(0).unwrap(), 7);
    // With the pragmas of the app's pool (WAL), and the checkpoint threshold of its own.
    let mode = own.query_one_raw(Statement::from_string(backend, "PRAGMA journal_mode")).await.unwrap().unwrap();
    assert_eq!(mode.try_get_by_index::<String>(0).unwrap(), "wal");
    let auto = own.query_one_raw(Statement::from_string(backend, "PRAGMA wal_autocheckpoint")).await.unwrap().unwrap();
    assert_eq!(auto.try_get_by_index::<i32>(0).unwrap(), 16384);

    let pg = TestDb::new(Backend::Postgres, true).await;
    assert!(service::db::writer_connection(&pg.db).await.is_none(), "PostgreSQL keeps the shared pool");
}

/// Stored pushes reach the database file itself within a moment: the background checkpoint
/// copies them out of the WAL. (Left to the writer's own connection, that would only happen
/// past 16 384 WAL pages, and with SQLite's default past 1 000 pages — both far more than
/// this test writes.)
#[tokio::test]
async fn the_wal_is_checkpointed_in_the_background() {
    let t = TestDb::new(Backend::Sqlite, true).await;
    let account = account_row("wx7000000000000001").insert(&t.db).await.unwrap();
    let file = sqlite_file(&t);
    // Settle what the migrations left in the WAL, then measure the file.
    t.db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
    let before = std::fs::metadata(&file).unwrap().len();

    let ingest = Ingestor::without_spool(t.state());
    for i in 0..300 {
        let stored = ingest.submit(push(account.id, i)).await.unwrap();
        assert_eq!(stored.outcome, Outcome::Stored);
    }
    // 300 pushes of ~700 bytes: at least 150 KB of rows must reach the file.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let grown = std::fs::metadata(&file).unwrap().len().saturating_sub(before);
        if grown >= 150_000 {
            break;
        }
        assert!(Instant::now() < deadline, "the file grew by only {grown} bytes: the WAL was not checkpointed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
