//! Retention after 1, 7 and 30 days of the followers a campaign brought in a range.

use super::range::{check_range, utc_bounds};
use crate::ServiceError;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

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
