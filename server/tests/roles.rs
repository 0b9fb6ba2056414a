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

/// Each server function with arguments that parse, so the answer is about the role.
const FUNCTIONS: &[(&str, &[(&str, &str)], Needs)] = &[
    ("list_users", &[], Needs::Admin),
    ("settings_overview", &[], Needs::Admin),
    ("audit_log", &[], Needs::Admin),
    ("create_user", &[("username", "eve"), ("password", "eve-password-1"), ("role", "admin")], Needs::Admin),
    ("change_user", &[("id", "1"), ("change", "staff")], Needs::Admin),
    ("reset_user_password", &[("id", "1"), ("password", "new-password-1")], Needs::Admin),
    (
        "save_account",
        &[("name", "X"), ("app_id", "wx0000000000000001"), ("app_secret", "s"), ("token", "tok123"), ("message_mode", "plain")],
        Needs::Admin,
    ),
    ("test_account", &[("id", "999")], Needs::Admin),
    ("list_campaigns", &[], Needs::Staff),
    ("campaign_detail", &[("id", "999")], Needs::Staff),
    ("campaign_form_data", &[], Needs::Staff),
    ("create_campaign", &[("account_id", "999"), ("name", "n"), ("kind", "permanent")], Needs::Staff),
    ("update_campaign", &[("id", "999"), ("name", "n")], Needs::Staff),
    ("renew_campaign", &[("id", "999")], Needs::Staff),
    ("campaign_lifecycle", &[("id", "999"), ("action", "archive")], Needs::Staff),
    ("public_link", &[("id", "999")], Needs::Staff),
    ("campaign_public_link", &[("id", "999"), ("action", "on")], Needs::Staff),
    ("import_campaigns", &[("account_id", "999"), ("csv", "a,1,permanent")], Needs::Staff),
    ("dashboard_data", &[("lang", "en")], Needs::Staff),
    ("campaign_trend", &[("id", "999")], Needs::Staff),
    ("compare_campaigns", &[("ids", "998,999")], Needs::Staff),
];

/// Routes outside server functions that need a session.
const ROUTES: &[&str] = &[
    "/campaigns/1/qr.png",
    "/campaigns/1/qr.svg",
    "/campaigns/codes.zip?ids=1",
    "/campaigns/1/chart.svg",
    "/campaigns/1/chart.png",
    "/compare/chart.svg?ids=1",
    "/compare/chart.png?ids=1",
    "/accounts/1/chart.svg",
    "/accounts/1/chart.png",
    "/export/campaigns/1/stats.csv",
    "/export/campaigns.csv",
    "/export/compare.csv?ids=1",
];

dual_test!(every_server_function_checks_the_role, |t: TestDb| async move {
    let r = start(t).await;
    let staff = r.login("staff", "staff-password").await;
    let admin = r.login("admin", "admin-password").await;
    for (name, args, needs) in FUNCTIONS {
        let anon = r.call(name, "", args).await;
        assert_eq!(anon.status(), StatusCode::UNAUTHORIZED, "{name} as anonymous");
        let as_staff = r.call(name, &staff, args).await.status();
        match needs {
            Needs::Admin => assert_eq!(as_staff, StatusCode::FORBIDDEN, "{name} as staff"),
            Needs::Staff => assert!(as_staff != StatusCode::FORBIDDEN && as_staff != StatusCode::UNAUTHORIZED, "{name} as staff: {as_staff}"),
        }
    }
    // Admins pass the guard everywhere (the answer may still be 404/422 for the made-up ids),
    // checked last because some calls change users.
    for (name, args, _) in FUNCTIONS {
        if *name == "change_user" || *name == "reset_user_password" {
            continue; // would demote or lock out the admin itself; covered in users tests
        }
        let status = r.call(name, &admin, args).await.status();
        assert!(status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED, "{name} as admin: {status}");
    }
    for path in ROUTES {
        let res = r.http.get(format!("{}{path}", r.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path} without a session");
        let res = r.http.get(format!("{}{path}", r.base)).header("cookie", &staff).send().await.unwrap();
        assert_ne!(res.status(), StatusCode::UNAUTHORIZED, "{path} as staff");
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
