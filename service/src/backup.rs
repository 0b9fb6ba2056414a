//! `sceneboard backup` and `sceneboard restore` for SQLite.
//!
//! A backup is `VACUUM INTO`: SQLite writes a compacted copy of the database as one read
//! transaction sees it, so the copy is consistent while the server keeps writing (WAL lets the
//! writer go on meanwhile). It goes to a temporary file next to the target first and takes the
//! target's name only once complete, integrity-checked and fsynced, so a target that exists is
//! always a whole backup.
//!
//! A restore (server stopped) checks that the file is a sound SQLite database with Sceneboard's
//! migrations table, then copies it over the configured database file the same way.
//!
//! PostgreSQL has its own tools (`pg_dump`, `pg_restore`), which these commands point to.
//! Neither a backup nor a restore includes the secret key: the data is only usable with the
//! key it was written under (see [`crate::rotate`]).

use std::path::{Path, PathBuf};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

use crate::db::{is_sqlite, sqlite_path, stmt};

/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// SeaORM's migrations table: present in every database Sceneboard has migrated.
const MIGRATIONS_TABLE: &str = "seaql_migrations";

/// Why a backup or restore did not happen (the target is untouched in every case).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backup and restore work on SQLite only; for PostgreSQL use its own tools: pg_dump --format=custom --file=FILE \"$DATABASE_URL\" to back up, pg_restore --clean --dbname=\"$DATABASE_URL\" FILE to restore"
    )]
    Postgres,
    #[error("{0} exists; choose another file or pass --force to replace it")]
    Exists(PathBuf),
    #[error("there is no database at {0}")]
    NoDatabase(PathBuf),
    #[error("{path} is not a Sceneboard database: {why}")]
    NotOurs { path: PathBuf, why: String },
    #[error("{path} failed the integrity check: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{what} {path}: {cause}")]
    Io { what: &'static str, path: PathBuf, cause: std::io::Error },
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_owned();
    move |cause| BackupError::Io { what, path, cause }
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    /// Where.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The SQLite file of `database_url`, or [`BackupError::Postgres`].
pub fn database_file(database_url: &str) -> Result<PathBuf, BackupError> {
    if !is_sqlite(database_url) {
        return Err(BackupError::Postgres);
    }
    sqlite_path(database_url)
        .map(PathBuf::from)
        .ok_or_else(|| BackupError::NotOurs { path: PathBuf::from(database_url), why: "not a database file".into() })
}

/// Copies the database behind `db` (SQLite, possibly in use) to `to`. Refuses an existing
/// `to` unless `force`.
pub async fn backup(db: &DatabaseConnection, to: &Path, force: bool) -> Result<Copied, BackupError> {
    if db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return Err(BackupError::Postgres);
    }
    if !force && exists(to) {
        return Err(BackupError::Exists(to.to_owned()));
    }
    let partial = sibling(to, "partial");
    let _ = std::fs::remove_file(&partial);
    let path_text = partial.to_str().ok_or_else(|| BackupError::Io {
        what: "cannot write",
        path: partial.clone(),
        cause: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is not UTF-8"),
    })?;
    let result = async {
        db.execute_raw(stmt(sea_orm::DbBackend::Sqlite, "VACUUM INTO ?", vec![path_text.into()])).await?;
        // A backup is one self-contained file: no -wal or -shm beside it.
        let copy = open(&partial, false).await?;
        let journal = copy.execute_unprepared("PRAGMA journal_mode = DELETE").await;
        copy.close().await.ok();
        journal?;
        check_file(&partial).await?;
        std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(io("cannot write", &partial))?;
        place(&partial, to, force)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Replaces the database file of `database_url` with the backup `from` (the server must be
/// stopped). Refuses when the database exists unless `force`; then its `-wal` and `-shm`
/// files go too, as they belong to the replaced database.
pub async fn restore(from: &Path, database_url: &str, force: bool) -> Result<Copied, BackupError> {
    let target = database_file(database_url)?;
    if !from.is_file() {
        return Err(BackupError::NoDatabase(from.to_owned()));
    }
    check_file(from).await?;
    let wal = sibling_suffix(&target, "-wal");
    if !force && (exists(&target) || exists(&wal)) {
        return Err(BackupError::Exists(target));
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    }
    let partial = sibling(&target, "restoring");
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        std::fs::copy(from, &partial).map_err(io("cannot write", &partial))?;
        // `copy` gives the copy the backup's mode, which may predate the 0600 rule.
        #[cfg(unix)]
        std::fs::set_permissions(&partial, std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(io("cannot write", &partial))?;
        std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(io("cannot write", &partial))?;
        if force {
            for f in [wal, sibling_suffix(&target, "-shm")] {
                match std::fs::remove_file(&f) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io("cannot remove", &f)(e)),
                    _ => {}
                }
            }
        }
        place(&partial, &target, force)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Opens a database file read-only for checks (no migrations, nothing created).
pub async fn open_read_only(path: &Path) -> Result<DatabaseConnection, BackupError> {
    open(path, true).await
}

/// One connection to an existing database file.
async fn open(path: &Path, read_only: bool) -> Result<DatabaseConnection, BackupError> {
    let url = format!("sqlite://{}?mode={}", path.display(), if read_only { "ro" } else { "rw" });
    let mut opts = ConnectOptions::new(url);
    opts.sqlx_logging(false).max_connections(1);
    Ok(Database::connect(opts).await?)
}

/// Is `path` a sound SQLite database that Sceneboard migrated?
pub async fn check_file(path: &Path) -> Result<(), BackupError> {
    let not_ours = |why: &str| BackupError::NotOurs { path: path.to_owned(), why: why.to_owned() };
    let mut head = [0u8; 16];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(io("cannot read", path))?;
        f.read_exact(&mut head).map_err(|_| not_ours("not a SQLite database"))?;
    }
    if &head != SQLITE_MAGIC {
        return Err(not_ours("not a SQLite database"));
    }
    let db = open_read_only(path).await?;
    let outcome = async {
        let rows = db.query_all_raw(stmt(sea_orm::DbBackend::Sqlite, "PRAGMA integrity_check", vec![])).await?;
        let lines: Vec<String> = rows.iter().filter_map(|r| r.try_get_by_index::<String>(0).ok()).collect();
        if lines != ["ok"] {
            let detail = lines.into_iter().take(3).collect::<Vec<_>>().join("; ");
            return Err(BackupError::Corrupt { path: path.to_owned(), detail });
        }
        let has_migrations = db
            .query_one_raw(stmt(
                sea_orm::DbBackend::Sqlite,
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                vec![MIGRATIONS_TABLE.into()],
            ))
            .await?
            .is_some();
        if !has_migrations {
            return Err(not_ours("it has no migrations table"));
        }
        Ok(())
    }
    .await;
    db.close().await.ok();
    outcome
}

/// Gives the finished `partial` its final name: a hard link fails if `to` appeared meanwhile
/// (no clobbering without `force`); with `force`, a rename replaces `to` atomically.
fn place(partial: &Path, to: &Path, force: bool) -> Result<Copied, BackupError> {
    if force {
        std::fs::rename(partial, to).map_err(io("cannot write", to))?;
    } else {
        std::fs::hard_link(partial, to).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists { BackupError::Exists(to.to_owned()) } else { io("cannot write", to)(e) }
        })?;
        let _ = std::fs::remove_file(partial);
    }
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    let bytes = std::fs::metadata(to).map_err(io("cannot read", to))?.len();
    Ok(Copied { path: to.to_owned(), bytes })
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// `DIR/.NAME.WHAT-PID` next to `path`: same file system, so the final rename is atomic.
fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "backup".into());
    path.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

/// `PATH` with `suffix` appended to its file name (`db` -> `db-wal`).
fn sibling_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_is_pointed_to_pg_dump() {
        let e = database_file("postgres://u@h/db").unwrap_err().to_string();
        assert!(e.contains("pg_dump") && !e.contains('\n'), "{e}");
        assert_eq!(database_file("sqlite://data/x.db?mode=rwc").unwrap(), PathBuf::from("data/x.db"));
    }

    #[test]
    fn siblings_stay_in_the_folder() {
        let p = Path::new("/backups/sb.db");
        assert_eq!(sibling_suffix(p, "-wal"), PathBuf::from("/backups/sb.db-wal"));
        assert!(sibling(p, "partial").starts_with("/backups/"));
    }
}
