//! What the analytics pages and chart downloads show: a campaign's trend with the previous
//! period and retention, several campaigns compared, an account's month. Each view is built
//! once here, from [`series`], and drawn by [`chart`]; pages inline the SVG, routes serve it as
//! a file or a PNG, so a download is always the picture on the screen.

use crate::chart::{self, LOOKS, Line, Spec};
use crate::entity::{campaign, wechat_account};
use crate::series::{self, Granularity, Range, RangeRequest, Retention, Totals};
use crate::{AppState, ServiceError};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::{StreamExt, TryStreamExt};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use std::str::FromStr;

/// Language of a chart's words: the interface language.
pub use crate::msg::Lang;

/// A number a chart can draw (docs/contract.md names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    Scans,
    NewFollowers,
    Unsubscribes,
    NetFollowers,
    UniqueScanners,
}

impl Metric {
    pub const ALL: [Metric; 5] = [Metric::Scans, Metric::NewFollowers, Metric::Unsubscribes, Metric::NetFollowers, Metric::UniqueScanners];
    /// What a campaign chart shows unless asked otherwise.
    pub const DEFAULT: [Metric; 3] = [Metric::Scans, Metric::NewFollowers, Metric::Unsubscribes];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Scans => "scans",
            Metric::NewFollowers => "new_followers",
            Metric::Unsubscribes => "unsubscribes",
            Metric::NetFollowers => "net_followers",
            Metric::UniqueScanners => "unique_scanners",
        }
    }

    /// The metric's name in `lang`: the pages' own word (`app/locales`, [`crate::msg::word`]).
    pub fn label(self, lang: Lang) -> &'static str {
        crate::msg::word(lang, self.locale_key())
    }

    /// The key of the metric's name in the interface's catalogs.
    pub fn locale_key(self) -> &'static str {
        match self {
            Metric::Scans => "metric_scans",
            Metric::NewFollowers => "metric_new_followers",
            Metric::Unsubscribes => "metric_unsubscribes",
            Metric::NetFollowers => "metric_net",
            Metric::UniqueScanners => "metric_unique",
        }
    }

    /// Each metric keeps its look on every chart.
    fn look(self) -> chart::Look {
        LOOKS[self as usize]
    }

    pub fn of_point(self, p: &series::Point) -> i64 {
        match self {
            Metric::Scans => p.scans,
            Metric::NewFollowers => p.new_followers,
            Metric::Unsubscribes => p.unsubscribes,
            Metric::NetFollowers => p.net_followers,
            Metric::UniqueScanners => p.unique_scanners,
        }
    }

    pub fn of_totals(self, t: &Totals) -> i64 {
        match self {
            Metric::Scans => t.scans,
            Metric::NewFollowers => t.new_followers,
            Metric::Unsubscribes => t.unsubscribes,
            Metric::NetFollowers => t.net_followers,
            Metric::UniqueScanners => t.unique_scanners,
        }
    }

    /// Metrics named in `values` (each may hold several, comma-separated), in the canonical
    /// order, without repeats; the default set when none is named.
    pub fn parse_list<S: AsRef<str>>(values: &[S]) -> Result<Vec<Metric>, ServiceError> {
        let mut named = Vec::new();
        for part in values.iter().flat_map(|v| v.as_ref().split(',')).map(str::trim).filter(|p| !p.is_empty()) {
            named.push(part.parse::<Metric>()?);
        }
        if named.is_empty() {
            return Ok(Metric::DEFAULT.to_vec());
        }
        Ok(Metric::ALL.into_iter().filter(|m| named.contains(m)).collect())
    }
}

impl FromStr for Metric {
    type Err = ServiceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| ServiceError::invalid("metrics", crate::Msg::MetricUnknown { value: s.to_string() }))
    }
}

/// The zone of an account's charts: its own, else the configured default, else UTC (a stored
/// zone was validated when saved; the fallbacks only guard against a renamed IANA zone).
pub fn zone(st: &AppState, name: Option<&str>) -> Tz {
    name.and_then(|n| Tz::from_str(n).ok()).or_else(|| Tz::from_str(&st.settings.timezone).ok()).unwrap_or(Tz::UTC)
}

