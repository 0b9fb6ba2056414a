//! The job queue on real SQLite and PostgreSQL: claims, dedupe, backoff, lease takeover,
//! exactly-once claiming under concurrency, and the worker loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;
use service::entity::job;
use service::jobs::{self, FailOutcome, JobHandler, Worker};
use service::testing::TestDb;
use service::{AppState, dual_test};

const LEASE: Duration = Duration::from_secs(60);

async fn row(db: &DatabaseConnection, id: i64) -> job::Model {
    job::Entity::find_by_id(id).one(db).await.unwrap().unwrap()
}

/// Moves a job's `run_at` (and any lease) into the past, as if time had passed.
async fn make_due(db: &DatabaseConnection, id: i64) {
    let past = Utc::now() - chrono::Duration::seconds(1);
    job::Entity::update_many()
        .col_expr(job::Column::RunAt, Expr::value(past))
        .col_expr(job::Column::LockedUntil, Expr::value(Some(past)))
        .filter(job::Column::Id.eq(id))
        .exec(db)
        .await
        .unwrap();
}

#[test]
fn backoff_doubles_up_to_an_hour() {
    assert_eq!(jobs::backoff(1), Duration::from_secs(30));
    assert_eq!(jobs::backoff(2), Duration::from_secs(60));
    assert_eq!(jobs::backoff(3), Duration::from_secs(120));
    assert_eq!(jobs::backoff(7), Duration::from_secs(1920));
    assert_eq!(jobs::backoff(8), Duration::from_secs(3600));
    assert_eq!(jobs::backoff(1000), Duration::from_secs(3600));
}

dual_test!(enqueue_claim_complete, |t: TestDb| async move {
    let db = &t.db;
    let now = Utc::now();
    let later = jobs::enqueue(db, "tag", &json!({"n": 2}), now + chrono::Duration::hours(1), None).await.unwrap().unwrap();
    let due = jobs::enqueue(db, "tag", &json!({"n": 1}), now, None).await.unwrap().unwrap();
    assert_eq!(jobs::counts(db).await.unwrap(), (2, 0, 0));

    let job = jobs::claim(db, "w1", LEASE).await.unwrap().expect("the due job");
    assert_eq!(job.id, due, "only the due job is claimed");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&job.payload).unwrap(), json!({"n": 1}));
    assert_eq!((job.status.as_str(), job.attempts, job.locked_by.as_deref()), ("running", 1, Some("w1")));
    let until = job.locked_until.unwrap();
    assert!(until > Utc::now() + chrono::Duration::seconds(50) && until <= Utc::now() + chrono::Duration::seconds(61));
    assert!(jobs::claim(db, "w2", LEASE).await.unwrap().is_none(), "a running job and a future job are not due");
    assert_eq!(jobs::counts(db).await.unwrap(), (1, 1, 0));

    assert!(!jobs::complete(db, due, "w2").await.unwrap(), "only the holder completes");
    assert!(jobs::complete(db, due, "w1").await.unwrap());
    assert!(!jobs::complete(db, due, "w1").await.unwrap(), "completing twice changes nothing");
    let done = row(db, due).await;
    assert_eq!((done.status.as_str(), done.locked_until), ("done", None));
    assert_eq!(jobs::counts(db).await.unwrap(), (1, 0, 0));
    assert_eq!(row(db, later).await.status, "queued");

    let recent = jobs::list_recent(db, 10).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].id, due, "most recently changed first");
    assert_eq!(jobs::list_recent(db, 1).await.unwrap().len(), 1);

    // Old finished jobs are purged; queued ones are kept.
    assert_eq!(jobs::purge_done(db, Utc::now() - chrono::Duration::hours(1)).await.unwrap(), 0, "too recent");
    assert_eq!(jobs::purge_done(db, Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 1);
    assert_eq!(jobs::list_recent(db, 10).await.unwrap().iter().map(|j| j.id).collect::<Vec<_>>(), [later]);
});

