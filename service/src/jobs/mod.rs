//! A durable background job queue in the `jobs` table, shared by every instance.
//!
//! A job is `queued` until a worker claims it: the claim is a compare-and-set `UPDATE` that
//! only succeeds while the job is still due, so on one PostgreSQL (or one SQLite file) each
//! claim goes to exactly one worker. A claim is a lease (`locked_until`): the worker renews it
//! while the job runs, and a job whose lease ran out (its worker crashed) is due again. Failed
//! runs go back to the queue with exponential backoff until `max_attempts`, then stay `failed`
//! for an operator to see.
//!
//! Delivery is at-least-once: a worker that dies after the work but before [`complete`] leaves
//! the job to run again, so handlers must be idempotent.
//!
//! The kinds of job and their payloads are typed in `kind` ([`Job`]).

mod kind;

pub use kind::{Job, RenewCode, SendDigest, TagFollower};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, ExprTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};

use crate::AppState;
use crate::entity::job;

/// Waiting to run (maybe later: `run_at`).
pub const QUEUED: &str = "queued";
/// Claimed by a worker until `locked_until`.
pub const RUNNING: &str = "running";
/// Ran successfully.
pub const DONE: &str = "done";
/// Gave up after the last allowed attempt.
pub const FAILED: &str = "failed";

/// How long a worker's claim lasts before another worker may take the job over; renewed every
/// third of it while the handler runs, so only a dead worker loses its jobs.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);
/// Attempts before a job is left `failed`.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;
/// Finished jobs are deleted after this long (the status view shows recent ones).
pub const KEEP_DONE: chrono::Duration = chrono::Duration::days(7);

/// First retry delay; doubled per attempt up to [`BACKOFF_CAP`].
const BACKOFF_BASE: Duration = Duration::from_secs(30);
/// Longest retry delay.
const BACKOFF_CAP: Duration = Duration::from_secs(3600);
/// Longest `last_error` kept (in characters).
const MAX_ERROR_CHARS: usize = 1000;
/// Due jobs a claim looks at per round: losing the race for one moves on to the next without
/// another query.
const CLAIM_CANDIDATES: u64 = 8;

