//! Campaign series and totals on real SQLite and PostgreSQL, against hand-computed numbers:
//! counters are inserted as the ingestion stores them (per UTC hour), then read back bucketed
//! in a time zone.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use service::entity::{campaign_hourly, scanner_hour, wechat_account};
use service::keys::scanner_key;
use service::series::{self, Granularity, Point, Totals};
use service::testing::{TestDb, account_row, campaign_row};
use service::{ServiceError, dual_test};

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;
const NEW_YORK: Tz = chrono_tz::America::New_York;

async fn account(db: &DatabaseConnection, app_id: &str, tz: &str) -> i32 {
    wechat_account::ActiveModel { timezone: Set(tz.into()), ..account_row(app_id) }.insert(db).await.unwrap().id
}

async fn campaign(db: &DatabaseConnection, account_id: i32, name: &str, scene: &str) -> i32 {
    campaign_row(account_id, name, scene).insert(db).await.unwrap().id
}

/// Unix seconds of an RFC 3339 instant (an hour start).
fn at(s: &str) -> i64 {
    let t = DateTime::parse_from_rfc3339(s).unwrap().timestamp();
    assert_eq!(t % 3600, 0, "{s} is not an hour start");
    t
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// One counter row: (scans, new followers, unsubscribes) in the UTC hour starting at `when`.
async fn counts(db: &DatabaseConnection, c: i32, when: &str, (scans, new_followers, unsubscribes): (i64, i64, i64)) {
    campaign_hourly::ActiveModel {
        campaign_id: Set(c),
        hour: Set(at(when)),
        scans: Set(scans),
        new_followers: Set(new_followers),
        unsubscribes: Set(unsubscribes),
    }
    .insert(db)
    .await
    .unwrap();
}

/// `who` scanned `c` in the UTC hour starting at `when`.
async fn scanned(db: &DatabaseConnection, c: i32, when: &str, who: &str) {
    scanner_hour::ActiveModel { campaign_id: Set(c), hour: Set(at(when)), scanner: Set(scanner_key(&format!("hash-of-{who}"))) }
        .insert(db)
        .await
        .unwrap();
}

fn label(p: &Point) -> String {
    p.bucket.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// (bucket, scans, new, unsubscribes, net, unique) of each point.
fn table(points: &[Point]) -> Vec<(String, i64, i64, i64, i64, i64)> {
    points.iter().map(|p| (label(p), p.scans, p.new_followers, p.unsubscribes, p.net_followers, p.unique_scanners)).collect()
}

fn row(bucket: &str, scans: i64, new: i64, unsub: i64, unique: i64) -> (String, i64, i64, i64, i64, i64) {
    (bucket.to_owned(), scans, new, unsub, new - unsub, unique)
}

dual_test!(days_in_shanghai_and_exact_uniques, |t: TestDb| async move {
    let db = &t.db;
    let a = account(db, "wx_shanghai", "Asia/Shanghai").await;
    let c = campaign(db, a, "海报", "1").await;
    // UTC+8: 16:00Z is local midnight of the next day.
    counts(db, c, "2026-02-28T15:00:00Z", (100, 0, 0)).await; // Feb 28 23:00 local: outside
    counts(db, c, "2026-03-01T15:00:00Z", (2, 1, 0)).await; // Mar 1 23:00 local
    counts(db, c, "2026-03-01T16:00:00Z", (3, 2, 1)).await; // Mar 2 00:00 local
    counts(db, c, "2026-03-01T17:00:00Z", (5, 0, 0)).await; // Mar 2 01:00 local
    counts(db, c, "2026-03-03T15:00:00Z", (7, 0, 2)).await; // Mar 3 23:00 local
    counts(db, c, "2026-03-03T16:00:00Z", (100, 0, 0)).await; // Mar 4 00:00 local: outside
    // Alice scans in two hours of Mar 2 and again on Mar 3; Bob once on Mar 2.
    scanned(db, c, "2026-03-01T16:00:00Z", "alice").await;
    scanned(db, c, "2026-03-01T17:00:00Z", "alice").await;
    scanned(db, c, "2026-03-01T17:00:00Z", "bob").await;
    scanned(db, c, "2026-03-03T15:00:00Z", "alice").await;
    scanned(db, c, "2026-03-03T16:00:00Z", "carol").await; // Mar 4: outside

    let s = series::campaign_series(db, c, day("2026-03-01"), day("2026-03-03"), Granularity::Day, SHANGHAI).await.unwrap();
    assert_eq!(
        table(&s),
        vec![
            row("2026-03-01T00:00:00+08:00", 2, 1, 0, 0),
            row("2026-03-02T00:00:00+08:00", 8, 2, 1, 2),
            row("2026-03-03T00:00:00+08:00", 7, 0, 2, 1),
        ]
    );
    // Alice counts once per day, twice across the two days, once in the totals.
    let totals = series::campaign_totals(db, c, day("2026-03-01"), day("2026-03-03"), SHANGHAI).await.unwrap();
    assert_eq!(totals, Totals { scans: 17, new_followers: 3, unsubscribes: 3, net_followers: 0, unique_scanners: 2 });
    let one_day = series::campaign_totals(db, c, day("2026-03-03"), day("2026-03-03"), SHANGHAI).await.unwrap();
    assert_eq!(one_day, Totals { scans: 7, new_followers: 0, unsubscribes: 2, net_followers: -2, unique_scanners: 1 });

    // The same day by the hour: 24 local hours, the first two holding the counters.
    let h = series::campaign_series(db, c, day("2026-03-02"), day("2026-03-02"), Granularity::Hour, SHANGHAI).await.unwrap();
    assert_eq!(h.len(), 24);
    assert_eq!(
        table(&h[..3]),
        vec![
            row("2026-03-02T00:00:00+08:00", 3, 2, 1, 1),
            row("2026-03-02T01:00:00+08:00", 5, 0, 0, 2),
            row("2026-03-02T02:00:00+08:00", 0, 0, 0, 0),
        ]
    );
    assert_eq!(label(&h[23]), "2026-03-02T23:00:00+08:00");
    assert!(h[2..].iter().all(|p| p.scans == 0 && p.unique_scanners == 0));
});

dual_test!(new_york_days_of_23_and_25_hours, |t: TestDb| async move {
    let db = &t.db;
    let a = account(db, "wx_newyork", "America/New_York").await;
    let c = campaign(db, a, "Subway", "2").await;
    // One scan in every UTC hour around both changes (DST starts 2026-03-08, ends 2026-11-01).
    let mut rows = Vec::new();
    for (first, hours) in [("2026-03-07T05:00:00Z", 72), ("2026-10-31T04:00:00Z", 73)] {
        let start = at(first);
        for i in 0..hours {
            rows.push(campaign_hourly::ActiveModel {
                campaign_id: Set(c),
                hour: Set(start + i * 3600),
                scans: Set(1),
                new_followers: Set(0),
                unsubscribes: Set(0),
            });
        }
    }
    campaign_hourly::Entity::insert_many(rows).exec(db).await.unwrap();

    let spring = series::campaign_series(db, c, day("2026-03-07"), day("2026-03-09"), Granularity::Day, NEW_YORK).await.unwrap();
    assert_eq!(
        spring.iter().map(|p| (label(p), p.scans)).collect::<Vec<_>>(),
        vec![
            ("2026-03-07T00:00:00-05:00".to_owned(), 24),
            ("2026-03-08T00:00:00-05:00".to_owned(), 23),
            ("2026-03-09T00:00:00-04:00".to_owned(), 24),
        ]
    );
    let fall = series::campaign_series(db, c, day("2026-10-31"), day("2026-11-02"), Granularity::Day, NEW_YORK).await.unwrap();
    assert_eq!(
        fall.iter().map(|p| (label(p), p.scans)).collect::<Vec<_>>(),
        vec![
            ("2026-10-31T00:00:00-04:00".to_owned(), 24),
            ("2026-11-01T00:00:00-04:00".to_owned(), 25),
            ("2026-11-02T00:00:00-05:00".to_owned(), 24),
        ]
    );

    // By the hour: 02:00 is skipped in March, 01:00 happens twice in November.
    let h = series::campaign_series(db, c, day("2026-03-08"), day("2026-03-08"), Granularity::Hour, NEW_YORK).await.unwrap();
    assert_eq!(h.len(), 23);
    assert_eq!(
        h[..4].iter().map(label).collect::<Vec<_>>(),
        ["2026-03-08T00:00:00-05:00", "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]
    );
    assert_eq!(label(&h[22]), "2026-03-08T23:00:00-04:00");
    assert!(h.iter().all(|p| p.scans == 1), "every hour bucket holds exactly one counter hour");
    let h = series::campaign_series(db, c, day("2026-11-01"), day("2026-11-01"), Granularity::Hour, NEW_YORK).await.unwrap();
    assert_eq!(h.len(), 25);
    assert_eq!(
        h[..4].iter().map(label).collect::<Vec<_>>(),
        ["2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]
    );
    assert_eq!(label(&h[24]), "2026-11-01T23:00:00-05:00");
    assert!(h.iter().all(|p| p.scans == 1));
    let total = series::campaign_totals(db, c, day("2026-11-01"), day("2026-11-01"), NEW_YORK).await.unwrap();
    assert_eq!(total.scans, 25);
});

dual_test!(iso_weeks_and_calendar_months, |t: TestDb| async move {
    let db = &t.db;
    let a = account(db, "wx_weeks", "Asia/Shanghai").await;
    let w = campaign(db, a, "Weeks", "3").await;
    // Wed 2026-03-04 ..= Sun 2026-03-15: the weeks of Mon Mar 2 (partial) and Mon Mar 9.
    counts(db, w, "2026-03-03T02:00:00Z", (100, 0, 0)).await; // Tue Mar 3 10:00 local: before the range
    counts(db, w, "2026-03-03T16:00:00Z", (1, 0, 0)).await; // Wed Mar 4 00:00 local
    counts(db, w, "2026-03-08T15:00:00Z", (2, 0, 0)).await; // Sun Mar 8 23:00 local
    counts(db, w, "2026-03-08T16:00:00Z", (4, 0, 0)).await; // Mon Mar 9 00:00 local
    counts(db, w, "2026-03-10T04:00:00Z", (8, 0, 0)).await; // Tue Mar 10 12:00 local
    counts(db, w, "2026-03-15T16:00:00Z", (16, 0, 0)).await; // Mon Mar 16 00:00 local: after
    scanned(db, w, "2026-03-08T15:00:00Z", "carol").await; // Sunday
    scanned(db, w, "2026-03-08T16:00:00Z", "carol").await; // Monday: a new week
    scanned(db, w, "2026-03-10T04:00:00Z", "carol").await;
    scanned(db, w, "2026-03-10T04:00:00Z", "dave").await;
    let s = series::campaign_series(db, w, day("2026-03-04"), day("2026-03-15"), Granularity::Week, SHANGHAI).await.unwrap();
    assert_eq!(table(&s), vec![row("2026-03-02T00:00:00+08:00", 3, 0, 0, 1), row("2026-03-09T00:00:00+08:00", 12, 0, 0, 2)]);
    let totals = series::campaign_totals(db, w, day("2026-03-04"), day("2026-03-15"), SHANGHAI).await.unwrap();
    assert_eq!((totals.scans, totals.unique_scanners), (15, 2));

    let m = campaign(db, a, "Months", "4").await;
    // 2026-01-15 ..= 2026-03-10: January (partial), February, March (partial).
    counts(db, m, "2026-01-10T04:00:00Z", (100, 0, 0)).await; // Jan 10: before the range
    counts(db, m, "2026-01-31T15:00:00Z", (1, 1, 0)).await; // Jan 31 23:00 local
    counts(db, m, "2026-01-31T16:00:00Z", (2, 2, 0)).await; // Feb 1 00:00 local
    counts(db, m, "2026-02-28T15:00:00Z", (0, 0, 1)).await; // Feb 28 23:00 local
    counts(db, m, "2026-02-28T16:00:00Z", (4, 0, 0)).await; // Mar 1 00:00 local
    counts(db, m, "2026-03-10T16:00:00Z", (100, 0, 0)).await; // Mar 11: after
    scanned(db, m, "2026-01-31T15:00:00Z", "erin").await;
    scanned(db, m, "2026-01-31T16:00:00Z", "erin").await;
    let s = series::campaign_series(db, m, day("2026-01-15"), day("2026-03-10"), Granularity::Month, SHANGHAI).await.unwrap();
    assert_eq!(
        table(&s),
        vec![
            row("2026-01-01T00:00:00+08:00", 1, 1, 0, 1),
            row("2026-02-01T00:00:00+08:00", 2, 2, 1, 1),
            row("2026-03-01T00:00:00+08:00", 4, 0, 0, 0),
        ]
    );
    // Months in New York straddle the DST change: March starts at -05:00, April at -04:00.
    let ny = series::campaign_series(db, m, day("2026-03-01"), day("2026-04-30"), Granularity::Month, NEW_YORK).await.unwrap();
    assert_eq!(ny.iter().map(label).collect::<Vec<_>>(), ["2026-03-01T00:00:00-05:00", "2026-04-01T00:00:00-04:00"]);
});

dual_test!(empty_ranges_are_zero_filled, |t: TestDb| async move {
    let db = &t.db;
    let a = account(db, "wx_empty", "Asia/Shanghai").await;
    let quiet = campaign(db, a, "Quiet", "5").await;
    let busy = campaign(db, a, "Busy", "6").await;
    counts(db, busy, "2026-05-10T04:00:00Z", (9, 9, 9)).await;
    scanned(db, busy, "2026-05-10T04:00:00Z", "frank").await;

    // A campaign with no events at all.
    let s = series::campaign_series(db, quiet, day("2026-03-01"), day("2026-03-31"), Granularity::Day, SHANGHAI).await.unwrap();
    assert_eq!(s.len(), 31);
    assert_eq!(label(&s[0]), "2026-03-01T00:00:00+08:00");
    assert_eq!(label(&s[30]), "2026-03-31T00:00:00+08:00");
    assert!(s.iter().all(|p| (p.scans, p.new_followers, p.unsubscribes, p.net_followers, p.unique_scanners) == (0, 0, 0, 0, 0)));
    assert_eq!(series::campaign_totals(db, quiet, day("2026-03-01"), day("2026-03-31"), SHANGHAI).await.unwrap(), Totals::default());

    // A busy campaign over a range where nothing happened.
    let s = series::campaign_series(db, busy, day("2026-03-01"), day("2026-03-01"), Granularity::Hour, SHANGHAI).await.unwrap();
    assert_eq!(s.len(), 24);
    assert!(s.iter().all(|p| p.scans == 0 && p.unique_scanners == 0));
    let s = series::campaign_series(db, busy, day("2026-03-01"), day("2026-03-01"), Granularity::Week, SHANGHAI).await.unwrap();
    assert_eq!(table(&s), vec![row("2026-02-23T00:00:00+08:00", 0, 0, 0, 0)]);
    assert_eq!(series::campaign_totals(db, busy, day("2026-03-01"), day("2026-03-31"), SHANGHAI).await.unwrap(), Totals::default());
    // ... and the day it did, for contrast.
    let s = series::campaign_series(db, busy, day("2026-05-10"), day("2026-05-10"), Granularity::Day, SHANGHAI).await.unwrap();
    assert_eq!(table(&s), vec![row("2026-05-10T00:00:00+08:00", 9, 9, 9, 1)]);
});

dual_test!(all_campaign_totals_in_one_query, |t: TestDb| async move {
    let db = &t.db;
    let a = account(db, "wx_all_a", "Asia/Shanghai").await;
    let b = account(db, "wx_all_b", "America/New_York").await;
    let a1 = campaign(db, a, "A1", "7").await;
    let a2 = campaign(db, a, "A2 (no events)", "8").await;
    let b1 = campaign(db, b, "B1", "7").await;
    counts(db, a1, "2025-01-01T00:00:00Z", (10, 4, 1)).await;
    counts(db, a1, "2026-06-01T00:00:00Z", (5, 1, 2)).await;
    counts(db, b1, "2026-06-01T00:00:00Z", (3, 3, 0)).await;
    scanned(db, a1, "2025-01-01T00:00:00Z", "gina").await;
    scanned(db, a1, "2026-06-01T00:00:00Z", "gina").await;
    scanned(db, a1, "2026-06-01T00:00:00Z", "hank").await;
    scanned(db, b1, "2026-06-01T00:00:00Z", "gina").await;

    let a1_totals = Totals { scans: 15, new_followers: 5, unsubscribes: 3, net_followers: 2, unique_scanners: 2 };
    let b1_totals = Totals { scans: 3, new_followers: 3, unsubscribes: 0, net_followers: 3, unique_scanners: 1 };
    assert_eq!(series::all_campaign_totals(db, None).await.unwrap(), vec![(a1, a1_totals), (a2, Totals::default()), (b1, b1_totals)]);
    assert_eq!(series::all_campaign_totals(db, Some(a)).await.unwrap(), vec![(a1, a1_totals), (a2, Totals::default())]);
    assert_eq!(series::all_campaign_totals(db, Some(b)).await.unwrap(), vec![(b1, b1_totals)]);
});

#[test]
fn bad_ranges_and_granularities_name_their_field() {
    let field = |e: ServiceError| match e {
        ServiceError::Validation { field, .. } => field,
        other => panic!("expected a validation error, got {other:?}"),
    };
    assert_eq!(field("year".parse::<Granularity>().unwrap_err()), "granularity");
    assert_eq!("Week".parse::<Granularity>().unwrap(), Granularity::Week);
    for g in [Granularity::Hour, Granularity::Day, Granularity::Week, Granularity::Month] {
        assert_eq!(g.as_str().parse::<Granularity>().unwrap(), g);
    }
    assert_eq!(series::auto_granularity(day("2026-03-01"), day("2026-03-01")), Granularity::Hour);
    assert_eq!(series::auto_granularity(day("2026-03-01"), day("2026-03-02")), Granularity::Hour);
    assert_eq!(series::auto_granularity(day("2026-03-01"), day("2026-03-03")), Granularity::Day);
    assert_eq!(series::auto_granularity(day("2026-01-01"), day("2026-04-02")), Granularity::Day); // 92 days
    assert_eq!(series::auto_granularity(day("2026-01-01"), day("2026-04-03")), Granularity::Week);
    assert_eq!(series::auto_granularity(day("2025-01-01"), day("2026-01-01")), Granularity::Week); // 366 days
    assert_eq!(series::auto_granularity(day("2025-01-01"), day("2026-01-02")), Granularity::Month);

    // The checks come before any query, so a disconnected connection is enough.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = sea_orm::DatabaseConnection::default();
        let err = |from: &str, to: &str, g: Granularity| {
            let db = db.clone();
            let parse = |s: &str| s.parse::<NaiveDate>().unwrap_or_else(|_| NaiveDate::from_ymd_opt(10000, 1, 1).unwrap());
            let (from, to) = (parse(from), parse(to));
            async move { series::campaign_series(&db, 1, from, to, g, SHANGHAI).await.unwrap_err() }
        };
        assert_eq!(field(err("2026-03-02", "2026-03-01", Granularity::Day).await), "from");
        assert_eq!(field(err("2025-01-01", "2026-01-02", Granularity::Month).await), "from"); // 367 days
        assert_eq!(field(err("2026-03-01", "2026-04-01", Granularity::Hour).await), "granularity"); // 32 days
        assert_eq!(field(err("1969-12-31", "1970-01-01", Granularity::Day).await), "from");
        assert_eq!(field(err("9999-12-31", "10000-01-01", Granularity::Day).await), "to");
        let e = series::campaign_totals(&db, 1, day("2026-03-02"), day("2026-03-01"), SHANGHAI).await.unwrap_err();
        assert!(e.to_string().contains("from"), "{e}");
    });
}

dual_test!(account_totals_and_top_campaigns, |t: TestDb| async move {
    use service::entity::account_hourly;
    let db = &t.db;
    let acc = account(db, "wx00000000000000d1", "Asia/Shanghai").await;
    let a = campaign(db, acc, "A", "1").await;
    let b = campaign(db, acc, "B", "2").await;
    let _quiet = campaign(db, acc, "Quiet", "3").await;
    counts(db, a, "2026-03-01T04:00:00Z", (10, 4, 1)).await;
    counts(db, b, "2026-03-01T05:00:00Z", (6, 5, 0)).await;
    counts(db, b, "2026-03-03T05:00:00Z", (2, 1, 0)).await;
    // 17:00Z on 03-01 is 03-02 in Shanghai: outside a range ending 03-01.
    counts(db, a, "2026-03-01T17:00:00Z", (100, 100, 0)).await;
    for (when, scans, new_followers, organic, unsubscribes) in
        [("2026-03-01T04:00:00Z", 16, 12, 3, 1), ("2026-03-01T17:00:00Z", 100, 100, 0, 0)]
    {
        account_hourly::ActiveModel {
            account_id: Set(acc),
            hour: Set(at(when)),
            scans: Set(scans),
            new_followers: Set(new_followers),
            organic_followers: Set(organic),
            unsubscribes: Set(unsubscribes),
            unknown_scene_events: Set(2),
        }
        .insert(db)
        .await
        .unwrap();
    }
    let tz: Tz = "Asia/Shanghai".parse().unwrap();
    let t1 = series::account_totals(db, acc, day("2026-03-01"), day("2026-03-01"), tz).await.unwrap();
    assert_eq!((t1.scans, t1.new_followers, t1.organic_followers, t1.unsubscribes, t1.net_followers), (16, 12, 3, 1, 11));
    assert_eq!(t1.unknown_scene_events, 2);
    let t2 = series::account_totals(db, acc, day("2026-03-01"), day("2026-03-02"), tz).await.unwrap();
    assert_eq!(t2.new_followers, 112);
    let empty = series::account_totals(db, acc, day("2026-04-01"), day("2026-04-07"), tz).await.unwrap();
    assert_eq!(empty, series::AccountTotals::default());

    // B brought 6 followers in the range, A 4; the quiet campaign is left out.
    let named = |rows: Vec<series::TopCampaign>| rows.into_iter().map(|t| (t.id, t.name, t.new_followers, t.scans)).collect::<Vec<_>>();
    let top = series::top_campaigns(db, acc, day("2026-03-01"), day("2026-03-01"), tz, 5).await.unwrap();
    assert_eq!(named(top), vec![(b, "B".to_owned(), 5, 6), (a, "A".to_owned(), 4, 10)]);
    let top = series::top_campaigns(db, acc, day("2026-03-01"), day("2026-03-03"), tz, 1).await.unwrap();
    assert_eq!(named(top), vec![(a, "A".to_owned(), 104, 110)], "limit and the next local day");
});

async fn follow(db: &DatabaseConnection, acc: i32, c: i32, who: &str, at: &str, left: Option<&str>) {
    use service::entity::subscription;
    let ts = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    subscription::ActiveModel {
        account_id: Set(acc),
        openid_hash: Set(format!("hash-of-{who}")),
        openid: Set(None),
        campaign_id: Set(Some(c)),
        scene: Set(None),
        subscribed_at: Set(ts(at)),
        unsubscribed_at: Set(left.map(ts)),
        subscribe_event_id: Set(None),
        unsubscribe_event_id: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}

dual_test!(retention_counts_only_followers_old_enough, |t: TestDb| async move {
    let db = &t.db;
    let acc = account(db, "wx00000000000000e1", "Asia/Shanghai").await;
    let c = campaign(db, acc, "Poster", "1").await;
    let other = campaign(db, acc, "Other", "2").await;
    // Followers of March 1 (Shanghai): stays; leaves after 2 h; leaves on day 3; leaves on day 20.
    follow(db, acc, c, "a", "2026-03-01T02:00:00Z", None).await;
    follow(db, acc, c, "b", "2026-03-01T03:00:00Z", Some("2026-03-01T05:00:00Z")).await;
    follow(db, acc, c, "c", "2026-03-01T04:00:00Z", Some("2026-03-03T04:00:00Z")).await;
    follow(db, acc, c, "d", "2026-03-01T05:00:00Z", Some("2026-03-21T05:00:00Z")).await;
    // Leaves exactly at the 1-day mark: still following after 1 day.
    follow(db, acc, c, "e", "2026-03-01T06:00:00Z", Some("2026-03-02T06:00:00Z")).await;
    // Outside the range (Feb 28 16:30 UTC is Mar 1 00:30 in Shanghai: inside) and another campaign.
    follow(db, acc, c, "f", "2026-02-28T16:30:00Z", None).await;
    follow(db, acc, c, "g", "2026-02-28T15:30:00Z", None).await;
    follow(db, acc, other, "h", "2026-03-01T02:00:00Z", Some("2026-03-01T02:10:00Z")).await;
    let now = DateTime::parse_from_rfc3339("2026-03-09T00:00:00Z").unwrap().with_timezone(&Utc);
    let r = series::campaign_retention(db, c, day("2026-03-01"), day("2026-03-01"), SHANGHAI, now).await.unwrap();
    let got: Vec<(i64, i64, i64)> = r.iter().map(|r| (r.days, r.eligible, r.retained)).collect();
    // 1 day: a, c, d, e, f stay (b left) → 5 of 6. 7 days: a, d, f → 3 of 6. 30 days: not yet.
    assert_eq!(got, vec![(1, 6, 5), (7, 6, 3), (30, 0, 0)]);
    assert_eq!(r[0].percent(), Some(83));
    assert_eq!(r[2].percent(), None);
    // A campaign without followers: nothing to measure.
    let none = series::campaign_retention(db, other, day("2026-03-05"), day("2026-03-06"), SHANGHAI, now).await.unwrap();
    assert!(none.iter().all(|r| r.eligible == 0 && r.percent().is_none()));
});

dual_test!(account_series_by_day_across_new_york_dst, |t: TestDb| async move {
    use service::entity::account_hourly;
    let db = &t.db;
    let acc = account(db, "wx00000000000000e2", "America/New_York").await;
    // 2026-03-08 is 23 hours long in New York (clocks jump 02:00 → 03:00 EST → EDT).
    // 04:59Z is 23:59 on 03-07 (EST); 05:00Z is 00:00 on 03-08; 03:59Z on 03-09 is 23:59 on
    // 03-08 (EDT); 04:00Z on 03-09 is 00:00 on 03-09.
    for (when, scans, organic) in
        [("2026-03-08T04:00:00Z", 1, 0), ("2026-03-08T05:00:00Z", 2, 1), ("2026-03-09T03:00:00Z", 4, 0), ("2026-03-09T04:00:00Z", 8, 2)]
    {
        account_hourly::ActiveModel {
            account_id: Set(acc),
            hour: Set(at(when)),
            scans: Set(scans),
            new_followers: Set(scans),
            organic_followers: Set(organic),
            unsubscribes: Set(0),
            unknown_scene_events: Set(0),
        }
        .insert(db)
        .await
        .unwrap();
    }
    let s = series::account_series(db, acc, day("2026-03-07"), day("2026-03-10"), Granularity::Day, NEW_YORK).await.unwrap();
    let got: Vec<(String, i64, i64)> = s.iter().map(|p| (p.bucket.to_rfc3339(), p.scans, p.organic_followers)).collect();
    assert_eq!(
        got,
        vec![
            ("2026-03-07T00:00:00-05:00".to_owned(), 1, 0),
            ("2026-03-08T00:00:00-05:00".to_owned(), 6, 1),
            ("2026-03-09T00:00:00-04:00".to_owned(), 8, 2),
            ("2026-03-10T00:00:00-04:00".to_owned(), 0, 0),
        ]
    );
});

#[test]
fn ranges_presets_previous_period_and_change() {
    use series::{RangeRequest, previous_range, resolve_range};
    let today = day("2026-03-18");
    let req = |days: &str| RangeRequest { days: Some(days.into()), ..Default::default() };
    let r = |q: RangeRequest| {
        let r = resolve_range(&q, today).unwrap();
        (r.from.to_string(), r.to.to_string(), r.granularity)
    };
    assert_eq!(r(RangeRequest::default()), ("2026-02-17".into(), "2026-03-18".into(), Granularity::Day), "last 30 days");
    assert_eq!(r(req("today")), ("2026-03-18".into(), "2026-03-18".into(), Granularity::Hour));
    assert_eq!(r(req("yesterday")), ("2026-03-17".into(), "2026-03-17".into(), Granularity::Hour));
    assert_eq!(r(req("7")), ("2026-03-12".into(), "2026-03-18".into(), Granularity::Day));
    assert_eq!(r(req("month")), ("2026-03-01".into(), "2026-03-18".into(), Granularity::Day));
    assert_eq!(r(req("366")).2, Granularity::Week);
    let explicit = RangeRequest {
        from: Some("2026-01-01".into()),
        to: Some("2026-01-31".into()),
        granularity: Some("week".into()),
        ..Default::default()
    };
    assert_eq!(r(explicit), ("2026-01-01".into(), "2026-01-31".into(), Granularity::Week));
    // Bad values name their field; nothing is guessed.
    let field = |q: RangeRequest| match resolve_range(&q, today) {
        Err(ServiceError::Validation { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(req("0")), "days");
    assert_eq!(field(req("week")), "days");
    assert_eq!(field(RangeRequest { from: Some("18/03/2026".into()), ..Default::default() }), "from");
    assert_eq!(field(RangeRequest { days: Some("90".into()), granularity: Some("hour".into()), ..Default::default() }), "granularity");

    assert_eq!(previous_range(day("2026-03-12"), day("2026-03-18")), (day("2026-03-05"), day("2026-03-11")));
    assert_eq!(previous_range(day("2026-03-01"), day("2026-03-01")), (day("2026-02-28"), day("2026-02-28")));
    assert_eq!(series::change_percent(120, 100), Some(20));
    assert_eq!(series::change_percent(50, 200), Some(-75));
    assert_eq!(series::change_percent(1, 3), Some(-67));
    assert_eq!(series::change_percent(5, 0), None);
    assert_eq!(series::change_percent(-4, -2), Some(-100));
}

dual_test!(trend_and_comparison_views, |t: TestDb| async move {
    use service::analytics::{self, Lang, Metric};
    use service::series::RangeRequest;
    let st = t.state();
    let db = &t.db;
    let acc = account(db, "wx00000000000000e3", "Asia/Shanghai").await;
    let a = campaign(db, acc, "海报 A", "1").await;
    let b = campaign(db, acc, "Counter <B>", "2").await;
    // This week (Mar 12–18) and the week before (Mar 5–11), in Shanghai.
    counts(db, a, "2026-03-12T04:00:00Z", (12, 6, 1)).await;
    counts(db, a, "2026-03-18T04:00:00Z", (8, 4, 0)).await;
    counts(db, a, "2026-03-06T04:00:00Z", (16, 5, 0)).await;
    counts(db, b, "2026-03-13T04:00:00Z", (3, 30, 2)).await;
    scanned(db, a, "2026-03-12T04:00:00Z", "x").await;
    scanned(db, a, "2026-03-18T04:00:00Z", "x").await;
    let now = DateTime::parse_from_rfc3339("2026-03-18T12:00:00Z").unwrap().with_timezone(&Utc);
    let week = RangeRequest { days: Some("7".into()), ..Default::default() };
    let tr = analytics::campaign_trend(&st, a, &week, &Metric::DEFAULT, true, Lang::En, now).await.unwrap();
    assert_eq!((tr.range.from, tr.range.to, tr.previous), (day("2026-03-12"), day("2026-03-18"), (day("2026-03-05"), day("2026-03-11"))));
    assert_eq!((tr.totals.scans, tr.totals.new_followers, tr.totals.unique_scanners), (20, 10, 1));
    assert_eq!((tr.previous_totals.scans, tr.previous_totals.new_followers), (16, 5));
    assert_eq!(series::change_percent(tr.totals.scans, tr.previous_totals.scans), Some(25));
    // Three solid lines and three dashed ones; the dashed scans line has last week's 16 on Mar 6
    // (bucket 1 of the previous week under bucket 1 of this one).
    assert_eq!(tr.spec.lines.len(), 6);
    let dashed_scans = tr.spec.lines.iter().find(|l| l.dashed && l.label == "Scans").unwrap();
    assert_eq!(dashed_scans.values, vec![0, 16, 0, 0, 0, 0, 0]);
    assert_eq!(tr.spec.x_long[0], "Thu 12 Mar 2026");
    assert_eq!(tr.spec.x_labels[0], "12 Mar");
    assert!(tr.spec.summary.contains("Scans 20") && tr.spec.summary.contains("Scans 16"), "{}", tr.spec.summary);
    // The SVG names the campaign escaped and reads out each day.
    let svg = service::chart::inline(&tr.spec).unwrap();
    assert!(svg.contains("Scans: 12 (Previous period 0)"), "readout");

    // Comparing on new followers: B first (30), then A (10); one line each, in that order.
    let cmp = analytics::compare(&st, &[a, b], None, Metric::NewFollowers, &week, Lang::Zh, now).await.unwrap();
    let order: Vec<(i32, i64)> = cmp.rows.iter().map(|r| (r.id, r.totals.new_followers)).collect();
    assert_eq!(order, vec![(b, 30), (a, 10)]);
    assert_eq!(cmp.spec.lines.iter().map(|l| l.label.as_str()).collect::<Vec<_>>(), vec!["Counter <B>", "海报 A"]);
    let svg = service::chart::svg(&cmp.spec, service::chart::Variant::File).unwrap();
    assert!(svg.contains("Counter &lt;B&gt;") && !svg.contains("Counter <B>"));
    // A campaign that does not exist, or nothing chosen, is refused by field.
    let err = analytics::compare(&st, &[a, 9999], None, Metric::Scans, &week, Lang::Zh, now).await.unwrap_err();
    assert!(matches!(err, ServiceError::Validation { field: "ids", .. }), "{err:?}");
    let err = analytics::compare(&st, &[], None, Metric::Scans, &week, Lang::Zh, now).await.unwrap_err();
    assert!(matches!(err, ServiceError::Validation { field: "ids", .. }), "{err:?}");
    // Unknown campaign on the trend: not found.
    assert!(matches!(
        analytics::campaign_trend(&st, 9999, &week, &Metric::DEFAULT, true, Lang::Zh, now).await,
        Err(ServiceError::NotFound)
    ));
});

// A comparison reads its campaigns several at a time; whatever order the reads finish in, each
// row must carry its own campaign's totals and each line its own campaign's series. A group of
// eleven: all eleven listed best first, only the best eight drawn, each line equal to that
// campaign's series read on its own.
dual_test!(comparison_rows_and_lines_belong_to_their_campaigns, |t: TestDb| async move {
    use service::analytics::{self, Lang, MAX_COMPARED, Metric};
    use service::series::RangeRequest;
    let st = t.state();
    let db = &t.db;
    let acc = account(db, "wx00000000000000e4", "Asia/Shanghai").await;
    let mut ids = Vec::new();
    for i in 0..11i64 {
        let mut row = campaign_row(acc, &format!("门店 {i}"), &(100 + i).to_string());
        row.group_name = Set(Some("门店".into()));
        let c = row.insert(db).await.unwrap().id;
        // New followers: 1, 4, 7, … (campaign i has 3i+1), spread over two days with a shape of
        // its own, so no two campaigns have the same series.
        counts(db, c, "2026-03-13T04:00:00Z", (i + 1, i, 0)).await;
        counts(db, c, "2026-03-16T04:00:00Z", (2 * i, 2 * i + 1, i % 3)).await;
        for k in 0..=i {
            scanned(db, c, "2026-03-16T04:00:00Z", &format!("{i}-{k}")).await;
        }
        ids.push(c);
    }
    // A campaign of the group that is archived is not compared.
    let mut gone = campaign_row(acc, "已归档", "999");
    gone.group_name = Set(Some("门店".into()));
    gone.archived_at = Set(Some(Utc::now()));
    gone.insert(db).await.unwrap();
    let now = DateTime::parse_from_rfc3339("2026-03-18T12:00:00Z").unwrap().with_timezone(&Utc);
    let week = RangeRequest { days: Some("7".into()), ..Default::default() };
    let (from, to) = (day("2026-03-12"), day("2026-03-18"));

    let cmp = analytics::compare(&st, &[], Some("门店"), Metric::NewFollowers, &week, Lang::En, now).await.unwrap();
    let order: Vec<i32> = cmp.rows.iter().map(|r| r.id).collect();
    let best_first: Vec<i32> = ids.iter().rev().copied().collect();
    assert_eq!(order, best_first, "eleven rows, most new followers first");
    for r in &cmp.rows {
        let own = series::campaign_totals(db, r.id, from, to, SHANGHAI).await.unwrap();
        assert_eq!(r.totals, own, "row of campaign {}", r.id);
    }
    assert_eq!(cmp.rows.iter().filter(|r| r.charted).count(), MAX_COMPARED);
    assert!(cmp.rows[..MAX_COMPARED].iter().all(|r| r.charted));
    assert_eq!(cmp.spec.lines.len(), MAX_COMPARED);
    for (row, line) in cmp.rows.iter().zip(&cmp.spec.lines) {
        assert_eq!(line.label, row.name);
        let own = series::campaign_series(db, row.id, from, to, Granularity::Day, SHANGHAI).await.unwrap();
        assert_eq!(line.values, own.iter().map(|p| p.new_followers).collect::<Vec<_>>(), "line of {}", row.name);
    }

    // Eight chosen campaigns, in the order given: every one drawn, each with its own series and
    // unique scanners (campaign i had i + 1 distinct scanners).
    let chosen: Vec<i32> = ids[..8].to_vec();
    let cmp = analytics::compare(&st, &chosen, None, Metric::UniqueScanners, &week, Lang::En, now).await.unwrap();
    assert!(cmp.rows.iter().all(|r| r.charted));
    for (row, line) in cmp.rows.iter().zip(&cmp.spec.lines) {
        let i = ids.iter().position(|c| *c == row.id).unwrap() as i64;
        assert_eq!(row.totals.unique_scanners, i + 1);
        let own = series::campaign_series(db, row.id, from, to, Granularity::Day, SHANGHAI).await.unwrap();
        assert_eq!(line.values, own.iter().map(|p| p.unique_scanners).collect::<Vec<_>>(), "line of {}", row.name);
    }
    assert_eq!(cmp.rows.iter().map(|r| r.id).collect::<Vec<_>>(), chosen.iter().rev().copied().collect::<Vec<_>>());
});

// Day, week and month buckets are grouped by the database; hours are bucketed in Rust. This
// checks the database's grouping against the plainest possible rule — a counter hour belongs
// to the last bucket starting at or before it — over a year of scattered hours in zones with
// DST (New York), a half-hour DST step (Lord Howe), a half-hour offset (Kolkata), DST changes
// at midnight (Santiago) and none (Shanghai).
dual_test!(grouped_buckets_agree_with_the_bucket_starts, |t: TestDb| async move {
    use std::collections::{BTreeMap, HashSet};
    let db = &t.db;
    let acc = account(db, "wx00000000000000e1", "Asia/Shanghai").await;
    let c = campaign(db, acc, "Scattered", "1").await;
    let (from, to) = (day("2025-12-01"), day("2026-11-30"));
    // A deterministic scatter of hours over the year (plus its edges), a few scanners each.
    let (lo, hi) = (at("2025-11-29T00:00:00Z"), at("2026-12-02T00:00:00Z"));
    let mut seed: u64 = 0x5ce7_eb0a_4d00_0001;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 33
    };
    let mut counters: BTreeMap<i64, i64> = BTreeMap::new();
    let mut scanners: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for _ in 0..700 {
        let hour = lo + (next() as i64 % ((hi - lo) / 3600)) * 3600;
        *counters.entry(hour).or_default() += 1 + (next() % 5) as i64;
        let who = format!("scanner-{}", next() % 40);
        let list = scanners.entry(hour).or_default();
        if !list.contains(&who) {
            list.push(who);
        }
    }
    campaign_hourly::Entity::insert_many(counters.iter().map(|(&hour, &n)| campaign_hourly::ActiveModel {
        campaign_id: Set(c),
        hour: Set(hour),
        scans: Set(n),
        new_followers: Set(n / 2),
        unsubscribes: Set(n / 3),
    }))
    .exec(db)
    .await
    .unwrap();
    let hashes = scanners.iter().flat_map(|(&hour, who)| {
        who.iter().map(move |w| scanner_hour::ActiveModel { campaign_id: Set(c), hour: Set(hour), scanner: Set(scanner_key(w)) })
    });
    scanner_hour::Entity::insert_many(hashes.collect::<Vec<_>>()).exec(db).await.unwrap();

    for zone in ["America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago", "Asia/Shanghai"] {
        let tz: Tz = zone.parse().unwrap();
        for gran in [Granularity::Day, Granularity::Week, Granularity::Month] {
            let points = series::campaign_series(db, c, from, to, gran, tz).await.unwrap();
            let starts: Vec<i64> = points.iter().map(|p| p.bucket.timestamp()).collect();
            let (start, end) = (series::day_start(tz, from).timestamp(), series::day_start(tz, to.succ_opt().unwrap()).timestamp());
            let mut scans = vec![0i64; starts.len()];
            let mut unsubscribes = vec![0i64; starts.len()];
            let mut unique: Vec<HashSet<&str>> = vec![HashSet::new(); starts.len()];
            let bucket = |hour: i64| (hour >= start && hour < end).then(|| starts.partition_point(|&s| s <= hour) - 1);
            for (&hour, &n) in &counters {
                if let Some(i) = bucket(hour) {
                    scans[i] += n;
                    unsubscribes[i] += n / 3;
                }
            }
            for (&hour, who) in &scanners {
                if let Some(i) = bucket(hour) {
                    unique[i].extend(who.iter().map(String::as_str));
                }
            }
            let got: Vec<(i64, i64, i64)> = points.iter().map(|p| (p.scans, p.unsubscribes, p.unique_scanners)).collect();
            let want: Vec<(i64, i64, i64)> = (0..starts.len()).map(|i| (scans[i], unsubscribes[i], unique[i].len() as i64)).collect();
            assert_eq!(got, want, "{zone} by {gran}");
            assert!(scans.iter().sum::<i64>() > 0, "{zone} by {gran}: the scatter reaches the range");
        }
    }
});
