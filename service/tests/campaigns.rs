//! Campaigns on real SQLite and PostgreSQL, issuing codes through the real WeChat client
//! against the simulator over HTTP on 127.0.0.1.

use chrono::{Duration, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, Set, Statement};
use secrecy::SecretString;
use service::campaigns::{self, CampaignEdit, CampaignInput, CampaignView, ImportFailed, ListQuery, Sort, Status, Welcome};
use service::entity::{audit_log, campaign, campaign_hourly, event, qr_code, wechat_account};
use service::renewal::{self, Due};
use service::testing::TestDb;
use service::{AppState, Clock, ServiceError, dual_test};
use std::sync::Arc;
use wechat::sim::{SimApp, SimConfig, SimHandle, spawn};
use wechat::{AccountConfig, MemoryTokenStore, WechatClient};

struct Env {
    st: AppState,
    sim: SimHandle,
    api: WechatClient,
    account: i32,
    app_id: String,
}

fn client(app_id: &str, secret: &str, base: &str) -> WechatClient {
    let cfg = AccountConfig::new(app_id, SecretString::from(secret.to_owned())).with_api_base(base);
    WechatClient::new(cfg, Arc::new(MemoryTokenStore::new())).expect("client")
}

async fn insert_account(db: &sea_orm::DatabaseConnection, name: &str, app_id: &str, base: &str) -> i32 {
    wechat_account::ActiveModel { name: Set(name.into()), api_base_url: Set(base.into()), ..service::testing::account_row(app_id) }
        .insert(db)
        .await
        .unwrap()
        .id
}

/// The sandbox account in a fresh simulator; `secret` is what our client sends.
async fn env_with(t: &TestDb, config: SimConfig, secret: Option<&str>) -> Env {
    let app = config.apps[0].clone();
    let sim = spawn(config).await.unwrap();
    let st = t.state();
    let account = insert_account(&st.db, "Sandbox", &app.app_id, &sim.base_url()).await;
    let api = client(&app.app_id, secret.unwrap_or(&app.secret), &sim.base_url());
    Env { st, sim, api, account, app_id: app.app_id }
}

async fn env(t: &TestDb) -> Env {
    env_with(t, SimConfig::with_apps(vec![SimApp::sandbox()]), None).await
}

fn perm(account: i32, name: &str, scene: Option<&str>) -> CampaignInput {
    CampaignInput { account_id: account, name: name.into(), kind: "permanent".into(), scene: scene.map(Into::into), ..Default::default() }
}

fn temp(account: i32, name: &str, days: i32) -> CampaignInput {
    CampaignInput { account_id: account, name: name.into(), kind: "temporary".into(), expire_days: Some(days), ..Default::default() }
}

async fn stored(db: &sea_orm::DatabaseConnection) -> (u64, u64) {
    (campaign::Entity::find().count(db).await.unwrap(), qr_code::Entity::find().count(db).await.unwrap())
}

async fn audits(db: &sea_orm::DatabaseConnection, action: &str) -> Vec<audit_log::Model> {
    audit_log::Entity::find().filter(audit_log::Column::Action.eq(action)).all(db).await.unwrap()
}

async fn set_expiry(db: &sea_orm::DatabaseConnection, campaign_id: i32, at: chrono::DateTime<Utc>) {
    qr_code::Entity::update_many()
        .col_expr(qr_code::Column::ExpiresAt, Expr::value(Some(at)))
        .filter(qr_code::Column::CampaignId.eq(campaign_id))
        .exec(db)
        .await
        .unwrap();
}

async fn add_hourly(db: &sea_orm::DatabaseConnection, campaign_id: i32, hour: i64, scans: i64, new_followers: i64, unsubscribes: i64) {
    campaign_hourly::ActiveModel {
        campaign_id: Set(campaign_id),
        hour: Set(hour),
        scans: Set(scans),
        new_followers: Set(new_followers),
        unsubscribes: Set(unsubscribes),
    }
    .insert(db)
    .await
    .unwrap();
}

fn field_of(e: &ServiceError) -> (&'static str, &'static str, String) {
    match e {
        ServiceError::Validation { field, message } => ("validation", field, message.to_string()),
        ServiceError::Conflict { field, message } => ("conflict", field, message.to_string()),
        other => panic!("expected a field error, got {other:?}"),
    }
}

/// Line and English text of each row problem.
fn row_texts(rows: &[campaigns::RowError]) -> Vec<(u64, String)> {
    rows.iter().map(|r| (r.line, r.message.to_string())).collect()
}

fn names(rows: &[CampaignView]) -> Vec<&str> {
    rows.iter().map(|c| c.name.as_str()).collect()
}

dual_test!(create_assigns_and_keeps_scenes, |t: TestDb| async move {
    let e = env(&t).await;
    let user = service::users::create(&e.st.db, "alice", "longenough", service::users::Role::Staff, None).await.unwrap();
    let mk = |name: &str, scene: Option<&str>| campaigns::create(&e.st, &e.api, perm(e.account, name, scene), Some(user.id));
    let a = mk("A", None).await.unwrap();
    let b = mk("B", None).await.unwrap();
    assert_eq!((a.scene.as_str(), b.scene.as_str()), ("1", "2"), "automatic scenes start at 1 and count up");
    assert_eq!(mk("C", Some("12")).await.unwrap().scene, "12");
    assert_eq!(mk("D", Some("spring-poster")).await.unwrap().scene, "spring-poster");
    assert_eq!(mk("E", Some(" 5 ")).await.unwrap().scene, "5", "typed scenes are trimmed");
    assert_eq!(mk("F", Some("007")).await.unwrap().scene, "007", "a non-canonical number stays the string it was");
    // Used numbers: 1, 2, 5, 12 → the gaps are filled smallest first.
    let next: Vec<String> = [mk("G", None).await, mk("H", None).await, mk("I", None).await].into_iter().map(|r| r.unwrap().scene).collect();
    assert_eq!(next, ["3", "4", "6"]);

    // What WeChat was asked for, and what was stored.
    let codes = e.sim.state.codes(&e.app_id);
    assert_eq!(codes.len(), 9);
    let code_of = |scene: &str| codes.iter().find(|c| c.scene.to_string() == scene).unwrap().clone();
    assert_eq!(code_of("12").action_name, "QR_LIMIT_SCENE");
    assert_eq!(code_of("spring-poster").action_name, "QR_LIMIT_STR_SCENE");
    assert_eq!(code_of("007").action_name, "QR_LIMIT_STR_SCENE");
    let a = campaigns::get(&e.st.db, a.id).await.unwrap();
    let code = a.code.clone().expect("the campaign has its code");
    assert_eq!(code.ticket, code_of("1").ticket);
    assert_eq!(code.url, code_of("1").url);
    assert_eq!(code.expires_at, None);
    assert_eq!(a.status, Status::Active);
    assert_eq!((a.kind.as_str(), a.account_name.as_str(), a.app_id.as_str()), ("permanent", "Sandbox", e.app_id.as_str()));
    assert!(!a.has_logo);
    let created = audits(&e.st.db, "campaign.create").await;
    assert_eq!(created.len(), 9, "one audit row per campaign");
    assert!(created.iter().all(|r| r.user_id == Some(user.id)));
    let m = campaign::Entity::find_by_id(a.id).one(&e.st.db).await.unwrap().unwrap();
    assert_eq!((m.created_by, m.scene.as_str(), m.kind.as_str()), (Some(user.id), "1", "permanent"));
});

