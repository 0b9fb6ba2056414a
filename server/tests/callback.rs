//! The WeChat callback over a real listener, on SQLite and PostgreSQL: every answer of
//! docs/contract.md (echostr, 403, 404, 400, 413, `success`, replies), the three message modes,
//! exactly-once storage, attribution and counters, erasure on unsubscribe, tag jobs, the
//! simulator's scan end to end, and the spool while the database is away.

use chrono::Utc;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use service::AppState;
use service::dual_test;
use service::entity::{account_hourly, campaign, campaign_hourly, event, job, qr_code, scanner_hour, subscription, wechat_account};
use service::ingest::{IngestOptions, SPOOL_FILE};
use service::keys::scanner_key;
use service::testing::TestDb;
use std::path::Path;
use std::time::{Duration, Instant};
use wechat::EncryptMode;
use wechat::sim::{Delivery, Scanner, SimApp, SimConfig, SimError};
use wechat::xml::{envelope_xml, event_xml};

mod support;
use support::{fresh_stamp, signed_encrypted_now, signed_now as signed};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH";
/// An hour start (2024-04-25 09:00 UTC), so tests choose their buckets.
const T0: i64 = 1_714_035_600;

struct Env {
    base: String,
    http: reqwest::Client,
    t: TestDb,
    app: AppState,
    spool: tempfile::TempDir,
}

/// The router on a free port over `app`, with its spool in `spool_dir`.
async fn serve(app: AppState, spool_dir: &Path) -> String {
    support::serve_with_options(app, IngestOptions::with_spool_dir(spool_dir)).await
}

async fn start(t: TestDb) -> Env {
    let app = t.state();
    let spool = tempfile::tempdir().unwrap();
    let base = serve(app.clone(), spool.path()).await;
    Env { base, http: reqwest::Client::new(), t, app, spool }
}

impl Env {
    fn url(&self, app_id: &str) -> String {
        format!("{}/wechat/callback/{app_id}", self.base)
    }

    /// A simulated account pushing to our callback.
    fn sim_app(&self, app_id: &str, mode: EncryptMode) -> SimApp {
        let app = SimApp::new(app_id, "secret").with_callback(self.url(app_id), format!("token-{app_id}"));
        if mode == EncryptMode::Plain { app } else { app.with_encryption(KEY, mode) }
    }

    /// Pushes `xml` as WeChat does (signed, encrypted per the app's mode), one try.
    async fn push(&self, sim: &SimApp, openid: &str, xml: &str) -> Result<Delivery, SimError> {
        wechat::sim::push(&self.http, sim, sim.callback_url.as_deref().unwrap(), openid, xml, Utc::now().timestamp(), 1).await
    }

    async fn push_ok(&self, sim: &SimApp, openid: &str, xml: &str) -> Delivery {
        let d = self.push(sim, openid, xml).await.unwrap();
        assert_eq!(d.status, 200);
        assert_eq!(d.reply_error, None, "{}", d.body);
        d
    }

    /// POST with a hand-made query (for the refusals).
    async fn raw_post(&self, app_id: &str, query: &[(&str, String)], body: impl Into<reqwest::Body>) -> (StatusCode, String) {
        let res = self.http.post(self.url(app_id)).query(query).body(body).send().await.unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    }
}

