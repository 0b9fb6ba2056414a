//! CSV exports over real HTTP on SQLite and PostgreSQL: a campaign's series and the list of
//! all campaigns, read back with a CSV reader and compared with the counters inserted.

mod support;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use service::campaigns::{CampaignInput, CampaignView};
use service::dual_test;
use service::entity::{audit_log, scanner_hour};
use service::keys::scanner_key;
use service::testing::TestDb;
use support::{Running, counts, sandbox_account, start};

const BOM: &[u8] = b"\xEF\xBB\xBF";

async fn create(r: &Running, account: i32, name: &str, scene: &str) -> CampaignView {
    let model = service::accounts::model(&r.t.db, account).await.unwrap();
    let api = service::accounts::api_client(&r.state, &model).unwrap();
    let input =
        CampaignInput { account_id: account, name: name.into(), kind: "permanent".into(), scene: Some(scene.into()), ..Default::default() };
    service::campaigns::create(&r.state, api.as_ref(), input, None).await.unwrap()
}

fn at(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

async fn scanned(r: &Running, c: i32, when: &str, who: &str) {
    scanner_hour::ActiveModel { campaign_id: Set(c), hour: Set(at(when)), scanner: Set(scanner_key(&format!("hash-of-{who}"))) }
        .insert(&r.t.db)
        .await
        .unwrap();
}

/// GET `path` with the session `cookie` (none if empty): status, headers and body bytes.
async fn download(r: &Running, path: &str, cookie: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = r.http.get(format!("{}{path}", r.base));
    if !cookie.is_empty() {
        req = req.header(COOKIE, cookie);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.bytes().await.unwrap().to_vec())
}

/// A successful CSV download: checks the headers and the BOM, returns the text after the BOM.
async fn csv_text(r: &Running, path: &str, cookie: &str) -> String {
    let (status, headers, body) = download(r, path, cookie).await;
    assert_eq!(status, StatusCode::OK, "{path}: {}", String::from_utf8_lossy(&body));
    assert_eq!(headers[CONTENT_TYPE], "text/csv; charset=utf-8");
    let disposition = headers[CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".csv\""), "{disposition}");
    assert!(body.starts_with(BOM), "UTF-8 BOM first");
    String::from_utf8(body[BOM.len()..].to_vec()).unwrap()
}

/// A refusal: the status and its one-line message.
async fn refused(r: &Running, path: &str, cookie: &str) -> (StatusCode, String) {
    let (status, _, body) = download(r, path, cookie).await;
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text:?}");
    (status, text.trim_end().to_owned())
}

