//! The buckets of a series (hour, day, ISO week, month in the account's zone) and the SQL that
//! groups counter rows by them and counts each bucket's distinct scanners.

use super::Granularity;
use super::range::{check_range, day_start, utc_bounds};
use crate::ServiceError;
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

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
pub(super) struct Buckets {
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) starts: Vec<DateTime<Tz>>,
    pub(super) secs: Vec<i64>,
    /// The same bucket index as SQL over a counter row's `hour` (see [`bucket_sql`]).
    pub(super) key_sql: Option<String>,
}

impl Buckets {
    pub(super) fn new(tz: Tz, from: NaiveDate, to: NaiveDate, gran: Granularity) -> Result<Self, ServiceError> {
        check_range(from, to, Some(gran))?;
        let (start, end) = utc_bounds(tz, from, to);
        let starts = bucket_starts(tz, from, to, gran, end);
        let secs: Vec<i64> = starts.iter().map(DateTime::timestamp).collect();
        let key_sql = bucket_sql(tz, from, gran, start, end, &secs);
        Ok(Buckets { start, end, starts, secs, key_sql })
    }

    pub(super) fn index_of(&self, hour: i64) -> usize {
        self.secs.partition_point(|&s| s <= hour).saturating_sub(1)
    }

    /// The bucket a grouped row of `key_sql` names, checked.
    pub(super) fn slot(&self, key: i64) -> Result<usize, ServiceError> {
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
    let off =
        |t: i64| DateTime::from_timestamp(t, 0).map(|u| tz.offset_from_utc_datetime(&u.naive_utc()).fix().local_minus_utc()).unwrap_or(0);
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

/// Ranges at least this long count their unique scanners in [`SCANNER_PARTS`] parts.
const SPLIT_SCANNERS_FROM: i64 = 62 * 86_400;
/// Parts of a long range's scanner count, run at the same time (this machine class has two
/// cores; more parts only queue for them and take more pooled connections).
const SCANNER_PARTS: usize = 2;

/// Each bucket's index and `[lo, hi)` bounds over `hour`, clipped to the range `[start, end)`
/// (the first week or month may start before it); `secs` are the bucket starts.
pub(super) fn bucket_bounds(secs: &[i64], start: i64, end: i64) -> Vec<(usize, i64, i64)> {
    secs.iter().enumerate().map(|(i, &lo)| (i, lo.max(start), secs.get(i + 1).map_or(end, |&hi| hi.min(end)))).collect()
}

/// The buckets of each part a series' scanners are counted in: all of them when the range is
/// short, else [`SCANNER_PARTS`] runs of consecutive buckets.
pub(super) fn scanner_parts(bounds: &[(usize, i64, i64)]) -> Vec<&[(usize, i64, i64)]> {
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
pub(super) fn scanner_sql(part: &[(usize, i64, i64)]) -> String {
    let values: Vec<String> = part.iter().map(|(i, lo, hi)| format!("({i}, {lo}, {hi})")).collect();
    format!(
        "WITH b (i, lo, hi) AS (VALUES {}) \
         SELECT CAST(b.i AS BIGINT) AS b, \
         (SELECT COUNT(DISTINCT scanner) FROM scanner_hours WHERE campaign_id = ? AND hour >= b.lo AND hour < b.hi) AS n \
         FROM b",
        values.join(", ")
    )
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
