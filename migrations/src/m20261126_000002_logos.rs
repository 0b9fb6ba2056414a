//! Logos drawn in the middle of QR codes: one per account (the default) and one per campaign
//! (overrides the account's). The bytes are a PNG re-encoded by the service on upload, never
//! the upload itself.
//!
//! One `ALTER TABLE` per column and table: SQLite accepts a single change per statement
//! (and `DROP COLUMN` since 3.35, which the bundled SQLite is newer than).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000002_logos"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum WechatAccounts {
    Table,
    Logo,
}

#[derive(DeriveIden, Clone, Copy)]
enum Campaigns {
    Table,
    Logo,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(WechatAccounts::Table).add_column(ColumnDef::new(WechatAccounts::Logo).blob().null()).to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table(Campaigns::Table).add_column(ColumnDef::new(Campaigns::Logo).blob().null()).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Campaigns::Table).drop_column(Campaigns::Logo).to_owned()).await?;
        m.alter_table(Table::alter().table(WechatAccounts::Table).drop_column(WechatAccounts::Logo).to_owned()).await
    }
}
