//! Background work on SQLite and PostgreSQL: temporary codes with auto-renew get a fresh
//! ticket before they expire, through the job queue, exactly once per code (weeks of it run on
//! a manual clock), and tag jobs tag followers in WeChat.

mod support;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use service::campaigns::{CampaignInput, CampaignView};
use service::entity::qr_code;
use service::jobs::JobHandler;
use service::testing::TestDb;
use service::{AppState, Clock, dual_test};
use std::sync::Arc;
use support::{Running, sandbox_account, start};

/// The app state of `r` on a manual clock that starts at the current second (whole seconds:
/// PostgreSQL keeps microseconds, so stored times compare exactly).
fn on_manual_clock(r: &Running) -> (AppState, Clock) {
    let clock = Clock::manual(Utc::now().trunc_subsecs(0));
    (AppState { clock: clock.clone(), ..r.state.clone() }, clock)
}

fn temporary(account: i32, name: &str, days: i32, auto_renew: bool) -> CampaignInput {
    CampaignInput {
        account_id: account,
        name: name.into(),
        kind: "temporary".into(),
        expire_days: Some(days),
        auto_renew,
        ..Default::default()
    }
}

/// The campaign's codes, oldest first.
async fn codes(st: &AppState, campaign: &CampaignView) -> Vec<qr_code::Model> {
    qr_code::Entity::find().filter(qr_code::Column::CampaignId.eq(campaign.id)).order_by_asc(qr_code::Column::Id).all(&st.db).await.unwrap()
}

dual_test!(auto_renew_issues_a_fresh_ticket_once, |t: TestDb| async move {
    let r = start(t).await;
    let (sim, account) = sandbox_account(&r).await;
    let app_id = wechat::sim::SimApp::sandbox().app_id;
    let (st, clock) = on_manual_clock(&r);
    let model = service::accounts::model(&st.db, account).await.unwrap();
    let api = service::accounts::api_client(&st, &model).unwrap();
    let renewing = service::campaigns::create(&st, api.as_ref(), temporary(account, "Auto", 7, true), None).await.unwrap();
    let manual = service::campaigns::create(&st, api.as_ref(), temporary(account, "Manual", 7, false), None).await.unwrap();

    // Nothing is due while the codes have more than a day left.
    clock.advance(Duration::days(6) - Duration::seconds(1));
    assert_eq!(server::worker::schedule_renewals(&st).await.unwrap(), 0);
    // A day before they expire, only the auto-renewing one is queued, once.
    clock.advance(Duration::seconds(1));
    assert_eq!(server::worker::schedule_renewals(&st).await.unwrap(), 1);
    assert_eq!(server::worker::schedule_renewals(&st).await.unwrap(), 0, "a second instance queues nothing more");

    let first = codes(&st, &renewing).await.remove(0);
    let job = service::jobs::claim(&st.db, "test-worker", std::time::Duration::from_secs(60)).await.unwrap().expect("a job");
    assert_eq!((job.kind.as_str(), job.dedupe_key.clone()), ("renew_code", Some(format!("renew-code:{}", first.id))));
    server::worker::Handler.run(&st, &job).await.unwrap();
    service::jobs::complete(&st.db, job.id, "test-worker").await.unwrap();
    assert!(service::jobs::claim(&st.db, "test-worker", std::time::Duration::from_secs(60)).await.unwrap().is_none());

    let after = service::campaigns::get(&st.db, renewing.id).await.unwrap();
    let code = after.code.expect("a code");
    assert_ne!(Some(&code.url), renewing.code.as_ref().map(|c| &c.url), "a fresh ticket");
    assert_eq!(code.expires_at, Some(clock.now() + Duration::days(7)), "valid for another week from the renewal");
    let untouched = service::campaigns::get(&st.db, manual.id).await.unwrap();
    assert_eq!(untouched.code.map(|c| c.url), manual.code.as_ref().map(|c| c.url.clone()), "no auto-renew, no new ticket");
    assert_eq!(server::worker::schedule_renewals(&st).await.unwrap(), 0, "the fresh code is not due");

    // The same job runs again (its worker died before completing it): no second ticket.
    server::worker::Handler.run(&st, &job).await.unwrap();
    assert_eq!(codes(&st, &renewing).await.len(), 2);

    // Renewed by hand while its job waits: the job does nothing.
    clock.advance(Duration::days(6));
    assert_eq!(server::worker::schedule_renewals(&st).await.unwrap(), 1);
    let job = service::jobs::claim(&st.db, "test-worker", std::time::Duration::from_secs(60)).await.unwrap().expect("a job");
    service::campaigns::renew(&st, api.as_ref(), renewing.id, None).await.unwrap();
    server::worker::Handler.run(&st, &job).await.unwrap();
    assert_eq!(codes(&st, &renewing).await.len(), 3, "the first two and the one renewed by hand");
    assert_eq!(sim.state.codes(&app_id).len(), 4, "every ticket WeChat issued is stored");
});

