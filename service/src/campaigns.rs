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

use crate::entity::{campaign, campaign_hourly, event, qr_code, wechat_account};
use crate::db::stmt;
use crate::{AppState, Msg, ServiceError, audit, scenes};
use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::{StreamExt, TryStreamExt};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryResult, QuerySelect, Set, TransactionTrait, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::str::FromStr;
use wechat::{QrCodeRequest, QrLifetime, Scene, WechatApi};

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

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/// How long a campaign's code lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Never expires; counts against the account's 100 000 permanent codes.
    Permanent,
    /// Expires after `expire_days` (1–30); can be renewed with a fresh ticket.
    Temporary,
}

impl Kind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Permanent => "permanent",
            Kind::Temporary => "temporary",
        }
    }
}

impl FromStr for Kind {
    type Err = ServiceError;
    /// Accepts either spelling in any case (CSV files are typed by hand).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "permanent" => Ok(Kind::Permanent),
            "temporary" => Ok(Kind::Temporary),
            _ => Err(ServiceError::invalid("kind", kind_message(s))),
        }
    }
}

fn kind_message(s: &str) -> Msg {
    Msg::KindInvalid { value: s.trim().to_owned() }
}

/// The reply a follower gets when they follow or scan through the campaign's code.
///
/// Stored in `campaigns.welcome_message` as `{"type":"text","content":..}` or
/// `{"type":"news","title":..,"description":..,"url":..[,"pic_url":..]}`; the callback route
/// reads that exact shape. `pic_url` is left out rather than written as `null` when absent,
/// so readers that default a missing field to "" accept it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Welcome {
    /// A text message, 1–600 characters.
    Text { content: String },
    /// One article card: title 1–64 characters, an http(s) link, an optional picture.
    News {
        title: String,
        #[serde(default)]
        description: String,
        #[serde(default)]
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pic_url: Option<String>,
    },
}

impl Welcome {
    /// The stored JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the stored JSON.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Checks the limits (errors on field `welcome`) and trims what the user typed.
    pub fn validated(self) -> Result<Self, ServiceError> {
        let bad = |m: Msg| ServiceError::invalid("welcome", m);
        match self {
            Welcome::Text { content } => {
                let content = content.trim().to_owned();
                let n = content.chars().count();
                if n == 0 {
                    return Err(bad(Msg::WelcomeTextEmpty));
                }
                if n > MAX_WELCOME_TEXT {
                    return Err(bad(Msg::WelcomeTextTooLong { n, max: MAX_WELCOME_TEXT }));
                }
                Ok(Welcome::Text { content })
            }
            Welcome::News { title, description, url, pic_url } => {
                let title = title.trim().to_owned();
                let description = description.trim().to_owned();
                let url = url.trim().to_owned();
                let n = title.chars().count();
                if n == 0 || n > MAX_NEWS_TITLE {
                    return Err(bad(Msg::ArticleTitleLength { n, max: MAX_NEWS_TITLE }));
                }
                let d = description.chars().count();
                if d > MAX_NEWS_DESCRIPTION {
                    return Err(bad(Msg::ArticleDescriptionTooLong { n: d, max: MAX_NEWS_DESCRIPTION }));
                }
                if !is_web_url(&url) {
                    return Err(bad(Msg::ArticleLinkInvalid));
                }
                let pic_url = pic_url.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
                if let Some(p) = &pic_url
                    && !is_web_url(p)
                {
                    return Err(bad(Msg::ArticlePictureInvalid));
                }
                Ok(Welcome::News { title, description, url, pic_url })
            }
        }
    }
}

fn is_web_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
}

/// What a new campaign is made of (the new-campaign form, the CLI).
#[derive(Clone, Debug, Default)]
pub struct CampaignInput {
    pub account_id: i32,
    pub name: String,
    /// Free-form folder for filtering; blank means none.
    pub group: Option<String>,
    /// `permanent` or `temporary`.
    pub kind: String,
    /// A number 1–100000 or a string of 1–64 characters; `None` or blank: the smallest free
    /// number of the account.
    pub scene: Option<String>,
    /// Temporary codes only: days until the code expires, 1–30. Ignored for permanent codes.
    pub expire_days: Option<i32>,
    /// Temporary codes only: issue a fresh ticket before the current one expires.
    pub auto_renew: bool,
    pub welcome: Option<Welcome>,
    /// WeChat tag given to followers who come through this code (≤ 30 characters).
    pub tag_name: Option<String>,
}

/// The fields of a campaign that can change. Kind, scene and account never do: the printed
/// code carries the scene.
#[derive(Clone, Debug, Default)]
pub struct CampaignEdit {
    pub name: String,
    pub group: Option<String>,
    /// Temporary codes: the life of codes issued from now on (the current code keeps its own).
    pub expire_days: Option<i32>,
    pub auto_renew: bool,
    pub welcome: Option<Welcome>,
    pub tag_name: Option<String>,
}

/// A campaign's current code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeView {
    pub ticket: String,
    /// The text inside the QR code.
    pub url: String,
    /// Temporary codes: when WeChat stops honouring it.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where a campaign stands, as badges and the status filter show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    /// A temporary code expiring within [`EXPIRING_WITHIN_DAYS`].
    ExpiringSoon,
    Expired,
    Archived,
    /// No code was ever stored (should not happen; shown so it can be fixed by renewing).
    NoCode,
}

impl Status {
    /// The spelling of badges and of the `status` filter.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::ExpiringSoon => "expiring",
            Status::Expired => "expired",
            Status::Archived => "archived",
            Status::NoCode => "no_code",
        }
    }

    fn of(archived: bool, code: Option<&CodeView>, now: DateTime<Utc>) -> Status {
        if archived {
            return Status::Archived;
        }
        match code {
            None => Status::NoCode,
            Some(CodeView { expires_at: Some(t), .. }) if *t <= now => Status::Expired,
            Some(CodeView { expires_at: Some(t), .. }) if *t <= now + Duration::days(EXPIRING_WITHIN_DAYS) => {
                Status::ExpiringSoon
            }
            Some(_) => Status::Active,
        }
    }
}

/// A campaign as pages, exports and routes see it: its account, current code and totals.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignView {
    pub id: i32,
    pub account_id: i32,
    pub account_name: String,
    pub app_id: String,
    pub name: String,
    pub group: Option<String>,
    /// `permanent` or `temporary`.
    pub kind: String,
    /// Canonical scene text.
    pub scene: String,
    pub expire_days: Option<i32>,
    pub auto_renew: bool,
    pub welcome: Option<Welcome>,
    pub tag_name: Option<String>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub code: Option<CodeView>,
    pub status: Status,
    /// Sums over the hourly counters.
    pub scans: i64,
    pub new_followers: i64,
    pub unsubscribes: i64,
    /// The campaign has its own logo (the bytes are not loaded).
    pub has_logo: bool,
}

