//! Unit tests of the batch's SQL text: placeholders per backend, multi-row values.

use super::sql::rows;
use crate::db::stmt;
use sea_orm::{DbBackend, Value};

#[test]
fn placeholders_are_numbered_for_postgres() {
    let s = stmt(DbBackend::Postgres, "SELECT ? , ?", vec![1.into(), 2.into()]);
    assert_eq!(s.sql, "SELECT $1 , $2");
    let s = stmt(DbBackend::Sqlite, "SELECT ? , ?", vec![1.into(), 2.into()]);
    assert_eq!(s.sql, "SELECT ? , ?");
}

#[test]
fn multi_row_values() {
    assert_eq!(rows(1, 2), "(?, ?)");
    assert_eq!(rows(3, 1), "(?), (?), (?)");
    let s = stmt(DbBackend::Postgres, &format!("VALUES {}", rows(2, 2)), (1..=4).map(Value::from).collect());
    assert_eq!(s.sql, "VALUES ($1, $2), ($3, $4)");
}
