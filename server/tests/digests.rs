//! Digests on SQLite and PostgreSQL, through a local WeCom robot and a local SMTP server that
//! speaks STARTTLS: settings (admins only, checked field by field, the webhook sealed and never
//! shown), the digests going out once at the account's local hour however many schedulers and
//! workers run, their words in Chinese and English, failures retried and shown, and *Send test*.

mod support;

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use service::digests::{self, DigestInput, MailConfig};
use service::entity::{account_hourly, digest_delivery, digest_setting, job};
use service::jobs::JobHandler;
use service::testing::TestDb;
use service::{AppState, Clock, dual_test};
use std::sync::Arc;
use support::smtp::SmtpSink;
use support::wecom::Robot;
use support::{Running, campaign, counts, refused_field, sandbox_account, start, start_on};

const ROBOT_KEY: &str = "693a91f6-test-robot-key";

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A server whose mail goes to `sink` over STARTTLS, trusting the sink's CA.
async fn start_with_mail(t: TestDb, sink: &SmtpSink) -> Running {
    let mut app = t.state();
    let mail =
        MailConfig::parse(&sink.url("digest", "mail-pass"), "Sceneboard <digest@example.com>", Some(support::smtp::ca_pem())).unwrap();
    app.settings = Arc::new(service::state::Settings { mail: Some(Arc::new(mail)), ..(*app.settings).clone() });
    start_on(t, app).await
}

/// `r`'s state on a manual clock starting at `at`.
fn clocked(r: &Running, at: &str) -> (AppState, Clock) {
    let clock = Clock::manual(utc(at));
    (AppState { clock: clock.clone(), ..r.state.clone() }, clock)
}

/// The account's totals for the hour starting at `at` (what a digest reads).
async fn account_counts(r: &Running, account: i32, at: &str, (scans, new, unsub): (i64, i64, i64)) {
    account_hourly::ActiveModel {
        account_id: Set(account),
        hour: Set(utc(at).timestamp()),
        scans: Set(scans),
        new_followers: Set(new),
        organic_followers: Set(0),
        unsubscribes: Set(unsub),
        unknown_scene_events: Set(0),
    }
    .insert(&r.t.db)
    .await
    .unwrap();
}

/// Sunday 2026-12-06 and the Saturday before, in Shanghai (UTC+8): two campaigns, and the
/// account's totals (what the digest reads).
async fn a_weekend_of_numbers(r: &Running, account: i32) {
    let poster = campaign(r, account, "Poster", None).await;
    let counter = campaign(r, account, "Counter", None).await;
    counts(r, poster.id, "2026-12-06T02:00:00Z", (40, 12, 2)).await;
    counts(r, counter.id, "2026-12-06T03:00:00Z", (10, 4, 0)).await;
    account_counts(r, account, "2026-12-06T02:00:00Z", (50, 16, 2)).await;
    account_counts(r, account, "2026-12-05T02:00:00Z", (25, 8, 4)).await;
}

fn input(daily: bool, weekly: bool, lang: &str, webhook: Option<String>, email_to: &str) -> DigestInput {
    DigestInput { daily, weekly, send_hour: "9".into(), lang: lang.into(), webhook, remove_webhook: false, email_to: email_to.into() }
}

fn handler() -> Arc<dyn JobHandler> {
    Arc::new(server::worker::Handler)
}

fn worker() -> service::jobs::Worker {
    service::jobs::Worker::new(std::time::Duration::from_millis(10))
}

async fn deliveries(r: &Running) -> Vec<(String, String, String, String)> {
    let mut rows: Vec<_> = digest_delivery::Entity::find()
        .all(&r.t.db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.period, d.period_start.to_string(), d.channel, d.status))
        .collect();
    rows.sort();
    rows
}

/// The subject and plain text of a received mail, read by an independent MIME parser.
fn read_mail(data: &[u8]) -> (String, String, String) {
    let message = mail_parser::MessageParser::default().parse(data).expect("a MIME message");
    let subject = message.subject().unwrap_or_default().to_owned();
    let text = message.body_text(0).unwrap_or_default().replace("\r\n", "\n");
    let html = message.body_html(0).unwrap_or_default().replace("\r\n", "\n");
    (subject, text, html)
}