async fn add_account(app: &AppState, app_id: &str, mode: EncryptMode, api_base: &str) -> i32 {
    let now = Utc::now();
    wechat_account::ActiveModel {
        name: Set(format!("Account {app_id}")),
        app_id: Set(app_id.into()),
        app_secret_enc: Set(app.keys.seal(&format!("wechat_accounts.app_secret:{app_id}"), "secret")),
        token: Set(format!("token-{app_id}")),
        aes_key_enc: Set((mode != EncryptMode::Plain).then(|| app.keys.seal(&format!("wechat_accounts.aes_key:{app_id}"), KEY))),
        message_mode: Set(mode.as_str().into()),
        api_base_url: Set(api_base.into()),
        token_endpoint: Set("stable".into()),
        timezone: Set("Asia/Shanghai".into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

async fn add_campaign(app: &AppState, account_id: i32, scene: &str, welcome: Option<&str>, tag: Option<&str>) -> i32 {
    let now = Utc::now();
    campaign::ActiveModel {
        account_id: Set(account_id),
        name: Set(format!("Campaign {scene}")),
        kind: Set("permanent".into()),
        scene: Set(scene.into()),
        auto_renew: Set(false),
        welcome_message: Set(welcome.map(str::to_owned)),
        tag_name: Set(tag.map(str::to_owned)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

async fn add_code(app: &AppState, campaign_id: i32, ticket: &str) {
    qr_code::ActiveModel {
        campaign_id: Set(campaign_id),
        ticket: Set(ticket.into()),
        url: Set(format!("http://weixin.qq.com/q/{ticket}")),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
}

async fn events(app: &AppState, account_id: i32) -> Vec<event::Model> {
    event::Entity::find().filter(event::Column::AccountId.eq(account_id)).order_by_asc(event::Column::Id).all(&app.db).await.unwrap()
}

/// (scans, new_followers, unsubscribes) of a campaign over all hours.
async fn campaign_totals(app: &AppState, id: i32) -> (i64, i64, i64) {
    let rows = campaign_hourly::Entity::find().filter(campaign_hourly::Column::CampaignId.eq(id)).all(&app.db).await.unwrap();
    rows.iter().fold((0, 0, 0), |a, r| (a.0 + r.scans, a.1 + r.new_followers, a.2 + r.unsubscribes))
}

/// (scans, new_followers, organic_followers, unsubscribes, unknown_scene_events) of an account.
async fn account_totals(app: &AppState, id: i32) -> (i64, i64, i64, i64, i64) {
    let rows = account_hourly::Entity::find().filter(account_hourly::Column::AccountId.eq(id)).all(&app.db).await.unwrap();
    rows.iter().fold((0, 0, 0, 0, 0), |a, r| {
        (a.0 + r.scans, a.1 + r.new_followers, a.2 + r.organic_followers, a.3 + r.unsubscribes, a.4 + r.unknown_scene_events)
    })
}

async fn subscriptions(app: &AppState, account_id: i32) -> Vec<subscription::Model> {
    subscription::Entity::find()
        .filter(subscription::Column::AccountId.eq(account_id))
        .order_by_asc(subscription::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

dual_test!(url_verification, |t: TestDb| async move {
    let env = start(t).await;
    add_account(&env.app, "wx1000000000000001", EncryptMode::Plain, "http://127.0.0.1:9").await;
    let (ts, nonce) = fresh_stamp();
    let sig = wechat::signature("token-wx1000000000000001", &ts, &nonce);
    let get = |app_id: &str, sig: &str| {
        env.http.get(env.url(app_id)).query(&[("signature", sig), ("timestamp", &ts), ("nonce", &nonce), ("echostr", "4375120948")]).send()
    };
    let res = get("wx1000000000000001", &sig).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(res.text().await.unwrap(), "4375120948");
    // Wrong signature, or none: 403 without the echo.
    let res = get("wx1000000000000001", &"0".repeat(40)).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!res.text().await.unwrap().contains("4375120948"));
    let res = env.http.get(env.url("wx1000000000000001")).query(&[("echostr", "x")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Unknown AppID: 404, however well signed.
    assert_eq!(get("wx9999999999999999", &sig).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&"x".repeat(200), &sig).await.unwrap().status(), StatusCode::NOT_FOUND);
});

dual_test!(bad_pushes_are_refused_fast_and_store_nothing, |t: TestDb| async move {
    let env = start(t).await;
    let plain = add_account(&env.app, "wx1000000000000001", EncryptMode::Plain, "http://127.0.0.1:9").await;
    let safe = add_account(&env.app, "wx1000000000000002", EncryptMode::Safe, "http://127.0.0.1:9").await;
    let token = "token-wx1000000000000001";
    let good = event_xml("gh_1", "oUser1", T0, "subscribe", None, None);
    let started = Instant::now();

    // Bad or missing signature: 403.
    let mut bad = signed(token);
    bad[0].1 = "0".repeat(40);
    assert_eq!(env.raw_post("wx1000000000000001", &bad, good.clone()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(env.raw_post("wx1000000000000001", &[], good.clone()).await.0, StatusCode::FORBIDDEN);
    // Signed with another account's token: 403.
    assert_eq!(env.raw_post("wx1000000000000001", &signed("token-other"), good.clone()).await.0, StatusCode::FORBIDDEN);
    // Unknown AppID: 404.
    assert_eq!(env.raw_post("wx9999999999999999", &signed(token), good.clone()).await.0, StatusCode::NOT_FOUND);
    // Signed, but not acceptable XML: 400.
    for body in [
        "<xml><ToUserName>".to_owned(),
        "not xml at all".to_owned(),
        "<xml><ToUserName>gh</ToUserName></xml>".to_owned(),
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><xml><ToUserName>&a;</ToUserName></xml>".to_owned(),
        good.replace("<CreateTime>", "<CreateTime>x"),
    ] {
        let (status, text) = env.raw_post("wx1000000000000001", &signed(token), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
    }
    let (status, _) = env.raw_post("wx1000000000000001", &signed(token), vec![0xffu8, 0xfe, b'<']).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Oversized: 413, before anything is parsed.
    let big = format!("<xml><A>{}</A></xml>", "x".repeat(70 * 1024));
    assert_eq!(env.raw_post("wx1000000000000001", &signed(token), big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    // A safe-mode account takes no plaintext (its signature does not cover the body).
    assert_eq!(env.raw_post("wx1000000000000002", &signed("token-wx1000000000000002"), good.clone()).await.0, StatusCode::FORBIDDEN);
    // Encrypted, but msg_signature does not cover this ciphertext: 403.
    let crypt = wechat::MsgCrypt::new(KEY, "wx1000000000000002").unwrap();
    let envelope = envelope_xml("gh_2", &crypt.encrypt(&good).unwrap(), None);
    let mut q = signed("token-wx1000000000000002");
    q.push(("encrypt_type", "aes".into()));
    q.push(("msg_signature", "0".repeat(40)));
    assert_eq!(env.raw_post("wx1000000000000002", &q, envelope).await.0, StatusCode::FORBIDDEN);
    // Encrypted and signed, but for another AppID: 400.
    let other = wechat::MsgCrypt::new(KEY, "wx0000000000000000").unwrap().encrypt(&good).unwrap();
    let q = signed_encrypted_now("token-wx1000000000000002", &other);
    assert_eq!(env.raw_post("wx1000000000000002", &q, envelope_xml("gh_2", &other, None)).await.0, StatusCode::BAD_REQUEST);

    assert!(started.elapsed() < Duration::from_secs(5), "refusals are fast: {:?}", started.elapsed());
    assert!(events(&env.app, plain).await.is_empty());
    assert!(events(&env.app, safe).await.is_empty());
    assert_eq!(account_totals(&env.app, plain).await, (0, 0, 0, 0, 0));

    // The server is still healthy: a good push is stored.
    let (status, text) = env.raw_post("wx1000000000000001", &signed(token), good).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "success"));
    assert_eq!(events(&env.app, plain).await.len(), 1);
});

dual_test!(plaintext_compat_and_safe_pushes_are_stored_and_answered, |t: TestDb| async move {
    let env = start(t).await;
    for (i, mode) in [EncryptMode::Plain, EncryptMode::Compat, EncryptMode::Safe].into_iter().enumerate() {
        let app_id = format!("wx200000000000000{i}");
        let account = add_account(&env.app, &app_id, mode, "http://127.0.0.1:9").await;
        let welcome = format!(r#"{{"type":"text","content":"Welcome <{mode}> & enjoy"}}"#);
        let c = add_campaign(&env.app, account, "42", Some(&welcome), None).await;
        let sim = env.sim_app(&app_id, mode);
        let xml = event_xml(&sim.original_id, "oFollower", T0 + 5, "subscribe", Some("qrscene_42"), Some("TK"));
        let d = env.push_ok(&sim, "oFollower", &xml).await;
        // The welcome reply, decrypted by the simulator as WeChat would; in safe and compat
        // mode the answer on the wire is encrypted.
        let reply = d.reply.unwrap_or_else(|| panic!("{mode}: no reply in {}", d.body));
        assert!(reply.contains("<MsgType><![CDATA[text]]></MsgType>"), "{reply}");
        assert!(reply.contains(&format!("Welcome <{mode}> & enjoy")), "{reply}");
        assert!(reply.contains("<ToUserName><![CDATA[oFollower]]></ToUserName>"), "{reply}");
        assert_eq!(d.body.contains("<Encrypt>"), mode != EncryptMode::Plain, "{mode}: {}", d.body);
        let stored = events(&env.app, account).await;
        assert_eq!(stored.len(), 1, "{mode}");
        let e = &stored[0];
        assert_eq!((e.kind.as_str(), e.campaign_id, e.scene.as_deref()), ("subscribe", Some(c), Some("42")));
        assert_eq!((e.event.as_str(), e.event_key.as_str(), e.create_time), ("subscribe", "qrscene_42", T0 + 5));
        assert_eq!(e.openid.as_deref(), Some("oFollower"));
        assert_eq!(e.openid_hash, env.app.keys.openid_hash("oFollower"));
        assert_eq!(campaign_totals(&env.app, c).await, (1, 1, 0), "{mode}");
    }
});

dual_test!(a_retried_push_is_stored_once, |t: TestDb| async move {
    let env = start(t).await;
    let account = add_account(&env.app, "wx3000000000000001", EncryptMode::Plain, "http://127.0.0.1:9").await;
    let c = add_campaign(&env.app, account, "7", Some(r#"{"type":"text","content":"hello again"}"#), None).await;
    let sim = env.sim_app("wx3000000000000001", EncryptMode::Plain);
    let xml = event_xml(&sim.original_id, "oRetry", T0 + 1, "subscribe", Some("qrscene_7"), None);
    for _ in 0..3 {
        let d = env.push_ok(&sim, "oRetry", &xml).await;
        // Every try gets the reply: WeChat only retries when it missed the first answer.
        assert!(d.reply.unwrap().contains("hello again"));
    }
    // Concurrent tries too.
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (http, sim, xml) = (env.http.clone(), sim.clone(), xml.clone());
        let url = env.url("wx3000000000000001");
        tries.spawn(async move { wechat::sim::push(&http, &sim, &url, "oRetry", &xml, Utc::now().timestamp(), 1).await });
    }
    while let Some(d) = tries.join_next().await {
        assert_eq!(d.unwrap().unwrap().status, 200);
    }
    assert_eq!(events(&env.app, account).await.len(), 1);
    assert_eq!(campaign_totals(&env.app, c).await, (1, 1, 0));
    assert_eq!(account_totals(&env.app, account).await, (1, 1, 0, 0, 0));
    assert_eq!(subscriptions(&env.app, account).await.len(), 1);
    // The same follower and second, but another event, is another push.
    let scan = event_xml(&sim.original_id, "oRetry", T0 + 1, "SCAN", Some("7"), None);
    env.push_ok(&sim, "oRetry", &scan).await;
    env.push_ok(&sim, "oRetry", &scan).await;
    assert_eq!(events(&env.app, account).await.len(), 2);
    assert_eq!(campaign_totals(&env.app, c).await, (2, 1, 0));
    // Operators see the outcomes in /metrics.
    let metrics = env.http.get(format!("{}/metrics", env.base)).send().await.unwrap().text().await.unwrap();
    for result in ["stored", "duplicate"] {
        assert!(metrics.contains(&format!("sceneboard_callback_events_total{{result=\"{result}\"}}")), "{metrics}");
    }
    // The writer's batches: how many committed, and how many pushes each held.
    assert!(metrics.contains(r#"sceneboard_ingest_batches_total{source="live",result="committed"}"#), "{metrics}");
    assert!(metrics.contains(r#"sceneboard_ingest_batch_pushes_bucket{source="live",le="1"}"#), "{metrics}");
});

dual_test!(follower_lifecycle_counters_and_erasure, |t: TestDb| async move {
    let env = start(t).await;
    let account = add_account(&env.app, "wx4000000000000001", EncryptMode::Plain, "http://127.0.0.1:9").await;
    let a = add_campaign(&env.app, account, "42", None, Some("poster")).await;
    let b = add_campaign(&env.app, account, "spring", None, None).await;
    let sim = env.sim_app("wx4000000000000001", EncryptMode::Plain);
    let gh = sim.original_id.clone();
    let who = "oLifecycle";
    let hash = env.app.keys.openid_hash(who);

    // Follows through A, then scans A again.
    let d = env.push_ok(&sim, who, &event_xml(&gh, who, T0 + 10, "subscribe", Some("qrscene_42"), Some("TA"))).await;
    assert_eq!(d.body, "success", "no welcome message configured");
    env.push_ok(&sim, who, &event_xml(&gh, who, T0 + 20, "SCAN", Some("42"), Some("TA"))).await;
    let subs = subscriptions(&env.app, account).await;
    assert_eq!(subs.len(), 1);
    assert_eq!((subs[0].campaign_id, subs[0].scene.as_deref(), subs[0].unsubscribed_at), (Some(a), Some("42"), None));
    // A's tag is queued once (the SCAN does not queue a second one), with the OpenID.
    let jobs = job::Entity::find().filter(job::Column::Kind.eq("tag_follower")).all(&env.app.db).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let payload: serde_json::Value = serde_json::from_str(&jobs[0].payload).unwrap();
    assert_eq!(payload, serde_json::json!({ "account_id": account, "campaign_id": a, "openid": who }));
    assert_eq!(jobs[0].status, "queued");
    assert_eq!(jobs[0].subject_hash.as_deref(), Some(hash.as_str()), "found by the follower's hash on unsubscribe");

    // Another follower's tag job on A, which the unsubscribe below must leave alone.
    let other_key = format!("tag:{a}:{}", env.app.keys.openid_hash("oSomeoneElse"));
    service::jobs::enqueue(
        &env.app.db,
        "tag_follower",
        &serde_json::json!({ "campaign_id": a, "openid": "oSomeoneElse" }),
        Utc::now(),
        Some(&other_key),
    )
    .await
    .unwrap()
    .expect("queued");

    // Leaves an hour later: counted against A, and their personal data goes.
    env.push_ok(&sim, who, &event_xml(&gh, who, T0 + 3600 + 5, "unsubscribe", Some(""), None)).await;
    let evs = events(&env.app, account).await;
    assert_eq!(evs.len(), 3);
    assert!(evs.iter().all(|e| e.openid.is_none() && e.openid_hash == hash), "raw OpenIDs erased, hash kept");
    assert_eq!(evs[2].kind, "unsubscribe");
    let subs = subscriptions(&env.app, account).await;
    assert_eq!(subs[0].openid, None);
    assert_eq!(subs[0].unsubscribed_at.map(|t| t.timestamp()), Some(T0 + 3605));
    assert_eq!(subs[0].unsubscribe_event_id, Some(evs[2].id));
    let left: Vec<Option<String>> = job::Entity::find().all(&env.app.db).await.unwrap().into_iter().map(|j| j.dedupe_key).collect();
    assert_eq!(left, vec![Some(other_key)], "their tag job carried the OpenID; the other follower's stays");
    job::Entity::delete_many().exec(&env.app.db).await.unwrap();

    // Comes back through B: a new subscription, attributed to B.
    env.push_ok(&sim, who, &event_xml(&gh, who, T0 + 7200 + 1, "subscribe", Some("qrscene_spring"), Some("TB"))).await;
    let subs = subscriptions(&env.app, account).await;
    assert_eq!(subs.len(), 2);
    assert_eq!((subs[1].campaign_id, subs[1].unsubscribed_at, subs[1].openid.as_deref()), (Some(b), None, Some(who)));
    assert_eq!(events(&env.app, account).await[3].openid.as_deref(), Some(who), "a follower again");

    // Counters, per hour bucket.
    let hourly = |c: i32| {
        let db = env.app.db.clone();
        async move {
            campaign_hourly::Entity::find()
                .filter(campaign_hourly::Column::CampaignId.eq(c))
                .order_by_asc(campaign_hourly::Column::Hour)
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.hour, r.scans, r.new_followers, r.unsubscribes))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(hourly(a).await, vec![(T0, 2, 1, 0), (T0 + 3600, 0, 0, 1)]);
    assert_eq!(hourly(b).await, vec![(T0 + 7200, 1, 1, 0)]);
    assert_eq!(account_totals(&env.app, account).await, (3, 2, 0, 1, 0));
    let scanners = scanner_hour::Entity::find().order_by_asc(scanner_hour::Column::CampaignId).all(&env.app.db).await.unwrap();
    let scanners: Vec<_> = scanners.into_iter().map(|s| (s.campaign_id, s.hour, s.scanner)).collect();
    assert_eq!(scanners, vec![(a, T0, scanner_key(&hash)), (b, T0 + 7200, scanner_key(&hash))]);

    // A subscribe while still subscribed means an unsubscribe was missed: the old one is
    // closed and counted, so B's net followers stay right.
    env.push_ok(&sim, who, &event_xml(&gh, who, T0 + 7200 + 9, "subscribe", None, None)).await;
    let subs = subscriptions(&env.app, account).await;
    assert_eq!(subs.len(), 3);
    assert!(subs[1].unsubscribed_at.is_some() && subs[1].unsubscribe_event_id.is_none());
    assert_eq!((subs[2].campaign_id, subs[2].unsubscribed_at), (None, None));
    assert_eq!(campaign_totals(&env.app, b).await, (1, 1, 1));
    assert_eq!(account_totals(&env.app, account).await, (3, 3, 1, 2, 0));
});

dual_test!(organic_unknown_scenes_ticket_fallback_and_other_messages, |t: TestDb| async move {
    let env = start(t).await;
    let account = add_account(&env.app, "wx5000000000000001", EncryptMode::Plain, "http://127.0.0.1:9").await;
    let c = add_campaign(&env.app, account, "77", None, None).await;
    add_code(&env.app, c, "TICKET-C").await;
    let sim = env.sim_app("wx5000000000000001", EncryptMode::Plain);
    let gh = sim.original_id.clone();

    // Organic follow (search, profile card).
    env.push_ok(&sim, "oOrganic", &event_xml(&gh, "oOrganic", T0 + 1, "subscribe", Some(""), None)).await;
    // A code we never issued: kept, unattributed, counted as an unknown scene.
    env.push_ok(&sim, "oUnknown", &event_xml(&gh, "oUnknown", T0 + 2, "subscribe", Some("qrscene_999"), None)).await;
    env.push_ok(&sim, "oOrganic", &event_xml(&gh, "oOrganic", T0 + 3, "SCAN", Some("nosuch"), None)).await;
    // Scene changed since the code was issued: the ticket still names the campaign.
    env.push_ok(&sim, "oOrganic", &event_xml(&gh, "oOrganic", T0 + 4, "SCAN", Some("78"), Some("TICKET-C"))).await;
    // Messages and other events are kept (their fields, not their XML); MsgId tells messages apart.
    let text = |id: &str, content: &str| {
        format!(
            "<xml><ToUserName><![CDATA[{gh}]]></ToUserName><FromUserName><![CDATA[oOrganic]]></FromUserName>\
             <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
             <MsgId>{id}</MsgId></xml>",
            T0 + 5
        )
    };
    env.push_ok(&sim, "oOrganic", &text("1001", "hello")).await;
    env.push_ok(&sim, "oOrganic", &text("1002", "again")).await;
    env.push_ok(&sim, "oOrganic", &text("1001", "hello")).await;
    env.push_ok(&sim, "oOrganic", &event_xml(&gh, "oOrganic", T0 + 6, "CLICK", Some("MENU_1"), None)).await;

    let evs = events(&env.app, account).await;
    let summary: Vec<_> =
        evs.iter().map(|e| (e.kind.as_str(), e.event.as_str(), e.event_key.as_str(), e.campaign_id, e.scene.as_deref())).collect();
    assert_eq!(
        summary,
        vec![
            ("organic", "subscribe", "", None, None),
            ("subscribe", "subscribe", "qrscene_999", None, Some("999")),
            ("scan", "SCAN", "nosuch", None, Some("nosuch")),
            ("scan", "SCAN", "78", Some(c), Some("78")),
            ("other", "text", "1001", None, None),
            ("other", "text", "1002", None, None),
            ("other", "CLICK", "MENU_1", None, None),
        ]
    );
    assert_eq!(evs[4].msg_type, "text");
    // scans, new followers, organic, unsubscribes, unknown-scene events
    assert_eq!(account_totals(&env.app, account).await, (3, 2, 1, 0, 2));
    assert_eq!(campaign_totals(&env.app, c).await, (1, 0, 0));
    let subs = subscriptions(&env.app, account).await;
    let subs: Vec<_> = subs.iter().map(|s| (s.campaign_id, s.scene.as_deref())).collect();
    assert_eq!(subs, vec![(None, None), (None, Some("999"))]);
});

dual_test!(welcome_news_replies_plain_and_encrypted, |t: TestDb| async move {
    let env = start(t).await;
    let news = r#"{"type":"news","title":"Spring menu","description":"Ten new teas","url":"https://example.com/m","pic_url":"https://example.com/p.png"}"#;
    for (app_id, mode) in [("wx6000000000000001", EncryptMode::Plain), ("wx6000000000000002", EncryptMode::Safe)] {
        let account = add_account(&env.app, app_id, mode, "http://127.0.0.1:9").await;
        add_campaign(&env.app, account, "spring", Some(news), None).await;
        add_campaign(&env.app, account, "quiet", None, None).await;
        let sim = env.sim_app(app_id, mode);
        let gh = sim.original_id.clone();
        for (event, key) in [("subscribe", "qrscene_spring"), ("SCAN", "spring")] {
            let d = env.push_ok(&sim, "oNews", &event_xml(&gh, "oNews", T0 + 1, event, Some(key), None)).await;
            let reply = d.reply.unwrap();
            assert!(reply.contains("<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount>"), "{reply}");
            assert!(reply.contains("<Title><![CDATA[Spring menu]]></Title>") && reply.contains("https://example.com/m"), "{reply}");
            assert!(reply.contains(&format!("<FromUserName><![CDATA[{gh}]]></FromUserName>")), "{reply}");
            assert_eq!(d.body.contains("Spring menu"), mode == EncryptMode::Plain, "safe mode answers encrypted: {}", d.body);
        }
        // No welcome message: plain `success`.
        let d = env.push_ok(&sim, "oNews", &event_xml(&gh, "oNews", T0 + 2, "SCAN", Some("quiet"), None)).await;
        assert_eq!((d.body.as_str(), d.reply), ("success", None));
    }
});

dual_test!(the_simulators_scan_drives_the_whole_flow, |t: TestDb| async move {
    let env = start(t).await;
    let app_id = "wx7000000000000001";
    let sim = wechat::sim::spawn(SimConfig::with_apps(vec![env.sim_app(app_id, EncryptMode::Safe)])).await.unwrap();
    let account = add_account(&env.app, app_id, EncryptMode::Safe, &sim.base_url()).await;
    // Issue the code on the simulator, as the campaigns service does.
    use wechat::WechatApi as _;
    let client = wechat::WechatClient::new(
        wechat::AccountConfig::new(app_id, "secret".into()).with_api_base(sim.base_url()),
        std::sync::Arc::new(wechat::MemoryTokenStore::new()),
    )
    .unwrap();
    let code = client
        .create_qr_code(&wechat::QrCodeRequest { scene: wechat::Scene::Str("poster-1".into()), lifetime: wechat::QrLifetime::Permanent })
        .await
        .unwrap();
    let c = add_campaign(&env.app, account, "poster-1", Some(r#"{"type":"text","content":"Thanks for scanning"}"#), None).await;
    add_code(&env.app, c, &code.ticket).await;

    let first = sim.state.scan(&code.ticket, Scanner::NewFollower).await.unwrap();
    let d = first.delivery.unwrap();
    assert_eq!((d.status, d.tries, d.reply_error.as_deref()), (200, 1, None));
    assert!(d.reply.unwrap().contains("Thanks for scanning"));
    let again = sim.state.scan(&code.ticket, Scanner::Existing(Some(first.openid.clone()))).await.unwrap();
    assert_eq!(again.event, "SCAN");
    assert!(again.delivery.unwrap().reply.unwrap().contains("Thanks for scanning"));
    sim.state.scan(&code.ticket, Scanner::NewFollower).await.unwrap();
    sim.state.unsubscribe(app_id, &first.openid).await.unwrap();

    assert_eq!(campaign_totals(&env.app, c).await, (3, 2, 1));
    assert_eq!(account_totals(&env.app, account).await, (3, 2, 0, 1, 0));
    let kinds: Vec<_> = events(&env.app, account).await.into_iter().map(|e| (e.kind, e.ticket == Some(code.ticket.clone()))).collect();
    assert_eq!(kinds, vec![("subscribe".into(), true), ("scan".into(), true), ("subscribe".into(), true), ("unsubscribe".into(), false)]);
    let open = subscriptions(&env.app, account).await.into_iter().filter(|s| s.unsubscribed_at.is_none()).count();
    assert_eq!(open, 1);
});

/// Waits until the account has `n` events (the spool replay runs in the background).
async fn wait_for_events(app: &AppState, account: i32, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let count = event::Entity::find().filter(event::Column::AccountId.eq(account)).count(&app.db).await.unwrap_or(0);
        if count as usize == n {
            return;
        }
        assert!(Instant::now() < deadline, "{count} events stored, expected {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn spool_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(SPOOL_FILE)).unwrap_or_default().lines().map(str::to_owned).collect()
}

dual_test!(pushes_are_spooled_while_the_database_is_away_and_replayed_once, |t: TestDb| async move {
    let env = start(t).await;
    let account = add_account(&env.app, "wx8000000000000001", EncryptMode::Plain, "http://127.0.0.1:9").await;
    let c = add_campaign(&env.app, account, "42", Some(r#"{"type":"text","content":"hi"}"#), None).await;
    let sim = env.sim_app("wx8000000000000001", EncryptMode::Plain);
    let gh = sim.original_id.clone();
    let subscribe = event_xml(&gh, "oSpool", T0 + 1, "subscribe", Some("qrscene_42"), None);
    let scan = event_xml(&gh, "oSpool", T0 + 2, "SCAN", Some("42"), None);
    let unsubscribe = event_xml(&gh, "oSpool", T0 + 3, "unsubscribe", Some(""), None);
    env.push_ok(&sim, "oSpool", &subscribe).await;
    assert!(spool_lines(env.spool.path()).is_empty());

    // The database goes away: pushes are still acknowledged, from the fsynced spool.
    env.t.db.close_by_ref().await.unwrap();
    for xml in [&scan, &scan, &unsubscribe] {
        let started = Instant::now();
        let d = env.push_ok(&sim, "oSpool", xml).await;
        assert_eq!(d.body, "success");
        assert!(started.elapsed() < Duration::from_secs(4), "answered in time: {:?}", started.elapsed());
    }
    let lines = spool_lines(env.spool.path());
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].contains("\"event\":\"SCAN\"") && lines[2].contains("\"event\":\"unsubscribe\""));

    // Back (here: a restart on a new connection, as after a crash): the spool is replayed
    // in order, each push once.
    let db = service::db::connect(&env.t.url).await.unwrap();
    let app = AppState { db, ..env.app.clone() };
    let base = serve(app.clone(), env.spool.path()).await;
    wait_for_events(&app, account, 3).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !spool_lines(env.spool.path()).is_empty() {
        assert!(Instant::now() < deadline, "the spool is emptied after the replay");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(campaign_totals(&app, c).await, (2, 1, 1));
    assert_eq!(account_totals(&app, account).await, (2, 1, 0, 1, 0));
    let evs = events(&app, account).await;
    assert!(evs.iter().all(|e| e.openid.is_none()), "the replayed unsubscribe erased the OpenID");
    assert_eq!(subscriptions(&app, account).await[0].unsubscribed_at.map(|t| t.timestamp()), Some(T0 + 3));
    // A late retry of a replayed push is a duplicate.
    let late = SimApp { callback_url: Some(format!("{base}/wechat/callback/wx8000000000000001")), ..sim.clone() };
    env.push_ok(&late, "oSpool", &scan).await;
    assert_eq!(events(&app, account).await.len(), 3);
    assert_eq!(campaign_totals(&app, c).await, (2, 1, 1));
});

/// PostgreSQL refuses connections for a while and comes back: the same running server
/// spools, then replays by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_and_recovery_in_one_process() {
    let t = TestDb::new(service::testing::Backend::Postgres, true).await;
    let name = t.url.split('?').next().unwrap().rsplit('/').next().unwrap().to_owned();
    let env = start(t).await;
    let account = add_account(&env.app, "wx8000000000000002", EncryptMode::Plain, "http://127.0.0.1:9").await;
    let c = add_campaign(&env.app, account, "5", None, None).await;
    let sim = env.sim_app("wx8000000000000002", EncryptMode::Plain);
    let gh = sim.original_id.clone();
    env.push_ok(&sim, "oPg", &event_xml(&gh, "oPg", T0, "subscribe", Some("qrscene_5"), None)).await;

    let admin = sea_orm::Database::connect(service::testing::pg_admin_url()).await.unwrap();
    admin.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await.unwrap();
    admin.execute_unprepared(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")).await.unwrap();
    for i in 1..=20 {
        let d = env.push_ok(&sim, "oPg", &event_xml(&gh, "oPg", T0 + i, "SCAN", Some("5"), None)).await;
        assert_eq!(d.body, "success");
    }
    assert_eq!(spool_lines(env.spool.path()).len(), 20);

    admin.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await.unwrap();
    admin.close().await.ok();
    wait_for_events(&env.app, account, 21).await;
    assert_eq!(campaign_totals(&env.app, c).await, (21, 1, 0));
    // And new pushes go straight to the database again.
    let d = env.push_ok(&sim, "oPg", &event_xml(&gh, "oPg", T0 + 100, "SCAN", Some("5"), None)).await;
    assert_eq!(d.body, "success");
    wait_for_events(&env.app, account, 22).await;
    assert!(spool_lines(env.spool.path()).is_empty());
}

/// PostgreSQL picks the writer's batch as a deadlock's victim (another instance holding the
/// same counter rows in the other order): the batch runs again at once, so the push is stored
/// before it is answered, nothing goes to the spool, and the database is not called down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlocked_batch_runs_again_in_place() {
    use sea_orm::TransactionTrait;
    let env = start(TestDb::new(service::testing::Backend::Postgres, true).await).await;
    let account = add_account(&env.app, "wx4000000000000077", EncryptMode::Plain, "http://127.0.0.1:9").await;
    let c = add_campaign(&env.app, account, "77", None, None).await;
    let sim = env.sim_app("wx4000000000000077", EncryptMode::Plain);
    let gh = sim.original_id.clone();
    env.push_ok(&sim, "oFirst", &event_xml(&gh, "oFirst", T0 + 10, "SCAN", Some("77"), Some("T"))).await;
    let hour = campaign_hourly::Entity::find().one(&env.app.db).await.unwrap().expect("a counter row").hour;

    // The other side: locks the account's counter row first (the writer takes the campaign's
    // first), and waits longer than the writer before looking for deadlocks, so PostgreSQL
    // aborts the writer's transaction, not this one.
    let other = env.app.db.begin().await.unwrap();
    other.execute_unprepared("SET LOCAL deadlock_timeout = '30s'").await.unwrap();
    other
        .execute_unprepared(&format!("UPDATE account_hourly SET scans = scans WHERE account_id = {account} AND hour = {hour}"))
        .await
        .unwrap();
    let second = event_xml(&gh, "oSecond", T0 + 20, "SCAN", Some("77"), Some("T"));
    let (delivery, ()) = tokio::join!(env.push(&sim, "oSecond", &second), async {
        // Once the writer waits for the account row `other` holds, take the campaign row
        // it already has: a deadlock, with the writer as the victim.
        service::testing::wait_for_lock_waiter(&env.app.db, std::time::Duration::from_secs(10)).await;
        other
            .execute_unprepared(&format!("UPDATE campaign_hourly SET scans = scans WHERE campaign_id = {c} AND hour = {hour}"))
            .await
            .expect("the writer is the deadlock's victim, not this transaction");
        other.commit().await.unwrap();
    });
    let d = delivery.unwrap();
    assert_eq!((d.status, d.body.as_str()), (200, "success"));
    // Stored by the time it was answered: not parked in the spool for a later replay.
    assert_eq!(events(&env.app, account).await.len(), 2);
    assert_eq!(env.app.health.ingest().db_down_since, None, "a deadlock is not the database being down");
    let row = campaign_hourly::Entity::find().one(&env.app.db).await.unwrap().unwrap();
    assert_eq!(row.scans, 2);
}
