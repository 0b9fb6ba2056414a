//! The demo seeder on real SQLite and PostgreSQL: campaigns with codes from the WeChat
//! simulator over HTTP, events stored through the real ingestion path, counters consistent
//! with the stored events, and the same data for the same seed.

use chrono::{TimeZone, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use service::accounts::{self, AccountInput};
use service::campaigns::{self, ListQuery, Sort};
use service::demo::{self, SeedOptions, SeedReport};
use service::entity::{account_hourly, campaign_hourly, event, subscription};
use service::testing::TestDb;
use service::{AppState, dual_test};
use std::collections::{BTreeMap, BTreeSet};
use wechat::sim::{SimApp, SimConfig, SimHandle, spawn};

fn opts() -> SeedOptions {
    SeedOptions {
        days: 7,
        campaigns: 3,
        events_per_day: 40,
        seed: 42,
        // 23:30 in Shanghai: the last day is (almost) complete.
        end: Utc.with_ymd_and_hms(2026, 3, 4, 15, 30, 0).unwrap(),
    }
}

/// The sandbox account, bound to a fresh simulator, as the demo sets it up.
async fn sandbox(st: &AppState) -> (SimHandle, i32) {
    let app = SimApp::sandbox();
    let sim = spawn(SimConfig::with_apps(vec![app.clone()])).await.unwrap();
    let account = accounts::create(
        st,
        AccountInput {
            name: "Sceneboard sandbox".into(),
            app_id: app.app_id.clone(),
            app_secret: Some(app.secret.clone()),
            token: "sandboxtoken".into(),
            aes_key: None,
            message_mode: "plain".into(),
            api_base_url: Some(sim.base_url()),
            timezone: Some("Asia/Shanghai".into()),
        },
        None,
    )
    .await
    .unwrap();
    (sim, account.id)
}

async fn seed(st: &AppState, account: i32, opts: SeedOptions) -> SeedReport {
    let model = accounts::model(&st.db, account).await.unwrap();
    let api = accounts::api_client(st, &model).unwrap();
    demo::seed(st, api.as_ref(), account, opts).await.unwrap()
}

/// Everything a chart could show, by campaign name (ids and hashes differ between databases).
#[derive(Debug, PartialEq, Eq)]
struct Totals {
    events_by_kind: BTreeMap<String, u64>,
    /// name → (scans, new followers, unsubscribes) from the hourly counters.
    campaigns: BTreeMap<String, (i64, i64, i64)>,
    /// (scans, new followers, organic followers, unsubscribes) from the account's counters.
    account: (i64, i64, i64, i64),
    subscriptions: u64,
    open_subscriptions: u64,
}

async fn totals(st: &AppState) -> Totals {
    let db = &st.db;
    let mut events_by_kind = BTreeMap::new();
    for e in event::Entity::find().all(db).await.unwrap() {
        *events_by_kind.entry(e.kind).or_default() += 1;
    }
    let rows = campaigns::list(db, &ListQuery { sort: Sort::Name, per_page: 200, ..Default::default() }).await.unwrap().rows;
    let hourly = campaign_hourly::Entity::find().all(db).await.unwrap();
    let campaigns = rows
        .iter()
        .map(|c| {
            let mine = hourly.iter().filter(|h| h.campaign_id == c.id);
            let sums = mine.fold((0, 0, 0), |(s, n, u), h| (s + h.scans, n + h.new_followers, u + h.unsubscribes));
            (c.name.clone(), sums)
        })
        .collect();
    let account = account_hourly::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .fold((0, 0, 0, 0), |(s, n, o, u), h| (s + h.scans, n + h.new_followers, o + h.organic_followers, u + h.unsubscribes));
    Totals {
        events_by_kind,
        campaigns,
        account,
        subscriptions: subscription::Entity::find().count(db).await.unwrap(),
        open_subscriptions: subscription::Entity::find().filter(subscription::Column::UnsubscribedAt.is_null()).count(db).await.unwrap(),
    }
}

dual_test!(seeds_consistent_deterministic_history, |t: TestDb| async move {
    let st = t.state();
    let (_sim, account) = sandbox(&st).await;
    assert!(!demo::has_campaigns(&st.db, account).await.unwrap());
    let report = seed(&st, account, opts()).await;
    assert!(demo::has_campaigns(&st.db, account).await.unwrap());
    assert_eq!(report.campaigns, 3);

    // Three campaigns in different groups, each with a code the simulator issued.
    let rows = campaigns::list(&st.db, &ListQuery::default()).await.unwrap().rows;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|c| c.code.as_ref().is_some_and(|code| !code.ticket.is_empty())), "{rows:?}");
    let groups: BTreeSet<_> = rows.iter().filter_map(|c| c.group.clone()).collect();
    assert_eq!(groups.len(), 3, "{groups:?}");

    let events = event::Entity::find().all(&st.db).await.unwrap();
    assert_eq!(report.events, events.len() as u64);
    assert!(events.len() > 150, "about 40 a day for 7 days, got {}", events.len());
    assert!(events.iter().all(|e| e.create_time <= opts().end.timestamp()));
    // Every scan resolved to a campaign; the counters add up to the stored events.
    let scans: Vec<_> = events.iter().filter(|e| e.kind == "scan" || e.kind == "subscribe").collect();
    assert!(scans.iter().all(|e| e.campaign_id.is_some() && e.scene.is_some()));
    let tot = totals(&st).await;
    let hourly_scans: i64 = tot.campaigns.values().map(|c| c.0).sum();
    let hourly_new: i64 = tot.campaigns.values().map(|c| c.1).sum();
    assert_eq!(hourly_scans, scans.len() as i64);
    let attributed = subscription::Entity::find().filter(subscription::Column::CampaignId.is_not_null()).count(&st.db).await.unwrap();
    assert_eq!(hourly_new, attributed as i64);
    assert_eq!(hourly_new, tot.events_by_kind["subscribe"] as i64);
    assert!(tot.events_by_kind["scan"] > 0, "followers scan again: {:?}", tot.events_by_kind);
    assert!(tot.events_by_kind["organic"] > 0, "{:?}", tot.events_by_kind);
    let unsubscribes = tot.events_by_kind.get("unsubscribe").copied().unwrap_or(0);
    assert!(unsubscribes > 0, "{:?}", tot.events_by_kind);
    assert_eq!(tot.account.3, unsubscribes as i64);
    assert_eq!(tot.subscriptions - tot.open_subscriptions, unsubscribes);
    assert_eq!(tot.account.2, tot.events_by_kind["organic"] as i64);
    // Spread over the whole week, in the account's time zone.
    let days: BTreeSet<_> = events
        .iter()
        .map(|e| Utc.timestamp_opt(e.create_time, 0).unwrap().with_timezone(&chrono_tz::Asia::Shanghai).date_naive())
        .collect();
    assert_eq!(days.len(), 7, "{days:?}");

    // The same seed into a fresh database (new keys, new simulator) gives the same numbers.
    let t2 = TestDb::new(t.backend, true).await;
    let st2 = t2.state();
    let (_sim2, account2) = sandbox(&st2).await;
    let report2 = seed(&st2, account2, opts()).await;
    assert_eq!(report2, report);
    assert_eq!(totals(&st2).await, tot);
});

