//! Renewing temporary codes: by hand, and automatically once per code.
//!
//! A code with auto-renew is due [`lead`] before it expires: a quarter of its life, at most a
//! day (a 1-day code six hours before, a 2-day code twelve, a 7- or 30-day code a day before).
//! The lead is always shorter than the life, so a code just issued is never due, and each code
//! is renewed once. The renewal job is keyed by the code it replaces ([`Due::job_key`]) and
//! does nothing when that code is no longer the campaign's current one (renewed by hand, by
//! another instance, or by an earlier run of the same job), so neither a second scheduler nor
//! a re-run job issues a second ticket. Times come from the state's [`crate::Clock`].

use crate::campaigns::{self, CampaignView, CodeOwner, Kind};
use crate::db::stmt;
use crate::entity::qr_code;
use crate::{AppState, ServiceError, audit};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use serde_json::json;
use wechat::{Scene, WechatApi};

/// The longest lead: codes of four days or more renew a day before they expire.
pub const MAX_LEAD_HOURS: i64 = 24;

/// How long before its expiry a code of `life` is renewed: a quarter of its life, at most
/// [`MAX_LEAD_HOURS`]. A quarter leaves the new code three quarters of a life before it is due
/// in turn, and a day is enough warning for the longest codes.
pub fn lead(life: Duration) -> Duration {
    (life / 4).clamp(Duration::zero(), Duration::hours(MAX_LEAD_HOURS))
}

/// A campaign whose current code is due for renewal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    pub campaign_id: i32,
    /// The code the renewal replaces; `None`: the campaign has no code at all.
    pub code_id: Option<i32>,
}

impl Due {
    /// The dedupe key of its job: the code it replaces, so a code is renewed once however
    /// often, and by however many instances, the scheduler runs.
    pub fn job_key(&self) -> String {
        match self.code_id {
            Some(code) => format!("renew-code:{code}"),
            None => format!("renew-codeless:{}", self.campaign_id),
        }
    }
}

/// Live temporary campaigns with auto-renew whose current code is due at `now` (its expiry
/// minus its [`lead`] has come, or it has no code), oldest campaign first.
pub async fn due_for_renewal<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<Vec<Due>, ServiceError> {
    // The database keeps codes within the longest lead; each code's own lead is applied here.
    let sql = "SELECT c.id AS campaign_id, q.id AS code_id, q.created_at, q.expires_at FROM campaigns c \
         LEFT JOIN qr_codes q ON q.id = (SELECT MAX(q2.id) FROM qr_codes q2 WHERE q2.campaign_id = c.id) \
         WHERE c.archived_at IS NULL AND c.kind = ? AND c.auto_renew = ? AND (q.expires_at IS NULL OR q.expires_at <= ?) \
         ORDER BY c.id";
    let horizon = now + Duration::hours(MAX_LEAD_HOURS);
    let rows =
        db.query_all_raw(stmt(db.get_database_backend(), sql, vec![Kind::Temporary.as_str().into(), true.into(), horizon.into()])).await?;
    let mut due = Vec::with_capacity(rows.len());
    for r in rows {
        let code_id: Option<i32> = r.try_get("", "code_id")?;
        let created_at: Option<DateTime<Utc>> = r.try_get("", "created_at")?;
        let expires_at: Option<DateTime<Utc>> = r.try_get("", "expires_at")?;
        let is_due = match (created_at, expires_at) {
            (Some(created), Some(expires)) => expires - lead(expires - created) <= now,
            // No code, or one without an expiry (never stored for a temporary code).
            _ => true,
        };
        if is_due {
            due.push(Due { campaign_id: r.try_get("", "campaign_id")?, code_id });
        }
    }
    Ok(due)
}