dual_test!(campaign_series_csv, |t: TestDb| async move {
    let r = start(t).await;
    // The sandbox account takes the default zone, Asia/Shanghai (UTC+8).
    let (_sim, account) = sandbox_account(&r).await;
    let c = create(&r, account, "春季海报, 北京", "spring").await;
    counts(&r, c.id, "2026-03-01T16:00:00Z", (3, 2, 1)).await; // Mar 2 00:00 local
    counts(&r, c.id, "2026-03-01T17:00:00Z", (5, 0, 0)).await; // Mar 2 01:00 local
    counts(&r, c.id, "2026-03-03T15:00:00Z", (7, 0, 2)).await; // Mar 3 23:00 local
    counts(&r, c.id, "2026-03-03T16:00:00Z", (100, 0, 0)).await; // Mar 4: outside
    scanned(&r, c.id, "2026-03-01T16:00:00Z", "alice").await;
    scanned(&r, c.id, "2026-03-01T17:00:00Z", "alice").await;
    scanned(&r, c.id, "2026-03-01T17:00:00Z", "bob").await;
    scanned(&r, c.id, "2026-03-03T15:00:00Z", "alice").await;
    let cookie = r.login("staff", "staff-password").await;

    let path = format!("/export/campaigns/{}/stats.csv?from=2026-03-01&to=2026-03-03&granularity=day", c.id);
    let text = csv_text(&r, &path, &cookie).await;
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "bucket,scans,new_followers,unsubscribes,net_followers,unique_scanners",
            "2026-03-01T00:00:00+08:00,0,0,0,0,0",
            "2026-03-02T00:00:00+08:00,8,2,1,1,2",
            "2026-03-03T00:00:00+08:00,7,0,2,-2,1",
        ]
    );
    let audits = audit_log::Entity::find().filter(audit_log::Column::Action.eq("export.campaign_stats")).count(&r.t.db).await.unwrap();
    assert_eq!(audits, 1);

    // By the hour: 24 local hours of Mar 2.
    let text = csv_text(&r, &format!("/export/campaigns/{}/stats.csv?from=2026-03-02&to=2026-03-02&granularity=hour", c.id), &cookie).await;
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 25);
    assert_eq!(lines[1], "2026-03-02T00:00:00+08:00,3,2,1,1,1");
    assert_eq!(lines[2], "2026-03-02T01:00:00+08:00,5,0,0,0,2");
    assert_eq!(lines[24], "2026-03-02T23:00:00+08:00,0,0,0,0,0");

    // No parameters: the last 30 days ending today in the account's zone, by day.
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let text = csv_text(&r, &format!("/export/campaigns/{}/stats.csv", c.id), &cookie).await;
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 31, "header and 30 days");
    assert!(lines[30].starts_with(&format!("{today}T00:00:00+08:00,")), "{}", lines[30]);
    assert!(lines[1].starts_with(&format!("{}T00:00:00+08:00,", today - chrono::Days::new(29))), "{}", lines[1]);

    // Bad parameters name themselves; unknown campaigns are 404; no session is 401.
    let (status, msg) = refused(&r, &format!("/export/campaigns/{}/stats.csv?granularity=year", c.id), &cookie).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(msg.starts_with("granularity:"), "{msg}");
    let (status, msg) = refused(&r, &format!("/export/campaigns/{}/stats.csv?from=2026-13-01&to=2026-12-31", c.id), &cookie).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(msg.starts_with("from:"), "{msg}");
    let (status, msg) = refused(&r, &format!("/export/campaigns/{}/stats.csv?from=2026-03-05&to=2026-03-01", c.id), &cookie).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(msg.starts_with("from:"), "{msg}");
    let (status, msg) =
        refused(&r, &format!("/export/campaigns/{}/stats.csv?from=2026-01-01&to=2026-03-01&granularity=hour", c.id), &cookie).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(msg.starts_with("granularity:"), "{msg}");
    let (status, _) = refused(&r, "/export/campaigns/999999/stats.csv?from=2026-03-01&to=2026-03-03", &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = refused(&r, &path, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = refused(&r, &path, "sb_session=forged").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});

dual_test!(campaigns_csv_lists_every_campaign_with_totals, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let tricky = "春季海报, 北京 \"A\"";
    let c1 = create(&r, account, tricky, "spring").await;
    let c2 = create(&r, account, "Quiet", "42").await;
    service::campaigns::archive(&r.state, c2.id, None).await.unwrap();
    counts(&r, c1.id, "2025-01-01T00:00:00Z", (10, 4, 1)).await;
    counts(&r, c1.id, "2026-06-01T00:00:00Z", (5, 1, 2)).await;
    scanned(&r, c1.id, "2026-06-01T00:00:00Z", "gina").await;
    let cookie = r.login("staff", "staff-password").await;

    let text = csv_text(&r, "/export/campaigns.csv", &cookie).await;
    assert_eq!(text.lines().next(), Some("id,name,kind,scene,scans,new_followers,unsubscribes,net_followers"));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    let expect = |c: &CampaignView, totals: [&str; 4]| {
        let mut v = vec![c.id.to_string(), c.name.clone(), "permanent".to_owned(), c.scene.clone()];
        v.extend(totals.iter().map(|s| (*s).to_owned()));
        v
    };
    assert_eq!(rows, vec![expect(&c1, ["15", "5", "3", "2"]), expect(&c2, ["0", "0", "0", "0"])]);
    assert_eq!(rows[0][1], tricky, "the name round-trips through a CSV reader");
    let audits = audit_log::Entity::find().filter(audit_log::Column::Action.eq("export.campaigns")).count(&r.t.db).await.unwrap();
    assert_eq!(audits, 1);

    let (status, _) = refused(&r, "/export/campaigns.csv", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});

