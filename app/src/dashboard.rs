//! The dashboard's numbers: per account, today and the last 7 days, organic versus campaign
//! followers, the campaigns that brought the most followers, and codes about to expire.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// An account's headline numbers over one period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct TopCampaign {
    pub id: i32,
    pub name: String,
    pub new_followers: i64,
    pub scans: i64,
}

/// One account on the dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBoard {
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
    /// The last 30 days by day, drawn on the server (SVG).
    pub chart_svg: String,
}

/// Every account's board (signed-in users); `lang` (`en` or `zh`) is the charts' language.
#[server(endpoint = "dashboard_data")]
pub async fn dashboard_data(lang: Option<String>) -> Result<Vec<AccountBoard>, AppError> {
    use service::campaigns::{self, ListQuery};
    use service::series;
    crate::auth::ssr::require_user().await?;
    let st = crate::auth::ssr::state()?;
    let mut boards = Vec::new();
    for a in service::accounts::list(&st.db).await? {
        let tz: chrono_tz::Tz = a.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let today = chrono::Utc::now().with_timezone(&tz).date_naive();
        let week_start = today - chrono::Days::new(6);
        let figures = |t: series::AccountTotals| Figures {
            scans: t.scans,
            new_followers: t.new_followers,
            organic_followers: t.organic_followers,
            campaign_followers: t.new_followers - t.organic_followers,
            unsubscribes: t.unsubscribes,
            net_followers: t.net_followers,
            unknown_scene: t.unknown_scene_events,
        };
        let day = figures(series::account_totals(&st.db, a.id, today, today, tz).await?);
        let week = figures(series::account_totals(&st.db, a.id, week_start, today, tz).await?);
        let mut top = Vec::new();
        for (id, new_followers, scans) in series::top_campaigns(&st.db, a.id, week_start, today, tz, 5).await? {
            let name = campaigns::get(&st.db, id).await.map(|c| c.name).unwrap_or_default();
            top.push(TopCampaign { id, name, new_followers, scans });
        }
        let count = |status: &str| ListQuery {
            account_id: Some(a.id),
            status: Some(status.to_owned()),
            per_page: 1,
            ..Default::default()
        };
        let expiring = campaigns::list(&st.db, &count("expiring")).await?.total;
        let expired = campaigns::list(&st.db, &count("expired")).await?.total;
        let spec = service::analytics::account_chart(&st, a.id, tz, 30, service::analytics::Lang::parse(lang.as_deref()), chrono::Utc::now()).await?;
        let chart_svg = service::chart::svg(&spec, service::chart::Variant::Inline)?;
        boards.push(AccountBoard { id: a.id, name: a.name, timezone: a.timezone, today: day, week, top, expiring, expired, chart_svg });
    }
    Ok(boards)
}
