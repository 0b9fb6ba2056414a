//! Background work on SQLite and PostgreSQL: temporary codes with auto-renew get a fresh
//! ticket before they expire, through the job queue, exactly once.

mod support;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QueryOrder};
use service::dual_test;
use service::entity::qr_code;
use service::jobs::JobHandler;
use service::testing::TestDb;
use support::{sandbox_account, start};

dual_test!(auto_renew_issues_a_fresh_ticket_once, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let model = service::accounts::model(&r.t.db, account).await.unwrap();
    let api = service::accounts::api_client(&r.state, &model).unwrap();
    let input = |name: &str, auto_renew: bool| service::campaigns::CampaignInput {
        account_id: account,
        name: name.into(),
        group: None,
        kind: "temporary".into(),
        scene: None,
        expire_days: Some(7),
        auto_renew,
        welcome: None,
        tag_name: None,
    };
    let renewing = service::campaigns::create(&r.state, api.as_ref(), input("Auto", true), None).await.unwrap();
    let manual = service::campaigns::create(&r.state, api.as_ref(), input("Manual", false), None).await.unwrap();

    // Nothing is due while the codes have a week left.
    assert_eq!(server::worker::schedule_renewals(&r.state).await.unwrap(), 0);

    // Both codes now expire within the hour; only the auto-renewing one is queued, once.
    for c in [&renewing, &manual] {
        let code = qr_code::Entity::find().order_by_desc(qr_code::Column::Id).all(&r.t.db).await.unwrap();
        let current = code.into_iter().find(|q| q.campaign_id == c.id).unwrap();
        let mut active: qr_code::ActiveModel = current.into();
        active.expires_at = Set(Some(chrono::Utc::now() + chrono::Duration::minutes(30)));
        active.update(&r.t.db).await.unwrap();
    }
    assert_eq!(server::worker::schedule_renewals(&r.state).await.unwrap(), 1);
    assert_eq!(server::worker::schedule_renewals(&r.state).await.unwrap(), 0, "a second instance queues nothing more");

    let job = service::jobs::claim(&r.t.db, "test-worker", std::time::Duration::from_secs(60)).await.unwrap().expect("a job");
    assert_eq!(job.kind, "renew_code");
    server::worker::Handler.run(&r.state, &job).await.unwrap();
    service::jobs::complete(&r.t.db, job.id, "test-worker").await.unwrap();
    assert!(service::jobs::claim(&r.t.db, "test-worker", std::time::Duration::from_secs(60)).await.unwrap().is_none());

    let after = service::campaigns::get(&r.t.db, renewing.id).await.unwrap();
    let code = after.code.expect("a code");
    assert_ne!(Some(code.url.clone()), renewing.code.map(|c| c.url), "a fresh ticket");
    assert!(code.expires_at.unwrap() > chrono::Utc::now() + chrono::Duration::days(6), "valid for another week");
    let untouched = service::campaigns::get(&r.t.db, manual.id).await.unwrap();
    assert_eq!(untouched.code.map(|c| c.url), manual.code.map(|c| c.url), "no auto-renew, no new ticket");
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
