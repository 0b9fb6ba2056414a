//! The kinds of background job and their payloads, typed. The queue stores a kind's name and
//! a JSON payload; this is the one place that spells either.

use serde::{Deserialize, Serialize};

/// One job of the queue, as its handler reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// Renew a campaign's temporary code, if it is still the one the job was queued for.
    RenewCode(RenewCode),
    /// A renewal queued before renewals were keyed by code: it does nothing, and the scheduler
    /// queues its replacement, keyed by the code, within one round.
    RenewUnkeyed,
    /// Give a follower the campaign's WeChat tag.
    TagFollower(TagFollower),
    /// Send one digest through one channel, unless it was sent already.
    SendDigest(SendDigest),
}

/// The payload of a code renewal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewCode {
    pub campaign_id: i32,
    /// The code it replaces (`None`: the campaign had none).
    pub code_id: Option<i32>,
}

/// The payload of a tagging job. Fields in alphabetical order, as the stored JSON has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagFollower {
    pub account_id: i32,
    pub campaign_id: i32,
    pub openid: String,
}

impl TagFollower {
    /// The key that queues a follower's tagging by a campaign once: `tag:<campaign>:<hash>`,
    /// `hash` being the keyed OpenID hash (so the key names no one).
    pub fn dedupe_key(campaign_id: i32, openid_hash: &str) -> String {
        format!("tag:{campaign_id}:{openid_hash}")
    }
}

/// The payload of a digest job (`crate::digests`). Fields in alphabetical order, as the
/// stored JSON has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendDigest {
    pub account_id: i32,
    /// `wecom` or `email`.
    pub channel: String,
    /// The first local day the digest covers.
    pub from: chrono::NaiveDate,
    /// `daily` or `weekly`.
    pub period: String,
}

impl SendDigest {
    /// `digest:<account>:<period>:<first day>:<channel>`: one job per digest and channel,
    /// whichever instance queues it.
    pub fn dedupe_key(&self) -> String {
        format!("digest:{}:{}:{}:{}", self.account_id, self.period, self.from, self.channel)
    }
}

impl Job {
    pub const RENEW_CODE: &'static str = "renew_code";
    pub const TAG_FOLLOWER: &'static str = "tag_follower";
    pub const SEND_DIGEST: &'static str = "send_digest";
    /// Every kind this build runs (the queue's gauges list each).
    pub const KINDS: [&'static str; 3] = [Self::RENEW_CODE, Self::TAG_FOLLOWER, Self::SEND_DIGEST];

    /// The kind's name in the `jobs` table.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::RenewCode(_) | Job::RenewUnkeyed => Self::RENEW_CODE,
            Job::TagFollower(_) => Self::TAG_FOLLOWER,
            Job::SendDigest(_) => Self::SEND_DIGEST,
        }
    }

    /// The payload as stored.
    pub fn payload(&self) -> serde_json::Value {
        let value = match self {
            Job::RenewCode(p) => serde_json::to_value(p),
            Job::RenewUnkeyed => Ok(serde_json::json!({})),
            Job::TagFollower(p) => serde_json::to_value(p),
            Job::SendDigest(p) => serde_json::to_value(p),
        };
        value.unwrap_or_default()
    }

    /// A stored job; `Err` says in words what is wrong with it (the job's `last_error`).
    pub fn parse(kind: &str, payload: &str) -> Result<Job, String> {
        let bad = |e: serde_json::Error| format!("bad payload: {e}");
        match kind {
            Self::RENEW_CODE => {
                let value: serde_json::Value = serde_json::from_str(payload).map_err(bad)?;
                if value.get("code_id").is_none() {
                    return Ok(Job::RenewUnkeyed);
                }
                Ok(Job::RenewCode(serde_json::from_value(value).map_err(bad)?))
            }
            Self::TAG_FOLLOWER => {
                let p: TagFollower = serde_json::from_str(payload).map_err(bad)?;
                if p.openid.is_empty() {
                    return Err("payload lacks openid".into());
                }
                Ok(Job::TagFollower(p))
            }
            Self::SEND_DIGEST => Ok(Job::SendDigest(serde_json::from_str(payload).map_err(bad)?)),
            other => Err(format!("unknown job kind {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_jobs_read_back_as_they_were_written() {
        let tag = Job::TagFollower(TagFollower { account_id: 1, campaign_id: 2, openid: "o1".into() });
        let stored = tag.payload().to_string();
        assert_eq!(stored, r#"{"account_id":1,"campaign_id":2,"openid":"o1"}"#);
        assert_eq!(Job::parse(tag.kind(), &stored), Ok(tag));
        let renew = Job::RenewCode(RenewCode { campaign_id: 3, code_id: Some(4) });
        assert_eq!(Job::parse("renew_code", &renew.payload().to_string()), Ok(renew));
        // Older rows: a renewal without a code does nothing; a codeless campaign's is kept.
        assert_eq!(Job::parse("renew_code", r#"{"campaign_id":3}"#), Ok(Job::RenewUnkeyed));
        assert_eq!(
            Job::parse("renew_code", r#"{"campaign_id":3,"code_id":null}"#),
            Ok(Job::RenewCode(RenewCode { campaign_id: 3, code_id: None }))
        );
        assert!(Job::parse("tag_follower", r#"{"account_id":1,"campaign_id":2,"openid":""}"#).is_err());
        assert!(Job::parse("tag_follower", "not json").unwrap_err().starts_with("bad payload"));
        assert_eq!(Job::parse("mystery", "{}"), Err("unknown job kind mystery".into()));
        let digest = SendDigest { account_id: 7, channel: "wecom".into(), from: "2026-12-06".parse().unwrap(), period: "daily".into() };
        let stored = Job::SendDigest(digest.clone()).payload().to_string();
        assert_eq!(stored, r#"{"account_id":7,"channel":"wecom","from":"2026-12-06","period":"daily"}"#);
        assert_eq!(Job::parse("send_digest", &stored), Ok(Job::SendDigest(digest.clone())));
        assert_eq!(digest.dedupe_key(), "digest:7:daily:2026-12-06:wecom");
    }
}
