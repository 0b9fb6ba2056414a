//! Server functions of the analytics views: a campaign's trend (chart, metric cards with the
//! change from the previous period, retention) and campaigns compared. The charts come back as
//! SVG text, drawn on the server, and are put into the page as they are (they hold no user
//! input unescaped: names are XML-escaped by the chart module).

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A number of the range next to the same number of the period before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MetricCard {
    /// docs/contract.md name: `scans`, `new_followers`, `unsubscribes`, `net_followers`, `unique_scanners`.
    pub key: String,
    pub value: i64,
    pub previous: i64,
    /// Whole percent; `None` when the previous value is zero.
    pub change: Option<i64>,
}

/// Retention after `days` days: of the range's new followers old enough (`eligible`), how many
/// still follow (`retained`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RetentionCell {
    pub days: i64,
    pub eligible: i64,
    pub retained: i64,
    pub percent: Option<i64>,
}

/// One bucket of a campaign's series (what the trend chart draws and `/api/v1` lists).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SeriesPoint {
    /// Start of the bucket, RFC 3339 with the zone's offset (weeks start on Monday, months on
    /// the 1st, even when the range starts later).
    #[cfg_attr(feature = "ssr", schema(example = "2026-11-13T00:00:00+08:00"))]
    pub bucket: String,
    pub scans: i64,
    pub new_followers: i64,
    pub unsubscribes: i64,
    /// `new_followers - unsubscribes`.
    pub net_followers: i64,
    /// Distinct scanners within this bucket (buckets do not add up to a range's count).
    pub unique_scanners: i64,
}

#[cfg(feature = "ssr")]
impl From<&service::series::Point> for SeriesPoint {
    fn from(p: &service::series::Point) -> Self {
        SeriesPoint {
            bucket: p.bucket.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            scans: p.scans,
            new_followers: p.new_followers,
            unsubscribes: p.unsubscribes,
            net_followers: p.net_followers,
            unique_scanners: p.unique_scanners,
        }
    }
}

/// The trend section of a campaign page: the chart, and the numbers (shared with `/api/v1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrendView {
    pub svg: String,
    pub numbers: TrendNumbers,
}

/// A campaign's numbers over a range: its totals beside the period before, and retention.
/// Dates are the account's local days (`YYYY-MM-DD`), inclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TrendNumbers {
    pub from: String,
    pub to: String,
    pub previous_from: String,
    pub previous_to: String,
    pub granularity: String,
    pub timezone: String,
    /// Metrics drawn (docs/contract.md names).
    pub metrics: Vec<String>,
    pub cards: Vec<MetricCard>,
    pub retention: Vec<RetentionCell>,
}

/// What the trend of a campaign is asked for, as its page's query string and the
/// `campaign_trend` form say it (the field names are the parameter names): a range (`from`/`to`
/// dates, or a `days` preset), `granularity` (blank: automatic), `metrics` (comma-separated;
/// blank: the default three), `prev` (`0`: without the previous period) and `lang`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrendQuery {
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub to: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub days: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub granularity: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub metrics: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub prev: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub lang: Option<String>,
}

impl TrendQuery {
    /// Whether the previous period is drawn too: unless `prev` is `0` (spaces around ignored).
    /// The one reading of `prev`, for the server function and the page's form alike.
    pub fn with_previous(&self) -> bool {
        self.prev.as_deref().map(str::trim) != Some("0")
    }

    /// The range asked for, as the series service takes it.
    #[cfg(feature = "ssr")]
    pub fn range(&self) -> service::series::RangeRequest {
        let (from, to, days, granularity) = (self.from.clone(), self.to.clone(), self.days.clone(), self.granularity.clone());
        service::series::RangeRequest { from, to, days, granularity }
    }
}

/// Campaign `id` over the range and with the metrics `query` asks for (see [`TrendQuery`]),
/// with the previous period dashed unless it is switched off. Signed-in users.
#[server(endpoint = "campaign_trend")]
pub async fn campaign_trend(id: i32, #[server(flatten)] query: TrendQuery) -> Result<TrendView, AppError> {
    use service::analytics::{self, Lang, Metric};
    crate::api::auth::ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let metrics = Metric::parse_list(&[query.metrics.clone().unwrap_or_default()])?;
    let lang = Lang::parse(query.lang.as_deref());
    let t = analytics::campaign_trend(&st, id, &query.range(), &metrics, query.with_previous(), lang, chrono::Utc::now()).await?;
    let svg = service::chart::inline(&t.spec)?;
    Ok(TrendView { svg, numbers: trend_numbers(&t) })
}