/// A campaign's name, group and its account's zone; `NotFound` when there is no such campaign.
pub async fn campaign_zone(st: &AppState, id: i32) -> Result<(String, Option<String>, Tz), ServiceError> {
    let (name, group, account_id): (String, Option<String>, i32) = campaign::Entity::find_by_id(id)
        .select_only()
        .columns([campaign::Column::Name, campaign::Column::GroupName, campaign::Column::AccountId])
        .into_tuple()
        .one(&st.db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let zone_name: Option<String> = wechat_account::Entity::find_by_id(account_id)
        .select_only()
        .column(wechat_account::Column::Timezone)
        .into_tuple()
        .one(&st.db)
        .await?;
    Ok((name, group, zone(st, zone_name.as_deref())))
}

/// Today in `tz` at `now`.
pub fn today(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

fn weekday(d: NaiveDate, lang: Lang) -> &'static str {
    let i = d.weekday().num_days_from_monday() as usize;
    match lang {
        Lang::Zh => ["周一", "周二", "周三", "周四", "周五", "周六", "周日"][i],
        Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][i],
    }
}

/// The short (axis) and long (readout) labels of a bucket starting at `b`.
fn bucket_labels(b: &DateTime<Tz>, g: Granularity, lang: Lang) -> (String, String) {
    let d = b.date_naive();
    match g {
        Granularity::Hour => (b.format("%m-%d %H:00").to_string(), format!("{} {} {}", d, weekday(d, lang), b.format("%H:00 %Z"))),
        Granularity::Day => (b.format("%m-%d").to_string(), format!("{d} {}", weekday(d, lang))),
        Granularity::Week => {
            (b.format("%m-%d").to_string(), format!("{} {d} – {}", lang.pick("周", "Week of"), (d + chrono::Days::new(6)).format("%m-%d")))
        }
        Granularity::Month => (b.format("%Y-%m").to_string(), b.format("%Y-%m").to_string()),
    }
}

fn totals_words(metrics: &[Metric], t: &Totals, lang: Lang) -> String {
    metrics.iter().map(|m| format!("{} {}", m.label(lang), m.of_totals(t))).collect::<Vec<_>>().join(" · ")
}

/// Zeros for a range the series refuse (a period before 1970); other errors stay errors.
fn zero_if_invalid<T: Default>(e: ServiceError) -> Result<T, ServiceError> {
    if matches!(e, ServiceError::Validation { .. }) { Ok(T::default()) } else { Err(e) }
}

/// A campaign over a range, with the period before it.
#[derive(Clone, Debug)]
pub struct CampaignTrend {
    pub name: String,
    pub tz: Tz,
    pub range: Range,
    /// The period just before, of the same length.
    pub previous: (NaiveDate, NaiveDate),
    pub metrics: Vec<Metric>,
    pub points: Vec<series::Point>,
    pub totals: Totals,
    pub previous_totals: Totals,
    pub retention: Vec<Retention>,
    /// The chart; its dashed lines only when asked for.
    pub spec: Spec,
}

/// Builds campaign `id`'s trend for `req`: series and totals of the range and of the period
/// before, retention of the range's new followers at `now`, and the chart of `metrics`
/// (with the previous period dashed when `with_previous`).
pub async fn campaign_trend(
    st: &AppState,
    id: i32,
    req: &RangeRequest,
    metrics: &[Metric],
    with_previous: bool,
    lang: Lang,
    now: DateTime<Utc>,
) -> Result<CampaignTrend, ServiceError> {
    let (name, _, tz) = campaign_zone(st, id).await?;
    let range = series::resolve_range(req, today(tz, now))?;
    let (pf, pt) = series::previous_range(range.from, range.to);
    let db = &st.db;
    let points = series::campaign_series(db, id, range.from, range.to, range.granularity, tz).await?;
    let totals = series::campaign_totals(db, id, range.from, range.to, tz).await?;
    // A previous period that is out of range (before 1970) has nothing to compare with: zeros.
    // Database errors still fail the view.
    let prev_points = if with_previous {
        series::campaign_series(db, id, pf, pt, range.granularity, tz).await.or_else(zero_if_invalid)?
    } else {
        Vec::new()
    };
    let previous_totals = series::campaign_totals(db, id, pf, pt, tz).await.or_else(zero_if_invalid)?;
    let retention = series::campaign_retention(db, id, range.from, range.to, tz, now).await?;
    let metrics = if metrics.is_empty() { Metric::DEFAULT.to_vec() } else { metrics.to_vec() };

    let (x_labels, x_long): (Vec<String>, Vec<String>) = points.iter().map(|p| bucket_labels(&p.bucket, range.granularity, lang)).unzip();
    let mut lines: Vec<Line> = metrics
        .iter()
        .map(|m| Line {
            label: m.label(lang).to_owned(),
            values: points.iter().map(|p| m.of_point(p)).collect(),
            look: m.look(),
            dashed: false,
        })
        .collect();
    if with_previous {
        // Bucket i of the previous period lies under bucket i of this one (weeks and months
        // may differ by one bucket: the extra one is left out).
        for m in &metrics {
            let values: Vec<i64> = prev_points.iter().take(points.len()).map(|p| m.of_point(p)).collect();
            lines.push(Line { label: m.label(lang).to_owned(), values, look: m.look(), dashed: true });
        }
    }
    let mut summary = format!(
        "{name}: {} – {} ({tz}), {}. {}",
        range.from,
        range.to,
        totals_words(&metrics, &totals, lang),
        lang.pick("上一周期", "Previous period"),
    );
    summary.push_str(&format!(" {pf} – {pt}: {}.", totals_words(&metrics, &previous_totals, lang)));
    let spec = Spec {
        title: format!("{} · {name}", lang.pick("渠道趋势", "Campaign over time")),
        summary,
        x_labels,
        x_long,
        lines,
        previous_label: if with_previous {
            lang.pick("上一周期（虚线）", "Previous period (dashed)").to_owned()
        } else {
            String::new()
        },
    };
    Ok(CampaignTrend { name, tz, range, previous: (pf, pt), metrics, points, totals, previous_totals, retention, spec })
}

