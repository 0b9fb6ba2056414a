//! A campaign's numbers over time: zero-filled series bucketed by hour, day, ISO week or
//! calendar month in the account's time zone, and totals over a range.
//!
//! Everything is read from the per-hour counters the ingestion keeps (`campaign_hourly`,
//! `scanner_hours`), never from raw events, so a series costs the same whether the campaign
//! had ten events or ten million.
//!
//! Counters are kept per UTC hour. Bucket starts are computed as local midnights (or the
//! 1st, or Mondays) turned into UTC instants with the IANA database, so days of 23 or 25
//! hours around DST changes come out right. In zones whose offset is not a whole number of
//! hours (Asia/Kolkata), a counter hour belongs to the bucket that contains its start.

use crate::ServiceError;
use crate::db::stmt;
use crate::entity::{campaign_hourly, scanner_hour};
use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// Longest range of any series or total, in days (both ends included).
pub const MAX_RANGE_DAYS: i64 = 366;
/// Longest range of an hourly series, in days: 744 points is already more than a chart shows.
pub const MAX_HOUR_RANGE_DAYS: i64 = 31;

/// The width of one point of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Granularity {
    Hour,
    Day,
    /// ISO week, Monday to Sunday.
    Week,
    /// Calendar month.
    Month,
}

impl Granularity {
    /// The name used in URLs and forms (`hour`, `day`, `week`, `month`).
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Granularity {
    type Err = ServiceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hour" => Ok(Granularity::Hour),
            "day" => Ok(Granularity::Day),
            "week" => Ok(Granularity::Week),
            "month" => Ok(Granularity::Month),
            _ => Err(ServiceError::invalid("granularity", crate::Msg::GranularityInvalid { value: s.to_owned() })),
        }
    }
}

/// The granularity a chart of `from..=to` starts with: about 24 to 100 points for common ranges.
pub fn auto_granularity(from: NaiveDate, to: NaiveDate) -> Granularity {
    match (to - from).num_days() + 1 {
        ..=2 => Granularity::Hour,
        ..=92 => Granularity::Day,
        ..=366 => Granularity::Week,
        _ => Granularity::Month,
    }
}

/// One bucket of a series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// Start of the bucket in the account's zone (for weeks and months the Monday or the 1st,
    /// even when the range starts later: the first and last buckets may be partial).
    pub bucket: DateTime<Tz>,
    pub scans: i64,
    pub new_followers: i64,
    pub unsubscribes: i64,
    /// `new_followers - unsubscribes`.
    pub net_followers: i64,
    /// Distinct scanners within this bucket (exact; buckets do not add up to a range's unique count).
    pub unique_scanners: i64,
}

/// A campaign's numbers over a whole range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub scans: i64,
    pub new_followers: i64,
    pub unsubscribes: i64,
    /// `new_followers - unsubscribes`.
    pub net_followers: i64,
    /// Distinct scanners over the whole range (not a sum of per-bucket uniques).
    pub unique_scanners: i64,
}

/// The first instant of local date `d` in `tz`. Where clocks jump forward over midnight
/// (the local midnight does not exist), the day starts at the first local time that does;
/// where midnight happens twice, at the first one.
pub fn day_start(tz: Tz, d: NaiveDate) -> DateTime<Tz> {
    local_instant(tz, d.and_time(chrono::NaiveTime::MIN))
}

fn local_instant(tz: Tz, mut t: NaiveDateTime) -> DateTime<Tz> {
    // Gaps are 30 minutes to 2 hours in the IANA database; quarter-hour steps land on their end.
    for _ in 0..(4 * 24) {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(d) => return d,
            LocalResult::Ambiguous(first, _) => return first,
            LocalResult::None => t += chrono::Duration::minutes(15),
        }
    }
    Utc.from_utc_datetime(&t).with_timezone(&tz)
}

