//! Connecting to SQLite or PostgreSQL and bringing the schema up to date. `raw` holds the
//! helpers of hand-written SQL (placeholders, chunked `IN` queries); `nodelay` a socket
//! workaround for PostgreSQL connections.

#[cfg(target_os = "linux")]
mod nodelay;
#[cfg(target_os = "linux")]
pub use nodelay::nodelay_to_port;

mod raw;

pub use raw::{marks, query_in_chunks, rows, stmt};

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use std::time::Duration;

/// Open a connection pool for `url` (`sqlite://PATH?mode=rwc` or `postgres://...`).
///
/// For SQLite the file's folder is created, and the pool is tuned for one writer:
/// WAL journal (readers never block the writer), a 5 s busy timeout, foreign keys on.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(url)?).await
}

/// A pool on `url` that opens no connection until one is needed: for a server that starts
/// while its database server cannot be reached (the pool connects once it answers).
pub async fn connect_lazily(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opts = options(url)?;
    opts.connect_lazy(true);
    Database::connect(opts).await
}

/// Did the database server not answer at all (refused, timed out, unreachable), as opposed to
/// answering with an error (a refused password, a missing database, bad SQL)?
pub fn is_unreachable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as E;
    let sqlx = match e {
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e,
        DbErr::ConnectionAcquire(_) => return true,
        _ => return false,
    };
    matches!(&**sqlx, E::Io(_) | E::PoolTimedOut | E::Tls(_) | E::PoolClosed | E::WorkerCrashed)
}

/// Are all of this build's migrations applied (`/readyz`)?
pub async fn schema_current(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

/// The pool options for `url` (SQLite: its directory is created).
fn options(url: &str) -> Result<ConnectOptions, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false).connect_timeout(Duration::from_secs(5)).acquire_timeout(Duration::from_secs(5));
    if is_sqlite(url) {
        if let Some(dir) = sqlite_path(url).and_then(|p| std::path::Path::new(p).parent().map(|d| d.to_owned()))
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(&dir).map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
        }
        opts.max_connections(8).min_connections(1).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                // A 16 MiB page cache for the random-keyed indexes a push touches, and no spill
                // to the WAL before 64 MiB of dirty pages, so a group commit writes a page once
                // (docs/design/database-connections.md, "SQLite page cache").
                .pragma("cache_size", "-16384")
                .pragma("cache_spill", "16384")
                // WeChat's erasure rule: what an unsubscribe deletes or overwrites is zeroed in
                // its page, not left in free space (its cost: docs/design/database-connections.md).
                .pragma("secure_delete", "ON")
        });
    } else {
        opts.max_connections(16).min_connections(1);
        #[cfg(target_os = "linux")]
        if let Ok(pg) = url.parse::<sea_orm::sqlx::postgres::PgConnectOptions>() {
            let port = pg.get_port();
            opts.map_sqlx_postgres_pool_opts(move |pool| {
                pool.after_connect(move |_conn, _meta| {
                    Box::pin(async move {
                        nodelay_to_port(port);
                        Ok(())
                    })
                })
            });
        }
    }
    Ok(opts)
}

/// A connection of its own for the ingest writer on SQLite (a one-connection pool with the
/// same options as `db`'s); `None` for PostgreSQL, an in-memory database, or when it cannot be
/// opened (the writer then uses the shared pool, as before).
///
/// Why: a SQLite connection drops its page cache when another connection has written since
/// its last transaction; as the only writer, the writer's own connection keeps a warm cache
/// from one batch to the next (docs/design/database-connections.md, "The writer's own
/// connection").
///
/// The connection checkpoints the WAL itself only past 16 384 pages (64 MiB): the ingest
/// writer checkpoints it in the background instead (`ingest::writer`), and this is the
/// fallback should that fall behind.
pub async fn writer_connection(db: &DatabaseConnection) -> Option<DatabaseConnection> {
    own_connection(db, "the ingest writer", |o| o.pragma("wal_autocheckpoint", "16384")).await
}

