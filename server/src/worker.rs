//! Background work, outside any request: renewing temporary codes before they expire and
//! tagging followers in WeChat. Jobs live in the database queue (`service::jobs`), so with
//! several instances each job still runs once, and a crash only delays it.

use async_trait::async_trait;
use serde_json::json;
use service::entity::job;
use service::jobs::{self, JobHandler};
use service::{AppState, accounts, campaigns};
use std::sync::Arc;
use std::time::Duration;

/// Renew a temporary code this long before it expires.
const RENEW_AHEAD_HOURS: i64 = 24;
/// How often due renewals are looked for.
const SCHEDULE_EVERY: Duration = Duration::from_secs(600);
/// How often the queue is polled when idle.
const POLL: Duration = Duration::from_secs(5);

/// Runs the jobs Sceneboard enqueues.
pub struct Handler;

#[async_trait]
impl JobHandler for Handler {
    async fn run(&self, st: &AppState, job: &job::Model) -> Result<(), String> {
        let payload: serde_json::Value = serde_json::from_str(&job.payload).map_err(|e| format!("bad payload: {e}"))?;
        match job.kind.as_str() {
            "renew_code" => {
                let id = payload["campaign_id"].as_i64().ok_or("payload lacks campaign_id")? as i32;
                renew(st, id).await
            }
            "tag_follower" => tag(st, &payload).await,
            other => Err(format!("unknown job kind {other}")),
        }
    }
}

async fn renew(st: &AppState, campaign_id: i32) -> Result<(), String> {
    let c = campaigns::get(&st.db, campaign_id).await.map_err(|e| e.to_string())?;
    // Checked again at run time: the campaign may have been archived or renewed by hand.
    if c.archived_at.is_some() || !c.auto_renew {
        return Ok(());
    }
    let account = accounts::model(&st.db, c.account_id).await.map_err(|e| e.to_string())?;
    let api = accounts::api_client(st, &account).map_err(|e| e.to_string())?;
    campaigns::renew(st, api.as_ref(), campaign_id, None).await.map_err(|e| e.to_string())?;
    tracing::info!(campaign = campaign_id, "temporary code renewed automatically");
    Ok(())
}

/// Give a follower the campaign's WeChat tag, creating the tag on first use.
async fn tag(st: &AppState, payload: &serde_json::Value) -> Result<(), String> {
    let campaign_id = payload["campaign_id"].as_i64().ok_or("payload lacks campaign_id")? as i32;
    let openid = payload["openid"].as_str().filter(|o| !o.is_empty()).ok_or("payload lacks openid")?;
    // The error becomes the job's `last_error` and a log line: it says why, never whom, even
    // should WeChat's message repeat the OpenID.
    tag_follower(st, campaign_id, openid).await.map_err(|e| e.replace(openid, "<OpenID>"))
}

async fn tag_follower(st: &AppState, campaign_id: i32, openid: &str) -> Result<(), String> {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let c = service::entity::campaign::Entity::find_by_id(campaign_id)
        .one(&st.db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the campaign no longer exists")?;
    let Some(tag_name) = c.tag_name.clone() else { return Ok(()) };
    let account = accounts::model(&st.db, c.account_id).await.map_err(|e| e.to_string())?;
    let api = accounts::api_client(st, &account).map_err(|e| e.to_string())?;
    let tag_id = match c.tag_id {
        Some(id) => id as u64,
        None => {
            let id = match api.create_tag(&tag_name).await {
                Ok(tag) => tag.id,
                // The name is taken: another instance's worker created it a moment ago, or this
                // one crashed between creating it and storing its id. Either way it is ours.
                Err(e) if e.errcode() == Some(service::health::TAG_NAME_TAKEN) => {
                    let tags = api.list_tags().await.map_err(|e| e.to_string())?;
                    tags.into_iter().find(|t| t.name == tag_name).map(|t| t.id).ok_or_else(|| e.to_string())?
                }
                Err(e) => return Err(e.to_string()),
            };
            let mut active: service::entity::campaign::ActiveModel = c.into();
            active.tag_id = Set(Some(id as i64));
            active.update(&st.db).await.map_err(|e| e.to_string())?;
            id
        }
    };
    api.batch_tag(tag_id, &[openid.to_owned()]).await.map_err(|e| e.to_string())
}

use sea_orm::EntityTrait;

/// Enqueue renewals of codes that expire within a day; the dedupe key (campaign and hour)
/// keeps several instances from enqueueing the same renewal twice.
pub async fn schedule_renewals(st: &AppState) -> Result<usize, String> {
    let due = campaigns::due_for_renewal(&st.db, chrono::Duration::hours(RENEW_AHEAD_HOURS)).await.map_err(|e| e.to_string())?;
    let hour = chrono::Utc::now().timestamp() / 3600;
    let mut queued = 0;
    for id in due {
        let key = format!("renew:{id}:{hour}");
        if jobs::enqueue(&st.db, "renew_code", &json!({ "campaign_id": id }), chrono::Utc::now(), Some(&key))
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Start the job worker and the renewal scheduler.
pub fn spawn(st: AppState) {
    jobs::spawn_worker(st.clone(), Arc::new(Handler), POLL);
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