/// Checks a range (both ends included) for a series or a total.
fn check_range(from: NaiveDate, to: NaiveDate, gran: Option<Granularity>) -> Result<(), ServiceError> {
    // Also keeps the bucket arithmetic (next day, next week, next month) far from chrono's limits.
    for (field, d) in [("from", from), ("to", to)] {
        if !(1970..=9999).contains(&d.year()) {
            return Err(ServiceError::invalid(field, crate::Msg::DateOutOfRange { date: d.to_string() }));
        }
    }
    if from > to {
        return Err(ServiceError::invalid("from", crate::Msg::RangeReversed { from: from.to_string(), to: to.to_string() }));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_RANGE_DAYS {
        return Err(ServiceError::invalid(
            "from",
            crate::Msg::RangeTooLong { from: from.to_string(), to: to.to_string(), days, max: MAX_RANGE_DAYS },
        ));
    }
    if gran == Some(Granularity::Hour) && days > MAX_HOUR_RANGE_DAYS {
        return Err(ServiceError::invalid("granularity", crate::Msg::HourRangeTooLong { max: MAX_HOUR_RANGE_DAYS, days }));
    }
    Ok(())
}

/// The UTC seconds `[start, end)` covered by the local dates `from..=to`.
fn utc_bounds(tz: Tz, from: NaiveDate, to: NaiveDate) -> (i64, i64) {
    let end_day = to.checked_add_days(Days::new(1)).unwrap_or(to);
    (day_start(tz, from).timestamp(), day_start(tz, end_day).timestamp())
}

/// Bucket starts of `from..=to`, in order; every bucket ends where the next starts, the last
/// at the end of `to`.
fn bucket_starts(tz: Tz, from: NaiveDate, to: NaiveDate, gran: Granularity, end: i64) -> Vec<DateTime<Tz>> {
    let mut out = Vec::new();
    match gran {
        // Elapsed hours from local midnight: a spring-forward day has 23, a fall-back day 25
        // (01:00 twice, with two offsets), whatever the wall clock shows.
        Granularity::Hour => {
            let mut t = day_start(tz, from).timestamp();
            while t < end {
                out.push(Utc.timestamp_opt(t, 0).single().expect("in range").with_timezone(&tz));
                t += 3600;
            }
        }
        Granularity::Day => {
            let mut d = from;
            while d <= to {
                out.push(day_start(tz, d));
                d = d.succ_opt().expect("date in range");
            }
        }
        Granularity::Week => {
            let mut d = from - Days::new(u64::from(from.weekday().num_days_from_monday()));
            while d <= to {
                out.push(day_start(tz, d));
                d = d + Days::new(7);
            }
        }
        Granularity::Month => {
            let mut d = from.with_day(1).expect("the 1st exists");
            while d <= to {
                out.push(day_start(tz, d));
                d = d + Months::new(1);
            }
        }
    }
    out
}

/// The buckets of a series over `from..=to` in `tz`: the range checked, its UTC bounds
/// `[start, end)`, each bucket's start, and a way to find the bucket of a counter hour (the
/// last one starting at or before it; every hour of the range has one).
struct Buckets {
    start: i64,
    end: i64,
    starts: Vec<DateTime<Tz>>,
    secs: Vec<i64>,
    /// The same bucket index as SQL over a counter row's `hour` (see [`bucket_sql`]).
    key_sql: Option<String>,
}

impl Buckets {
    fn new(tz: Tz, from: NaiveDate, to: NaiveDate, gran: Granularity) -> Result<Self, ServiceError> {
        check_range(from, to, Some(gran))?;
        let (start, end) = utc_bounds(tz, from, to);
        let starts = bucket_starts(tz, from, to, gran, end);
        let secs: Vec<i64> = starts.iter().map(DateTime::timestamp).collect();
        let key_sql = bucket_sql(tz, from, gran, start, end, &secs);
        Ok(Buckets { start, end, starts, secs, key_sql })
    }

    fn index_of(&self, hour: i64) -> usize {
        self.secs.partition_point(|&s| s <= hour).saturating_sub(1)
    }

    /// The bucket a grouped row of `key_sql` names, checked.
    fn slot(&self, key: i64) -> Result<usize, ServiceError> {
        usize::try_from(key)
            .ok()
            .filter(|&i| i < self.starts.len())
            .ok_or_else(|| ServiceError::Internal(format!("bucket {key} is outside the {} buckets of the range", self.starts.len())))
    }
}

/// Days from 1970-01-01 to `d`.
fn epoch_day(d: NaiveDate) -> i64 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a real date")).num_days()
}

/// The UTC offset (seconds) of counter hours in `[start, end)`, as SQL over `hour`: a number
/// when the zone keeps one offset over the range, else a `CASE` with one branch per change.
///
/// Counter hours sit on the UTC hour grid, so only the offsets at grid hours matter. The range
/// is walked a day at a time and a change located by halving the day (zones change their
/// offset at most once a day), so a year costs about 400 offset lookups, not 8 784.
fn offset_sql(tz: Tz, start: i64, end: i64) -> String {
    let off = |t: i64| {
        DateTime::from_timestamp(t, 0).map(|u| tz.offset_from_utc_datetime(&u.naive_utc()).fix().local_minus_utc()).unwrap_or(0)
    };
    let first = start.div_euclid(3600) * 3600 + if start.rem_euclid(3600) == 0 { 0 } else { 3600 };
    let last = (end - 1).div_euclid(3600) * 3600;
    let mut current = off(first);
    let (initial, mut changes) = (current, Vec::new());
    let mut t = first;
    while t < last {
        let next = (t + 86_400).min(last);
        if off(next) == current {
            t = next;
            continue;
        }
        // off(lo) == current != off(hi): halve until they are neighbouring grid hours.
        let (mut lo, mut hi) = (t, next);
        while hi - lo > 3600 {
            let mid = lo + (hi - lo) / 7200 * 3600;
            if off(mid) == current { lo = mid } else { hi = mid }
        }
        current = off(hi);
        changes.push((hi, current));
        t = hi;
    }
    if changes.is_empty() {
        return initial.to_string();
    }
    let mut sql = String::from("CASE");
    let mut before = initial;
    for (at, offset) in &changes {
        sql.push_str(&format!(" WHEN hour < {at} THEN {before}"));
        before = *offset;
    }
    sql.push_str(&format!(" ELSE {before} END"));
    sql
}