/// Order of [`list`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    Name,
    #[default]
    Created,
    Scans,
}

/// Filters, order and page of [`list`].
#[derive(Clone, Debug)]
pub struct ListQuery {
    pub account_id: Option<i32>,
    /// Name contains this (case-insensitive), or the scene is exactly this.
    pub q: Option<String>,
    pub group: Option<String>,
    /// `active`, `expiring`, `expired`, `archived`, `no_code` or `all`; none: every
    /// campaign that is not archived.
    pub status: Option<String>,
    pub sort: Sort,
    pub desc: bool,
    /// 1-based.
    pub page: u64,
    /// Capped at [`MAX_PER_PAGE`].
    pub per_page: u64,
}

impl Default for ListQuery {
    /// Newest first, 50 a page, archived campaigns hidden.
    fn default() -> Self {
        Self { account_id: None, q: None, group: None, status: None, sort: Sort::Created, desc: true, page: 1, per_page: 50 }
    }
}

/// One page of [`list`]; `total` counts every match.
#[derive(Clone, Debug)]
pub struct Page {
    pub rows: Vec<CampaignView>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

// ---------------------------------------------------------------------------------------------
// SQL helpers
// ---------------------------------------------------------------------------------------------


fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// The expiry of the campaign `c`'s current code (NULL: permanent, or no code).
const CURRENT_EXPIRY: &str = "(SELECT q.expires_at FROM qr_codes q WHERE q.campaign_id = c.id ORDER BY q.id DESC LIMIT 1)";
const HAS_CODE: &str = "EXISTS (SELECT 1 FROM qr_codes q WHERE q.campaign_id = c.id)";

/// Every column of a view but its code and totals; never the logo bytes.
const VIEW_SELECT: &str = "SELECT c.id, c.account_id, a.name AS account_name, a.app_id, c.name, c.group_name, c.kind, \
     c.scene, c.expire_days, c.auto_renew, c.welcome_message, c.tag_name, c.archived_at, c.created_at, \
     CASE WHEN c.logo IS NULL THEN 0 ELSE 1 END AS has_logo \
     FROM campaigns c JOIN wechat_accounts a ON a.id = c.account_id";

fn view_from_row(r: &QueryResult, now: DateTime<Utc>) -> Result<CampaignView, DbErr> {
    let welcome: Option<String> = r.try_get("", "welcome_message")?;
    let archived_at: Option<DateTime<Utc>> = r.try_get("", "archived_at")?;
    let has_logo: i32 = r.try_get("", "has_logo")?;
    Ok(CampaignView {
        id: r.try_get("", "id")?,
        account_id: r.try_get("", "account_id")?,
        account_name: r.try_get("", "account_name")?,
        app_id: r.try_get("", "app_id")?,
        name: r.try_get("", "name")?,
        group: r.try_get("", "group_name")?,
        kind: r.try_get("", "kind")?,
        scene: r.try_get("", "scene")?,
        expire_days: r.try_get("", "expire_days")?,
        auto_renew: r.try_get("", "auto_renew")?,
        welcome: welcome.and_then(|w| match Welcome::from_json(&w) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "a campaign's welcome message is not valid JSON");
                None
            }
        }),
        tag_name: r.try_get("", "tag_name")?,
        archived_at,
        created_at: r.try_get("", "created_at")?,
        code: None,
        status: Status::of(archived_at.is_some(), None, now),
        scans: 0,
        new_followers: 0,
        unsubscribes: 0,
        has_logo: has_logo != 0,
    })
}

/// Fills in the current codes and totals of `views`: one query each, whatever their number.
async fn attach<C: ConnectionTrait>(db: &C, views: &mut [CampaignView], now: DateTime<Utc>) -> Result<(), DbErr> {
    if views.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let ids: Vec<Value> = views.iter().map(|v| v.id.into()).collect();
    let marks = placeholders(ids.len());
    let codes = db
        .query_all_raw(stmt(
            backend,
            &format!(
                "SELECT q.campaign_id, q.ticket, q.url, q.expires_at FROM qr_codes q WHERE q.id IN \
                 (SELECT MAX(q2.id) FROM qr_codes q2 WHERE q2.campaign_id IN ({marks}) GROUP BY q2.campaign_id)"
            ),
            ids.clone(),
        ))
        .await?;
    let mut by_id: HashMap<i32, CodeView> = HashMap::new();
    for r in codes {
        by_id.insert(
            r.try_get("", "campaign_id")?,
            CodeView { ticket: r.try_get("", "ticket")?, url: r.try_get("", "url")?, expires_at: r.try_get("", "expires_at")? },
        );
    }
    let totals = db
        .query_all_raw(stmt(
            backend,
            &format!(
                "SELECT campaign_id, CAST(SUM(scans) AS BIGINT) AS scans, CAST(SUM(new_followers) AS BIGINT) AS new_followers, \
                 CAST(SUM(unsubscribes) AS BIGINT) AS unsubscribes FROM campaign_hourly WHERE campaign_id IN ({marks}) \
                 GROUP BY campaign_id"
            ),
            ids,
        ))
        .await?;
    let mut sums: HashMap<i32, (i64, i64, i64)> = HashMap::new();
    for r in totals {
        sums.insert(
            r.try_get("", "campaign_id")?,
            (r.try_get("", "scans")?, r.try_get("", "new_followers")?, r.try_get("", "unsubscribes")?),
        );
    }
    for v in views.iter_mut() {
        v.code = by_id.remove(&v.id);
        v.status = Status::of(v.archived_at.is_some(), v.code.as_ref(), now);
        if let Some((s, n, u)) = sums.get(&v.id) {
            (v.scans, v.new_followers, v.unsubscribes) = (*s, *n, *u);
        }
    }
    Ok(())
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

fn unix_to_utc(secs: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(secs, 0).single()
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// Trims and checks a name: 1–64 characters, no control characters.
fn clean_name(name: &str) -> Result<String, Msg> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 {
        return Err(Msg::CampaignNameEmpty);
    }
    if n > MAX_NAME {
        return Err(Msg::NameTooLong { n, max: MAX_NAME });
    }
    if name.chars().any(char::is_control) {
        return Err(Msg::NameControl);
    }
    Ok(name.to_owned())
}

/// The short optional texts of a campaign, for their messages.
#[derive(Clone, Copy)]
enum ShortText {
    Group,
    Tag,
}

/// Trims an optional short text; blank becomes `None`.
fn clean_optional(text: Option<&str>, what: ShortText, max: usize) -> Result<Option<String>, Msg> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    let n = t.chars().count();
    if n > max {
        return Err(match what {
            ShortText::Group => Msg::GroupTooLong { n, max },
            ShortText::Tag => Msg::TagTooLong { n, max },
        });
    }
    if t.chars().any(char::is_control) {
        return Err(match what {
            ShortText::Group => Msg::GroupControl,
            ShortText::Tag => Msg::TagControl,
        });
    }
    Ok(Some(t.to_owned()))
}

