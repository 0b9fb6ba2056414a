//! The hardened web surface over real HTTP, on SQLite and PostgreSQL: security headers and
//! the Content-Security-Policy, refusal of cross-site writes (and the callback exempt from
//! it), session rotation and "sign out everywhere", and no secret in any page, export or log
//! line of the real binary. The sign-in limits are in `sign_in.rs`.

mod support;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, LOCATION, ORIGIN, REFERER, SET_COOKIE};
use sea_orm::{EntityTrait, PaginatorTrait};
use service::dual_test;
use service::entity::{event, session};
use service::testing::TestDb;
use service::users::{self, Role};
use sha2::{Digest, Sha256};
use std::time::Duration;
use support::{Running, sandbox_account, start};

const EVIL: &str = "https://evil.example";

/// POST /api/login as a script (no Origin, no Referer), with extra headers.
async fn login_attempt(r: &Running, user: &str, password: &str, headers: &[(reqwest::header::HeaderName, &str)]) -> reqwest::Response {
    let mut req = r.http.post(format!("{}/api/login", r.base)).form(&[("username", user), ("password", password)]);
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    req.send().await.unwrap()
}

/// The `name=value` of the session cookie a response sets.
fn session_cookie(res: &reqwest::Response) -> String {
    let set = res.headers().get(SET_COOKIE).expect("a session cookie").to_str().unwrap();
    assert!(set.starts_with("sb_session="), "{set}");
    set.split(';').next().unwrap().to_owned()
}

async fn session_count(r: &Running) -> u64 {
    session::Entity::find().count(&r.t.db).await.unwrap()
}

/// The sources of one CSP directive (`script-src` → `['self', …]`).
fn directive<'a>(csp: &'a str, name: &str) -> Vec<&'a str> {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix(name).filter(|rest| rest.is_empty() || rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {name} in {csp}"))
        .split_whitespace()
        .collect()
}

/// The headers every answer carries; returns the CSP.
fn assert_security_headers(res: &reqwest::Response, what: &str) -> String {
    let h = res.headers();
    let get = |name: &str| h.get(name).unwrap_or_else(|| panic!("{what}: no {name}")).to_str().unwrap().to_owned();
    let csp = get("content-security-policy");
    assert_eq!(directive(&csp, "default-src"), ["'self'"], "{what}: {csp}");
    assert_eq!(directive(&csp, "frame-ancestors"), ["'none'"], "{what}: {csp}");
    assert_eq!(directive(&csp, "object-src"), ["'none'"], "{what}: {csp}");
    let scripts = directive(&csp, "script-src");
    assert!(!scripts.contains(&"'unsafe-inline'") && !scripts.contains(&"'unsafe-eval'"), "{what}: {csp}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "same-origin", "{what}");
    assert!(get("permissions-policy").contains("camera=()"), "{what}");
    assert_eq!(get("cross-origin-opener-policy"), "same-origin", "{what}");
    csp
}

/// Every inline `<script>` of `html` as (attributes, content).
fn inline_scripts(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start + "<script".len()..];
        let tag_end = after.find('>').expect("a closed <script> tag");
        let attrs = after[..tag_end].to_owned();
        let body = &after[tag_end + 1..];
        let end = body.find("</script>").expect("</script>");
        if !attrs.contains("src=") {
            out.push((attrs, body[..end].to_owned()));
        }
        rest = &body[end..];
    }
    out
}

/// Every inline script of a page runs under its CSP: it carries the response's nonce, or the
/// CSP lists its SHA-256. Returns how many of each.
fn assert_scripts_allowed(html: &str, csp: &str, what: &str) -> (usize, usize) {
    let sources = directive(csp, "script-src");
    let nonce =
        sources.iter().find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\'')).unwrap_or_else(|| panic!("{what}: no nonce in {csp}"));
    let (mut by_nonce, mut by_hash) = (0, 0);
    for (attrs, body) in inline_scripts(html) {
        if body.is_empty() {
            // Leptos leaves an empty `<script></script>` in the page; a browser neither runs
            // nor checks an inline script without text, so it needs no permission.
            continue;
        }
        if attrs.contains("nonce=") {
            assert!(attrs.contains(&format!("nonce=\"{nonce}\"")), "{what}: a script with another nonce: {attrs}");
            by_nonce += 1;
        } else {
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes()));
            assert!(sources.contains(&format!("'sha256-{hash}'").as_str()), "{what}: inline script not allowed by {csp}: {body}");
            by_hash += 1;
        }
    }
    (by_nonce, by_hash)
}