/// The index of the bucket of a counter row, as SQL over its `hour` column, for day, week and
/// month buckets (`None` for hours, where a row already is one bucket's worth).
///
/// Why in SQL: a year of a busy campaign is thousands of counter rows; grouping them where they
/// are stored sends back one row per bucket (365 for a year by day) instead of every row. (The
/// distinct scanners are counted bucket by bucket instead, see [`scanner_sql`].) The index
/// agrees with [`Buckets::index_of`]: for days and weeks, a row belongs to the local date of
/// its hour's start (`(hour + offset) / 86400` days since 1970; a range never starts before
/// 1970 locally, so the division never sees a negative number), and the buckets are runs of
/// local dates; a range has at most 13 months, so their index is a `CASE` over the bucket
/// starts `secs` themselves. Only integers computed here go into the text.
fn bucket_sql(tz: Tz, from: NaiveDate, gran: Granularity, start: i64, end: i64, secs: &[i64]) -> Option<String> {
    if start >= end || gran == Granularity::Hour {
        return None;
    }
    if gran == Granularity::Month {
        let mut sql = String::from("CASE");
        for (i, next) in secs.iter().skip(1).enumerate() {
            sql.push_str(&format!(" WHEN hour < {next} THEN {i}"));
        }
        return Some(if secs.len() <= 1 { "0".to_owned() } else { format!("{sql} ELSE {} END", secs.len() - 1) });
    }
    let local_day = format!("((hour + {}) / 86400)", offset_sql(tz, start, end));
    let from_day = epoch_day(from);
    Some(if gran == Granularity::Day {
        format!("({local_day} - {from_day})")
    } else {
        let monday = from_day - i64::from(from.weekday().num_days_from_monday());
        format!("(({local_day} - {monday}) / 7)")
    })
}

/// A campaign's series over the local dates `from..=to` in `tz`: one point per bucket, zero
/// where nothing happened (also for a campaign that does not exist; callers check that).
///
/// For day, week and month buckets the database answers one row per bucket: the counters
/// grouped in one query, the distinct scanners counted bucket by bucket in one or two more,
/// all sent together. For an hourly series the counter and scanner rows are read and bucketed
/// here.
pub async fn campaign_series<C: ConnectionTrait>(
    db: &C,
    campaign_id: i32,
    from: NaiveDate,
    to: NaiveDate,
    gran: Granularity,
    tz: Tz,
) -> Result<Vec<Point>, ServiceError> {
    let b = Buckets::new(tz, from, to, gran)?;
    let (start, end) = (b.start, b.end);
    let mut points: Vec<Point> = b
        .starts
        .iter()
        .map(|&bucket| Point { bucket, scans: 0, new_followers: 0, unsubscribes: 0, net_followers: 0, unique_scanners: 0 })
        .collect();
    if points.is_empty() {
        return Ok(points);
    }

    if let Some(key) = &b.key_sql {
        // Day, week and month: counters grouped by the database (see `bucket_sql`).
        let backend = db.get_database_backend();
        let range = || vec![Value::from(campaign_id), Value::from(start), Value::from(end)];
        let counters = format!(
            "SELECT CAST({key} AS BIGINT) AS b, CAST(SUM(scans) AS BIGINT) AS scans, \
             CAST(SUM(new_followers) AS BIGINT) AS new_followers, CAST(SUM(unsubscribes) AS BIGINT) AS unsubscribes \
             FROM campaign_hourly WHERE campaign_id = ? AND hour >= ? AND hour < ? GROUP BY 1"
        );
        // The exact distinct count is the costly half: a year of a busy campaign is ~70 k
        // scanner rows. Each bucket is counted by its own subquery over its own key range
        // (`scanner_sql`), so no database sorts the whole range by a computed bucket (that
        // sort was most of a year by day: docs/benchmarks/analytics.md, "64-bit scanner keys, scanners counted bucket by bucket").
        // A long range is counted in parts of whole buckets, each on its own pooled
        // connection, side by side with the counters.
        let bounds = bucket_bounds(&b.secs, start, end);
        let part_queries = scanner_parts(&bounds).into_iter().map(|part| {
            db.query_all_raw(stmt(backend, &scanner_sql(part), vec![Value::from(campaign_id)]))
        });
        let (counters, scanner_rows) = futures::try_join!(
            db.query_all_raw(stmt(backend, &counters, range())),
            futures::future::try_join_all(part_queries),
        )?;
        for r in counters {
            let p = &mut points[b.slot(r.try_get("", "b")?)?];
            p.scans = r.try_get("", "scans")?;
            p.new_followers = r.try_get("", "new_followers")?;
            p.unsubscribes = r.try_get("", "unsubscribes")?;
        }
        let mut counted = vec![false; points.len()];
        for r in scanner_rows.into_iter().flatten() {
            let i = b.slot(r.try_get("", "b")?)?;
            if std::mem::replace(&mut counted[i], true) {
                return Err(ServiceError::Internal(format!("bucket {i} was counted in two parts of the range")));
            }
            points[i].unique_scanners = r.try_get("", "n")?;
        }
    } else {
        hourly_points(db, campaign_id, &b, &mut points).await?;
    }
    for p in &mut points {
        p.net_followers = p.new_followers - p.unsubscribes;
    }
    Ok(points)
}