/// Runs the scheduler of two instances and the job worker every 10 simulated minutes for
/// `days`; `on_step` runs before each round with the clock's elapsed time.
async fn run_for<F, Fut>(st: &AppState, clock: &Clock, days: i64, mut on_step: F)
where
    F: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let handler: Arc<dyn JobHandler> = Arc::new(server::worker::Handler);
    let worker = service::jobs::Worker::new(std::time::Duration::from_millis(10));
    let start = clock.now();
    let step = Duration::minutes(10);
    while clock.now() - start < Duration::days(days) {
        clock.advance(step);
        on_step(clock.now() - start).await;
        let queued = server::worker::schedule_renewals(st).await.unwrap();
        assert_eq!(server::worker::schedule_renewals(st).await.unwrap(), 0, "the other instance queues nothing more");
        let ran = worker.run_due(st, &handler).await.unwrap();
        assert_eq!(ran, queued, "each queued renewal runs at once, and nothing else does");
    }
}

dual_test!(nine_weeks_of_auto_renew_renew_each_code_once, |t: TestDb| async move {
    let r = start(t).await;
    let (sim, account) = sandbox_account(&r).await;
    let app_id = wechat::sim::SimApp::sandbox().app_id;
    let (st, clock) = on_manual_clock(&r);
    let t0 = clock.now();
    let model = service::accounts::model(&st.db, account).await.unwrap();
    let api = service::accounts::api_client(&st, &model).unwrap();
    let create = |input: CampaignInput| service::campaigns::create(&st, api.as_ref(), input, None);
    let mut renewing = Vec::new();
    for days in [1, 2, 7, 30] {
        renewing.push((days, create(temporary(account, &format!("{days} days"), days, true)).await.unwrap()));
    }
    let manual = create(temporary(account, "Manual", 1, false)).await.unwrap();
    let archived = create(temporary(account, "Archived", 1, true)).await.unwrap();
    let permanent = create(CampaignInput { kind: "permanent".into(), ..temporary(account, "Poster", 1, false) }).await.unwrap();

    let (archive_at, archived_id) = (Duration::days(10), archived.id);
    run_for(&st, &clock, 63, |elapsed| {
        let st = st.clone();
        async move {
            if elapsed == archive_at {
                service::campaigns::archive(&st, archived_id, None).await.unwrap();
            }
        }
    })
    .await;
    let end = clock.now();
    assert_eq!(end, t0 + Duration::days(63));

    // Each code was renewed exactly once, its lead before it expired (a quarter of its life,
    // at most a day); the scheduler's 10-minute rounds fall on those times exactly.
    let (mut stored, mut renewals) = (0, Vec::new());
    for (days, c) in &renewing {
        let life = Duration::days(*days as i64);
        let lead = service::renewal::lead(life);
        let codes = codes(&st, c).await;
        stored += codes.len();
        assert_eq!(codes[0].created_at, t0);
        for pair in codes.windows(2) {
            let (old, new) = (&pair[0], &pair[1]);
            assert_eq!(old.expires_at, Some(old.created_at + life), "{days}-day codes live {days} days");
            assert_eq!(new.created_at, old.expires_at.unwrap() - lead, "{days} days: renewed {lead} before expiry");
        }
        let last = codes.last().unwrap();
        assert!(last.expires_at.unwrap() - lead > end, "{days} days: the current code is not due yet");
        renewals.push(codes.len() - 1);
    }
    // 63 days of one renewal every 18 h, 36 h, 6 days and 29 days.
    assert_eq!(renewals, [84, 42, 10, 2]);

    // Auto-renew off, and permanent: never. Archived on day 10: renewed every 18 h until then.
    assert_eq!(codes(&st, &manual).await.len(), 1);
    assert_eq!(codes(&st, &permanent).await.len(), 1);
    let archived_codes = codes(&st, &archived).await;
    let created: Vec<DateTime<Utc>> = archived_codes.iter().map(|q| q.created_at).collect();
    assert_eq!(created, (0..=13).map(|k| t0 + Duration::hours(18 * k)).collect::<Vec<_>>(), "none after day 10");
    stored += 2 + archived_codes.len();
    assert_eq!(sim.state.codes(&app_id).len(), stored, "every ticket WeChat issued is stored, none wasted");
});

