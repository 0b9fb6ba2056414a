//! The health of each account's WeChat API calls, shared by every instance: when a call last
//! succeeded, when one last failed and why (in words, never with a token or secret). The
//! dashboard's banner reads it, so staff see "WeChat is not answering" instead of a bare error.
//!
//! One `ALTER TABLE` per column: SQLite accepts a single change per statement.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000003_api_health"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum WechatAccounts {
    Table,
    ApiOkAt,
    ApiFailedAt,
    ApiError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            ColumnDef::new(WechatAccounts::ApiOkAt).timestamp_with_time_zone().null().to_owned(),
            ColumnDef::new(WechatAccounts::ApiFailedAt).timestamp_with_time_zone().null().to_owned(),
            ColumnDef::new(WechatAccounts::ApiError).string().null().to_owned(),
        ] {
            m.alter_table(Table::alter().table(WechatAccounts::Table).add_column(col).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [WechatAccounts::ApiError, WechatAccounts::ApiFailedAt, WechatAccounts::ApiOkAt] {
            m.alter_table(Table::alter().table(WechatAccounts::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}