/// Days of a temporary code (required, 1–30); permanent codes have none.
pub(crate) fn clean_days(kind: Kind, days: Option<i32>) -> Result<Option<i32>, Msg> {
    match kind {
        Kind::Permanent => Ok(None),
        Kind::Temporary => match days {
            None => Err(Msg::DaysMissing { max: MAX_EXPIRE_DAYS }),
            Some(d) if !(1..=MAX_EXPIRE_DAYS).contains(&d) => Err(Msg::DaysOutOfRange { max: MAX_EXPIRE_DAYS, days: d }),
            Some(d) => Ok(Some(d)),
        },
    }
}

/// Parses typed scene text (trimmed); `None` means "assign one".
fn clean_scene(text: Option<&str>) -> Result<Option<Scene>, Msg> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => Scene::parse(t).map(Some).map_err(|e| match e {
            wechat::SceneError::IdOutOfRange(id) => Msg::SceneIdOutOfRange { id },
            wechat::SceneError::StrLength(n) => Msg::SceneTextLength { n },
            wechat::SceneError::StrControl => Msg::SceneTextControl,
        }),
    }
}

fn scene_taken_message(scene: &str, holder: &str, archived: bool) -> Msg {
    let (scene, holder) = (scene.to_owned(), holder.to_owned());
    if archived { Msg::SceneTakenArchived { scene, holder } } else { Msg::SceneTaken { scene, holder } }
}

fn name_taken_message(name: &str) -> Msg {
    Msg::CampaignNameTaken { name: name.to_owned() }
}

/// The campaign that holds `scene` in the account, and whether it is archived.
async fn scene_holder<C: ConnectionTrait>(db: &C, account_id: i32, scene: &str) -> Result<Option<(String, bool)>, DbErr> {
    let row: Option<(String, Option<DateTime<Utc>>)> = campaign::Entity::find()
        .select_only()
        .column(campaign::Column::Name)
        .column(campaign::Column::ArchivedAt)
        .filter(campaign::Column::AccountId.eq(account_id))
        .filter(campaign::Column::Scene.eq(scene))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.map(|(n, a)| (n, a.is_some())))
}

/// The Conflict for a scene that turned out to be taken (also after losing an insert race).
async fn scene_conflict<C: ConnectionTrait>(db: &C, account_id: i32, scene: &str) -> ServiceError {
    let message = match scene_holder(db, account_id, scene).await {
        Ok(Some((holder, archived))) => scene_taken_message(scene, &holder, archived),
        _ => Msg::SceneTakenByAnother { scene: scene.to_owned() },
    };
    ServiceError::conflict("scene", message)
}

/// Is `name` used by a campaign of the account that is not archived (other than `except`)?
async fn name_taken<C: ConnectionTrait>(db: &C, account_id: i32, name: &str, except: Option<i32>) -> Result<bool, DbErr> {
    let mut q = campaign::Entity::find()
        .select_only()
        .column(campaign::Column::Id)
        .filter(campaign::Column::AccountId.eq(account_id))
        .filter(campaign::Column::Name.eq(name))
        .filter(campaign::Column::ArchivedAt.is_null());
    if let Some(id) = except {
        q = q.filter(campaign::Column::Id.ne(id));
    }
    Ok(q.into_tuple::<i32>().one(db).await?.is_some())
}

async fn account_exists<C: ConnectionTrait>(db: &C, account_id: i32) -> Result<bool, DbErr> {
    Ok(wechat_account::Entity::find_by_id(account_id)
        .select_only()
        .column(wechat_account::Column::Id)
        .into_tuple::<i32>()
        .one(db)
        .await?
        .is_some())
}

/// A campaign ready to be issued and stored.
struct NewCampaign {
    account_id: i32,
    name: String,
    group: Option<String>,
    kind: Kind,
    scene: Scene,
    expire_days: Option<i32>,
    auto_renew: bool,
    welcome: Option<Welcome>,
    tag_name: Option<String>,
}

/// Every check of [`create`] at `now`, field by field, before anything is sent or stored.
async fn validate_input<C: ConnectionTrait>(db: &C, input: &CampaignInput, now: DateTime<Utc>) -> Result<NewCampaign, ServiceError> {
    let name = clean_name(&input.name).map_err(|m| ServiceError::invalid("name", m))?;
    let group = clean_optional(input.group.as_deref(), ShortText::Group, MAX_GROUP).map_err(|m| ServiceError::invalid("group", m))?;
    let kind: Kind = input.kind.parse()?;
    let scene = clean_scene(input.scene.as_deref()).map_err(|m| ServiceError::invalid("scene", m))?;
    let expire_days = clean_days(kind, input.expire_days).map_err(|m| ServiceError::invalid("expire_days", m))?;
    let welcome = input.welcome.clone().map(Welcome::validated).transpose()?;
    let tag_name =
        clean_optional(input.tag_name.as_deref(), ShortText::Tag, MAX_TAG).map_err(|m| ServiceError::invalid("tag_name", m))?;
    if !account_exists(db, input.account_id).await? {
        return Err(ServiceError::invalid("account_id", Msg::AccountRequired));
    }
    if name_taken(db, input.account_id, &name, None).await? {
        return Err(ServiceError::conflict("name", name_taken_message(&name)));
    }
    if kind == Kind::Permanent && scenes::permanent_issued(db, input.account_id).await? >= PERMANENT_QUOTA {
        return Err(ServiceError::invalid("kind", Msg::PermanentQuotaFull));
    }
    let scene = match scene {
        Some(s) => {
            if let Some((holder, archived)) = scene_holder(db, input.account_id, &s.to_string()).await? {
                return Err(ServiceError::conflict("scene", scene_taken_message(&s.to_string(), &holder, archived)));
            }
            scenes::check_typed(db, input.account_id, &s.to_string(), now).await?;
            s
        }
        None => match scenes::next_free(db, input.account_id, now).await? {
            Some(n) => Scene::Id(n),
            None => {
                return Err(ServiceError::invalid("scene", Msg::ScenesExhausted));
            }
        },
    };
    Ok(NewCampaign {
        account_id: input.account_id,
        name,
        group,
        kind,
        scene,
        expire_days,
        auto_renew: kind == Kind::Temporary && input.auto_renew,
        welcome,
        tag_name,
    })
}

