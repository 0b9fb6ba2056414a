//! `issued_scenes`: every scene of an account that WeChat ever issued a ticket for, whether
//! its campaign still exists or not, with `permanent` and the expiry of its latest-expiring
//! temporary ticket.
//!
//! Why: deleting a never-scanned campaign removed the only trace of its code, yet WeChat keeps
//! a permanent code (and the quota it took) forever, and a printed temporary code works until
//! it expires. The quota now counts this table's permanent scenes, and a scene is handed out
//! again only when it has no row, or only temporary tickets that have all expired.
//!
//! Backfilled from what is stored: every permanent campaign (with or without a stored code:
//! they all counted against the quota before), and every temporary campaign with codes, with
//! the latest expiry among them.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000010_issued_scenes"
    }
}

#[derive(DeriveIden)]
enum IssuedScenes {
    Table,
    AccountId,
    Scene,
    Permanent,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum WechatAccounts {
    Table,
    Id,
}

use IssuedScenes as I;

/// The same SQL on both backends: a comparison is a boolean in PostgreSQL and 0/1 in SQLite,
/// as the column's type is on each.
const BACKFILL: &str = "INSERT INTO issued_scenes (account_id, scene, permanent, expires_at) \
     SELECT c.account_id, c.scene, (c.kind = 'permanent'), \
            CASE WHEN c.kind = 'permanent' THEN NULL \
                 ELSE (SELECT MAX(q.expires_at) FROM qr_codes q WHERE q.campaign_id = c.id) END \
     FROM campaigns c \
     WHERE c.kind = 'permanent' OR EXISTS (SELECT 1 FROM qr_codes q WHERE q.campaign_id = c.id)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(I::Table)
                .col(ColumnDef::new(I::AccountId).integer().not_null())
                .col(ColumnDef::new(I::Scene).string_len(64).not_null())
                .col(ColumnDef::new(I::Permanent).boolean().not_null())
                .col(ColumnDef::new(I::ExpiresAt).timestamp_with_time_zone().null())
                .primary_key(Index::create().col(I::AccountId).col(I::Scene))
                .foreign_key(
                    ForeignKey::create()
                        .from(I::Table, I::AccountId)
                        .to(WechatAccounts::Table, WechatAccounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.get_connection().execute_unprepared(BACKFILL).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(I::Table).to_owned()).await
    }
}