dual_test!(duplicate_scene_names_the_campaign_that_has_it, |t: TestDb| async move {
    let e = env(&t).await;
    campaigns::create(&e.st, &e.api, perm(e.account, "Spring poster", Some("12")), None).await.unwrap();
    let err = campaigns::create(&e.st, &e.api, perm(e.account, "Other", Some("12")), None).await.unwrap_err();
    assert_eq!(field_of(&err), ("conflict", "scene", "scene 12 is already used by campaign \"Spring poster\"".into()));
    // A string scene clashes the same way, and an archived holder still holds its scene.
    let held = campaigns::create(&e.st, &e.api, perm(e.account, "Shop", Some("shop")), None).await.unwrap();
    campaigns::archive(&e.st, held.id, None).await.unwrap();
    let err = campaigns::create(&e.st, &e.api, temp(e.account, "Shop 2", 3).clone_with_scene("shop"), None).await.unwrap_err();
    assert_eq!(field_of(&err), ("conflict", "scene", "scene shop is already used by campaign \"Shop\" (archived)".into()));
    assert_eq!(e.sim.state.codes(&e.app_id).len(), 2, "no code is issued for a refused campaign");
    assert_eq!(stored(&e.st.db).await, (2, 2));

    // Two requests racing for one scene: one wins, the other gets the same Conflict.
    let (x, y) = tokio::join!(
        campaigns::create(&e.st, &e.api, perm(e.account, "Racer one", Some("race")), None),
        campaigns::create(&e.st, &e.api, perm(e.account, "Racer two", Some("race")), None),
    );
    let (winner, loser) = match (x, y) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        other => panic!("exactly one racer must win: {other:?}"),
    };
    assert_eq!(field_of(&loser), ("conflict", "scene", format!("scene race is already used by campaign \"{}\"", winner.name)));
    assert_eq!(stored(&e.st.db).await, (3, 3));
});

trait WithScene {
    fn clone_with_scene(&self, scene: &str) -> Self;
}

impl WithScene for CampaignInput {
    fn clone_with_scene(&self, scene: &str) -> Self {
        CampaignInput { scene: Some(scene.into()), ..self.clone() }
    }
}

