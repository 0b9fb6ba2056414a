//! The shared access token of an account, with the lease that elects one refresher and the
//! time of its last forced refresh.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i32,
    pub token_enc: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub lease_until: Option<DateTimeUtc>,
    pub lease_holder: Option<String>,
    pub fetched_at: Option<DateTimeUtc>,
    /// When a refused token was last replaced with `force_refresh` (at most once a minute).
    pub forced_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
