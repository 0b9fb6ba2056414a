//! Campaigns: a name mapped to a scene value of one WeChat account, and the QR codes WeChat
//! issued for it.
//!
//! Rules kept here: scenes are unique per account whatever their kind (WeChat reports both as
//! `qrscene_<text>`), permanent codes count against WeChat's 100 000 per account forever, a
//! scene that had a ticket is not handed out again while that ticket works (both kept in
//! [`crate::scenes`]), and a campaign's current code is its `qr_codes` row with the highest id
//! (older rows stay, so scans of old tickets still resolve). Every call that talks to WeChat
//! takes the account's client as `api`, built by the caller; codes are issued before the
//! transaction that stores them, so a WeChat refusal stores nothing. Renewal is in
//! [`crate::renewal`].
//!
//! Files:
//! - `types` — the public types: kinds, welcome messages, inputs, views, list queries.
//! - `validate` — checks of names, scenes, days and short texts, and of a new campaign.
//! - `store` — the SQL the queries share; reading campaigns (one, a page, counts, groups, the
//!   campaign of a push).
//! - `lifecycle` — issuing and storing codes; create, edit, archive, restore, delete.
//! - `import` — CSV import, checked as a plan before any code is issued.
//! - `files` — download names of codes, and ZIPs of them.

mod files;
mod import;
mod lifecycle;
mod store;
mod types;
mod validate;

pub use files::{ExportRow, code_file_name, export_rows, logo, zip_files};
pub use import::{ImportFailed, ImportPlan, ImportRow, RowError, import, plan_import, plan_import_at};
pub(crate) use lifecycle::{CodeOwner, insert_code, issue};
pub use lifecycle::{archive, create, delete, set_logo, unarchive, update};
pub use store::{count, get, groups, list, resolve_scene};
pub use types::{CampaignEdit, CampaignInput, CampaignView, CodeView, Kind, ListQuery, Page, Sort, Status, Welcome};
pub(crate) use validate::clean_days;

/// Renewal lives in [`crate::renewal`]; pages and the CLI call it from here.
pub use crate::renewal::renew;

/// Permanent codes WeChat issues per account, ever (`QR_LIMIT_SCENE`); archived or deleted
/// campaigns do not give theirs back. Same number as `accounts::PERMANENT_QUOTA`.
const PERMANENT_QUOTA: u64 = crate::accounts::PERMANENT_QUOTA as u64;
/// Longest life of a temporary code WeChat allows, in days (2 592 000 s).
pub const MAX_EXPIRE_DAYS: i32 = 30;
/// A temporary code this close to its expiry is shown as "expiring".
pub const EXPIRING_WITHIN_DAYS: i64 = 3;
/// Rows one CSV import may create.
pub const MAX_IMPORT_ROWS: usize = 5_000;
/// Largest CSV file accepted, in bytes.
pub const MAX_IMPORT_BYTES: usize = 1024 * 1024;
/// Largest page of [`list`].
pub const MAX_PER_PAGE: u64 = 200;
/// Codes requested from WeChat at once during an import: fast enough for thousands of rows,
/// gentle enough not to trip WeChat's frequency limit (45011).
const IMPORT_CONCURRENCY: usize = 4;

const MAX_NAME: usize = 64;
const MAX_GROUP: usize = 32;
const MAX_TAG: usize = 30;
const MAX_WELCOME_TEXT: usize = 600;
const MAX_NEWS_TITLE: usize = 64;
const MAX_NEWS_DESCRIPTION: usize = 120;

/// The account campaign `id` belongs to; `NotFound` when there is no such campaign.
pub async fn account_of<C: sea_orm::ConnectionTrait>(db: &C, id: i32) -> Result<i32, crate::ServiceError> {
    use sea_orm::{EntityTrait, QuerySelect};
    crate::entity::campaign::Entity::find_by_id(id)
        .select_only()
        .column(crate::entity::campaign::Column::AccountId)
        .into_tuple()
        .one(db)
        .await?
        .ok_or(crate::ServiceError::NotFound)
}

/// The live (not archived) campaigns of `group` in `account` (or in any), by id.
pub async fn group_members<C: sea_orm::ConnectionTrait>(
    db: &C,
    group: &str,
    account: Option<i32>,
) -> Result<Vec<i32>, crate::ServiceError> {
    use crate::entity::campaign;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut query = campaign::Entity::find()
        .select_only()
        .column(campaign::Column::Id)
        .filter(campaign::Column::GroupName.eq(group.trim()))
        .filter(campaign::Column::ArchivedAt.is_null());
    if let Some(a) = account {
        query = query.filter(campaign::Column::AccountId.eq(a));
    }
    Ok(query.order_by_asc(campaign::Column::Id).into_tuple().all(db).await?)
}