/// The id of the campaign's current code (its newest), if it has one.
async fn current_code_id<C: ConnectionTrait>(db: &C, campaign_id: i32) -> Result<Option<i32>, ServiceError> {
    let id: Option<Option<i32>> = qr_code::Entity::find()
        .select_only()
        .column_as(qr_code::Column::Id.max(), "id")
        .filter(qr_code::Column::CampaignId.eq(campaign_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(id.flatten())
}

/// Issues a fresh ticket for a temporary campaign by hand: same scene, same life. The old
/// codes stay, so events carrying their tickets still resolve.
pub async fn renew(st: &AppState, api: &dyn WechatApi, id: i32, actor: Option<i32>) -> Result<CampaignView, ServiceError> {
    let c = campaigns::get(&st.db, id).await?;
    if c.archived_at.is_some() {
        return Err(ServiceError::invalid("campaign", crate::Msg::RenewArchived));
    }
    if c.kind.parse::<Kind>()? != Kind::Temporary {
        return Err(ServiceError::invalid("kind", crate::Msg::RenewPermanent));
    }
    issue_and_store(st, api, &c, actor).await
}

/// What an automatic renewal did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutoRenewal {
    /// A fresh ticket is the campaign's current code.
    Renewed,
    /// Nothing was sent to WeChat, for this reason.
    Skipped(&'static str),
}

/// The renewal job's work: renews campaign `campaign_id` if `code_id` is still its current
/// code (`None`: it still has none) and it is live with auto-renew on; otherwise does nothing.
pub async fn renew_replacing(
    st: &AppState,
    api: &dyn WechatApi,
    campaign_id: i32,
    code_id: Option<i32>,
) -> Result<AutoRenewal, ServiceError> {
    let c = match campaigns::get(&st.db, campaign_id).await {
        Err(ServiceError::NotFound) => return Ok(AutoRenewal::Skipped("the campaign was deleted")),
        other => other?,
    };
    if c.archived_at.is_some() {
        return Ok(AutoRenewal::Skipped("the campaign is archived"));
    }
    if !c.auto_renew || c.kind.parse::<Kind>()? != Kind::Temporary {
        return Ok(AutoRenewal::Skipped("auto-renew is off"));
    }
    if current_code_id(&st.db, campaign_id).await? != code_id {
        return Ok(AutoRenewal::Skipped("the code was renewed already"));
    }
    issue_and_store(st, api, &c, None).await?;
    Ok(AutoRenewal::Renewed)
}

/// Asks WeChat for the campaign's next temporary code and stores it, with an audit row.
async fn issue_and_store(st: &AppState, api: &dyn WechatApi, c: &CampaignView, actor: Option<i32>) -> Result<CampaignView, ServiceError> {
    let db = &st.db;
    let now = st.clock.now();
    let days = campaigns::clean_days(Kind::Temporary, c.expire_days).map_err(|m| ServiceError::invalid("expire_days", m))?;
    let scene = Scene::parse(&c.scene).map_err(|e| ServiceError::Internal(format!("stored scene of campaign {}: {e}", c.id)))?;
    let code = campaigns::issue(api, &scene, Kind::Temporary, days).await.map_err(|m| ServiceError::invalid("wechat", m))?;
    let txn = db.begin().await?;
    let owner = CodeOwner { campaign_id: c.id, account_id: c.account_id, scene: &c.scene, kind: Kind::Temporary };
    let expires_at = campaigns::insert_code(&txn, owner, &code, now).await?;
    audit::record(
        &txn,
        actor,
        "campaign.renew",
        "campaign",
        Some(c.id.to_string()),
        json!({ "expires_at": expires_at.map(|t| t.to_rfc3339()) }),
    )
    .await?;
    txn.commit().await?;
    campaigns::get(db, c.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lead_is_a_quarter_of_the_life_at_most_a_day() {
        let lead_h = |days: i64| lead(Duration::days(days)).num_minutes() as f64 / 60.0;
        assert_eq!([lead_h(1), lead_h(2), lead_h(3), lead_h(4), lead_h(7), lead_h(30)], [6.0, 12.0, 18.0, 24.0, 24.0, 24.0]);
        assert_eq!(lead(Duration::minutes(1)), Duration::seconds(15), "shorter than any life");
        assert_eq!(lead(Duration::hours(-3)), Duration::zero(), "a nonsense life has no lead");
    }

    #[test]
    fn the_job_key_names_the_code_replaced() {
        assert_eq!(Due { campaign_id: 4, code_id: Some(17) }.job_key(), "renew-code:17");
        assert_eq!(Due { campaign_id: 4, code_id: None }.job_key(), "renew-codeless:4");
    }
}
