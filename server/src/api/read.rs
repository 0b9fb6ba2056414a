//! The handlers of `/api/v1`: accounts, campaigns (filtered, paged by cursor), one campaign, a
//! campaign's series, campaigns compared, and the dashboard's numbers. Each takes a [`Key`],
//! keeps to the key's accounts, and answers with the types the pages use.

use super::key::Key;
use super::problem::{Problem, ProblemBody};
use crate::routes::ServerState;
use app::api::analytics::{CompareTable, SeriesPoint, TrendNumbers, compare_table, trend_numbers};
use app::api::campaigns::{AccountChoice, CampaignRow};
use app::api::dashboard::{BoardNumbers, board_numbers};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use service::analytics::{self, Lang, Metric};
use service::campaigns::{self, ListQuery, Sort};
use service::series::RangeRequest;
use utoipa::{IntoParams, ToSchema};

/// Campaigns a page holds unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = campaigns::MAX_PER_PAGE;

/// A query string read into `T`, or a problem naming why not.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    q.map(|Query(t)| t).map_err(|e| Problem::new(e.status(), e.body_text()))
}

/// An optional parameter, blank as absent.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts",
    description = "The WeChat accounts the key may read (never their secrets).",
    responses((status = 200, body = Vec<AccountChoice>), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 429, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn accounts(key: Key, State(s): State<ServerState>) -> Result<Json<Vec<AccountChoice>>, Problem> {
    let all = service::accounts::list(&s.app.db).await?;
    Ok(Json(all.into_iter().filter(|a| key.scope().allows(a.id)).map(AccountChoice::from).collect()))
}

/// Filters and paging of the campaign list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CampaignsQuery {
    /// Only this account's campaigns.
    account_id: Option<i32>,
    /// Name contains this (any case), or the scene is exactly this.
    q: Option<String>,
    /// Only this group.
    group: Option<String>,
    /// `active`, `expiring`, `expired`, `no_code`, `archived` or `all`; absent: every campaign
    /// that is not archived.
    status: Option<String>,
    /// Campaigns per page, 1 to 200 (default 50).
    limit: Option<String>,
    /// `next_cursor` of the page before; send the same filters with it.
    cursor: Option<String>,
}

/// A page of campaigns, by id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CampaignPage {
    pub items: Vec<CampaignRow>,
    /// Where the next page starts (`cursor=`); absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn cursor_of(id: i32) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

fn after_cursor(cursor: &str) -> Result<i32, Problem> {
    let bad = || Problem::invalid("cursor", "is not a cursor this API gave out");
    let raw = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    text.strip_prefix("id:").and_then(|n| n.parse().ok()).ok_or_else(bad)
}

#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(CampaignsQuery),
    description = "Campaigns with their all-time counts, oldest first, a page at a time.",
    responses((status = 200, body = CampaignPage), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 422, body = ProblemBody, content_type = "application/problem+json"), (status = 429, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn campaign_list(
    key: Key,
    State(s): State<ServerState>,
    q: Result<Query<CampaignsQuery>, QueryRejection>,
) -> Result<Json<CampaignPage>, Problem> {
    let q = query(q)?;
    let limit = match given(&q.limit) {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| Problem::invalid("limit", format_args!("must be a whole number from 1 to {MAX_LIMIT}, not {l:?}")))?,
    };
    let account_id = match (key.scope().account(), q.account_id) {
        (Some(own), Some(asked)) if own != asked => return Ok(Json(CampaignPage { items: Vec::new(), next_cursor: None })),
        (own, asked) => own.or(asked),
    };
    if let Some(status) = given(&q.status)
        && !["active", "expiring", "expired", "no_code", "archived", "all"].contains(&status)
    {
        return Err(Problem::invalid(
            "status",
            format_args!("must be active, expiring, expired, no_code, archived or all, not {status:?}"),
        ));
    }
    let list = ListQuery {
        account_id,
        q: given(&q.q).map(str::to_owned),
        group: given(&q.group).map(str::to_owned),
        status: given(&q.status).map(str::to_owned),
        sort: Sort::Id,
        desc: false,
        page: 1,
        // One more than asked: whether it comes back tells if there is a next page.
        per_page: limit + 1,
        after_id: given(&q.cursor).map(after_cursor).transpose()?,
    };
    let page = campaigns::list(&s.app.db, &list).await?;
    let zones = app::api::campaigns::ssr::zones(&s.app).await.map_err(app_problem)?;
    let mut items: Vec<CampaignRow> = page.rows.iter().map(|c| app::api::campaigns::ssr::row(c, &zones)).collect();
    let more = items.len() as u64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(|r| cursor_of(r.id)) } else { None };
    Ok(Json(CampaignPage { items, next_cursor }))
}

