//! Forged pushes from captured query strings (issue 26, item 1) and floods during an outage
//! (item 2): a `timestamp` outside the window is refused, a signed triple is bound to the body
//! it first came with, and a full spool answers 503 without losing what it acknowledged.

mod support;

use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use server::routes::callback::REFUSED_SIGNATURE;
use service::dual_test;
use service::entity::event;
use service::ingest::IngestOptions;
use service::testing::TestDb;
use std::time::Duration;
use support::{Running, query_string, signed_encrypted_now, signed_now};
use wechat::xml::{envelope_xml, event_xml};

const PLAIN: &str = "wx7200000000000001";
const COMPAT: &str = "wx7200000000000002";
const TOKEN: &str = "forgerytoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH";

async fn add_account(r: &Running, app_id: &str, token: &str, mode: &str) {
    service::accounts::create(&r.state, account_input(app_id, token, mode), None).await.unwrap();
}

fn account_input(app_id: &str, token: &str, mode: &str) -> service::accounts::AccountInput {
    service::accounts::AccountInput {
        name: format!("Forgery {mode}"),
        app_id: app_id.into(),
        app_secret: Some("secret".into()),
        token: token.into(),
        aes_key: (mode != "plain").then(|| KEY.to_owned()),
        message_mode: mode.into(),
        api_base_url: Some("http://127.0.0.1:9".into()),
        timezone: None,
    }
}