dual_test!(security_headers_on_pages_health_images_and_404, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let admin = r.login("admin", "admin-password").await;

    // Pages: the CSP names this response's nonce and the hydration script's hash, and every
    // inline script is covered by one of them (so the wasm still loads).
    let mut nonces = Vec::new();
    for (path, cookie) in [("/login", ""), ("/", admin.as_str()), ("/campaigns", admin.as_str()), ("/campaigns/new", admin.as_str())] {
        let res = r.get(path, cookie).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let csp = assert_security_headers(&res, path);
        assert!(directive(&csp, "script-src").contains(&"'wasm-unsafe-eval'"), "{csp}");
        let html = res.text().await.unwrap();
        // Only the form is an island (hydrated by the script); the other pages have none.
        assert_eq!(html.contains("<leptos-island"), path == "/campaigns/new", "{path}");
        let (_, by_hash) = assert_scripts_allowed(&html, &csp, path);
        assert_eq!(by_hash, 1, "{path}: the hydration module script, allowed by its hash");
        nonces.push(directive(&csp, "script-src").into_iter().find(|s| s.starts_with("'nonce-")).unwrap().to_owned());
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 4, "a fresh nonce per response: {nonces:?}");

    // A 404 page, health, a failed sign-in page, a refusal: the same headers.
    let res = r.get("/no-such-page", &admin).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let csp = assert_security_headers(&res, "404");
    assert_scripts_allowed(&res.text().await.unwrap(), &csp, "404");
    let res = r.http.get(format!("{}/healthz", r.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = assert_security_headers(&res, "/healthz");
    assert!(!csp.contains("nonce-"), "no page, no nonce: {csp}");
    let res = login_attempt(&r, "admin", "wrong-password", &[(ACCEPT, "text/html")]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let csp = assert_security_headers(&res, "failed sign-in");
    assert_scripts_allowed(&res.text().await.unwrap(), &csp, "failed sign-in");
    let res = login_attempt(&r, "admin", "admin-password", &[(ORIGIN, EVIL)]).await;
    assert_security_headers(&res, "refusal");

    // Images: a chart SVG keeps its own <style> (inline styles allowed) and works as <img>.
    let res = r.get(&format!("/accounts/{account}/chart.svg"), &admin).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("image/svg+xml"));
    let csp = assert_security_headers(&res, "chart.svg");
    assert!(directive(&csp, "style-src").contains(&"'unsafe-inline'"), "{csp}");
    assert!(directive(&csp, "img-src").contains(&"data:"), "logos are data: images inside code SVGs: {csp}");
    assert!(res.text().await.unwrap().contains("<style>"));
});

dual_test!(cross_site_writes_are_refused, |t: TestDb| async move {
    let r = start(t).await;
    let same = r.base.clone();
    let port: u16 = same.rsplit(':').next().unwrap().parse().unwrap();
    let other_port = format!("http://127.0.0.1:{}", if port == 1 { 2 } else { port - 1 });
    let (login_page, login_with_next) = (format!("{same}/login"), format!("{same}/login?next=%2F"));

    // Sign-in from another site: 403 with a reason, no cookie, no session.
    for headers in [
        vec![(ORIGIN, EVIL)],
        vec![(ORIGIN, "null")],
        vec![(ORIGIN, other_port.as_str())],
        vec![(REFERER, "https://evil.example/phish?u=admin")],
        // Origin decides when both are there.
        vec![(ORIGIN, EVIL), (REFERER, login_page.as_str())],
    ] {
        let res = login_attempt(&r, "admin", "admin-password", &headers).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(res.headers().get(SET_COOKIE).is_none());
        assert_eq!(res.text().await.unwrap(), "cross-origin request refused\n");
    }
    assert_eq!(session_count(&r).await, 0, "no session was created");

    // This site (its own Host, or SCENEBOARD_PUBLIC_URL's origin, here http://127.0.0.1:3000
    // while the test server listens elsewhere), or no Origin/Referer at all (scripts): fine.
    for headers in
        [vec![(ORIGIN, same.as_str())], vec![(REFERER, login_with_next.as_str())], vec![(ORIGIN, "http://127.0.0.1:3000")], vec![]]
    {
        let res = login_attempt(&r, "admin", "admin-password", &headers).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{headers:?}");
    }
    assert_eq!(session_count(&r).await, 4);

    // A server function that creates a user, called with the admin's cookie from another
    // site: refused, and no user appears.
    let admin = r.login("admin", "admin-password").await;
    let post = |name: &'static str, headers: Vec<(reqwest::header::HeaderName, String)>| {
        let mut req = r.http.post(format!("{}/api/create_user", r.base)).header(COOKIE, &admin).form(&[
            ("username", name),
            ("password", "mallory-password"),
            ("role", "admin"),
        ]);
        for (h, v) in headers {
            req = req.header(h, v);
        }
        req.send()
    };
    let res = post("mallory", vec![(ORIGIN, EVIL.into())]).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post("mallory", vec![(REFERER, format!("{EVIL}/x")), (ACCEPT, "text/html".into())]).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(users::list(&r.t.db).await.unwrap().iter().all(|u| u.username != "mallory"), "no user was created");
    // Same origin (the hydrated app), a same-origin form (JavaScript off), a script: created.
    assert_eq!(post("ann", vec![(ORIGIN, same.clone())]).await.unwrap().status(), StatusCode::OK);
    let res = post("bo", vec![(REFERER, format!("{same}/users")), (ACCEPT, "text/html".into())]).await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(post("cy", vec![]).await.unwrap().status(), StatusCode::OK);
    let names: Vec<String> = users::list(&r.t.db).await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["admin", "ann", "bo", "cy", "staff"]);

    // Logging someone out from another site is refused too; any write method is checked.
    let res = r.http.post(format!("{}/api/logout", r.base)).header(COOKIE, &admin).header(ORIGIN, EVIL).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.call("list_users", &admin, &[]).await.status(), StatusCode::OK, "still signed in");
    for method in [reqwest::Method::PUT, reqwest::Method::PATCH, reqwest::Method::DELETE] {
        let res = r.http.request(method.clone(), format!("{}/api/logout", r.base)).header(ORIGIN, EVIL).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method}");
    }
    // Reading is not a write: a GET with a foreign Origin is answered.
    let res = r.http.get(format!("{}/healthz", r.base)).header(ORIGIN, EVIL).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
});

