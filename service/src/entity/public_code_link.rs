//! A campaign's public image link (`/q/{token}.png`): the row exists while the link is on.
//! The token is stored as its SHA-256 (looked up) and sealed (shown to staff), never in clear.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "public_code_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub campaign_id: i32,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub token_enc: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