/// Most campaigns on one compare chart (one look each).
pub const MAX_COMPARED: usize = LOOKS.len();
/// Most campaigns in a compare table (a group may be large).
pub const MAX_COMPARE_ROWS: usize = 200;
/// Campaign ids as a request lists them (comma-separated values split by the caller), in
/// the order given, each once. Refused as soon as one is not a number, or more than `max`
/// distinct ones have come (`too_many` says so): one pass over the input, whatever its size,
/// before any work is done for it.
pub fn campaign_ids<'a>(
    parts: impl IntoIterator<Item = &'a str>,
    max: usize,
    too_many: impl Fn() -> crate::Msg,
) -> Result<Vec<i32>, ServiceError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for part in parts.into_iter().flat_map(|p| p.split(',')).map(str::trim).filter(|p| !p.is_empty()) {
        let id = part
            .parse::<i32>()
            .map_err(|_| ServiceError::invalid("ids", crate::Msg::CampaignIdInvalid { value: part.chars().take(32).collect() }))?;
        if seen.insert(id) {
            out.push(id);
            if out.len() > max {
                return Err(ServiceError::invalid("ids", too_many()));
            }
        }
    }
    Ok(out)
}

/// Campaigns of one comparison read at the same time (each on its own pooled connection).
const COMPARE_READS_AT_ONCE: usize = 4;

/// One campaign in a comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompareRow {
    pub id: i32,
    pub name: String,
    pub group: Option<String>,
    pub totals: Totals,
    /// Share of the range's new followers still following after 7 days, when measurable.
    pub retention_7d: Option<i64>,
    /// Drawn on the chart (the first [`MAX_COMPARED`] by the metric).
    pub charted: bool,
}

/// Campaigns side by side.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub tz: Tz,
    pub range: Range,
    pub metric: Metric,
    /// Best first by `metric` over the range.
    pub rows: Vec<CompareRow>,
    pub spec: Spec,
}