dual_test!(dedupe_keys_queue_pending_work_once, |t: TestDb| async move {
    let db = &t.db;
    let now = Utc::now();
    let id = jobs::enqueue(db, "renew_code", &json!({"campaign_id": 1}), now, Some("renew:1")).await.unwrap().unwrap();
    assert_eq!(jobs::enqueue(db, "renew_code", &json!({"campaign_id": 1}), now, Some("renew:1")).await.unwrap(), None);
    let other = jobs::enqueue(db, "renew_code", &json!({"campaign_id": 2}), now, Some("renew:2")).await.unwrap().unwrap();
    assert_ne!(id, other);
    // Jobs without a key never collide.
    assert!(jobs::enqueue(db, "x", &json!({}), now, None).await.unwrap().is_some());
    assert!(jobs::enqueue(db, "x", &json!({}), now, None).await.unwrap().is_some());

    let claimed = jobs::claim(db, "w", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, id);
    assert_eq!(
        jobs::enqueue(db, "renew_code", &json!({"campaign_id": 1}), now, Some("renew:1")).await.unwrap(),
        None,
        "running counts as pending"
    );
    assert_eq!(row(db, id).await.status, "running", "the duplicate did not touch the running job");

    // Once finished, the key may be used again: the same row is queued afresh.
    assert!(jobs::fail(db, id, "w", "WeChat busy", 1).await.unwrap() == FailOutcome::GaveUp);
    let again = jobs::enqueue(db, "renew_code", &json!({"campaign_id": 1, "v": 2}), now, Some("renew:1")).await.unwrap();
    assert_eq!(again, Some(id));
    let revived = row(db, id).await;
    assert_eq!(
        (revived.status.as_str(), revived.attempts, revived.last_error.as_deref(), revived.locked_by.as_deref()),
        ("queued", 0, None, None)
    );
    assert_eq!(serde_json::from_str::<serde_json::Value>(&revived.payload).unwrap()["v"], 2);
    let n = job::Entity::find().filter(job::Column::DedupeKey.eq("renew:1")).all(db).await.unwrap().len();
    assert_eq!(n, 1);
});

dual_test!(failures_back_off_then_give_up, |t: TestDb| async move {
    let db = &t.db;
    let id = jobs::enqueue(db, "tag", &json!({}), Utc::now(), None).await.unwrap().unwrap();
    for attempt in 1..=3 {
        let job = jobs::claim(db, "w", LEASE).await.unwrap().expect("due");
        assert_eq!((job.id, job.attempts), (id, attempt));
        assert_eq!(jobs::fail(db, id, "other", "nope", 3).await.unwrap(), FailOutcome::NotHeld, "only the holder fails it");
        let before = Utc::now();
        let outcome = jobs::fail(db, id, "w", &format!("WeChat error 45009 (try {attempt})"), 3).await.unwrap();
        let stored = row(db, id).await;
        assert_eq!(stored.last_error.as_deref(), Some(format!("WeChat error 45009 (try {attempt})").as_str()));
        if attempt < 3 {
            let FailOutcome::Retry { at } = outcome else { panic!("expected a retry, got {outcome:?}") };
            let wait = (at - before).num_seconds();
            let expected = 30 * (1 << (attempt - 1));
            assert!((expected - 1..=expected + 1).contains(&wait), "attempt {attempt}: waits {wait}s, not {expected}s");
            assert_eq!((stored.status.as_str(), stored.locked_by.as_deref()), ("queued", None));
            assert!(jobs::claim(db, "w", LEASE).await.unwrap().is_none(), "not due before the backoff");
            make_due(db, id).await;
        } else {
            assert_eq!(outcome, FailOutcome::GaveUp);
            assert_eq!(stored.status, "failed");
        }
    }
    make_due(db, id).await;
    assert!(jobs::claim(db, "w", LEASE).await.unwrap().is_none(), "a failed job is never claimed");
    assert_eq!(jobs::counts(db).await.unwrap(), (0, 0, 1));
    // Long errors are cut.
    let id = jobs::enqueue(db, "tag", &json!({}), Utc::now(), None).await.unwrap().unwrap();
    jobs::claim(db, "w", LEASE).await.unwrap().unwrap();
    jobs::fail(db, id, "w", &"e".repeat(5000), 5).await.unwrap();
    assert_eq!(row(db, id).await.last_error.unwrap().chars().count(), 1000);
});

dual_test!(an_expired_lease_is_taken_over, |t: TestDb| async move {
    let db = &t.db;
    let id = jobs::enqueue(db, "tag", &json!({}), Utc::now(), None).await.unwrap().unwrap();
    jobs::claim(db, "crashed", LEASE).await.unwrap().unwrap();
    assert!(jobs::claim(db, "rescuer", LEASE).await.unwrap().is_none(), "a live lease is respected");
    assert!(jobs::extend(db, id, "crashed", LEASE).await.unwrap());
    assert!(!jobs::extend(db, id, "rescuer", LEASE).await.unwrap());

    make_due(db, id).await; // the lease runs out
    let taken = jobs::claim(db, "rescuer", LEASE).await.unwrap().expect("the abandoned job");
    assert_eq!((taken.id, taken.attempts, taken.locked_by.as_deref()), (id, 2, Some("rescuer")));
    assert!(!jobs::complete(db, id, "crashed").await.unwrap(), "the old holder can no longer complete it");
    assert!(!jobs::extend(db, id, "crashed", LEASE).await.unwrap());
    assert!(jobs::complete(db, id, "rescuer").await.unwrap());
    assert_eq!(row(db, id).await.status, "done");
});

