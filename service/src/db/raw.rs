//! Hand-written SQL on both backends: statements with `?` placeholders, the placeholder lists
//! of `IN (…)` and multi-row `VALUES`, and `IN` queries over more values than one statement
//! should carry.

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

/// A raw statement written with `?` placeholders, numbered (`$1`, `$2`…) for PostgreSQL,
/// so the hand-written SQL of campaigns, series and ingest reads the same on both backends.
/// That SQL has no `?` inside string literals.
pub fn stmt(backend: sea_orm::DbBackend, sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_owned(),
    };
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

/// `?, ?, ?`: the placeholders of an `IN (…)` list of `n` values.
pub fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, ?), (?, ?)`: the placeholders of `n` rows of `cols` values, for a multi-row `VALUES`.
pub fn rows(n: usize, cols: usize) -> String {
    vec![format!("({})", marks(cols)); n].join(", ")
}

/// Every row of `sql` for all of `items`: `sql` names its `IN (…)` list `{in}` and takes
/// `leading` values before it; it runs once per `chunk` items, so no statement carries more
/// parameters than a backend allows.
pub async fn query_in_chunks<C: ConnectionTrait, T: Clone + Into<Value>>(
    db: &C,
    sql: &str,
    leading: &[Value],
    items: &[T],
    chunk: usize,
) -> Result<Vec<QueryResult>, DbErr> {
    let mut out = Vec::new();
    for part in items.chunks(chunk.max(1)) {
        let mut values = leading.to_vec();
        values.extend(part.iter().cloned().map(Into::into));
        let sql = sql.replace("{in}", &marks(part.len()));
        out.extend(db.query_all_raw(stmt(db.get_database_backend(), &sql, values)).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let s = stmt(DbBackend::Postgres, "SELECT ? , ?", vec![1.into(), 2.into()]);
        assert_eq!(s.sql, "SELECT $1 , $2");
        let s = stmt(DbBackend::Sqlite, "SELECT ? , ?", vec![1.into(), 2.into()]);
        assert_eq!(s.sql, "SELECT ? , ?");
        let s = stmt(DbBackend::Postgres, &format!("SELECT 1 WHERE a = ? AND b IN ({})", marks(2)), vec![]);
        assert_eq!(s.sql, "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
    }

    #[test]
    fn multi_row_values() {
        assert_eq!(marks(3), "?, ?, ?");
        assert_eq!(rows(1, 2), "(?, ?)");
        assert_eq!(rows(3, 1), "(?), (?), (?)");
        let s = stmt(DbBackend::Postgres, &format!("VALUES {}", rows(2, 2)), (1..=4).map(Value::from).collect());
        assert_eq!(s.sql, "VALUES ($1, $2), ($3, $4)");
    }
}