dual_test!(restarted_simulator_scans_resolve_again, |t: TestDb| async move {
    let st = t.state();
    let (sim, account) = sandbox(&st).await;
    seed(&st, account, SeedOptions { days: 1, campaigns: 2, events_per_day: 10, ..opts() }).await;
    drop(sim);
    // A new simulator knows none of the codes until the demo issues them again.
    let sim = spawn(SimConfig::with_apps(vec![SimApp::sandbox()])).await.unwrap();
    let view = accounts::get(&st.db, account).await.unwrap();
    accounts::update(
        &st,
        account,
        AccountInput {
            name: view.name,
            app_id: view.app_id.clone(),
            // A new API base needs the AppSecret again.
            app_secret: Some(SimApp::sandbox().secret),
            token: "sandboxtoken".into(),
            aes_key: None,
            message_mode: view.message_mode,
            api_base_url: Some(sim.base_url()),
            timezone: Some(view.timezone),
        },
        None,
    )
    .await
    .unwrap();
    assert!(sim.state.codes(&view.app_id).is_empty());
    let model = accounts::model(&st.db, account).await.unwrap();
    let api = accounts::api_client(&st, &model).unwrap();
    assert_eq!(demo::reissue_in_simulator(&st, api.as_ref(), account).await.unwrap(), 2);
    let scenes: BTreeSet<String> = sim.state.codes(&view.app_id).iter().map(|c| c.scene.to_string()).collect();
    let stored: BTreeSet<String> =
        campaigns::list(&st.db, &ListQuery::default()).await.unwrap().rows.into_iter().map(|c| c.scene).collect();
    assert_eq!(scenes, stored);
    // Nothing was stored by reissuing: still one code per campaign.
    assert_eq!(service::entity::qr_code::Entity::find().count(&st.db).await.unwrap(), 2);
});

dual_test!(admin_is_created_once_with_a_random_password, |t: TestDb| async move {
    let pw = demo::ensure_admin(&t.db).await.unwrap().expect("no users yet: admin is created");
    assert_eq!(pw.chars().count(), 16);
    assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()));
    let user = service::users::authenticate(&t.db, "admin", &pw).await.unwrap();
    assert_eq!(user.role, service::users::Role::Admin);
    assert_eq!(demo::ensure_admin(&t.db).await.unwrap(), None, "a second run leaves users alone");
    assert_ne!(demo::random_password(), demo::random_password());
});