/// Compares campaigns `ids` (or, when `ids` is empty, the live campaigns of `group`) over `req`
/// on `metric`. Buckets are in the zone of the first campaign's account. At most
/// [`MAX_COMPARED`] lines are drawn (the best by `metric`); the table lists all.
pub async fn compare(
    st: &AppState,
    ids: &[i32],
    group: Option<&str>,
    metric: Metric,
    req: &RangeRequest,
    lang: Lang,
    now: DateTime<Utc>,
) -> Result<Comparison, ServiceError> {
    let db = &st.db;
    let group = group.map(str::trim).filter(|g| !g.is_empty());
    let mut wanted: Vec<i32> = Vec::with_capacity(ids.len());
    for id in ids {
        if !wanted.contains(id) {
            wanted.push(*id);
        }
    }
    if wanted.is_empty() {
        let Some(g) = group else {
            return Err(ServiceError::invalid("ids", crate::Msg::CompareTooFew));
        };
        wanted = campaign::Entity::find()
            .select_only()
            .column(campaign::Column::Id)
            .filter(campaign::Column::GroupName.eq(g))
            .filter(campaign::Column::ArchivedAt.is_null())
            .order_by_asc(campaign::Column::Id)
            .limit(MAX_COMPARE_ROWS as u64 + 1)
            .into_tuple()
            .all(db)
            .await?;
        if wanted.is_empty() {
            return Err(ServiceError::invalid("group", crate::Msg::CompareGroupEmpty { group: g.to_string() }));
        }
    }
    if wanted.len() > MAX_COMPARE_ROWS {
        return Err(ServiceError::invalid("ids", crate::Msg::CompareTooMany { max: MAX_COMPARE_ROWS }));
    }
    let found: Vec<(i32, String, Option<String>, i32)> = campaign::Entity::find()
        .select_only()
        .columns([campaign::Column::Id, campaign::Column::Name, campaign::Column::GroupName, campaign::Column::AccountId])
        .filter(campaign::Column::Id.is_in(wanted.clone()))
        .into_tuple()
        .all(db)
        .await?;
    let by_id: HashMap<i32, (String, Option<String>, i32)> = found.into_iter().map(|(i, n, g, a)| (i, (n, g, a))).collect();
    if let Some(missing) = wanted.iter().find(|i| !by_id.contains_key(i)) {
        return Err(ServiceError::invalid("ids", crate::Msg::CompareMissing { id: missing.to_string() }));
    }
    let first_account = by_id[&wanted[0]].2;
    let zone_name: Option<String> = wechat_account::Entity::find_by_id(first_account)
        .select_only()
        .column(wechat_account::Column::Timezone)
        .into_tuple()
        .one(db)
        .await?;
    let tz = zone(st, zone_name.as_deref());
    let range = series::resolve_range(req, today(tz, now))?;

    // Each campaign's totals, retention and (when every campaign gets a line) series are read
    // on their own pooled connection, COMPARE_READS_AT_ONCE campaigns at a time: on two cores
    // the busy campaigns' reads overlap instead of queueing behind one another. Each read
    // owns what it uses (its id, a clone of the pool handle) so the future stays `Send` for
    // the server function and route that await it.
    let chart_all = wanted.len() <= MAX_COMPARED;
    let pool = db.clone();
    let mut rows: Vec<(CompareRow, Option<Vec<series::Point>>)> = read_each(wanted, move |id| {
        let db = pool.clone();
        let (name, group, _) = by_id[&id].clone();
        async move {
            let totals = series::campaign_totals(&db, id, range.from, range.to, tz).await?;
            let retention = series::campaign_retention(&db, id, range.from, range.to, tz, now).await?;
            let retention_7d = retention.iter().find(|r| r.days == 7).and_then(Retention::percent);
            let points =
                if chart_all { Some(series::campaign_series(&db, id, range.from, range.to, range.granularity, tz).await?) } else { None };
            Ok((CompareRow { id, name, group, totals, retention_7d, charted: false }, points))
        }
    })
    .await?;
    rows.sort_by(|(a, _), (b, _)| metric.of_totals(&b.totals).cmp(&metric.of_totals(&a.totals)).then(a.id.cmp(&b.id)));

    // A group larger than the chart: only the best MAX_COMPARED get a series, read once the
    // totals have ranked them.
    if !chart_all {
        let charted: Vec<i32> = rows.iter().take(MAX_COMPARED).map(|(r, _)| r.id).collect();
        let pool = db.clone();
        let charted_points: Vec<Vec<series::Point>> = read_each(charted, move |id| {
            let db = pool.clone();
            async move { series::campaign_series(&db, id, range.from, range.to, range.granularity, tz).await }
        })
        .await?;
        for ((_, points), s) in rows.iter_mut().zip(charted_points) {
            *points = Some(s);
        }
    }

    let mut lines = Vec::new();
    let mut x = (Vec::new(), Vec::new());
    for (k, (row, points)) in rows.iter_mut().take(MAX_COMPARED).enumerate() {
        row.charted = true;
        let points = points.take().unwrap_or_default();
        if k == 0 {
            x = points.iter().map(|p| bucket_labels(&p.bucket, range.granularity, lang)).unzip();
        }
        lines.push(Line {
            label: row.name.clone(),
            values: points.iter().map(|p| metric.of_point(p)).collect(),
            look: LOOKS[k],
            dashed: false,
        });
    }
    let rows: Vec<CompareRow> = rows.into_iter().map(|(r, _)| r).collect();
    let summary = format!(
        "{} – {} ({tz}), {}: {}",
        range.from,
        range.to,
        metric.label(lang),
        rows.iter().map(|r| format!("{} {}", r.name, metric.of_totals(&r.totals))).collect::<Vec<_>>().join(" · ")
    );
    let spec = Spec {
        title: format!("{} · {}", lang.pick("渠道对比", "Campaigns compared"), metric.label(lang)),
        summary,
        x_labels: x.0,
        x_long: x.1,
        lines,
        previous_label: String::new(),
    };
    Ok(Comparison { tz, range, metric, rows, spec })
}

