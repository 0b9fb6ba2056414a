//! Digests: `digest_settings` holds, per account, which summaries to send (daily, weekly), at
//! which local hour, in which language, and where: a WeCom group robot's webhook (sealed: its
//! `key` lets anyone post to the group) and email recipients. `digest_deliveries` records each
//! summary per channel once: `(account, period, period_start, channel)` is unique, so the
//! scheduler of every instance can see what was sent, and Settings shows failures.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000017_digests"
    }
}

#[derive(DeriveIden)]
enum DigestSettings {
    Table,
    AccountId,
    Daily,
    Weekly,
    SendHour,
    Lang,
    WecomWebhookEnc,
    EmailTo,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DigestDeliveries {
    Table,
    Id,
    AccountId,
    Period,
    PeriodStart,
    Channel,
    Status,
    Attempts,
    LastError,
    SentAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WechatAccounts {
    Table,
    Id,
}

use DigestDeliveries as D;
use DigestSettings as S;

fn account_fk(table: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(table, column).to(WechatAccounts::Table, WechatAccounts::Id).on_delete(ForeignKeyAction::Cascade).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(S::Table)
                .col(ColumnDef::new(S::AccountId).integer().not_null().primary_key())
                .col(ColumnDef::new(S::Daily).boolean().not_null().default(false))
                .col(ColumnDef::new(S::Weekly).boolean().not_null().default(false))
                .col(ColumnDef::new(S::SendHour).integer().not_null().default(9))
                .col(ColumnDef::new(S::Lang).string_len(8).not_null().default("zh"))
                .col(ColumnDef::new(S::WecomWebhookEnc).text().null())
                .col(ColumnDef::new(S::EmailTo).text().null())
                .col(ColumnDef::new(S::CreatedAt).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(S::UpdatedAt).timestamp_with_time_zone().not_null())
                .foreign_key(&mut account_fk(S::Table, S::AccountId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(D::Table)
                .col(ColumnDef::new(D::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(D::AccountId).integer().not_null())
                .col(ColumnDef::new(D::Period).string_len(8).not_null())
                .col(ColumnDef::new(D::PeriodStart).date().not_null())
                .col(ColumnDef::new(D::Channel).string_len(8).not_null())
                .col(ColumnDef::new(D::Status).string_len(8).not_null())
                .col(ColumnDef::new(D::Attempts).integer().not_null().default(0))
                .col(ColumnDef::new(D::LastError).text().null())
                .col(ColumnDef::new(D::SentAt).timestamp_with_time_zone().null())
                .col(ColumnDef::new(D::UpdatedAt).timestamp_with_time_zone().not_null())
                .foreign_key(&mut account_fk(D::Table, D::AccountId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("digest_deliveries_once")
                .table(D::Table)
                .col(D::AccountId)
                .col(D::Period)
                .col(D::PeriodStart)
                .col(D::Channel)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(D::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(S::Table).to_owned()).await
    }
}
