//! A campaign's series (bucketed by the database, or here for hours) and its totals, over a
//! range or all time.

use super::buckets::{Buckets, bucket_bounds, scanner_parts, scanner_sql};
use super::range::{check_range, utc_bounds};
use super::{Granularity, Point, Totals};
use crate::ServiceError;
use crate::db::stmt;
use crate::entity::{campaign_hourly, scanner_hour};
use chrono::NaiveDate;
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value};
use std::collections::HashSet;

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
        // The exact distinct count is the costly half: each bucket is counted by its own
        // subquery over its own key range (`scanner_sql`), so no database sorts the whole range
        // by a computed bucket; a long range in parts, side by side with the counters
        // (docs/design/series-queries.md, "Unique scanners, bucket by bucket").
        let bounds = bucket_bounds(&b.secs, start, end);
        let part_queries = scanner_parts(&bounds)
            .into_iter()
            .map(|part| db.query_all_raw(stmt(backend, &scanner_sql(part), vec![Value::from(campaign_id)])));
        let (counters, scanner_rows) =
            futures::try_join!(db.query_all_raw(stmt(backend, &counters, range())), futures::future::try_join_all(part_queries),)?;
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

    // Unique scanners, exact per bucket: one ordered pass over the campaign's slice of
    // `scanner_hours` by its primary key, each scanner key counted once per bucket
    // (docs/design/series-queries.md, "One ordered pass").
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
    let row =
        db.query_one_raw(stmt(backend, sql, values)).await?.ok_or_else(|| ServiceError::Internal("totals query returned no row".into()))?;
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
