//! Reading campaigns: the SQL the queries share (a view's columns, its current code and
//! totals), one campaign, a page of them, counts and groups, and the campaign a push belongs to.

use super::types::{CampaignView, CodeView, ListQuery, Page, Sort, Status, Welcome};
use super::{EXPIRING_WITHIN_DAYS, MAX_PER_PAGE};
use crate::db::stmt;
use crate::entity::campaign;
use crate::{Msg, ServiceError};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryResult, QuerySelect, Value};
use std::collections::HashMap;

/// The expiry of the campaign `c`'s current code (NULL: permanent, or no code).
const CURRENT_EXPIRY: &str = "(SELECT q.expires_at FROM qr_codes q WHERE q.campaign_id = c.id ORDER BY q.id DESC LIMIT 1)";
const HAS_CODE: &str = "EXISTS (SELECT 1 FROM qr_codes q WHERE q.campaign_id = c.id)";

/// Every column of a view but its code and totals; never the logo bytes.
const VIEW_SELECT: &str = "SELECT c.id, c.account_id, a.name AS account_name, a.app_id, c.name, c.group_name, c.kind, \
     c.scene, c.expire_days, c.auto_renew, c.welcome_message, c.tag_name, c.archived_at, c.created_at, \
     CASE WHEN c.logo IS NULL THEN 0 ELSE 1 END AS has_logo \
     FROM campaigns c JOIN wechat_accounts a ON a.id = c.account_id";

fn view_from_row(r: &QueryResult, now: DateTime<Utc>) -> Result<CampaignView, DbErr> {
    let welcome: Option<String> = r.try_get("", "welcome_message")?;
    let archived_at: Option<DateTime<Utc>> = r.try_get("", "archived_at")?;
    let has_logo: i32 = r.try_get("", "has_logo")?;
    Ok(CampaignView {
        id: r.try_get("", "id")?,
        account_id: r.try_get("", "account_id")?,
        account_name: r.try_get("", "account_name")?,
        app_id: r.try_get("", "app_id")?,
        name: r.try_get("", "name")?,
        group: r.try_get("", "group_name")?,
        kind: r.try_get("", "kind")?,
        scene: r.try_get("", "scene")?,
        expire_days: r.try_get("", "expire_days")?,
        auto_renew: r.try_get("", "auto_renew")?,
        welcome: welcome.and_then(|w| match Welcome::from_json(&w) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "a campaign's welcome message is not valid JSON");
                None
            }
        }),
        tag_name: r.try_get("", "tag_name")?,
        archived_at,
        created_at: r.try_get("", "created_at")?,
        code: None,
        status: Status::of(archived_at.is_some(), None, now),
        scans: 0,
        new_followers: 0,
        unsubscribes: 0,
        has_logo: has_logo != 0,
    })
}

/// Fills in the current codes and totals of `views`: one query each, whatever their number.
async fn attach<C: ConnectionTrait>(db: &C, views: &mut [CampaignView], now: DateTime<Utc>) -> Result<(), DbErr> {
    if views.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let ids: Vec<Value> = views.iter().map(|v| v.id.into()).collect();
    let marks = crate::db::marks(ids.len());
    let codes = db
        .query_all_raw(stmt(
            backend,
            &format!(
                "SELECT q.campaign_id, q.ticket, q.url, q.expires_at FROM qr_codes q WHERE q.id IN \
                 (SELECT MAX(q2.id) FROM qr_codes q2 WHERE q2.campaign_id IN ({marks}) GROUP BY q2.campaign_id)"
            ),
            ids.clone(),
        ))
        .await?;
    let mut by_id: HashMap<i32, CodeView> = HashMap::new();
    for r in codes {
        by_id.insert(
            r.try_get("", "campaign_id")?,
            CodeView { ticket: r.try_get("", "ticket")?, url: r.try_get("", "url")?, expires_at: r.try_get("", "expires_at")? },
        );
    }
    let totals = db
        .query_all_raw(stmt(
            backend,
            &format!(
                "SELECT campaign_id, CAST(SUM(scans) AS BIGINT) AS scans, CAST(SUM(new_followers) AS BIGINT) AS new_followers, \
                 CAST(SUM(unsubscribes) AS BIGINT) AS unsubscribes FROM campaign_hourly WHERE campaign_id IN ({marks}) \
                 GROUP BY campaign_id"
            ),
            ids,
        ))
        .await?;
    let mut sums: HashMap<i32, (i64, i64, i64)> = HashMap::new();
    for r in totals {
        sums.insert(
            r.try_get("", "campaign_id")?,
            (r.try_get("", "scans")?, r.try_get("", "new_followers")?, r.try_get("", "unsubscribes")?),
        );
    }
    for v in views.iter_mut() {
        v.code = by_id.remove(&v.id);
        v.status = Status::of(v.archived_at.is_some(), v.code.as_ref(), now);
        if let Some((s, n, u)) = sums.get(&v.id) {
            (v.scans, v.new_followers, v.unsubscribes) = (*s, *n, *u);
        }
    }
    Ok(())
}