/// Ranges at least this long count their unique scanners in [`SCANNER_PARTS`] parts.
const SPLIT_SCANNERS_FROM: i64 = 62 * 86_400;
/// Parts of a long range's scanner count, run at the same time (this machine class has two
/// cores; more parts only queue for them and take more pooled connections).
const SCANNER_PARTS: usize = 2;

/// Each bucket's index and `[lo, hi)` bounds over `hour`, clipped to the range `[start, end)`
/// (the first week or month may start before it); `secs` are the bucket starts.
fn bucket_bounds(secs: &[i64], start: i64, end: i64) -> Vec<(usize, i64, i64)> {
    secs.iter().enumerate().map(|(i, &lo)| (i, lo.max(start), secs.get(i + 1).map_or(end, |&hi| hi.min(end)))).collect()
}

/// The buckets of each part a series' scanners are counted in: all of them when the range is
/// short, else [`SCANNER_PARTS`] runs of consecutive buckets.
fn scanner_parts(bounds: &[(usize, i64, i64)]) -> Vec<&[(usize, i64, i64)]> {
    let span = match (bounds.first(), bounds.last()) {
        (Some(first), Some(last)) => last.2 - first.1,
        _ => return Vec::new(),
    };
    let parts = if span >= SPLIT_SCANNERS_FROM { SCANNER_PARTS } else { 1 };
    bounds.chunks(bounds.len().div_ceil(parts)).collect()
}

/// The exact unique scanners of each bucket of `part`, one row each (`b` the bucket index,
/// `n` the count), for the campaign bound as the one parameter.
///
/// Why one subquery per bucket: grouping the range's scanner rows by a computed bucket made
/// SQLite and PostgreSQL sort all of them (~70 k for a year of a busy campaign) before
/// counting; each subquery here reads one bucket's slice of the primary key in order and
/// counts a few hundred keys. (A join of the rows against the bucket list, grouped, is what
/// PostgreSQL once planned as a scan per bucket; a correlated subquery is an index range
/// each.) Only integers computed here go into the text.
fn scanner_sql(part: &[(usize, i64, i64)]) -> String {
    let values: Vec<String> = part.iter().map(|(i, lo, hi)| format!("({i}, {lo}, {hi})")).collect();
    format!(
        "WITH b (i, lo, hi) AS (VALUES {}) \
         SELECT CAST(b.i AS BIGINT) AS b, \
         (SELECT COUNT(DISTINCT scanner) FROM scanner_hours WHERE campaign_id = ? AND hour >= b.lo AND hour < b.hi) AS n \
         FROM b",
        values.join(", ")
    )
}

/// An hourly series' points, counted here: the counter rows of the range, then the scanner
/// rows in key order.
async fn hourly_points<C: ConnectionTrait>(db: &C, campaign_id: i32, b: &Buckets, points: &mut [Point]) -> Result<(), ServiceError> {
    let (start, end) = (b.start, b.end);
    let rows: Vec<(i64, i64, i64, i64)> = campaign_hourly::Entity::find()
        .select_only()
        .columns([
            campaign_hourly::Column::Hour,
            campaign_hourly::Column::Scans,
            campaign_hourly::Column::NewFollowers,
            campaign_hourly::Column::Unsubscribes,
        ])
        .filter(campaign_hourly::Column::CampaignId.eq(campaign_id))
        .filter(campaign_hourly::Column::Hour.gte(start))
        .filter(campaign_hourly::Column::Hour.lt(end))
        .order_by_asc(campaign_hourly::Column::Hour)
        .into_tuple()
        .all(db)
        .await?;
    for (hour, scans, new_followers, unsubscribes) in rows {
        let p = &mut points[b.index_of(hour)];
        p.scans += scans;
        p.new_followers += new_followers;
        p.unsubscribes += unsubscribes;
    }

    // Unique scanners, exact per bucket. `scanner_hours` holds at most one row per scanner per
    // campaign-hour (however many times they scanned), and its primary key
    // (campaign_id, hour, scanner) is exactly the index this range needs: one ordered pass
    // over the campaign's slice, counting each scanner key once per bucket (buckets are consecutive
    // hour ranges, so one set is enough). The cost follows the scanners in the range, not the
    // events, and nothing is estimated or added up across buckets. (A join of the same rows
    // against a VALUES list of bucket bounds, counted in SQL, was planned by PostgreSQL as a
    // scan per bucket: 1.7 s for a year by day; docs/benchmarks/analytics.md, "Analytics on a year of demo data".)
    let rows: Vec<(i64, i64)> = scanner_hour::Entity::find()
        .select_only()
        .columns([scanner_hour::Column::Hour, scanner_hour::Column::Scanner])
        .filter(scanner_hour::Column::CampaignId.eq(campaign_id))
        .filter(scanner_hour::Column::Hour.gte(start))
        .filter(scanner_hour::Column::Hour.lt(end))
        .order_by_asc(scanner_hour::Column::Hour)
        .into_tuple()
        .all(db)
        .await?;
    let mut current: Option<usize> = None;
    let mut seen: HashSet<i64> = HashSet::new();
    for (hour, scanner) in rows {
        let idx = b.index_of(hour);
        if current != Some(idx) {
            if let Some(done) = current {
                points[done].unique_scanners = seen.len() as i64;
            }
            seen.clear();
            current = Some(idx);
        }
        seen.insert(scanner);
    }
    if let Some(done) = current {
        points[done].unique_scanners = seen.len() as i64;
    }
    Ok(())
}