/// Asks WeChat for a code; the error is the message to show.
pub(crate) async fn issue(api: &dyn WechatApi, scene: &Scene, kind: Kind, days: Option<i32>) -> Result<wechat::QrCode, Msg> {
    let lifetime = match kind {
        Kind::Permanent => QrLifetime::Permanent,
        Kind::Temporary => {
            // Validated 1–30 before: at most 2 592 000 s, WeChat's maximum.
            let days = days.unwrap_or(MAX_EXPIRE_DAYS).clamp(1, MAX_EXPIRE_DAYS) as u32;
            QrLifetime::Temporary { expire_seconds: days * 86_400 }
        }
    };
    api.create_qr_code(&QrCodeRequest { scene: scene.clone(), lifetime })
        .await
        .map_err(|e| Msg::CodeNotIssued(Box::new(crate::msg::from_wechat(&e))))
}

/// The campaign whose code [`insert_code`] stores.
pub(crate) struct CodeOwner<'a> {
    pub campaign_id: i32,
    pub account_id: i32,
    pub scene: &'a str,
    pub kind: Kind,
}

/// Stores a code WeChat issued at `now` for `owner`, and its scene in `issued_scenes`;
/// returns its expiry. The expiry is dated from `now`, the clock's time before the request,
/// with the life WeChat granted: on the clock that renewals run by.
pub(crate) async fn insert_code(
    txn: &DatabaseTransaction,
    owner: CodeOwner<'_>,
    code: &wechat::QrCode,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let expires_at = match code.expire_seconds {
        Some(secs) => Some(now + Duration::seconds(secs)),
        None => code.expires_at.and_then(unix_to_utc),
    };
    qr_code::ActiveModel {
        campaign_id: Set(owner.campaign_id),
        ticket: Set(code.ticket.clone()),
        url: Set(code.url.clone()),
        expires_at: Set(expires_at),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    scenes::record(txn, owner.account_id, owner.scene, owner.kind == Kind::Permanent, expires_at).await?;
    Ok(expires_at)
}

/// Inserts the campaign and its first code; returns the campaign id.
async fn insert_new(
    txn: &DatabaseTransaction,
    c: &NewCampaign,
    code: &wechat::QrCode,
    actor: Option<i32>,
    now: DateTime<Utc>,
) -> Result<i32, DbErr> {
    let model = campaign::ActiveModel {
        account_id: Set(c.account_id),
        name: Set(c.name.clone()),
        group_name: Set(c.group.clone()),
        kind: Set(c.kind.as_str().to_owned()),
        scene: Set(c.scene.to_string()),
        expire_days: Set(c.expire_days),
        auto_renew: Set(c.auto_renew),
        welcome_message: Set(c.welcome.as_ref().map(Welcome::to_json)),
        tag_name: Set(c.tag_name.clone()),
        tag_id: Set(None),
        archived_at: Set(None),
        created_by: Set(actor),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let scene = c.scene.to_string();
    insert_code(txn, CodeOwner { campaign_id: model.id, account_id: c.account_id, scene: &scene, kind: c.kind }, code, now).await?;
    Ok(model.id)
}

// ---------------------------------------------------------------------------------------------
// Create, read
// ---------------------------------------------------------------------------------------------

/// Creates a campaign and issues its code.
///
/// Everything is checked first (nothing is sent to WeChat or stored on a bad field); then the
/// code is issued, and the campaign, its code and the audit row are stored in one transaction.
/// A WeChat refusal is a `Validation` on field `wechat` with WeChat's reason.
pub async fn create(st: &AppState, api: &dyn WechatApi, input: CampaignInput, actor: Option<i32>) -> Result<CampaignView, ServiceError> {
    let db = &st.db;
    let now = st.clock.now();
    let c = validate_input(db, &input, now).await?;
    let code = issue(api, &c.scene, c.kind, c.expire_days).await.map_err(|m| ServiceError::invalid("wechat", m))?;
    let txn = db.begin().await?;
    let id = match insert_new(&txn, &c, &code, actor, now).await {
        Ok(id) => id,
        Err(e) => {
            txn.rollback().await.ok();
            // Another request took the scene between our check and this insert.
            if is_unique_violation(&e) {
                return Err(scene_conflict(db, c.account_id, &c.scene.to_string()).await);
            }
            return Err(e.into());
        }
    };
    audit::record(
        &txn,
        actor,
        "campaign.create",
        "campaign",
        Some(id.to_string()),
        json!({ "name": c.name, "account_id": c.account_id, "kind": c.kind.as_str(), "scene": c.scene.to_string() }),
    )
    .await?;
    txn.commit().await?;
    get(db, id).await
}

/// One campaign with its current code and totals.
pub async fn get<C: ConnectionTrait>(db: &C, id: i32) -> Result<CampaignView, ServiceError> {
    let now = Utc::now();
    let row = db
        .query_one_raw(stmt(db.get_database_backend(), &format!("{VIEW_SELECT} WHERE c.id = ?"), vec![id.into()]))
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut views = [view_from_row(&row, now)?];
    attach(db, &mut views, now).await?;
    let [view] = views;
    Ok(view)
}

/// A page of campaigns, filtered and sorted.
///
/// Four queries whatever the page size: the count, the page's rows, then the current codes
/// and the totals of just those rows. Status filters compare the current code's expiry in
/// SQL, so paging stays right.
pub async fn list<C: ConnectionTrait>(db: &C, query: &ListQuery) -> Result<Page, ServiceError> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    let (where_sql, vals) = list_filter(query, now)?;
    let total = count_where(db, &where_sql, vals.clone()).await?;
    let dir = if query.desc { "DESC" } else { "ASC" };
    let order = match query.sort {
        Sort::Name => format!("LOWER(c.name) {dir}, c.id {dir}"),
        Sort::Created => format!("c.created_at {dir}, c.id {dir}"),
        Sort::Scans => {
            format!("(SELECT COALESCE(SUM(h.scans), 0) FROM campaign_hourly h WHERE h.campaign_id = c.id) {dir}, c.id {dir}")
        }
    };
    let per_page = query.per_page.clamp(1, MAX_PER_PAGE);
    let page = query.page.max(1);
    let mut row_vals = vals;
    row_vals.push((per_page as i64).into());
    row_vals.push((((page - 1).saturating_mul(per_page)).min(i64::MAX as u64) as i64).into());
    let rows = db
        .query_all_raw(stmt(backend, &format!("{VIEW_SELECT}{where_sql} ORDER BY {order} LIMIT ? OFFSET ?"), row_vals))
        .await?;
    let mut views = rows.iter().map(|r| view_from_row(r, now)).collect::<Result<Vec<_>, _>>()?;
    attach(db, &mut views, now).await?;
    Ok(Page { rows: views, total, page, per_page })
}

/// The `WHERE` clause (with its values) of a [`ListQuery`]'s filters, at instant `now`.
fn list_filter(query: &ListQuery, now: chrono::DateTime<Utc>) -> Result<(String, Vec<Value>), ServiceError> {
    let soon = now + Duration::days(EXPIRING_WITHIN_DAYS);
    let mut conds: Vec<String> = Vec::new();
    let mut vals: Vec<Value> = Vec::new();
    if let Some(a) = query.account_id {
        conds.push("c.account_id = ?".into());
        vals.push(a.into());
    }
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let escaped: String = q
            .to_lowercase()
            .chars()
            .flat_map(|ch| match ch {
                '\\' | '%' | '_' => vec!['\\', ch],
                _ => vec![ch],
            })
            .collect();
        conds.push("(LOWER(c.name) LIKE ? ESCAPE '\\' OR c.scene = ?)".into());
        vals.push(format!("%{escaped}%").into());
        vals.push(q.to_owned().into());
    }
    if let Some(g) = query.group.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        conds.push("c.group_name = ?".into());
        vals.push(g.to_owned().into());
    }
    let status = query.status.as_deref().map(str::trim).filter(|s| !s.is_empty());
    match status {
        Some("all") => {}
        Some("archived") => conds.push("c.archived_at IS NOT NULL".into()),
        other => {
            conds.push("c.archived_at IS NULL".into());
            match other {
                None => {}
                Some("active") => {
                    conds.push(format!("{HAS_CODE} AND ({CURRENT_EXPIRY} IS NULL OR {CURRENT_EXPIRY} > ?)"));
                    vals.push(soon.into());
                }
                Some("expiring") => {
                    conds.push(format!("{CURRENT_EXPIRY} > ? AND {CURRENT_EXPIRY} <= ?"));
                    vals.push(now.into());
                    vals.push(soon.into());
                }
                Some("expired") => {
                    conds.push(format!("{CURRENT_EXPIRY} <= ?"));
                    vals.push(now.into());
                }
                Some("no_code") => conds.push(format!("NOT {HAS_CODE}")),
                Some(s) => {
                    return Err(ServiceError::invalid("status", Msg::StatusUnknown { value: s.to_owned() }));
                }
            }
        }
    }
    let where_sql = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    Ok((where_sql, vals))
}

