//! The public types of campaigns: kinds, welcome messages, what the forms send, the view
//! pages and exports read, and the filters and pages of the list.

use super::{EXPIRING_WITHIN_DAYS, MAX_NEWS_DESCRIPTION, MAX_NEWS_TITLE, MAX_WELCOME_TEXT};
use crate::{Msg, ServiceError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

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

pub(super) fn kind_message(s: &str) -> Msg {
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

    pub(super) fn of(archived: bool, code: Option<&CodeView>, now: DateTime<Utc>) -> Status {
        if archived {
            return Status::Archived;
        }
        match code {
            None => Status::NoCode,
            Some(CodeView { expires_at: Some(t), .. }) if *t <= now => Status::Expired,
            Some(CodeView { expires_at: Some(t), .. }) if *t <= now + Duration::days(EXPIRING_WITHIN_DAYS) => Status::ExpiringSoon,
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
    /// By id: the order of [`ListQuery::after_id`] paging.
    Id,
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
    /// Only campaigns with a greater id (keyset paging: with [`Sort::Id`] ascending and page 1,
    /// a page starts after the last id of the one before, whatever was added meanwhile).
    pub after_id: Option<i32>,
}

impl Default for ListQuery {
    /// Newest first, 50 a page, archived campaigns hidden.
    fn default() -> Self {
        Self {
            account_id: None,
            q: None,
            group: None,
            status: None,
            sort: Sort::Created,
            desc: true,
            page: 1,
            per_page: 50,
            after_id: None,
        }
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
