//! Promises README makes about inputs and cookies that only show at their edges: inputs as
//! large as the services accept, and the cookies under an https public URL.

mod support;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use service::dual_test;
use service::testing::TestDb;
use support::{start, start_on};

/// A PNG of exactly `size` bytes: a small image padded with a text chunk (valid CRC).
fn png_of_size(size: usize) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let mut png = Vec::new();
    image::DynamicImage::new_rgba8(40, 40).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let iend = png.len() - 12;
    // A chunk is length (4) + type (4) + data + CRC (4).
    let data_len = size - png.len() - 12;
    let mut chunk = (data_len as u32).to_be_bytes().to_vec();
    let mut body = b"tEXt".to_vec();
    body.extend(b"Comment\0");
    body.resize(4 + data_len, b'x');
    chunk.extend(&body);
    chunk.extend(crc32(&body).to_be_bytes());
    png.splice(iend..iend, chunk);
    assert_eq!(png.len(), size);
    png
}

// Inputs as large as the services accept get the services' own answers, not a bare 413
// from the router's body cap: a logo of exactly 1 MiB is taken, and a CSV over 1 MiB (sent
// percent-encoded, as the import form does) gets the import's message naming the field.
dual_test!(the_largest_inputs_reach_the_services_that_check_them, |t: TestDb| async move {
    use sea_orm::ActiveModelTrait;
    let r = start(t).await;
    let account = service::testing::account_row("wx5100000000000001").insert(&r.t.db).await.unwrap().id;
    let campaign = service::testing::campaign_row(account, "Big logo", "1").insert(&r.t.db).await.unwrap().id;
    let staff = r.login("staff", "staff-password").await;

    let logo = png_of_size(service::qr::MAX_LOGO_BYTES);
    let form = reqwest::multipart::Form::new().part("logo", reqwest::multipart::Part::bytes(logo).file_name("logo.png"));
    let res = r.http.post(format!("{}/campaigns/{campaign}/logo", r.base)).header(COOKIE, &staff).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], format!("/campaigns/{campaign}?logo=1"));

    let mut csv = String::from("name,kind,scene\n");
    let mut n = 0;
    while csv.len() <= service::campaigns::MAX_IMPORT_BYTES {
        n += 1;
        csv.push_str(&format!("春季海报 {n},permanent,\n"));
    }
    let res = r.call("import_campaigns", &staff, &[("account_id", &account.to_string()), ("csv", &csv)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("\"csv\""), "{body}");
});