async fn count_where<C: ConnectionTrait>(db: &C, where_sql: &str, vals: Vec<Value>) -> Result<u64, ServiceError> {
    let n: i64 = db
        .query_one_raw(stmt(db.get_database_backend(), &format!("SELECT COUNT(*) AS n FROM campaigns c{where_sql}"), vals))
        .await?
        .map(|r| r.try_get("", "n"))
        .transpose()?
        .unwrap_or(0);
    Ok(n.max(0) as u64)
}

/// How many campaigns match `query`'s filters (its order and page are ignored): what a badge
/// or a banner needs, without reading any row or total of a campaign.
pub async fn count<C: ConnectionTrait>(db: &C, query: &ListQuery) -> Result<u64, ServiceError> {
    let (where_sql, vals) = list_filter(query, Utc::now())?;
    count_where(db, &where_sql, vals).await
}

/// The groups in use (archived campaigns included), sorted.
pub async fn groups<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, ServiceError> {
    let rows = db
        .query_all_raw(stmt(
            db.get_database_backend(),
            "SELECT DISTINCT group_name FROM campaigns WHERE group_name IS NOT NULL ORDER BY group_name",
            vec![],
        ))
        .await?;
    Ok(rows.iter().map(|r| r.try_get::<String>("", "group_name")).collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------------
// Update, archive, delete
// ---------------------------------------------------------------------------------------------

/// Saves the editable fields (same checks as [`create`]); audit `campaign.update` lists the
/// changed fields. A new tag name forgets the old tag's WeChat id.
pub async fn update(st: &AppState, id: i32, edit: CampaignEdit, actor: Option<i32>) -> Result<CampaignView, ServiceError> {
    let db = &st.db;
    let current = get(db, id).await?;
    let kind: Kind = current.kind.parse()?;
    let name = clean_name(&edit.name).map_err(|m| ServiceError::invalid("name", m))?;
    let group = clean_optional(edit.group.as_deref(), ShortText::Group, MAX_GROUP).map_err(|m| ServiceError::invalid("group", m))?;
    let expire_days = clean_days(kind, edit.expire_days).map_err(|m| ServiceError::invalid("expire_days", m))?;
    let welcome = edit.welcome.map(Welcome::validated).transpose()?;
    let tag_name =
        clean_optional(edit.tag_name.as_deref(), ShortText::Tag, MAX_TAG).map_err(|m| ServiceError::invalid("tag_name", m))?;
    let auto_renew = kind == Kind::Temporary && edit.auto_renew;
    // An archived campaign's name is checked again when it is restored.
    if current.archived_at.is_none() && name != current.name && name_taken(db, current.account_id, &name, Some(id)).await? {
        return Err(ServiceError::conflict("name", name_taken_message(&name)));
    }

    let mut changed: Vec<&str> = Vec::new();
    let mut up = campaign::Entity::update_many().filter(campaign::Column::Id.eq(id));
    if name != current.name {
        changed.push("name");
        up = up.col_expr(campaign::Column::Name, Expr::value(name.clone()));
    }
    if group != current.group {
        changed.push("group");
        up = up.col_expr(campaign::Column::GroupName, Expr::value(group));
    }
    if expire_days != current.expire_days {
        changed.push("expire_days");
        up = up.col_expr(campaign::Column::ExpireDays, Expr::value(expire_days));
    }
    if auto_renew != current.auto_renew {
        changed.push("auto_renew");
        up = up.col_expr(campaign::Column::AutoRenew, Expr::value(auto_renew));
    }
    if welcome != current.welcome {
        changed.push("welcome");
        up = up.col_expr(campaign::Column::WelcomeMessage, Expr::value(welcome.as_ref().map(Welcome::to_json)));
    }
    if tag_name != current.tag_name {
        changed.push("tag_name");
        up = up
            .col_expr(campaign::Column::TagName, Expr::value(tag_name))
            .col_expr(campaign::Column::TagId, Expr::value(Option::<i64>::None));
    }
    if changed.is_empty() {
        return Ok(current);
    }
    up = up.col_expr(campaign::Column::UpdatedAt, Expr::value(Utc::now()));
    let txn = db.begin().await?;
    up.exec(&txn).await?;
    audit::record(&txn, actor, "campaign.update", "campaign", Some(id.to_string()), json!({ "changed": changed })).await?;
    txn.commit().await?;
    get(db, id).await
}

/// Hides a campaign from lists and dashboards; its history and code stay (scans still count).
pub async fn archive(st: &AppState, id: i32, actor: Option<i32>) -> Result<CampaignView, ServiceError> {
    let db = &st.db;
    let current = get(db, id).await?;
    if current.archived_at.is_some() {
        return Ok(current);
    }
    let now = Utc::now();
    let txn = db.begin().await?;
    campaign::Entity::update_many()
        .col_expr(campaign::Column::ArchivedAt, Expr::value(Some(now)))
        .col_expr(campaign::Column::UpdatedAt, Expr::value(now))
        .filter(campaign::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    audit::record(&txn, actor, "campaign.archive", "campaign", Some(id.to_string()), json!({ "name": current.name })).await?;
    txn.commit().await?;
    get(db, id).await
}

/// Brings an archived campaign back, unless another live campaign took its name meanwhile.
pub async fn unarchive(st: &AppState, id: i32, actor: Option<i32>) -> Result<CampaignView, ServiceError> {
    let db = &st.db;
    let current = get(db, id).await?;
    if current.archived_at.is_none() {
        return Ok(current);
    }
    if name_taken(db, current.account_id, &current.name, Some(id)).await? {
        return Err(ServiceError::conflict("name", Msg::CampaignNameTakenOnRestore { name: current.name.clone() }));
    }
    let txn = db.begin().await?;
    campaign::Entity::update_many()
        .col_expr(campaign::Column::ArchivedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(campaign::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(campaign::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    audit::record(&txn, actor, "campaign.unarchive", "campaign", Some(id.to_string()), json!({ "name": current.name })).await?;
    txn.commit().await?;
    get(db, id).await
}

/// Deletes a campaign that never recorded a scan, with its codes. One with history is
/// refused (archive keeps its history in the charts). Its scene stays in `issued_scenes`: the
/// quota WeChat charged is not returned, and the scene is not handed out while a printed copy
/// of its code can still be scanned ([`crate::scenes`]).
pub async fn delete(st: &AppState, id: i32, actor: Option<i32>) -> Result<(), ServiceError> {
    let db = &st.db;
    let txn = db.begin().await?;
    let found: Option<(String, String)> = campaign::Entity::find_by_id(id)
        .select_only()
        .column(campaign::Column::Name)
        .column(campaign::Column::Scene)
        .into_tuple()
        .one(&txn)
        .await?;
    let Some((name, scene)) = found else {
        txn.rollback().await.ok();
        return Err(ServiceError::NotFound);
    };
    let has_events = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::CampaignId.eq(id))
        .into_tuple::<i64>()
        .one(&txn)
        .await?
        .is_some();
    let has_counters = campaign_hourly::Entity::find()
        .select_only()
        .column(campaign_hourly::Column::Hour)
        .filter(campaign_hourly::Column::CampaignId.eq(id))
        .into_tuple::<i64>()
        .one(&txn)
        .await?
        .is_some();
    if has_events || has_counters {
        txn.rollback().await.ok();
        return Err(ServiceError::conflict("campaign", Msg::CampaignHasScans));
    }
    qr_code::Entity::delete_many().filter(qr_code::Column::CampaignId.eq(id)).exec(&txn).await?;
    campaign::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(&txn, actor, "campaign.delete", "campaign", Some(id.to_string()), json!({ "name": name, "scene": scene })).await?;
    txn.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scene resolution (renewal is in `crate::renewal`)
// ---------------------------------------------------------------------------------------------

/// The campaign a push belongs to: by scene (unique per account), else by ticket (an old code
/// of the campaign). Archived campaigns resolve too: their printed codes still work. Each
/// lookup is one query on a unique index.
pub async fn resolve_scene<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    scene: &str,
    ticket: Option<&str>,
) -> Result<Option<i32>, ServiceError> {
    if !scene.is_empty() {
        let by_scene = campaign::Entity::find()
            .select_only()
            .column(campaign::Column::Id)
            .filter(campaign::Column::AccountId.eq(account_id))
            .filter(campaign::Column::Scene.eq(scene))
            .into_tuple::<i32>()
            .one(db)
            .await?;
        if by_scene.is_some() {
            return Ok(by_scene);
        }
    }
    let Some(ticket) = ticket.filter(|t| !t.is_empty()) else { return Ok(None) };
    let row = db
        .query_one_raw(stmt(
            db.get_database_backend(),
            "SELECT q.campaign_id FROM qr_codes q JOIN campaigns c ON c.id = q.campaign_id WHERE q.ticket = ? AND c.account_id = ?",
            vec![ticket.to_owned().into(), account_id.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i32>("", "campaign_id")).transpose()?)
}

// ---------------------------------------------------------------------------------------------
// CSV import
// ---------------------------------------------------------------------------------------------

/// A good row of an import file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    /// Physical line of the file (1-based, the header counted).
    pub line: u64,
    pub name: String,
    /// Canonical scene; rows that left it blank get the next free numbers.
    pub scene: Option<String>,
    /// `permanent` or `temporary`.
    pub kind: String,
    pub group: Option<String>,
    pub expire_days: Option<i32>,
}

/// What is wrong with one line of an import file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: Msg,
}

/// The outcome of checking an import file: the rows as they would be created, and every
/// problem found (all of them, not just the first).
#[derive(Clone, Debug, Default)]
pub struct ImportPlan {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<RowError>,
}

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailed {
    /// Some rows are bad (or WeChat refused one); each says its line.
    #[error("{} rows of the file have problems", .0.len())]
    Rows(Vec<RowError>),
    /// The file as a whole, or the system, failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Rows of the checks that look at the database, per query (well under every backend's
/// parameter limit).
const IMPORT_CHUNK: usize = 500;

struct Draft {
    line: u64,
    name: Option<String>,
    scene: Option<Scene>,
    scene_blank: bool,
    kind: Option<Kind>,
    group: Option<String>,
    expire_days: Option<i32>,
    problems: Vec<Msg>,
}

/// Checks an import file for `account_id`: `name,scene,kind[,group,expire_days]` rows, an
/// optional header (first cell "name"), UTF-8 BOM, CRLF and blank lines tolerated. Problems of
/// single rows come back in [`ImportPlan::errors`] with their line numbers; a file that cannot
/// be taken at all (too large, too many rows, unknown account) is an `Err`.
pub async fn plan_import<C: ConnectionTrait>(db: &C, account_id: i32, csv_text: &str) -> Result<ImportPlan, ServiceError> {
    plan_import_at(db, account_id, csv_text, Utc::now()).await
}

/// [`plan_import`] at `now` (the state's clock): which deleted campaigns' temporary codes
/// still hold their scenes.
pub async fn plan_import_at<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    csv_text: &str,
    now: DateTime<Utc>,
) -> Result<ImportPlan, ServiceError> {
    if csv_text.len() > MAX_IMPORT_BYTES {
        return Err(ServiceError::invalid("csv", Msg::CsvTooLarge { kib: csv_text.len() / 1024 }));
    }
    if !account_exists(db, account_id).await? {
        return Err(ServiceError::invalid("account_id", Msg::AccountRequired));
    }
    let text = csv_text.strip_prefix('\u{feff}').unwrap_or(csv_text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut drafts: Vec<Draft> = Vec::new();
    let mut errors: Vec<RowError> = Vec::new();
    let mut first = true;
    let mut lines = LineCounter::new(text);
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(p.byte() as usize));
                errors.push(RowError { line, message: Msg::CsvUnreadable { detail: e.to_string() } });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| lines.line_at(p.byte() as usize));
        let cells: Vec<&str> = record.iter().map(str::trim).collect();
        if cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        if std::mem::take(&mut first) && cells[0].eq_ignore_ascii_case("name") {
            continue;
        }
        if drafts.len() >= MAX_IMPORT_ROWS {
            return Err(ServiceError::invalid("csv", Msg::CsvTooManyRows { max: MAX_IMPORT_ROWS }));
        }
        drafts.push(parse_row(line, &cells));
    }

    if drafts.is_empty() && errors.is_empty() {
        return Err(ServiceError::invalid("csv", Msg::CsvNoRows));
    }

    // Duplicates inside the file, against the earliest line.
    let mut scene_lines: HashMap<String, u64> = HashMap::new();
    let mut name_lines: HashMap<String, u64> = HashMap::new();
    for d in &mut drafts {
        if let Some(s) = &d.scene {
            let s = s.to_string();
            match scene_lines.get(&s) {
                Some(earlier) => d.problems.push(Msg::CsvSceneRepeated { scene: s.clone(), line: *earlier }),
                None => {
                    scene_lines.insert(s, d.line);
                }
            }
        }
        if let Some(n) = &d.name {
            match name_lines.get(n) {
                Some(earlier) => d.problems.push(Msg::CsvNameRepeated { name: n.clone(), line: *earlier }),
                None => {
                    name_lines.insert(n.clone(), d.line);
                }
            }
        }
    }

    // Scenes and names already used in the account.
    let typed_scenes: Vec<String> = scene_lines.keys().cloned().collect();
    let mut holders: HashMap<String, (String, bool)> = HashMap::new();
    for chunk in typed_scenes.chunks(IMPORT_CHUNK) {
        let mut vals: Vec<Value> = vec![account_id.into()];
        vals.extend(chunk.iter().map(|s| Value::from(s.clone())));
        let rows = db
            .query_all_raw(stmt(
                db.get_database_backend(),
                &format!(
                    "SELECT scene, name, archived_at FROM campaigns WHERE account_id = ? AND scene IN ({})",
                    placeholders(chunk.len())
                ),
                vals,
            ))
            .await?;
        for r in rows {
            let archived: Option<DateTime<Utc>> = r.try_get("", "archived_at")?;
            holders.insert(r.try_get("", "scene")?, (r.try_get("", "name")?, archived.is_some()));
        }
    }
    // Scenes no campaign has, but a deleted campaign's ticket still holds.
    let unheld: Vec<String> = typed_scenes.iter().filter(|s| !holders.contains_key(*s)).cloned().collect();
    let ticketed = scenes::held_by_tickets(db, account_id, &unheld, now).await?;
    let names: Vec<String> = name_lines.keys().cloned().collect();
    let mut taken_names: HashSet<String> = HashSet::new();
    for chunk in names.chunks(IMPORT_CHUNK) {
        let mut vals: Vec<Value> = vec![account_id.into()];
        vals.extend(chunk.iter().map(|s| Value::from(s.clone())));
        let rows = db
            .query_all_raw(stmt(
                db.get_database_backend(),
                &format!(
                    "SELECT name FROM campaigns WHERE account_id = ? AND archived_at IS NULL AND name IN ({})",
                    placeholders(chunk.len())
                ),
                vals,
            ))
            .await?;
        for r in rows {
            taken_names.insert(r.try_get("", "name")?);
        }
    }
    for d in &mut drafts {
        if let Some(s) = &d.scene
            && let Some((holder, archived)) = holders.get(&s.to_string())
        {
            d.problems.push(scene_taken_message(&s.to_string(), holder, *archived));
        }
        if let Some(s) = &d.scene
            && let Some(until) = ticketed.get(&s.to_string())
        {
            d.problems.push(scenes::held_message(&s.to_string(), *until));
        }
        if let Some(n) = &d.name
            && taken_names.contains(n)
        {
            d.problems.push(name_taken_message(n));
        }
    }

    // Permanent codes beyond the account's quota.
    let used = scenes::permanent_issued(db, account_id).await?;
    let mut left = PERMANENT_QUOTA.saturating_sub(used);
    for d in drafts.iter_mut().filter(|d| d.kind == Some(Kind::Permanent)) {
        if left == 0 {
            d.problems.push(Msg::CsvRowOverQuota { used });
        } else {
            left -= 1;
        }
    }

    // Blank scenes: the smallest free numbers, skipping the numbers typed in the file.
    let typed: BTreeSet<u32> = drafts
        .iter()
        .filter_map(|d| match &d.scene {
            Some(Scene::Id(n)) => Some(*n),
            _ => None,
        })
        .collect();
    let auto_count = drafts.iter().filter(|d| d.scene_blank).count();
    if auto_count > 0 {
        let ranges = scenes::free_ranges(db, account_id, (auto_count + typed.len() + 1) as u64, now).await?;
        let mut free = scenes::take_free(&ranges, auto_count, &typed).into_iter();
        for d in drafts.iter_mut().filter(|d| d.scene_blank) {
            match free.next() {
                Some(n) => d.scene = Some(Scene::Id(n)),
                None => d.problems.push(Msg::CsvNoSceneLeft),
            }
        }
    }

    let mut rows = Vec::with_capacity(drafts.len());
    for mut d in drafts {
        if !d.problems.is_empty() {
            let message = if d.problems.len() == 1 { d.problems.remove(0) } else { Msg::Several(d.problems) };
            errors.push(RowError { line: d.line, message });
            continue;
        }
        if let (Some(name), Some(scene), Some(kind)) = (d.name, d.scene, d.kind) {
            rows.push(ImportRow {
                line: d.line,
                name,
                scene: Some(scene.to_string()),
                kind: kind.as_str().to_owned(),
                group: d.group,
                expire_days: d.expire_days,
            });
        }
    }
    errors.sort_by_key(|e| e.line);
    Ok(ImportPlan { rows, errors })
}

/// Physical line numbers of CSV records.
///
/// The csv crate's own line numbers skip blank lines and count CRLF wrongly, and its byte
/// offset of a record may point at the line ends before it; so the offset is moved past line
/// ends and the lines before it are counted here (CRLF, LF or a lone CR each end one line).
struct LineCounter<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self { bytes: text.as_bytes(), pos: 0, line: 1 }
    }

    /// The line of the record reported at `offset`; offsets must not decrease.
    fn line_at(&mut self, offset: usize) -> u64 {
        let mut start = offset.min(self.bytes.len());
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        while self.pos < start {
            match self.bytes[self.pos] {
                b'\n' => self.line += 1,
                b'\r' if self.bytes.get(self.pos + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
            self.pos += 1;
        }
        self.line
    }
}

/// Checks one row on its own.
fn parse_row(line: u64, cells: &[&str]) -> Draft {
    let mut d = Draft {
        line,
        name: None,
        scene: None,
        scene_blank: false,
        kind: None,
        group: None,
        expire_days: None,
        problems: Vec::new(),
    };
    if !(3..=5).contains(&cells.len()) {
        d.problems.push(Msg::CsvColumns { found: cells.len() });
        return d;
    }
    match clean_name(cells[0]) {
        Ok(n) => d.name = Some(n),
        Err(m) => d.problems.push(m),
    }
    match clean_scene(Some(cells[1])) {
        Ok(Some(s)) => d.scene = Some(s),
        Ok(None) => d.scene_blank = true,
        Err(m) => d.problems.push(m),
    }
    match cells[2].parse::<Kind>() {
        Ok(k) => d.kind = Some(k),
        Err(_) => d.problems.push(kind_message(cells[2])),
    }
    match clean_optional(cells.get(3).copied(), ShortText::Group, MAX_GROUP) {
        Ok(g) => d.group = g,
        Err(m) => d.problems.push(m),
    }
    if let Some(kind) = d.kind {
        let days = match cells.get(4).copied().filter(|c| !c.is_empty()) {
            None => Ok(None),
            Some(text) => text.parse::<i32>().map(Some).map_err(|_| Msg::DaysNotNumber { value: text.to_owned() }),
        };
        match days.and_then(|days| clean_days(kind, days)) {
            Ok(days) => d.expire_days = days,
            Err(m) => d.problems.push(m),
        }
    }
    d
}

/// Creates every campaign of an import file, or none.
///
/// The file is checked first ([`plan_import`]); then every code is issued, and only when all
/// were, the campaigns, codes and one `campaign.import` audit row are stored in one
/// transaction. A WeChat refusal is reported on the line of the row it refused.
pub async fn import(
    st: &AppState,
    api: &dyn WechatApi,
    account_id: i32,
    csv_text: &str,
    actor: Option<i32>,
) -> Result<Vec<i32>, ImportFailed> {
    let db = &st.db;
    let now = st.clock.now();
    let plan = plan_import_at(db, account_id, csv_text, now).await?;
    if !plan.errors.is_empty() {
        return Err(ImportFailed::Rows(plan.errors));
    }
    let mut campaigns = Vec::with_capacity(plan.rows.len());
    for r in &plan.rows {
        let kind: Kind = r.kind.parse()?;
        let scene = Scene::parse(r.scene.as_deref().unwrap_or_default())
            .map_err(|e| ServiceError::Internal(format!("planned scene on line {}: {e}", r.line)))?;
        campaigns.push((
            r.line,
            NewCampaign {
                account_id,
                name: r.name.clone(),
                group: r.group.clone(),
                kind,
                scene,
                expire_days: r.expire_days,
                auto_renew: false,
                welcome: None,
                tag_name: None,
            },
        ));
    }
    // Ordered, so the first refusal reported is the earliest line that was refused.
    // The futures are built by a plain iterator over owned values: a stream `map` closure
    // borrowing each row makes the future not provably `Send` (a rustc higher-ranked
    // lifetime limitation), which server functions require.
    let issuing: Vec<_> = campaigns
        .iter()
        .map(|(line, c)| {
            let (line, scene, kind, days) = (*line, c.scene.clone(), c.kind, c.expire_days);
            async move { issue(api, &scene, kind, days).await.map_err(|message| RowError { line, message }) }
        })
        .collect();
    let codes: Vec<wechat::QrCode> = futures::stream::iter(issuing)
        .buffered(IMPORT_CONCURRENCY)
        .try_collect()
        .await
        .map_err(|e| ImportFailed::Rows(vec![e]))?;

    let txn = db.begin().await.map_err(ServiceError::from)?;
    let mut ids = Vec::with_capacity(campaigns.len());
    for ((line, c), code) in campaigns.iter().zip(&codes) {
        match insert_new(&txn, c, code, actor, now).await {
            Ok(id) => ids.push(id),
            Err(e) => {
                txn.rollback().await.ok();
                // A scene taken by someone else after the file was checked.
                if is_unique_violation(&e)
                    && let ServiceError::Conflict { message, .. } = scene_conflict(db, account_id, &c.scene.to_string()).await
                {
                    return Err(ImportFailed::Rows(vec![RowError { line: *line, message }]));
                }
                return Err(ServiceError::from(e).into());
            }
        }
    }
    audit::record(&txn, actor, "campaign.import", "campaign", None, json!({ "account_id": account_id, "count": ids.len() }))
        .await
        .map_err(ServiceError::from)?;
    txn.commit().await.map_err(ServiceError::from)?;
    Ok(ids)
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// A file name safe on every system: `/\:*?"<>|` and control characters become `_`, a
/// leading dot too (no hidden files, no `..`), at most 120 characters.
fn safe_file_name(name: &str) -> String {
    let mut out: String = name
        .trim()
        .chars()
        .map(|c| if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') { '_' } else { c })
        .take(120)
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.trim().is_empty() { "file".into() } else { out }
}

/// `name (2).ext` for the second file called `name.ext`.
fn numbered(name: &str, n: usize) -> String {
    match name.rfind('.').filter(|&i| i > 0) {
        Some(i) => format!("{} ({n}){}", &name[..i], &name[i..]),
        None => format!("{name} ({n})"),
    }
}

/// The download name of a campaign's code: `{id}-{name}.{ext}`, made safe.
pub fn code_file_name(c: &CampaignView, ext: &str) -> String {
    safe_file_name(&format!("{}-{}.{}", c.id, c.name, ext))
}

/// A ZIP of `(file name, bytes)`: entries stored uncompressed (PNGs are compressed already),
/// names made safe and unique (case-insensitively, for Windows and macOS) with " (2)", " (3)"….
pub fn zip_files(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, ServiceError> {
    let zip_err = |e: zip::result::ZipError| ServiceError::Internal(format!("writing the ZIP failed: {e}"));
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    let mut used: HashSet<String> = HashSet::new();
    for (name, bytes) in files {
        let base = safe_file_name(name);
        let mut unique = base.clone();
        let mut n = 1;
        while !used.insert(unique.to_lowercase()) {
            n += 1;
            unique = numbered(&base, n);
        }
        writer.start_file(unique, options).map_err(zip_err)?;
        writer.write_all(bytes).map_err(|e| ServiceError::Internal(format!("writing the ZIP failed: {e}")))?;
    }
    Ok(writer.finish().map_err(zip_err)?.into_inner())
}
