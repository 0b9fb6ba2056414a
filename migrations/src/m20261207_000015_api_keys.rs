//! `api_keys`: read-only keys for `/api/v1` and the CSV exports, created by admins.
//!
//! The secret is shown once and stored only as its SHA-256 (`token_hash`, unique, what a
//! request is looked up by); `hint` is its first characters, so a list can tell keys apart.
//! `account_id` scopes a key to one account (`NULL`: every account). A revoked key keeps its
//! row (`revoked_at`) so the list and the audit log still name it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000015_api_keys"
    }
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    TokenHash,
    Hint,
    AccountId,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum WechatAccounts {
    Table,
    Id,
}

use ApiKeys as K;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(K::Table)
                .col(ColumnDef::new(K::Id).integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(K::Name).string_len(64).not_null())
                .col(ColumnDef::new(K::TokenHash).string_len(64).not_null().unique_key())
                .col(ColumnDef::new(K::Hint).string_len(16).not_null())
                .col(ColumnDef::new(K::AccountId).integer().null())
                .col(ColumnDef::new(K::CreatedBy).integer().null())
                .col(ColumnDef::new(K::CreatedAt).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(K::ExpiresAt).timestamp_with_time_zone().null())
                .col(ColumnDef::new(K::RevokedAt).timestamp_with_time_zone().null())
                .col(ColumnDef::new(K::LastUsedAt).timestamp_with_time_zone().null())
                .foreign_key(
                    ForeignKey::create()
                        .from(K::Table, K::AccountId)
                        .to(WechatAccounts::Table, WechatAccounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(K::Table).to_owned()).await
    }
}