dual_test!(every_field_is_validated_and_nothing_is_stored, |t: TestDb| async move {
    let e = env(&t).await;
    let base = perm(e.account, "Taken", None);
    campaigns::create(&e.st, &e.api, base.clone(), None).await.unwrap();
    let issued = e.sim.state.codes(&e.app_id).len();
    let text = |s: &str| Some(Welcome::Text { content: s.into() });
    let news =
        |title: &str, url: &str| Some(Welcome::News { title: title.into(), description: "d".into(), url: url.into(), pic_url: None });
    let cases: Vec<(CampaignInput, &str, &str, &str)> = vec![
        (CampaignInput { name: "   ".into(), ..base.clone() }, "validation", "name", "enter a name"),
        (CampaignInput { name: "x".repeat(65), ..base.clone() }, "validation", "name", "65 characters"),
        (CampaignInput { name: " Taken ".into(), ..base.clone() }, "conflict", "name", "already called \"Taken\""),
        (CampaignInput { name: "g".into(), group: Some("g".repeat(33)), ..base.clone() }, "validation", "group", "at most 32"),
        (CampaignInput { name: "k".into(), kind: "forever".into(), ..base.clone() }, "validation", "kind", "permanent or temporary"),
        (CampaignInput { name: "s".into(), scene: Some("s".repeat(65)), ..base.clone() }, "validation", "scene", "1 to 64 characters"),
        (CampaignInput { name: "s".into(), scene: Some("a\u{7}b".into()), ..base.clone() }, "validation", "scene", "control character"),
        (CampaignInput { expire_days: None, ..temp(e.account, "t", 1) }, "validation", "expire_days", "how many days"),
        (temp(e.account, "t", 0), "validation", "expire_days", "1 to 30 days"),
        (temp(e.account, "t", 31), "validation", "expire_days", "1 to 30 days"),
        (CampaignInput { name: "w".into(), welcome: text("  "), ..base.clone() }, "validation", "welcome", "enter the text"),
        (CampaignInput { name: "w".into(), welcome: text(&"字".repeat(601)), ..base.clone() }, "validation", "welcome", "601"),
        (CampaignInput { name: "w".into(), welcome: news("", "https://example.com"), ..base.clone() }, "validation", "welcome", "title"),
        (
            CampaignInput { name: "w".into(), welcome: news(&"t".repeat(65), "https://example.com"), ..base.clone() },
            "validation",
            "welcome",
            "title",
        ),
        (CampaignInput { name: "w".into(), welcome: news("Hi", "ftp://example.com/x"), ..base.clone() }, "validation", "welcome", "http"),
        (CampaignInput { name: "w".into(), welcome: news("Hi", "example.com"), ..base.clone() }, "validation", "welcome", "http"),
        (CampaignInput { name: "tag".into(), tag_name: Some("t".repeat(31)), ..base.clone() }, "validation", "tag_name", "at most 30"),
        (CampaignInput { name: "acc".into(), account_id: e.account + 1000, ..base.clone() }, "validation", "account_id", "account"),
    ];
    for (input, variant, field, words) in cases {
        let err = campaigns::create(&e.st, &e.api, input.clone(), None).await.expect_err(&format!("{input:?} must be refused"));
        let (v, f, m) = field_of(&err);
        assert_eq!((v, f), (variant, field), "{input:?}: {m}");
        assert!(m.contains(words), "{field}: {m:?} should say {words:?}");
    }
    assert_eq!(stored(&e.st.db).await, (1, 1), "nothing stored for refused input");
    assert_eq!(e.sim.state.codes(&e.app_id).len(), issued, "nothing issued for refused input");

    // Accepted edge values, normalised: blank group/tag → none, days ignored on a permanent
    // code, the welcome trimmed.
    let ok = campaigns::create(
        &e.st,
        &e.api,
        CampaignInput {
            name: "  Edge  ".into(),
            group: Some("  ".into()),
            tag_name: Some(" ".into()),
            expire_days: Some(99),
            auto_renew: true,
            welcome: text(&format!(" {} ", "字".repeat(600))),
            ..base.clone()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!((ok.name.as_str(), ok.group.clone(), ok.tag_name.clone()), ("Edge", None, None));
    assert_eq!((ok.expire_days, ok.auto_renew), (None, false), "permanent codes have no expiry and no renewal");
    assert_eq!(ok.welcome, text(&"字".repeat(600)));
});

dual_test!(temporary_code_expiry_is_stored, |t: TestDb| async move {
    let e = env(&t).await;
    let before = Utc::now();
    let c = campaigns::create(&e.st, &e.api, CampaignInput { auto_renew: true, ..temp(e.account, "Week", 7) }, None).await.unwrap();
    let expires = c.code.as_ref().unwrap().expires_at.expect("temporary codes expire");
    let want = before + Duration::days(7);
    assert!((expires - want).num_seconds().abs() < 60, "expires {expires}, want about {want}");
    assert_eq!((c.kind.as_str(), c.expire_days, c.auto_renew, c.status), ("temporary", Some(7), true, Status::Active));
    let code = e.sim.state.codes(&e.app_id).pop().unwrap();
    assert_eq!(code.action_name, "QR_SCENE");
    assert_eq!(code.expires_at.unwrap() - code.created_at, 7 * 86_400);

    // 30 days is WeChat's longest life and is accepted.
    let c = campaigns::create(&e.st, &e.api, temp(e.account, "Month", 30), None).await.unwrap();
    assert_eq!(c.expire_days, Some(30));
    assert_eq!(c.status, Status::Active);
});

dual_test!(wechat_failure_stores_nothing, |t: TestDb| async move {
    // The simulator refuses our AppSecret.
    let e = env_with(&t, SimConfig::with_apps(vec![SimApp::sandbox()]), Some("not-the-secret")).await;
    let err = campaigns::create(&e.st, &e.api, perm(e.account, "A", None), None).await.unwrap_err();
    let (v, f, m) = field_of(&err);
    assert_eq!((v, f), ("validation", "wechat"));
    assert!(m.contains("AppSecret is wrong"), "{m}");
    assert!(!m.contains("not-the-secret"), "the secret is never shown");

    // WeChat cannot be reached at all (a closed port).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed = client(&e.app_id, "whatever", &format!("http://127.0.0.1:{port}"));
    let err = campaigns::create(&e.st, &closed, temp(e.account, "B", 3), None).await.unwrap_err();
    let (v, f, m) = field_of(&err);
    assert_eq!((v, f), ("validation", "wechat"));
    assert!(m.contains("could not reach WeChat"), "{m}");

    // WeChat's own permanent quota (the simulator allows none here).
    let e2 =
        env_with(&t, SimConfig { permanent_quota: 0, ..SimConfig::with_apps(vec![SimApp::new("wx00000000000000aa", "s")]) }, None).await;
    let err = campaigns::create(&e2.st, &e2.api, perm(e2.account, "C", None), None).await.unwrap_err();
    let (_, f, m) = field_of(&err);
    assert_eq!(f, "wechat");
    assert!(m.contains("45029"), "{m}");

    assert_eq!(stored(&e.st.db).await, (0, 0));
    assert!(audits(&e.st.db, "campaign.create").await.is_empty());
});

dual_test!(list_filters_sorts_and_pages, |t: TestDb| async move {
    let e = env(&t).await;
    let db = &e.st.db;
    let create = |input: CampaignInput| campaigns::create(&e.st, &e.api, input, None);
    let a = create(CampaignInput { group: Some("Posters".into()), ..perm(e.account, "Alpha poster", None) }).await.unwrap();
    let b = create(CampaignInput { group: Some("Flyers".into()), ..temp(e.account, "Beta flyer", 10) }).await.unwrap();
    let c = create(CampaignInput { group: Some("Flyers".into()), ..temp(e.account, "Gamma flyer", 10) }).await.unwrap();
    let d = create(temp(e.account, "Delta", 10)).await.unwrap();
    let x = create(CampaignInput { group: Some("Posters".into()), ..perm(e.account, "Echo poster", None) }).await.unwrap();
    campaigns::archive(&e.st, x.id, None).await.unwrap();
    set_expiry(db, c.id, Utc::now() + Duration::days(1)).await;
    set_expiry(db, d.id, Utc::now() - Duration::hours(1)).await;
    add_hourly(db, a.id, 3600, 5, 2, 1).await;
    add_hourly(db, a.id, 7200, 2, 1, 0).await;
    add_hourly(db, b.id, 3600, 10, 0, 0).await;
    campaign::Entity::update_many()
        .col_expr(campaign::Column::Logo, Expr::value(Some(vec![1u8, 2, 3])))
        .filter(campaign::Column::Id.eq(a.id))
        .exec(db)
        .await
        .unwrap();

    // Every listing is also counted on its own: `count` (the dashboard's badges) must agree
    // with the page's total for the same filters.
    let run = |q: ListQuery| async move {
        let page = campaigns::list(db, &q).await.unwrap();
        assert_eq!(campaigns::count(db, &q).await.unwrap(), page.total, "count agrees with list for {q:?}");
        page
    };
    let by_name = |status: Option<&str>| ListQuery { status: status.map(Into::into), sort: Sort::Name, desc: false, ..Default::default() };

    let all = run(by_name(None)).await;
    assert_eq!(names(&all.rows), ["Alpha poster", "Beta flyer", "Delta", "Gamma flyer"], "archived hidden by default");
    assert_eq!(all.total, 4);
    let alpha = &all.rows[0];
    assert_eq!((alpha.scans, alpha.new_followers, alpha.unsubscribes), (7, 3, 1), "totals sum the hourly rows");
    assert!(alpha.has_logo);
    assert!(!all.rows[1].has_logo);
    let status_of = |n: &str| all.rows.iter().find(|r| r.name == n).unwrap().status;
    assert_eq!(
        [status_of("Alpha poster"), status_of("Beta flyer"), status_of("Gamma flyer"), status_of("Delta")],
        [Status::Active, Status::Active, Status::ExpiringSoon, Status::Expired]
    );

    assert_eq!(names(&run(by_name(Some("archived"))).await.rows), ["Echo poster"]);
    assert_eq!(run(by_name(Some("archived"))).await.rows[0].status, Status::Archived);
    assert_eq!(names(&run(by_name(Some("expiring"))).await.rows), ["Gamma flyer"]);
    assert_eq!(names(&run(by_name(Some("expired"))).await.rows), ["Delta"]);
    assert_eq!(names(&run(by_name(Some("active"))).await.rows), ["Alpha poster", "Beta flyer"]);
    assert_eq!(run(by_name(Some("all"))).await.total, 5);
    assert!(run(by_name(Some("no_code"))).await.rows.is_empty());
    let bad = campaigns::list(db, &ListQuery { status: Some("sleeping".into()), ..Default::default() }).await.unwrap_err();
    assert_eq!(field_of(&bad).1, "status");

    // Text search: name contains (any case), or the scene exactly.
    assert_eq!(names(&run(ListQuery { q: Some("POSTER".into()), ..by_name(None) }).await.rows), ["Alpha poster"]);
    assert_eq!(names(&run(ListQuery { q: Some("flyer".into()), ..by_name(None) }).await.rows), ["Beta flyer", "Gamma flyer"]);
    assert_eq!(names(&run(ListQuery { q: Some(b.scene.clone()), ..by_name(None) }).await.rows), ["Beta flyer"]);
    assert!(run(ListQuery { q: Some("%".into()), ..by_name(None) }).await.rows.is_empty(), "% is matched literally");
    // Group, also combined with the archived status.
    assert_eq!(names(&run(ListQuery { group: Some("Posters".into()), ..by_name(None) }).await.rows), ["Alpha poster"]);
    assert_eq!(names(&run(ListQuery { group: Some("Posters".into()), ..by_name(Some("archived")) }).await.rows), ["Echo poster"]);
    assert_eq!(names(&run(ListQuery { account_id: Some(e.account + 1), ..by_name(None) }).await.rows), Vec::<&str>::new());
    assert_eq!(campaigns::groups(db).await.unwrap(), ["Flyers", "Posters"]);

    // Sorts: most scans first (ties: newest first), newest first.
    let scans = run(ListQuery { sort: Sort::Scans, desc: true, ..Default::default() }).await;
    assert_eq!(names(&scans.rows), ["Beta flyer", "Alpha poster", "Delta", "Gamma flyer"]);
    let newest = run(ListQuery::default()).await;
    assert_eq!(names(&newest.rows), ["Delta", "Gamma flyer", "Beta flyer", "Alpha poster"]);
    let name_desc = run(ListQuery { sort: Sort::Name, desc: true, ..Default::default() }).await;
    assert_eq!(names(&name_desc.rows), ["Gamma flyer", "Delta", "Beta flyer", "Alpha poster"]);

    // Paging: the total counts every match; the last page holds the rest.
    let p2 = run(ListQuery { page: 2, per_page: 3, ..by_name(None) }).await;
    assert_eq!((names(&p2.rows), p2.total, p2.page, p2.per_page), (vec!["Gamma flyer"], 4, 2, 3));
    let p2 = run(ListQuery { page: 2, per_page: 1, ..by_name(Some("active")) }).await;
    assert_eq!((names(&p2.rows), p2.total), (vec!["Beta flyer"], 2), "status filters page correctly");
    assert!(run(ListQuery { page: 9, per_page: 3, ..by_name(None) }).await.rows.is_empty());
    assert_eq!(run(ListQuery { per_page: 10_000, ..by_name(None) }).await.per_page, 200);
});

dual_test!(update_changes_only_editable_fields, |t: TestDb| async move {
    let e = env(&t).await;
    let db = &e.st.db;
    let c = campaigns::create(&e.st, &e.api, temp(e.account, "Flyer", 7), None).await.unwrap();
    campaigns::create(&e.st, &e.api, perm(e.account, "Poster", None), None).await.unwrap();
    campaign::Entity::update_many()
        .col_expr(campaign::Column::TagId, Expr::value(Some(77i64)))
        .filter(campaign::Column::Id.eq(c.id))
        .exec(db)
        .await
        .unwrap();
    let edit = CampaignEdit {
        name: " Flyer v2 ".into(),
        group: Some("Flyers".into()),
        expire_days: Some(14),
        auto_renew: true,
        welcome: Some(Welcome::News { title: "Hello".into(), description: "".into(), url: "https://example.com/a".into(), pic_url: None }),
        tag_name: Some("flyer".into()),
    };
    let v = campaigns::update(&e.st, c.id, edit.clone(), None).await.unwrap();
    assert_eq!((v.name.as_str(), v.group.as_deref(), v.expire_days, v.auto_renew), ("Flyer v2", Some("Flyers"), Some(14), true));
    assert_eq!((v.kind.as_str(), v.scene.as_str()), ("temporary", c.scene.as_str()), "kind and scene never change");
    assert_eq!(v.code, c.code, "the current code keeps its own expiry");
    let m = campaign::Entity::find_by_id(c.id).one(db).await.unwrap().unwrap();
    assert_eq!(m.tag_id, None, "a new tag name forgets the old tag's id");
    let rows = audits(db, "campaign.update").await;
    assert_eq!(rows.len(), 1);
    let detail: serde_json::Value = serde_json::from_str(&rows[0].detail).unwrap();
    assert_eq!(detail["changed"], serde_json::json!(["name", "group", "expire_days", "auto_renew", "welcome", "tag_name"]));

    // Same values again: nothing to record.
    campaigns::update(&e.st, c.id, edit.clone(), None).await.unwrap();
    assert_eq!(audits(db, "campaign.update").await.len(), 1);

    // Same validation as create.
    let err = campaigns::update(&e.st, c.id, CampaignEdit { name: "Poster".into(), ..edit.clone() }, None).await.unwrap_err();
    assert_eq!(field_of(&err).0, "conflict");
    let err = campaigns::update(&e.st, c.id, CampaignEdit { expire_days: Some(31), ..edit.clone() }, None).await.unwrap_err();
    assert_eq!(field_of(&err).1, "expire_days");
    let err = campaigns::update(&e.st, c.id, CampaignEdit { expire_days: None, ..edit.clone() }, None).await.unwrap_err();
    assert_eq!(field_of(&err).1, "expire_days");
    assert!(matches!(campaigns::update(&e.st, 999_999, edit, None).await, Err(ServiceError::NotFound)));
    assert_eq!(campaigns::get(db, c.id).await.unwrap().name, "Flyer v2", "refused edits change nothing");
});

dual_test!(archive_unarchive_and_delete_rules, |t: TestDb| async move {
    let e = env(&t).await;
    let db = &e.st.db;
    let x = campaigns::create(&e.st, &e.api, perm(e.account, "Spring", None), None).await.unwrap();
    let archived = campaigns::archive(&e.st, x.id, None).await.unwrap();
    assert!(archived.archived_at.is_some());
    assert_eq!(archived.status, Status::Archived);
    campaigns::archive(&e.st, x.id, None).await.unwrap();
    // The name is free again while X is archived...
    let y = campaigns::create(&e.st, &e.api, perm(e.account, "Spring", None), None).await.unwrap();
    // ...so X cannot come back under it.
    let err = campaigns::unarchive(&e.st, x.id, None).await.unwrap_err();
    let (v, f, m) = field_of(&err);
    assert_eq!((v, f), ("conflict", "name"));
    assert!(m.contains("\"Spring\""), "{m}");
    campaigns::archive(&e.st, y.id, None).await.unwrap();
    let back = campaigns::unarchive(&e.st, x.id, None).await.unwrap();
    assert_eq!((back.archived_at, back.status), (None, Status::Active));

    // Delete: refused with counters or events, allowed otherwise.
    let counted = campaigns::create(&e.st, &e.api, perm(e.account, "Counted", None), None).await.unwrap();
    add_hourly(db, counted.id, 3600, 1, 0, 0).await;
    let scanned = campaigns::create(&e.st, &e.api, perm(e.account, "Scanned", None), None).await.unwrap();
    event::ActiveModel {
        account_id: Set(e.account),
        openid_hash: Set("h".into()),
        openid: Set(None),
        create_time: Set(1_700_000_000),
        msg_type: Set("event".into()),
        event: Set("SCAN".into()),
        event_key: Set(scanned.scene.clone()),
        ticket: Set(None),
        scene: Set(Some(scanned.scene.clone())),
        kind: Set("scan".into()),
        campaign_id: Set(Some(scanned.id)),
        received_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    for id in [counted.id, scanned.id] {
        let err = campaigns::delete(&e.st, id, None).await.unwrap_err();
        assert_eq!(
            field_of(&err),
            ("conflict", "campaign", "it has recorded scans; archive it instead so its history stays in the charts".into())
        );
        assert!(campaigns::get(db, id).await.is_ok());
    }
    let clean = campaigns::create(&e.st, &e.api, temp(e.account, "Clean", 3), None).await.unwrap();
    campaigns::delete(&e.st, clean.id, None).await.unwrap();
    assert!(matches!(campaigns::get(db, clean.id).await, Err(ServiceError::NotFound)));
    assert_eq!(qr_code::Entity::find().filter(qr_code::Column::CampaignId.eq(clean.id)).count(db).await.unwrap(), 0);
    assert!(matches!(campaigns::delete(&e.st, clean.id, None).await, Err(ServiceError::NotFound)));

    assert_eq!(audits(db, "campaign.archive").await.len(), 2, "a repeated archive records nothing");
    assert_eq!(audits(db, "campaign.unarchive").await.len(), 1);
    let deleted = audits(db, "campaign.delete").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].target_id, Some(clean.id.to_string()));
});

dual_test!(deleted_campaigns_keep_their_quota_and_scenes, |t: TestDb| async move {
    let e = env(&t).await;
    let db = &e.st.db;
    let used = || async { service::accounts::get(db, e.account).await.unwrap().permanent_codes };
    let create = |input: CampaignInput| campaigns::create(&e.st, &e.api, input, None);
    let a = create(perm(e.account, "A", None)).await.unwrap();
    create(perm(e.account, "B", None)).await.unwrap();
    assert_eq!((a.scene.as_str(), used().await), ("1", 2));

    // A never-scanned permanent campaign is deleted: WeChat keeps its code (and the quota it
    // took), and a printed copy of it still reports scene 1.
    campaigns::delete(&e.st, a.id, None).await.unwrap();
    assert_eq!(used().await, 2, "the quota does not come back");
    assert_eq!(create(perm(e.account, "C", None)).await.unwrap().scene, "3", "scene 1 is never handed out again");
    let taken =
        "scene 1 belonged to a deleted campaign whose permanent code still works (WeChat never takes a code back); choose another scene";
    for input in [perm(e.account, "D", Some("1")), CampaignInput { scene: Some("1".into()), ..temp(e.account, "D", 3) }] {
        assert_eq!(field_of(&create(input).await.unwrap_err()), ("conflict", "scene", taken.into()));
    }
    let plan = campaigns::plan_import(db, e.account, "P,,permanent\nQ,1,temporary,,3\n").await.unwrap();
    assert_eq!(plan.rows.iter().map(|r| r.scene.as_deref().unwrap()).collect::<Vec<_>>(), ["4"]);
    assert_eq!(row_texts(&plan.errors), [(2, taken.to_owned())]);
    assert_eq!(used().await, 3);

    // A deleted temporary campaign's scene comes back once its code has expired, not before.
    let flyer = create(temp(e.account, "Flyer", 3)).await.unwrap();
    assert_eq!(flyer.scene, "4");
    let expires = flyer.code.unwrap().expires_at.unwrap();
    campaigns::delete(&e.st, flyer.id, None).await.unwrap();
    assert_eq!(create(temp(e.account, "E", 3)).await.unwrap().scene, "5", "scene 4 is skipped while its code works");
    let until = format!(
        "scene 4 belonged to a deleted campaign whose code works until {} UTC; choose another scene, or use this one after that",
        expires.format("%Y-%m-%d %H:%M")
    );
    let typed = CampaignInput { scene: Some("4".into()), ..temp(e.account, "F", 3) };
    assert_eq!(field_of(&create(typed.clone()).await.unwrap_err()), ("conflict", "scene", until.clone()));
    let plan = campaigns::plan_import(db, e.account, "F,4,temporary,,3\n").await.unwrap();
    assert_eq!(row_texts(&plan.errors), [(1, until)]);
    let later = AppState { clock: Clock::manual(expires + Duration::seconds(1)), ..e.st.clone() };
    assert_eq!(campaigns::create(&later, &e.api, temp(e.account, "G", 3), None).await.unwrap().scene, "4", "free again");
    assert_eq!(field_of(&create(typed).await.unwrap_err()).1, "scene", "now its own campaign has it");
    assert_eq!(used().await, 3, "temporary codes take no quota");
});

dual_test!(renew_issues_a_new_ticket_and_old_ones_still_resolve, |t: TestDb| async move {
    let e = env(&t).await;
    let db = &e.st.db;
    let c = campaigns::create(&e.st, &e.api, temp(e.account, "Flyer", 5), None).await.unwrap();
    let old = c.code.clone().unwrap();
    set_expiry(db, c.id, Utc::now() - Duration::hours(2)).await;
    assert_eq!(campaigns::get(db, c.id).await.unwrap().status, Status::Expired);

    let before = Utc::now();
    let r = campaigns::renew(&e.st, &e.api, c.id, None).await.unwrap();
    let new = r.code.clone().unwrap();
    assert_ne!(new.ticket, old.ticket);
    assert_eq!(r.status, Status::Active);
    let want = before + Duration::days(5);
    assert!((new.expires_at.unwrap() - want).num_seconds().abs() < 60);
    assert_eq!(qr_code::Entity::find().filter(qr_code::Column::CampaignId.eq(c.id)).count(db).await.unwrap(), 2, "old code kept");
    let last = e.sim.state.codes(&e.app_id).pop().unwrap();
    assert_eq!((last.scene.to_string(), last.ticket), (c.scene.clone(), new.ticket.clone()), "same scene, new ticket");
    assert_eq!(audits(db, "campaign.renew").await.len(), 1);

    // resolve_scene: by scene, else by any ticket of the campaign; never across accounts.
    assert_eq!(campaigns::resolve_scene(db, e.account, &c.scene, None).await.unwrap(), Some(c.id));
    assert_eq!(campaigns::resolve_scene(db, e.account, "no-such-scene", Some(&old.ticket)).await.unwrap(), Some(c.id));
    assert_eq!(campaigns::resolve_scene(db, e.account, "", Some(&new.ticket)).await.unwrap(), Some(c.id));
    assert_eq!(campaigns::resolve_scene(db, e.account, "no-such-scene", Some("no-such-ticket")).await.unwrap(), None);
    assert_eq!(campaigns::resolve_scene(db, e.account, "no-such-scene", None).await.unwrap(), None);
    let other = insert_account(db, "Other", "wx00000000000000bb", &e.sim.base_url()).await;
    assert_eq!(campaigns::resolve_scene(db, other, &c.scene, Some(&old.ticket)).await.unwrap(), None);

    // Only live temporary campaigns renew.
    let p = campaigns::create(&e.st, &e.api, perm(e.account, "Poster", None), None).await.unwrap();
    assert_eq!(field_of(&campaigns::renew(&e.st, &e.api, p.id, None).await.unwrap_err()).1, "kind");
    campaigns::archive(&e.st, c.id, None).await.unwrap();
    let (v, f, _) = field_of(&campaigns::renew(&e.st, &e.api, c.id, None).await.unwrap_err());
    assert_eq!((v, f), ("validation", "campaign"));
    assert_eq!(qr_code::Entity::find().filter(qr_code::Column::CampaignId.eq(c.id)).count(db).await.unwrap(), 2);
    assert!(matches!(campaigns::renew(&e.st, &e.api, 999_999, None).await, Err(ServiceError::NotFound)));
});

dual_test!(due_for_renewal_picks_live_auto_renewing_codes, |t: TestDb| async move {
    let e = env(&t).await;
    let db = &e.st.db;
    let t0 = Utc::now().trunc_subsecs(0);
    let st = AppState { clock: Clock::manual(t0), ..e.st.clone() };
    let create = |input: CampaignInput| campaigns::create(&st, &e.api, input, None);
    let auto = |name: &str, days: i32| CampaignInput { auto_renew: true, ..temp(e.account, name, days) };
    let day = create(auto("Day", 1)).await.unwrap();
    let week = create(auto("Week", 7)).await.unwrap();
    let month = create(auto("Month", 30)).await.unwrap();
    create(temp(e.account, "Manual", 1)).await.unwrap();
    let archived = create(auto("Archived", 1)).await.unwrap();
    campaigns::archive(&st, archived.id, None).await.unwrap();
    let codeless = create(auto("Codeless", 7)).await.unwrap();
    qr_code::Entity::delete_many().filter(qr_code::Column::CampaignId.eq(codeless.id)).exec(db).await.unwrap();
    create(CampaignInput { auto_renew: true, ..perm(e.account, "Permanent", None) }).await.unwrap();
    let current = |id: i32| async move {
        qr_code::Entity::find().filter(qr_code::Column::CampaignId.eq(id)).all(db).await.unwrap().into_iter().map(|q| q.id).max()
    };
    let due = |at: chrono::DateTime<Utc>| async move {
        renewal::due_for_renewal(db, at).await.unwrap().into_iter().map(|d| d.campaign_id).collect::<Vec<_>>()
    };

    // Just issued, only the campaign without a code is due, with no code to replace.
    let codeless_due = Due { campaign_id: codeless.id, code_id: None };
    assert_eq!(renewal::due_for_renewal(db, t0).await.unwrap(), [codeless_due]);
    // A 1-day code is due 6 h before it expires, not a second earlier; a 7-day code a day
    // before, and a 30-day code too.
    assert_eq!(due(t0 + Duration::hours(18) - Duration::seconds(1)).await, [codeless.id]);
    let day_due = Due { campaign_id: day.id, code_id: current(day.id).await };
    assert_eq!(renewal::due_for_renewal(db, t0 + Duration::hours(18)).await.unwrap(), [day_due, codeless_due]);
    assert_eq!(due(t0 + Duration::days(6) - Duration::seconds(1)).await, [day.id, codeless.id]);
    assert_eq!(due(t0 + Duration::days(6)).await, [day.id, week.id, codeless.id]);
    assert_eq!(due(t0 + Duration::days(29)).await, [day.id, week.id, month.id, codeless.id]);

    // Renewed codes are due again only their own lead before they expire.
    st.clock.advance(Duration::hours(18));
    campaigns::renew(&st, &e.api, day.id, None).await.unwrap();
    campaigns::renew(&st, &e.api, codeless.id, None).await.unwrap();
    assert_eq!(due(st.clock.now()).await, Vec::<i32>::new(), "renewed codes are not due");
    assert_eq!(due(t0 + Duration::hours(36) - Duration::seconds(1)).await, Vec::<i32>::new());
    assert_eq!(due(t0 + Duration::hours(36)).await, [day.id]);
    assert_eq!(due(t0 + Duration::hours(18 + 6 * 24)).await, [day.id, week.id, codeless.id]);
});

dual_test!(csv_import_creates_every_row, |t: TestDb| async move {
    let e = env(&t).await;
    let db = &e.st.db;
    campaigns::create(&e.st, &e.api, perm(e.account, "Existing", Some("1")), None).await.unwrap();
    let file = "\u{feff}Name,Scene,Kind,Group,Expire_days\r\n\
                Spring poster,,permanent,Posters\r\n\
                \r\n\
                \"Shop, counter\",shop-counter,Permanent\r\n\
                Flyer,3,temporary,Flyers,7\r\n\
                Badge,,temporary,,30\r\n";
    let plan = campaigns::plan_import(db, e.account, file).await.unwrap();
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let lines: Vec<u64> = plan.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 4, 5, 6], "physical lines, header and blank line counted");
    let scenes: Vec<String> = plan.rows.iter().map(|r| r.scene.clone().unwrap()).collect();
    assert_eq!(scenes, ["2", "shop-counter", "3", "4"], "blank scenes get free numbers, skipping typed ones");

    let ids = campaigns::import(&e.st, &e.api, e.account, file, None).await.unwrap();
    assert_eq!(ids.len(), 4);
    let views = futures_views(db, &ids).await;
    type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<i32>);
    let got: Vec<Row> =
        views.iter().map(|v| (v.name.as_str(), v.scene.as_str(), v.kind.as_str(), v.group.as_deref(), v.expire_days)).collect();
    assert_eq!(
        got,
        [
            ("Spring poster", "2", "permanent", Some("Posters"), None),
            ("Shop, counter", "shop-counter", "permanent", None, None),
            ("Flyer", "3", "temporary", Some("Flyers"), Some(7)),
            ("Badge", "4", "temporary", None, Some(30)),
        ]
    );
    assert!(views.iter().all(|v| v.code.is_some()));
    assert_eq!(e.sim.state.codes(&e.app_id).len(), 5);
    let rows = audits(db, "campaign.import").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&rows[0].detail).unwrap()["count"], 4);
    assert!(audits(db, "campaign.create").await.len() == 1, "one audit row for the whole import");

    // A header is optional; LF line ends work too.
    let ids = campaigns::import(&e.st, &e.api, e.account, "Plain,,permanent\nTemp,,temporary,,1\n", None).await.unwrap();
    assert_eq!(futures_views(db, &ids).await.iter().map(|v| v.scene.as_str()).collect::<Vec<_>>(), ["5", "6"]);
});

