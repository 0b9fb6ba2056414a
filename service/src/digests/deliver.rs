//! When digests are due, queueing them once, sending them, and recording how it went.
//!
//! A digest is due at its account's local sending hour: a daily one every day (covering
//! yesterday), a weekly one on Mondays (covering last week). The scheduler looks for the
//! latest sending time that has passed, so an instance that was down at 09:00 sends at 09:20;
//! a sending time from before the settings were last saved is skipped, so turning digests on
//! at noon does not send this morning's at once.

use super::{DigestConfig, Period, build, email, markdown, wecom};
use crate::entity::{digest_delivery, wechat_account};
use crate::jobs::{self, Job, SendDigest};
use crate::{AppState, Msg, ServiceError, audit};
use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// Sent.
pub const SENT: &str = "sent";
/// Failed; the job queue tries again later.
pub const RETRYING: &str = "retrying";
/// Failed on the queue's last attempt: not tried again.
pub const FAILED: &str = "failed";

/// Where a digest goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Wecom,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Wecom, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Wecom => "wecom",
            Channel::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Whether `config` names a destination on this channel.
    fn configured(self, config: &DigestConfig) -> bool {
        match self {
            Channel::Wecom => config.webhook.is_some(),
            Channel::Email => !config.email_to.is_empty(),
        }
    }
}

fn enabled(config: &DigestConfig, period: Period) -> bool {
    match period {
        Period::Daily => config.daily,
        Period::Weekly => config.weekly,
    }
}

/// The instant local day `day` reaches `hour` in `zone`. In a DST gap, the first instant after
/// it; in a repeated hour, the first of the two.
fn at_hour(zone: Tz, day: NaiveDate, hour: u32) -> DateTime<Utc> {
    for h in hour..=23 {
        if let Some(t) = day.and_hms_opt(h, 0, 0).and_then(|t| zone.from_local_datetime(&t).earliest()) {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).unwrap_or_default())
}

/// The latest local day on which `period`'s digest was to be sent at `hour`, by `now`.
fn last_sending_day(period: Period, zone: Tz, hour: u32, now: DateTime<Utc>) -> NaiveDate {
    let today = now.with_timezone(&zone).date_naive();
    let mut day = match period {
        Period::Daily => today,
        Period::Weekly => today - Days::new(u64::from(today.weekday().num_days_from_monday())),
    };
    if at_hour(zone, day, hour) > now {
        day = day - Days::new(if period == Period::Daily { 1 } else { 7 });
    }
    day
}

/// When `period`'s next digest goes out after `now` (for Settings).
pub fn next_sending(config: &DigestConfig, zone: Tz, period: Period, now: DateTime<Utc>) -> DateTime<Utc> {
    let last = last_sending_day(period, zone, config.send_hour, now);
    let step = if period == Period::Daily { 1 } else { 7 };
    at_hour(zone, last + Days::new(step), config.send_hour)
}

/// One digest through one channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Due {
    pub account_id: i32,
    pub period: Period,
    pub from: NaiveDate,
    pub channel: Channel,
}

impl Due {
    fn job(&self) -> SendDigest {
        SendDigest {
            account_id: self.account_id,
            channel: self.channel.as_str().into(),
            from: self.from,
            period: self.period.as_str().into(),
        }
    }
}

/// The digests due at `now` for these settings (each with its account's zone): the latest of
/// each enabled period whose sending time came after the settings were saved, on each channel
/// with a destination (email only with a mail server).
pub fn due(configs: &[(DigestConfig, Tz)], mail_ready: bool, now: DateTime<Utc>) -> Vec<Due> {
    let mut out = Vec::new();
    for (config, zone) in configs {
        for period in Period::ALL.into_iter().filter(|p| enabled(config, *p)) {
            let day = last_sending_day(period, *zone, config.send_hour, now);
            if at_hour(*zone, day, config.send_hour) < config.updated_at {
                continue;
            }
            for channel in Channel::ALL.into_iter().filter(|c| c.configured(config)) {
                if channel == Channel::Email && !mail_ready {
                    continue;
                }
                out.push(Due { account_id: config.account_id, period, from: period.first_day(day), channel });
            }
        }
    }
    out
}