dual_test!(campaign_chart_is_an_accessible_svg, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let c = create(&r, account, "海报", "chart-1").await;
    counts(&r, c.id, "2026-03-01T04:00:00Z", (7, 3, 1)).await;
    counts(&r, c.id, "2026-03-03T04:00:00Z", (5, 2, 0)).await;
    let staff = r.login("staff", "staff-password").await;
    let path = format!("/campaigns/{}/chart.svg?from=2026-03-01&to=2026-03-07&granularity=day", c.id);

    let res = r.http.get(format!("{}{path}", r.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = r.http.get(format!("{}{path}", r.base)).header(COOKIE, &staff).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("image/svg+xml"));
    let svg = res.text().await.unwrap();
    assert!(svg.starts_with("<svg role=\"img\" "), "{}", &svg[..80.min(svg.len())]);
    assert!(svg.contains("<title>渠道趋势 · 海报</title>"), "Chinese by default");
    assert!(svg.contains("扫码次数 12 · 新增关注 5 · 取消关注 1"), "totals in the description: {svg}");
    // The week before is the previous period, drawn dashed, with its own totals (none).
    assert!(svg.contains("上一周期 2026-02-22 – 2026-02-28: 扫码次数 0"), "{svg}");
    assert!(svg.contains(">\n上一周期（虚线）\n</text>") || svg.contains(">上一周期（虚线）</text>"), "legend of the dashed lines");
    // A readout column per day with the exact values; its CSS travels in the file.
    assert_eq!(svg.matches("class=\"sb-col\"").count(), 7);
    assert!(svg.contains(">扫码次数: 7 (上一周期 0)</tspan>"), "readout of March 1");
    assert!(svg.contains("<style>.sb-tip"));
    assert!(svg.contains("\n3月1日\n</text>") && svg.contains("2026年3月7日 周六"), "day labels in the zone, in Chinese form");
    let en = r.http.get(format!("{}{path}&lang=en", r.base)).header(COOKIE, &staff).send().await.unwrap().text().await.unwrap();
    assert!(
        en.contains("Scans 12 · New followers 5 · Unsubscribes 1")
            && en.contains("\nScans\n</text>")
            && en.contains("\n1 Mar\n</text>")
            && en.contains("Sat 7 Mar 2026"),
        "English legend: {en}"
    );
    // Only the metrics asked for, without the previous period.
    let only = format!("{path}&metrics=unique_scanners&metrics=net_followers&prev=0&lang=en");
    let svg = r.http.get(format!("{}{only}", r.base)).header(COOKIE, &staff).send().await.unwrap().text().await.unwrap();
    assert!(svg.contains("\nNet followers\n</text>") && svg.contains("\nUnique scanners\n</text>") && !svg.contains("\nScans\n</text>"));
    assert!(!svg.contains("Previous period (dashed)"));
    let bad = r.http.get(format!("{}{path}&metrics=likes", r.base)).header(COOKIE, &staff).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().starts_with("metrics:"));
    // The PNG is the same chart as a picture, twice the size.
    let res = r.http.get(format!("{}{}", r.base, path.replace("chart.svg", "chart.png"))).header(COOKIE, &staff).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "image/png");
    let img = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    // The wide drawing (900 units, 380 plus the legend's row) at twice the size.
    assert_eq!((img.width(), img.height()), (1800, 2 * (380 + 22)));
    let bad = r.http.get(format!("{}{path}&granularity=year", r.base)).header(COOKIE, &staff).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let missing = r.http.get(format!("{}/campaigns/99999/chart.svg", r.base)).header(COOKIE, &staff).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
});

dual_test!(compare_export_matches_the_view, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let a = create(&r, account, "海报, \"A\"", "cmp-a").await;
    let b = create(&r, account, "Counter", "cmp-b").await;
    counts(&r, a.id, "2026-03-02T04:00:00Z", (9, 4, 1)).await;
    counts(&r, b.id, "2026-03-03T04:00:00Z", (3, 7, 0)).await;
    scanned(&r, a.id, "2026-03-02T04:00:00Z", "ann").await;
    scanned(&r, a.id, "2026-03-02T05:00:00Z", "ann").await;
    scanned(&r, a.id, "2026-03-02T05:00:00Z", "bob").await;
    let staff = r.login("staff", "staff-password").await;
    let q = format!("ids={}&ids={}&from=2026-03-01&to=2026-03-07&metric=new_followers", a.id, b.id);

    let text = csv_text(&r, &format!("/export/compare.csv?{q}"), &staff).await;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        vec!["id", "name", "group", "from", "to", "scans", "new_followers", "unsubscribes", "net_followers", "unique_scanners"]
    );
    let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    let row = |c: &CampaignView, v: [&str; 5]| {
        let mut out = vec![c.id.to_string(), c.name.clone(), String::new(), "2026-03-01".into(), "2026-03-07".into()];
        out.extend(v.iter().map(|s| (*s).to_owned()));
        out
    };
    // Best first by new followers; unique scanners exact over the range (ann once).
    assert_eq!(rows, vec![row(&b, ["3", "7", "0", "7", "0"]), row(&a, ["9", "4", "1", "3", "2"])]);

    // The chart of the same comparison: one line per campaign, names escaped.
    let svg = r.http.get(format!("{}/compare/chart.svg?{q}", r.base)).header(COOKIE, &staff).send().await.unwrap().text().await.unwrap();
    assert!(svg.contains("<title>渠道对比 · 新增关注</title>"), "{svg}");
    assert!(svg.contains("海报, &quot;A&quot; 4") && svg.contains("Counter 7"), "{svg}");
    // Bad input is refused by name; nothing chosen is a clear 422.
    for (query, field) in [("ids=x", "ids:"), ("ids=99999", "ids:"), ("", "ids:"), ("group=nope", "group:")] {
        let res = r.http.get(format!("{}/export/compare.csv?{query}", r.base)).header(COOKIE, &staff).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(res.text().await.unwrap().starts_with(field), "{query}");
    }
});

