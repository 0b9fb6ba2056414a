//! SQLite only: the counter tables (`campaign_hourly`, `account_hourly`, `scanner_hours`)
//! become `WITHOUT ROWID` tables, stored in the order of their primary key.
//!
//! Why: each of them is only ever read and written through its primary key (a campaign's
//! hours, in order). As ordinary rowid tables, SQLite kept each twice — the table in rowid
//! order plus an automatic index on the key — so a stored push wrote two B-trees per table,
//! and a year of one campaign's counters was one index range plus a random table lookup per
//! hour. Clustered on the key, a push writes one B-tree per table and a campaign's year is
//! one contiguous range of pages. (SQLite's documentation recommends exactly this for small
//! rows with a composite primary key.)
//!
//! PostgreSQL has no such table kind and needs nothing here: its heap plus primary key index
//! already serve the same reads.
//!
//! The rebuild copies each table once (CREATE … WITHOUT ROWID from the stored definition,
//! INSERT SELECT, DROP, RENAME), inside the migration's transaction, so it is all or nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000004_clustered_counters"
    }
}

const TABLES: [&str; 3] = ["campaign_hourly", "account_hourly", "scanner_hours"];

/// Rebuild `table` from its stored `CREATE TABLE` text, with or without `WITHOUT ROWID`.
async fn rebuild(m: &SchemaManager<'_>, table: &str, clustered: bool) -> Result<(), DbErr> {
    let db = m.get_connection();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            [table.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("table {table} is missing")))?;
    let sql: String = row.try_get("", "sql")?;
    let body = sql.trim_end().trim_end_matches(';').trim_end();
    let is_clustered = body.to_ascii_uppercase().ends_with("WITHOUT ROWID");
    if is_clustered == clustered {
        return Ok(());
    }
    // Everything from the column list on: the name is replaced, the definition kept as is.
    let columns = body.find('(').map(|i| &body[i..]).ok_or_else(|| DbErr::Migration(format!("cannot read the definition of {table}")))?;
    let columns = if clustered { columns.to_owned() } else { columns[..columns.len() - "WITHOUT ROWID".len()].trim_end().to_owned() };
    let new = format!("{table}_rebuilt");
    let suffix = if clustered { " WITHOUT ROWID" } else { "" };
    for stmt in [
        format!("CREATE TABLE \"{new}\" {columns}{suffix}"),
        format!("INSERT INTO \"{new}\" SELECT * FROM \"{table}\""),
        format!("DROP TABLE \"{table}\""),
        format!("ALTER TABLE \"{new}\" RENAME TO \"{table}\""),
    ] {
        db.execute_unprepared(&stmt).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too (its default is none): a rebuild stopped half way must
    /// not leave a table dropped or renamed.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        for table in TABLES {
            rebuild(m, table, true).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        for table in TABLES {
            rebuild(m, table, false).await?;
        }
        Ok(())
    }
}