// `SCENEBOARD_PUBLIC_URL` with https marks the cookies `Secure` and names them with the
// `__Host-` prefix (Path=/, no Domain), as README says; the session is then read under that
// name only, by pages, server functions and the image routes alike. Plain http keeps the
// plain names.
dual_test!(an_https_public_url_makes_cookies_secure_and_host_only, |t: TestDb| async move {
    let env = std::collections::HashMap::from([("SCENEBOARD_PUBLIC_URL".to_owned(), "https://sb.example.com".to_owned())]);
    let cfg = server::config::Config::from_sources(&env, &Default::default()).unwrap();
    let mut app = t.state();
    app.settings = std::sync::Arc::new(service::state::Settings {
        public_url: cfg.public_url.clone(),
        secure_cookies: cfg.secure_cookies(),
        ..(*app.settings).clone()
    });
    let r = start_on(t, app).await;
    let res =
        r.http.post(format!("{}/api/login", r.base)).form(&[("username", "admin"), ("password", "admin-password")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set: Vec<String> = res.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(set.len(), 2, "{set:?}");
    for (name, same_site) in [("__Host-sb_session=", "SameSite=Lax"), ("__Host-sb_device=", "SameSite=Strict")] {
        let cookie = set.iter().find(|c| c.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {set:?}"));
        for attribute in ["Secure", "HttpOnly", "Path=/", same_site] {
            assert!(cookie.split(';').any(|a| a.trim() == attribute), "{attribute} missing: {cookie}");
        }
        assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    }
    let session = support::session_cookie(&res).unwrap();
    assert!(session.starts_with("__Host-sb_session="), "{session}");
    let unprefixed = session.trim_start_matches("__Host-").to_owned();
    // Read under the name in force, and only under it.
    assert_eq!(r.call("list_campaigns", &session, &[]).await.status(), StatusCode::OK);
    assert_eq!(r.call("list_campaigns", &unprefixed, &[]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.get("/campaigns", &session).await.status(), StatusCode::OK);
    assert!(r.get("/campaigns", &unprefixed).await.status().is_redirection(), "to the login page");
    assert_eq!(r.get("/campaigns/codes.zip?ids=100001", &session).await.status(), StatusCode::NOT_FOUND, "signed in");
    assert_eq!(r.get("/campaigns/codes.zip?ids=100001", &unprefixed).await.status(), StatusCode::UNAUTHORIZED);
    // Signing out clears it under its name, with the attributes the prefix requires.
    let res = r.http.post(format!("{}/api/logout", r.base)).header(COOKIE, &session).send().await.unwrap();
    let cleared = res.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("__Host-sb_session=;") || cleared.starts_with("__Host-sb_session=\"\";"), "{cleared}");
    for attribute in ["Secure", "Path=/"] {
        assert!(cleared.split(';').any(|a| a.trim() == attribute), "{attribute} missing: {cleared}");
    }
    assert_eq!(r.call("list_campaigns", &session, &[]).await.status(), StatusCode::UNAUTHORIZED, "ended");

    let plain = start(TestDb::new(service::testing::Backend::Sqlite, true).await).await;
    let res = plain
        .http
        .post(format!("{}/api/login", plain.base))
        .form(&[("username", "admin"), ("password", "admin-password")])
        .send()
        .await
        .unwrap();
    let set: Vec<String> = res.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(set[0].starts_with("sb_session=") && set[1].starts_with("sb_device="), "{set:?}");
    for cookie in &set {
        assert!(!cookie.split(';').any(|a| a.trim() == "Secure"), "plain http: {cookie}");
    }
});

// One ZIP holds at most 200 codes (README, "HTTP routes"): 201 ids are refused in words
// before any code is drawn; 200 unknown ids get past the cap to the lookup.
dual_test!(a_zip_of_codes_holds_at_most_two_hundred, |t: TestDb| async move {
    let r = start(t).await;
    let staff = r.login("staff", "staff-password").await;
    let ids = |n: usize| (1..=n).map(|i| format!("ids={}", 100_000 + i)).collect::<Vec<_>>().join("&");
    let res = r.get(&format!("/campaigns/codes.zip?{}", ids(201)), &staff).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("at most 200 codes"));
    let res = r.get(&format!("/campaigns/codes.zip?{}", ids(200)), &staff).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "past the cap, to the first unknown campaign");
});

// With SCENEBOARD_METRICS_TOKEN set, /metrics answers only a request with that bearer token:
// 401 with WWW-Authenticate otherwise, a wrong token included.
dual_test!(metrics_can_require_a_bearer_token, |t: TestDb| async move {
    let env = std::collections::HashMap::from([("SCENEBOARD_METRICS_TOKEN".to_owned(), "metrics-3f9a7c".to_owned())]);
    let cfg = server::config::Config::from_sources(&env, &Default::default()).unwrap();
    let mut app = t.state();
    app.settings = std::sync::Arc::new(service::state::Settings {
        metrics_token: cfg.metrics_token.as_deref().map(service::state::MetricsToken::new),
        ..(*app.settings).clone()
    });
    let r = start_on(t, app).await;
    let url = format!("{}/metrics", r.base);
    for auth in [None, Some("Bearer wrong"), Some("metrics-3f9a7c"), Some("Basic bWV0cmljcy0zZjlhN2M=")] {
        let mut req = r.http.get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
    }
    let res = r.http.get(&url).header("authorization", "Bearer metrics-3f9a7c").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("http_requests_total"));
    assert!(!format!("{cfg:?}").contains("metrics-3f9a7c"), "the token is never printed");
});

// Pages and server-function answers are never cached (Settings shows callback Tokens); an
// https site sends HSTS and takes no state-changing request from a plain-http page of its own
// host; a refused cross-origin post logs nothing raw.
dual_test!(pages_are_not_stored_and_https_sites_say_so, |t: TestDb| async move {
    let plain = start(TestDb::new(service::testing::Backend::Sqlite, true).await).await;
    let res = plain.get("/login", "").await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers().get("strict-transport-security").is_none(), "no HSTS over plain http");
    let staff = plain.login("staff", "staff-password").await;
    let res = plain.call("list_campaigns", &staff, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");

    let mut app = t.state();
    app.settings = std::sync::Arc::new(service::state::Settings {
        public_url: "https://sb.example.com".into(),
        secure_cookies: true,
        ..(*app.settings).clone()
    });
    let r = start_on(t, app).await;
    for path in ["/login", "/livez", "/no/such/page"] {
        let res = r.get(path, "").await;
        assert_eq!(res.headers()["strict-transport-security"], "max-age=31536000", "{path}");
    }
    let host = r.base.trim_start_matches("http://").to_owned();
    let res = r.http.post(format!("{}/api/logout", r.base)).header("origin", format!("http://{host}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a plain-http origin of an https site");
    let res = r.http.post(format!("{}/api/logout", r.base)).header("origin", "https://sb.example.com").send().await.unwrap();
    assert_ne!(res.status(), StatusCode::FORBIDDEN, "the public origin");
});
