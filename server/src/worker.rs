//! Background work, outside any request: renewing temporary codes before they expire (once
//! per code, `service::renewal`), tagging followers in WeChat (`service::tagging`) and sending
//! digests (`service::digests`). Jobs
//! live in the database queue (`service::jobs`), so with several instances each job still runs
//! once, and a crash only delays it.

use async_trait::async_trait;
use sea_orm::EntityTrait;
use service::digests;
use service::entity::job;
use service::jobs::{self, Job, JobHandler, RenewCode, TagFollower};
use service::renewal::{self, AutoRenewal};
use service::{AppState, accounts};
use std::sync::Arc;
use std::time::Duration;

/// How often due renewals are looked for.
const SCHEDULE_EVERY: Duration = Duration::from_secs(600);
/// How often due digests are looked for: a digest goes out within this of its hour.
const DIGESTS_EVERY: Duration = Duration::from_secs(60);
/// How often the queue is polled when idle.
const POLL: Duration = Duration::from_secs(5);

/// Runs the jobs Sceneboard enqueues.
pub struct Handler;

#[async_trait]
impl JobHandler for Handler {
    async fn run(&self, st: &AppState, job: &job::Model) -> Result<(), String> {
        match Job::parse(&job.kind, &job.payload)? {
            Job::RenewCode(r) => renew(st, r).await,
            Job::RenewUnkeyed => Ok(()),
            Job::TagFollower(t) => tag(st, &t).await,
            // The queue's own limit decides the last attempt (the worker is built with the default).
            Job::SendDigest(d) => digests::deliver(st, &d, job.attempts, job.attempts >= jobs::DEFAULT_MAX_ATTEMPTS).await,
        }
    }
}

/// Renews the campaign's code if it is still the one the job was queued for.
async fn renew(st: &AppState, job: RenewCode) -> Result<(), String> {
    let campaign_id = job.campaign_id;
    let Some(c) = service::entity::campaign::Entity::find_by_id(campaign_id).one(&st.db).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let account = accounts::model(&st.db, c.account_id).await.map_err(|e| e.to_string())?;
    let api = accounts::api_client(st, &account).map_err(|e| e.to_string())?;
    match renewal::renew_replacing(st, api.as_ref(), campaign_id, job.code_id).await.map_err(|e| e.to_string())? {
        AutoRenewal::Renewed => tracing::info!(campaign = campaign_id, "temporary code renewed automatically"),
        AutoRenewal::Skipped(why) => tracing::info!(campaign = campaign_id, why, "automatic renewal not needed"),
    }
    Ok(())
}

/// Give a follower the campaign's WeChat tag, creating the tag on first use. The error becomes
/// the job's `last_error` and a log line: it says why, never whom, even should WeChat's
/// message repeat the OpenID.
async fn tag(st: &AppState, job: &TagFollower) -> Result<(), String> {
    service::tagging::tag_follower(st, job.campaign_id, &job.openid).await.map_err(|e| e.to_string().replace(&job.openid, "<OpenID>"))
}

/// Enqueue the renewals due at the state's clock. Each job is keyed by the code it replaces,
/// so several instances, or rounds, queue a code's renewal once. The job itself runs on the
/// queue's time (now): leases and retries coordinate instances in real time.
pub async fn schedule_renewals(st: &AppState) -> Result<usize, String> {
    let due = renewal::due_for_renewal(&st.db, st.clock.now()).await.map_err(|e| e.to_string())?;
    let mut queued = 0;
    for d in due {
        let job = Job::RenewCode(RenewCode { campaign_id: d.campaign_id, code_id: d.code_id });
        if jobs::enqueue_job(&st.db, &job, chrono::Utc::now(), Some(&d.job_key())).await.map_err(|e| e.to_string())?.is_some() {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Start the job worker, the renewal scheduler and the digest scheduler.
pub fn spawn(st: AppState) {
    jobs::spawn_worker(st.clone(), Arc::new(Handler), POLL);
    let digest_state = st.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DIGESTS_EVERY);
        loop {
            tick.tick().await;
            match digests::schedule(&digest_state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(digests = n, "digests queued"),
                Err(e) => tracing::warn!(error = %e, "cannot look for digests to send"),
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SCHEDULE_EVERY);
        loop {
            tick.tick().await;
            match schedule_renewals(&st).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(codes = n, "renewals queued"),
                Err(e) => tracing::warn!(error = %e, "cannot look for codes to renew"),
            }
        }
    });
}