/// An error of the pages' shared helpers, as a problem.
fn app_problem(e: app::error::AppError) -> Problem {
    Problem::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Campaign `id` as a page shows it, if the key may read it.
async fn campaign_row(key: &Key, s: &ServerState, id: i32) -> Result<CampaignRow, Problem> {
    let c = campaigns::get(&s.app.db, id).await?;
    key.check_account(c.account_id)?;
    let zones = app::api::campaigns::ssr::zones(&s.app).await.map_err(app_problem)?;
    Ok(app::api::campaigns::ssr::row(&c, &zones))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = i32, Path, description = "The campaign's id")),
    description = "One campaign with its all-time counts.",
    responses((status = 200, body = CampaignRow), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json"), (status = 429, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn campaign(key: Key, State(s): State<ServerState>, Path(id): Path<i32>) -> Result<Json<CampaignRow>, Problem> {
    Ok(Json(campaign_row(&key, &s, id).await?))
}

/// What a series is asked for: the trend page's parameters, and a zone.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// First day, `YYYY-MM-DD` (with `to`); else the last `days` days.
    from: Option<String>,
    /// Last day, inclusive, `YYYY-MM-DD`.
    to: Option<String>,
    /// The last N days, today included (default 30).
    days: Option<String>,
    /// `hour`, `day`, `week` or `month`; absent: picked from the range's length.
    granularity: Option<String>,
    /// Comma-separated: `scans`, `new_followers`, `unsubscribes`, `net_followers`,
    /// `unique_scanners`; the page's chart lines (every point carries all five).
    metrics: Option<String>,
    /// IANA time zone the days are counted in; absent: the account's.
    tz: Option<String>,
    /// `0`: without the previous period's points.
    prev: Option<String>,
}

impl SeriesQuery {
    fn range(&self) -> RangeRequest {
        RangeRequest { from: self.from.clone(), to: self.to.clone(), days: self.days.clone(), granularity: self.granularity.clone() }
    }
}

/// A campaign over a range: its numbers as the campaign page shows them, and each bucket.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CampaignSeries {
    pub campaign: CampaignRow,
    pub numbers: TrendNumbers,
    pub points: Vec<SeriesPoint>,
    /// The period before, bucket for bucket under `points` (empty with `prev=0`).
    pub previous_points: Vec<SeriesPoint>,
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}/series", tag = "campaigns",
    params(("id" = i32, Path, description = "The campaign's id"), SeriesQuery),
    description = "A campaign's series over a range, with its totals beside the period before and the retention of its new followers.",
    responses((status = 200, body = CampaignSeries), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json"), (status = 422, body = ProblemBody, content_type = "application/problem+json"), (status = 429, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn series(
    key: Key,
    State(s): State<ServerState>,
    Path(id): Path<i32>,
    q: Result<Query<SeriesQuery>, QueryRejection>,
) -> Result<Json<CampaignSeries>, Problem> {
    let q = query(q)?;
    let campaign = campaign_row(&key, &s, id).await?;
    let metrics = Metric::parse_list(&[q.metrics.clone().unwrap_or_default()])?;
    let zone = match given(&q.tz) {
        None => None,
        Some(z) => Some(z.parse::<Tz>().map_err(|_| Problem::invalid("tz", format_args!("is not an IANA time zone: {z:?}")))?),
    };
    let with_previous = given(&q.prev) != Some("0");
    let t = analytics::campaign_trend_in(&s.app, id, &q.range(), &metrics, with_previous, Lang::En, Utc::now(), zone).await?;
    Ok(Json(CampaignSeries {
        campaign,
        numbers: trend_numbers(&t),
        points: t.points.iter().map(SeriesPoint::from).collect(),
        previous_points: t.previous_points.iter().map(SeriesPoint::from).collect(),
    }))
}

