//! The sign-in limiter over real HTTP, on SQLite and PostgreSQL: failures slow the (username,
//! address) and the address they come from, not the user elsewhere; a browser that signed in
//! before (its device cookie) gets through any flood; `X-Forwarded-For` counts only from a
//! trusted proxy. Clients take other addresses by binding to other 127.x.y.z addresses.

mod support;

use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE, COOKIE, HeaderName, RETRY_AFTER, SET_COOKIE};
use reqwest::{Client, StatusCode};
use sea_orm::{EntityTrait, PaginatorTrait};
use service::dual_test;
use service::entity::session;
use service::testing::TestDb;
use support::{Running, client_from, session_cookie, set_cookie, start, start_on};

const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");

/// POST /api/login from `client` as a script (no Origin), with extra headers.
async fn attempt(r: &Running, client: &Client, user: &str, password: &str, headers: &[(HeaderName, &str)]) -> reqwest::Response {
    let mut req = client.post(format!("{}/api/login", r.base)).form(&[("username", user), ("password", password)]);
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    req.send().await.unwrap()
}

/// The status of an attempt.
async fn status(r: &Running, client: &Client, user: &str, password: &str, headers: &[(HeaderName, &str)]) -> StatusCode {
    attempt(r, client, user, password, headers).await.status()
}

/// A 429 with a `Retry-After` of at most `max` seconds, and no session; returns the seconds.
fn assert_slowed(res: &reqwest::Response, max: u64, what: &str) -> u64 {
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{what}");
    let secs: u64 = res.headers().get(RETRY_AFTER).unwrap_or_else(|| panic!("{what}: no Retry-After")).to_str().unwrap().parse().unwrap();
    assert!((1..=max).contains(&secs), "{what}: Retry-After {secs}");
    assert!(session_cookie(res).is_none(), "{what}");
    secs
}

async fn session_count(r: &Running) -> u64 {
    session::Entity::find().count(&r.t.db).await.unwrap()
}