pub(super) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

pub(super) fn unix_to_utc(secs: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(secs, 0).single()
}

/// One campaign with its current code and totals.
pub async fn get<C: ConnectionTrait>(db: &C, id: i32) -> Result<CampaignView, ServiceError> {
    let now = Utc::now();
    let row = db
        .query_one_raw(stmt(db.get_database_backend(), &format!("{VIEW_SELECT} WHERE c.id = ?"), vec![id.into()]))
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut views = [view_from_row(&row, now)?];
    attach(db, &mut views, now).await?;
    let [view] = views;
    Ok(view)
}

/// A page of campaigns, filtered and sorted.
///
/// Four queries whatever the page size: the count, the page's rows, then the current codes
/// and the totals of just those rows. Status filters compare the current code's expiry in
/// SQL, so paging stays right.
pub async fn list<C: ConnectionTrait>(db: &C, query: &ListQuery) -> Result<Page, ServiceError> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    let (where_sql, vals) = list_filter(query, now)?;
    let total = count_where(db, &where_sql, vals.clone()).await?;
    let dir = if query.desc { "DESC" } else { "ASC" };
    let order = match query.sort {
        Sort::Name => format!("LOWER(c.name) {dir}, c.id {dir}"),
        Sort::Created => format!("c.created_at {dir}, c.id {dir}"),
        Sort::Id => format!("c.id {dir}"),
        Sort::Scans => {
            format!("(SELECT COALESCE(SUM(h.scans), 0) FROM campaign_hourly h WHERE h.campaign_id = c.id) {dir}, c.id {dir}")
        }
    };
    let per_page = query.per_page.clamp(1, MAX_PER_PAGE);
    let page = query.page.max(1);
    let mut row_vals = vals;
    row_vals.push((per_page as i64).into());
    row_vals.push((((page - 1).saturating_mul(per_page)).min(i64::MAX as u64) as i64).into());
    let rows = db.query_all_raw(stmt(backend, &format!("{VIEW_SELECT}{where_sql} ORDER BY {order} LIMIT ? OFFSET ?"), row_vals)).await?;
    let mut views = rows.iter().map(|r| view_from_row(r, now)).collect::<Result<Vec<_>, _>>()?;
    attach(db, &mut views, now).await?;
    Ok(Page { rows: views, total, page, per_page })
}