/// What a comparison is asked for.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareParams {
    /// Comma-separated campaign ids (2 or more); or `group`.
    ids: Option<String>,
    /// The live campaigns of this group, when `ids` is absent.
    group: Option<String>,
    /// The metric that orders the table (default `new_followers`).
    metric: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// The last N days, today included (default 30).
    days: Option<String>,
    granularity: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/compare", tag = "campaigns", params(CompareParams),
    description = "Campaigns side by side over a range, best first by the metric; unique scanners are exact over the range.",
    responses((status = 200, body = CompareTable), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json"), (status = 422, body = ProblemBody, content_type = "application/problem+json"), (status = 429, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn compare(
    key: Key,
    State(s): State<ServerState>,
    q: Result<Query<CompareParams>, QueryRejection>,
) -> Result<Json<CompareTable>, Problem> {
    let q = query(q)?;
    let max = analytics::MAX_COMPARE_ROWS;
    let mut ids = analytics::campaign_ids(given(&q.ids), max, || service::Msg::CompareTooMany { max })?;
    let group = given(&q.group);
    // A key of one account compares that account's campaigns only, a group's included.
    if let (Some(account), true, Some(g)) = (key.scope().account(), ids.is_empty(), group) {
        ids = campaigns::group_members(&s.app.db, g, Some(account)).await?;
        if ids.is_empty() {
            return Err(Problem::from(service::ServiceError::invalid("group", service::Msg::CompareGroupEmpty { group: g.to_owned() })));
        }
    }
    for id in &ids {
        key.check_account(campaigns::account_of(&s.app.db, *id).await?)?;
    }
    let metric = match given(&q.metric) {
        Some(m) => m.parse::<Metric>()?,
        None => Metric::NewFollowers,
    };
    let range = RangeRequest { from: q.from.clone(), to: q.to.clone(), days: q.days.clone(), granularity: q.granularity.clone() };
    let c = analytics::compare(&s.app, &ids, group, metric, &range, Lang::En, Utc::now()).await?;
    Ok(Json(compare_table(c)))
}

/// Which accounts' boards.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// Only this account.
    account_id: Option<i32>,
}

#[utoipa::path(get, path = "/api/v1/dashboard", tag = "accounts", params(DashboardQuery),
    description = "Each account's dashboard numbers: today and the last 7 days in its zone, the week's best campaigns, codes expiring or expired.",
    responses((status = 200, body = Vec<BoardNumbers>), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 429, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn dashboard(
    key: Key,
    State(s): State<ServerState>,
    q: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Json<Vec<BoardNumbers>>, Problem> {
    let q = query(q)?;
    let now = Utc::now();
    let mut boards = Vec::new();
    for a in service::accounts::list(&s.app.db).await? {
        if !key.scope().allows(a.id) || q.account_id.is_some_and(|wanted| wanted != a.id) {
            continue;
        }
        let tz = analytics::zone(&s.app, Some(&a.timezone));
        let b = analytics::board(&s.app, a.id, tz, Lang::En, now).await?;
        boards.push(board_numbers(a, b));
    }
    Ok(Json(boards))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_a_forged_one_is_refused() {
        assert_eq!(after_cursor(&cursor_of(42)).unwrap(), 42);
        for bad in ["", "42", "!!", &URL_SAFE_NO_PAD.encode("id:x")] {
            assert_eq!(after_cursor(bad).unwrap_err().param.as_deref(), Some("cursor"), "{bad}");
        }
    }
}