async fn futures_views(db: &sea_orm::DatabaseConnection, ids: &[i32]) -> Vec<CampaignView> {
    let mut out = Vec::new();
    for id in ids {
        out.push(campaigns::get(db, *id).await.unwrap());
    }
    out
}

dual_test!(csv_import_reports_every_bad_row_and_stores_nothing, |t: TestDb| async move {
    let e = env(&t).await;
    let db = &e.st.db;
    let file = "name,scene,kind,group,expire_days\n\
                Alpha,7,permanent\n\
                Beta,8,forever\n\
                Gamma,7,permanent\n\
                Delta,9,temporary\n\
                Epsilon,10,permanent\n";
    let err = campaigns::import(&e.st, &e.api, e.account, file, None).await.unwrap_err();
    let ImportFailed::Rows(rows) = err else { panic!("expected row errors, got {err:?}") };
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 4, 5], "{rows:?}");
    assert!(rows[0].message.to_string().contains("permanent or temporary"), "{}", rows[0].message);
    assert!(rows[1].message.to_string().contains("scene 7 is also on line 2"), "{}", rows[1].message);
    assert!(rows[2].message.to_string().contains("how many days"), "{}", rows[2].message);
    assert_eq!(stored(db).await, (0, 0));
    assert!(e.sim.state.codes(&e.app_id).is_empty(), "nothing issued for a bad file");
    assert!(audits(db, "campaign.import").await.is_empty());

    // Clashes with the account, within the file, and every other kind of bad row.
    campaigns::create(&e.st, &e.api, perm(e.account, "Spring poster", Some("12")), None).await.unwrap();
    let file = "Other,12,permanent\n\
                Spring poster,13,permanent\n\
                Twice,,permanent\n\
                Twice,,permanent\n\
                Short,row\n\
                Long,1,permanent,g,1,extra\n\
                Month,14,temporary,,31\n\
                Words,15,temporary,,soon\n\
                ,16,permanent\n\
                Scene,{long},permanent\n\
                \"Two\nlines\",17,permanent\r\n\
                Bad,18,never\r\n";
    let file = file.replace("{long}", &"s".repeat(65));
    let plan = campaigns::plan_import(db, e.account, &file).await.unwrap();
    let by_line: std::collections::HashMap<u64, String> = plan.errors.iter().map(|r| (r.line, r.message.to_string())).collect();
    let expect = [
        (1, "scene 12 is already used by campaign \"Spring poster\""),
        (2, "already called \"Spring poster\""),
        (4, "\"Twice\" is also on line 3"),
        (5, "expected 3 to 5 columns"),
        (6, "found 6"),
        (7, "1 to 30 days"),
        (8, "whole number of days"),
        (9, "enter a name"),
        (10, "1 to 64 characters"),
        (11, "line breaks"),
        (13, "permanent or temporary"),
    ];
    for (line, words) in expect {
        let m = by_line.get(&line).unwrap_or_else(|| panic!("line {line} must be reported: {:?}", plan.errors));
        assert!(m.contains(words), "line {line}: {m:?} should say {words:?}");
    }
    assert_eq!(plan.errors.len(), expect.len(), "{:?}", plan.errors);

    // Files that cannot be taken at all.
    let many: String = (1..=5001).map(|i| format!("n{i},s{i},temporary,,1\n")).collect();
    assert_eq!(field_of(&campaigns::plan_import(db, e.account, &many).await.unwrap_err()).1, "csv");
    let big = format!("name,scene,kind\n{}", "x".repeat(1024 * 1024));
    assert_eq!(field_of(&campaigns::plan_import(db, e.account, &big).await.unwrap_err()).1, "csv");
    assert_eq!(field_of(&campaigns::plan_import(db, e.account + 99, "a,,permanent").await.unwrap_err()).1, "account_id");
    for empty in ["", "\u{feff}name,scene,kind\r\n", "\n , ,\n"] {
        let err = campaigns::import(&e.st, &e.api, e.account, empty, None).await.unwrap_err();
        assert!(matches!(err, ImportFailed::Service(ServiceError::Validation { field: "csv", .. })), "{empty:?}: {err:?}");
    }
    // Exactly the maximum is fine.
    let max: String = (1..=5000).map(|i| format!("n{i},s{i},temporary,,1\n")).collect();
    assert_eq!(campaigns::plan_import(db, e.account, &max).await.unwrap().rows.len(), 5000);
});

