//! Presence of one scanner in one campaign-hour: exact unique counts over any range.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scanner_hours")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub campaign_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: i64,
    /// The scanner's key: the first 64 bits of their keyed OpenID hash
    /// ([`crate::keys::scanner_key`]).
    #[sea_orm(primary_key, auto_increment = false)]
    pub scanner: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
