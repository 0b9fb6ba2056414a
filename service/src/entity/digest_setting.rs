//! An account's digest settings: which summaries, when, in which language, and where.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "digest_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i32,
    pub daily: bool,
    pub weekly: bool,
    /// The local hour (0–23, the account's zone) a digest goes out.
    pub send_hour: i32,
    /// `zh` or `en`.
    pub lang: String,
    /// The WeCom group robot's webhook URL, sealed (its `key` lets anyone post to the group).
    pub wecom_webhook_enc: Option<String>,
    /// Email recipients, comma-separated.
    pub email_to: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