/// `read(id)` for each campaign of `ids`, [`COMPARE_READS_AT_ONCE`] at a time, results in the
/// order of `ids`.
async fn read_each<T, F, Fut>(ids: Vec<i32>, read: F) -> Result<Vec<T>, ServiceError>
where
    F: FnMut(i32) -> Fut,
    Fut: std::future::Future<Output = Result<T, ServiceError>>,
{
    futures::stream::iter(ids).map(read).buffered(COMPARE_READS_AT_ONCE).try_collect().await
}

/// An account's last `days` days by day: scans, new followers, organic followers and
/// unsubscribes.
pub async fn account_chart(
    st: &AppState,
    account_id: i32,
    tz: Tz,
    days: u64,
    lang: Lang,
    now: DateTime<Utc>,
) -> Result<Spec, ServiceError> {
    let to = today(tz, now);
    let from = to.checked_sub_days(chrono::Days::new(days.max(1) - 1)).unwrap_or(to);
    let points = series::account_series(&st.db, account_id, from, to, Granularity::Day, tz).await?;
    let (x_labels, x_long): (Vec<String>, Vec<String>) = points.iter().map(|p| bucket_labels(&p.bucket, Granularity::Day, lang)).unzip();
    let line = |label: &str, look: usize, f: &dyn Fn(&series::AccountPoint) -> i64| Line {
        label: label.to_owned(),
        values: points.iter().map(f).collect(),
        look: LOOKS[look],
        dashed: false,
    };
    let lines = vec![
        line(Metric::Scans.label(lang), 0, &|p| p.scans),
        line(Metric::NewFollowers.label(lang), 1, &|p| p.new_followers),
        line(lang.pick("自然关注", "Organic followers"), 5, &|p| p.organic_followers),
        line(Metric::Unsubscribes.label(lang), 2, &|p| p.unsubscribes),
    ];
    let sum = |i: usize| lines[i].values.iter().sum::<i64>();
    let summary = format!(
        "{from} – {to} ({tz}): {} {} · {} {} · {} {} · {} {}",
        lines[0].label,
        sum(0),
        lines[1].label,
        sum(1),
        lines[2].label,
        sum(2),
        lines[3].label,
        sum(3)
    );
    Ok(Spec {
        title: lang.pick("公众号近 30 天", "Account, last 30 days").to_owned(),
        summary,
        x_labels,
        x_long,
        lines,
        previous_label: String::new(),
    })
}

/// What the dashboard shows of one account: today and the last 7 days (today included), the
/// week's best campaigns, the codes expiring soon or expired, and the last 30 days' chart.
#[derive(Clone, Debug)]
pub struct Board {
    pub today: series::AccountTotals,
    pub week: series::AccountTotals,
    pub top: Vec<series::TopCampaign>,
    /// Temporary codes that expire within [`crate::campaigns::EXPIRING_WITHIN_DAYS`] days.
    pub expiring: u64,
    /// Codes that have expired, of campaigns not archived.
    pub expired: u64,
    pub chart: Spec,
}

/// The dashboard's numbers of account `account_id` at `now` in `tz`: six independent queries,
/// sent together (the pool has room), so the page waits for the slowest one, not their sum.
pub async fn board(st: &AppState, account_id: i32, tz: Tz, lang: Lang, now: DateTime<Utc>) -> Result<Board, ServiceError> {
    use crate::campaigns::{self, ListQuery};
    let today = today(tz, now);
    let week_start = today.checked_sub_days(chrono::Days::new(6)).unwrap_or(today);
    let count = |status: &str| ListQuery { account_id: Some(account_id), status: Some(status.to_owned()), ..Default::default() };
    let (expiring_q, expired_q) = (count("expiring"), count("expired"));
    let (day, week, top, expiring, expired, chart) = futures::try_join!(
        series::account_totals(&st.db, account_id, today, today, tz),
        series::account_totals(&st.db, account_id, week_start, today, tz),
        series::top_campaigns(&st.db, account_id, week_start, today, tz, 5),
        campaigns::count(&st.db, &expiring_q),
        campaigns::count(&st.db, &expired_q),
        account_chart(st, account_id, tz, 30, lang, now),
    )?;
    Ok(Board { today: day, week, top, expiring, expired, chart })
}
