//! Campaigns side by side: the ids a request lists, the table of every campaign compared and
//! the chart of the best of them; and the campaigns a comparison may choose from.

use super::{Lang, Metric, bucket_labels, open_bucket, today, zone};
use crate::chart::{LOOKS, Line, Spec};
use crate::entity::{campaign, wechat_account};
use crate::series::{self, Range, RangeRequest, Retention, Totals};
use crate::{AppState, ServiceError};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::{StreamExt, TryStreamExt};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;

/// The live campaigns a comparison may choose from, by group then name: `(id, name, group)`.
pub async fn compare_choices(st: &AppState) -> Result<Vec<(i32, String, Option<String>)>, ServiceError> {
    Ok(campaign::Entity::find()
        .select_only()
        .columns([campaign::Column::Id, campaign::Column::Name, campaign::Column::GroupName])
        .filter(campaign::Column::ArchivedAt.is_null())
        .order_by_asc(campaign::Column::GroupName)
        .order_by_asc(campaign::Column::Name)
        .into_tuple()
        .all(&st.db)
        .await?)
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
        wanted = crate::campaigns::group_members(db, g, None).await?;
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
    let mut starts = Vec::new();
    for (k, (row, points)) in rows.iter_mut().take(MAX_COMPARED).enumerate() {
        row.charted = true;
        let points = points.take().unwrap_or_default();
        if k == 0 {
            x = points.iter().map(|p| bucket_labels(&p.bucket, range.granularity, lang)).unzip();
            starts = points.iter().map(|p| p.bucket).collect();
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
    let (current, current_label) = open_bucket(&starts, range.to, range.granularity, lang, now);
    let spec = Spec {
        title: format!("{} · {}", lang.pick("渠道对比", "Campaigns compared"), metric.label(lang)),
        summary,
        x_labels: x.0,
        x_long: x.1,
        lines,
        previous_label: String::new(),
        current,
        current_label,
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
