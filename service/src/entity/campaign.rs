//! A placement: a name mapped to a scene value of one account.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "campaigns")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub account_id: i32,
    pub name: String,
    pub group_name: Option<String>,
    /// `permanent` or `temporary`.
    pub kind: String,
    /// Canonical scene text: a number 1–100000 or a string of 1–64 characters.
    pub scene: String,
    pub expire_days: Option<i32>,
    pub auto_renew: bool,
    /// JSON of the welcome reply, if any.
    pub welcome_message: Option<String>,
    pub tag_name: Option<String>,
    pub tag_id: Option<i64>,
    pub archived_at: Option<DateTimeUtc>,
    pub created_by: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Logo of this campaign's code, overriding the account's: a PNG re-encoded on upload.
    pub logo: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
