//! Daily and weekly digests of an account, to a WeCom group robot and by email.
//!
//! A digest covers yesterday (daily) or last week, Monday to Sunday (weekly), in the account's
//! zone: scans, new followers, unsubscribes and net, each with its change from the period
//! before; the campaigns that brought the most followers; temporary codes about to expire.
//!
//! How it is sent once with several instances: every instance's scheduler ([`schedule`])
//! queues one job per digest and channel under the dedupe key
//! `digest:{account}:{period}:{first day}:{channel}`, and the job records its outcome in
//! `digest_deliveries`, unique per the same four values. A digest already sent, or given up
//! on, is not queued again; a job that finds its digest sent does nothing. Retries are the
//! job queue's (exponential backoff); each attempt's error shows in Settings and in
//! `/metrics`. Delivery is at least once: an instance that dies between sending and recording
//! may send the same digest again. Design notes: docs/design/digests.md.

mod config;
mod deliver;
mod mail;
mod text;
mod wecom;

pub use config::{DigestConfig, DigestInput, MAX_RECIPIENTS, get, list, reseal, save};
pub use deliver::{
    Channel, Delivery, Due, FAILED, RETRYING, SENT, TestOutcome, deliver, due, failing, next_sending, recent_deliveries, schedule,
    send_test,
};
pub use mail::{MailConfig, MailError, Security};
pub use text::{email, markdown};

use crate::campaigns::{self, ListQuery};
use crate::series::{self, AccountTotals, TopCampaign};
use crate::{AppState, ServiceError};
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Tz;

/// Campaigns a digest names as the best, and codes it names as expiring.
const LISTED: u64 = 5;

/// How often a digest is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    Daily,
    Weekly,
}

impl Period {
    pub const ALL: [Period; 2] = [Period::Daily, Period::Weekly];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
        }
    }

    pub fn parse(text: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The first day of the digest sent on local day `day`: yesterday, or last week's Monday.
    pub fn first_day(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Daily => back(day, 1),
            Period::Weekly => back(day, u64::from(day.weekday().num_days_from_monday()) + 7),
        }
    }

    /// The local days of the digest that starts on `from`, and the same span just before.
    pub fn span(self, from: NaiveDate) -> ((NaiveDate, NaiveDate), (NaiveDate, NaiveDate)) {
        let days = match self {
            Period::Daily => 1,
            Period::Weekly => 7,
        };
        ((from, back(from, 1).checked_add_days(Days::new(days)).unwrap_or(from)), (back(from, days), back(from, 1)))
    }

    /// The days a digest sent on local day `today` covers, and the same span before them.
    pub fn ranges(self, today: NaiveDate) -> ((NaiveDate, NaiveDate), (NaiveDate, NaiveDate)) {
        self.span(self.first_day(today))
    }
}

fn back(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).unwrap_or(d)
}

/// A temporary code a digest warns about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expiring {
    pub name: String,
    pub expires_at: DateTime<Utc>,
    /// Renews itself: said, so nobody reprints a poster for it.
    pub auto_renew: bool,
}

/// The numbers of one digest.
#[derive(Clone, Debug)]
pub struct Digest {
    pub account: String,
    pub zone: Tz,
    pub period: Period,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub totals: AccountTotals,
    pub previous: AccountTotals,
    pub top: Vec<TopCampaign>,
    /// Temporary codes expiring within [`campaigns::EXPIRING_WITHIN_DAYS`], soonest first (at
    /// most [`LISTED`]), and how many there are in all.
    pub expiring: Vec<Expiring>,
    pub expiring_total: u64,
    /// Sent by *Send test*: its title says so.
    pub test: bool,
}

/// Account `account_id`'s digest for `period` starting on local day `from`.
pub async fn build(st: &AppState, account_id: i32, period: Period, from: NaiveDate) -> Result<Digest, ServiceError> {
    let account = crate::accounts::model(&st.db, account_id).await?;
    let zone: Tz = account.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let ((from, to), (pf, pt)) = period.span(from);
    let expiring_q = ListQuery {
        account_id: Some(account_id),
        status: Some("expiring".into()),
        per_page: campaigns::MAX_PER_PAGE,
        ..Default::default()
    };
    let (totals, previous, top, expiring) = futures::try_join!(
        series::account_totals(&st.db, account_id, from, to, zone),
        series::account_totals(&st.db, account_id, pf, pt, zone),
        series::top_campaigns(&st.db, account_id, from, to, zone, LISTED),
        campaigns::list(&st.db, &expiring_q),
    )?;
    let mut soon: Vec<Expiring> = expiring
        .rows
        .into_iter()
        .filter_map(|c| Some(Expiring { expires_at: c.code?.expires_at?, name: c.name, auto_renew: c.auto_renew }))
        .collect();
    soon.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then_with(|| a.name.cmp(&b.name)));
    let expiring_total = expiring.total;
    soon.truncate(LISTED as usize);
    Ok(Digest { account: account.name, zone, period, from, to, totals, previous, top, expiring: soon, expiring_total, test: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_daily_digest_is_yesterday_and_a_weekly_one_last_monday_to_sunday() {
        // 2026-12-07 is a Monday.
        assert_eq!(
            Period::Daily.ranges(day("2026-12-07")),
            ((day("2026-12-06"), day("2026-12-06")), (day("2026-12-05"), day("2026-12-05")))
        );
        let week = ((day("2026-11-30"), day("2026-12-06")), (day("2026-11-23"), day("2026-11-29")));
        assert_eq!(Period::Weekly.ranges(day("2026-12-07")), week);
        assert_eq!(Period::Weekly.ranges(day("2026-12-13")), week, "any day of the week after");
        assert_eq!(Period::Weekly.first_day(day("2026-12-14")), day("2026-12-07"));
        // Across a month and a year.
        assert_eq!(Period::Daily.span(day("2026-12-31")), ((day("2026-12-31"), day("2026-12-31")), (day("2026-12-30"), day("2026-12-30"))));
        assert_eq!(Period::Weekly.span(day("2026-12-28")).0, (day("2026-12-28"), day("2027-01-03")));
        assert_eq!(Period::parse("weekly"), Some(Period::Weekly));
        assert_eq!(Period::parse("monthly"), None);
    }
}
