//! Sceneboard's schema history: one module per change, each with a working `down()`.
//!
//! The same migrations run on SQLite and PostgreSQL; `sceneboard serve` and
//! `sceneboard migrate` apply whatever is pending.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_initial;
mod m20261126_000002_logos;
mod m20261127_000003_api_health;
mod m20261127_000004_clustered_counters;
mod m20261127_000005_counter_hour_index;
mod m20261127_000006_job_subject;
mod m20261128_000007_scanner_keys;
mod m20261128_000008_follower_hash_first;
mod m20261206_000010_issued_scenes;
mod m20261206_000011_no_raw_pushes;
mod m20261206_000012_token_refresh;
mod m20261206_000013_public_code_links;
mod m20261207_000014_sealed_tokens;
mod m20261207_000015_api_keys;
mod m20261207_000016_share_links;
mod m20261208_000017_digests;

/// The ordered list of schema changes.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_initial::Migration),
            Box::new(m20261126_000002_logos::Migration),
            Box::new(m20261127_000003_api_health::Migration),
            Box::new(m20261127_000004_clustered_counters::Migration),
            Box::new(m20261127_000005_counter_hour_index::Migration),
            Box::new(m20261127_000006_job_subject::Migration),
            Box::new(m20261128_000007_scanner_keys::Migration),
            Box::new(m20261128_000008_follower_hash_first::Migration),
            Box::new(m20261206_000010_issued_scenes::Migration),
            Box::new(m20261206_000011_no_raw_pushes::Migration),
            Box::new(m20261206_000012_token_refresh::Migration),
            Box::new(m20261206_000013_public_code_links::Migration),
            Box::new(m20261207_000014_sealed_tokens::Migration),
            Box::new(m20261207_000015_api_keys::Migration),
            Box::new(m20261207_000016_share_links::Migration),
            Box::new(m20261208_000017_digests::Migration),
        ]
    }
}