/// A campaign's totals over the local dates `from..=to` in `tz`; `unique_scanners` counts each
/// scanner once over the whole range.
pub async fn campaign_totals<C: ConnectionTrait>(
    db: &C,
    campaign_id: i32,
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
) -> Result<Totals, ServiceError> {
    check_range(from, to, None)?;
    let (start, end) = utc_bounds(tz, from, to);
    let backend = db.get_database_backend();
    // SUM over BIGINT is NUMERIC on PostgreSQL: cast back so both backends answer i64. The
    // three sums come from one pass over the campaign's counter rows (three scalar subqueries
    // read them three times: on PostgreSQL each row is a heap visit).
    let sql = "SELECT c.scans AS scans, c.new_followers AS new_followers, c.unsubscribes AS unsubscribes, \
         (SELECT COUNT(DISTINCT scanner) FROM scanner_hours WHERE campaign_id = ? AND hour >= ? AND hour < ?) AS unique_scanners \
         FROM (SELECT CAST(COALESCE(SUM(scans), 0) AS BIGINT) AS scans, CAST(COALESCE(SUM(new_followers), 0) AS BIGINT) AS new_followers, \
               CAST(COALESCE(SUM(unsubscribes), 0) AS BIGINT) AS unsubscribes \
               FROM campaign_hourly WHERE campaign_id = ? AND hour >= ? AND hour < ?) c";
    let mut values: Vec<Value> = Vec::with_capacity(6);
    for _ in 0..2 {
        values.extend([Value::from(campaign_id), Value::from(start), Value::from(end)]);
    }
    let row = db.query_one_raw(stmt(backend, sql, values)).await?.ok_or_else(|| ServiceError::Internal("totals query returned no row".into()))?;
    let mut t = Totals {
        scans: row.try_get("", "scans")?,
        new_followers: row.try_get("", "new_followers")?,
        unsubscribes: row.try_get("", "unsubscribes")?,
        net_followers: 0,
        unique_scanners: row.try_get("", "unique_scanners")?,
    };
    t.net_followers = t.new_followers - t.unsubscribes;
    Ok(t)
}

/// All-time totals of every campaign (of one account, or of all), archived ones included,
/// ordered by campaign id; campaigns without any event have zeros. One statement: the
/// counters and the distinct scanners are each grouped once, then joined to the campaigns.
pub async fn all_campaign_totals<C: ConnectionTrait>(db: &C, account_id: Option<i32>) -> Result<Vec<(i32, Totals)>, ServiceError> {
    let backend = db.get_database_backend();
    // With an account, each grouped subquery only reads that account's campaigns.
    let (scope, values): (&str, Vec<Value>) = match account_id {
        Some(a) => ("WHERE campaign_id IN (SELECT id FROM campaigns WHERE account_id = ?)", vec![a.into(), a.into(), a.into()]),
        None => ("", Vec::new()),
    };
    let outer = if account_id.is_some() { "WHERE c.account_id = ?" } else { "" };
    let sql = format!(
        "SELECT c.id AS id, \
           CAST(COALESCE(h.scans, 0) AS BIGINT) AS scans, \
           CAST(COALESCE(h.new_followers, 0) AS BIGINT) AS new_followers, \
           CAST(COALESCE(h.unsubscribes, 0) AS BIGINT) AS unsubscribes, \
           CAST(COALESCE(u.n, 0) AS BIGINT) AS unique_scanners \
         FROM campaigns c \
         LEFT JOIN (SELECT campaign_id, SUM(scans) AS scans, SUM(new_followers) AS new_followers, \
                    SUM(unsubscribes) AS unsubscribes FROM campaign_hourly {scope} GROUP BY campaign_id) h \
           ON h.campaign_id = c.id \
         LEFT JOIN (SELECT campaign_id, COUNT(DISTINCT scanner) AS n FROM scanner_hours {scope} GROUP BY campaign_id) u \
           ON u.campaign_id = c.id \
         {outer} ORDER BY c.id"
    );
    let rows = db.query_all_raw(stmt(backend, &sql, values)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut t = Totals {
            scans: r.try_get("", "scans")?,
            new_followers: r.try_get("", "new_followers")?,
            unsubscribes: r.try_get("", "unsubscribes")?,
            net_followers: 0,
            unique_scanners: r.try_get("", "unique_scanners")?,
        };
        t.net_followers = t.new_followers - t.unsubscribes;
        out.push((r.try_get("", "id")?, t));
    }
    Ok(out)
}

