//! One digest through one channel: unique per account, period, first day and channel.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "digest_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i32,
    /// `daily` or `weekly`.
    pub period: String,
    /// The first local day the digest covers.
    pub period_start: Date,
    /// `wecom` or `email`.
    pub channel: String,
    /// `sent`, or `retrying` / `failed` with `last_error`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
