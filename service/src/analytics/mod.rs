//! What the analytics pages and chart downloads show: a campaign's trend with the previous
//! period and retention, several campaigns compared, an account's month. Each view is built
//! once here, from [`series`], and drawn by [`chart`]; pages inline the SVG, routes serve it as
//! a file or a PNG, so a download is always the picture on the screen.
//!
//! `metric` — the numbers a chart can draw, their names and looks; `compare` — campaigns side
//! by side. Here: a campaign's trend, an account's month and the dashboard's board.

use crate::chart::{LOOKS, Line, Spec};
use crate::entity::{campaign, wechat_account};
use crate::series::{self, Granularity, Range, RangeRequest, Retention, Totals};
use crate::{AppState, ServiceError};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{EntityTrait, QuerySelect};
use std::str::FromStr;

/// Language of a chart's words: the interface language.
pub use crate::msg::Lang;

mod compare;
mod metric;

pub use compare::{CompareRow, Comparison, MAX_COMPARE_ROWS, MAX_COMPARED, campaign_ids, compare, compare_choices};
pub use metric::Metric;

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

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The short (axis) and long (readout) labels of a bucket starting at `b`, in the language's
/// own form: `11月13日` / `13 Nov` on the axis, `2026年11月13日 周五` / `Fri 13 Nov 2026` in
/// the readout.
fn bucket_labels(b: &DateTime<Tz>, g: Granularity, lang: Lang) -> (String, String) {
    let d = b.date_naive();
    let (y, m, day, wd) = (d.year(), d.month(), d.day(), weekday(d, lang));
    let mon = MONTHS[d.month0() as usize];
    let hour = b.format("%H:00").to_string();
    match (g, lang) {
        (Granularity::Hour, Lang::Zh) => (format!("{day}日 {hour}"), format!("{y}年{m}月{day}日 {wd} {hour} {}", b.format("%Z"))),
        (Granularity::Hour, Lang::En) => (format!("{day} {mon} {hour}"), format!("{wd} {day} {mon} {y} {hour} {}", b.format("%Z"))),
        (Granularity::Day, Lang::Zh) => (format!("{m}月{day}日"), format!("{y}年{m}月{day}日 {wd}")),
        (Granularity::Day, Lang::En) => (format!("{day} {mon}"), format!("{wd} {day} {mon} {y}")),
        (Granularity::Week, _) => {
            let end = d + chrono::Days::new(6);
            match lang {
                Lang::Zh => (format!("{m}月{day}日"), format!("{y}年{m}月{day}日 – {}月{}日 当周", end.month(), end.day())),
                Lang::En => (format!("{day} {mon}"), format!("Week of {day} {mon} {y} – {} {}", end.day(), MONTHS[end.month0() as usize])),
            }
        }
        (Granularity::Month, Lang::Zh) => (format!("{y}年{m}月"), format!("{y}年{m}月")),
        (Granularity::Month, Lang::En) => (format!("{mon} {y}"), format!("{mon} {y}")),
    }
}

/// The bucket still filling at `now` (the last one started, when the range reaches today)
/// and the words for it; `None` for a range that has ended.
fn open_bucket(starts: &[DateTime<Tz>], to: NaiveDate, g: Granularity, lang: Lang, now: DateTime<Utc>) -> (Option<usize>, String) {
    let Some(first) = starts.first() else { return (None, String::new()) };
    if to < today(first.timezone(), now) {
        return (None, String::new());
    }
    let open = starts.iter().rposition(|b| *b <= now);
    let words = match g {
        Granularity::Hour => lang.pick("本小时（进行中）", "This hour so far"),
        Granularity::Day => lang.pick("今天（进行中）", "Today so far"),
        Granularity::Week => lang.pick("本周（进行中）", "This week so far"),
        Granularity::Month => lang.pick("本月（进行中）", "This month so far"),
    };
    (open, words.to_owned())
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
    /// The previous period's series, bucket for bucket (empty unless asked for).
    pub previous_points: Vec<series::Point>,
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
    campaign_trend_in(st, id, req, metrics, with_previous, lang, now, None).await
}

/// [`campaign_trend`] with days counted in `zone` instead of the account's (`/api/v1`'s `tz`).
#[allow(clippy::too_many_arguments)]
pub async fn campaign_trend_in(
    st: &AppState,
    id: i32,
    req: &RangeRequest,
    metrics: &[Metric],
    with_previous: bool,
    lang: Lang,
    now: DateTime<Utc>,
    zone: Option<Tz>,
) -> Result<CampaignTrend, ServiceError> {
    let (name, _, account_tz) = campaign_zone(st, id).await?;
    let tz = zone.unwrap_or(account_tz);
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
    let starts: Vec<DateTime<Tz>> = points.iter().map(|p| p.bucket).collect();
    let (current, current_label) = open_bucket(&starts, range.to, range.granularity, lang, now);
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
        current,
        current_label,
    };
    Ok(CampaignTrend {
        name,
        tz,
        range,
        previous: (pf, pt),
        metrics,
        points,
        totals,
        previous_totals,
        retention,
        previous_points: prev_points,
        spec,
    })
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
    let starts: Vec<DateTime<Tz>> = points.iter().map(|p| p.bucket).collect();
    let (current, current_label) = open_bucket(&starts, to, Granularity::Day, lang, now);
    Ok(Spec {
        title: lang.pick("公众号近 30 天", "Account, last 30 days").to_owned(),
        summary,
        x_labels,
        x_long,
        lines,
        previous_label: String::new(),
        current,
        current_label,
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