dual_test!(csv_import_wechat_refusal_names_the_row, |t: TestDb| async move {
    // WeChat allows no permanent code here, so only the permanent row is refused, whatever
    // order the concurrent requests arrive in.
    let e = env_with(&t, SimConfig { permanent_quota: 0, ..SimConfig::with_apps(vec![SimApp::sandbox()]) }, None).await;
    let file = "name,scene,kind,group,expire_days\nT1,,temporary,,7\nP1,,permanent\nT2,,temporary,,7\n";
    let err = campaigns::import(&e.st, &e.api, e.account, file, None).await.unwrap_err();
    let ImportFailed::Rows(rows) = err else { panic!("expected a row error, got {err:?}") };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 3);
    assert!(rows[0].message.to_string().contains("45029"), "{}", rows[0].message);
    assert_eq!(stored(&e.st.db).await, (0, 0), "nothing stored when WeChat refuses a row");
    assert!(audits(&e.st.db, "campaign.import").await.is_empty());
});

/// Inserts permanent campaigns with scenes `from..=to` in one statement.
async fn bulk_permanent(db: &sea_orm::DatabaseConnection, account: i32, from: i64, to: i64) {
    let now = Utc::now();
    let stmt = match db.get_database_backend() {
        DbBackend::Postgres => Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO campaigns (account_id, name, kind, scene, auto_renew, created_at, updated_at) \
             SELECT $1, 'bulk ' || n, 'permanent', n::text, false, $2, $2 FROM generate_series($3::bigint, $4::bigint) AS n",
            vec![account.into(), now.into(), from.into(), to.into()],
        ),
        backend => Statement::from_sql_and_values(
            backend,
            "WITH RECURSIVE s(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM s WHERE n < ?) \
             INSERT INTO campaigns (account_id, name, kind, scene, auto_renew, created_at, updated_at) \
             SELECT ?, 'bulk ' || n, 'permanent', CAST(n AS TEXT), 0, ?, ? FROM s",
            vec![from.into(), to.into(), account.into(), now.into(), now.into()],
        ),
    };
    db.execute_raw(stmt).await.unwrap();
    // Their codes were issued: the scenes are in `issued_scenes`, as storing a code puts them.
    let issued = "INSERT INTO issued_scenes (account_id, scene, permanent) \
                  SELECT account_id, scene, true FROM campaigns WHERE account_id = ? AND kind = 'permanent' \
                  ON CONFLICT DO NOTHING";
    db.execute_raw(service::db::stmt(db.get_database_backend(), issued, vec![account.into()])).await.unwrap();
}

