//! Pushes that arrive while the database is busy with a batch are journaled in the spool and
//! acknowledged without waiting for it; the writer then imports them behind that batch, in
//! order. The database is held busy on purpose (a lock another transaction keeps), so the
//! test knows exactly which pushes had to wait and which could not have been committed when
//! they were answered.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, TransactionTrait};
use service::AppState;
use service::dual_test;
use service::entity::{campaign_hourly, event, subscription};
use service::ingest::{IngestOptions, Ingestor, Outcome, Push};
use service::testing::{Backend, TestDb, account_row, campaign_row};
use std::time::{Duration, Instant};
use wechat::Reply;

const T0: i64 = 1_714_035_600;

fn push(account_id: i32, openid: &str, dt: i64, event: &str, key: &str) -> Push {
    Push {
        account_id,
        to_user: "gh_spill".into(),
        openid: openid.into(),
        create_time: T0 + dt,
        msg_type: "event".into(),
        event: event.into(),
        event_key: key.into(),
        ticket: None,
        received_at: DateTime::<Utc>::from_timestamp(T0 + dt, 0).unwrap(),
    }
}

/// Holds the database busy: a transaction keeps the write lock (SQLite, by touching row `id`
/// of `table`) or a lock on the events table (PostgreSQL) that every batch's insert must wait
/// for. Reads still go on. Dropping or rolling back the transaction lets the writer go on.
async fn hold_busy(t: &TestDb, table: &str, id: i32) -> sea_orm::DatabaseTransaction {
    let locker = t.db.begin().await.unwrap();
    match t.backend {
        Backend::Sqlite => locker.execute_unprepared(&format!("UPDATE {table} SET name = name WHERE id = {id}")).await,
        Backend::Postgres => locker.execute_unprepared("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE").await,
    }
    .unwrap();
    locker
}

