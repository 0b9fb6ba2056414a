//! A share link (`/s/{token}`): a read-only view of one campaign or one group, no login.
//! The token is stored as its SHA-256 (looked up) and sealed (shown to staff), never in clear.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "share_links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub token_enc: String,
    pub account_id: i32,
    /// A campaign's link; `None`: the group `group_name` of the account.
    pub campaign_id: Option<i32>,
    pub group_name: Option<String>,
    pub created_by: Option<i32>,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    /// argon2, when the link asks for a password.
    pub password_hash: Option<String>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
