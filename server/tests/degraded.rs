//! Degraded states, on SQLite and PostgreSQL, through the real server and the simulator: a
//! WeChat API that is slow (10 s) or down, and a database that stops answering. Each time the
//! request ends in bounded time with an error in words, nothing half-done is stored, and every
//! signed-in page carries a banner that says what is wrong (`app::api::status`) — until it is not.

mod support;

use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use service::dual_test;
use service::entity::campaign;
use service::testing::TestDb;
use std::time::{Duration, Instant};
use support::{Running, sandbox_account, start};
use wechat::sim::Faults;

async fn create(r: &Running, cookie: &str, account: i32, name: &str) -> (StatusCode, String, Duration) {
    let started = Instant::now();
    let account = account.to_string();
    let res = r.call("create_campaign", cookie, &[("account_id", &account), ("name", name), ("kind", "permanent")]).await;
    let status = res.status();
    (status, res.text().await.unwrap(), started.elapsed())
}

async fn status(r: &Running, cookie: &str) -> serde_json::Value {
    let res = r.call("service_status", cookie, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// The page's text: without the comment markers the server puts between the pieces of an
/// interpolated sentence (for hydration).
fn text(html: String) -> String {
    let html = html.replace("<!>", "");
    let mut out = String::with_capacity(html.len());
    let mut rest = html.as_str();
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        rest = rest[start..].find("-->").map_or("", |end| &rest[start + end + 3..]);
    }
    out.push_str(rest);
    out
}

/// The dashboard page as a browser gets it (server-rendered, JavaScript or not), in English.
async fn dashboard(r: &Running, cookie: &str) -> String {
    let res = r.get("/", &format!("{cookie}; i18n_pref_locale=en")).await;
    assert_eq!(res.status(), StatusCode::OK);
    text(res.text().await.unwrap())
}

dual_test!(a_slow_or_failing_wechat_is_said_in_words, |t: TestDb| async move {
    let r = start(t).await;
    let (sim, account) = sandbox_account(&r).await;
    let staff = r.login("staff", "staff-password").await;

    // Healthy: a code is issued, no banner.
    let (code, _, _) = create(&r, &staff, account, "Poster A").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(status(&r, &staff).await["apis"], serde_json::json!([]));
    assert!(!dashboard(&r, &staff).await.contains("data-testid=\"status-banner\""));

    // WeChat takes 10 s (a little more): the request gives up at the client's 10 s timeout
    // with WeChat named as the reason, and nothing is stored.
    sim.state.set_faults(Faults { delay: Duration::from_millis(10_500), down: false });
    // (In English: server function errors speak the language of the page.)
    let (code, body, took) = create(&r, &format!("{staff}; i18n_pref_locale=en"), account, "Poster B").await;
    assert_eq!(code, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("did not answer in time"), "{body}");
    assert!(took < Duration::from_secs(15), "bounded: {took:?}");
    assert_eq!(campaign::Entity::find().count(&r.t.db).await.unwrap(), 1, "no campaign without a code");
    let s = status(&r, &staff).await;
    assert_eq!(s["apis"][0]["account"], "Sandbox");
    assert_eq!(s["apis"][0]["kind"], "timeout");
    let page = dashboard(&r, &staff).await;
    assert!(page.contains("WeChat is not answering for Sandbox"), "banner in words");
    assert!(page.contains("it did not answer in time"));
    // The same in Chinese (the default language).
    let zh = text(r.get("/", &staff).await.text().await.unwrap());
    assert!(zh.contains("微信接口对「Sandbox」没有正常响应（响应超时）"), "Chinese banner");

    // WeChat's gateway down: fails fast, still in words; the failing started at the first
    // failure, which stays the banner's "since".
    let since = s["apis"][0]["since"].clone();
    sim.state.set_faults(Faults { delay: Duration::ZERO, down: true });
    let (code, body, took) = create(&r, &staff, account, "Poster C").await;
    assert_eq!(code, StatusCode::BAD_GATEWAY, "{body}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let s = status(&r, &staff).await;
    assert_eq!(s["apis"].as_array().unwrap().len(), 1);
    assert_eq!(s["apis"][0]["since"], since);
    assert!(s["apis"][0]["kind"].is_string(), "{s}");

    // Every signed-in page carries it, not only the dashboard.
    let res = r.get("/campaigns", &staff).await;
    assert!(res.text().await.unwrap().contains("data-testid=\"status-api\""));

    // WeChat back: the next call clears it.
    sim.state.set_faults(Faults::default());
    let (code, body, _) = create(&r, &staff, account, "Poster D").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(status(&r, &staff).await["apis"], serde_json::json!([]));
    assert!(!dashboard(&r, &staff).await.contains("data-testid=\"status-banner\""));
    assert_eq!(campaign::Entity::find().count(&r.t.db).await.unwrap(), 2);

    // Anonymous callers learn nothing.
    let res = r.http.post(format!("{}/api/service_status", r.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
});

dual_test!(a_database_that_stops_answering_is_said_in_words, |t: TestDb| async move {
    let mut r = start(t).await;
    let staff = r.login("staff", "staff-password").await;
    assert_eq!(r.get("/campaigns", &staff).await.status(), StatusCode::OK);
    // Only the test's handle closes (SQLite) or loses (PostgreSQL) the database; the server
    // shares the pool, so it loses it too.
    r.t.make_unreachable().await;
    let started = Instant::now();
    let res = r.get("/campaigns", &format!("{staff}; i18n_pref_locale=en")).await;
    let took = started.elapsed();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = text(res.text().await.unwrap());
    assert!(page.contains("cannot reach its database right now"), "said in words");
    assert!(page.contains("Nothing is lost"));
    assert!(took < Duration::from_secs(15), "bounded: {took:?}");
    let res = r.call("list_campaigns", &staff, &[]).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
});