/// Waits (bounded) until the writer has handed a batch to the database since `before`
/// batches: the push is no longer queued but in the database's hands, behind the lock.
async fn until_in_the_database(st: &AppState, before: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while st.health.batches_begun() <= before {
        assert!(Instant::now() < deadline, "the writer never handed the batch to the database");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

dual_test!(pushes_arriving_during_a_commit_are_journaled_acknowledged_and_imported_in_order, |t: TestDb| async move {
    let st = t.state();
    let account = account_row("wx7000000000000077").insert(&t.db).await.unwrap().id;
    let campaign = service::entity::campaign::ActiveModel {
        welcome_message: Set(Some(r#"{"type":"text","content":"Welcome to the shop"}"#.into())),
        ..campaign_row(account, "Counter", "1")
    }
    .insert(&t.db)
    .await
    .unwrap()
    .id;
    let spool = tempfile::tempdir().unwrap();
    let ingest = Ingestor::spawn(st.clone(), IngestOptions::serving(spool.path())).unwrap();

    let locker = hold_busy(&t, "campaigns", campaign).await;

    // The first push goes straight to the database and waits there. (An organic follow: its
    // batch's first statement is the insert, which waits for SQLite's lock; a batch that has
    // read first cannot wait for it and would be spooled as a conflict instead.)
    let before = st.health.batches_begun();
    let first = {
        let ingest = ingest.clone();
        tokio::spawn(async move { ingest.submit(push(account, "o-first", 0, "subscribe", "")).await })
    };
    until_in_the_database(&st, before).await;
    assert!(!first.is_finished(), "the first push cannot have been committed past the lock");

    // Everything after it is journaled and answered while the lock is still held: a scan, a
    // follower who subscribes and leaves again, a retry of the scan, an organic follower.
    let later = [
        push(account, "o-scan", 1, "SCAN", "1"),
        push(account, "o-leaver", 2, "subscribe", "qrscene_1"),
        push(account, "o-leaver", 3, "unsubscribe", ""),
        push(account, "o-scan", 1, "SCAN", "1"),
        push(account, "o-organic", 4, "subscribe", ""),
    ];
    let started = Instant::now();
    let mut answers = Vec::new();
    for p in later.iter().cloned() {
        // Bounded, so a writer that waited for the lock fails the test instead of hanging it.
        let answer = tokio::time::timeout(Duration::from_secs(2), ingest.submit(p)).await;
        answers.push(answer.expect("answered while the database is locked").unwrap());
    }
    assert!(started.elapsed() < Duration::from_secs(1), "journaled pushes waited {:?}", started.elapsed());
    assert!(!first.is_finished(), "the lock is still held, so nothing was committed yet");
    assert!(answers.iter().all(|a| a.outcome == Outcome::Spooled), "{answers:?}");
    let welcome = Some(Reply::Text { content: "Welcome to the shop".into() });
    // The campaign's reply is looked up for journaled pushes too; the organic one has none.
    assert_eq!(
        answers.iter().map(|a| a.reply.clone()).collect::<Vec<_>>(),
        vec![welcome.clone(), welcome.clone(), None, welcome.clone(), None]
    );
    assert_eq!(answers[0].campaign_id, Some(campaign));
    let journaled = std::fs::read_to_string(ingest.spool_path().unwrap()).unwrap();
    assert_eq!(journaled.lines().count(), 5, "each journaled push is one line, fsynced before its answer");
    assert!(!ingest.settle(Duration::from_millis(100)).await, "the spool cannot drain while the database is locked");

    locker.rollback().await.unwrap();
    let stored = first.await.unwrap().unwrap();
    assert_eq!((stored.outcome, stored.reply), (Outcome::Stored, None));
    assert!(ingest.settle(Duration::from_secs(10)).await, "the spool was not imported");
    assert_eq!(std::fs::metadata(ingest.spool_path().unwrap()).unwrap().len(), 0, "an imported spool is emptied");

    // Every distinct push once (the retried scan too), in arrival order: the leaver's
    // subscription is closed by the unsubscribe journaled after it.
    let events = event::Entity::find().all(&t.db).await.unwrap();
    let mut kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["organic", "organic", "scan", "subscribe", "unsubscribe"]);
    let subs = subscription::Entity::find().all(&t.db).await.unwrap();
    assert_eq!(subs.len(), 3, "first, leaver and organic follower");
    let hash = |o: &str| st.keys.openid_hash(o);
    let leaver = subs.iter().find(|s| s.openid_hash == hash("o-leaver")).unwrap();
    assert!(leaver.unsubscribed_at.is_some(), "the unsubscribe was applied after its subscribe");
    assert_eq!(leaver.openid, None, "and erased the leaver's OpenID");
    assert!(subs.iter().filter(|s| s.openid_hash != hash("o-leaver")).all(|s| s.unsubscribed_at.is_none()));
    let hourly = campaign_hourly::Entity::find().all(&t.db).await.unwrap();
    let (scans, new, gone) = hourly.iter().fold((0, 0, 0), |(a, b, c), h| (a + h.scans, b + h.new_followers, c + h.unsubscribes));
    assert_eq!((scans, new, gone), (2, 1, 1), "a code subscribe and a scan, the subscriber left; the retry counted once");
});

dual_test!(a_full_backlog_makes_requests_wait_for_the_database, |t: TestDb| async move {
    let account = account_row("wx7000000000000078").insert(&t.db).await.unwrap().id;
    let spool = tempfile::tempdir().unwrap();
    let opts = IngestOptions { max_backlog: 2, ..IngestOptions::serving(spool.path()) };
    let st = t.state();
    let ingest = Ingestor::spawn(st.clone(), opts).unwrap();
    let locker = hold_busy(&t, "wechat_accounts", account).await;
    let submit = |n: i64| {
        let ingest = ingest.clone();
        tokio::spawn(async move { ingest.submit(push(account, &format!("o-{n}"), n, "subscribe", "")).await })
    };
    let before = st.health.batches_begun();
    let first = submit(0);
    until_in_the_database(&st, before).await;
    // Two pushes fill the backlog; the third has to wait for the database like the first.
    for n in [1, 2] {
        let answer = tokio::time::timeout(Duration::from_secs(2), submit(n)).await.expect("answered while the database is locked");
        assert_eq!(answer.unwrap().unwrap().outcome, Outcome::Spooled);
    }
    let mut waiting = submit(3);
    // Not answered within half a second, though journaled pushes are answered in milliseconds.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut waiting).await.is_err(),
        "a push beyond the backlog was answered while the database was locked"
    );
    assert!(!first.is_finished());
    locker.rollback().await.unwrap();
    assert_eq!(first.await.unwrap().unwrap().outcome, Outcome::Stored);
    // Taken once the backlog was imported: the spool was empty again, so it went straight in.
    assert_eq!(waiting.await.unwrap().unwrap().outcome, Outcome::Stored);
    assert!(ingest.settle(Duration::from_secs(10)).await);
    assert_eq!(event::Entity::find().all(&t.db).await.unwrap().len(), 4);
    assert_eq!(st.health.ingest().db_down_since, None, "a busy database is not a database that is down");
});

/// The reply of one push journaled while the database is held busy (see the first test).
async fn journaled_reply(t: &TestDb, st: &AppState, ingest: &Ingestor, account: i32, campaign: i32, n: i64) -> Option<Reply> {
    let locker = hold_busy(t, "campaigns", campaign).await;
    let before = st.health.batches_begun();
    let first = {
        let ingest = ingest.clone();
        tokio::spawn(async move { ingest.submit(push(account, &format!("o-first-{n}"), n, "subscribe", "")).await })
    };
    until_in_the_database(st, before).await;
    let answer = tokio::time::timeout(Duration::from_secs(2), ingest.submit(push(account, &format!("o-scan-{n}"), n + 1, "SCAN", "1")))
        .await
        .expect("answered while the database is locked")
        .unwrap();
    assert_eq!(answer.outcome, Outcome::Spooled);
    locker.rollback().await.unwrap();
    assert_eq!(first.await.unwrap().unwrap().outcome, Outcome::Stored);
    assert!(ingest.settle(Duration::from_secs(10)).await);
    answer.reply
}

dual_test!(an_edited_welcome_message_reaches_journaled_replies_within_a_second, |t: TestDb| async move {
    let account = account_row("wx7000000000000079").insert(&t.db).await.unwrap().id;
    let welcome = |text: &str| Some(format!(r#"{{"type":"text","content":"{text}"}}"#));
    let campaign =
        service::entity::campaign::ActiveModel { welcome_message: Set(welcome("Hello")), ..campaign_row(account, "Poster", "1") }
            .insert(&t.db)
            .await
            .unwrap();
    let id = campaign.id;
    let spool = tempfile::tempdir().unwrap();
    let st = t.state();
    let ingest = Ingestor::spawn(st.clone(), IngestOptions::serving(spool.path())).unwrap();
    assert_eq!(journaled_reply(&t, &st, &ingest, account, id, 0).await, Some(Reply::Text { content: "Hello".into() }));
    // Journaled replies are remembered for at most a second (on every instance, so no
    // instance needs telling): after that the edit shows.
    service::entity::campaign::ActiveModel { welcome_message: Set(welcome("Hello again")), ..campaign.into() }.update(&t.db).await.unwrap();
    // (Waiting out that second is the behaviour under test, not a synchronisation.)
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(journaled_reply(&t, &st, &ingest, account, id, 10).await, Some(Reply::Text { content: "Hello again".into() }));
});

/// A burst of pushes received now, journaled back to back by two senders for `length`, the
/// first of them behind a batch held busy until 200 ms in. Returns how many events the
/// database held `check_at` into the burst (while it still went on) and how many pushes were
/// sent in all (besides the first, which went straight to the database) and how many of
/// them were answered from the spool.
async fn journaled_burst(t: &TestDb, opts: IngestOptions, length: Duration, check_at: Duration) -> (usize, usize, usize) {
    let account = account_row("wx7000000000000080").insert(&t.db).await.unwrap().id;
    let st = t.state();
    let ingest = Ingestor::spawn(st.clone(), opts).unwrap();
    let locker = hold_busy(t, "wechat_accounts", account).await;
    let before = st.health.batches_begun();
    let first = {
        let ingest = ingest.clone();
        tokio::spawn(async move { ingest.submit(push(account, "o-first", 0, "subscribe", "")).await })
    };
    until_in_the_database(&st, before).await;
    let started = Instant::now();
    let senders: Vec<_> = (0..2)
        .map(|s| {
            let ingest = ingest.clone();
            tokio::spawn(async move {
                let (mut n, mut spooled) = (0, 0);
                while started.elapsed() < length {
                    let p = Push { received_at: Utc::now(), ..push(account, &format!("o-{s}-{n}"), 1 + n, "SCAN", "1") };
                    let answer = tokio::time::timeout(Duration::from_secs(2), ingest.submit(p)).await.expect("answered at once");
                    spooled += usize::from(answer.unwrap().outcome == Outcome::Spooled);
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                (n as usize, spooled)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    locker.rollback().await.unwrap();
    assert_eq!(first.await.unwrap().unwrap().outcome, Outcome::Stored);
    tokio::time::sleep(check_at.saturating_sub(started.elapsed())).await;
    let during = event::Entity::find().all(&t.db).await.unwrap().len();
    let (mut sent, mut spooled) = (0, 0);
    for s in senders {
        let (n, from_spool) = s.await.unwrap();
        sent += n;
        spooled += from_spool;
    }
    assert!(ingest.settle(Duration::from_secs(10)).await, "the burst was not imported after it ended");
    assert_eq!(event::Entity::find().all(&t.db).await.unwrap().len(), 1 + sent, "every push of the burst stored once");
    (during, sent, spooled)
}

dual_test!(a_burst_is_imported_once_it_ends, |t: TestDb| async move {
    // Any journaling counts as a burst here; the import may wait a minute for it to end.
    let spool = tempfile::tempdir().unwrap();
    let opts = IngestOptions { burst_rate: 1, max_import_lag: Duration::from_secs(60), ..IngestOptions::serving(spool.path()) };
    let (during, sent, spooled) = journaled_burst(&t, opts, Duration::from_millis(1_500), Duration::from_millis(1_200)).await;
    assert!(sent > 20, "the burst sent {sent} pushes");
    assert_eq!(during, 1, "pushes of the burst were imported while it went on (only the first push should be stored)");
    assert_eq!(spooled, sent, "the spool held the burst until it ended, so every push of it was journaled");
});

dual_test!(a_burst_that_goes_on_is_imported_after_max_import_lag, |t: TestDb| async move {
    let spool = tempfile::tempdir().unwrap();
    let opts = IngestOptions { burst_rate: 1, max_import_lag: Duration::from_millis(300), ..IngestOptions::serving(spool.path()) };
    let (during, sent, _) = journaled_burst(&t, opts, Duration::from_millis(2_000), Duration::from_millis(1_500)).await;
    assert!(during > 1, "nothing of a burst that went on for {sent} pushes was imported during it");
});
