//! A follower's subscription and the campaign it is attributed to (NULL = organic).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i32,
    pub openid_hash: String,
    pub openid: Option<String>,
    pub campaign_id: Option<i32>,
    pub scene: Option<String>,
    pub subscribed_at: DateTimeUtc,
    pub unsubscribed_at: Option<DateTimeUtc>,
    pub subscribe_event_id: Option<i64>,
    pub unsubscribe_event_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