dual_test!(concurrent_claims_run_each_job_once, |t: TestDb| async move {
    let db = t.db.clone();
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(jobs::enqueue(&db, "n", &json!({"i": i}), Utc::now(), None).await.unwrap().unwrap());
    }
    let mut tasks = Vec::new();
    for w in 0..4 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("worker-{w}");
            let mut mine = Vec::new();
            while let Some(job) = jobs::claim(&db, &name, LEASE).await.unwrap() {
                assert_eq!(job.locked_by.as_deref(), Some(name.as_str()));
                mine.push(job.id);
                assert!(jobs::complete(&db, job.id, &name).await.unwrap(), "the claimer still holds its job");
            }
            mine
        }));
    }
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for task in tasks {
        for id in task.await.unwrap() {
            *seen.entry(id).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 200, "every job ran");
    assert!(seen.values().all(|&n| n == 1), "no job ran twice");
    assert!(ids.iter().all(|id| seen.contains_key(id)));
    let rows = job::Entity::find().all(&db).await.unwrap();
    assert!(rows.iter().all(|j| j.status == "done" && j.attempts == 1));
});

/// Records the ids it runs; fails jobs of kind `bad`, panics on kind `boom`.
#[derive(Default)]
struct Recorder {
    ran: Mutex<Vec<i64>>,
}

#[async_trait]
impl JobHandler for Recorder {
    async fn run(&self, _st: &AppState, job: &job::Model) -> Result<(), String> {
        self.ran.lock().unwrap().push(job.id);
        match job.kind.as_str() {
            "bad" => Err("the campaign no longer exists".into()),
            "boom" => panic!("handler bug"),
            _ => Ok(()),
        }
    }
}

dual_test!(the_worker_runs_due_jobs, |t: TestDb| async move {
    let st = t.state();
    let recorder = Arc::new(Recorder::default());
    let handler: Arc<dyn JobHandler> = recorder.clone();

    // One pass by hand: good, failing and panicking jobs; the worker survives all three.
    let good = jobs::enqueue(&st.db, "ok", &json!({}), Utc::now(), None).await.unwrap().unwrap();
    let bad = jobs::enqueue(&st.db, "bad", &json!({}), Utc::now(), None).await.unwrap().unwrap();
    let boom = jobs::enqueue(&st.db, "boom", &json!({}), Utc::now(), None).await.unwrap().unwrap();
    let worker = Worker::new(Duration::from_millis(50)).with_max_attempts(2);
    assert_ne!(worker.id(), Worker::new(Duration::from_millis(50)).id(), "worker ids are unique");
    assert_eq!(worker.run_due(&st, &handler).await.unwrap(), 3);
    assert_eq!(row(&st.db, good).await.status, "done");
    let bad_row = row(&st.db, bad).await;
    assert_eq!((bad_row.status.as_str(), bad_row.last_error.as_deref()), ("queued", Some("the campaign no longer exists")));
    let boom_row = row(&st.db, boom).await;
    assert_eq!((boom_row.status.as_str(), boom_row.last_error.as_deref()), ("queued", Some("the job handler panicked")));
    make_due(&st.db, bad).await;
    assert_eq!(worker.run_due(&st, &handler).await.unwrap(), 1);
    assert_eq!(row(&st.db, bad).await.status, "failed", "given up after max attempts");
    recorder.ran.lock().unwrap().clear();

    // The spawned loop picks up jobs enqueued while it sleeps.
    let task = jobs::spawn_worker(st.clone(), handler.clone(), Duration::from_millis(50));
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(jobs::enqueue(&st.db, "ok", &json!({"i": i}), Utc::now(), None).await.unwrap().unwrap());
    }
    // Wait until every row is `done`: a done job is never due again, so no run can follow,
    // and each claim counts an attempt, so one attempt per row means nothing ran twice.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for &id in &ids {
        while row(&st.db, id).await.status != "done" {
            assert!(tokio::time::Instant::now() < deadline, "job {id} did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    task.abort();
    let _ = task.await;
    let mut ran = recorder.ran.lock().unwrap().clone();
    ran.sort();
    assert_eq!(ran, ids, "each job ran exactly once");
    for id in ids {
        assert_eq!(row(&st.db, id).await.attempts, 1, "job {id} was claimed once");
    }
});
