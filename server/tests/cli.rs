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

/// Asserts `out` failed with exactly one line on stderr, `error: …` containing `expect`.
fn one_error_line(out: &Output, expect: &str) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("error: ") && err.ends_with('\n') && err.contains(expect), "{err:?}");
}

/// Commands that open (and migrate) the database log nothing but warnings and errors by
/// default, so a failure is the one `error:` line; logs asked for with RUST_LOG carry no
/// colour codes into a pipe; clap's usage errors are one line too.
#[test]
fn errors_are_one_plain_line_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(d, &["migrate"], "", &[]);
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "", "migrate on a fresh database says nothing on stderr");
    assert_eq!(text(&out.stdout), "migrations are up to date\n");

    let fresh = tempfile::tempdir().unwrap();
    let unknown = ["campaign", "add", "--app-id", "wx0000000000000000", "--name", "X", "--kind", "permanent"];
    let out = run(fresh.path(), &unknown, "", &[]);
    one_error_line(&out, "no WeChat account with AppID wx0000000000000000");
    assert!(run(d, &["user", "add", "--username", "ada", "--role", "admin"], "a-good-password\n", &[]).status.success());
    let out = run(d, &["user", "add", "--username", "ada", "--role", "staff"], "another-password\n", &[]);
    one_error_line(&out, "already taken");

    // RUST_LOG asks for the migrator's lines: they come, in plain text, before the error line.
    let fresh = tempfile::tempdir().unwrap();
    let out = run(fresh.path(), &unknown, "", &[("RUST_LOG", "info")]);
    let err = text(&out.stderr);
    assert!(!err.contains("\x1b["), "no colour codes into a pipe: {err:?}");
    assert!(err.contains("INFO sea_orm_migration"), "{err}");
    assert!(err.lines().last().is_some_and(|l| l.starts_with("error: no WeChat account")), "{err}");

    // clap's own refusals: one line, exit status 2.
    let out = run(d, &["user", "add", "--username", "bo", "--role", "boss"], "", &[]);
    one_error_line(&out, "invalid value 'boss' for '--role <ROLE>'; [possible values: admin, staff]");
    assert_eq!(out.status.code(), Some(2));
    let out = run(d, &["user", "add", "--role", "staff"], "", &[]);
    one_error_line(&out, "not provided: --username <USERNAME>; Usage: sceneboard user add");
    one_error_line(&run(d, &["frobnicate"], "", &[]), "unrecognized subcommand 'frobnicate'");
    assert!(!text(&run(d, &["frobnicate"], "", &[]).stderr).contains("\x1b["));
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

