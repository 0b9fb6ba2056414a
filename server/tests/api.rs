//! `/api/v1` over real HTTP on SQLite and PostgreSQL: keys (scope, expiry, revocation, rate
//! limit), every route's answers against the counters inserted, problem details, cursor paging,
//! the CSV exports read with a key, and the OpenAPI document against the routes it describes.

mod support;

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::Value;
use service::api_keys::{self, NewKey};
use service::dual_test;
use service::entity::{api_key, audit_log};
use service::testing::TestDb;
use support::{Running, campaign as create, counts, start};

/// Two accounts on one simulator: the sandbox (Asia/Shanghai) and a second one.
async fn two_accounts(r: &Running) -> (wechat::sim::SimHandle, i32, i32) {
    use wechat::sim::{SimApp, SimConfig};
    let other = SimApp::new("wx00000000000000b2", "second-secret");
    let (sim, a) = support::sandbox_account_on(r, SimConfig::with_apps(vec![SimApp::sandbox(), other.clone()])).await;
    let input = service::accounts::AccountInput {
        name: "Second".into(),
        app_id: other.app_id.clone(),
        app_secret: Some(other.secret.clone()),
        token: "secondtoken".into(),
        aes_key: None,
        message_mode: "plain".into(),
        api_base_url: Some(sim.base_url()),
        timezone: Some("UTC".into()),
    };
    let b = service::accounts::create(&r.state, input, None).await.unwrap().id;
    (sim, a, b)
}

async fn key(r: &Running, name: &str, account: Option<i32>, days: Option<&str>) -> (i32, String) {
    let new = NewKey { name: name.into(), account_id: account, expires_days: days.map(str::to_owned) };
    let (k, secret) = api_keys::create(&r.t.db, &new, None, Utc::now()).await.unwrap();
    (k.id, secret)
}

