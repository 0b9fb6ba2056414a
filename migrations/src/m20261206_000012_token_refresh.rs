//! `access_tokens.forced_at`: when an instance last asked WeChat for a new token with
//! `force_refresh` (after WeChat refused the stored one). WeChat limits forced refreshes, and
//! `stable_token` in normal mode may keep answering a revoked token, so every instance must
//! see that an account was forced a moment ago and use the token that refresh stored instead
//! of forcing again (`service::token_store`, at most once a minute per account).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000012_token_refresh"
    }
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    ForcedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(AccessTokens::ForcedAt).timestamp_with_time_zone().null().to_owned();
        m.alter_table(Table::alter().table(AccessTokens::Table).add_column(column).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(AccessTokens::Table).drop_column(AccessTokens::ForcedAt).to_owned()).await
    }
}