#[test]
fn account_and_campaigns_from_the_command_line() {
    // The simulator runs on its own thread's runtime for the whole test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let sim = wechat::sim::spawn(wechat::sim::SimConfig::with_apps(vec![wechat::sim::SimApp::sandbox()])).await.unwrap();
            tx.send(sim.base_url()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let api = rx.recv().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = "sandbox-secret-0123456789abcdef";
    let app_id = "wx5ce0b0a4d0000001";

    let out = run(
        d,
        &["account", "add", "--name", "Sandbox", "--app-id", app_id, "--token-file", "-", "--api-base", &api],
        &format!("{secret}\nsandboxtoken\n"),
        &[("SCENEBOARD_PUBLIC_URL", "https://sb.example.com")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("https://sb.example.com/wechat/callback/{app_id}"));
    assert!(!text(&out.stdout).contains(secret) && !text(&out.stderr).contains(secret), "no secret printed");

    let out = run(d, &["campaign", "add", "--app-id", app_id, "--name", "Poster", "--scene", "42", "--kind", "permanent"], "", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id: i32 = text(&out.stdout).trim().parse().expect("prints the campaign id");
    assert!(id > 0);
    let out = run(d, &["campaign", "add", "--app-id", app_id, "--name", "Again", "--scene", "42", "--kind", "permanent"], "", &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("Poster"), "names the campaign that has scene 42: {err}");
    let out = run(d, &["campaign", "add", "--app-id", "wx0000000000000000", "--name", "X", "--kind", "permanent"], "", &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("no WeChat account"));

    // A hundred campaigns from a script, then a file with bad rows: all reported, none stored.
    let mut csv = String::from("name,scene,kind,group,expire_days\n");
    for i in 1..=100 {
        csv.push_str(&format!("Store {i},store-{i},temporary,Stores,30\n"));
    }
    std::fs::write(d.join("good.csv"), &csv).unwrap();
    let out = run(d, &["campaign", "import", "--app-id", app_id, "good.csv"], "", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 100, "one id per line");
    std::fs::write(d.join("bad.csv"), "name,scene,kind\nOk,500,permanent\nDup,store-1,permanent\nBad kind,501,forever\n").unwrap();
    let out = run(d, &["campaign", "import", "--app-id", app_id, "bad.csv"], "", &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bad.csv:3:") && err.contains("bad.csv:4:") && !err.contains("bad.csv:2:"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    let out = run(d, &["campaign", "add", "--app-id", app_id, "--name", "Ok", "--scene", "500", "--kind", "permanent"], "", &[]);
    assert!(out.status.success(), "row 2 of the bad file was not stored: {}", text(&out.stderr));

    // API keys for scripts: printed alone and once; the list shows a hint, never the key.
    let out = run(d, &["api-key", "add", "--name", "BI", "--app-id", app_id, "--expires-days", "30"], "", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim_end().to_owned();
    assert!(key.starts_with("sbk_") && key.len() == 36 && key.lines().count() == 1, "{key}");
    assert!(text(&out.stderr).contains("shown only now"), "{}", text(&out.stderr));
    let list = text(&run(d, &["api-key", "list"], "", &[]).stdout);
    let row = list.lines().find(|l| l.contains("\tBI\t")).unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains(&key[..8]) && !list.contains(&key[8..]), "a hint only: {row}");
    assert!(row.contains("\tSandbox\t") && row.ends_with("\tactive"), "{row}");
    let id = row.split('\t').next().unwrap().to_owned();
    for (args, expect) in [
        (vec!["api-key", "add", "--name", "BI", "--expires-days", "0"], "expires_days"),
        (vec!["api-key", "add", "--name", " "], "name"),
        (vec!["api-key", "add", "--name", "X", "--app-id", "wx0000000000000000"], "no WeChat account"),
        (vec!["api-key", "revoke", "99999"], "not found"),
    ] {
        one_error_line(&run(d, &args, "", &[]), expect);
    }
    let out = run(d, &["api-key", "revoke", &id], "", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&run(d, &["api-key", "list"], "", &[]).stdout);
    assert!(list.lines().any(|l| l.starts_with(&format!("{id}\t")) && l.ends_with("\trevoked")), "{list}");
    one_error_line(&run(d, &["api-key", "revoke", &id], "", &[]), "already revoked");
}

/// The benchmark modes (acknowledge a push without storing it) are not in the binary that
/// `cargo leptos build` and release builds make: its text holds none of them, and `serve`
/// with the switch set refuses to start, in one line, rather than ignore it quietly.
#[test]
fn the_default_binary_has_no_benchmark_modes() {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_sceneboard")).unwrap();
    for marker in ["BENCHMARK MODE", "WITHOUT verifying or storing"] {
        assert!(!binary.windows(marker.len()).any(|w| w == marker.as_bytes()), "the binary contains {marker:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["serve"], "", &[("SCENEBOARD_BENCH_CALLBACK", "noop"), ("SCENEBOARD_ADDR", "127.0.0.1:0")]);
    one_error_line(&out, "SCENEBOARD_BENCH_CALLBACK");
    assert!(text(&out.stderr).contains("bench-modes"), "{}", text(&out.stderr));
}

/// RUST_LOG comes from the environment only: a value that does not parse stops the command
/// in one line naming it, and a sceneboard.toml that sets it is refused, naming it too.
#[test]
fn rust_log_is_checked_and_only_read_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["migrate"], "", &[("RUST_LOG", "sceneboard=loudly")]);
    one_error_line(&out, "RUST_LOG is invalid");
    std::fs::write(dir.path().join("sceneboard.toml"), "RUST_LOG = \"debug\"\n").unwrap();
    let out = run(dir.path(), &["migrate"], "", &[]);
    one_error_line(&out, "unknown key RUST_LOG");
}

/// No command means `serve` (README, "Command line"): the bare binary answers HTTP.
#[test]
fn no_command_serves() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sceneboard"))
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("SCENEBOARD_DATA_DIR", dir.path().join("data"))
        .env("SCENEBOARD_ADDR", &addr)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let answer = loop {
        if let Ok(mut conn) = std::net::TcpStream::connect(&addr) {
            conn.write_all(format!("GET /livez HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
            let mut text = String::new();
            conn.read_to_string(&mut text).unwrap();
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "nothing listened on {addr}");
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("live"), "{answer}");
}

/// `serve` starts without a database it cannot reach (the cold start), but one that answers
/// with an error, here a database that does not exist, still stops it in one line.
#[test]
fn serve_stops_on_a_database_that_answers_with_an_error() {
    let pg = std::env::var("SCENEBOARD_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let base = pg.split('?').next().unwrap().rsplit_once('/').unwrap().0.to_owned();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{base}/sb_no_such_database_{}", std::process::id());
    let out = run(dir.path(), &["serve"], "", &[("DATABASE_URL", &url), ("SCENEBOARD_ADDR", "127.0.0.1:0"), ("RUST_LOG", "error")]);
    one_error_line(&out, "cannot connect to");
    assert!(text(&out.stderr).contains("does not exist"), "{}", text(&out.stderr));
}

/// The Token and EncodingAESKey `account add` stored for `app_id`, opened with the data dir's key.
fn stored_secrets(d: &std::path::Path, app_id: &str) -> (String, Option<String>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=rw", d.join("data/sceneboard.db").display());
        let db = service::db::connect(&url).await.unwrap();
        let keys = service::Keys::load_or_create(&d.join("data")).unwrap();
        let m = service::accounts::find_by_app_id(&db, app_id).await.unwrap().expect("account stored");
        let token = service::accounts::callback_token(&keys, &m).unwrap();
        assert_eq!(m.token, "", "the Token is sealed, its plaintext column blank");
        let aes = m.aes_key_enc.as_deref().map(|k| keys.open(&format!("wechat_accounts.aes_key:{app_id}"), k).unwrap());
        db.close().await.ok();
        (token, aes)
    })
}

const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH";

/// `account add` and `rotate-key` take their secrets from a file (`-`: standard input) or the
/// environment, never needing them on the command line; the inline flags still work, warned.
#[test]
fn secrets_come_from_files_or_the_environment_not_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = "http://127.0.0.1:9";
    std::fs::write(d.join("token.txt"), "fileToken2026\n").unwrap();
    std::fs::write(d.join("aes.txt"), format!("{AES}\n")).unwrap();

    // File form, watched while it runs: it waits for the AppSecret on stdin, and its command
    // line (what `ps` shows) holds the file names only.
    let app = "wx00000000000000f1";
    let mut child = Command::new(env!("CARGO_BIN_EXE_sceneboard"))
        .args(["account", "add", "--name", "File", "--app-id", app, "--token-file", "token.txt"])
        .args(["--aes-key-file", "aes.txt", "--mode", "safe", "--api-base", api])
        .current_dir(d)
        .env_remove("DATABASE_URL")
        .env("SCENEBOARD_DATA_DIR", d.join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read once the exec is done: before, /proc shows this test's command line, and during
    // it, none.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let cmdline = loop {
        let seen = text(&std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default()).replace('\0', " ");
        if seen.contains("account add") {
            break seen;
        }
        if child.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
            let out = child.wait_with_output().unwrap();
            panic!("account add stopped before reading stdin: {}", text(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(cmdline.contains("--token-file token.txt"), "{cmdline}");
    assert!(!cmdline.contains("fileToken2026") && !cmdline.contains(AES), "{cmdline}");
    child.stdin.take().unwrap().write_all(b"some-app-secret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "no warning for the file form");
    assert_eq!(stored_secrets(d, app), ("fileToken2026".to_owned(), Some(AES.to_owned())));

    // `-`: the lines after the AppSecret on standard input, in order.
    let app = "wx00000000000000f2";
    let args = ["account", "add", "--name", "Stdin", "--app-id", app, "--token-file", "-", "--aes-key-file", "-", "--api-base", api];
    let out = run(d, &args, &format!("some-app-secret\nstdinToken1\n{AES}\n"), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(stored_secrets(d, app), ("stdinToken1".to_owned(), Some(AES.to_owned())));
    let out = run(d, &args, "some-app-secret\n", &[]);
    one_error_line(&out, "--token-file -: expected the secret on the next line of standard input");

    // The environment.
    let app = "wx00000000000000f3";
    let env = [("SCENEBOARD_ACCOUNT_TOKEN", "envToken42"), ("SCENEBOARD_ACCOUNT_AES_KEY", AES)];
    let out = run(d, &["account", "add", "--name", "Env", "--app-id", app, "--mode", "compat", "--api-base", api], "s\n", &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(stored_secrets(d, app), ("envToken42".to_owned(), Some(AES.to_owned())));

    // Inline still works, with a warning naming the safer forms.
    let app = "wx00000000000000f4";
    let out = run(d, &["account", "add", "--name", "Inline", "--app-id", app, "--token", "inlineToken", "--api-base", api], "s\n", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.starts_with("warning: --token puts the secret on the command line"), "{err}");
    assert!(err.contains("--token-file") && err.contains("SCENEBOARD_ACCOUNT_TOKEN") && !err.contains("inlineToken"), "{err}");
    assert_eq!(stored_secrets(d, app).0, "inlineToken");

    // No Token at all, an empty file, both forms at once: one line each.
    let add = |extra: &[&str]| {
        let mut args = vec!["account", "add", "--name", "X", "--app-id", "wx00000000000000f5", "--api-base", api];
        args.extend_from_slice(extra);
        run(d, &args, "s\n", &[])
    };
    one_error_line(&add(&[]), "SCENEBOARD_ACCOUNT_TOKEN");
    std::fs::write(d.join("empty.txt"), "\n").unwrap();
    one_error_line(&add(&["--token-file", "empty.txt"]), "--token-file empty.txt: the file is empty");
    one_error_line(&add(&["--token-file", "missing.txt"]), "--token-file: cannot read missing.txt");
    one_error_line(&add(&["--token", "a", "--token-file", "token.txt"]), "cannot be used with");

    // rotate-key: the new key from a file, then from the environment, then inline (warned).
    let key_file = d.join("data/secret.key");
    for (i, form) in ["file", "env", "inline"].into_iter().enumerate() {
        let key = service::rotate::NewKey::generate().expose_base64().to_owned();
        std::fs::write(d.join("new.key"), format!("{key}\n")).unwrap();
        let out = match form {
            "file" => run(d, &["rotate-key", "--new-key-file", "new.key"], "", &[]),
            "env" => run(d, &["rotate-key"], "", &[("SCENEBOARD_NEW_KEY", &key)]),
            _ => run(d, &["rotate-key", "--new-key", &key], "", &[]),
        };
        assert!(out.status.success(), "{form}: {}", text(&out.stderr));
        assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key, "{form}: the key file holds the given key");
        assert!(!text(&out.stdout).contains(&key) && !text(&out.stderr).contains(&key), "{form}: never printed");
        assert_eq!(text(&out.stderr).starts_with("warning: --new-key puts the secret on the command line"), i == 2, "{form}");
        std::fs::remove_file(d.join("data/secret.key.old")).unwrap();
    }
    // The secrets still open under the latest key.
    assert_eq!(stored_secrets(d, "wx00000000000000f1").1.as_deref(), Some(AES));
}

/// `wechat-sim` reads its Token and key from files or the environment too: a bad key file
/// stops it in one line, a good one serves (without a warning).
#[test]
fn wechat_sim_takes_its_secrets_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad.txt"), "not-a-key\n").unwrap();
    let out = run(d, &["wechat-sim", "--addr", "127.0.0.1:0", "--aes-key-file", "bad.txt"], "", &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).starts_with("error: "), "{}", text(&out.stderr));
    let out = run(d, &["wechat-sim", "--addr", "127.0.0.1:0"], "", &[("SCENEBOARD_ACCOUNT_AES_KEY", "not-a-key")]);
    assert!(!out.status.success(), "the environment's key is read too");
    let out = run(d, &["wechat-sim", "--addr", "127.0.0.1:0", "--callback", "http://127.0.0.1:9/cb"], "", &[]);
    one_error_line(&out, "--callback needs --token");

    std::fs::write(d.join("token.txt"), "simtoken1\n").unwrap();
    std::fs::write(d.join("aes.txt"), format!("{AES}\n")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sceneboard"))
        .args([
            "wechat-sim",
            "--addr",
            &addr,
            "--callback",
            "http://127.0.0.1:9/cb",
            "--token-file",
            "token.txt",
            "--aes-key-file",
            "aes.txt",
        ])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(std::time::Instant::now() < deadline, "the simulator did not start");
        assert!(child.try_wait().unwrap().is_none(), "the simulator exited");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!text(&out.stderr).contains("warning: --"), "{}", text(&out.stderr));
}
