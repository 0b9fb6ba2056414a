//! The HTTP surface over a real listener, on SQLite and PostgreSQL: sign-in, sessions, roles,
//! languages, error statuses, health and metrics.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use sea_orm::ConnectionTrait;
use server::routes::{ServerState, router};
use server::site::Site;
use service::dual_test;
use service::testing::TestDb;
use service::users::{self, Role};

struct Running {
    base: String,
    http: reqwest::Client,
    t: TestDb,
}

async fn start(t: TestDb) -> Running {
    start_in(t, Site::new(None)).await
}

/// A page being fetched: its status, Content-Security-Policy and body.
type PageTask = tokio::task::JoinHandle<reqwest::Result<(StatusCode, String, String)>>;

/// A response's Content-Security-Policy header, empty when it has none.
fn csp(res: &reqwest::Response) -> String {
    res.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// What `router` serves `t`'s database and `site` with.
fn server_state(t: &TestDb, site: Site) -> ServerState {
    let app = t.state();
    ServerState {
        leptos: leptos::prelude::LeptosOptions::builder().output_name("sceneboard").build().into(),
        site: site.into(),
        ingest: service::ingest::Ingestor::without_spool(app.clone()),
        app,
    }
}

/// The server with `site`.
/// Longest any request of these tests may wait for its answer.
const REQUEST_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

async fn start_in(t: TestDb, site: Site) -> Running {
    let state = server_state(&t, site);
    users::create(&t.db, "admin", "admin-password", Role::Admin, None).await.unwrap();
    users::create(&t.db, "staff", "staff-password", Role::Staff, None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The accept loop `sceneboard serve` runs (peer addresses, header-read timeout).
    tokio::spawn(async move { server::http::serve(listener, router(state), std::future::pending()).await.unwrap() });
    // A request that gets no answer fails naming its URL rather than hanging the test.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(REQUEST_LIMIT).build().unwrap();
    Running { base: format!("http://{addr}"), http, t }
}

impl Running {
    /// Sign in and return the `name=value` of the session cookie.
    async fn login(&self, user: &str, password: &str) -> String {
        let res = self
            .http
            .post(format!("{}/api/login", self.base))
            .form(&[("username", user), ("password", password), ("next", "/campaigns")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()[LOCATION], "/campaigns");
        let set = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(set.starts_with("sb_session="), "{set}");
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Lax"), "{set}");
        set.split(';').next().unwrap().to_owned()
    }

    async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        // As a browser navigates: pages answer redirects with a real 302 only then.
        self.http.get(format!("{}{path}", self.base)).header(COOKIE, cookie).header(ACCEPT, "text/html").send().await.unwrap()
    }

    /// Four signed-in pages, each requested at once in a task of its own.
    fn request_pages(&self, cookie: &str) -> Vec<(&'static str, PageTask)> {
        ["/", "/campaigns", "/campaigns/new", "/settings"]
            .into_iter()
            .map(|p| {
                let req = self.http.get(format!("{}{p}", self.base)).header(COOKIE, cookie).header(ACCEPT, "text/html");
                let task = tokio::spawn(async move {
                    let res = req.send().await?;
                    let policy = csp(&res);
                    Ok((res.status(), policy, res.text().await?))
                });
                (p, task)
            })
            .collect()
    }

    async fn server_fn(&self, name: &str, cookie: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/{name}", self.base))
            .header(COOKIE, cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap()
    }
}

dual_test!(login_logout_and_wrong_password, |t: TestDb| async move {
    let r = start(t).await;
    // Wrong password: 401, for a script and for a browser (which gets the page with the error).
    let res = r.http.post(format!("{}/api/login", r.base)).form(&[("username", "admin"), ("password", "nope")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get(SET_COOKIE).is_none());
    let res = r
        .http
        .post(format!("{}/api/login", r.base))
        .header(ACCEPT, "text/html")
        .header(COOKIE, "i18n_pref_locale=en")
        .form(&[("username", "ghost"), ("password", "whatever-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let html = res.text().await.unwrap();
    assert!(html.contains("Wrong username or password"), "{html}");
    assert!(!html.contains(".wasm") && !html.contains("modulepreload"), "the failure page is static");

    // Right password: a session that the server recognises.
    let cookie = r.login("admin", "admin-password").await;
    let me = r.server_fn("current_user", &cookie).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert!(me.text().await.unwrap().contains("\"username\":\"admin\""));

    // Logout ends it server-side: the old cookie no longer works.
    let res = r.http.post(format!("{}/api/logout", r.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/login");
    let me = r.server_fn("current_user", &cookie).await;
    assert_eq!(me.text().await.unwrap(), "null");
    let page = r.get("/", &cookie).await;
    assert!(page.status().is_redirection());
    assert_eq!(page.headers()[LOCATION], "/login");
});

dual_test!(open_redirects_are_refused, |t: TestDb| async move {
    let r = start(t).await;
    let res = r
        .http
        .post(format!("{}/api/login", r.base))
        .form(&[("username", "admin"), ("password", "admin-password"), ("next", "//evil.example/x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/");
    let res = r.get("/lang/en?next=https://evil.example", "").await;
    assert_eq!(res.headers()[LOCATION], "/");
});

dual_test!(roles_are_enforced_on_the_server, |t: TestDb| async move {
    let r = start(t).await;
    // No session: 401 from the admin-only server function.
    assert_eq!(r.server_fn("list_users", "").await.status(), StatusCode::UNAUTHORIZED);
    // Staff: 403, and no user data in the answer.
    let staff = r.login("staff", "staff-password").await;
    let res = r.server_fn("list_users", &staff).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!res.text().await.unwrap().contains("admin"));
    assert_eq!(r.server_fn("settings_overview", &staff).await.status(), StatusCode::FORBIDDEN);
    // Staff asking for an admin page: the page says so, with a 403.
    let page = r.get("/users", &format!("{staff}; i18n_pref_locale=en")).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.text().await.unwrap().contains("administrators only"));
    // Admin: allowed.
    let admin = r.login("admin", "admin-password").await;
    let res = r.server_fn("list_users", &admin).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains("\"staff\"") && body.contains("\"admin\""), "{body}");
    let page = r.get("/users", &admin).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("staff"));
});

dual_test!(pages_render_in_both_languages, |t: TestDb| async move {
    let r = start(t).await;
    let admin = r.login("admin", "admin-password").await;
    // Chinese is the default.
    let zh = r.get("/", &admin).await;
    assert_eq!(zh.status(), StatusCode::OK);
    let zh = zh.text().await.unwrap();
    assert!(zh.contains("lang=\"zh\""), "html lang set");
    assert!(zh.contains("概览") && zh.contains("退出登录"), "Chinese shell");
    // English through the cookie the language switch sets.
    let res = r.get("/lang/en?next=/campaigns", "").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/campaigns");
    let lang = res.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert_eq!(lang, "i18n_pref_locale=en");
    // (`<!>` are Leptos' hydration markers between text nodes.)
    let en = r.get("/", &format!("{admin}; {lang}")).await.text().await.unwrap().replace("<!>", "");
    assert!(en.contains("lang=\"en\""));
    assert!(en.contains("Dashboard") && en.contains("Log out") && en.contains("Welcome back, admin"));
    assert!(!en.contains("退出登录"));
    // The login page too, and its first-admin hint only while there are users... (there are).
    let login = r.get("/login", "i18n_pref_locale=en").await.text().await.unwrap();
    assert!(login.contains("Log in") && !login.contains("No users yet"));
    assert_eq!(r.get("/lang/fr", "").await.status(), StatusCode::NOT_FOUND);
});

dual_test!(first_admin_hint_when_no_users, |t: TestDb| async move {
    // A server over a database with no user yet.
    let app = t.state();
    let state = ServerState {
        leptos: leptos::prelude::LeptosOptions::builder().output_name("sceneboard").build().into(),
        site: Site::new(None).into(),
        ingest: service::ingest::Ingestor::without_spool(app.clone()),
        app,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    let html = reqwest::get(format!("http://{addr}/login")).await.unwrap().text().await.unwrap();
    assert!(html.contains("sceneboard user add --username admin --role admin"), "{html}");
    drop(t);
});

dual_test!(error_pages_have_real_statuses, |t: TestDb| async move {
    let r = start(t).await;
    let admin = r.login("admin", "admin-password").await;
    let res = r.get("/no/such/page", &format!("{admin}; i18n_pref_locale=en")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("Page not found"));
    let res = r.get("/campaigns", "").await;
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()[LOCATION], "/login?next=/campaigns");
});

dual_test!(healthz_and_metrics, |t: TestDb| async move {
    let mut r = start(t).await;
    let res = r.get("/healthz", "").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), format!("ok sceneboard {}", env!("CARGO_PKG_VERSION")));
    // A wrong password, and a queued job, to be seen in the gauges and counters below.
    let res =
        r.http.post(format!("{}/api/login", r.base)).form(&[("username", "admin"), ("password", "not-the-password")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    service::jobs::enqueue_job(&r.t.db, &service::jobs::Job::RenewUnkeyed, chrono::Utc::now() + chrono::Duration::days(1), None)
        .await
        .unwrap();
    let m = r.get("/metrics", "").await.text().await.unwrap();
    assert!(m.contains("http_requests_total"), "{m}");
    assert!(m.contains("route=\"/healthz\""), "{m}");
    assert!(m.contains("http_request_duration_seconds"), "{m}");
    // The recorder is the process's, shared by this file's servers: counters only grow.
    let value = |series: &str| -> f64 {
        m.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or_else(|| panic!("no {series} in {m}"))
    };
    assert!(value(r#"sceneboard_signin_refusals_total{reason="wrong_password"}"#) >= 1.0);
    assert_eq!(value(&format!(r#"sceneboard_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION"))), 1.0);
    for gauge in ["sceneboard_spool_pushes", "sceneboard_spool_backlog_age_seconds", "sceneboard_database_up"] {
        assert!(value(gauge) >= 0.0, "{gauge}");
    }
    assert!(value(r#"sceneboard_db_pool_connections{state="idle"}"#) + value(r#"sceneboard_db_pool_connections{state="in_use"}"#) >= 1.0);
    assert!(value(r#"sceneboard_jobs{kind="renew_code",state="queued"}"#) >= 1.0);
    assert!(value(r#"sceneboard_jobs{kind="tag_follower",state="failed"}"#) >= 0.0);
    let admin = r.login("admin", "admin-password").await;
    for (path, body) in [("/livez", "live"), ("/readyz", "ready")] {
        let res = r.get(path, "").await;
        assert_eq!((res.status(), res.text().await.unwrap()), (StatusCode::OK, body.to_owned()), "{path}");
    }
    // A migration of this build not applied (an older schema): not ready, though the
    // database answers (`/healthz`) and pushes are still taken (`/livez`).
    r.t.db.execute_unprepared("DELETE FROM seaql_migrations WHERE version = (SELECT max(version) FROM seaql_migrations)").await.unwrap();
    for (path, status, body) in [
        ("/readyz", StatusCode::SERVICE_UNAVAILABLE, "migrations pending"),
        ("/healthz", StatusCode::OK, concat!("ok sceneboard ", env!("CARGO_PKG_VERSION"))),
        ("/livez", StatusCode::OK, "live"),
    ] {
        let res = r.get(path, "").await;
        assert_eq!((res.status(), res.text().await.unwrap()), (status, body.to_owned()), "{path}");
    }
    r.t.make_unreachable().await;
    // The database down: not ready, but live, so a balancer keeps sending pushes to spool.
    for (path, status, body) in [("/readyz", StatusCode::SERVICE_UNAVAILABLE, "database unavailable"), ("/livez", StatusCode::OK, "live")] {
        let res = r.get(path, "").await;
        assert_eq!((res.status(), res.text().await.unwrap()), (status, body.to_owned()), "{path}");
    }
    let res = r.get("/healthz", "").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Pages say so too, with a 503 and a page that says it in words rather than a blank screen.
    let res = r.get("/", &format!("{admin}; i18n_pref_locale=en")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.text().await.unwrap().contains("cannot reach its database right now"));
    // The routes outside Leptos answer with the same status, and when to come back.
    let res = r.get("/export/campaigns.csv", &admin).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(res.text().await.unwrap(), "the database is not answering: try again later\n");
});

// A browser loading a page fetches the wasm and other files while other pages render. Each
// response must keep its own security policy: a page the policy with its own render's nonce
// (the one on its inline scripts: otherwise the browser refuses them and the page never
// hydrates), a file the plain one. Files used to be answered inside a reactive owner that
// could attach to a page render in progress on the same thread and take its headers.
dual_test!(files_and_pages_rendered_together_keep_their_own_policy, |t: TestDb| async move {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    for i in 0..8 {
        std::fs::write(site.path().join(format!("pkg/chunk{i}.wasm")), vec![i as u8; 32 * 1024]).unwrap();
    }
    let r = start_in(t, Site::dir(site.path())).await;
    let admin = r.login("admin", "admin-password").await;
    for _ in 0..12 {
        let pages = r.request_pages(&admin);
        let files: Vec<_> = (0..8)
            .map(|i| {
                let req = r.http.get(format!("{}/pkg/chunk{i}.wasm", r.base));
                tokio::spawn(async move {
                    let res = req.send().await.unwrap();
                    (res.status(), csp(&res), res.bytes().await.unwrap())
                })
            })
            .collect();
        for (_, page) in pages {
            let (status, policy, body) = page.await.unwrap().unwrap();
            assert_eq!(status, StatusCode::OK);
            let nonce = policy
                .split("'nonce-")
                .nth(1)
                .and_then(|n| n.split('\'').next())
                .unwrap_or_else(|| panic!("a page without its nonce: {policy}"));
            for stamped in body.split("nonce=\"").skip(1) {
                assert!(stamped.starts_with(&format!("{nonce}\"")), "the policy names this page's own nonce");
            }
        }
        for (i, file) in files.into_iter().enumerate() {
            let (status, policy, bytes) = file.await.unwrap();
            assert_eq!(status, StatusCode::OK);
            assert!(policy.contains("default-src") && !policy.contains("nonce-"), "a file with a page's policy: {policy}");
            assert_eq!(bytes, vec![i as u8; 32 * 1024]);
        }
    }
    // Anything else is still the app's 404 page.
    assert_eq!(r.get("/no/such/page", &admin).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.get("/pkg/missing.wasm", &admin).await.status(), StatusCode::NOT_FOUND);
});

// Building a router renders the app once to list its routes, and leptos sets a process-wide
// "do not load resources" flag meanwhile: a page rendered by another server of the same
// process (tests run many) in that window waited forever for its data. Pages being served
// while routers are built must all answer.
dual_test!(pages_answer_while_another_router_is_built, |t: TestDb| async move {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let state = server_state(&t, Site::new(None));
    let r = start(t).await;
    let admin = r.login("admin", "admin-password").await;
    // Raised when this test ends, also by a failed assertion: the runtime waits for the builder.
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = Stop(Arc::new(AtomicBool::new(false)));
    let building = tokio::task::spawn_blocking({
        let stop = stop.0.clone();
        move || {
            let mut built = 0;
            while !stop.load(Ordering::Relaxed) {
                drop(router(state.clone()));
                built += 1;
            }
            built
        }
    });
    for _ in 0..10 {
        for (path, page) in r.request_pages(&admin) {
            let answer = tokio::time::timeout(std::time::Duration::from_secs(15), page).await;
            let (status, _, body) = answer.unwrap_or_else(|_| panic!("{path} got no answer while a router was built")).unwrap().unwrap();
            assert!(status.is_success(), "{path}: {status}");
            assert!(body.contains("</html>"), "{path} rendered whole");
        }
    }
    drop(stop);
    assert!(building.await.unwrap() > 0, "routers were built while the pages rendered");
});
