//! Every server function and every code route checks the session and the role on the server:
//! a table of functions × roles (anonymous, staff, admin), not one example.

mod support;

use reqwest::StatusCode;
use service::dual_test;
use service::testing::TestDb;
use support::start;

/// Who may call a function.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Needs {
    Staff,
    Admin,
}

/// What the role that may call a function gets for these arguments: the exact status and a
/// piece of the body that only that answer has (a 500 or a wrong refusal fails the test).
type Answer = (u16, &'static str);
/// Skipped for the admin: it would demote or lock out the admin itself (users tests cover it).
const SKIP: Answer = (0, "");

/// Each server function with arguments that parse, so the answer is about the role, and what
/// the allowed role gets (the made-up ids 998/999 exist nowhere).
/// A server function's name, its arguments, who may call it, and what they get.
type Case = (&'static str, &'static [(&'static str, &'static str)], Needs, Answer);

const FUNCTIONS: &[Case] = &[
    ("list_users", &[], Needs::Admin, (200, "\"username\":\"staff\"")),
    ("settings_overview", &[], Needs::Admin, (200, "\"accounts\":[]")),
    ("audit_log", &[], Needs::Admin, (200, "[")),
    ("create_user", &[("username", "eve"), ("password", "eve-password-1"), ("role", "admin")], Needs::Admin, (200, "3")),
    ("change_user", &[("id", "1"), ("change", "staff")], Needs::Admin, SKIP),
    ("reset_user_password", &[("id", "1"), ("password", "new-password-1")], Needs::Admin, SKIP),
    (
        "save_account",
        &[("name", "X"), ("app_id", "wx0000000000000001"), ("app_secret", "s"), ("token", "tok123"), ("message_mode", "plain")],
        Needs::Admin,
        (200, "1"),
    ),
    ("test_account", &[("id", "999")], Needs::Admin, (404, "\"NotFound\"")),
    ("digests_overview", &[], Needs::Admin, (200, "\"mail\":null")),
    ("save_digest", &[("account_id", "999"), ("send_hour", "9")], Needs::Admin, (404, "\"NotFound\"")),
    ("test_digest", &[("account_id", "999")], Needs::Admin, (404, "\"NotFound\"")),
    ("list_campaigns", &[], Needs::Staff, (200, "\"rows\":[]")),
    ("campaign_detail", &[("id", "999")], Needs::Staff, (404, "\"NotFound\"")),
    ("campaign_form_data", &[], Needs::Staff, (200, "\"accounts\"")),
    ("create_campaign", &[("account_id", "999"), ("name", "n"), ("kind", "permanent")], Needs::Staff, (422, "\"field\":\"account_id\"")),
    ("update_campaign", &[("id", "999"), ("name", "n")], Needs::Staff, (404, "\"NotFound\"")),
    ("renew_campaign", &[("id", "999")], Needs::Staff, (404, "\"NotFound\"")),
    ("campaign_lifecycle", &[("id", "999"), ("action", "archive")], Needs::Staff, (404, "\"NotFound\"")),
    ("public_link", &[("id", "999")], Needs::Staff, (404, "\"NotFound\"")),
    ("campaign_public_link", &[("id", "999"), ("action", "on")], Needs::Staff, (404, "\"NotFound\"")),
    ("import_campaigns", &[("account_id", "999"), ("csv", "a,1,permanent")], Needs::Staff, (422, "\"field\":\"account_id\"")),
    ("dashboard_data", &[("lang", "en")], Needs::Staff, (200, "[]")),
    ("campaign_trend", &[("id", "999")], Needs::Staff, (404, "\"NotFound\"")),
    ("compare_campaigns", &[("ids", "998,999")], Needs::Staff, (422, "\"field\":\"ids\"")),
];

/// Routes outside server functions that need a session, and what staff get (campaign 1 does
/// not exist; the export of no campaigns is its header line).
const ROUTES: &[(&str, Answer)] = &[
    ("/campaigns/1/qr.png", (404, "not found")),
    ("/campaigns/1/qr.svg", (404, "not found")),
    ("/campaigns/codes.zip?ids=1", (404, "not found")),
    ("/campaigns/1/chart.svg", (404, "not found")),
    ("/campaigns/1/chart.png", (404, "not found")),
    ("/compare/chart.svg?ids=1", (422, "there is no campaign 1")),
    ("/compare/chart.png?ids=1", (422, "there is no campaign 1")),
    // Account 1 is the one the admin's save_account call above created.
    ("/accounts/1/chart.svg", (200, "<svg")),
    ("/accounts/1/chart.png", (200, "PNG")),
    ("/export/campaigns/1/stats.csv", (404, "not found")),
    ("/export/campaigns.csv", (200, "id,name,kind,scene,scans,new_followers,unsubscribes,net_followers")),
    ("/export/compare.csv?ids=1", (422, "there is no campaign 1")),
];

/// `res` is `expected`: its status, and a body holding the expected piece.
async fn assert_answer(res: reqwest::Response, expected: Answer, what: &str) {
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    assert_eq!(status, expected.0, "{what}: {body}");
    assert!(body.contains(expected.1), "{what}: {:?} not in {body}", expected.1);
}

dual_test!(every_server_function_checks_the_role, |t: TestDb| async move {
    let r = start(t).await;
    let staff = r.login("staff", "staff-password").await;
    let admin = r.login("admin", "admin-password").await;
    for (name, args, needs, allowed) in FUNCTIONS {
        assert_answer(r.call(name, "", args).await, (401, "\"Unauthorized\""), &format!("{name} as anonymous")).await;
        let as_staff = r.call(name, &staff, args).await;
        match needs {
            Needs::Admin => assert_answer(as_staff, (403, "\"Forbidden\""), &format!("{name} as staff")).await,
            Needs::Staff => assert_answer(as_staff, *allowed, &format!("{name} as staff")).await,
        }
    }
    // Admins pass the guard everywhere; checked last because some calls change users.
    for (name, args, _, allowed) in FUNCTIONS {
        if *allowed != SKIP {
            assert_answer(r.call(name, &admin, args).await, *allowed, &format!("{name} as admin")).await;
        }
    }
    for (path, allowed) in ROUTES {
        let res = r.http.get(format!("{}{path}", r.base)).send().await.unwrap();
        assert_answer(res, (401, "please sign in"), &format!("{path} without a session")).await;
        let res = r.http.get(format!("{}{path}", r.base)).header("cookie", &staff).send().await.unwrap();
        assert_answer(res, *allowed, &format!("{path} as staff")).await;
    }
});

dual_test!(staff_cannot_create_users_or_accounts, |t: TestDb| async move {
    let r = start(t).await;
    let staff = r.login("staff", "staff-password").await;
    let res = r.call("create_user", &staff, &[("username", "mallory"), ("password", "mallory-password"), ("role", "admin")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = r
        .call(
            "save_account",
            &staff,
            &[("name", "Evil"), ("app_id", "wx00000000000000ee"), ("app_secret", "s3cret"), ("token", "tok123"), ("message_mode", "plain")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let users = service::users::list(&r.t.db).await.unwrap();
    assert!(users.iter().all(|u| u.username != "mallory"), "no user was created");
    assert!(service::accounts::list(&r.t.db).await.unwrap().is_empty(), "no account was created");
});
