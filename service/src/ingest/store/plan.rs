//! A batch's `Plan` worked out in memory, push by push: subscriptions opened and closed,
//! counter deltas, tag jobs, followers to erase.

use super::{CampaignHit, Meaning, NewSub, OpenSub, Plan, Prepared};
use crate::ingest::{Outcome, Push, Stored, hour_bucket, welcome_reply};
use crate::jobs::{Job, TagFollower};
use crate::keys::scanner_key;
use chrono::{DateTime, Utc};

impl Plan {
    /// What a push changes beyond its event row: subscriptions, counters, tag jobs, erasure.
    pub(super) fn effects(&mut self, p: &Push, prep: Prepared, event_id: Option<i64>) -> Stored {
        let Prepared { meaning, hash, campaign } = prep;
        let reply = campaign.as_ref().and_then(|c| c.welcome.as_deref()).and_then(welcome_reply);
        let campaign_id = campaign.as_ref().map(|c| c.id);
        let Some(event_id) = event_id else {
            return Stored { outcome: Outcome::Duplicate, event_id: None, campaign_id, reply };
        };
        let hour = hour_bucket(p.create_time);
        let at = ts(p.create_time, p.received_at);
        match &meaning {
            Meaning::CodeSubscribe(scene) => {
                self.close_open(p.account_id, &hash, hour, at, None);
                self.subscribe(p, &hash, campaign_id, Some(scene), at, event_id);
                let acc = self.account_hours.entry((p.account_id, hour)).or_default();
                acc.scans += 1;
                acc.new_followers += 1;
                match &campaign {
                    Some(c) => {
                        let d = self.campaign_hours.entry((c.id, hour)).or_default();
                        d.scans += 1;
                        d.new_followers += 1;
                        self.scanners.insert((c.id, hour, scanner_key(&hash)));
                        self.tag_job(p, c, &hash);
                    }
                    None => acc.unknown_scene_events += 1,
                }
            }
            Meaning::Organic => {
                self.close_open(p.account_id, &hash, hour, at, None);
                self.subscribe(p, &hash, None, None, at, event_id);
                let acc = self.account_hours.entry((p.account_id, hour)).or_default();
                acc.new_followers += 1;
                acc.organic_followers += 1;
            }
            Meaning::Scan(_) => {
                let acc = self.account_hours.entry((p.account_id, hour)).or_default();
                acc.scans += 1;
                match &campaign {
                    Some(c) => {
                        self.campaign_hours.entry((c.id, hour)).or_default().scans += 1;
                        self.scanners.insert((c.id, hour, scanner_key(&hash)));
                        self.tag_job(p, c, &hash);
                    }
                    None => acc.unknown_scene_events += 1,
                }
            }
            Meaning::Unsubscribe => {
                let closed = self.close_open(p.account_id, &hash, hour, at, Some(event_id));
                if closed == 0 {
                    // Followed before Sceneboard was listening: still one follower less.
                    self.account_hours.entry((p.account_id, hour)).or_default().unsubscribes += 1;
                }
                self.erase(p.account_id, &hash, p.create_time);
            }
            Meaning::Other => {}
        }
        Stored { outcome: Outcome::Stored, event_id: Some(event_id), campaign_id, reply }
    }

    /// Closes the follower's open subscription(s), counting each as an unsubscribe on its
    /// campaign and the account; `event_id` is the unsubscribe event (`None` when inferred
    /// from a new subscribe). Returns how many were closed.
    fn close_open(&mut self, account_id: i32, hash: &str, hour: i64, at: DateTime<Utc>, event_id: Option<i64>) -> usize {
        let open = self.open.insert((account_id, hash.to_owned()), Vec::new()).unwrap_or_default();
        for sub in &open {
            let campaign = match *sub {
                OpenSub::Stored { id, campaign } => {
                    self.closes.insert(id, (at, event_id));
                    campaign
                }
                OpenSub::New(i) => {
                    self.new_subs[i].closed = Some((at, event_id));
                    self.new_subs[i].campaign_id
                }
            };
            if let Some(c) = campaign {
                self.campaign_hours.entry((c, hour)).or_default().unsubscribes += 1;
            }
            self.account_hours.entry((account_id, hour)).or_default().unsubscribes += 1;
        }
        open.len()
    }

    fn subscribe(&mut self, p: &Push, hash: &str, campaign_id: Option<i32>, scene: Option<&str>, at: DateTime<Utc>, event_id: i64) {
        self.new_subs.push(NewSub {
            account_id: p.account_id,
            hash: hash.to_owned(),
            openid: Some(p.openid.clone()),
            campaign_id,
            scene: scene.map(str::to_owned),
            at,
            event_id,
            closed: None,
        });
        let index = self.new_subs.len() - 1;
        self.open.entry((p.account_id, hash.to_owned())).or_default().push(OpenSub::New(index));
    }

    /// Marks the follower for erasure up to `until` and drops what the batch itself was about
    /// to store of them: the OpenID of subscriptions it opened so far, its queued tag jobs.
    fn erase(&mut self, account_id: i32, hash: &str, until: i64) {
        let latest = self.erased.entry((account_id, hash.to_owned())).or_insert(until);
        *latest = (*latest).max(until);
        for sub in self.new_subs.iter_mut().filter(|s| s.account_id == account_id && s.hash == hash) {
            sub.openid = None;
        }
        self.jobs.retain(|_, (account, h, _)| !(*account == account_id && h == hash));
    }

    /// Queues the campaign's WeChat tag for this follower (once per follower and campaign
    /// while they follow; the unsubscribe erasure frees the key for a later re-follow).
    fn tag_job(&mut self, p: &Push, c: &CampaignHit, hash: &str) {
        if c.tag_name.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return;
        }
        self.jobs.entry(TagFollower::dedupe_key(c.id, hash)).or_insert_with(|| {
            let job = Job::TagFollower(TagFollower { account_id: p.account_id, campaign_id: c.id, openid: p.openid.clone() });
            let payload = job.payload().to_string();
            (p.account_id, hash.to_owned(), payload)
        });
    }
}

fn ts(unix: i64, fallback: DateTime<Utc>) -> DateTime<Utc> {
    // CreateTime is WeChat's clock; anything outside 1970..2100 is nonsense and falls back to
    // the receive time rather than failing the batch.
    if (0..4_102_444_800).contains(&unix) { DateTime::from_timestamp(unix, 0).unwrap_or(fallback) } else { fallback }
}