dual_test!(digests_go_out_once_at_the_local_hour_through_both_channels, |t: TestDb| async move {
    let sink = SmtpSink::start().await;
    let robot = Robot::start().await;
    let r = start_with_mail(t, &sink).await;
    let (_sim, account) = sandbox_account(&r).await;
    a_weekend_of_numbers(&r, account).await;
    // Saved on Sunday evening in Shanghai, daily and weekly, in Chinese.
    let (st, clock) = clocked(&r, "2026-12-06T12:00:00Z");
    let both = input(true, true, "zh", Some(robot.webhook(ROBOT_KEY)), "ops@example.com, boss@example.cn");
    digests::save(&st, account, both, None).await.unwrap();

    // Monday 08:59 local: nothing (Sunday's 09:00 was before the settings were saved).
    clock.advance(Duration::minutes(12 * 60 + 59));
    assert_eq!(digests::schedule(&st).await.unwrap(), 0);
    // 09:00: yesterday's and last week's, to the robot and by email. Two instances schedule
    // at once and two workers run the jobs: each digest goes out once per channel.
    clock.advance(Duration::minutes(1));
    let (a, b) = tokio::join!(digests::schedule(&st), digests::schedule(&st));
    assert_eq!(a.unwrap() + b.unwrap(), 4, "daily and weekly, each to WeCom and by email");
    let (w1, w2) = (worker(), worker());
    let (h1, h2) = (handler(), handler());
    let (x, y) = tokio::join!(w1.run_due(&st, &h1), w2.run_due(&st, &h2));
    assert_eq!(x.unwrap() + y.unwrap(), 4);

    let messages = robot.messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(robot.posts().iter().all(|(key, body)| key == ROBOT_KEY && body["msgtype"] == "markdown"));
    let daily = messages.iter().find(|m| m.contains("昨日简报")).expect("the daily digest");
    assert!(daily.starts_with("**Sandbox 昨日简报（2026-12-06）**\n"), "{daily}");
    assert!(daily.contains("> 扫码：<font color=\"info\">50</font>　▲ 100%\n"), "{daily}");
    assert!(daily.contains("> 新关注：<font color=\"info\">16</font>　▲ 100%\n"), "{daily}");
    assert!(daily.contains("> 取消关注：<font color=\"info\">2</font>　▼ 50%\n"), "{daily}");
    assert!(daily.contains("> 净增：<font color=\"info\">14</font>　▲ 250%\n"), "{daily}");
    assert!(daily.contains("1. Poster · 12\n2. Counter · 4\n"), "best first: {daily}");
    let weekly = messages.iter().find(|m| m.contains("上周简报")).expect("the weekly digest");
    assert!(weekly.starts_with("**Sandbox 上周简报（2026-11-30 – 2026-12-06）**\n"), "{weekly}");
    assert!(weekly.contains("> 扫码：<font color=\"info\">75</font>　—\n"), "no week before: {weekly}");

    let mails = sink.received();
    assert_eq!(mails.len(), 2);
    for m in &mails {
        assert!(m.tls, "sent after STARTTLS");
        assert_eq!(m.auth, Some(("digest".into(), "mail-pass".into())));
        assert_eq!(m.from, "digest@example.com");
        assert_eq!(m.to, ["ops@example.com", "boss@example.cn"]);
    }
    let mut read: Vec<_> = mails.iter().map(|m| read_mail(&m.data)).collect();
    read.sort();
    let (subject, text, html) = &read[1];
    assert_eq!(subject, "Sandbox 昨日简报（2026-12-06）");
    assert!(text.contains("扫码: 50 (▲ 100%)\n") && text.contains("1. Poster — 12\n"), "{text}");
    assert!(html.contains("扫码: 50 (▲ 100%)"), "the HTML part says the same: {html}");
    assert_eq!(read[0].0, "Sandbox 上周简报（2026-11-30 – 2026-12-06）");

    let sent = [("daily", "2026-12-06"), ("weekly", "2026-11-30")]
        .into_iter()
        .flat_map(|(p, d)| ["email", "wecom"].map(|c| (p.to_owned(), d.to_owned(), c.to_owned(), "sent".to_owned())))
        .collect::<Vec<_>>();
    assert_eq!(deliveries(&r).await, sent);

    // Later rounds, and another day's 08:00, send nothing more.
    clock.advance(Duration::minutes(30));
    assert_eq!(digests::schedule(&st).await.unwrap(), 0);
    assert_eq!(worker().run_due(&st, &handler()).await.unwrap(), 0);
    clock.advance(Duration::hours(23));
    assert_eq!(digests::schedule(&st).await.unwrap(), 0, "Tuesday 08:30");
    assert_eq!((robot.messages().len(), sink.received().len()), (2, 2));
    // Tuesday 09:00: Monday's daily only.
    clock.advance(Duration::minutes(30));
    assert_eq!(digests::schedule(&st).await.unwrap(), 2);
    assert_eq!(worker().run_due(&st, &handler()).await.unwrap(), 2);
    assert!(robot.messages()[2].contains("昨日简报（2026-12-07）"), "{:?}", robot.messages());
    assert!(r.metric("sceneboard_digests_sent_total", &["channel=\"wecom\""]).await >= 3.0);
});

