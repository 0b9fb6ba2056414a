//! What an operator's deployment relies on, on the real binary: secrets and the first admin
//! from files (systemd credentials, container secrets), several instances starting together
//! on one database, JSON logs and request ids.

use reqwest::StatusCode;
use service::dual_test;
use service::testing::TestDb;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `sceneboard serve` child with its stderr in a file, killed when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// What the server has logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `serve` with `env`, its data dir `dir/data`, logging into `dir/stderr.log`; returns once
/// it answers `/healthz`.
async fn serve(dir: &Path, env: &[(&str, &str)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let log = dir.join("stderr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sceneboard"));
    cmd.arg("serve")
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("SCENEBOARD_SECRET_KEY")
        .env_remove("SCENEBOARD_LOG_FORMAT")
        .env("RUST_LOG", "info")
        .env("SCENEBOARD_DATA_DIR", dir.join("data"))
        .env("SCENEBOARD_ADDR", &addr)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let server = Server { child: cmd.spawn().expect("spawn sceneboard serve"), base: format!("http://{addr}"), log };
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{}/healthz", server.base)).send().await
            && r.status() == StatusCode::OK
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become healthy: {}", server.log());
}

/// Does signing in as `user` with `password` give a session?
async fn signs_in(base: &str, user: &str, password: &str) -> bool {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.post(format!("{base}/api/login")).form(&[("username", user), ("password", password)]).send().await.unwrap();
    res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("sb_session="))
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

// Two instances start together on one empty database, each given the database URL, the key
// and the first admin's password as files: one creates `admin`, neither fails, and both sign
// it in. A later start with another password changes nothing.
dual_test!(the_first_admin_and_the_secrets_come_from_files, |t: TestDb| async move {
    let secrets = tempfile::tempdir().unwrap();
    let url = write(secrets.path(), "database-url", &format!("{}\n", t.url));
    let key = write(secrets.path(), "secret-key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
    let password = write(secrets.path(), "admin-password", "first-admin-password\n");
    let env = [
        ("DATABASE_URL_FILE", url.as_str()),
        ("SCENEBOARD_SECRET_KEY_FILE", key.as_str()),
        ("SCENEBOARD_ADMIN_PASSWORD_FILE", password.as_str()),
    ];
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (one, two) = tokio::join!(serve(a.path(), &env), serve(b.path(), &env));
    assert_eq!(service::users::count(&t.db).await.unwrap(), 1, "one admin, however many instances started");
    assert!(signs_in(&one.base, "admin", "first-admin-password").await);
    assert!(signs_in(&two.base, "admin", "first-admin-password").await);
    assert!(!a.path().join("data/secret.key").exists(), "the key came from its file, none was generated");
    assert!(!one.log().contains("first-admin-password"));

    drop(one);
    let other = write(secrets.path(), "other-password", "another-password-1\n");
    let again = serve(a.path(), &[env[0], env[1], ("SCENEBOARD_ADMIN_PASSWORD_FILE", other.as_str())]).await;
    assert!(signs_in(&again.base, "admin", "first-admin-password").await, "the first admin keeps the password it has");
    assert!(!signs_in(&again.base, "admin", "another-password-1").await);
    assert_eq!(service::users::count(&t.db).await.unwrap(), 1);
});

/// A first admin's password the password rules refuse stops `serve` in one line naming the
/// file's key, and creates no user.
#[test]
fn a_first_admin_password_too_short_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let password = write(dir.path(), "admin-password", "short\n");
    let out = Command::new(env!("CARGO_BIN_EXE_sceneboard"))
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("SCENEBOARD_SECRET_KEY")
        .env("SCENEBOARD_DATA_DIR", dir.path().join("data"))
        .env("SCENEBOARD_ADDR", "127.0.0.1:0")
        .env("SCENEBOARD_ADMIN_PASSWORD_FILE", &password)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: SCENEBOARD_ADMIN_PASSWORD_FILE: ") && err.contains("at least 8 characters"), "{err}");
    let users = Command::new(env!("CARGO_BIN_EXE_sceneboard"))
        .args(["user", "add", "--username", "later", "--role", "admin"])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("SCENEBOARD_DATA_DIR", dir.path().join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"a-long-password\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(String::from_utf8_lossy(&users.stdout).contains("(id 1)"), "no user was stored before: {users:?}");
}

/// `SCENEBOARD_LOG_FORMAT=json`: every line a JSON object, and what is logged while serving a
/// request carries that request's id, the one its client sent or a fresh one; the response
/// names it either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[("SCENEBOARD_LOG_FORMAT", "json")]).await;
    let http = reqwest::Client::new();
    let id_of = |res: &reqwest::Response| res.headers()["x-request-id"].to_str().unwrap().to_owned();

    let res = http.get(format!("{}/livez", server.base)).header("x-request-id", "probe-123").send().await.unwrap();
    assert_eq!(id_of(&res), "probe-123");
    // The version, as `--version` prints it, on /healthz.
    let version = Command::new(env!("CARGO_BIN_EXE_sceneboard")).arg("--version").output().unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    assert_eq!(version.trim(), concat!("sceneboard ", env!("CARGO_PKG_VERSION")));
    let health = http.get(format!("{}/healthz", server.base)).send().await.unwrap().text().await.unwrap();
    assert_eq!(health, format!("ok {}", version.trim()));
    for sent in [None, Some("not an id"), Some(&*"x".repeat(65))] {
        let mut req = http.get(format!("{}/livez", server.base));
        if let Some(id) = sent {
            req = req.header("x-request-id", id);
        }
        let id = id_of(&req.send().await.unwrap());
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "a fresh id for {sent:?}: {id}");
    }
    let res = http
        .post(format!("{}/api/login", server.base))
        .header("x-request-id", "login-probe-1")
        .form(&[("username", "nobody"), ("password", "wrong-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&res), "login-probe-1");

    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = server.log().lines().map(str::to_owned).collect();
        if lines.iter().any(|l| l.contains("failed sign-in")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events: Vec<serde_json::Value> =
        lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect();
    for e in &events {
        assert!(e["timestamp"].is_string() && e["level"].is_string() && e["target"].is_string(), "{e}");
    }
    assert!(events.iter().any(|e| e["message"].as_str().is_some_and(|m| m.starts_with("Sceneboard listening"))));
    let failed = events.iter().find(|e| e["message"] == "failed sign-in").expect("the failed sign-in is logged");
    assert_eq!(failed["level"], "INFO");
    assert_eq!(failed["span"]["request_id"], "login-probe-1", "{failed}");
    assert_eq!(failed["span"]["path"], "/api/login", "{failed}");
}

#[test]
fn an_unknown_log_format_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sceneboard"))
        .arg("migrate")
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("SCENEBOARD_DATA_DIR", dir.path().join("data"))
        .env("SCENEBOARD_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err, "error: SCENEBOARD_LOG_FORMAT is invalid: 'yaml' is neither text nor json\n");
}
