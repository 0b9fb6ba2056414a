//! Secrets at rest and in flight (issue 26, items 8 and 9), over real HTTP on SQLite and
//! PostgreSQL: the stored AppSecret never leaves for a server an admin session points the
//! account at (a new API base needs the AppSecret again; no redirect is followed; plain http
//! only to loopback); the callback Token is sealed (old plaintext rows too, and rotate-key
//! carries it); and the real binary leaves its data dir 0700 with 0600 files.

mod support;

use reqwest::StatusCode;
use service::dual_test;
use service::testing::{TestDb, account_row};
use std::sync::{Arc, Mutex};
use support::{sandbox_account, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every request a [`listener`] received, head and body, as text.
type Seen = Arc<Mutex<Vec<String>>>;

/// A server on a free loopback port that records each request it gets and answers `answer`
/// (a whole HTTP/1.1 response). Stands for an attacker's host.
async fn listener(answer: impl Fn(&str) -> String + Send + Sync + 'static) -> (String, Seen) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let (log, answer) = (seen.clone(), Arc::new(answer));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = l.accept().await {
            let (log, answer) = (log.clone(), answer.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
                let request = String::from_utf8_lossy(&buf).into_owned();
                let reply = (*answer)(&request);
                log.lock().unwrap().push(request);
                let _ = conn.write_all(reply.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    (base, seen)
}

fn json_ok(_: &str) -> String {
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_owned()
}

/// The session cookie with the language cookie `/lang/{code}` sets.
fn in_lang(session: &str, lang: &str) -> String {
    format!("{session}; i18n_pref_locale={lang}")
}

/// `(field, message)` of a server function's field error.
async fn field_error(res: reqwest::Response) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    let inner = v.as_object().and_then(|o| o.values().next()).unwrap_or_else(|| panic!("an error: {v}"));
    (inner["field"].as_str().unwrap_or_default().to_owned(), inner["message"].as_str().unwrap_or_default().to_owned())
}

dual_test!(the_stored_app_secret_only_goes_where_it_was_entered_for, |t: TestDb| async move {
    let r = start(t).await;
    let (sim, id) = sandbox_account(&r).await;
    let id = id.to_string();
    let app = wechat::sim::SimApp::sandbox();
    let admin = r.login("admin", "admin-password").await;
    let form = |base: &str, secret: &str| -> Vec<(String, String)> {
        [
            ("id", id.as_str()),
            ("name", "Sandbox"),
            ("app_id", app.app_id.as_str()),
            ("app_secret", secret),
            ("token", "sandboxtoken"),
            ("message_mode", "plain"),
            ("api_base_url", base),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    };
    let call = |cookie: String, args: Vec<(String, String)>| {
        let r = &r;
        async move {
            let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            r.call("save_account", &cookie, &args).await
        }
    };

    // The attack of the review (M-5): point the account at one's own host, keep the stored
    // AppSecret (blank field), press Test connection. Refused, in the page's language.
    let (evil, evil_seen) = listener(json_ok).await;
    let res = call(in_lang(&admin, "en"), form(&evil, "")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (field, message) = field_error(res).await;
    assert_eq!(field, "app_secret");
    assert!(message.starts_with("enter the AppSecret again to change the API base URL"), "{message}");
    let res = call(in_lang(&admin, "zh"), form(&evil, "")).await;
    assert!(field_error(res).await.1.contains("请重新填写 AppSecret"));
    let (status, location) = r.post_form("test_account", &admin, "/settings", &[("id", &id)]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(location.contains("ok=1"), "the account still talks to its own server: {location}");
    assert!(evil_seen.lock().unwrap().is_empty(), "nothing reached the listener");
    assert_eq!(service::accounts::model(&r.t.db, id.parse().unwrap()).await.unwrap().api_base_url, sim.base_url());

    // An API base that answers with a redirect (307 and 308 re-send the body): not followed,
    // so what lies behind it gets nothing; the test reports a bad answer.
    for code in ["307 Temporary Redirect", "308 Permanent Redirect"] {
        let (behind, behind_seen) = listener(json_ok).await;
        let target = format!("{behind}/cgi-bin/stable_token");
        let (redirector, redirector_seen) =
            listener(move |_| format!("HTTP/1.1 {code}\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")).await;
        let res = call(admin.clone(), form(&redirector, "typed-again-0123")).await;
        assert_eq!(res.status(), StatusCode::OK, "with the AppSecret typed again, the move is saved");
        let (_, location) = r.post_form("test_account", &admin, "/settings", &[("id", &id)]).await;
        assert!(location.contains("ok=0"), "{location}");
        assert_eq!(redirector_seen.lock().unwrap().len(), 1, "one token request, to the API base");
        assert!(behind_seen.lock().unwrap().is_empty(), "{code}: the redirect was not followed");
        for request in redirector_seen.lock().unwrap().iter() {
            assert!(!request.contains(&app.secret), "the stored AppSecret never left: {request}");
        }
    }

    // Plain http anywhere but this machine: refused on the API base field.
    let res = call(in_lang(&admin, "en"), form("http://10.0.0.7:3100", &app.secret)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (field, message) = field_error(res).await;
    assert_eq!(field, "api_base_url");
    assert!(message.contains("https://") && message.contains("127.0.0.1"), "{message}");
    // Back to the simulator, with its AppSecret: connected again.
    assert_eq!(call(admin.clone(), form(&sim.base_url(), &app.secret)).await.status(), StatusCode::OK);
    let (_, location) = r.post_form("test_account", &admin, "/settings", &[("id", &id)]).await;
    assert!(location.contains("ok=1"), "{location}");
});

dual_test!(the_callback_token_is_sealed_and_shown_to_admins_only, |t: TestDb| async move {
    use sea_orm::{ActiveModelTrait, Set};
    let r = start(t).await;
    let (_sim, id) = sandbox_account(&r).await;
    // A row as an older version (or a hand-written INSERT) left it: the Token in plaintext.
    let secret = r.state.keys.seal("wechat_accounts.app_secret:wx00000000000000c1", "s3cret");
    let old = service::entity::wechat_account::ActiveModel { app_secret_enc: Set(secret), ..account_row("wx00000000000000c1") }
        .insert(&r.t.db)
        .await
        .unwrap();
    assert_eq!((old.token.as_str(), old.token_enc.as_deref()), ("callback-token", None));

    // Sealing at start: the plaintext column is blanked, the Token opens; a second run finds
    // nothing left to do.
    assert_eq!(service::accounts::seal_plaintext_tokens(&r.t.db, &r.state.keys).await.unwrap(), 1);
    assert_eq!(service::accounts::seal_plaintext_tokens(&r.t.db, &r.state.keys).await.unwrap(), 0);
    for (account, token) in [(id, "sandboxtoken"), (old.id, "callback-token")] {
        let m = service::accounts::model(&r.t.db, account).await.unwrap();
        assert_eq!(m.token, "", "plaintext column blank");
        assert!(m.token_enc.as_deref().is_some_and(|s| !s.contains(token)), "sealed");
        assert_eq!(service::accounts::callback_token(&r.state.keys, &m).unwrap(), token);
    }

    // Admins see the Token in Settings (they paste it into WeChat); staff cannot ask for it.
    let admin = r.login("admin", "admin-password").await;
    let body = r.call("settings_overview", &admin, &[]).await.text().await.unwrap();
    assert!(body.contains("\"token\":\"sandboxtoken\"") && body.contains("\"token\":\"callback-token\""), "{body}");
    let staff = r.login("staff", "staff-password").await;
    let res = r.call("settings_overview", &staff, &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    for name in ["campaign_form_data", "list_campaigns"] {
        let body = r.call(name, &staff, &[]).await.text().await.unwrap();
        assert!(!body.contains("sandboxtoken"), "{name}: {body}");
    }

    // The callback verifies pushes with the sealed Token.
    let (ts, nonce) = (chrono::Utc::now().timestamp().to_string(), "4242".to_owned());
    let res = r
        .http
        .get(format!("{}/wechat/callback/wx5ce0b0a4d0000001", r.base))
        .query(&[
            ("signature", wechat::signature("sandboxtoken", &ts, &nonce)),
            ("timestamp", ts),
            ("nonce", nonce),
            ("echostr", "hello".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "hello");

    // rotate-key carries the Tokens to the new key; under another key the callback refuses
    // the account instead of checking signatures against an empty Token.
    let new = service::Keys::random();
    let report = service::rotate::rotate(&r.t.db, &r.state.keys, &new, |_| Ok(())).await.unwrap();
    assert_eq!(report.accounts, 2);
    for (account, token) in [(id, "sandboxtoken"), (old.id, "callback-token")] {
        let m = service::accounts::model(&r.t.db, account).await.unwrap();
        assert_eq!(service::accounts::callback_token(&new, &m).unwrap(), token);
        assert!(service::accounts::callback_token(&r.state.keys, &m).is_err(), "the old key opens nothing");
    }
    assert!(service::rotate::check_secrets(&r.t.db, &new).await.is_ok());
    // (The server still runs with the old key; the older account was never looked up, so
    // nothing of it is cached.)
    let (ts, nonce) = (chrono::Utc::now().timestamp().to_string(), "4243".to_owned());
    let res = r
        .http
        .get(format!("{}/wechat/callback/wx00000000000000c1", r.base))
        .query(&[("signature", wechat::signature("", &ts, &nonce)), ("timestamp", ts), ("nonce", nonce), ("echostr", "forged".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "a Token that does not open signs nothing");
});

/// The real binary on a fresh data dir: the dir is 0700 and everything the server writes in
/// it (database, -wal, -shm, key, spool, accounts file) and a backup are 0600; an existing
/// key file others can read is warned about.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let data = d.join("data");
    let sb = move |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sceneboard"));
        cmd.args(args)
            .current_dir(&d)
            .env_remove("DATABASE_URL")
            .env_remove("SCENEBOARD_SECRET_KEY")
            .env("SCENEBOARD_DATA_DIR", d.join("data"))
            .env("RUST_LOG", "warn")
            .env("SCENEBOARD_ACCOUNT_TOKEN", "modetoken2026")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let run = |args: &[&str], stdin: &str| {
        let mut child = sb(args).spawn().unwrap();
        child.stdin.take().unwrap().write_all_sync(stdin);
        child.wait_with_output().unwrap()
    };
    let app_id = "wx00000000000000d1";
    let out = run(&["account", "add", "--name", "Modes", "--app-id", app_id, "--api-base", "http://127.0.0.1:9"], "s3cret\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut server =
        sb(&["serve"]).env("SCENEBOARD_ADDR", &addr).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/wechat/callback/{app_id}");
    let mut answered = None;
    for _ in 0..400 {
        let (ts, nonce) = (chrono::Utc::now().timestamp(), "777");
        let xml = wechat::xml::event_xml("gh_modes", "oModes", ts, "subscribe", Some("qrscene_1"), None);
        let sig = wechat::signature("modetoken2026", &ts.to_string(), nonce);
        let sent =
            http.post(&url).query(&[("signature", sig), ("timestamp", ts.to_string()), ("nonce", nonce.into())]).body(xml).send().await;
        if let Ok(res) = sent {
            answered = Some((res.status(), res.text().await.unwrap()));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(answered, Some((StatusCode::OK, "success".to_owned())), "the push is stored with the sealed Token");
    for file in ["callback-accounts.sealed", "callback-spool.jsonl", "sceneboard.db-wal", "sceneboard.db-shm"] {
        for _ in 0..200 {
            if data.join(file).exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let backup = dir.path().join("backup.db");
    let out = run(&["backup", "--to", backup.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut files: Vec<String> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    for expected in
        ["callback-accounts.sealed", "callback-spool.jsonl", "sceneboard.db", "sceneboard.db-shm", "sceneboard.db-wal", "secret.key"]
    {
        assert!(files.iter().any(|f| f == expected), "{expected} in {files:?}");
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(mode(&data), 0o700, "the data dir");
    for f in &files {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&backup), 0o600, "the backup");

    // The plaintext Token is in no file of the data dir, nor in the backup.
    for path in files.iter().map(|f| data.join(f)).chain([backup]) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(13).any(|w| w == b"modetoken2026"), "{} holds the Token", path.display());
    }

    // A key file others can read: a warning, and the command still runs.
    std::fs::set_permissions(data.join("secret.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&["migrate"], "");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("secret.key can be read by other users (mode 644)") && err.contains("chmod 600"), "{err}");
}

/// Writes all of `text` to a child's stdin and closes it.
trait WriteAllSync {
    fn write_all_sync(self, text: &str);
}

impl WriteAllSync for std::process::ChildStdin {
    fn write_all_sync(mut self, text: &str) {
        std::io::Write::write_all(&mut self, text.as_bytes()).unwrap();
    }
}
