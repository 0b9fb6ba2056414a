//! The callback Token sealed at rest, like the AppSecret and the EncodingAESKey: it signs
//! pushes, so whoever reads it from a database copy or a backup can forge them (plain and
//! compat mode).
//!
//! `wechat_accounts.token_enc` holds the Token sealed with the secret key; `token` stays, blank.
//! Migrations cannot see the secret key, so this only adds the column: the server seals every
//! Token still in `token` when it starts (and after `migrate`), then blanks `token`
//! (`service::accounts::seal_plaintext_tokens`, idempotent); until then a plaintext Token is
//! still read. `down()` drops the sealed column: Tokens sealed since are lost (the migration
//! cannot open them) and must be entered again in Settings.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000014_sealed_tokens"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum WechatAccounts {
    Table,
    TokenEnc,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let col = ColumnDef::new(WechatAccounts::TokenEnc).text().null().to_owned();
        m.alter_table(Table::alter().table(WechatAccounts::Table).add_column(col).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(WechatAccounts::Table).drop_column(WechatAccounts::TokenEnc).to_owned()).await
    }
}
