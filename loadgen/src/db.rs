//! Counting what the server stored: the events of one account in the run's CreateTime window,
//! by event type, and any dedupe key held by more than one row. Read-only; works on the same
//! SQLite file or PostgreSQL database the server writes.

use crate::report::Stored;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value};
use std::time::Duration;

/// A read-only view of the server's database.
#[derive(Debug)]
pub struct Counter {
    db: DatabaseConnection,
    account_id: i32,
}

/// `?` placeholders as the backend wants them (`$1`, `$2`... on PostgreSQL).
fn stmt(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

impl Counter {
    /// Connects and finds the account with `app_id`.
    pub async fn connect(url: &str, app_id: &str) -> anyhow::Result<Self> {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false).max_connections(1).connect_timeout(Duration::from_secs(5));
        let db = Database::connect(opts).await.map_err(|e| anyhow::anyhow!("cannot connect to --database-url: {e}"))?;
        let backend = db.get_database_backend();
        let row = db
            .query_one_raw(stmt(backend, "SELECT id FROM wechat_accounts WHERE app_id = ?", vec![app_id.into()]))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no account with AppID {app_id} in the database"))?;
        let account_id: i32 = row.try_get("", "id")?;
        Ok(Self { db, account_id })
    }

    /// Events of the account with CreateTime in `from..=to`, by event, and duplicate keys.
    pub async fn stored(&self, (from, to): (i64, i64)) -> anyhow::Result<Stored> {
        let backend = self.db.get_database_backend();
        let window = || -> Vec<Value> { vec![self.account_id.into(), from.into(), to.into()] };
        let rows = self
            .db
            .query_all_raw(stmt(
                backend,
                "SELECT event, COUNT(*) AS n FROM events WHERE account_id = ? AND create_time BETWEEN ? AND ? GROUP BY event",
                window(),
            ))
            .await?;
        let mut out = Stored::default();
        for r in rows {
            let event: String = r.try_get("", "event")?;
            let n: i64 = r.try_get("", "n")?;
            out.by_event.insert(event, n.max(0) as u64);
        }
        let dup = self
            .db
            .query_one_raw(stmt(
                backend,
                "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM events WHERE account_id = ? AND create_time BETWEEN ? AND ? \
                 GROUP BY openid_hash, create_time, event, event_key HAVING COUNT(*) > 1) AS d",
                window(),
            ))
            .await?;
        let n: i64 = match dup {
            Some(r) => r.try_get("", "n")?,
            None => 0,
        };
        out.duplicate_keys = n.max(0) as u64;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        let s = stmt(DbBackend::Postgres, "a = ? AND b BETWEEN ? AND ?", vec![1.into(), 2.into(), 3.into()]);
        assert_eq!(s.sql, "a = $1 AND b BETWEEN $2 AND $3");
        let s = stmt(DbBackend::Sqlite, "a = ?", vec![1.into()]);
        assert_eq!(s.sql, "a = ?");
    }
}