dual_test!(permanent_quota_and_exhausted_scenes, |t: TestDb| async move {
    let e = env(&t).await;
    let db = &e.st.db;
    let started = std::time::Instant::now();
    // 99 999 permanent codes already used, scene 1 free: the next one is the last allowed.
    bulk_permanent(db, e.account, 2, 100_000).await;
    eprintln!("bulk insert of 99 999 campaigns: {:?}", started.elapsed());

    let started = std::time::Instant::now();
    let last = campaigns::create(&e.st, &e.api, perm(e.account, "Last", None), None).await.unwrap();
    eprintln!("create with a gap search over 100 000 scenes: {:?}", started.elapsed());
    assert_eq!(last.scene, "1", "the gap search finds the free number below all used ones");

    let err = campaigns::create(&e.st, &e.api, perm(e.account, "One too many", Some("poster")), None).await.unwrap_err();
    let (v, f, m) = field_of(&err);
    assert_eq!((v, f), ("validation", "kind"));
    assert!(m.contains("100 000 permanent codes"), "{m}");
    // Archived campaigns still count, and deleted ones too: WeChat never gives a code back.
    campaigns::archive(&e.st, last.id, None).await.unwrap();
    assert_eq!(field_of(&campaigns::create(&e.st, &e.api, perm(e.account, "Again", Some("p2")), None).await.unwrap_err()).1, "kind");
    campaigns::delete(&e.st, last.id, None).await.unwrap();
    assert_eq!(field_of(&campaigns::create(&e.st, &e.api, perm(e.account, "Again", Some("p2")), None).await.unwrap_err()).1, "kind");
    assert_eq!(service::accounts::get(db, e.account).await.unwrap().permanent_codes, 100_000);

    // Temporary codes don't count, but every numeric scene is now taken.
    let err = campaigns::create(&e.st, &e.api, temp(e.account, "Auto", 3), None).await.unwrap_err();
    let (v, f, m) = field_of(&err);
    assert_eq!((v, f), ("validation", "scene"));
    assert!(m.contains("text scene"), "{m}");
    let ok =
        campaigns::create(&e.st, &e.api, CampaignInput { scene: Some("poster".into()), ..temp(e.account, "Text", 3) }, None).await.unwrap();
    assert_eq!(ok.scene, "poster");

    // The import plan reports both limits per row.
    let plan = campaigns::plan_import(db, e.account, "Auto,,temporary,,3\nPerm,p3,permanent\nFine,p4,temporary,,3\n").await.unwrap();
    let lines: Vec<u64> = plan.errors.iter().map(|r| r.line).collect();
    assert_eq!(lines, [1, 2], "{:?}", plan.errors);
    assert!(plan.errors[0].message.to_string().contains("no numeric scene"));
    assert!(plan.errors[1].message.to_string().contains("100 000 permanent codes"));
    assert_eq!(plan.rows.len(), 1);
});

