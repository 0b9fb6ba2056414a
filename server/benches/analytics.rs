//! Analytics query and page benchmark on a seeded database (issue 6 targets: one campaign's
//! daily series < 20 ms, the dashboard's data < 100 ms, the server-rendered dashboard page
//! < 50 ms median).
//!
//! Seed once (10 M events over a year, 200 campaigns; see BENCHMARKS.md), then:
//!
//! ```text
//! DATABASE_URL=sqlite://data-bench/sceneboard.db?mode=rwc SCENEBOARD_DATA_DIR=data-bench \
//!   cargo bench -p server --bench analytics
//! ```
//!
//! Every figure is the median (and 95th percentile) of repeated runs of the same code the
//! pages call; the page figures are real HTTP requests to the real router, signed in.

use chrono::{Days, Utc};
use sea_orm::{EntityTrait, PaginatorTrait};
use server::routes::{ServerState, router};
use service::analytics::{self, Lang, Metric};
use service::series::{self, Granularity, RangeRequest};
use std::future::Future;
use std::time::{Duration, Instant};

const RUNS: usize = 40;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `f` once to warm caches, then `RUNS` times; prints median and p95 in ms.
async fn bench<F, Fut, T>(name: &str, target_ms: Option<f64>, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    f().await;
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        std::hint::black_box(f().await);
        times.push(t.elapsed());
    }
    times.sort();
    let (median, p95) = (ms(times[RUNS / 2]), ms(times[RUNS * 95 / 100]));
    let verdict = match target_ms {
        Some(t) if median < t => format!("< {t} ms ✓"),
        Some(t) => format!("target {t} ms ✗"),
        None => String::new(),
    };
    println!("| {name} | {median:.2} | {p95:.2} | {verdict} |");
    median
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var("DATABASE_URL").is_err() {
        eprintln!("set DATABASE_URL (and SCENEBOARD_DATA_DIR) to a database seeded with `sceneboard demo --seed-only`; see BENCHMARKS.md");
        return Ok(());
    }
    let cfg = server::config::Config::load()?;
    let st = server::startup::app_state(&cfg).await?;
    let db = &st.db;
    let account = service::accounts::list(db).await?.into_iter().next().ok_or_else(|| anyhow::anyhow!("no account: seed first"))?;
    let tz = analytics::zone(&st, Some(&account.timezone));
    let now = Utc::now();
    let today = analytics::today(tz, now);
    let mut totals = series::all_campaign_totals(db, Some(account.id)).await?;
    totals.sort_by_key(|(_, t)| std::cmp::Reverse(t.scans));
    let events = service::entity::event::Entity::find().count(db).await?;
    let (top, top_totals) = totals.first().copied().ok_or_else(|| anyhow::anyhow!("no campaign: seed first"))?;
    println!(
        "database: {} · {} campaigns · {} events · busiest campaign {top} ({} scans, {} unique scanners all time)\n",
        server::config::redact_url(&cfg.database_url),
        totals.len(),
        events,
        top_totals.scans,
        top_totals.unique_scanners
    );
    println!("| what | median ms | p95 ms | target |");
    println!("| --- | ---: | ---: | --- |");
    let d30 = today - Days::new(29);
    let d365 = today - Days::new(364);
    bench("campaign daily series, 30 days", Some(20.0), || series::campaign_series(db, top, d30, today, Granularity::Day, tz)).await;
    bench("campaign daily series, 365 days", Some(20.0), || series::campaign_series(db, top, d365, today, Granularity::Day, tz)).await;
    bench("campaign weekly series, 365 days", None, || series::campaign_series(db, top, d365, today, Granularity::Week, tz)).await;
    bench("campaign totals, 365 days (exact unique scanners)", None, || series::campaign_totals(db, top, d365, today, tz)).await;
    bench("campaign retention, 90 days", None, || series::campaign_retention(db, top, today - Days::new(89), today, tz, now)).await;
    let month = RangeRequest::default();
    bench("campaign page trend view (+ previous period, retention, SVG), 30 days", None, || async {
        let t = analytics::campaign_trend(&st, top, &month, &Metric::DEFAULT, true, Lang::Zh, now).await.unwrap();
        service::chart::inline(&t.spec).unwrap()
    })
    .await;
    let eight: Vec<i32> = totals.iter().take(8).map(|(id, _)| *id).collect();
    bench("compare 8 campaigns, 30 days (+ SVG)", None, || async {
        let c = analytics::compare(&st, &eight, None, Metric::NewFollowers, &month, Lang::Zh, now).await.unwrap();
        service::chart::inline(&c.spec).unwrap()
    })
    .await;
    bench("dashboard data, one account (today, 7 days, top 5, expiring, 30-day chart)", Some(100.0), || async {
        let b = analytics::board(&st, account.id, tz, Lang::Zh, now).await.unwrap();
        service::chart::inline(&b.chart).unwrap()
    })
    .await;
    bench("PNG of the campaign chart", None, || async {
        let t = analytics::campaign_trend(&st, top, &month, &Metric::DEFAULT, true, Lang::Zh, now).await.unwrap();
        service::chart::png(&service::chart::svg(&t.spec, service::chart::Variant::Raster).unwrap(), 2.0).unwrap()
    })
    .await;

    // Whole pages through the real router, signed in as a user made for the benchmark.
    let user = match service::users::create(db, "bench-reader", "bench-reader-password", service::users::Role::Staff, None).await {
        Ok(u) => u.id,
        Err(_) => service::users::authenticate(db, "bench-reader", "bench-reader-password").await?.id,
    };
    let session = service::sessions::create(db, &st.keys, user, Some("bench")).await?;
    let cookie = format!("{}={}", service::sessions::COOKIE_NAME, session.token);
    let state = ServerState {
        leptos: server::startup::leptos_options(&cfg).into(),
        site: server::site::Site::new(cfg.site_root.as_deref()).into(),
        app: st.clone(),
        ingest: service::ingest::Ingestor::without_spool(st.clone()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let http = reqwest::Client::new();
    let get = |path: String| {
        let (http, cookie, base) = (http.clone(), cookie.clone(), base.clone());
        async move {
            let res = http.get(format!("{base}{path}")).header("cookie", cookie).header("accept", "text/html").send().await.unwrap();
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.bytes().await.unwrap().len()
        }
    };
    bench("SSR page: dashboard `/`", Some(50.0), || get("/".into())).await;
    bench("SSR page: campaign (trend, 30 days)", None, || get(format!("/campaigns/{top}"))).await;
    let ids: String = eight.iter().map(|i| format!("ids={i}&")).collect();
    bench("SSR page: compare 8 campaigns", None, || get(format!("/compare?{ids}metric=new_followers"))).await;
    bench("SSR page: campaigns list", None, || get("/campaigns".into())).await;
    Ok(())
}