/// A connection of its own for the background WAL checkpoints on SQLite (`None` as for
/// [`writer_connection`]): same options as `db`'s, but with no busy wait. A checkpoint that
/// truncates the WAL must wait for the writer and for readers of older snapshots, and while it
/// waits it holds back new writes; without a busy wait it gives up at once instead and is
/// tried again later, so a push never waits for it.
pub async fn checkpoint_connection(db: &DatabaseConnection) -> Option<DatabaseConnection> {
    own_connection(db, "the WAL checkpoints", |o| o.busy_timeout(Duration::ZERO)).await
}

/// A one-connection pool on `db`'s SQLite file with `db`'s options as `tweak` changes them.
async fn own_connection(
    db: &DatabaseConnection,
    what: &str,
    tweak: impl FnOnce(sea_orm::sqlx::sqlite::SqliteConnectOptions) -> sea_orm::sqlx::sqlite::SqliteConnectOptions,
) -> Option<DatabaseConnection> {
    use sea_orm::sqlx::sqlite::SqlitePoolOptions;
    if db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return None;
    }
    let options = db.get_sqlite_connection_pool().connect_options();
    let file = options.get_filename();
    if file.as_os_str().is_empty() || file == std::path::Path::new(":memory:") {
        return None;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(tweak((*options).clone()))
        .await;
    match pool {
        Ok(pool) => Some(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot open a SQLite connection of its own for {what}; it shares the pool");
            None
        }
    }
}

/// Apply every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Is this a SQLite URL?
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// The file path of a `sqlite://PATH?…` URL, if it names a file.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The pool's connections now: `(open, idle)` (`/metrics`).
pub fn pool_use(db: &DatabaseConnection) -> (u32, u32) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        sea_orm::DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => (0, 0),
    }
}

/// Does the database answer? (For `/healthz`.)
pub async fn ping(db: &DatabaseConnection) -> bool {
    matches!(tokio::time::timeout(Duration::from_secs(2), db.ping()).await, Ok(Ok(())))
}

/// Whether `e` is a transient write conflict worth retrying at once: SQLite's BUSY/LOCKED (a
/// writer held the file longer than the busy timeout) or PostgreSQL's serialization failure or
/// deadlock (the transaction was rolled back; running it again is safe).
pub fn is_conflict(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx;
    use sea_orm::sqlx::error::DatabaseError;
    let (DbErr::Exec(RuntimeErr::SqlxError(err)) | DbErr::Query(RuntimeErr::SqlxError(err)) | DbErr::Conn(RuntimeErr::SqlxError(err))) = e
    else {
        return false;
    };
    let sqlx::Error::Database(db) = err.as_ref() else { return false };
    if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        // Extended result codes carry the primary code in the low byte: 5 = BUSY, 6 = LOCKED.
        return sqlite.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6));
    }
    matches!(db.code().as_deref(), Some("40001" | "40P01"))
}

/// Is this error the database being away (as opposed to refusing our data)?
pub fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as X;
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(x)) | DbErr::Query(RuntimeErr::SqlxError(x)) => match &**x {
            X::Io(_) | X::Tls(_) | X::Protocol(_) | X::PoolTimedOut | X::PoolClosed | X::WorkerCrashed | X::BeginFailed => true,
            X::Database(d) => {
                let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
                if code.len() == 5 {
                    // PostgreSQL SQLSTATE: connection exception (08), serialization failure or
                    // deadlock (40), insufficient resources (53), operator intervention such
                    // as a shutdown (57), system error (58); and the database itself gone
                    // (3D000: dropped or renamed under a running server).
                    ["08", "40", "53", "57", "58"].iter().any(|p| code.starts_with(p)) || code == "3D000"
                } else {
                    // SQLite extended result code (primary code in the low byte): BUSY,
                    // LOCKED, READONLY, IOERR, FULL, CANTOPEN.
                    code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
                }
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(sqlite_path("sqlite://data/sceneboard.db?mode=rwc"), Some("data/sceneboard.db"));
        assert_eq!(sqlite_path("sqlite:///tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert!(is_sqlite("sqlite://x"));
        assert!(!is_sqlite("postgres://u@h/db"));
    }
}