dual_test!(a_digest_that_fails_is_retried_shown_and_given_up_on_at_last, |t: TestDb| async move {
    let sink = SmtpSink::start().await;
    let robot = Robot::start().await;
    let r = start_with_mail(t, &sink).await;
    let (_sim, account) = sandbox_account(&r).await;
    let (st, clock) = clocked(&r, "2026-12-06T12:00:00Z");
    digests::save(&st, account, input(true, false, "en", Some(robot.webhook(ROBOT_KEY)), "ops@example.com"), None).await.unwrap();
    robot.refuse_with(93000);
    sink.refuse_recipients(true);
    clock.advance(Duration::hours(13));
    assert_eq!(digests::schedule(&st).await.unwrap(), 2);
    assert_eq!(worker().run_due(&st, &handler()).await.unwrap(), 2);

    let rows = digest_delivery::Entity::find().all(&r.t.db).await.unwrap();
    let error_of = |channel: &str| rows.iter().find(|d| d.channel == channel).and_then(|d| d.last_error.clone()).unwrap();
    assert!(rows.iter().all(|d| d.status == "retrying" && d.attempts == 1 && d.sent_at.is_none()), "{rows:?}");
    assert!(error_of("wecom").contains("errcode 93000") && error_of("wecom").contains("removed from the group"), "{}", error_of("wecom"));
    assert!(error_of("email").contains("550") && error_of("email").contains("mailbox unavailable"), "{}", error_of("email"));
    assert!(!error_of("wecom").contains(ROBOT_KEY), "the key is never in an error");
    // The queue tries again after a pause, not at once.
    let queued = job::Entity::find().filter(job::Column::Kind.eq("send_digest")).all(&r.t.db).await.unwrap();
    assert!(queued.iter().all(|j| j.status == "queued" && j.run_at > Utc::now() + Duration::seconds(20)), "{queued:?}");
    assert_eq!(worker().run_due(&st, &handler()).await.unwrap(), 0);
    assert_eq!(digests::schedule(&st).await.unwrap(), 0, "a retrying digest is not queued twice");

    // Settings and /metrics show it.
    let admin = r.login("admin", "admin-password").await;
    let page = r.get("/settings", &admin).await.text().await.unwrap();
    assert!(page.contains("errcode 93000") && page.contains("data-status=\"retrying\""), "the failure is on the settings page");
    assert!(r.metric("sceneboard_digest_failures_total", &["channel=\"email\""]).await >= 1.0);
    let metrics = r.http.get(format!("{}/metrics", r.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("sceneboard_digest_deliveries_unsent{state=\"retrying\"}"), "the gauge is exported");
    assert_eq!(digests::failing(&st).await.unwrap(), [("retrying", 2), ("failed", 0)]);

    // The robot works again: the next try sends it. The mail server still refuses, and this
    // is the queue's last attempt: the email is given up on, and not queued again.
    robot.refuse_with(0);
    job::Entity::update_many()
        .col_expr(job::Column::RunAt, sea_orm::sea_query::Expr::value(Utc::now()))
        .col_expr(job::Column::Attempts, sea_orm::sea_query::Expr::value(service::jobs::DEFAULT_MAX_ATTEMPTS - 1))
        .filter(job::Column::Kind.eq("send_digest"))
        .exec(&r.t.db)
        .await
        .unwrap();
    assert_eq!(worker().run_due(&st, &handler()).await.unwrap(), 2);
    let status: Vec<_> = deliveries(&r).await.into_iter().map(|d| (d.2, d.3)).collect();
    assert_eq!(status, [("email".to_owned(), "failed".to_owned()), ("wecom".to_owned(), "sent".to_owned())]);
    assert!(robot.messages()[0].starts_with("**Sandbox: yesterday (2026-12-06)**"), "{:?}", robot.messages());
    assert_eq!(digests::schedule(&st).await.unwrap(), 0, "a digest given up on is not queued again");
    assert_eq!(digests::failing(&st).await.unwrap(), [("retrying", 0), ("failed", 1)]);
    let page = r.get("/settings", &admin).await.text().await.unwrap();
    assert!(page.contains("data-status=\"failed\"") && page.contains("data-status=\"sent\""));
});

dual_test!(settings_are_checked_field_by_field_and_the_webhook_stays_on_the_server, |t: TestDb| async move {
    let robot = Robot::start().await;
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let id = account.to_string();
    let admin = r.login("admin", "admin-password").await;
    let staff = r.login("staff", "staff-password").await;
    let form = |webhook: &str, email: &str| -> Vec<(&'static str, String)> {
        vec![
            ("account_id", id.clone()),
            ("daily", "on".into()),
            ("send_hour", "8".into()),
            ("lang", "en".into()),
            ("wecom_webhook", webhook.into()),
            ("email_to", email.into()),
        ]
    };
    let post = |args: Vec<(&'static str, String)>, cookie: String| {
        let r = &r;
        async move {
            let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            r.post_form("save_digest", &cookie, "/settings", &args).await
        }
    };
    let webhook = robot.webhook(ROBOT_KEY);
    assert_eq!(r.call("save_digest", &staff, &[("account_id", &id), ("daily", "on")]).await.status(), StatusCode::FORBIDDEN);
    for (args, field) in [
        (form("http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", ""), "wecom_webhook"),
        (form("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", ""), "wecom_webhook"),
        (form(&webhook, "ops@example.com"), "email_to"), // this server has no mail server
        (vec![("account_id", id.clone()), ("send_hour", "24".into())], "send_hour"),
    ] {
        let (status, location) = post(args, admin.clone()).await;
        assert_eq!((status, refused_field(&location)), (StatusCode::FOUND, field.to_owned()), "{location}");
    }
    assert!(digest_setting::Entity::find().all(&r.t.db).await.unwrap().is_empty(), "nothing was stored");

    let (status, location) = post(form(&webhook, ""), admin.clone()).await;
    assert_eq!((status, location.as_str()), (StatusCode::FOUND, format!("/settings?digest_saved={id}#digests-{id}").as_str()));
    let row = digest_setting::Entity::find_by_id(account).one(&r.t.db).await.unwrap().unwrap();
    let sealed = row.wecom_webhook_enc.unwrap();
    assert!(sealed.starts_with("v1.") && !sealed.contains(ROBOT_KEY), "sealed at rest");
    assert_eq!((row.daily, row.weekly, row.send_hour, row.lang.as_str()), (true, false, 8, "en"));
    let page = r.get("/settings", &admin).await.text().await.unwrap();
    assert!(page.contains("127.0.0.1 · key 693a…") && !page.contains(ROBOT_KEY), "only the hint reaches the browser");
    let overview = r.call("digests_overview", &admin, &[]).await.text().await.unwrap();
    assert!(!overview.contains(ROBOT_KEY) && overview.contains("\"send_hour\":8"), "{overview}");

    // A blank webhook keeps the stored one; a key rotation re-seals it; removing it drops it.
    post(vec![("account_id", id.clone()), ("weekly", "on".into()), ("lang", "zh".into())], admin.clone()).await;
    assert_eq!(digests::get(&r.state, account).await.unwrap().webhook.as_deref(), Some(webhook.as_str()));
    let new_keys = service::Keys::random();
    let report = service::rotate::rotate(&r.t.db, &r.state.keys, &new_keys, |_| Ok(())).await.unwrap();
    assert_eq!(report.webhooks_resealed, 1);
    let rotated = AppState { keys: Arc::new(new_keys.clone()), ..r.state.clone() };
    assert_eq!(digests::get(&rotated, account).await.unwrap().webhook.as_deref(), Some(webhook.as_str()));
    service::rotate::rotate(&r.t.db, &new_keys, &r.state.keys, |_| Ok(())).await.unwrap();
    let admin = r.login("admin", "admin-password").await; // the rotations ended every session
    let page = r.get("/settings", &admin).await.text().await.unwrap();
    let next = page.split("data-testid=\"digest-next\"").nth(1).unwrap_or_default().chars().take(300).collect::<String>();
    assert!(next.contains("每周简报") && next.contains("下次发送") && next.contains(" 09:00"), "when the weekly digest goes out: {next}");
    post(vec![("account_id", id.clone()), ("weekly", "on".into()), ("remove_webhook", "on".into())], admin.clone()).await;
    assert_eq!(digests::get(&r.state, account).await.unwrap().webhook, None);
    let page = r.get("/settings", &admin).await.text().await.unwrap();
    assert!(page.contains("还没有发送目标"), "turned on with nowhere to send is said");
    let audit = service::audit::list(&r.t.db, Some("digest."), 10, 0).await.unwrap().0;
    assert_eq!(audit.len(), 3);
    assert!(audit.iter().all(|e| !e.entry.detail.contains(ROBOT_KEY)));
});

dual_test!(send_test_reaches_both_channels_now_in_the_account_language, |t: TestDb| async move {
    let sink = SmtpSink::start().await;
    let robot = Robot::start().await;
    let r = start_with_mail(t, &sink).await;
    let (_sim, account) = sandbox_account(&r).await;
    let id = account.to_string();
    let admin = r.login("admin", "admin-password").await;
    // Nothing to send to yet.
    let (_, location) = r.post_form("test_digest", &admin, "/settings", &[("account_id", &id)]).await;
    assert_eq!(refused_field(&location), "wecom_webhook", "{location}");

    digests::save(&r.state, account, input(false, false, "en", Some(robot.webhook(ROBOT_KEY)), "ops@example.com"), None).await.unwrap();
    let (status, location) = r.post_form("test_digest", &admin, "/settings", &[("account_id", &id)]).await;
    assert_eq!(status, StatusCode::FOUND);
    let url = url::Url::parse(&format!("{}{location}", r.base)).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!((q["digest_tested"].as_str(), q["ok"].as_str()), (id.as_str(), "1"), "{location}");
    assert_eq!(q["msg"], "企业微信机器人：已发送；邮件：已发送", "in the page's language, Chinese by default");
    assert!(robot.messages()[0].starts_with("**[Test] Sandbox: yesterday ("), "{:?}", robot.messages());
    assert!(read_mail(&sink.received()[0].data).0.starts_with("[Test] Sandbox: yesterday ("));
    assert!(deliveries(&r).await.is_empty(), "a test is not a delivery");

    // A refusal comes back in words, in the page's language (here English).
    robot.refuse_with(93000);
    let res = r
        .http
        .post(format!("{}/api/test_digest", r.base))
        .header("cookie", format!("{admin}; i18n_pref_locale=en"))
        .header("accept", "text/html")
        .header("referer", format!("{}/settings", r.base))
        .form(&[("account_id", id.as_str())])
        .send()
        .await
        .unwrap();
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let url = url::Url::parse(&format!("{}{location}", r.base)).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["ok"], "0");
    assert!(
        q["msg"].starts_with("WeCom robot: failed (WeCom refused the message: errcode 93000") && q["msg"].ends_with("; Email: sent"),
        "{}",
        q["msg"]
    );
});