/// GET `path` with `key` (none if empty): status, headers, body as JSON (or a string).
async fn get(r: &Running, path: &str, key: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = r.http.get(format!("{}{path}", r.base));
    if !key.is_empty() {
        req = req.header(AUTHORIZATION, format!("Bearer {key}"));
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A 200 answer's JSON.
async fn ok(r: &Running, path: &str, key: &str) -> Value {
    let (status, headers, body) = get(r, path, key).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    assert_eq!(headers[CONTENT_TYPE], "application/json", "{path}");
    body
}

/// A problem-details answer: checks its shape and returns it.
async fn problem(r: &Running, path: &str, key: &str, status: StatusCode) -> (reqwest::header::HeaderMap, Value) {
    let (got, headers, body) = get(r, path, key).await;
    assert_eq!(got, status, "{path}: {body}");
    assert_eq!(headers[CONTENT_TYPE], "application/problem+json", "{path}");
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["title"], status.canonical_reason().unwrap());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    (headers, body)
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

dual_test!(keys_read_their_accounts_only, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, a, b) = two_accounts(&r).await;
    let a1 = create(&r, a, "海报 A1", Some("门店")).await;
    let a2 = create(&r, a, "Flyer A2", Some("门店")).await;
    let b1 = create(&r, b, "Poster B1", Some("门店")).await;
    counts(&r, a1.id, "2026-03-01T16:00:00Z", (3, 2, 1)).await; // Mar 2 00:00 in Shanghai
    counts(&r, a1.id, "2026-03-03T15:00:00Z", (7, 0, 2)).await; // Mar 3 23:00 in Shanghai, Mar 3 15:00 UTC
    counts(&r, a2.id, "2026-03-02T04:00:00Z", (4, 4, 0)).await;
    counts(&r, b1.id, "2026-03-02T04:00:00Z", (9, 9, 9)).await;
    let (_, all) = key(&r, "Power BI", None, None).await;
    let (scoped_id, scoped) = key(&r, "Shop A sheet", Some(a), Some("30")).await;

    // Without a key, with another scheme, with an unknown key: 401 and the challenge.
    let (h, _) = problem(&r, "/api/v1/accounts", "", StatusCode::UNAUTHORIZED).await;
    assert_eq!(h[WWW_AUTHENTICATE], "Bearer realm=\"sceneboard\"");
    let (h, _) = problem(&r, "/api/v1/accounts", "sbk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", StatusCode::UNAUTHORIZED).await;
    assert_eq!(h[WWW_AUTHENTICATE], "Bearer realm=\"sceneboard\", error=\"invalid_token\"");
    let res = r.http.get(format!("{}/api/v1/accounts", r.base)).basic_auth("admin", Some("admin-password")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a password is not a key");

    // Accounts and the dashboard: the scoped key sees its one account.
    let names = |v: &Value| v.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(&ok(&r, "/api/v1/accounts", &all).await), ["Sandbox", "Second"]);
    let mine = ok(&r, "/api/v1/accounts", &scoped).await;
    assert_eq!(names(&mine), ["Sandbox"]);
    assert_eq!(mine[0]["timezone"], "Asia/Shanghai");
    assert!(mine[0].get("token").is_none() && mine[0].get("app_secret").is_none(), "never a secret: {mine}");
    assert_eq!(ok(&r, "/api/v1/dashboard", &all).await.as_array().unwrap().len(), 2);
    let board = ok(&r, "/api/v1/dashboard", &scoped).await;
    assert_eq!(board.as_array().unwrap().len(), 1);
    assert_eq!(board[0]["id"], a);
    assert!(board[0]["today"]["scans"].is_i64() && board[0]["week"]["new_followers"].is_i64(), "{board}");
    assert_eq!(ok(&r, &format!("/api/v1/dashboard?account_id={b}"), &all).await[0]["id"], b);

    // Campaigns: the scoped key lists, opens and compares its account's campaigns only.
    assert_eq!(ids(&ok(&r, "/api/v1/campaigns", &all).await), [a1.id as i64, a2.id as i64, b1.id as i64]);
    assert_eq!(ids(&ok(&r, "/api/v1/campaigns", &scoped).await), [a1.id as i64, a2.id as i64]);
    assert!(ids(&ok(&r, &format!("/api/v1/campaigns?account_id={b}"), &scoped).await).is_empty());
    let one = ok(&r, &format!("/api/v1/campaigns/{}", a1.id), &scoped).await;
    assert_eq!((one["name"].as_str(), one["account_id"].as_i64(), one["scans"].as_i64()), (Some("海报 A1"), Some(a as i64), Some(10)));
    problem(&r, &format!("/api/v1/campaigns/{}", b1.id), &scoped, StatusCode::NOT_FOUND).await;
    problem(&r, &format!("/api/v1/campaigns/{}/series", b1.id), &scoped, StatusCode::NOT_FOUND).await;
    problem(&r, "/api/v1/campaigns/999999", &all, StatusCode::NOT_FOUND).await;
    problem(&r, &format!("/api/v1/compare?ids={},{}", a1.id, b1.id), &scoped, StatusCode::NOT_FOUND).await;
    let group = ok(&r, "/api/v1/compare?group=%E9%97%A8%E5%BA%97&from=2026-03-01&to=2026-03-03", &scoped).await;
    let lines: Vec<i64> = group["lines"].as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert_eq!(lines, [a2.id as i64, a1.id as i64], "the group within the key's account, best first by new followers");
    assert_eq!((group["lines"][0]["new_followers"].as_i64(), group["lines"][1]["new_followers"].as_i64()), (Some(4), Some(2)));
    let everyone = ok(&r, "/api/v1/compare?group=%E9%97%A8%E5%BA%97&from=2026-03-01&to=2026-03-03", &all).await;
    assert_eq!(everyone["lines"].as_array().unwrap().len(), 3);

    // The CSV exports take a key too, within its scope, and the audit log names the key.
    let csv = |path: String, key: String| {
        let r = &r;
        async move {
            let res = r.http.get(format!("{}{path}", r.base)).header(AUTHORIZATION, format!("Bearer {key}")).send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let (status, text) = csv("/export/campaigns.csv".into(), scoped.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text.lines().count(), 3, "header and the account's two campaigns: {text}");
    assert!(!text.contains("Poster B1"));
    let (status, _) = csv(format!("/export/campaigns/{}/stats.csv", b1.id), scoped.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, text) = csv(format!("/export/campaigns/{}/stats.csv?from=2026-03-02&to=2026-03-02", a1.id), scoped.clone()).await;
    assert_eq!((status, text.lines().nth(1)), (StatusCode::OK, Some("2026-03-02T00:00:00+08:00,3,2,1,1,0")));
    let audit =
        audit_log::Entity::find().filter(audit_log::Column::Action.eq("export.campaign_stats")).one(&r.t.db).await.unwrap().unwrap();
    assert_eq!(audit.user_id, None);
    assert_eq!(serde_json::from_str::<Value>(&audit.detail).unwrap()["api_key"], scoped_id);

    // Use is noted; revoking and expiry shut a key out at once.
    let used = api_key::Entity::find_by_id(scoped_id).one(&r.t.db).await.unwrap().unwrap();
    assert!(used.last_used_at.is_some_and(|t| Utc::now() - t < Duration::minutes(1)));
    api_keys::revoke(&r.t.db, scoped_id, None, Utc::now()).await.unwrap();
    problem(&r, "/api/v1/accounts", &scoped, StatusCode::UNAUTHORIZED).await;
    let (status, _) = csv("/export/campaigns.csv".into(), scoped.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (old_id, old) = key(&r, "Old", None, Some("1")).await;
    ok(&r, "/api/v1/accounts", &old).await;
    let mut row: api_key::ActiveModel = api_key::Entity::find_by_id(old_id).one(&r.t.db).await.unwrap().unwrap().into();
    row.expires_at = Set(Some(Utc::now() - Duration::seconds(1)));
    row.update(&r.t.db).await.unwrap();
    problem(&r, "/api/v1/accounts", &old, StatusCode::UNAUTHORIZED).await;
    let actions = support::audit_actions(&r, "api_key.").await;
    assert_eq!(actions, ["api_key.create", "api_key.create", "api_key.revoke", "api_key.create"]);
    assert!(
        !audit_log::Entity::find().all(&r.t.db).await.unwrap().iter().any(|e| e.detail.contains(&all[4..])),
        "no secret in the audit log"
    );

    // A key opens no page and no server function: they read the session cookie alone.
    let page = r
        .http
        .get(format!("{}/campaigns", r.base))
        .header(AUTHORIZATION, format!("Bearer {all}"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(page.status().is_redirection(), "to the sign-in page: {}", page.status());
    let call = r.http.post(format!("{}/api/list_campaigns", r.base)).header(AUTHORIZATION, format!("Bearer {all}")).send().await.unwrap();
    assert_eq!(call.status(), StatusCode::UNAUTHORIZED);
});

dual_test!(series_pages_and_refusals, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, a, _b) = two_accounts(&r).await;
    let c = create(&r, a, "Series", None).await;
    counts(&r, c.id, "2026-03-01T16:00:00Z", (3, 2, 1)).await; // Mar 2 00:00 in Shanghai, Mar 1 16:00 UTC
    counts(&r, c.id, "2026-03-03T15:00:00Z", (7, 0, 2)).await; // Mar 3 23:00 in Shanghai
    counts(&r, c.id, "2026-02-26T04:00:00Z", (1, 1, 0)).await; // the period before
    let (_, k) = key(&r, "Script", None, None).await;

    let s = ok(&r, &format!("/api/v1/campaigns/{}/series?from=2026-03-01&to=2026-03-03&granularity=day", c.id), &k).await;
    assert_eq!(s["campaign"]["id"], c.id);
    let points = s["points"].as_array().unwrap();
    let buckets: Vec<&str> = points.iter().map(|p| p["bucket"].as_str().unwrap()).collect();
    assert_eq!(buckets, ["2026-03-01T00:00:00+08:00", "2026-03-02T00:00:00+08:00", "2026-03-03T00:00:00+08:00"]);
    assert_eq!(
        (points[1]["scans"].as_i64(), points[1]["new_followers"].as_i64(), points[1]["net_followers"].as_i64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(points[2]["unsubscribes"], 2);
    let n = &s["numbers"];
    assert_eq!(
        (n["from"].as_str(), n["previous_from"].as_str(), n["previous_to"].as_str()),
        (Some("2026-03-01"), Some("2026-02-26"), Some("2026-02-28"))
    );
    assert_eq!(n["timezone"], "Asia/Shanghai");
    let scans = n["cards"].as_array().unwrap().iter().find(|c| c["key"] == "scans").unwrap();
    assert_eq!((scans["value"].as_i64(), scans["previous"].as_i64()), (Some(10), Some(1)));
    assert_eq!(s["previous_points"].as_array().unwrap().len(), 3);
    assert_eq!(s["previous_points"][0]["scans"], 1, "Feb 26 under Mar 1");
    assert!(n["retention"].as_array().is_some_and(|r| !r.is_empty()));

    // Another zone moves the buckets; prev=0 leaves the previous points out.
    let utc = ok(&r, &format!("/api/v1/campaigns/{}/series?from=2026-03-01&to=2026-03-03&granularity=day&tz=UTC&prev=0", c.id), &k).await;
    assert_eq!(utc["points"][0]["bucket"], "2026-03-01T00:00:00+00:00");
    assert_eq!(utc["points"][0]["scans"], 3, "16:00 UTC is still Mar 1 in UTC");
    assert_eq!(utc["numbers"]["timezone"], "UTC");
    assert!(utc["previous_points"].as_array().unwrap().is_empty());

    // Bad parameters are 422 naming the parameter.
    for (query, param) in [
        ("granularity=year", "granularity"),
        ("from=2026-13-01&to=2026-12-31", "from"),
        ("tz=Mars/Olympus", "tz"),
        ("metrics=likes", "metrics"),
    ] {
        let (_, p) = problem(&r, &format!("/api/v1/campaigns/{}/series?{query}", c.id), &k, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(p["param"], param, "{query}: {p}");
    }
    for (query, param) in [("limit=0", "limit"), ("limit=201", "limit"), ("cursor=nonsense", "cursor"), ("status=sleeping", "status")] {
        let (_, p) = problem(&r, &format!("/api/v1/campaigns?{query}"), &k, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(p["param"], param, "{query}: {p}");
    }
    let (_, p) = problem(&r, "/api/v1/compare?ids=one,two", &k, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["param"], "ids");

    // Paging by cursor: every campaign once, in id order, however the pages are cut, and a
    // campaign added meanwhile is not skipped.
    for i in 0..4 {
        create(&r, a, &format!("Extra {i}"), None).await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/campaigns?limit=2&q=e".to_owned();
    let mut pages = 0;
    loop {
        let page = ok(&r, &path, &k).await;
        seen.extend(ids(&page));
        pages += 1;
        if pages == 1 {
            create(&r, a, "Extra late", None).await;
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/campaigns?limit=2&q=e&cursor={cursor}"),
            None => break,
        }
    }
    let all_ids = ids(&ok(&r, "/api/v1/campaigns?limit=200&q=e", &k).await);
    assert_eq!(all_ids.len(), 6, "Series and five extras match `e`");
    assert_eq!(seen, all_ids);
    assert_eq!(pages, 3);
});

dual_test!(a_key_over_its_rate_waits, |t: TestDb| async move {
    let r = start(t).await;
    let (_, busy) = key(&r, "Loop", None, None).await;
    let (_, calm) = key(&r, "Calm", None, None).await;
    let mut limited = None;
    // The budget refills at 5 a second, so a few more may pass while the loop runs.
    for i in 0..server::api::key::BURST + 20 {
        let (status, headers, body) = get(&r, "/api/v1/accounts", &busy).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, headers, body));
            break;
        }
        assert_eq!(status, StatusCode::OK);
    }
    let (i, headers, body) = limited.expect("the request after the burst is refused");
    assert!(i >= server::api::key::BURST, "the whole burst is let in, then the key waits: refused at {i}");
    let wait: u64 = headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(headers[CONTENT_TYPE], "application/problem+json");
    assert!(body["detail"].as_str().unwrap().contains("300 requests a minute"), "{body}");
    ok(&r, "/api/v1/accounts", &calm).await;
    assert!(r.metric("api_rate_limited_total", &[]).await >= 1.0);
});

dual_test!(the_document_describes_every_route, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, a, _b) = two_accounts(&r).await;
    let c = create(&r, a, "Documented", Some("G")).await;
    create(&r, a, "Documented too", Some("G")).await;
    let (_, k) = key(&r, "Docs", None, None).await;
    let doc = ok(&r, "/api/v1/openapi.json", "").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "/api/v1/accounts",
            "/api/v1/campaigns",
            "/api/v1/campaigns/{id}",
            "/api/v1/campaigns/{id}/series",
            "/api/v1/compare",
            "/api/v1/dashboard"
        ]
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    // Each route answers as documented: 200 with the documented schema's required fields, and
    // 401 without a key.
    for (path, item) in paths {
        let url = path.replace("{id}", &c.id.to_string()) + if path.ends_with("compare") { "?group=G" } else { "" };
        let op = &item["get"];
        assert!(op["security"].as_array().is_some_and(|s| !s.is_empty()), "{path} asks for a key");
        let body = ok(&r, &url, &k).await;
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        let (instance, schema) = match schema["type"].as_str() {
            Some("array") => (body[0].clone(), &schema["items"]),
            _ => (body.clone(), schema),
        };
        let name = schema["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        for field in schemas[name]["required"].as_array().unwrap() {
            assert!(instance.get(field.as_str().unwrap()).is_some(), "{path}: {field} of {name} missing in {instance}");
        }
        problem(&r, &url, "", StatusCode::UNAUTHORIZED).await;
        assert!(op["responses"]["401"]["content"]["application/problem+json"]["schema"]["$ref"].as_str().unwrap().ends_with("/Problem"));
    }
    let page = r.http.get(format!("{}/api/v1/docs", r.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for path in paths.keys() {
        assert!(html.contains(path.as_str()), "the reference page shows {path}");
    }
    assert!(html.contains("id=\"schema-CampaignSeries\""));
});
