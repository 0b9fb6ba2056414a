//! The dashboard's numbers: per account, today and the last 7 days, organic versus campaign
//! followers, the campaigns that brought the most followers, and codes about to expire.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// An account's headline numbers over one period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Figures {
    pub scans: i64,
    pub new_followers: i64,
    /// Follows without a scene (search, profile card).
    pub organic_followers: i64,
    /// Follows through a campaign's code.
    pub campaign_followers: i64,
    pub unsubscribes: i64,
    pub net_followers: i64,
    /// Pushes for a scene no campaign has.
    pub unknown_scene: i64,
}

/// A campaign among the best of the week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopCampaign {
    pub id: i32,
    pub name: String,
    pub new_followers: i64,
    pub scans: i64,
}

/// One account on the dashboard: its numbers and its chart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBoard {
    pub numbers: BoardNumbers,
    /// The last 30 days by day, drawn on the server (SVG).
    pub chart_svg: String,
}

/// One account's headline numbers (shared with `/api/v1`): today and the last 7 days (today
/// included) in the account's time zone, the week's best campaigns, and codes needing care.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BoardNumbers {
    pub id: i32,
    pub name: String,
    pub timezone: String,
    pub today: Figures,
    pub week: Figures,
    pub top: Vec<TopCampaign>,
    /// Temporary codes that expire within 3 days.
    pub expiring: u64,
    /// Codes that have expired and are not archived.
    pub expired: u64,
}

/// Every account's board (signed-in users); `lang` (`en` or `zh`) is the charts' language.
#[server(endpoint = "dashboard_data")]
pub async fn dashboard_data(lang: Option<String>) -> Result<Vec<AccountBoard>, AppError> {
    use service::analytics;
    crate::api::auth::ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let lang = analytics::Lang::parse(lang.as_deref());
    let now = chrono::Utc::now();
    let mut boards = Vec::new();
    for a in service::accounts::list(&st.db).await? {
        let tz = analytics::zone(&st, Some(&a.timezone));
        let b = analytics::board(&st, a.id, tz, lang, now).await?;
        let chart_svg = service::chart::inline(&b.chart)?;
        boards.push(AccountBoard { numbers: board_numbers(a, b), chart_svg });
    }
    Ok(boards)
}

/// An account's board as the dashboard and `/api/v1` show its numbers.
#[cfg(feature = "ssr")]
pub fn board_numbers(a: service::accounts::AccountView, b: service::analytics::Board) -> BoardNumbers {
    let figures = |t: service::series::AccountTotals| Figures {
        scans: t.scans,
        new_followers: t.new_followers,
        organic_followers: t.organic_followers,
        campaign_followers: t.new_followers - t.organic_followers,
        unsubscribes: t.unsubscribes,
        net_followers: t.net_followers,
        unknown_scene: t.unknown_scene_events,
    };
    let top = b.top.into_iter().map(|t| TopCampaign { id: t.id, name: t.name, new_followers: t.new_followers, scans: t.scans }).collect();
    BoardNumbers {
        id: a.id,
        name: a.name,
        timezone: a.timezone,
        today: figures(b.today),
        week: figures(b.week),
        top,
        expiring: b.expiring,
        expired: b.expired,
    }
}
