//! Drops what kept a follower's OpenID after WeChat's erasure rule had run: `events.raw_xml`
//! and the never-written `follower_profiles` table.
//!
//! Why `raw_xml`: an unsubscribe erased `events.openid`, but the raw push beside it still
//! named the follower (`FromUserName`), and nothing ever read it back: counting, attribution
//! and de-duplication use the parsed columns, and a message's content is personal data we
//! have no use for. So pushes are no longer stored whole, and the column goes.
//! `follower_profiles` was meant for `user/info` answers that were never fetched; the
//! `user/info/batchget` work will bring its own table when it needs one.
//!
//! Costs: on SQLite the drop rewrites every `events` row once, in the migration's
//! transaction (no index uses the column, which `DROP COLUMN` requires). On PostgreSQL it is
//! a catalogue change: rows written before keep the old bytes on disk, out of every query's
//! reach, until they are next rewritten (an erasure's update does it; `VACUUM FULL events`
//! does it for all). `down` brings both back empty: the XML is gone for good.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000011_no_raw_pushes"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum FollowerProfiles {
    Table,
    AccountId,
    OpenidHash,
    Openid,
    InfoJson,
    FetchedAt,
}

#[derive(DeriveIden)]
enum WechatAccounts {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Plain SQL: both backends drop a column this way (SQLite ≥ 3.35).
        m.get_connection().execute_unprepared("ALTER TABLE events DROP COLUMN raw_xml").await?;
        m.drop_table(Table::drop().table(FollowerProfiles::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The table exactly as the initial migration made it.
        m.create_table(
            Table::create()
                .table(FollowerProfiles::Table)
                .col(ColumnDef::new(FollowerProfiles::AccountId).integer().not_null())
                .col(ColumnDef::new(FollowerProfiles::OpenidHash).string_len(64).not_null())
                .col(ColumnDef::new(FollowerProfiles::Openid).string_len(64).not_null())
                .col(ColumnDef::new(FollowerProfiles::InfoJson).text().not_null())
                .col(ColumnDef::new(FollowerProfiles::FetchedAt).timestamp_with_time_zone().not_null())
                .primary_key(Index::create().col(FollowerProfiles::AccountId).col(FollowerProfiles::OpenidHash))
                .foreign_key(
                    ForeignKey::create()
                        .from(FollowerProfiles::Table, FollowerProfiles::AccountId)
                        .to(WechatAccounts::Table, WechatAccounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // NOT NULL as before; existing rows (and their XML) cannot come back, so they get ''.
        m.get_connection().execute_unprepared("ALTER TABLE events ADD COLUMN raw_xml TEXT NOT NULL DEFAULT ''").await?;
        Ok(())
    }
}