// Formula injection: a name, scene or group that a spreadsheet would run as a formula (`=`,
// `+`, `-`, `@`) is written with a leading `'`, in every export; numbers stay numbers, a
// negative net included.
dual_test!(exports_neutralise_formulas_in_text_cells, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let formula = "=HYPERLINK(\"http://evil.example\",\"点我\")";
    let model = service::accounts::model(&r.t.db, account).await.unwrap();
    let api = service::accounts::api_client(&r.state, &model).unwrap();
    let input = CampaignInput {
        account_id: account,
        name: formula.into(),
        kind: "permanent".into(),
        scene: Some("@scene".into()),
        group: Some("-group".into()),
        ..Default::default()
    };
    let c1 = service::campaigns::create(&r.state, api.as_ref(), input, None).await.unwrap();
    let c2 = create(&r, account, "+1 poster", "-5").await;
    counts(&r, c1.id, "2026-06-01T00:00:00Z", (1, 0, 2)).await;
    let cookie = r.login("staff", "staff-password").await;

    let text = csv_text(&r, "/export/campaigns.csv", &cookie).await;
    let rows: Vec<Vec<String>> =
        csv::Reader::from_reader(text.as_bytes()).records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    assert_eq!(rows[0][1], format!("'{formula}"));
    assert_eq!(rows[0][3], "'@scene");
    assert_eq!(rows[0][7], "-2", "a negative net stays a number");
    assert_eq!((rows[1][1].as_str(), rows[1][3].as_str()), ("'+1 poster", "'-5"));

    let path = format!("/export/compare.csv?ids={}&ids={}&from=2026-05-01&to=2026-06-30", c1.id, c2.id);
    let text = csv_text(&r, &path, &cookie).await;
    assert!(!text.lines().skip(1).any(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(",=")), "{text}");
    assert!(text.contains(&format!("'{}", formula.replace('"', "\"\""))), "{text}");
    assert!(text.contains(",'+1 poster,"), "{text}");
    assert!(text.contains(",'-group,"), "{text}");
});

// The analytics pages carry each chart once per drawing size and no serialised copy of their
// data (docs/design/ssr.md, "Page data stays on the server").
dual_test!(pages_do_not_repeat_their_data, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let c = create(&r, account, "海报", "page-once").await;
    counts(&r, c.id, "2026-03-01T04:00:00Z", (7, 3, 1)).await;
    let staff = r.login("staff", "staff-password").await;
    let get = |path: String| {
        let (http, staff) = (r.http.clone(), staff.clone());
        async move { http.get(path).header(COOKIE, staff).send().await.unwrap().text().await.unwrap() }
    };
    let page = get(format!("{}/campaigns/{}?from=2026-03-01&to=2026-03-07", r.base, c.id)).await;
    // Each readout line is in each of the three drawings, and nowhere else.
    assert_eq!(page.matches("class=\"chart-svg ").count(), 3, "compact, medium and wide, once each");
    assert_eq!(page.matches("扫码次数: 7 (上一周期 0)").count(), 3, "no second (serialised) copy of the chart");
    let board = get(format!("{}/", r.base)).await;
    assert_eq!(board.matches("class=\"chart-svg ").count(), 3);
    assert_eq!(board.matches("公众号近 30 天").count(), 3, "the dashboard's chart title, once per drawing");
    let compare = get(format!("{}/compare?ids={}&from=2026-03-01&to=2026-03-07", r.base, c.id)).await;
    assert_eq!(compare.matches("class=\"chart-svg ").count(), 3);
    assert_eq!(compare.matches("海报: ").count(), 7 * 3, "a readout line a day, once per drawing");
});