/// The delay before the next try after `attempts` failed ones: 30 s · 2^(attempts−1), at most
/// an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 16) as u32;
    BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_CAP)
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Runs `op` again (with growing, jittered pauses) while it fails with a transient conflict.
async fn retry_transient<T, F, Fut>(mut op: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbErr>>,
{
    let mut pause = Duration::from_millis(5);
    for _ in 0..30 {
        match op().await {
            Err(e) if crate::db::is_conflict(&e) => {
                let jitter = Duration::from_millis(rand::random::<u64>() % 5);
                tokio::time::sleep(pause + jitter).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
    op().await
}

/// Queue `job` to run at `run_at`, as [`enqueue`] does.
pub async fn enqueue_job<C: ConnectionTrait>(
    db: &C,
    job: &Job,
    run_at: DateTime<Utc>,
    dedupe_key: Option<&str>,
) -> Result<Option<i64>, DbErr> {
    enqueue(db, job.kind(), &job.payload(), run_at, dedupe_key).await
}

/// Queue a job of `kind` to run at `run_at` (or as soon as possible after it).
///
/// With a `dedupe_key`, a job with that key that is still queued or running makes this a no-op
/// (`Ok(None)`), so several instances can schedule the same work and it is queued once. A
/// finished (`done` or `failed`) job with the key is queued again in place, fresh, and its id
/// returned: the key names pending work, not history. Callers that want "once per thing" put
/// the thing in the key and make the job a no-op once it is done (a renewal is keyed by the
/// code it replaces, `renew-code:<id>`, and does nothing once that code is replaced).
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    kind: &str,
    payload: &serde_json::Value,
    run_at: DateTime<Utc>,
    dedupe_key: Option<&str>,
) -> Result<Option<i64>, DbErr> {
    use sea_orm::ActiveValue::Set;
    let now = Utc::now();
    let row = job::ActiveModel {
        kind: Set(kind.to_owned()),
        payload: Set(payload.to_string()),
        dedupe_key: Set(dedupe_key.map(str::to_owned)),
        status: Set(QUEUED.to_owned()),
        attempts: Set(0),
        run_at: Set(run_at),
        locked_until: Set(None),
        locked_by: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    // One statement, so two instances enqueueing the same key at once cannot both insert:
    // the unique index decides, and the conditional DO UPDATE revives only finished jobs
    // (the target table is named in the condition: `excluded` is in scope there too).
    let revive = OnConflict::column(job::Column::DedupeKey)
        .update_columns([
            job::Column::Kind,
            job::Column::Payload,
            job::Column::Status,
            job::Column::Attempts,
            job::Column::RunAt,
            job::Column::LockedUntil,
            job::Column::LockedBy,
            job::Column::LastError,
            job::Column::CreatedAt,
            job::Column::UpdatedAt,
        ])
        .action_and_where(Expr::col((job::Entity, job::Column::Status)).is_in([DONE, FAILED]))
        .to_owned();
    let mut stmt = job::Entity::insert(row).on_conflict(revive).into_query();
    // RETURNING (PostgreSQL, SQLite ≥ 3.35) gives the id of an inserted or revived row, and
    // nothing when the conflict was a pending job.
    stmt.returning_col(job::Column::Id);
    let found = retry_transient(|| db.query_one(&stmt)).await?;
    found.map(|r| r.try_get::<i64>("", "id")).transpose()
}

/// Due: queued and its time has come, or running under a lease that ran out (a crashed worker).
fn due(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(Condition::all().add(job::Column::Status.eq(QUEUED)).add(job::Column::RunAt.lte(now)))
        .add(Condition::all().add(job::Column::Status.eq(RUNNING)).add(job::Column::LockedUntil.lt(now)))
}

/// Take one due job for `worker` (oldest `run_at` first) until `lease` from now, counting the
/// attempt; `None` when nothing is due.
///
/// Safe with any number of workers and instances on one database: the `UPDATE` repeats the
/// due condition, so of several workers that picked the same job exactly one changes the row,
/// and the others move on to the next candidate.
pub async fn claim<C: ConnectionTrait>(db: &C, worker: &str, lease: Duration) -> Result<Option<job::Model>, DbErr> {
    loop {
        let now = Utc::now();
        let candidates: Vec<i64> = retry_transient(|| {
            job::Entity::find()
                .select_only()
                .column(job::Column::Id)
                .filter(due(now))
                .order_by_asc(job::Column::RunAt)
                .order_by_asc(job::Column::Id)
                .limit(CLAIM_CANDIDATES)
                .into_tuple::<i64>()
                .all(db)
        })
        .await?;
        if candidates.is_empty() {
            return Ok(None);
        }
        for id in candidates {
            let mut stmt = job::Entity::update_many()
                .col_expr(job::Column::Status, Expr::value(RUNNING))
                .col_expr(job::Column::LockedUntil, Expr::value(Some(now + to_chrono(lease))))
                .col_expr(job::Column::LockedBy, Expr::value(Some(worker.to_owned())))
                .col_expr(job::Column::Attempts, Expr::col(job::Column::Attempts).add(1))
                .col_expr(job::Column::UpdatedAt, Expr::value(now))
                .filter(job::Column::Id.eq(id))
                .filter(due(now))
                .into_query();
            stmt.returning_all();
            if let Some(row) = retry_transient(|| db.query_one(&stmt)).await? {
                return Ok(Some(job::Model::from_query_result(&row, "")?));
            }
            // Another worker took it first: try the next candidate.
        }
        // Lost every race of this round: look again (someone made progress, so this ends).
    }
}

/// Only while `worker` still holds job `id`.
fn held(id: i64, worker: &str) -> Condition {
    Condition::all().add(job::Column::Id.eq(id)).add(job::Column::Status.eq(RUNNING)).add(job::Column::LockedBy.eq(worker))
}

/// Push `worker`'s lease on job `id` to `lease` from now; `false` if it no longer holds it.
pub async fn extend<C: ConnectionTrait>(db: &C, id: i64, worker: &str, lease: Duration) -> Result<bool, DbErr> {
    let now = Utc::now();
    let stmt = job::Entity::update_many()
        .col_expr(job::Column::LockedUntil, Expr::value(Some(now + to_chrono(lease))))
        .filter(held(id, worker))
        .into_query();
    Ok(retry_transient(|| db.execute(&stmt)).await?.rows_affected() == 1)
}

/// Mark job `id` done. `false` if `worker` no longer held it (its lease ran out and another
/// worker took over), in which case nothing changes.
pub async fn complete<C: ConnectionTrait>(db: &C, id: i64, worker: &str) -> Result<bool, DbErr> {
    let stmt = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(DONE))
        .col_expr(job::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(job::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(held(id, worker))
        .into_query();
    Ok(retry_transient(|| db.execute(&stmt)).await?.rows_affected() == 1)
}

/// What [`fail`] did with the job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailOutcome {
    /// Back in the queue, to run again at this time.
    Retry { at: DateTime<Utc> },
    /// That was the last allowed attempt: the job stays `failed`.
    GaveUp,
    /// `worker` no longer held the job; nothing changed.
    NotHeld,
}

/// Record that `worker`'s run of job `id` failed with `error` (words for an operator: callers
/// must not pass secrets). The job is queued again after [`backoff`], or left `failed` once
/// its attempts reach `max_attempts`.
pub async fn fail<C: ConnectionTrait>(db: &C, id: i64, worker: &str, error: &str, max_attempts: i32) -> Result<FailOutcome, DbErr> {
    let Some(current) = retry_transient(|| job::Entity::find().filter(held(id, worker)).one(db)).await? else {
        return Ok(FailOutcome::NotHeld);
    };
    let now = Utc::now();
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let mut update = job::Entity::update_many()
        .col_expr(job::Column::LastError, Expr::value(Some(error)))
        .col_expr(job::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    let outcome = if current.attempts >= max_attempts {
        update = update.col_expr(job::Column::Status, Expr::value(FAILED));
        FailOutcome::GaveUp
    } else {
        let at = now + to_chrono(backoff(current.attempts));
        update = update
            .col_expr(job::Column::Status, Expr::value(QUEUED))
            .col_expr(job::Column::RunAt, Expr::value(at))
            .col_expr(job::Column::LockedBy, Expr::value(Option::<String>::None));
        FailOutcome::Retry { at }
    };
    // Conditional on the attempt read above, so a takeover in between is not overwritten.
    let stmt = update.filter(held(id, worker)).filter(job::Column::Attempts.eq(current.attempts)).into_query();
    if retry_transient(|| db.execute(&stmt)).await?.rows_affected() == 1 { Ok(outcome) } else { Ok(FailOutcome::NotHeld) }
}

/// The most recently changed jobs first, for a status view.
pub async fn list_recent<C: ConnectionTrait>(db: &C, limit: u64) -> Result<Vec<job::Model>, DbErr> {
    job::Entity::find().order_by_desc(job::Column::UpdatedAt).order_by_desc(job::Column::Id).limit(limit).all(db).await
}

/// How many jobs are `(queued, running, failed)`.
pub async fn counts<C: ConnectionTrait>(db: &C) -> Result<(u64, u64, u64), DbErr> {
    let rows: Vec<(String, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "n")
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let get = |status: &str| rows.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| std::cmp::max(*n, 0) as u64);
    Ok((get(QUEUED), get(RUNNING), get(FAILED)))
}

/// The queue by kind: `(kind, status, jobs)` for every kind this build runs and each of
/// `queued`, `running` and `failed`, zero included, so a gauge drops back when its jobs are
/// gone (`/metrics`).
pub async fn depth<C: ConnectionTrait>(db: &C) -> Result<Vec<(&'static str, &'static str, u64)>, DbErr> {
    let rows: Vec<(String, String, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::Kind)
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "n")
        .filter(job::Column::Status.ne(DONE))
        .group_by(job::Column::Kind)
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut out = Vec::new();
    for kind in Job::KINDS {
        for status in [QUEUED, RUNNING, FAILED] {
            let n = rows.iter().find(|(k, s, _)| k == kind && s == status).map_or(0, |(_, _, n)| std::cmp::max(*n, 0) as u64);
            out.push((kind, status, n));
        }
    }
    Ok(out)
}

/// Delete `done` jobs last changed before `before`; returns how many. Failed jobs stay for
/// an operator to look at.
pub async fn purge_done<C: ConnectionTrait>(db: &C, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let stmt = job::Entity::delete_many().filter(job::Column::Status.eq(DONE)).filter(job::Column::UpdatedAt.lt(before)).into_query();
    Ok(retry_transient(|| db.execute(&stmt)).await?.rows_affected())
}

/// Runs jobs of every kind it is handed; `Err` carries words for `last_error` (no secrets).
#[async_trait]
pub trait JobHandler: Send + Sync {
    async fn run(&self, st: &AppState, job: &job::Model) -> Result<(), String>;
}

/// A name for this worker that is unique across hosts, processes and workers in a process:
/// `locked_by` tells an operator where a job runs.
fn worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let host: String = host.chars().filter(|c| c.is_ascii_graphic()).take(40).collect();
    format!("{host}:{}:{:08x}", std::process::id(), rand::random::<u32>())
}

/// Aborts the wrapped task when dropped, so a handler never outlives its (aborted) worker.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One job runner: claims due jobs and runs them one at a time with a [`JobHandler`].
#[derive(Clone, Debug)]
pub struct Worker {
    id: String,
    lease: Duration,
    max_attempts: i32,
    poll: Duration,
}

impl Worker {
    /// A worker with a fresh unique id that sleeps `poll` whenever no job is due.
    pub fn new(poll: Duration) -> Self {
        Self { id: worker_id(), lease: DEFAULT_LEASE, max_attempts: DEFAULT_MAX_ATTEMPTS, poll }
    }

    /// The same worker with another lease length.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// The same worker with another attempt limit.
    pub fn with_max_attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = std::cmp::max(max_attempts, 1);
        self
    }

    /// The `locked_by` value of this worker's claims.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claim and run jobs until none is due; returns how many ran (successfully or not).
    pub async fn run_due(&self, st: &AppState, handler: &Arc<dyn JobHandler>) -> Result<usize, DbErr> {
        let mut ran = 0;
        while let Some(job) = claim(&st.db, &self.id, self.lease).await? {
            ran += 1;
            let result = self.run_one(st, handler, &job).await;
            match result {
                Ok(()) => {
                    if !complete(&st.db, job.id, &self.id).await? {
                        tracing::warn!(job = job.id, kind = %job.kind, "job finished after its lease was taken over");
                    }
                }
                Err(error) => match fail(&st.db, job.id, &self.id, &error, self.max_attempts).await? {
                    FailOutcome::Retry { at } => {
                        tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, %error, retry_at = %at, "job failed; will retry");
                    }
                    FailOutcome::GaveUp => {
                        tracing::error!(job = job.id, kind = %job.kind, attempts = job.attempts, %error, "job failed for good");
                    }
                    FailOutcome::NotHeld => {
                        tracing::warn!(job = job.id, kind = %job.kind, %error, "job failed after its lease was taken over");
                    }
                },
            }
        }
        Ok(ran)
    }

    /// Runs the handler on its own task (a panic becomes a failed attempt instead of killing the
    /// worker) while renewing the lease.
    async fn run_one(&self, st: &AppState, handler: &Arc<dyn JobHandler>, job: &job::Model) -> Result<(), String> {
        let (h, st_task, job_task) = (handler.clone(), st.clone(), job.clone());
        let mut task = AbortOnDrop(tokio::spawn(async move { h.run(&st_task, &job_task).await }));
        let mut renew = tokio::time::interval(self.lease / 3);
        renew.tick().await; // the first tick is immediate; the claim just set the lease
        let joined = loop {
            tokio::select! {
                joined = &mut task.0 => break joined,
                _ = renew.tick() => {
                    match extend(&st.db, job.id, &self.id, self.lease).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(job = job.id, "lost the lease of a running job"),
                        Err(e) => tracing::warn!(job = job.id, error = %e, "cannot renew a job's lease"),
                    }
                }
            }
        };
        match joined {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err("the job handler panicked".into()),
            Err(_) => Err("the job was cancelled".into()),
        }
    }

    /// Run forever on its own task: due jobs, then a pause of `poll`; finished jobs older than
    /// [`KEEP_DONE`] are deleted now and then. Database errors are logged and retried after the
    /// pause; nothing here panics.
    pub fn spawn(self, st: AppState, handler: Arc<dyn JobHandler>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            tracing::info!(worker = %self.id, "job worker started");
            let mut last_purge: Option<tokio::time::Instant> = None;
            loop {
                if let Err(e) = self.run_due(&st, &handler).await {
                    tracing::warn!(worker = %self.id, error = %e, "job queue unavailable; retrying later");
                }
                if last_purge.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                    last_purge = Some(tokio::time::Instant::now());
                    match purge_done(&st.db, Utc::now() - KEEP_DONE).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(jobs = n, "old finished jobs deleted"),
                        Err(e) => tracing::warn!(error = %e, "cannot delete old finished jobs"),
                    }
                }
                tokio::time::sleep(self.poll).await;
            }
        })
    }
}

/// Start a [`Worker`] with default lease and attempt limit; it polls every `poll` when idle.
pub fn spawn_worker(st: AppState, handler: Arc<dyn JobHandler>, poll: Duration) -> tokio::task::JoinHandle<()> {
    Worker::new(poll).spawn(st, handler)
}
