//! Which scenes an account may still hand out, and how many permanent codes it has used.
//!
//! WeChat never takes a code back: a permanent code, and the quota it took, last forever, and
//! a printed temporary code works until it expires, even after its campaign is deleted. So
//! every scene that got a ticket is written to `issued_scenes`, in the transaction that stores
//! the code, and stays there when the campaign goes. A scene is free only when no campaign
//! has it and it never had a permanent ticket nor has a temporary one that still works; the
//! permanent-code quota counts the permanent scenes ever issued.

use crate::ServiceError;
use crate::db::stmt;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Value};
use std::collections::{BTreeSet, HashMap};

/// Scenes looked up per query (well under every backend's parameter limit).
const CHUNK: usize = 500;

/// Records that WeChat issued a ticket for `scene`: permanent, or temporary until `expires_at`.
/// A scene keeps the latest expiry of its tickets (a shorter code issued later does not make
/// an earlier, longer one stop working), and once permanent it stays permanent.
pub(crate) async fn record<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    scene: &str,
    permanent: bool,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let sql = "INSERT INTO issued_scenes (account_id, scene, permanent, expires_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (account_id, scene) DO UPDATE SET \
         permanent = (issued_scenes.permanent OR excluded.permanent), \
         expires_at = CASE WHEN issued_scenes.permanent OR excluded.permanent THEN NULL \
                           WHEN issued_scenes.expires_at IS NULL OR excluded.expires_at > issued_scenes.expires_at \
                           THEN excluded.expires_at ELSE issued_scenes.expires_at END";
    let expires_at = if permanent { None } else { expires_at };
    let vals: Vec<Value> = vec![account_id.into(), scene.to_owned().into(), permanent.into(), expires_at.into()];
    db.execute_raw(stmt(db.get_database_backend(), sql, vals)).await.map(|_| ())
}

/// Permanent codes the account has used: every permanent scene ever issued, whether its
/// campaign is live, archived or deleted.
pub(crate) async fn permanent_issued<C: ConnectionTrait>(db: &C, account_id: i32) -> Result<u64, DbErr> {
    Ok(permanent_issued_by_account(db, Some(&[account_id])).await?.get(&account_id).map_or(0, |n| (*n).max(0) as u64))
}

/// [`permanent_issued`] of the given accounts (all when `ids` is `None`).
pub(crate) async fn permanent_issued_by_account<C: ConnectionTrait>(db: &C, ids: Option<&[i32]>) -> Result<HashMap<i32, i64>, DbErr> {
    let mut sql = "SELECT account_id, COUNT(*) AS n FROM issued_scenes WHERE permanent = ?".to_owned();
    let mut vals: Vec<Value> = vec![true.into()];
    if let Some(ids) = ids {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        sql.push_str(&format!(" AND account_id IN ({})", crate::db::marks(ids.len())));
        vals.extend(ids.iter().map(|&id| Value::from(id)));
    }
    sql.push_str(" GROUP BY account_id");
    let rows = db.query_all_raw(stmt(db.get_database_backend(), &sql, vals)).await?;
    rows.iter().map(|r| Ok((r.try_get("", "account_id")?, r.try_get("", "n")?))).collect()
}

/// Of `scenes`, those that no campaign has but a deleted campaign's ticket still holds at
/// `now`: `None` for a permanent ticket, else when the last temporary one expires. (Scenes a
/// campaign has are the callers' to report, with its name; leaving them out here keeps a
/// campaign created meanwhile from passing as a deleted one.)
pub(crate) async fn held_by_tickets<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    scenes: &[String],
    now: DateTime<Utc>,
) -> Result<HashMap<String, Option<DateTime<Utc>>>, DbErr> {
    let mut held = HashMap::new();
    let sql = "SELECT scene, permanent, expires_at FROM issued_scenes \
               WHERE account_id = ? AND (permanent = ? OR expires_at > ?) AND scene IN ({in}) \
               AND NOT EXISTS (SELECT 1 FROM campaigns c \
                               WHERE c.account_id = issued_scenes.account_id AND c.scene = issued_scenes.scene)";
    for r in crate::db::query_in_chunks(db, sql, &[account_id.into(), true.into(), now.into()], scenes, CHUNK).await? {
        let permanent: bool = r.try_get("", "permanent")?;
        let until: Option<DateTime<Utc>> = r.try_get("", "expires_at")?;
        held.insert(r.try_get("", "scene")?, if permanent { None } else { until });
    }
    Ok(held)
}

/// Why a typed scene that only a deleted campaign's ticket holds is refused.
pub(crate) fn held_message(scene: &str, until: Option<DateTime<Utc>>) -> crate::Msg {
    let scene = scene.to_owned();
    match until {
        None => crate::Msg::SceneHeldForever { scene },
        Some(t) => crate::Msg::SceneHeldUntil { scene, until: t.format("%Y-%m-%d %H:%M").to_string() },
    }
}

