//! A store task: one batch stored in a task of its own, with a deadline, rerun after write
//! conflicts.

use super::joined;
use crate::AppState;
use crate::ingest::checkpoint::Erasures;
use crate::ingest::store::{self, StoreError};
use crate::ingest::{Push, Stored};
use std::sync::Arc;
use std::time::Duration;

/// Immediate reruns of a batch that lost a write conflict (10, 20, 40, 80 ms apart).
const CONFLICT_RETRIES: usize = 4;

/// Everything a store task needs, cloned into it.
#[derive(Clone)]
pub(super) struct StoreCtx {
    pub(super) st: AppState,
    pub(super) shared: Option<sea_orm::DatabaseConnection>,
    pub(super) timeout: Duration,
    /// The runtime the store task runs on: the server's, or the import thread's.
    pub(super) on: tokio::runtime::Handle,
    pub(super) erasures: Option<Erasures>,
    /// Which kind of batch this is, for the metrics: `live` (pushes being answered) or
    /// `import` (acknowledged pushes moved from the spool).
    pub(super) source: &'static str,
}

impl StoreCtx {
    /// Stores one batch, rerunning it after write conflicts; on SQLite, has the WAL emptied
    /// soon after a batch with an unsubscribe commits (`checkpoint`).
    pub(super) async fn store(self, pushes: Arc<[Push]>) -> Result<Vec<Stored>, StoreError> {
        let erases = self.erasures.is_some() && pushes.iter().any(Push::erases);
        let size = pushes.len();
        let result = self.store_retrying(pushes).await;
        let outcome = if result.is_ok() { "committed" } else { "failed" };
        metrics::counter!("sceneboard_ingest_batches_total", "source" => self.source, "result" => outcome).increment(1);
        if result.is_ok() {
            metrics::histogram!("sceneboard_ingest_batch_pushes", "source" => self.source).record(size as f64);
        }
        if let (true, Ok(_), Some(erasures)) = (erases, &result, &self.erasures) {
            erasures.committed();
        }
        result
    }

    /// Several instances write the same counter and subscription rows: when PostgreSQL picks
    /// this batch as a deadlock's victim (or SQLite stays busy), run it again a few times
    /// before calling the database unavailable and spooling.
    async fn store_retrying(&self, pushes: Arc<[Push]>) -> Result<Vec<Stored>, StoreError> {
        let mut pause = Duration::from_millis(10);
        for _ in 0..CONFLICT_RETRIES {
            match self.store_once(Arc::clone(&pushes)).await {
                Err(StoreError::Conflict(why)) => {
                    tracing::debug!(error = %why, "write conflict; the batch runs again");
                    tokio::time::sleep(pause + Duration::from_millis(rand::random::<u64>() % 10)).await;
                    pause *= 2;
                }
                other => return other,
            }
        }
        match self.store_once(pushes).await {
            Err(StoreError::Conflict(why)) => Err(StoreError::Unavailable(why)),
            other => other,
        }
    }

    /// One try, in its own task with a deadline: a panic or a hung connection becomes an
    /// error here instead of taking the writer down.
    async fn store_once(&self, pushes: Arc<[Push]>) -> Result<Vec<Stored>, StoreError> {
        if self.shared.as_ref().is_some_and(|db| db.get_sqlite_connection_pool().is_closed()) {
            return Err(StoreError::Unavailable("the database was closed".into()));
        }
        let st = self.st.clone();
        st.health.batch_begun();
        let work = async move { store::apply(&st, &pushes).await };
        let mut task = self.on.spawn(work);
        match tokio::time::timeout(self.timeout, &mut task).await {
            Ok(done) => joined(done),
            Err(_) => {
                task.abort();
                // Wait until it is really gone, so it can't commit behind a replay's back (it
                // would be harmless, the unique key sees to that, but it keeps order simple).
                let _ = task.await;
                Err(StoreError::Unavailable("the database did not answer in time".into()))
            }
        }
    }
}