dual_test!(tag_jobs_tag_the_follower_in_wechat, |t: TestDb| async move {
    let r = start(t).await;
    let (sim, account) = sandbox_account(&r).await;
    let app_id = wechat::sim::SimApp::sandbox().app_id;
    let model = service::accounts::model(&r.t.db, account).await.unwrap();
    let api = service::accounts::api_client(&r.state, &model).unwrap();
    let c = service::campaigns::create(
        &r.state,
        api.as_ref(),
        service::campaigns::CampaignInput {
            account_id: account,
            name: "Tagged".into(),
            group: None,
            kind: "permanent".into(),
            scene: None,
            expire_days: None,
            auto_renew: false,
            welcome: None,
            tag_name: Some("海报粉丝".into()),
        },
        None,
    )
    .await
    .unwrap();
    // A follower scans in WeChat (no callback configured: the simulator just records it).
    let ticket = c.code.as_ref().unwrap().ticket.clone();
    let report = sim.state.scan(&ticket, wechat::sim::Scanner::NewFollower).await.unwrap();
    // Enqueue a tag job for `openid` as the callback does, then run it as the worker does.
    let cid = c.id;
    let run_tag_job = |openid: String| {
        let (db, state) = (r.t.db.clone(), r.state.clone());
        async move {
            let payload = serde_json::json!({ "account_id": account, "campaign_id": cid, "openid": openid });
            service::jobs::enqueue(&db, "tag_follower", &payload, chrono::Utc::now(), None).await.unwrap();
            let job = service::jobs::claim(&db, "w", std::time::Duration::from_secs(60)).await.unwrap().unwrap();
            server::worker::Handler.run(&state, &job).await.unwrap();
        }
    };
    run_tag_job(report.openid.clone()).await;

    // The tag was created once, stored on the campaign, and given to the follower.
    let stored = service::entity::campaign::Entity::find_by_id(c.id).one(&r.t.db).await.unwrap().unwrap();
    let tag_id = stored.tag_id.expect("tag id stored") as u64;
    let follower = sim.state.follower(&app_id, &report.openid).unwrap();
    assert!(follower.tags.contains(&tag_id), "{:?}", follower.tags);
    // A second follower reuses the tag (no second tags/create).
    let second = sim.state.scan(&ticket, wechat::sim::Scanner::NewFollower).await.unwrap();
    run_tag_job(second.openid.clone()).await;
    let again = service::entity::campaign::Entity::find_by_id(c.id).one(&r.t.db).await.unwrap().unwrap();
    assert_eq!(again.tag_id, stored.tag_id);
    assert!(sim.state.follower(&app_id, &second.openid).unwrap().tags.contains(&tag_id));

    // Another instance created the tag first (or this one crashed before storing its id): the
    // name is taken in WeChat, so the job finds the tag by name instead of failing.
    let mut active: service::entity::campaign::ActiveModel = again.into();
    active.tag_id = Set(None);
    active.update(&r.t.db).await.unwrap();
    let third = sim.state.scan(&ticket, wechat::sim::Scanner::NewFollower).await.unwrap();
    run_tag_job(third.openid.clone()).await;
    let found = service::entity::campaign::Entity::find_by_id(c.id).one(&r.t.db).await.unwrap().unwrap();
    assert_eq!(found.tag_id, Some(tag_id as i64), "the existing tag, not a new one");
    assert!(sim.state.follower(&app_id, &third.openid).unwrap().tags.contains(&tag_id));
    let health = service::entity::wechat_account::Entity::find_by_id(account).one(&r.t.db).await.unwrap().unwrap();
    assert!(health.api_failed_at.is_none(), "a taken name is not WeChat failing: {:?}", health.api_error);
});

dual_test!(a_fresh_one_day_code_is_not_renewed_again_and_again, |t: TestDb| async move {
    let r = start(t).await;
    let (sim, account) = sandbox_account(&r).await;
    let app_id = wechat::sim::SimApp::sandbox().app_id;
    let model = service::accounts::model(&r.t.db, account).await.unwrap();
    let api = service::accounts::api_client(&r.state, &model).unwrap();
    let input = service::campaigns::CampaignInput {
        account_id: account,
        name: "Day".into(),
        kind: "temporary".into(),
        expire_days: Some(1),
        auto_renew: true,
        ..Default::default()
    };
    service::campaigns::create(&r.state, api.as_ref(), input, None).await.unwrap();
    // Three rounds of the scheduler and the worker, as every 10 minutes in production.
    let handler: std::sync::Arc<dyn JobHandler> = std::sync::Arc::new(server::worker::Handler);
    let worker = service::jobs::Worker::new(std::time::Duration::from_millis(10));
    for _ in 0..3 {
        server::worker::schedule_renewals(&r.state).await.unwrap();
        worker.run_due(&r.state, &handler).await.unwrap();
    }
    assert_eq!(sim.state.codes(&app_id).len(), 1, "a code issued a moment ago lives a day: nothing to renew yet");
});