/// Queues the digests due at the state's clock that were neither sent nor given up on;
/// returns how many jobs were queued. Any number of instances may run this at once: the
/// queue's dedupe key keeps one job per digest and channel.
pub async fn schedule(st: &AppState) -> Result<usize, ServiceError> {
    let configs = super::list(st).await?;
    if configs.iter().all(|c| !c.daily && !c.weekly) {
        return Ok(0);
    }
    let zones: HashMap<i32, Tz> = wechat_account::Entity::find()
        .select_only()
        .column(wechat_account::Column::Id)
        .column(wechat_account::Column::Timezone)
        .into_tuple::<(i32, String)>()
        .all(&st.db)
        .await?
        .into_iter()
        .map(|(id, tz)| (id, tz.parse().unwrap_or(chrono_tz::Asia::Shanghai)))
        .collect();
    let with_zones: Vec<(DigestConfig, Tz)> = configs
        .into_iter()
        .filter_map(|c| {
            let zone = *zones.get(&c.account_id)?;
            Some((c, zone))
        })
        .collect();
    let candidates = due(&with_zones, st.settings.mail.is_some(), st.clock.now());
    let Some(oldest) = candidates.iter().map(|d| d.from).min() else { return Ok(0) };
    let finished: HashSet<(i32, String, NaiveDate, String)> = digest_delivery::Entity::find()
        .filter(digest_delivery::Column::PeriodStart.gte(oldest))
        .filter(digest_delivery::Column::Status.is_in([SENT, FAILED]))
        .all(&st.db)
        .await?
        .into_iter()
        .map(|d| (d.account_id, d.period, d.period_start, d.channel))
        .collect();
    let mut queued = 0;
    for d in candidates {
        if finished.contains(&(d.account_id, d.period.as_str().to_owned(), d.from, d.channel.as_str().to_owned())) {
            continue;
        }
        let job = d.job();
        if jobs::enqueue_job(&st.db, &Job::SendDigest(job.clone()), Utc::now(), Some(&job.dedupe_key())).await?.is_some() {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Sends `digest` through `channel` to `config`'s destination.
async fn send(st: &AppState, config: &DigestConfig, channel: Channel, digest: &super::Digest) -> Result<(), String> {
    match channel {
        Channel::Wecom => {
            let webhook = config.webhook.as_deref().ok_or("no WeCom robot is configured")?;
            wecom::post(webhook, &markdown(digest, config.lang)).await
        }
        Channel::Email => {
            let mail = st.settings.mail.as_ref().ok_or("no mail server is configured (SCENEBOARD_SMTP_URL)")?;
            let (subject, body) = email(digest, config.lang);
            mail.send(&config.email_to, &subject, &body).await.map_err(|e| e.0)
        }
    }
}

/// The digest job's work: send `job`'s digest unless it was sent already or is no longer
/// wanted, and record the outcome. `attempt` is the queue's count of this job's runs;
/// `last` says the queue will not try again after a failure.
pub async fn deliver(st: &AppState, job: &SendDigest, attempt: i32, last: bool) -> Result<(), String> {
    let (Some(period), Some(channel)) = (Period::parse(&job.period), Channel::parse(&job.channel)) else {
        return Err(format!("bad payload: period {} or channel {}", job.period, job.channel));
    };
    let config = super::get(st, job.account_id).await.map_err(|e| e.to_string())?;
    // Turned off, or the destination removed, since the job was queued.
    if !enabled(&config, period) || !channel.configured(&config) {
        return Ok(());
    }
    let sent = digest_delivery::Entity::find()
        .filter(digest_delivery::Column::AccountId.eq(job.account_id))
        .filter(digest_delivery::Column::Period.eq(period.as_str()))
        .filter(digest_delivery::Column::PeriodStart.eq(job.from))
        .filter(digest_delivery::Column::Channel.eq(channel.as_str()))
        .filter(digest_delivery::Column::Status.eq(SENT))
        .one(&st.db)
        .await
        .map_err(|e| e.to_string())?;
    if sent.is_some() {
        return Ok(());
    }
    let digest = match build(st, job.account_id, period, job.from).await {
        Ok(d) => d,
        // The account was deleted meanwhile: nothing to send.
        Err(ServiceError::NotFound) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    let outcome = send(st, &config, channel, &digest).await;
    let counter = if outcome.is_ok() { "sceneboard_digests_sent_total" } else { "sceneboard_digest_failures_total" };
    metrics::counter!(counter, "channel" => channel.as_str()).increment(1);
    let status = match &outcome {
        Ok(()) => SENT,
        Err(_) if last => FAILED,
        Err(_) => RETRYING,
    };
    let now = Utc::now();
    let row = digest_delivery::ActiveModel {
        account_id: Set(job.account_id),
        period: Set(period.as_str().into()),
        period_start: Set(job.from),
        channel: Set(channel.as_str().into()),
        status: Set(status.into()),
        attempts: Set(attempt),
        last_error: Set(outcome.as_ref().err().cloned()),
        sent_at: Set(outcome.is_ok().then_some(now)),
        updated_at: Set(now),
        ..Default::default()
    };
    let upsert = OnConflict::columns([
        digest_delivery::Column::AccountId,
        digest_delivery::Column::Period,
        digest_delivery::Column::PeriodStart,
        digest_delivery::Column::Channel,
    ])
    .update_columns([
        digest_delivery::Column::Status,
        digest_delivery::Column::Attempts,
        digest_delivery::Column::LastError,
        digest_delivery::Column::SentAt,
        digest_delivery::Column::UpdatedAt,
    ])
    .to_owned();
    let recorded = digest_delivery::Entity::insert(row).on_conflict(upsert).exec_without_returning(&st.db).await;
    match (&outcome, recorded) {
        (Err(e), _) => {
            tracing::warn!(account = job.account_id, period = %job.period, channel = %job.channel, error = %e, "digest not sent")
        }
        (Ok(()), Err(e)) => tracing::warn!(account = job.account_id, error = %e, "digest sent but not recorded; it may be sent again"),
        (Ok(()), Ok(_)) => tracing::info!(account = job.account_id, period = %job.period, channel = %job.channel, "digest sent"),
    }
    outcome
}

/// The outcome of *Send test*, per channel: `None` sent, `Some(why)` not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestOutcome {
    pub results: Vec<(Channel, Option<String>)>,
}

impl TestOutcome {
    pub fn ok(&self) -> bool {
        self.results.iter().all(|(_, e)| e.is_none())
    }
}

/// Sends yesterday's digest, marked as a test, through every channel the saved settings name,
/// now, whether digests are turned on or not. Nothing is recorded as delivered.
pub async fn send_test(st: &AppState, account_id: i32, actor: Option<i32>) -> Result<TestOutcome, ServiceError> {
    let config = super::get(st, account_id).await?;
    let account = crate::accounts::model(&st.db, account_id).await?;
    let channels: Vec<Channel> = Channel::ALL.into_iter().filter(|c| c.configured(&config)).collect();
    if channels.is_empty() {
        return Err(ServiceError::invalid("wecom_webhook", Msg::DigestNoChannel));
    }
    let zone: Tz = account.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let today = st.clock.now().with_timezone(&zone).date_naive();
    let mut digest = build(st, account_id, Period::Daily, Period::Daily.first_day(today)).await?;
    digest.test = true;
    let mut results = Vec::new();
    for channel in channels {
        results.push((channel, send(st, &config, channel, &digest).await.err()));
    }
    let detail: serde_json::Map<String, serde_json::Value> =
        results.iter().map(|(c, e)| (c.as_str().to_owned(), json!(e.is_none()))).collect();
    audit::record(&st.db, actor, "digest.test", "account", Some(account_id.to_string()), detail.into()).await?;
    Ok(TestOutcome { results })
}

/// A delivery as Settings lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub period: Period,
    pub from: NaiveDate,
    pub channel: Channel,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub at: DateTime<Utc>,
}

/// Account `account_id`'s latest deliveries, newest first.
pub async fn recent_deliveries(st: &AppState, account_id: i32, limit: u64) -> Result<Vec<Delivery>, ServiceError> {
    let rows = digest_delivery::Entity::find()
        .filter(digest_delivery::Column::AccountId.eq(account_id))
        .order_by_desc(digest_delivery::Column::UpdatedAt)
        .order_by_desc(digest_delivery::Column::Id)
        .limit(limit)
        .all(&st.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Delivery {
                period: Period::parse(&r.period)?,
                from: r.period_start,
                channel: Channel::parse(&r.channel)?,
                status: r.status,
                attempts: r.attempts,
                last_error: r.last_error,
                at: r.updated_at,
            })
        })
        .collect())
}