/// The numbers of a trend, as the campaign page and `/api/v1` show them.
#[cfg(feature = "ssr")]
pub fn trend_numbers(t: &service::analytics::CampaignTrend) -> TrendNumbers {
    use service::analytics::Metric;
    use service::series::change_percent;
    let cards = Metric::ALL
        .iter()
        .map(|m| {
            let (value, previous) = (m.of_totals(&t.totals), m.of_totals(&t.previous_totals));
            MetricCard { key: m.as_str().to_owned(), value, previous, change: change_percent(value, previous) }
        })
        .collect();
    let retention = t
        .retention
        .iter()
        .map(|r| RetentionCell { days: r.days, eligible: r.eligible, retained: r.retained, percent: r.percent() })
        .collect();
    TrendNumbers {
        from: t.range.from.to_string(),
        to: t.range.to.to_string(),
        previous_from: t.previous.0.to_string(),
        previous_to: t.previous.1.to_string(),
        granularity: t.range.granularity.as_str().to_owned(),
        timezone: t.tz.name().to_owned(),
        metrics: t.metrics.iter().map(|m| m.as_str().to_owned()).collect(),
        cards,
        retention,
    }
}

/// A campaign that can be picked for a comparison.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompareChoice {
    pub id: i32,
    pub name: String,
    pub group: Option<String>,
}

/// One campaign's line of the compare table: its totals over the range, and the share of its
/// new followers still following after 7 days (whole percent, when measurable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CompareLine {
    pub id: i32,
    pub name: String,
    pub group: Option<String>,
    pub scans: i64,
    pub new_followers: i64,
    pub unsubscribes: i64,
    pub net_followers: i64,
    pub unique_scanners: i64,
    pub retention_7d: Option<i64>,
    pub charted: bool,
}

/// The compare page: what can be picked, and the comparison when something was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompareView {
    pub choices: Vec<CompareChoice>,
    pub groups: Vec<String>,
    /// Empty until campaigns or a group are chosen.
    pub svg: String,
    pub table: CompareTable,
}

/// Campaigns side by side (shared with `/api/v1`): best first by the metric compared, over the
/// account's local days `from`–`to`, inclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CompareTable {
    pub lines: Vec<CompareLine>,
    pub from: String,
    pub to: String,
    pub granularity: String,
    pub timezone: String,
}

/// What a comparison is asked for, as the compare page's query string and the
/// `compare_campaigns` form say it: campaigns `ids` (comma-separated) or the live campaigns of
/// `group`, compared on `metric` (default `new_followers`) over a range (`from`/`to`, or a
/// `days` preset) at `granularity`, in `lang`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompareQuery {
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub ids: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub metric: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub to: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub days: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub granularity: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub lang: Option<String>,
}

impl CompareQuery {
    /// The range asked for, as the series service takes it.
    #[cfg(feature = "ssr")]
    pub fn range(&self) -> service::series::RangeRequest {
        let (from, to, days, granularity) = (self.from.clone(), self.to.clone(), self.days.clone(), self.granularity.clone());
        service::series::RangeRequest { from, to, days, granularity }
    }
}

/// The comparison `query` asks for (see [`CompareQuery`]); with neither campaigns nor a group,
/// only the choices. Signed-in users.
#[server(endpoint = "compare_campaigns")]
pub async fn compare_campaigns(#[server(flatten)] query: CompareQuery) -> Result<CompareView, AppError> {
    use service::analytics::{self, Lang, Metric};
    crate::api::auth::ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let choices = analytics::compare_choices(&st).await?;
    let mut view = CompareView {
        choices: choices.into_iter().map(|(id, name, group)| CompareChoice { id, name, group }).collect(),
        groups: service::campaigns::groups(&st.db).await?,
        svg: String::new(),
        table: CompareTable::default(),
    };
    let max = analytics::MAX_COMPARE_ROWS;
    let wanted = analytics::campaign_ids(query.ids.as_deref(), max, || service::Msg::CompareTooMany { max })?;
    let group = query.group.as_deref().filter(|g| !g.trim().is_empty());
    if wanted.is_empty() && group.is_none() {
        return Ok(view);
    }
    let metric = match query.metric.as_deref().filter(|m| !m.trim().is_empty()) {
        Some(m) => m.parse::<Metric>()?,
        None => Metric::NewFollowers,
    };
    let lang = Lang::parse(query.lang.as_deref());
    let c = analytics::compare(&st, &wanted, group, metric, &query.range(), lang, chrono::Utc::now()).await?;
    view.svg = service::chart::inline(&c.spec)?;
    view.table = compare_table(c);
    Ok(view)
}

/// The table of a comparison, as the compare page and `/api/v1` show it.
#[cfg(feature = "ssr")]
pub fn compare_table(c: service::analytics::Comparison) -> CompareTable {
    let lines = c
        .rows
        .into_iter()
        .map(|r| CompareLine {
            id: r.id,
            name: r.name,
            group: r.group,
            scans: r.totals.scans,
            new_followers: r.totals.new_followers,
            unsubscribes: r.totals.unsubscribes,
            net_followers: r.totals.net_followers,
            unique_scanners: r.totals.unique_scanners,
            retention_7d: r.retention_7d,
            charted: r.charted,
        })
        .collect();
    CompareTable {
        lines,
        from: c.range.from.to_string(),
        to: c.range.to.to_string(),
        granularity: c.range.granularity.as_str().to_owned(),
        timezone: c.tz.name().to_owned(),
    }
}