dual_test!(import_fills_gaps_and_stops_at_the_quota, |t: TestDb| async move {
    let e = env(&t).await;
    let db = &e.st.db;
    // Used numeric scenes: 1–3, 6 and 10–99 999, all permanent: 99 994 codes, 6 left.
    bulk_permanent(db, e.account, 1, 3).await;
    bulk_permanent(db, e.account, 6, 6).await;
    bulk_permanent(db, e.account, 10, 99_999).await;
    // Seven permanent rows with blank scenes, and a temporary row typing 5.
    let file: String = (1..=7).map(|i| format!("P{i},,permanent\n")).collect::<String>() + "T,5,temporary,,2\n";
    let plan = campaigns::plan_import(db, e.account, &file).await.unwrap();
    let rows: Vec<(&str, &str)> = plan.rows.iter().map(|r| (r.name.as_str(), r.scene.as_deref().unwrap())).collect();
    assert_eq!(
        rows,
        [("P1", "4"), ("P2", "7"), ("P3", "8"), ("P4", "9"), ("P5", "100000"), ("T", "5")],
        "free numbers smallest first, skipping the typed 5"
    );
    let lines: Vec<u64> = plan.errors.iter().map(|r| r.line).collect();
    assert_eq!(lines, [6, 7], "{:?}", plan.errors);
    assert!(plan.errors[0].message.to_string().contains("no numeric scene"), "{}", plan.errors[0].message);
    assert!(plan.errors[1].message.to_string().contains("100 000 permanent codes"), "{}", plan.errors[1].message);
    assert!(plan.errors[1].message.to_string().contains("no numeric scene"), "{}", plan.errors[1].message);
});