/// Deliveries not sent (`retrying` and `failed`) among those of the last two weeks, for
/// `/metrics`: every instance reports the same database-wide figure.
pub async fn failing(st: &AppState) -> Result<[(&'static str, u64); 2], ServiceError> {
    let since = Utc::now() - chrono::Duration::days(14);
    let rows: Vec<(String, i64)> = digest_delivery::Entity::find()
        .select_only()
        .column(digest_delivery::Column::Status)
        .column_as(digest_delivery::Column::Id.count(), "n")
        .filter(digest_delivery::Column::UpdatedAt.gte(since))
        .filter(digest_delivery::Column::Status.ne(SENT))
        .group_by(digest_delivery::Column::Status)
        .into_tuple()
        .all(&st.db)
        .await?;
    let count = |s: &str| rows.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| (*n).max(0) as u64);
    Ok([(RETRYING, count(RETRYING)), (FAILED, count(FAILED))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Asia::Shanghai};

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn config(daily: bool, weekly: bool) -> DigestConfig {
        DigestConfig {
            daily,
            weekly,
            webhook: Some("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k".into()),
            email_to: vec!["a@example.com".into()],
            updated_at: utc("2026-11-01T00:00:00Z"),
            ..DigestConfig::off(1)
        }
    }

    fn firsts(d: &[Due]) -> Vec<(Period, String, Channel)> {
        d.iter().map(|d| (d.period, d.from.to_string(), d.channel)).collect()
    }

    #[test]
    fn a_digest_is_due_from_its_local_hour_on() {
        let c = [(config(true, true), Shanghai)];
        // Monday 2026-12-07, 08:59 in Shanghai: Sunday's daily and the week before's weekly
        // were the latest due (Saturday's at Sunday 09:00; the week of 11-23 on 11-30).
        let before = due(&c, true, utc("2026-12-07T00:59:00Z"));
        assert_eq!(firsts(&before)[0], (Period::Daily, "2026-12-05".into(), Channel::Wecom));
        assert_eq!(firsts(&before)[2], (Period::Weekly, "2026-11-23".into(), Channel::Wecom));
        // 09:00: yesterday's, and last week's.
        let at = firsts(&due(&c, true, utc("2026-12-07T01:00:00Z")));
        assert_eq!(
            at,
            [
                (Period::Daily, "2026-12-06".into(), Channel::Wecom),
                (Period::Daily, "2026-12-06".into(), Channel::Email),
                (Period::Weekly, "2026-11-30".into(), Channel::Wecom),
                (Period::Weekly, "2026-11-30".into(), Channel::Email),
            ]
        );
        // Without a mail server, email is not due; a zone of its own moves the hour.
        assert_eq!(due(&c, false, utc("2026-12-07T01:00:00Z")).len(), 2);
        let ny = [(config(true, false), New_York)];
        assert_eq!(firsts(&due(&ny, true, utc("2026-12-07T13:59:00Z")))[0].1, "2026-12-05");
        assert_eq!(firsts(&due(&ny, true, utc("2026-12-07T14:00:00Z")))[0].1, "2026-12-06");
    }

    #[test]
    fn a_sending_time_before_the_last_save_is_skipped() {
        let mut c = config(true, false);
        c.updated_at = utc("2026-12-07T04:00:00Z"); // noon in Shanghai
        assert!(due(&[(c.clone(), Shanghai)], true, utc("2026-12-07T05:00:00Z")).is_empty(), "not this morning's at once");
        assert_eq!(firsts(&due(&[(c.clone(), Shanghai)], true, utc("2026-12-08T01:00:00Z")))[0].1, "2026-12-07", "tomorrow's");
        assert_eq!(next_sending(&c, Shanghai, Period::Daily, utc("2026-12-07T05:00:00Z")), utc("2026-12-08T01:00:00Z"));
        assert_eq!(next_sending(&c, Shanghai, Period::Weekly, utc("2026-12-07T05:00:00Z")), utc("2026-12-14T01:00:00Z"));
        assert!(due(&[(config(false, false), Shanghai)], true, utc("2026-12-08T01:00:00Z")).is_empty());
    }

    #[test]
    fn an_hour_that_a_dst_change_skips_is_sent_right_after() {
        // 2027-03-14 02:00 does not exist in New York: a 2 o'clock digest goes out at 03:00 EDT.
        let day: NaiveDate = "2027-03-14".parse().unwrap();
        assert_eq!(at_hour(New_York, day, 2), utc("2027-03-14T07:00:00Z"));
        assert_eq!(at_hour(New_York, day, 9), utc("2027-03-14T13:00:00Z"));
    }
}
