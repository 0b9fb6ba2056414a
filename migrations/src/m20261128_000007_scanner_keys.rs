//! `scanner_hours` keys each scanner by a 64-bit integer (`scanner`) instead of the 64-hex
//! keyed OpenID hash (`openid_hash`): the first 64 bits of the same hash, as a signed integer
//! (`service::keys::scanner_key` computes the same value in Rust).
//!
//! Why: exact unique-scanner counts sort and compare one key per scanner row, and an integer
//! is an eighth of the text's bytes (docs/design/schema.md, "64-bit scanner keys", with the
//! collision odds). The table is rebuilt in one transaction rather than altered: SQLite cannot
//! change a primary key in place.
//!
//! `down()` puts the 16 hex digits of each key back into `openid_hash`: the rest of the hash
//! is gone. Counts stay exact within the table, and `up()` again gives back the same keys; only
//! the older code, running between the two, would count a scanner once before and once after
//! the downgrade in a range that spans it (it writes whole hashes for new rows).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000007_scanner_keys"
    }
}

/// SQLite: the first 16 hex digits of `openid_hash` as a signed 64-bit integer. Digit by
/// digit, as SQLite has no hex conversion; the first digit carries the sign (8–f are
/// negative), so no intermediate value leaves the 64-bit range.
fn sqlite_key() -> String {
    let digit = |i: usize| format!("(instr('0123456789abcdef', lower(substr(openid_hash, {}, 1))) - 1)", i + 1);
    let mut sql = format!("(({d0}) - 16 * (({d0}) >= 8)) * {}", 1u64 << 60, d0 = digit(0));
    for i in 1..16 {
        sql.push_str(&format!(" + {} * {}", digit(i), 1u64 << (4 * (15 - i))));
    }
    sql
}

const SQLITE_TABLE: &str = "(\"campaign_id\" integer NOT NULL, \"hour\" bigint NOT NULL, \"{col}\" {ty} NOT NULL, \
     PRIMARY KEY (\"campaign_id\", \"hour\", \"{col}\"), \
     FOREIGN KEY (\"campaign_id\") REFERENCES \"campaigns\" (\"id\") ON DELETE CASCADE) WITHOUT ROWID";
const PG_TABLE: &str = "(\"campaign_id\" integer NOT NULL, \"hour\" bigint NOT NULL, \"{col}\" {ty} NOT NULL, \
     CONSTRAINT \"scanner_hours_pkey\" PRIMARY KEY (\"campaign_id\", \"hour\", \"{col}\"), \
     FOREIGN KEY (\"campaign_id\") REFERENCES \"campaigns\" (\"id\") ON DELETE CASCADE)";

/// Rebuilds `scanner_hours` with the key column `col` of type `ty`, filled by `value` (SQL over
/// the old table's columns). Rows whose new key coincides in one campaign-hour become one.
async fn rebuild(m: &SchemaManager<'_>, col: &str, ty: &str, value: &str) -> Result<(), DbErr> {
    let db = m.get_connection();
    let statements = match m.get_database_backend() {
        DbBackend::Postgres => vec![
            "ALTER TABLE scanner_hours RENAME TO scanner_hours_old".to_owned(),
            // Index names are per schema in PostgreSQL: free the key's name for the new table.
            "ALTER INDEX scanner_hours_pkey RENAME TO scanner_hours_old_pkey".to_owned(),
            format!("CREATE TABLE scanner_hours {}", PG_TABLE.replace("{col}", col).replace("{ty}", ty)),
            format!("INSERT INTO scanner_hours SELECT campaign_id, hour, {value} FROM scanner_hours_old ON CONFLICT DO NOTHING"),
            "DROP TABLE scanner_hours_old".to_owned(),
        ],
        _ => vec![
            format!("CREATE TABLE scanner_hours_new {}", SQLITE_TABLE.replace("{col}", col).replace("{ty}", ty)),
            format!("INSERT OR IGNORE INTO scanner_hours_new SELECT campaign_id, hour, {value} FROM scanner_hours"),
            "DROP TABLE scanner_hours".to_owned(),
            "ALTER TABLE scanner_hours_new RENAME TO scanner_hours".to_owned(),
        ],
    };
    for sql in statements {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too (its default is none): a rebuild stopped half way must
    /// not leave the table dropped or renamed.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let value = match m.get_database_backend() {
            // A bit string of the 16 digits, read as a signed bigint (two's complement).
            DbBackend::Postgres => "('x' || substr(openid_hash, 1, 16))::bit(64)::bigint".to_owned(),
            _ => sqlite_key(),
        };
        rebuild(m, "scanner", "bigint", &value).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let value = match m.get_database_backend() {
            DbBackend::Postgres => "lpad(to_hex(scanner), 16, '0')",
            _ => "printf('%016x', scanner)",
        };
        rebuild(m, "openid_hash", "varchar(64)", value).await
    }
}