#[test]
fn welcome_json_is_the_shape_the_callback_reads() {
    let text = Welcome::Text { content: "Hi!".into() };
    assert_eq!(text.to_json(), r#"{"type":"text","content":"Hi!"}"#);
    let news = Welcome::News { title: "T".into(), description: "D".into(), url: "https://e.com/".into(), pic_url: None };
    assert_eq!(news.to_json(), r#"{"type":"news","title":"T","description":"D","url":"https://e.com/"}"#);
    let pic = Welcome::News {
        title: "T".into(),
        description: String::new(),
        url: "http://e.com/".into(),
        pic_url: Some("https://e.com/p.png".into()),
    };
    assert_eq!(Welcome::from_json(&pic.to_json()).unwrap(), pic);
    for w in [text, news, pic] {
        assert!(service::ingest::welcome_reply(&w.to_json()).is_some(), "the callback replies with {w:?}");
    }
}

fn view(id: i32, name: &str) -> CampaignView {
    CampaignView {
        id,
        account_id: 1,
        account_name: "A".into(),
        app_id: "wx".into(),
        name: name.into(),
        group: None,
        kind: "permanent".into(),
        scene: "1".into(),
        expire_days: None,
        auto_renew: false,
        welcome: None,
        tag_name: None,
        archived_at: None,
        created_at: Utc::now(),
        code: None,
        status: Status::NoCode,
        scans: 0,
        new_followers: 0,
        unsubscribes: 0,
        has_logo: false,
    }
}

#[test]
fn zip_holds_safe_unique_names_and_the_png_bytes() {
    use service::qr::{QrOptions, render_png};
    use std::io::Read;
    let png = |url: &str| render_png(url, &QrOptions { size: 258, ..Default::default() }).unwrap();
    assert_eq!(campaigns::code_file_name(&view(7, "Spring/Summer: \"big\"?"), "png"), "7-Spring_Summer_ _big__.png");
    assert_eq!(campaigns::code_file_name(&view(8, "春季海报"), "svg"), "8-春季海报.svg");
    let files = vec![
        (campaigns::code_file_name(&view(1, "Poster"), "png"), png("http://weixin.qq.com/q/02a")),
        ("1-Poster.png".to_owned(), png("http://weixin.qq.com/q/02b")),
        ("1-POSTER.png".to_owned(), png("http://weixin.qq.com/q/02c")),
        ("../../etc/passwd".to_owned(), png("http://weixin.qq.com/q/02d")),
        ("a\u{1}b<c>|d*.png".to_owned(), png("http://weixin.qq.com/q/02e")),
        ("noext".to_owned(), png("http://weixin.qq.com/q/02f")),
        ("noext".to_owned(), png("http://weixin.qq.com/q/02g")),
    ];
    let bytes = campaigns::zip_files(&files).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names = Vec::new();
    assert_eq!(archive.len(), files.len());
    for (i, (_, bytes)) in files.iter().enumerate() {
        let mut entry = archive.by_index(i).unwrap();
        assert_eq!(entry.compression(), zip::CompressionMethod::Stored);
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        assert_eq!(&data, bytes, "entry {i} holds its file's bytes");
        let img = image::load_from_memory_with_format(&data, image::ImageFormat::Png).expect("a decodable PNG");
        assert_eq!(img.width(), 258);
        names.push(entry.name().to_owned());
    }
    assert_eq!(names, ["1-Poster.png", "1-Poster (2).png", "1-POSTER (3).png", "_._.._etc_passwd", "a_b_c__d_.png", "noext", "noext (2)"]);
    assert!(campaigns::zip_files(&[]).is_ok(), "an empty ZIP is still a ZIP");
}
