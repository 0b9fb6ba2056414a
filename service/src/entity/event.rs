//! One push from WeChat, stored once (unique on the docs/contract.md dedupe key).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i32,
    /// Keyed hash of FromUserName; kept after the raw OpenID is erased.
    pub openid_hash: String,
    /// Raw OpenID; set to NULL when the follower unsubscribes.
    pub openid: Option<String>,
    pub create_time: i64,
    pub msg_type: String,
    /// Event name, or the MsgType for plain messages.
    pub event: String,
    /// EventKey, or the MsgId for plain messages; empty when absent.
    pub event_key: String,
    pub ticket: Option<String>,
    pub scene: Option<String>,
    /// `scan`, `subscribe`, `organic`, `unsubscribe` or `other`.
    pub kind: String,
    pub campaign_id: Option<i32>,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