/// An HTTP body in pieces: `head`, then `rows` rendered `per_chunk` at a time, each chunk only
/// when the client is ready for it. Exports use it so a large file never sits in memory as
/// one string (the rows are already small structs; their text is what would be big).
pub fn chunked_stream<T, F>(
    head: Vec<u8>,
    rows: Vec<T>,
    per_chunk: usize,
    mut render: F,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static
where
    T: Send + 'static,
    F: FnMut(&[T]) -> std::io::Result<Vec<u8>> + Send + 'static,
{
    use futures::StreamExt;
    let per_chunk = per_chunk.max(1);
    let mut rows = rows.into_iter();
    let body = std::iter::from_fn(move || {
        let batch: Vec<T> = rows.by_ref().take(per_chunk).collect();
        (!batch.is_empty()).then(|| render(&batch))
    });
    futures::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(futures::stream::iter(body))
}

/// An account's numbers over a range of days (from `account_hourly`, which also counts organic
/// followers and pushes for unknown scenes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountTotals {
    pub scans: i64,
    /// Every follow, through a code or not.
    pub new_followers: i64,
    /// Follows without a scene (search, profile card): the part no campaign brought.
    pub organic_followers: i64,
    pub unsubscribes: i64,
    pub net_followers: i64,
    /// Pushes with a scene no campaign of the account has (a deleted campaign, a code made
    /// outside Sceneboard): kept, and shown so nobody wonders where scans went.
    pub unknown_scene_events: i64,
}

/// Totals of account `account_id` from local day `from` to `to` (inclusive) in `tz`.
pub async fn account_totals<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
) -> Result<AccountTotals, ServiceError> {
    check_range(from, to, None)?;
    let (start, end) = utc_bounds(tz, from, to);
    let sql = "SELECT CAST(COALESCE(SUM(scans), 0) AS BIGINT) AS scans, \
         CAST(COALESCE(SUM(new_followers), 0) AS BIGINT) AS new_followers, \
         CAST(COALESCE(SUM(organic_followers), 0) AS BIGINT) AS organic_followers, \
         CAST(COALESCE(SUM(unsubscribes), 0) AS BIGINT) AS unsubscribes, \
         CAST(COALESCE(SUM(unknown_scene_events), 0) AS BIGINT) AS unknown_scene_events \
         FROM account_hourly WHERE account_id = ? AND hour >= ? AND hour < ?";
    let values = vec![Value::from(account_id), Value::from(start), Value::from(end)];
    let row = db
        .query_one_raw(stmt(db.get_database_backend(), sql, values))
        .await?
        .ok_or_else(|| ServiceError::Internal("account totals query returned no row".into()))?;
    let new_followers: i64 = row.try_get("", "new_followers")?;
    let unsubscribes: i64 = row.try_get("", "unsubscribes")?;
    Ok(AccountTotals {
        scans: row.try_get("", "scans")?,
        new_followers,
        organic_followers: row.try_get("", "organic_followers")?,
        unsubscribes,
        net_followers: new_followers - unsubscribes,
        unknown_scene_events: row.try_get("", "unknown_scene_events")?,
    })
}

/// A campaign among an account's best over a range (see [`top_campaigns`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopCampaign {
    pub id: i32,
    pub name: String,
    pub new_followers: i64,
    pub scans: i64,
}

/// The account's campaigns that brought the most new followers in the range, best first
/// (then by scans), at most `limit`, campaigns without any left out. Their names come with
/// them, so a caller needs no query per campaign.
pub async fn top_campaigns<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    limit: u64,
) -> Result<Vec<TopCampaign>, ServiceError> {
    check_range(from, to, None)?;
    let (start, end) = utc_bounds(tz, from, to);
    let sql = "SELECT h.campaign_id AS campaign_id, c.name AS name, CAST(SUM(h.new_followers) AS BIGINT) AS new_followers, \
         CAST(SUM(h.scans) AS BIGINT) AS scans \
         FROM campaign_hourly h JOIN campaigns c ON c.id = h.campaign_id \
         WHERE c.account_id = ? AND h.hour >= ? AND h.hour < ? \
         GROUP BY h.campaign_id, c.name HAVING SUM(h.new_followers) > 0 OR SUM(h.scans) > 0 \
         ORDER BY new_followers DESC, scans DESC, campaign_id LIMIT ?";
    let values = vec![Value::from(account_id), Value::from(start), Value::from(end), Value::from(limit as i64)];
    let rows = db.query_all_raw(stmt(db.get_database_backend(), sql, values)).await?;
    rows.into_iter()
        .map(|r| {
            Ok(TopCampaign {
                id: r.try_get("", "campaign_id")?,
                name: r.try_get("", "name")?,
                new_followers: r.try_get("", "new_followers")?,
                scans: r.try_get("", "scans")?,
            })
        })
        .collect()
}

/// One bucket of an account's series (from `account_hourly`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountPoint {
    /// Start of the bucket in the account's zone.
    pub bucket: DateTime<Tz>,
    pub scans: i64,
    /// Every follow, through a code or not.
    pub new_followers: i64,
    /// Follows without a scene.
    pub organic_followers: i64,
    pub unsubscribes: i64,
}

