//! `public_code_links`: at most one public image link per campaign (`/q/{token}.png`, `.svg`),
//! which always serves the campaign's current code, so a web page can embed a temporary code
//! that auto-renew keeps alive.
//!
//! A row is the link being on; deleting it revokes the link. `token_hash` (SHA-256 hex of the
//! token, unique) is what a request is looked up by, in one indexed query; `token_enc` is the
//! token sealed with the secret key, so the campaign page can show the URL to staff again.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000013_public_code_links"
    }
}

#[derive(DeriveIden)]
enum PublicCodeLinks {
    Table,
    CampaignId,
    TokenHash,
    TokenEnc,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    Id,
}

use PublicCodeLinks as P;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(P::Table)
                .col(ColumnDef::new(P::CampaignId).integer().not_null().primary_key())
                .col(ColumnDef::new(P::TokenHash).string_len(64).not_null().unique_key())
                .col(ColumnDef::new(P::TokenEnc).text().not_null())
                .col(ColumnDef::new(P::CreatedAt).timestamp_with_time_zone().not_null())
                .foreign_key(
                    ForeignKey::create()
                        .from(P::Table, P::CampaignId)
                        .to(Campaigns::Table, Campaigns::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(P::Table).to_owned()).await
    }
}