async fn post(r: &Running, app_id: &str, query: &[(&str, String)], body: String) -> (StatusCode, String) {
    let res = r.http.post(format!("{}/wechat/callback/{app_id}?{}", r.base, query_string(query))).body(body).send().await.unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

async fn events(r: &Running) -> u64 {
    event::Entity::find().count(&r.t.db).await.unwrap()
}

/// The value of `sceneboard_callback_events_total{result="…"}` in `/metrics` (0 if absent).
async fn counted(r: &Running, result: &str) -> f64 {
    let text = r.http.get(format!("{}/metrics", r.base)).send().await.unwrap().text().await.unwrap();
    let series = format!("sceneboard_callback_events_total{{result=\"{result}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&series)).map_or(0.0, |v| v.trim().parse().unwrap())
}

fn subscribe(openid: &str) -> String {
    event_xml("gh_forgery", openid, chrono::Utc::now().timestamp(), "subscribe", Some("qrscene_1"), None)
}

dual_test!(a_captured_query_string_signs_no_other_body, |t: TestDb| async move {
    let r = support::start(t).await;
    add_account(&r, PLAIN, TOKEN, "plain").await;
    let replayed_before = counted(&r, "replayed").await;

    let captured = signed_now(TOKEN);
    let real = subscribe("oReal");
    assert_eq!(post(&r, PLAIN, &captured, real.clone()).await, (StatusCode::OK, "success".into()));
    // WeChat's retry: the same query with the same body is answered as before, stored once.
    assert_eq!(post(&r, PLAIN, &captured, real).await, (StatusCode::OK, "success".into()));
    assert_eq!(events(&r).await, 1);
    // The same signed query with any other body is a forgery.
    for forged in [subscribe("oForged1"), subscribe("oForged2"), event_xml("gh_forgery", "oReal", 1, "unsubscribe", Some(""), None)] {
        assert_eq!(post(&r, PLAIN, &captured, forged).await, (StatusCode::FORBIDDEN, REFUSED_SIGNATURE.into()));
    }
    assert_eq!(events(&r).await, 1, "no forged push stored");
    assert!(counted(&r, "replayed").await >= replayed_before + 3.0, "refusals are counted in /metrics");
    // A fresh signature still works for a new push.
    assert_eq!(post(&r, PLAIN, &signed_now(TOKEN), subscribe("oNext")).await.0, StatusCode::OK);
    assert_eq!(events(&r).await, 2);
});

// An admin who changes a Token (it leaked, say) stops the old one at once on this instance,
// not after the callback's 30 s account cache: the account update itself tells the cache.
dual_test!(a_changed_token_signs_from_the_next_push_on, |t: TestDb| async move {
    let r = support::start(t).await;
    add_account(&r, PLAIN, TOKEN, "plain").await;
    assert_eq!(post(&r, PLAIN, &signed_now(TOKEN), subscribe("oBefore")).await.0, StatusCode::OK);
    let id = service::accounts::find_by_app_id(&r.t.db, PLAIN).await.unwrap().unwrap().id;
    let renewed = "renewedtoken";
    service::accounts::update(&r.state, id, account_input(PLAIN, renewed, "plain"), None).await.unwrap();
    assert_eq!(post(&r, PLAIN, &signed_now(TOKEN), subscribe("oOld")).await, (StatusCode::FORBIDDEN, REFUSED_SIGNATURE.into()));
    assert_eq!(post(&r, PLAIN, &signed_now(renewed), subscribe("oNew")).await.0, StatusCode::OK);
    assert_eq!(events(&r).await, 2);
});

dual_test!(a_compat_push_lends_its_signature_to_no_plaintext_body, |t: TestDb| async move {
    let r = support::start(t).await;
    add_account(&r, COMPAT, TOKEN, "compat").await;
    // WeChat's compat-mode push carries `signature` as well as `msg_signature`.
    let crypt = wechat::MsgCrypt::new(KEY, COMPAT).unwrap();
    let plain = subscribe("oCompat");
    let encrypt = crypt.encrypt(&plain).unwrap();
    let captured = signed_encrypted_now(TOKEN, &encrypt);
    assert_eq!(post(&r, COMPAT, &captured, envelope_xml("gh_forgery", &encrypt, Some(&plain))).await.0, StatusCode::OK);
    // Its `signature`, `timestamp` and `nonce` without the encryption: a plaintext forgery.
    let lent: Vec<_> = captured.iter().filter(|(k, _)| !matches!(*k, "encrypt_type" | "msg_signature")).cloned().collect();
    assert_eq!(post(&r, COMPAT, &lent, subscribe("oForged")).await, (StatusCode::FORBIDDEN, REFUSED_SIGNATURE.into()));
    assert_eq!(events(&r).await, 1);
});

dual_test!(timestamps_outside_the_window_are_refused, |t: TestDb| async move {
    let r = support::start(t).await;
    add_account(&r, PLAIN, TOKEN, "plain").await;
    let stale_before = counted(&r, "stale").await;
    let now = chrono::Utc::now().timestamp();
    let at = |ts: String| {
        let nonce = support::fresh_stamp().1;
        vec![("signature", wechat::signature(TOKEN, &ts, &nonce)), ("timestamp", ts), ("nonce", nonce)]
    };
    // Properly signed, but long ago, too far ahead, or not a time at all.
    for ts in [(now - 301).to_string(), (now + 301).to_string(), "1714037059".into(), "soon".into(), String::new()] {
        let (status, text) = post(&r, PLAIN, &at(ts.clone()), subscribe(&format!("o{ts}"))).await;
        assert_eq!((status, text.as_str()), (StatusCode::FORBIDDEN, REFUSED_SIGNATURE), "timestamp {ts:?}");
    }
    assert_eq!(events(&r).await, 0);
    assert!(counted(&r, "stale").await >= stale_before + 5.0);
    // Within the window, either side: stored.
    for ts in [now - 290, now + 290] {
        assert_eq!(post(&r, PLAIN, &at(ts.to_string()), subscribe(&format!("o{ts}"))).await.0, StatusCode::OK);
    }
    assert_eq!(events(&r).await, 2);
    // URL verification too: an old signed verification URL is no good.
    let verify = |ts: String| {
        let mut q = at(ts);
        q.push(("echostr", "4375120948".into()));
        r.http.get(format!("{}/wechat/callback/{PLAIN}?{}", r.base, query_string(&q))).send()
    };
    assert_eq!(verify((now - 3600).to_string()).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(verify(now.to_string()).await.unwrap().text().await.unwrap(), "4375120948");
});

dual_test!(with_the_window_off_wechats_published_vector_verifies, |t: TestDb| async move {
    // WeChat's documented URL-verification example (Token "AAAAA"), signed in 2024: refused
    // under the default window, accepted with `SCENEBOARD_CALLBACK_MAX_SKEW=0`.
    let app = t.state();
    let r = support::start_with(t, app.clone(), IngestOptions { max_skew: 0, ..IngestOptions::default() }).await;
    add_account(&r, PLAIN, "AAAAA", "plain").await;
    let vector = "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492&echostr=4375120948345356249";
    let res = r.http.get(format!("{}/wechat/callback/{PLAIN}?{vector}", r.base)).send().await.unwrap();
    assert_eq!((res.status(), res.text().await.unwrap()), (StatusCode::OK, "4375120948345356249".into()));
    let windowed = support::serve_with_options(app, IngestOptions::default()).await;
    let res = r.http.get(format!("{windowed}/wechat/callback/{PLAIN}?{vector}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
});

dual_test!(a_full_spool_answers_503_and_keeps_what_it_acknowledged, |t: TestDb| async move {
    let data = tempfile::tempdir().unwrap();
    // Room for a few pushes only.
    let opts = IngestOptions { spool_max_bytes: 1500, ..IngestOptions::with_spool_dir(data.path()) };
    let app = t.state();
    let r = support::start_with(t, app.clone(), opts.clone()).await;
    add_account(&r, PLAIN, TOKEN, "plain").await;
    assert_eq!(post(&r, PLAIN, &signed_now(TOKEN), subscribe("oBefore")).await.0, StatusCode::OK);

    // The database goes away: pushes are journaled until the spool is full, then refused.
    r.t.db.close_by_ref().await.unwrap();
    let (mut acked, mut refused) = (Vec::new(), 0);
    for i in 0..30 {
        let openid = format!("oOutage{i}");
        match post(&r, PLAIN, &signed_now(TOKEN), subscribe(&openid)).await {
            (StatusCode::OK, _) => acked.push(openid),
            (StatusCode::SERVICE_UNAVAILABLE, text) => {
                assert_eq!(text, "try again later");
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(acked.len() >= 2 && refused >= 20, "acked {}, refused {refused}", acked.len());
    let on_disk = std::fs::metadata(data.path().join(service::ingest::SPOOL_FILE)).unwrap().len();
    assert!(on_disk <= 1500, "the spool stays within its cap: {on_disk} bytes");

    // Back (a new connection): every acknowledged push is stored, once; none of the refused.
    let db = service::db::connect(&r.t.url).await.unwrap();
    let back = service::AppState { db: db.clone(), ..app };
    let base = support::serve_with_options(back, opts).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while event::Entity::find().count(&db).await.unwrap() < 1 + acked.len() as u64 {
        assert!(std::time::Instant::now() < deadline, "the spool is replayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored: Vec<String> = event::Entity::find().all(&db).await.unwrap().into_iter().filter_map(|e| e.openid).collect();
    assert_eq!(stored.len(), 1 + acked.len(), "{stored:?}");
    assert!(acked.iter().all(|o| stored.contains(o)), "{stored:?}");
    // And the spool takes pushes again once it has drained.
    let res = r
        .http
        .post(format!("{base}/wechat/callback/{PLAIN}?{}", query_string(&signed_now(TOKEN))))
        .body(subscribe("oAfter"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
});

dual_test!(settings_advise_safe_mode_to_accounts_outside_it, |t: TestDb| async move {
    let r = support::start(t).await;
    add_account(&r, PLAIN, TOKEN, "plain").await;
    add_account(&r, COMPAT, TOKEN, "safe").await;
    let cookie = r.login("admin", "admin-password").await;
    let page = r.get("/settings", &cookie).await.text().await.unwrap();
    let cards: Vec<&str> = page.split("data-testid=\"account-card\"").skip(1).collect();
    let advised = |app_id: &str| cards.iter().find(|c| c.contains(app_id)).expect("a card").contains("data-testid=\"mode-advice\"");
    assert!(advised(PLAIN), "the plaintext account is advised to switch");
    assert!(!advised(COMPAT), "the safe-mode account is not");
});