/// The `WHERE` clause (with its values) of a [`ListQuery`]'s filters, at instant `now`.
fn list_filter(query: &ListQuery, now: chrono::DateTime<Utc>) -> Result<(String, Vec<Value>), ServiceError> {
    let soon = now + Duration::days(EXPIRING_WITHIN_DAYS);
    let mut conds: Vec<String> = Vec::new();
    let mut vals: Vec<Value> = Vec::new();
    if let Some(a) = query.account_id {
        conds.push("c.account_id = ?".into());
        vals.push(a.into());
    }
    if let Some(after) = query.after_id {
        conds.push("c.id > ?".into());
        vals.push(after.into());
    }
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let escaped: String = q
            .to_lowercase()
            .chars()
            .flat_map(|ch| match ch {
                '\\' | '%' | '_' => vec!['\\', ch],
                _ => vec![ch],
            })
            .collect();
        conds.push("(LOWER(c.name) LIKE ? ESCAPE '\\' OR c.scene = ?)".into());
        vals.push(format!("%{escaped}%").into());
        vals.push(q.to_owned().into());
    }
    if let Some(g) = query.group.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        conds.push("c.group_name = ?".into());
        vals.push(g.to_owned().into());
    }
    let status = query.status.as_deref().map(str::trim).filter(|s| !s.is_empty());
    match status {
        Some("all") => {}
        Some("archived") => conds.push("c.archived_at IS NOT NULL".into()),
        other => {
            conds.push("c.archived_at IS NULL".into());
            match other {
                None => {}
                Some("active") => {
                    conds.push(format!("{HAS_CODE} AND ({CURRENT_EXPIRY} IS NULL OR {CURRENT_EXPIRY} > ?)"));
                    vals.push(soon.into());
                }
                Some("expiring") => {
                    conds.push(format!("{CURRENT_EXPIRY} > ? AND {CURRENT_EXPIRY} <= ?"));
                    vals.push(now.into());
                    vals.push(soon.into());
                }
                Some("expired") => {
                    conds.push(format!("{CURRENT_EXPIRY} <= ?"));
                    vals.push(now.into());
                }
                Some("no_code") => conds.push(format!("NOT {HAS_CODE}")),
                Some(s) => {
                    return Err(ServiceError::invalid("status", Msg::StatusUnknown { value: s.to_owned() }));
                }
            }
        }
    }
    let where_sql = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    Ok((where_sql, vals))
}

async fn count_where<C: ConnectionTrait>(db: &C, where_sql: &str, vals: Vec<Value>) -> Result<u64, ServiceError> {
    let n: i64 = db
        .query_one_raw(stmt(db.get_database_backend(), &format!("SELECT COUNT(*) AS n FROM campaigns c{where_sql}"), vals))
        .await?
        .map(|r| r.try_get("", "n"))
        .transpose()?
        .unwrap_or(0);
    Ok(n.max(0) as u64)
}

/// How many campaigns match `query`'s filters (its order and page are ignored): what a badge
/// or a banner needs, without reading any row or total of a campaign.
pub async fn count<C: ConnectionTrait>(db: &C, query: &ListQuery) -> Result<u64, ServiceError> {
    let (where_sql, vals) = list_filter(query, Utc::now())?;
    count_where(db, &where_sql, vals).await
}

/// The groups in use (archived campaigns included), sorted.
pub async fn groups<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, ServiceError> {
    let rows = db
        .query_all_raw(stmt(
            db.get_database_backend(),
            "SELECT DISTINCT group_name FROM campaigns WHERE group_name IS NOT NULL ORDER BY group_name",
            vec![],
        ))
        .await?;
    Ok(rows.iter().map(|r| r.try_get::<String>("", "group_name")).collect::<Result<_, _>>()?)
}

/// The campaign a push belongs to: by scene (unique per account), else by ticket (an old code
/// of the campaign). Archived campaigns resolve too: their printed codes still work. Each
/// lookup is one query on a unique index.
pub async fn resolve_scene<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    scene: &str,
    ticket: Option<&str>,
) -> Result<Option<i32>, ServiceError> {
    if !scene.is_empty() {
        let by_scene = campaign::Entity::find()
            .select_only()
            .column(campaign::Column::Id)
            .filter(campaign::Column::AccountId.eq(account_id))
            .filter(campaign::Column::Scene.eq(scene))
            .into_tuple::<i32>()
            .one(db)
            .await?;
        if by_scene.is_some() {
            return Ok(by_scene);
        }
    }
    let Some(ticket) = ticket.filter(|t| !t.is_empty()) else { return Ok(None) };
    let row = db
        .query_one_raw(stmt(
            db.get_database_backend(),
            "SELECT q.campaign_id FROM qr_codes q JOIN campaigns c ON c.id = q.campaign_id WHERE q.ticket = ? AND c.account_id = ?",
            vec![ticket.to_owned().into(), account_id.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i32>("", "campaign_id")).transpose()?)
}
