//! The `sceneboard` binary as operators use it: exit statuses and one-line errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(dir: &std::path::Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sceneboard"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("SCENEBOARD_DATA_DIR", dir.join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn sceneboard");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn user_add_migrate_and_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let out = run(d, &["migrate"], "", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(d.join("data/sceneboard.db").exists(), "default SQLite file in the data dir");
    assert!(d.join("data/secret.key").exists(), "secret key generated on first start");

    let out = run(d, &["user", "add", "--username", "ada", "--role", "admin"], "a-good-password\n", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created admin user ada"));
    assert!(!text(&out.stdout).contains("a-good-password") && !text(&out.stderr).contains("a-good-password"));

    // Errors: non-zero exit and exactly one line on stderr.
    for (args, stdin, expect) in [
        (vec!["user", "add", "--username", "ada", "--role", "staff"], "another-password\n", "already taken"),
        (vec!["user", "add", "--username", "bo", "--role", "staff"], "short\n", "at least 8 characters"),
        (vec!["user", "add", "--username", "bo", "--role", "staff"], "", "standard input"),
    ] {
        let out = run(d, &args, stdin, &[]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(expect), "{err}");
    }

    let out = run(d, &["migrate"], "", &[("SCENEBOARD_TIMEZONE", "Mars/Olympus")]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("SCENEBOARD_TIMEZONE"), "{err}");

    let out = run(d, &["migrate"], "", &[("SCENEBOARD_SECRET_KEY", "too-short")]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("SCENEBOARD_SECRET_KEY"));
}

#[test]
fn wechat_sim_serves_the_api() {
    // A free port: bind, read, release.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sceneboard"))
        .args(["wechat-sim", "--addr", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("http://{addr}/")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let token = |secret: &'static str| {
            let http = http.clone();
            let addr = addr.clone();
            async move {
                http.get(format!("http://{addr}/cgi-bin/token"))
                    .query(&[("grant_type", "client_credential"), ("appid", "wx5ce0b0a4d0000001"), ("secret", secret)])
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            }
        };
        (token("wrong-secret").await, token("sandbox-secret-0123456789abcdef").await)
    });
    child.kill().ok();
    child.wait().ok();
    let (wrong, right) = result;
    assert_eq!(wrong["errcode"], 40125, "{wrong}");
    assert!(right["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{right}");
    assert_eq!(right["expires_in"], 7200, "{right}");
}
