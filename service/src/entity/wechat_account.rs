//! A WeChat Official Account we receive pushes for. Secrets are stored sealed
//! ([`crate::secrets`]), the callback Token admins paste into WeChat too (`token_enc`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wechat_accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
    #[sea_orm(unique)]
    pub app_id: String,
    pub app_secret_enc: String,
    /// The callback Token in plaintext: blank once sealed into `token_enc` (migration 14;
    /// `crate::accounts::seal_plaintext_tokens`). Read through `crate::accounts::callback_token`.
    pub token: String,
    /// The callback Token, sealed ([`crate::secrets`]).
    pub token_enc: Option<String>,
    pub aes_key_enc: Option<String>,
    /// `plain`, `compat` or `safe`.
    pub message_mode: String,
    pub api_base_url: String,
    /// `stable` (cgi-bin/stable_token, default) or `classic` (cgi-bin/token).
    pub token_endpoint: String,
    /// IANA zone for charts and exports.
    pub timezone: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Default logo of the account's codes: a PNG re-encoded on upload (`crate::qr::reencode_logo`).
    pub logo: Option<Vec<u8>>,
    /// When a WeChat API call for this account last succeeded ([`crate::health`]).
    pub api_ok_at: Option<DateTimeUtc>,
    /// When one last failed; later than `api_ok_at` = the API is failing now.
    pub api_failed_at: Option<DateTimeUtc>,
    /// Why it last failed, in words (no token, no secret).
    pub api_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
