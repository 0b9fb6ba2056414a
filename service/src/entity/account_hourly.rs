//! Per-account counters per UTC hour, including organic followers and unknown scenes.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_hourly")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: i64,
    pub scans: i64,
    pub new_followers: i64,
    pub organic_followers: i64,
    pub unsubscribes: i64,
    pub unknown_scene_events: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
