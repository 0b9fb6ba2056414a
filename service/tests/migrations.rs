//! Migrations go up, down and up again on SQLite and PostgreSQL.

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};
use service::keys::scanner_key;
use service::testing::{Backend, TestDb};

async fn table_count(t: &TestDb) -> i64 {
    let sql = match t.backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'"
        }
    };
    let row = t.db.query_one_raw(Statement::from_string(t.db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn up_down_up(backend: Backend) {
    let t = TestDb::new(backend, false).await;
    assert_eq!(table_count(&t).await, 0);
    Migrator::up(&t.db, None).await.unwrap();
    assert_eq!(table_count(&t).await, 19, "every domain table exists after up");
    assert!(Migrator::get_pending_migrations(&t.db).await.unwrap().is_empty());
    Migrator::down(&t.db, None).await.unwrap();
    assert_eq!(table_count(&t).await, 0, "down removes every table");
    Migrator::up(&t.db, None).await.unwrap();
    assert_eq!(table_count(&t).await, 19);
    // Running up again is a no-op.
    Migrator::up(&t.db, None).await.unwrap();
}

#[tokio::test]
async fn up_down_up_sqlite() {
    up_down_up(Backend::Sqlite).await;
}

#[tokio::test]
async fn up_down_up_postgres() {
    up_down_up(Backend::Postgres).await;
}

async fn one_i64(t: &TestDb, sql: &str) -> i64 {
    let row = t.db.query_one_raw(Statement::from_string(t.db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Which of the counter tables SQLite stores clustered on their key.
async fn clustered(t: &TestDb) -> Vec<String> {
    let sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID' ORDER BY name";
    let rows = t.db.query_all_raw(Statement::from_string(t.db.get_database_backend(), sql)).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect()
}

/// Account 1 with campaign 1, written in SQL so that any schema version since the first takes them.
async fn one_campaign(t: &TestDb) {
    t.db.execute_unprepared("INSERT INTO wechat_accounts (id, name, app_id, app_secret_enc, token, message_mode, api_base_url, token_endpoint, timezone, created_at, updated_at) \
         VALUES (1, 'A', 'wx0000000000000001', 'x', 't', 'plain', 'http://127.0.0.1:9', 'stable', 'Asia/Shanghai', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')").await.unwrap();
    t.db.execute_unprepared(
        "INSERT INTO campaigns (id, account_id, name, kind, scene, auto_renew, created_at, updated_at) \
         VALUES (1, 1, 'C', 'permanent', '1', false, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
    )
    .await
    .unwrap();
}

/// Scans, organic followers and scanner rows in the counter tables.
async fn sums(t: &TestDb) -> (i64, i64, i64) {
    (
        one_i64(t, "SELECT CAST(SUM(scans) AS BIGINT) FROM campaign_hourly").await,
        one_i64(t, "SELECT CAST(SUM(organic_followers) AS BIGINT) FROM account_hourly").await,
        one_i64(t, "SELECT COUNT(*) FROM scanner_hours").await,
    )
}

/// The counter tables' rebuild (SQLite: WITHOUT ROWID; PostgreSQL: nothing to do) keeps every
/// row both ways, and the tables keep working (an upsert on the key still finds its row).
async fn counters_survive_the_rebuild(backend: Backend) {
    let t = TestDb::new(backend, false).await;
    Migrator::up(&t.db, Some(3)).await.unwrap();
    let exec = |sql: &'static str| {
        let db = t.db.clone();
        async move { db.execute_unprepared(sql).await.unwrap() }
    };
    one_campaign(&t).await;
    exec(
        "INSERT INTO campaign_hourly (campaign_id, hour, scans, new_followers, unsubscribes) VALUES (1, 3600, 5, 2, 1), (1, 7200, 3, 1, 0)",
    )
    .await;
    exec("INSERT INTO account_hourly (account_id, hour, scans, new_followers, organic_followers, unsubscribes, unknown_scene_events) VALUES (1, 3600, 8, 4, 1, 1, 0)").await;
    exec("INSERT INTO scanner_hours (campaign_id, hour, openid_hash) VALUES (1, 3600, 'a'), (1, 3600, 'b'), (1, 7200, 'a')").await;
    assert_eq!(sums(&t).await, (8, 1, 3));
    if backend == Backend::Sqlite {
        assert!(clustered(&t).await.is_empty(), "rowid tables before the rebuild");
    }

    Migrator::up(&t.db, None).await.unwrap();
    assert_eq!(sums(&t).await, (8, 1, 3), "up keeps every row");
    if backend == Backend::Sqlite {
        assert_eq!(clustered(&t).await, ["account_hourly", "campaign_hourly", "scanner_hours"]);
    }
    // The key still holds: the ingest's upsert adds to the existing row.
    exec(
        "INSERT INTO campaign_hourly (campaign_id, hour, scans, new_followers, unsubscribes) VALUES (1, 3600, 1, 0, 0) \
          ON CONFLICT (campaign_id, hour) DO UPDATE SET scans = campaign_hourly.scans + excluded.scans",
    )
    .await;
    assert_eq!(one_i64(&t, "SELECT COUNT(*) FROM campaign_hourly").await, 2);
    assert_eq!(sums(&t).await, (9, 1, 3));

    // Back to the schema before the rebuild (migration 3), whatever came after it.
    Migrator::down(&t.db, Some(Migrator::migrations().len() as u32 - 3)).await.unwrap();
    assert_eq!(sums(&t).await, (9, 1, 3), "down keeps every row");
    if backend == Backend::Sqlite {
        assert!(clustered(&t).await.is_empty(), "down makes them rowid tables again");
    }
    Migrator::up(&t.db, None).await.unwrap();
    assert_eq!(sums(&t).await, (9, 1, 3));
}

#[tokio::test]
async fn counters_survive_the_rebuild_sqlite() {
    counters_survive_the_rebuild(Backend::Sqlite).await;
}

#[tokio::test]
async fn counters_survive_the_rebuild_postgres() {
    counters_survive_the_rebuild(Backend::Postgres).await;
}

/// The job-subject migration reads the follower's hash out of existing tag jobs' keys, leaves
/// other jobs alone, and goes down and up again.
async fn tag_jobs_get_their_subject(backend: Backend) {
    let t = TestDb::new(backend, false).await;
    Migrator::up(&t.db, Some(5)).await.unwrap();
    let hash = "9f".repeat(32);
    for (kind, key) in
        [("tag_follower", format!("tag:12:{hash}")), ("tag_follower", "tag:7:abc".to_owned()), ("renew_code", "renew:3:491000".to_owned())]
    {
        t.db.execute_unprepared(&format!(
            "INSERT INTO jobs (kind, payload, dedupe_key, status, attempts, run_at, created_at, updated_at) \
             VALUES ('{kind}', '{{}}', '{key}', 'queued', 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
        ))
        .await
        .unwrap();
    }
    let subjects = |t: &TestDb| {
        let db = t.db.clone();
        async move {
            let sql = "SELECT dedupe_key, subject_hash FROM jobs ORDER BY id";
            let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
            rows.iter()
                .map(|r| (r.try_get_by_index::<String>(0).unwrap(), r.try_get_by_index::<Option<String>>(1).unwrap()))
                .collect::<Vec<_>>()
        }
    };
    Migrator::up(&t.db, None).await.unwrap();
    let expected = vec![
        (format!("tag:12:{hash}"), Some(hash.clone())),
        ("tag:7:abc".to_owned(), Some("abc".to_owned())),
        ("renew:3:491000".to_owned(), None),
    ];
    assert_eq!(subjects(&t).await, expected);
    Migrator::down(&t.db, Some(Migrator::migrations().len() as u32 - 5)).await.unwrap();
    let sql = Statement::from_string(t.db.get_database_backend(), "SELECT subject_hash FROM jobs");
    assert!(t.db.query_all_raw(sql).await.is_err(), "down drops the column");
    assert_eq!(one_i64(&t, "SELECT COUNT(*) FROM jobs").await, 3, "and keeps the jobs");
    Migrator::up(&t.db, None).await.unwrap();
    assert_eq!(subjects(&t).await, expected);
}

#[tokio::test]
async fn tag_jobs_get_their_subject_sqlite() {
    tag_jobs_get_their_subject(Backend::Sqlite).await;
}

#[tokio::test]
async fn tag_jobs_get_their_subject_postgres() {
    tag_jobs_get_their_subject(Backend::Postgres).await;
}

/// The scanner-key migration turns each stored hash into `scanner_key` of it, in SQL, on both
/// backends (signs included), merges hashes that share their key in one campaign-hour, keeps
/// the table's key and clustering, and comes back to the same keys after down and up.
async fn scanner_hashes_become_keys(backend: Backend) {
    let t = TestDb::new(backend, false).await;
    Migrator::up(&t.db, Some(6)).await.unwrap();
    let exec = |sql: String| {
        let db = t.db.clone();
        async move { db.execute_unprepared(&sql).await.unwrap() }
    };
    one_campaign(&t).await;
    // Real hashes, one with the top bit set (a negative key); `twin` shares `low`'s first 64 bits.
    let keys = service::Keys::from_base64(&format!("{}=", "A".repeat(43))).unwrap();
    let (neg, low) = ("f0".repeat(32), keys.openid_hash("o-1"));
    let low = format!("0{}", &low[1..]);
    let twin = format!("{}{}", &low[..16], "ab".repeat(24));
    let real = keys.openid_hash("o-2");
    for (hour, hash) in [(3600, &neg), (3600, &low), (3600, &twin), (7200, &twin), (7200, &real)] {
        exec(format!("INSERT INTO scanner_hours (campaign_id, hour, openid_hash) VALUES (1, {hour}, '{hash}')")).await;
    }
    let rows = |t: &TestDb| {
        let db = t.db.clone();
        async move {
            let sql = "SELECT hour, scanner FROM scanner_hours WHERE campaign_id = 1 ORDER BY hour, scanner";
            let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
            rows.iter().map(|r| (r.try_get_by_index::<i64>(0).unwrap(), r.try_get_by_index::<i64>(1).unwrap())).collect::<Vec<_>>()
        }
    };
    let mut expected = vec![(3600, scanner_key(&neg)), (3600, scanner_key(&low)), (7200, scanner_key(&twin)), (7200, scanner_key(&real))];
    expected.sort();
    assert!(scanner_key(&neg) < 0 && scanner_key(&low) > 0);

    Migrator::up(&t.db, None).await.unwrap();
    assert_eq!(rows(&t).await, expected, "each hash became its key; the twins of hour 3600 are one row");
    if backend == Backend::Sqlite {
        assert!(clustered(&t).await.contains(&"scanner_hours".to_owned()), "still clustered on its key");
    }
    // The key holds (the ingest's insert relies on it) and the campaign's delete still cascades.
    exec(format!("INSERT INTO scanner_hours (campaign_id, hour, scanner) VALUES (1, 3600, {}) ON CONFLICT DO NOTHING", scanner_key(&neg)))
        .await;
    assert_eq!(rows(&t).await.len(), 4);

    // Back to before the scanner keys (migration 7), whatever came after it.
    Migrator::down(&t.db, Some(Migrator::migrations().len() as u32 - 6)).await.unwrap();
    let sql = Statement::from_string(t.db.get_database_backend(), "SELECT openid_hash FROM scanner_hours ORDER BY openid_hash");
    let hashes: Vec<String> = t.db.query_all_raw(sql).await.unwrap().iter().map(|r| r.try_get_by_index(0).unwrap()).collect();
    // `twin` is left in hour 7200 only, under the digits it shares with `low`.
    let mut want: Vec<String> = [&neg, &low, &twin, &real].iter().map(|h| h[..16].to_owned()).collect();
    want.sort();
    assert_eq!(hashes, want, "down keeps each key's 16 hex digits");
    Migrator::up(&t.db, None).await.unwrap();
    assert_eq!(rows(&t).await, expected, "up again gives the same keys");

    exec("DELETE FROM campaigns WHERE id = 1".to_owned()).await;
    assert_eq!(one_i64(&t, "SELECT COUNT(*) FROM scanner_hours").await, 0, "the campaign's delete cascades");
}

#[tokio::test]
async fn scanner_hashes_become_keys_sqlite() {
    scanner_hashes_become_keys(Backend::Sqlite).await;
}

#[tokio::test]
async fn scanner_hashes_become_keys_postgres() {
    scanner_hashes_become_keys(Backend::Postgres).await;
}

/// The plan of a batch's open-subscription lookup, on a `subscriptions` table of 20 000
/// followers that was never analyzed (a new deployment, a restored backup, a table growing
/// faster than autovacuum looks). The statement has the shape of the ingest store's.
async fn follower_lookup_plan(t: &TestDb) -> String {
    let fill = match t.backend {
        Backend::Postgres => {
            "INSERT INTO subscriptions (account_id, openid_hash, campaign_id, scene, subscribed_at) \
             SELECT 1, lpad(g::text, 64, '0'), 1, '1', '2026-01-01T00:00:00Z' FROM generate_series(1, 20000) AS g"
        }
        Backend::Sqlite => {
            "WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < 20000) \
             INSERT INTO subscriptions (account_id, openid_hash, campaign_id, scene, subscribed_at) \
             SELECT 1, printf('%064d', g), 1, '1', '2026-01-01T00:00:00Z' FROM n"
        }
    };
    t.db.execute_unprepared(fill).await.unwrap();
    let hashes: Vec<String> = (5000..5040).map(|g| format!("'{g:064}'")).collect();
    let query = format!(
        "SELECT openid_hash, id, campaign_id FROM subscriptions WHERE account_id = 1 AND openid_hash IN ({}) \
         AND unsubscribed_at IS NULL ORDER BY id",
        hashes.join(", ")
    );
    let (explain, column) = match t.backend {
        Backend::Postgres => (format!("EXPLAIN {query}"), 0),
        Backend::Sqlite => (format!("EXPLAIN QUERY PLAN {query}"), 3),
    };
    let rows = t.db.query_all_raw(Statement::from_string(t.db.get_database_backend(), explain)).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<String>(column).unwrap()).collect::<Vec<_>>().join("\n")
}

/// Migration 8: the lookup seeks each follower's hash in the index, even with no statistics.
/// Before it (index led by the account), PostgreSQL guessed one open subscription for the
/// account and walked them all, filtering the hashes: a cost that grew with every follower.
async fn follower_lookup_seeks_by_hash(backend: Backend) {
    let t = TestDb::new(backend, false).await;
    Migrator::up(&t.db, None).await.unwrap();
    one_campaign(&t).await;
    let plan = follower_lookup_plan(&t).await;
    let seeks = match backend {
        Backend::Postgres => plan.lines().any(|l| l.contains("Index Cond") && l.contains("openid_hash")),
        Backend::Sqlite => plan.contains("USING INDEX idx_subscriptions_follower_hash (openid_hash=?"),
    };
    assert!(seeks, "the follower lookup seeks by hash:\n{plan}");
    assert!(!plan.contains("Filter: ((openid_hash"), "no hash is filtered after the fact:\n{plan}");
}

#[tokio::test]
async fn follower_lookup_seeks_by_hash_sqlite() {
    follower_lookup_seeks_by_hash(Backend::Sqlite).await;
}

#[tokio::test]
async fn follower_lookup_seeks_by_hash_postgres() {
    follower_lookup_seeks_by_hash(Backend::Postgres).await;
}

/// Migration 11 drops `events.raw_xml` (the raw push repeated the OpenID an erasure removes)
/// and the never-written `follower_profiles`, keeping every event; down brings both back,
/// empty (the XML is gone for good), and up again works.
async fn raw_pushes_and_profiles_go(backend: Backend) {
    let t = TestDb::new(backend, false).await;
    let ours = Migrator::migrations().iter().position(|m| m.name() == "m20261206_000011_no_raw_pushes").expect("registered") as u32;
    let after = Migrator::migrations().len() as u32 - ours;
    Migrator::up(&t.db, Some(ours)).await.unwrap();
    one_campaign(&t).await;
    t.db.execute_unprepared(
        "INSERT INTO events (account_id, openid_hash, openid, create_time, msg_type, event, event_key, kind, raw_xml, received_at) \
         VALUES (1, 'h1', NULL, 7, 'event', 'unsubscribe', '', 'unsubscribe', '<xml><FromUserName>oGone</FromUserName></xml>', '2026-01-01T00:00:00Z')",
    )
    .await
    .unwrap();
    t.db.execute_unprepared(
        "INSERT INTO follower_profiles (account_id, openid_hash, openid, info_json, fetched_at) VALUES (1, 'h1', 'oGone', '{}', '2026-01-01T00:00:00Z')",
    )
    .await
    .unwrap();
    let fails = |sql: &'static str| {
        let db = t.db.clone();
        async move { db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.is_err() }
    };

    Migrator::up(&t.db, None).await.unwrap();
    assert!(fails("SELECT raw_xml FROM events").await, "the column is gone");
    assert!(fails("SELECT * FROM follower_profiles").await, "the table is gone");
    assert_eq!(one_i64(&t, "SELECT COUNT(*) FROM events WHERE openid_hash = 'h1' AND kind = 'unsubscribe'").await, 1, "the event stays");

    Migrator::down(&t.db, Some(after)).await.unwrap();
    assert_eq!(one_i64(&t, "SELECT COUNT(*) FROM events WHERE raw_xml = ''").await, 1, "the column is back, empty");
    assert_eq!(one_i64(&t, "SELECT COUNT(*) FROM follower_profiles").await, 0, "the table is back, empty");
    t.db.execute_unprepared(
        "INSERT INTO follower_profiles (account_id, openid_hash, openid, info_json, fetched_at) VALUES (1, 'h2', 'o2', '{}', '2026-01-01T00:00:00Z')",
    )
    .await
    .unwrap();
    Migrator::up(&t.db, None).await.unwrap();
    assert!(fails("SELECT * FROM follower_profiles").await);
    assert_eq!(one_i64(&t, "SELECT COUNT(*) FROM events").await, 1);
}

#[tokio::test]
async fn raw_pushes_and_profiles_go_sqlite() {
    raw_pushes_and_profiles_go(Backend::Sqlite).await;
}

#[tokio::test]
async fn raw_pushes_and_profiles_go_postgres() {
    raw_pushes_and_profiles_go(Backend::Postgres).await;
}

/// The issued-scenes migration (10) records every scene that had a ticket: permanent campaigns
/// (with or without a stored code, archived too), temporary campaigns with codes and the latest
/// expiry among them; not a temporary campaign without a code. Down drops the table.
async fn issued_scenes_are_backfilled(backend: Backend) {
    let t = TestDb::new(backend, false).await;
    Migrator::up(&t.db, Some(8)).await.unwrap();
    one_campaign(&t).await;
    let exec = |sql: String| {
        let db = t.db.clone();
        async move { db.execute_unprepared(&sql).await.unwrap() }
    };
    let at = "'2026-01-01T00:00:00Z'";
    for (id, kind, scene, archived) in
        [(2, "permanent", "p", "NULL"), (3, "temporary", "5", "NULL"), (4, "temporary", "6", "NULL"), (5, "permanent", "7", at)]
    {
        exec(format!(
            "INSERT INTO campaigns (id, account_id, name, kind, scene, auto_renew, archived_at, created_at, updated_at) \
             VALUES ({id}, 1, 'C{id}', '{kind}', '{scene}', false, {archived}, {at}, {at})"
        ))
        .await;
    }
    for (campaign, ticket, expires) in [(2, "tp", "NULL"), (3, "t5a", "'2026-01-09T00:00:00Z'"), (3, "t5b", "'2026-01-05T00:00:00Z'")] {
        exec(format!(
            "INSERT INTO qr_codes (campaign_id, ticket, url, expires_at, created_at) VALUES ({campaign}, '{ticket}', 'u', {expires}, {at})"
        ))
        .await;
    }
    Migrator::up(&t.db, None).await.unwrap();
    let sql = "SELECT scene, permanent, expires_at FROM issued_scenes WHERE account_id = 1 ORDER BY scene";
    let rows = t.db.query_all_raw(Statement::from_string(t.db.get_database_backend(), sql)).await.unwrap();
    let rows: Vec<(String, bool, Option<chrono::DateTime<chrono::Utc>>)> =
        rows.iter().map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap(), r.try_get_by_index(2).unwrap())).collect();
    let jan9 = chrono::DateTime::parse_from_rfc3339("2026-01-09T00:00:00Z").unwrap().to_utc();
    assert_eq!(rows, [("1".into(), true, None), ("5".into(), false, Some(jan9)), ("7".into(), true, None), ("p".into(), true, None)]);
    let account = service::accounts::get(&t.db, 1).await.unwrap();
    assert_eq!(account.permanent_codes, 3, "the quota counts what it counted before");

    Migrator::down(&t.db, Some(Migrator::migrations().len() as u32 - 8)).await.unwrap();
    let sql = Statement::from_string(t.db.get_database_backend(), "SELECT COUNT(*) FROM issued_scenes");
    assert!(t.db.query_all_raw(sql).await.is_err(), "down drops the table");
    assert_eq!(one_i64(&t, "SELECT COUNT(*) FROM campaigns").await, 5, "and keeps the campaigns");
    Migrator::up(&t.db, None).await.unwrap();
    assert_eq!(one_i64(&t, "SELECT COUNT(*) FROM issued_scenes").await, 4);
}

#[tokio::test]
async fn issued_scenes_are_backfilled_sqlite() {
    issued_scenes_are_backfilled(Backend::Sqlite).await;
}

#[tokio::test]
async fn issued_scenes_are_backfilled_postgres() {
    issued_scenes_are_backfilled(Backend::Postgres).await;
}