dual_test!(the_callback_takes_pushes_whatever_their_origin, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, _) = sandbox_account(&r).await;
    let app_id = wechat::sim::SimApp::sandbox().app_id;
    let url = format!("{}/wechat/callback/{app_id}", r.base);
    let signed = support::signed_now("sandboxtoken");
    let xml = wechat::xml::event_xml("gh_sandbox", "oUser1", 1_714_035_600, "subscribe", None, None);
    let res =
        r.http.post(&url).query(&signed).header(ORIGIN, EVIL).header(REFERER, format!("{EVIL}/")).body(xml.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("content-security-policy").is_some(), "headers are harmless here");
    assert_eq!(res.text().await.unwrap(), "success");
    assert_eq!(event::Entity::find().count(&r.t.db).await.unwrap(), 1, "the push was stored");
    // Its own checks still apply: a bad signature is the callback's 403, not ours.
    let mut bad = signed.clone();
    bad[0].1 = "0".repeat(40);
    let res = r.http.post(&url).query(&bad).header(ORIGIN, EVIL).body(xml).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_ne!(res.text().await.unwrap(), "cross-origin request refused\n");
    assert_eq!(event::Entity::find().count(&r.t.db).await.unwrap(), 1);
});

dual_test!(sign_in_replaces_the_session_the_browser_held, |t: TestDb| async move {
    let r = start(t).await;
    let old = r.login("admin", "admin-password").await;
    assert_eq!(r.call("list_users", &old, &[]).await.status(), StatusCode::OK);
    // Sign in again (as anyone) while presenting the old cookie: the old token is gone.
    let res = r
        .http
        .post(format!("{}/api/login", r.base))
        .header(COOKIE, &old)
        .form(&[("username", "admin"), ("password", "admin-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let new = session_cookie(&res);
    assert_ne!(new, old);
    assert_eq!(r.call("list_users", &old, &[]).await.status(), StatusCode::UNAUTHORIZED, "the old cookie is anonymous now");
    let page = r.get("/users", &old).await;
    assert!(page.status().is_redirection(), "pages send it to the login page: {}", page.status());
    assert!(page.headers()[LOCATION].to_str().unwrap().starts_with("/login"));
    assert_eq!(r.call("list_users", &new, &[]).await.status(), StatusCode::OK);
    assert_eq!(session_count(&r).await, 1);
    // A failed attempt leaves the held session alone.
    let res = r
        .http
        .post(format!("{}/api/login", r.base))
        .header(COOKIE, &new)
        .form(&[("username", "admin"), ("password", "wrong-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.call("list_users", &new, &[]).await.status(), StatusCode::OK);
});

dual_test!(sign_out_everywhere_ends_every_session_of_the_user, |t: TestDb| async move {
    let r = start(t).await;
    let laptop = r.login("admin", "admin-password").await;
    let phone = r.login("admin", "admin-password").await;
    let staff = r.login("staff", "staff-password").await;
    assert_eq!(session_count(&r).await, 3);
    let res = r.http.post(format!("{}/api/logout-all", r.base)).header(COOKIE, &phone).header(ORIGIN, &r.base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/login");
    let cleared = res.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("sb_session=;") || cleared.contains("Max-Age=0"), "{cleared}");
    for (who, cookie) in [("phone", &phone), ("laptop", &laptop)] {
        assert_eq!(r.call("list_users", cookie, &[]).await.status(), StatusCode::UNAUTHORIZED, "{who}");
    }
    assert_eq!(r.call("list_campaigns", &staff, &[]).await.status(), StatusCode::OK, "other users stay signed in");
    assert_eq!(session_count(&r).await, 1);
    // Without a session (or with a dead one) it only goes to the login page, ending nothing.
    for cookie in ["", phone.as_str()] {
        let res = r.http.post(format!("{}/api/logout-all", r.base)).header(COOKIE, cookie).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()[LOCATION], "/login");
    }
    assert_eq!(session_count(&r).await, 1);
    // From another site: refused before it runs.
    let res = r.http.post(format!("{}/api/logout-all", r.base)).header(COOKIE, &staff).header(ORIGIN, EVIL).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.call("list_campaigns", &staff, &[]).await.status(), StatusCode::OK);
});

/// The `sceneboard` binary serving `DATABASE_URL` on a free port at `RUST_LOG=debug`, its
/// stdout and stderr written to files; killed when dropped, even on a failed assertion.
struct Served {
    base: String,
    http: reqwest::Client,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Served {
    async fn start(database_url: &str) -> Served {
        Self::start_with(database_url, &[]).await
    }

    /// [`Served::start`] with more environment variables.
    async fn start_with(database_url: &str, env: &[(&str, &str)]) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_sceneboard"))
            .arg("serve")
            .current_dir(dir.path())
            .env("DATABASE_URL", database_url)
            .env("SCENEBOARD_ADDR", format!("127.0.0.1:{port}"))
            .env("SCENEBOARD_DATA_DIR", dir.path().join("data"))
            .env("SCENEBOARD_PUBLIC_URL", &base)
            .env("RUST_LOG", "debug")
            .env_remove("SCENEBOARD_SECRET_KEY")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .expect("spawn sceneboard");
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let served = Served { base, http, child, dir };
        for _ in 0..300 {
            if served.http.get(format!("{}/healthz", served.base)).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not start: {}", served.log());
    }

    /// Everything the server wrote so far (stdout, then stderr).
    fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        read("stdout.log") + &read("stderr.log")
    }

    /// Stop the server (so every line is written) and return its log.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pieces of a secret worth looking for: the whole value and a 12-character middle part
/// (a truncated or partly masked copy is still a leak).
fn fragments(secret: &str) -> [&str; 2] {
    let mid = secret.len() / 2;
    [secret, &secret[mid - 6..mid + 6]]
}

dual_test!(no_secret_in_pages_exports_or_logs, |t: TestDb| async move {
    const PASSWORD: &str = "Pw-9d1f3a7c-correct-horse";
    const APP_SECRET: &str = "AppSecret7f3e9c1d2b4a6e8f0a1b2c3d";
    const AES_KEY: &str = "SbAesKey0123456789abcdefghijklmnopqrstuvwxy";
    assert_eq!(AES_KEY.len(), 43);
    users::create(&t.db, "admin", PASSWORD, Role::Admin, None).await.unwrap();
    let sim_app = wechat::sim::SimApp::new("wx00000000000000a7", APP_SECRET);
    let sim = wechat::sim::spawn(wechat::sim::SimConfig::with_apps(vec![sim_app.clone()])).await.unwrap();

    // The real binary at RUST_LOG=debug, its stdout and stderr captured in files.
    let server = Served::start(&t.url).await;
    let (base, http) = (server.base.clone(), server.http.clone());

    // Sign in (once wrongly, so the failure path is logged too), add the account with its
    // secrets, test it, create a campaign.
    let res =
        http.post(format!("{base}/api/login")).form(&[("username", "admin"), ("password", "Pw-wrong-password")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = http.post(format!("{base}/api/login")).form(&[("username", "admin"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&res);
    let token = cookie.trim_start_matches("sb_session=").to_owned();
    assert!(token.len() >= 40, "{token}");
    let call = |name: &str, args: &[(&str, &str)]| http.post(format!("{base}/api/{name}")).header(COOKIE, &cookie).form(args).send();
    let res = call(
        "save_account",
        &[
            ("name", "Brand"),
            ("app_id", &sim_app.app_id),
            ("app_secret", APP_SECRET),
            ("token", "brandtoken"),
            ("aes_key", AES_KEY),
            ("message_mode", "safe"),
            ("api_base_url", &sim.base_url()),
            ("timezone", "Asia/Shanghai"),
        ],
    )
    .await
    .unwrap();
    let mut bodies = Vec::new();
    assert_eq!(res.status(), StatusCode::OK);
    let account = res.text().await.unwrap();
    let res = call("test_account", &[("id", &account)]).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    bodies.push(("test_account".to_owned(), res.text().await.unwrap()));
    let res = call("create_campaign", &[("account_id", &account), ("name", "Poster"), ("kind", "permanent")]).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let campaign = res.text().await.unwrap();
    assert!(campaign.parse::<i32>().is_ok(), "{campaign}");
    for name in ["settings_overview", "list_users", "audit_log", "list_campaigns", "campaign_form_data"] {
        let res = call(name, &[]).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        bodies.push((name.to_owned(), res.text().await.unwrap()));
    }

    // Every page and export, as a browser.
    for path in [
        "/".to_owned(),
        "/campaigns".to_owned(),
        format!("/campaigns/{campaign}"),
        "/campaigns/new".to_owned(),
        "/campaigns/import".to_owned(),
        format!("/compare?ids={campaign}"),
        "/settings".to_owned(),
        "/users".to_owned(),
        "/audit".to_owned(),
        "/export/campaigns.csv".to_owned(),
        format!("/export/campaigns/{campaign}/stats.csv"),
        format!("/export/compare.csv?ids={campaign}"),
        format!("/campaigns/{campaign}/qr.svg"),
    ] {
        let res = http.get(format!("{base}{path}")).header(COOKIE, &cookie).header(ACCEPT, "text/html").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        bodies.push((path, res.text().await.unwrap()));
    }
    let res = http.post(format!("{base}/api/logout")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // The pages are real (the settings page shows the account), and none holds a secret.
    assert!(bodies.iter().any(|(p, b)| p == "/settings" && b.contains("brandtoken")), "the settings page shows the account");
    for (path, body) in &bodies {
        for (what, secret) in
            [("password", PASSWORD), ("AppSecret", APP_SECRET), ("EncodingAESKey", AES_KEY), ("session token", token.as_str())]
        {
            for piece in fragments(secret) {
                assert!(!body.contains(piece), "{what} in {path}");
            }
        }
    }

    // The log, stopped first so everything is written: real debug output, no secret.
    let log = server.stop();
    assert!(log.contains("signed in") && log.contains("failed sign-in"), "sign-in is logged: {log}");
    assert!(log.contains("DEBUG"), "debug lines are captured");
    for (what, secret) in
        [("password", PASSWORD), ("AppSecret", APP_SECRET), ("EncodingAESKey", AES_KEY), ("session token", token.as_str())]
    {
        for piece in fragments(secret) {
            if let Some(at) = log.find(piece) {
                let line_start = log[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = log[at..].find('\n').map_or(log.len(), |i| at + i);
                panic!("{what} in the server's log: {}", &log[line_start..line_end]);
            }
        }
    }
});

/// `sceneboard serve` hands the router the peer address and reads `SCENEBOARD_TRUSTED_PROXIES`:
/// the per-address sign-in limit counts the client a trusted proxy forwarded, in the real
/// server, not only in tests that build the router themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_binary_limits_sign_ins_per_forwarded_address() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", data.path().join("sb.db").display());
    let server = Served::start_with(&url, &[("SCENEBOARD_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let attempt = |user: String, client: &'static str| {
        server
            .http
            .post(format!("{}/api/login", server.base))
            .header("x-forwarded-for", client)
            .form(&[("username", user.as_str()), ("password", "password-guess")])
            .send()
    };
    for i in 0..20 {
        assert_eq!(attempt(format!("guess{i}"), "203.0.113.7").await.unwrap().status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let res = attempt("guess20".into(), "203.0.113.7").await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "21st failure from one client");
    assert!(res.headers().contains_key("retry-after"));
    let res = attempt("guess20".into(), "198.51.100.9").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "another client behind the same proxy");
}
