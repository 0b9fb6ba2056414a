//! `share_links`: a read-only view of one campaign (`campaign_id`) or one group of an account
//! (`account_id` and `group_name`) at `/s/{token}`, for people without an account.
//!
//! As for public image links, `token_hash` (SHA-256 hex, unique) is what a request is looked up
//! by and `token_enc` is the token sealed with the secret key, so staff can copy the link again.
//! `password_hash` (argon2) is set when the link asks for a password; `revoked_at` ends it and
//! keeps the row for the list and the audit log.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000016_share_links"
    }
}

#[derive(DeriveIden)]
enum ShareLinks {
    Table,
    Id,
    TokenHash,
    TokenEnc,
    AccountId,
    CampaignId,
    GroupName,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    PasswordHash,
    RevokedAt,
}

#[derive(DeriveIden)]
enum WechatAccounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    Id,
}

use ShareLinks as S;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(S::Table)
                .col(ColumnDef::new(S::Id).integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(S::TokenHash).string_len(64).not_null().unique_key())
                .col(ColumnDef::new(S::TokenEnc).text().not_null())
                .col(ColumnDef::new(S::AccountId).integer().not_null())
                .col(ColumnDef::new(S::CampaignId).integer().null())
                .col(ColumnDef::new(S::GroupName).string_len(64).null())
                .col(ColumnDef::new(S::CreatedBy).integer().null())
                .col(ColumnDef::new(S::CreatedAt).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(S::ExpiresAt).timestamp_with_time_zone().null())
                .col(ColumnDef::new(S::PasswordHash).text().null())
                .col(ColumnDef::new(S::RevokedAt).timestamp_with_time_zone().null())
                .foreign_key(
                    ForeignKey::create()
                        .from(S::Table, S::AccountId)
                        .to(WechatAccounts::Table, WechatAccounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(S::Table, S::CampaignId)
                        .to(Campaigns::Table, Campaigns::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("share_links_campaign").table(S::Table).col(S::CampaignId).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(S::Table).to_owned()).await
    }
}
