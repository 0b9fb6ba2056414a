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
//!
//! Files: `range` — granularity, range checks and UTC bounds, the previous period, request
//! resolution; `buckets` — bucket starts and the SQL that groups counters and counts scanners
//! by bucket; `campaign` — a campaign's series and totals; `account` — an account's totals,
//! top campaigns and series; `retention` — followers still there after 1, 7 and 30 days.
//! Here: the shared `Point` and `Totals`.

mod account;
mod buckets;
mod campaign;
mod range;
mod retention;

pub use account::{AccountPoint, AccountTotals, TopCampaign, account_series, account_totals, top_campaigns};
pub use campaign::{all_campaign_totals, campaign_series, campaign_totals};
pub use range::{
    DEFAULT_DAYS, Granularity, MAX_HOUR_RANGE_DAYS, MAX_RANGE_DAYS, Range, RangeRequest, auto_granularity, change_percent, day_start,
    previous_range, resolve_range,
};
pub use retention::{RETENTION_DAYS, Retention, campaign_retention};

use chrono::DateTime;
use chrono_tz::Tz;

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