/// An account's series over the local dates `from..=to` in `tz`, zero-filled: one query for
/// the counter rows of the range, grouped like [`campaign_series`] (hours bucketed here).
pub async fn account_series<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    from: NaiveDate,
    to: NaiveDate,
    gran: Granularity,
    tz: Tz,
) -> Result<Vec<AccountPoint>, ServiceError> {
    use crate::entity::account_hourly;
    let b = Buckets::new(tz, from, to, gran)?;
    let (start, end) = (b.start, b.end);
    let mut points: Vec<AccountPoint> = b
        .starts
        .iter()
        .map(|&bucket| AccountPoint { bucket, scans: 0, new_followers: 0, organic_followers: 0, unsubscribes: 0 })
        .collect();
    if points.is_empty() {
        return Ok(points);
    }
    if let Some(key) = &b.key_sql {
        // Grouped by the database, as in `campaign_series`.
        let sql = format!(
            "SELECT CAST({key} AS BIGINT) AS b, CAST(SUM(scans) AS BIGINT) AS scans, \
             CAST(SUM(new_followers) AS BIGINT) AS new_followers, CAST(SUM(organic_followers) AS BIGINT) AS organic, \
             CAST(SUM(unsubscribes) AS BIGINT) AS unsubscribes \
             FROM account_hourly WHERE account_id = ? AND hour >= ? AND hour < ? GROUP BY 1"
        );
        let values = vec![Value::from(account_id), Value::from(start), Value::from(end)];
        for r in db.query_all_raw(stmt(db.get_database_backend(), &sql, values)).await? {
            let p = &mut points[b.slot(r.try_get("", "b")?)?];
            p.scans = r.try_get("", "scans")?;
            p.new_followers = r.try_get("", "new_followers")?;
            p.organic_followers = r.try_get("", "organic")?;
            p.unsubscribes = r.try_get("", "unsubscribes")?;
        }
        return Ok(points);
    }
    let rows: Vec<(i64, i64, i64, i64, i64)> = account_hourly::Entity::find()
        .select_only()
        .columns([
            account_hourly::Column::Hour,
            account_hourly::Column::Scans,
            account_hourly::Column::NewFollowers,
            account_hourly::Column::OrganicFollowers,
            account_hourly::Column::Unsubscribes,
        ])
        .filter(account_hourly::Column::AccountId.eq(account_id))
        .filter(account_hourly::Column::Hour.gte(start))
        .filter(account_hourly::Column::Hour.lt(end))
        .into_tuple()
        .all(db)
        .await?;
    for (hour, scans, new_followers, organic, unsubscribes) in rows {
        let p = &mut points[b.index_of(hour)];
        p.scans += scans;
        p.new_followers += new_followers;
        p.organic_followers += organic;
        p.unsubscribes += unsubscribes;
    }
    Ok(points)
}

/// The period just before `from..=to`, of the same number of days (what a chart compares with).
pub fn previous_range(from: NaiveDate, to: NaiveDate) -> (NaiveDate, NaiveDate) {
    let days = (to - from).num_days().max(0) as u64 + 1;
    let prev_to = from.pred_opt().unwrap_or(from);
    (prev_to.checked_sub_days(Days::new(days - 1)).unwrap_or(prev_to), prev_to)
}

/// `current` compared with `previous` in whole percent, rounded half away from zero; `None`
/// when the previous value is zero (no base to compare with).
pub fn change_percent(current: i64, previous: i64) -> Option<i64> {
    (previous != 0).then(|| {
        let diff = (current - previous) as f64 * 100.0 / previous.abs() as f64;
        diff.round() as i64
    })
}

/// Days after following at which retention is measured.
pub const RETENTION_DAYS: [i64; 3] = [1, 7, 30];

/// Retention of one horizon: of the new followers old enough to be measured, how many still
/// followed `days` days after they followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub days: i64,
    /// Followers of the range who followed at least `days` days before `now`.
    pub eligible: i64,
    /// Of those, the ones who had not unsubscribed `days` days after following.
    pub retained: i64,
}

impl Retention {
    /// `retained / eligible` in whole percent, `None` without eligible followers.
    pub fn percent(&self) -> Option<i64> {
        (self.eligible > 0).then(|| (self.retained * 100 + self.eligible / 2) / self.eligible)
    }
}

/// Retention after 1, 7 and 30 days of the followers campaign `campaign_id` brought during
/// the local dates `from..=to` in `tz`, measured at `now`.
///
/// A follower counts for a horizon only once the horizon has passed (someone who followed
/// yesterday says nothing yet about 7-day retention), so recent ranges show fewer eligible
/// followers rather than a flattering 100 %. Read from `subscriptions`, one row per follow,
/// through its (campaign_id, subscribed_at) index; the comparison is done here because date
/// arithmetic differs between SQLite and PostgreSQL.
pub async fn campaign_retention<C: ConnectionTrait>(
    db: &C,
    campaign_id: i32,
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Vec<Retention>, ServiceError> {
    use crate::entity::subscription;
    check_range(from, to, None)?;
    let (start, end) = utc_bounds(tz, from, to);
    let at = |s: i64| Utc.timestamp_opt(s, 0).single().unwrap_or_default();
    let rows: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = subscription::Entity::find()
        .select_only()
        .columns([subscription::Column::SubscribedAt, subscription::Column::UnsubscribedAt])
        .filter(subscription::Column::CampaignId.eq(campaign_id))
        .filter(subscription::Column::SubscribedAt.gte(at(start)))
        .filter(subscription::Column::SubscribedAt.lt(at(end)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(RETENTION_DAYS
        .iter()
        .map(|&days| {
            let horizon = chrono::Duration::days(days);
            let mut r = Retention { days, eligible: 0, retained: 0 };
            for (subscribed, unsubscribed) in &rows {
                let due = *subscribed + horizon;
                if due > now {
                    continue;
                }
                r.eligible += 1;
                if unsubscribed.is_none_or(|u| u >= due) {
                    r.retained += 1;
                }
            }
            r
        })
        .collect())
}

/// A requested range, as it comes from a URL or a form: every part optional, strings so that a
/// bad value gets a message naming the parameter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    pub from: Option<String>,
    pub to: Option<String>,
    /// A preset: `today`, `yesterday`, `month` (this month so far), or a number of days
    /// ending `to` (used when `from` is absent).
    pub days: Option<String>,
    pub granularity: Option<String>,
}

/// A resolved range: local dates, both included, and the granularity of its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub granularity: Granularity,
}

/// Days covered when a request names no range: the last 30, today included.
pub const DEFAULT_DAYS: u64 = 30;

fn date_field(field: &'static str, value: Option<&str>) -> Result<Option<NaiveDate>, ServiceError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| ServiceError::invalid(field, crate::Msg::DateInvalid { value: v.to_owned() })),
    }
}

