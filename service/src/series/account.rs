//! An account's numbers (from `account_hourly`): totals over a range, its top campaigns, and
//! its series.

use super::Granularity;
use super::buckets::Buckets;
use super::range::{check_range, utc_bounds};
use crate::ServiceError;
use crate::db::stmt;
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Value};

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
    let mut points: Vec<AccountPoint> =
        b.starts.iter().map(|&bucket| AccountPoint { bucket, scans: 0, new_followers: 0, organic_followers: 0, unsubscribes: 0 }).collect();
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