dual_test!(a_stranger_cannot_keep_a_user_out, |t: TestDb| async move {
    let r = start(t).await;
    let stranger = client_from("127.0.0.2");
    for i in 0..5 {
        assert_eq!(status(&r, &stranger, "admin", "wrong-password", &[]).await, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    // From the stranger's address the sixth try waits 30 s, whatever the password or spelling.
    let res = attempt(&r, &stranger, "admin", "wrong-password", &[]).await;
    assert_slowed(&res, 30, "sixth try");
    assert!(res.text().await.unwrap().contains("too many failed sign-ins"));
    let res = attempt(&r, &stranger, " ADMIN ", "admin-password", &[]).await;
    assert_slowed(&res, 30, "the right password, from there");
    // A browser there gets the login page with the wait, in its language.
    let res = attempt(&r, &stranger, "admin", "admin-password", &[(ACCEPT, "text/html"), (COOKIE, "i18n_pref_locale=en")]).await;
    let secs = assert_slowed(&res, 30, "browser");
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!("Too many failed sign-ins. Try again in {secs} s.")), "{html}");
    assert!(html.contains("action=\"/api/login\""), "the login form is there: {html}");
    let res = attempt(&r, &stranger, "admin", "admin-password", &[(ACCEPT, "text/html"), (ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9")]).await;
    assert_slowed(&res, 30, "browser, Chinese");
    assert!(res.text().await.unwrap().contains("登录失败次数过多"));
    // The admin, from their own address, signs in at once; so does another user from the
    // stranger's address (5 failures there are far from the address's 20).
    assert_eq!(status(&r, &r.http, "admin", "admin-password", &[]).await, StatusCode::SEE_OTHER);
    assert_eq!(status(&r, &stranger, "staff", "staff-password", &[]).await, StatusCode::SEE_OTHER);
    assert_eq!(session_count(&r).await, 2);
});

dual_test!(many_names_from_one_address_are_slowed_there_only, |t: TestDb| async move {
    let r = start(t).await;
    let guesser = client_from("127.0.0.2");
    for i in 0..20 {
        assert_eq!(status(&r, &guesser, &format!("guess{i}"), "password-guess", &[]).await, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    assert_slowed(&attempt(&r, &guesser, "guess20", "password-guess", &[]).await, 30, "21st failure from the address");
    assert_slowed(&attempt(&r, &guesser, "staff", "staff-password", &[]).await, 30, "a real user at that address");
    assert_eq!(status(&r, &r.http, "staff", "staff-password", &[]).await, StatusCode::SEE_OTHER, "elsewhere");
});

dual_test!(a_known_device_signs_in_through_a_flood_from_its_own_address, |t: TestDb| async move {
    let r = start(t).await;
    // The admin and a stranger share one address (an office's NAT, say).
    let office = client_from("127.0.0.3");
    let res = attempt(&r, &office, "admin", "admin-password", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set: Vec<String> = res.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(set[0].starts_with("sb_session="), "the session cookie first: {set:?}");
    let device_header = set.iter().find(|c| c.starts_with("sb_device=")).expect("a device cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=31536000"] {
        assert!(device_header.split(';').any(|a| a.trim() == attribute), "{attribute}: {device_header}");
    }
    let device = set_cookie(&res, "sb_device").unwrap();
    // The flood: at the admin, and at made-up names past the address's allowance.
    for _ in 0..8 {
        let _ = attempt(&r, &office, "admin", "wrong-password", &[]).await;
    }
    for i in 0..25 {
        let _ = attempt(&r, &office, &format!("guess{i}"), "password-guess", &[]).await;
    }
    assert_slowed(&attempt(&r, &office, "admin", "admin-password", &[]).await, 900, "the right password without the cookie");
    // With the cookie: a wrong password is told so (checked, not held back), the right one
    // signs in, and a new device cookie comes with the session.
    assert_eq!(status(&r, &office, "admin", "wrong-password", &[(COOKIE, device.as_str())]).await, StatusCode::UNAUTHORIZED);
    let res = attempt(&r, &office, "admin", "admin-password", &[(COOKIE, device.as_str())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the known device");
    let session = session_cookie(&res).expect("signed in");
    assert_eq!(r.call("list_users", &session, &[]).await.status(), StatusCode::OK);
    let renewed = set_cookie(&res, "sb_device").expect("a fresh device cookie");
    assert_ne!(renewed, device);
    assert_eq!(
        status(&r, &office, "admin", "admin-password", &[(COOKIE, device.as_str())]).await,
        StatusCode::SEE_OTHER,
        "the old one is still good"
    );
    // The cookie is the admin's: another user's password through it waits like anyone's; an
    // altered cookie is no one's.
    assert_slowed(&attempt(&r, &office, "staff", "staff-password", &[(COOKIE, device.as_str())]).await, 900, "another user");
    let (head, tail) = device.split_at("sb_device=v1.".len() + 12);
    let flipped = if tail.starts_with('A') { 'B' } else { 'A' };
    let altered = format!("{head}{flipped}{}", &tail[1..]);
    assert_slowed(&attempt(&r, &office, "admin", "admin-password", &[(COOKIE, altered.as_str())]).await, 900, "an altered cookie");
});

dual_test!(forwarded_for_counts_only_from_a_trusted_proxy, |t: TestDb| async move {
    // Configured as an operator does: the test server's clients on 127.0.0.1 are the proxy.
    let env = std::collections::HashMap::from([("SCENEBOARD_TRUSTED_PROXIES".to_owned(), "127.0.0.1/32, 10.0.0.0/8".to_owned())]);
    let cfg = server::config::Config::from_sources(&env, &Default::default()).unwrap();
    let mut app = t.state();
    app.settings =
        std::sync::Arc::new(service::state::Settings { trusted_proxies: cfg.trusted_proxies.clone(), ..(*app.settings).clone() });
    let r = start_on(t, app).await;
    let proxy = &r.http;
    // A stranger at 203.0.113.7 behind the proxy is slowed...
    for i in 0..5 {
        assert_eq!(status(&r, proxy, "admin", "wrong-password", &[(XFF, "203.0.113.7")]).await, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    assert_slowed(&attempt(&r, proxy, "admin", "wrong-password", &[(XFF, "203.0.113.7")]).await, 30, "sixth");
    // ...also when writing another address into the header: the proxy appended the real one
    // (and a second proxy of ours in between is skipped).
    let claimed = [(XFF, "198.51.100.9, 203.0.113.7, 10.1.2.3")];
    assert_slowed(&attempt(&r, proxy, "admin", "admin-password", &claimed).await, 30, "a forged left-most entry");
    // The admin at 198.51.100.9, through the same proxy, signs in.
    assert_eq!(status(&r, proxy, "admin", "admin-password", &[(XFF, "198.51.100.9")]).await, StatusCode::SEE_OTHER);
    // A peer that is not a trusted proxy is its own address, whatever it forwards.
    let direct = client_from("127.0.0.2");
    for i in 0..5 {
        let forged = format!("198.51.100.{}", 100 + i);
        assert_eq!(
            status(&r, &direct, "admin", "wrong-password", &[(XFF, forged.as_str())]).await,
            StatusCode::UNAUTHORIZED,
            "failure {i}"
        );
    }
    assert_slowed(&attempt(&r, &direct, "admin", "admin-password", &[(XFF, "192.0.2.200")]).await, 30, "direct, forged header");
    assert_eq!(
        status(&r, proxy, "admin", "admin-password", &[(XFF, "192.0.2.200")]).await,
        StatusCode::SEE_OTHER,
        "the address it claimed is clean"
    );
});

dual_test!(without_trusted_proxies_forwarded_for_is_ignored, |t: TestDb| async move {
    let r = start(t).await;
    for i in 0..5 {
        let forged = format!("198.51.100.{}", 100 + i);
        assert_eq!(
            status(&r, &r.http, "admin", "wrong-password", &[(XFF, forged.as_str())]).await,
            StatusCode::UNAUTHORIZED,
            "failure {i}"
        );
    }
    assert_slowed(&attempt(&r, &r.http, "admin", "admin-password", &[(XFF, "192.0.2.200")]).await, 30, "the header changes nothing");
});