/// [`held_by_tickets`] for one typed scene, as the error to show.
pub(crate) async fn check_typed<C: ConnectionTrait>(db: &C, account_id: i32, scene: &str, now: DateTime<Utc>) -> Result<(), ServiceError> {
    match held_by_tickets(db, account_id, &[scene.to_owned()], now).await?.remove(scene) {
        Some(until) => Err(ServiceError::conflict("scene", held_message(scene, until))),
        None => Ok(()),
    }
}

/// True when the scene text is a canonical number that [`wechat::Scene::parse`] could read as
/// an id (1–6 digits, no leading zero); the caller still bounds it to 100 000.
fn numeric_scene_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "scene ~ '^[1-9][0-9]{0,5}$'",
        _ => "(scene GLOB '[1-9]*' AND scene NOT GLOB '*[^0-9]*' AND length(scene) <= 6)",
    }
}

/// Free numeric scenes of the account at `now`, as inclusive ranges in increasing order, at
/// most `max_ranges` of them.
///
/// One query: the database walks the numbers of the account's campaigns and of the tickets
/// that still hold a scene (a sentinel 0 included, so a free 1 is found too) in numeric order
/// and returns only where a gap starts, so the used scenes, up to 100 000 of them, never travel
/// to us. In the usual case (no gaps) the only row is `max`.
pub(crate) async fn free_ranges<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    max_ranges: u64,
    now: DateTime<Utc>,
) -> Result<Vec<(u32, u32)>, DbErr> {
    let backend = db.get_database_backend();
    let max = wechat::scene::MAX_SCENE_ID;
    let sql = format!(
        "WITH nums AS (\
            SELECT 0 AS n \
            UNION \
            SELECT CASE WHEN {isnum} THEN CAST(scene AS BIGINT) END AS n FROM campaigns WHERE account_id = ? \
            UNION \
            SELECT CASE WHEN {isnum} THEN CAST(scene AS BIGINT) END AS n FROM issued_scenes \
            WHERE account_id = ? AND (permanent = ? OR expires_at > ?)\
         ), ordered AS (\
            SELECT n, LEAD(n) OVER (ORDER BY n) AS next_n FROM nums WHERE n IS NOT NULL AND n <= {max}\
         ) \
         SELECT CAST(n AS BIGINT) AS n, CAST(next_n AS BIGINT) AS next_n FROM ordered \
         WHERE (next_n IS NULL AND n < {max}) OR next_n > n + 1 ORDER BY n LIMIT ?",
        isnum = numeric_scene_sql(backend),
    );
    let vals: Vec<Value> = vec![account_id.into(), account_id.into(), true.into(), now.into(), (max_ranges.max(1) as i64).into()];
    let rows = db.query_all_raw(stmt(backend, &sql, vals)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let n: i64 = r.try_get("", "n")?;
        let next: Option<i64> = r.try_get("", "next_n")?;
        let end = next.map_or(i64::from(max), |x| x - 1);
        out.push(((n + 1) as u32, end as u32));
    }
    Ok(out)
}

/// The first `count` numbers of `ranges` that are not in `skip`.
pub(crate) fn take_free(ranges: &[(u32, u32)], count: usize, skip: &BTreeSet<u32>) -> Vec<u32> {
    let mut out = Vec::with_capacity(count);
    for &(start, end) in ranges {
        let mut n = start;
        while n <= end && out.len() < count {
            if !skip.contains(&n) {
                out.push(n);
            }
            n += 1;
        }
        if out.len() == count {
            break;
        }
    }
    out
}

/// The smallest numeric scene the account may hand out at `now`.
pub(crate) async fn next_free<C: ConnectionTrait>(db: &C, account_id: i32, now: DateTime<Utc>) -> Result<Option<u32>, DbErr> {
    Ok(take_free(&free_ranges(db, account_id, 1, now).await?, 1, &BTreeSet::new()).first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_free_skips_typed_numbers_across_ranges() {
        let skip: BTreeSet<u32> = [4, 8].into_iter().collect();
        assert_eq!(take_free(&[(3, 5), (8, 10)], 4, &skip), [3, 5, 9, 10]);
        assert_eq!(take_free(&[(3, 3)], 2, &skip), [3], "fewer when the ranges run out");
    }

    #[test]
    fn held_messages_say_why_and_until_when() {
        assert!(held_message("7", None).to_string().contains("permanent code still works"));
        let t = DateTime::parse_from_rfc3339("2026-12-20T08:05:59Z").unwrap().with_timezone(&Utc);
        assert_eq!(
            held_message("spring", Some(t)).to_string(),
            "scene spring belonged to a deleted campaign whose code works until 2026-12-20 08:05 UTC; choose another \
             scene, or use this one after that"
        );
    }
}