/// Resolves `req` against `today` (in the account's zone): explicit dates win, then the
/// preset, then the last [`DEFAULT_DAYS`] days; the granularity is picked from the range
/// unless given. The range itself is checked (order, length, hourly limit).
pub fn resolve_range(req: &RangeRequest, today: NaiveDate) -> Result<Range, ServiceError> {
    let from = date_field("from", req.from.as_deref())?;
    let to = date_field("to", req.to.as_deref())?;
    let gran = match req.granularity.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        Some(g) => Some(g.parse::<Granularity>()?),
        None => None,
    };
    let (from, to) = match (from, to) {
        (Some(f), t) => (f, t.unwrap_or(today)),
        (None, t) => {
            let to = t.unwrap_or(today);
            match req.days.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
                Some("today") => (today, today),
                Some("yesterday") => {
                    let y = today.pred_opt().unwrap_or(today);
                    (y, y)
                }
                Some("month") => (today.with_day(1).unwrap_or(today), today),
                Some(d) => {
                    let n = d.parse::<u64>().ok().filter(|n| (1..=MAX_RANGE_DAYS as u64).contains(n)).ok_or_else(|| {
                        ServiceError::invalid("days", crate::Msg::DaysInvalid { value: d.to_owned(), max: MAX_RANGE_DAYS })
                    })?;
                    (to.checked_sub_days(Days::new(n - 1)).unwrap_or(to), to)
                }
                None => (to.checked_sub_days(Days::new(DEFAULT_DAYS - 1)).unwrap_or(to), to),
            }
        }
    };
    let granularity = gran.unwrap_or_else(|| auto_granularity(from, to));
    check_range(from, to, Some(granularity))?;
    Ok(Range { from, to, granularity })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanners_are_counted_by_whole_buckets_clipped_to_the_range() {
        let day = 86_400;
        let at = |d: i64| 1_000 * day + d * day;
        // 30 daily buckets: one part holding every bucket, each bucket a day.
        let month: Vec<i64> = (0..30).map(at).collect();
        let bounds = bucket_bounds(&month, at(0), at(30));
        assert_eq!(bounds.len(), 30);
        assert_eq!(bounds[0], (0, at(0), at(1)));
        assert_eq!(bounds[29], (29, at(29), at(30)));
        assert_eq!(scanner_parts(&bounds), vec![&bounds[..]]);
        // Weeks whose first starts before the range and whose last ends after it: clipped.
        let weeks: Vec<i64> = (0..5).map(|w| at(w * 7 - 3)).collect();
        let bounds = bucket_bounds(&weeks, at(0), at(30));
        assert_eq!(bounds[0], (0, at(0), at(4)));
        assert_eq!(bounds[4], (4, at(25), at(30)));
        // A year by day: two parts of consecutive buckets; every bucket in exactly one, and
        // the bounds tile the range without gap or overlap.
        let year: Vec<i64> = (0..365).map(at).collect();
        let bounds = bucket_bounds(&year, at(0), at(365));
        let parts = scanner_parts(&bounds);
        assert_eq!(parts.len(), SCANNER_PARTS);
        let flat: Vec<_> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        assert_eq!(flat, bounds);
        for w in bounds.windows(2) {
            assert_eq!(w[0].2, w[1].1);
        }
        assert_eq!((bounds[0].1, bounds[364].2), (at(0), at(365)));
        // A year by month: 12 buckets of uneven length, still split at a month's start.
        let months: Vec<i64> = year.iter().copied().step_by(31).take(12).collect();
        let bounds = bucket_bounds(&months, at(0), at(365));
        let parts = scanner_parts(&bounds);
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![6, 6]);
        // One bucket over a long range: nothing to split.
        assert_eq!(scanner_parts(&bucket_bounds(&[at(0)], at(0), at(365))).len(), 1);
        assert!(scanner_parts(&[]).is_empty());
        // The statement names each bucket with its bounds, and nothing else.
        let sql = scanner_sql(&[(0, 10, 20), (1, 20, 35)]);
        assert!(sql.contains("VALUES (0, 10, 20), (1, 20, 35)"), "{sql}");
        assert_eq!(sql.matches('?').count(), 1);
    }
}
