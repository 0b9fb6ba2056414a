//! `jobs.subject_hash`: the keyed OpenID hash of the follower a job is about (tag jobs), with
//! an index, so an unsubscribe erases the follower's pending tag jobs with one index probe.
//!
//! Why: a tag job's dedupe key is `tag:<campaign>:<hash>`. Erasing a follower's jobs by key
//! meant spelling out one key per campaign of the account: every unsubscribe in a group commit
//! probed the unique index once per campaign (300 campaigns × 6 unsubscribes = 1 800 probes
//! and eight 256-value statements per batch in the ingest benchmark, whether or not any tag
//! job existed), a cost that grew with the number of campaigns. With the subject column the
//! erasure is `DELETE … WHERE subject_hash IN (…)`, one probe per follower.
//!
//! Existing tag jobs get the hash from their key (the part after the second `:`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000006_job_subject"
    }
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    SubjectHash,
}

const INDEX: &str = "idx_jobs_subject";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Jobs::Table).add_column(ColumnDef::new(Jobs::SubjectHash).string_len(64).null()).to_owned())
            .await?;
        let backfill = match m.get_database_backend() {
            DbBackend::Postgres => {
                "UPDATE jobs SET subject_hash = split_part(dedupe_key, ':', 3) \
                 WHERE kind = 'tag_follower' AND dedupe_key LIKE 'tag:%:%'"
            }
            // 'tag:12:abc': the text after the colon that follows the campaign id.
            _ => {
                "UPDATE jobs SET subject_hash = substr(dedupe_key, instr(substr(dedupe_key, 5), ':') + 5) \
                 WHERE kind = 'tag_follower' AND dedupe_key LIKE 'tag:%:%'"
            }
        };
        m.get_connection().execute_unprepared(backfill).await?;
        m.create_index(Index::create().name(INDEX).table(Jobs::Table).col(Jobs::SubjectHash).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Jobs::Table).to_owned()).await?;
        // Plain SQL: both backends drop a column this way (SQLite ≥ 3.35).
        m.get_connection().execute_unprepared("ALTER TABLE jobs DROP COLUMN subject_hash").await?;
        Ok(())
    }
}
