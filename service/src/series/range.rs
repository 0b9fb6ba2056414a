//! The range of a series: its granularity, its local dates and their UTC bounds (checked),
//! the period before it, and a request's `from`/`to`/`days`/`granularity` resolved into one.

use crate::ServiceError;
use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
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
        i64::MIN..=2 => Granularity::Hour,
        3..=92 => Granularity::Day,
        93..=366 => Granularity::Week,
        _ => Granularity::Month,
    }
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
pub(super) fn check_range(from: NaiveDate, to: NaiveDate, gran: Option<Granularity>) -> Result<(), ServiceError> {
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
pub(super) fn utc_bounds(tz: Tz, from: NaiveDate, to: NaiveDate) -> (i64, i64) {
    let end_day = to.checked_add_days(Days::new(1)).unwrap_or(to);
    (day_start(tz, from).timestamp(), day_start(tz, end_day).timestamp())
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
