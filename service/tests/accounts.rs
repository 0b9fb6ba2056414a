//! WeChat accounts on real SQLite and PostgreSQL: validation field by field, secrets sealed at
//! rest (checked in the raw database), blank secrets kept on update, the connection test
//! against the WeChat simulator over HTTP, and logos.

use std::io::Cursor;

use image::{ImageFormat, Rgba, RgbaImage};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};
use secrecy::ExposeSecret;
use service::accounts::{self, AccountInput, MessageMode};
use service::entity::{access_token, audit_log};
use service::testing::{Backend, TestDb};
use service::{AppState, ServiceError, dual_test};
use wechat::sim::{SimApp, SimConfig, spawn};

const APP_ID: &str = "wx0123456789abcdef";
const SECRET: &str = "0123456789abcdef0123456789abcdef";
/// A recognisable EncodingAESKey (43 base64 characters).
const AES_KEY: &str = "SceneboardTestKeyQrstuvwxyz0123456789ABCDEF";

fn input() -> AccountInput {
    AccountInput {
        name: "  Spring shop  ".into(),
        app_id: APP_ID.into(),
        app_secret: Some(SECRET.into()),
        token: "callbackToken1".into(),
        aes_key: None,
        message_mode: "plain".into(),
        api_base_url: None,
        timezone: None,
    }
}

/// The field of a validation error; panics on anything else.
fn field_of(r: Result<accounts::AccountView, ServiceError>) -> &'static str {
    match r {
        Err(ServiceError::Validation { field, message }) => {
            assert!(!message.to_string().is_empty());
            field
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

async fn audit_actions(st: &AppState) -> Vec<(String, String)> {
    audit_log::Entity::find().all(&st.db).await.unwrap().into_iter().map(|a| (a.action, a.detail)).collect()
}

#[test]
fn message_modes_round_trip() {
    for m in [MessageMode::Plain, MessageMode::Compat, MessageMode::Safe] {
        assert_eq!(m.as_str().parse::<MessageMode>().unwrap(), m);
    }
    assert!(matches!("loud".parse::<MessageMode>(), Err(ServiceError::Validation { field: "message_mode", .. })));
}

dual_test!(create_list_get_update_round_trip, |t: TestDb| async move {
    let st = t.state();
    let created = accounts::create(&st, input(), None).await.unwrap();
    assert_eq!(created.name, "Spring shop", "the name is trimmed");
    assert_eq!(created.app_id, APP_ID);
    assert!(created.secret_set);
    assert!(!created.aes_key_set);
    let m = accounts::model(&st.db, created.id).await.unwrap();
    assert_eq!(accounts::callback_token(&st.keys, &m).unwrap(), "callbackToken1");
    assert_eq!(m.token, "", "the plaintext column stays blank");
    assert_eq!(created.message_mode, "plain");
    assert_eq!(created.api_base_url, wechat::client::DEFAULT_API_BASE);
    assert_eq!(created.timezone, "Asia/Shanghai", "defaults to the server's time zone");
    assert!(!created.has_logo);
    assert_eq!(created.permanent_codes, 0);

    let other = AccountInput { name: "Autumn".into(), app_id: "wxaaaaaaaaaaaaaaaa".into(), ..input() };
    accounts::create(&st, other, None).await.unwrap();
    let names: Vec<String> = accounts::list(&st.db).await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["Autumn", "Spring shop"], "listed by name");
    assert_eq!(accounts::get(&st.db, created.id).await.unwrap(), created);
    assert!(matches!(accounts::get(&st.db, 9999).await, Err(ServiceError::NotFound)));
    assert!(matches!(accounts::model(&st.db, 9999).await, Err(ServiceError::NotFound)));
    assert_eq!(accounts::find_by_app_id(&st.db, APP_ID).await.unwrap().unwrap().id, created.id);
    assert!(accounts::find_by_app_id(&st.db, "wxffffffffffffffff").await.unwrap().is_none());

    let change = AccountInput {
        name: "Spring shop (CN)".into(),
        app_secret: Some(SECRET.into()),
        aes_key: Some(AES_KEY.into()),
        message_mode: "safe".into(),
        api_base_url: Some("http://127.0.0.1:9/".into()),
        timezone: Some("Europe/Berlin".into()),
        ..input()
    };
    let updated = accounts::update(&st, created.id, change, None).await.unwrap();
    assert_eq!(updated.name, "Spring shop (CN)");
    assert_eq!(updated.message_mode, "safe");
    assert!(updated.aes_key_set);
    assert_eq!(updated.api_base_url, "http://127.0.0.1:9", "stored without the trailing slash");
    assert_eq!(updated.timezone, "Europe/Berlin");
    assert_eq!(updated.created_at, created.created_at);
    assert!(matches!(accounts::update(&st, 9999, input(), None).await, Err(ServiceError::NotFound)));

    let m = accounts::model(&st.db, created.id).await.unwrap();
    assert_eq!(accounts::aes_key(&st, &m).unwrap().as_deref(), Some(AES_KEY));
    let config = accounts::account_config(&st, &m).unwrap();
    assert_eq!(config.secret.expose_secret(), SECRET);
    assert_eq!(config.api_base, "http://127.0.0.1:9");

    // Permanent codes ever issued are counted per account (whether their campaigns still exist
    // or not); temporary ones are not.
    for (scene, permanent) in [("1", true), ("2", true), ("3", false)] {
        let expires = (!permanent).then(|| chrono::Utc::now() + chrono::Duration::days(3));
        let sql = "INSERT INTO issued_scenes (account_id, scene, permanent, expires_at) VALUES (?, ?, ?, ?)";
        let vals = vec![created.id.into(), scene.into(), permanent.into(), expires.into()];
        st.db.execute_raw(service::db::stmt(st.db.get_database_backend(), sql, vals)).await.unwrap();
    }
    assert_eq!(accounts::get(&st.db, created.id).await.unwrap().permanent_codes, 2);
    let listed = accounts::list(&st.db).await.unwrap();
    assert_eq!(listed.iter().map(|a| a.permanent_codes).collect::<Vec<_>>(), [0, 2]);

    let audit = audit_actions(&st).await;
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["account.create", "account.create", "account.update"]);
    assert!(audit[0].1.contains(APP_ID) && audit[0].1.contains("\"mode\":\"plain\""), "{}", audit[0].1);
    for (_, detail) in &audit {
        assert!(!detail.contains(SECRET) && !detail.contains(AES_KEY), "no secret in the audit log: {detail}");
    }
});

dual_test!(every_validation_error_names_its_field, |t: TestDb| async move {
    let st = t.state();
    let cases: Vec<(&str, AccountInput)> = vec![
        ("name", AccountInput { name: "   ".into(), ..input() }),
        ("name", AccountInput { name: "x".repeat(65), ..input() }),
        ("app_id", AccountInput { app_id: "wx123".into(), ..input() }),
        ("app_id", AccountInput { app_id: "wx0123456789ABCDEF".into(), ..input() }),
        ("app_id", AccountInput { app_id: "ab0123456789abcdef".into(), ..input() }),
        ("app_secret", AccountInput { app_secret: None, ..input() }),
        ("app_secret", AccountInput { app_secret: Some("  ".into()), ..input() }),
        ("app_secret", AccountInput { app_secret: Some("has a space".into()), ..input() }),
        ("app_secret", AccountInput { app_secret: Some("s".repeat(129)), ..input() }),
        ("app_secret", AccountInput { app_secret: Some("密钥".into()), ..input() }),
        ("token", AccountInput { token: "ab".into(), ..input() }),
        ("token", AccountInput { token: "not-alnum".into(), ..input() }),
        ("token", AccountInput { token: "t".repeat(33), ..input() }),
        ("message_mode", AccountInput { message_mode: "loud".into(), ..input() }),
        ("aes_key", AccountInput { aes_key: Some("tooshort".into()), ..input() }),
        ("aes_key", AccountInput { aes_key: Some(format!("{}!", &AES_KEY[..42])), ..input() }),
        ("aes_key", AccountInput { message_mode: "compat".into(), ..input() }),
        ("aes_key", AccountInput { message_mode: "safe".into(), aes_key: Some(" ".into()), ..input() }),
        ("api_base_url", AccountInput { api_base_url: Some("not a url".into()), ..input() }),
        ("api_base_url", AccountInput { api_base_url: Some("ftp://api.weixin.qq.com".into()), ..input() }),
        ("api_base_url", AccountInput { api_base_url: Some("https://api.weixin.qq.com/?x=1".into()), ..input() }),
        ("api_base_url", AccountInput { api_base_url: Some("https://api.weixin.qq.com/#top".into()), ..input() }),
        ("api_base_url", AccountInput { api_base_url: Some("https://user:pw@api.weixin.qq.com".into()), ..input() }),
        // Plain http only to this machine: elsewhere the AppSecret would cross the network in the clear.
        ("api_base_url", AccountInput { api_base_url: Some("http://api.weixin.qq.com".into()), ..input() }),
        ("api_base_url", AccountInput { api_base_url: Some("http://10.0.0.7:3100".into()), ..input() }),
        ("api_base_url", AccountInput { api_base_url: Some("http://169.254.169.254".into()), ..input() }),
        ("api_base_url", AccountInput { api_base_url: Some("http://localhost.example.com".into()), ..input() }),
        ("timezone", AccountInput { timezone: Some("Mars/Olympus_Mons".into()), ..input() }),
    ];
    for (expected, bad) in cases {
        let shown = format!("{bad:?}");
        assert_eq!(field_of(accounts::create(&st, bad, None).await), expected, "{shown}");
    }
    assert!(accounts::list(&st.db).await.unwrap().is_empty(), "nothing stored for refused input");

    // The same rules hold on update; a refused update changes nothing.
    let a = accounts::create(&st, input(), None).await.unwrap();
    assert_eq!(field_of(accounts::update(&st, a.id, AccountInput { token: "x".into(), ..input() }, None).await), "token");
    let compat_without_key = AccountInput { message_mode: "compat".into(), app_secret: None, ..input() };
    assert_eq!(field_of(accounts::update(&st, a.id, compat_without_key, None).await), "aes_key");
    assert_eq!(accounts::get(&st.db, a.id).await.unwrap(), a);
    // A blank optional field takes its default.
    let b = AccountInput { app_id: "wxbbbbbbbbbbbbbbbb".into(), api_base_url: Some(" ".into()), timezone: Some("".into()), ..input() };
    let b = accounts::create(&st, b, None).await.unwrap();
    assert_eq!((b.api_base_url.as_str(), b.timezone.as_str()), (wechat::client::DEFAULT_API_BASE, "Asia/Shanghai"));
    // http to loopback is accepted (the simulator), in each spelling of this machine.
    for (i, base) in ["http://127.0.0.1:3100", "http://127.9.8.7", "http://[::1]:3100", "http://LOCALHOST:3100"].into_iter().enumerate() {
        let app_id = format!("wxc{i:015x}");
        let local = AccountInput { app_id, api_base_url: Some(base.into()), ..input() };
        accounts::create(&st, local, None).await.unwrap_or_else(|e| panic!("{base}: {e:?}"));
    }
});

dual_test!(a_new_api_base_or_app_id_needs_the_app_secret_again, |t: TestDb| async move {
    let st = t.state();
    let a = accounts::create(&st, input(), None).await.unwrap();
    let before = accounts::model(&st.db, a.id).await.unwrap();
    // Elsewhere without the AppSecret: refused on the AppSecret field, in both languages.
    for moved in [
        AccountInput { app_secret: None, api_base_url: Some("https://wechat-proxy.example.com".into()), ..input() },
        AccountInput { app_secret: Some(" ".into()), api_base_url: Some("http://127.0.0.1:9".into()), ..input() },
        AccountInput { app_secret: None, app_id: "wxfedcba9876543210".into(), ..input() },
    ] {
        match accounts::update(&st, a.id, moved, None).await {
            Err(ServiceError::Validation { field: "app_secret", message }) => {
                assert_eq!(message, service::Msg::AppSecretAgain);
                assert!(message.text(service::Lang::En).contains("enter the AppSecret again"), "{message}");
                assert!(message.text(service::Lang::Zh).contains("重新填写 AppSecret"), "{message}");
            }
            other => panic!("expected the AppSecret to be asked for, got {other:?}"),
        }
    }
    assert_eq!(accounts::model(&st.db, a.id).await.unwrap(), before, "nothing changed");
    // The same server and AppID: a blank AppSecret keeps the stored one.
    accounts::update(&st, a.id, AccountInput { name: "Renamed".into(), app_secret: None, ..input() }, None).await.unwrap();
    // With the AppSecret typed again, the move is saved.
    let moved = AccountInput { api_base_url: Some("https://wechat-proxy.example.com".into()), ..input() };
    assert_eq!(accounts::update(&st, a.id, moved, None).await.unwrap().api_base_url, "https://wechat-proxy.example.com");
});

dual_test!(duplicate_app_id_is_a_conflict, |t: TestDb| async move {
    let st = t.state();
    accounts::create(&st, input(), None).await.unwrap();
    match accounts::create(&st, AccountInput { name: "Copy".into(), ..input() }, None).await {
        Err(ServiceError::Conflict { field: "app_id", message }) => {
            assert!(message.to_string().contains("Spring shop"), "names the account that has it: {message}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let second =
        accounts::create(&st, AccountInput { name: "Second".into(), app_id: "wx1111111111111111".into(), ..input() }, None).await.unwrap();
    let steal = AccountInput { name: "Second".into(), ..input() };
    assert!(matches!(accounts::update(&st, second.id, steal, None).await, Err(ServiceError::Conflict { field: "app_id", .. })));
    // Saving an account with its own AppID is no conflict.
    accounts::update(
        &st,
        second.id,
        AccountInput { name: "Second!".into(), app_id: "wx1111111111111111".into(), app_secret: None, ..input() },
        None,
    )
    .await
    .unwrap();
    assert_eq!(accounts::list(&st.db).await.unwrap().len(), 2);
});

dual_test!(blank_secrets_keep_the_stored_ones, |t: TestDb| async move {
    let st = t.state();
    let safe = AccountInput { aes_key: Some(AES_KEY.into()), message_mode: "safe".into(), ..input() };
    let a = accounts::create(&st, safe, None).await.unwrap();
    let before = accounts::model(&st.db, a.id).await.unwrap();

    let keep =
        AccountInput { name: "Renamed".into(), app_secret: Some("   ".into()), aes_key: None, message_mode: "compat".into(), ..input() };
    accounts::update(&st, a.id, keep, None).await.unwrap();
    let m = accounts::model(&st.db, a.id).await.unwrap();
    assert_eq!(m.app_secret_enc, before.app_secret_enc, "the sealed secret is untouched");
    assert_eq!(accounts::account_config(&st, &m).unwrap().secret.expose_secret(), SECRET);
    assert_eq!(accounts::aes_key(&st, &m).unwrap().as_deref(), Some(AES_KEY), "compat reuses the stored key");

    // A new AppID (which takes the AppSecret again) re-seals the stored EncodingAESKey under
    // it, so it still opens.
    let moved = AccountInput { app_id: "wxfedcba9876543210".into(), message_mode: "safe".into(), ..input() };
    accounts::update(&st, a.id, moved, None).await.unwrap();
    let m = accounts::model(&st.db, a.id).await.unwrap();
    assert_eq!(accounts::account_config(&st, &m).unwrap().secret.expose_secret(), SECRET);
    assert_eq!(accounts::aes_key(&st, &m).unwrap().as_deref(), Some(AES_KEY));

    // A given secret replaces the old one.
    let new_secret =
        AccountInput { app_id: "wxfedcba9876543210".into(), app_secret: Some("sandbox-secret-0123456789abcdef".into()), ..input() };
    accounts::update(&st, a.id, new_secret, None).await.unwrap();
    let m = accounts::model(&st.db, a.id).await.unwrap();
    assert_eq!(accounts::account_config(&st, &m).unwrap().secret.expose_secret(), "sandbox-secret-0123456789abcdef");

    // Under another SCENEBOARD_SECRET_KEY the secret does not open, and the error says why
    // without showing anything secret.
    let other_keys = t.state();
    match accounts::account_config(&other_keys, &m) {
        Err(ServiceError::Internal(msg)) => {
            assert!(msg.contains("SCENEBOARD_SECRET_KEY"), "{msg}");
            assert!(!msg.contains("sandbox-secret") && !msg.contains(&m.app_secret_enc), "{msg}");
        }
        other => panic!("expected an internal error, got {other:?}"),
    }
    assert!(matches!(accounts::api_client(&other_keys, &m), Err(ServiceError::Internal(_))));
});

dual_test!(secrets_are_not_stored_in_the_clear, |t: TestDb| async move {
    let st = t.state();
    let safe = AccountInput { aes_key: Some(AES_KEY.into()), message_mode: "safe".into(), ..input() };
    let a = accounts::create(&st, safe, None).await.unwrap();
    accounts::update(&st, a.id, AccountInput { aes_key: Some(AES_KEY.into()), message_mode: "safe".into(), ..input() }, None)
        .await
        .unwrap();
    let raw: Vec<u8> = match t.backend {
        Backend::Sqlite => {
            // Move everything from the WAL into the main file, then read both as bytes.
            st.db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
            let path = service::db::sqlite_path(&t.url).unwrap().to_owned();
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
            bytes
        }
        Backend::Postgres => {
            let mut text = String::new();
            for table in ["wechat_accounts", "audit_log", "access_tokens"] {
                let sql = format!("SELECT t::text AS row FROM {table} t");
                for row in st.db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap() {
                    text.push_str(&row.try_get::<String>("", "row").unwrap());
                    text.push('\n');
                }
            }
            text.into_bytes()
        }
    };
    let contains = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains(APP_ID), "the raw read sees the plain columns");
    assert!(!contains("callbackToken1"), "the callback Token is not stored in the clear");
    assert!(!contains(SECRET), "the AppSecret is not stored in the clear");
    assert!(!contains(AES_KEY), "the EncodingAESKey is not stored in the clear");
});

dual_test!(test_connection_against_the_simulator, |t: TestDb| async move {
    let st = t.state();
    let sim = spawn(SimConfig::with_apps(vec![SimApp::sandbox()])).await.unwrap();
    let app = SimApp::sandbox();
    let sandbox = AccountInput {
        name: "Sandbox".into(),
        app_id: app.app_id.clone(),
        app_secret: Some(app.secret.clone()),
        token: "sandboxtoken".into(),
        aes_key: None,
        message_mode: "plain".into(),
        api_base_url: Some(sim.base_url()),
        timezone: None,
    };
    let a = accounts::create(&st, sandbox.clone(), None).await.unwrap();
    let report = accounts::test_connection(&st, a.id, None).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.message.to_string(), "Connected: WeChat issued an access token.");

    // The shared client stores its token in the database.
    let m = accounts::model(&st.db, a.id).await.unwrap();
    accounts::api_client(&st, &m).unwrap().access_token().await.unwrap();
    let stored = access_token::Entity::find_by_id(a.id).one(&st.db).await.unwrap().unwrap();
    assert!(stored.token_enc.is_some());

    // A wrong secret: WeChat's 40125 in words, and the old token is forgotten.
    let wrong = AccountInput { app_secret: Some("wrong-secret-000".into()), ..sandbox.clone() };
    accounts::update(&st, a.id, wrong, None).await.unwrap();
    let stored = access_token::Entity::find_by_id(a.id).one(&st.db).await.unwrap().unwrap();
    assert!(stored.token_enc.is_none(), "a new secret forgets the token of the old one");
    let report = accounts::test_connection(&st, a.id, None).await.unwrap();
    assert!(!report.ok);
    assert!(report.message.to_string().contains("the AppSecret is wrong"), "{}", report.message);
    assert!(!report.message.to_string().contains("wrong-secret-000"), "{}", report.message);

    // Nobody listening: the message names the address.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let unreachable = AccountInput { api_base_url: Some(closed.clone()), ..sandbox };
    accounts::update(&st, a.id, unreachable, None).await.unwrap();
    let report = accounts::test_connection(&st, a.id, None).await.unwrap();
    assert!(!report.ok);
    assert!(report.message.to_string().contains(&format!("cannot reach {closed}")), "{}", report.message);

    let tests: Vec<String> = audit_actions(&st).await.into_iter().filter(|(a, _)| a == "account.test").map(|(_, d)| d).collect();
    assert_eq!(tests.len(), 3, "each test is audited");
    assert!(tests.iter().all(|d| !d.contains(&app.secret) && !d.contains("wrong-secret-000")));
    assert!(matches!(accounts::test_connection(&st, 9999, None).await, Err(ServiceError::NotFound)));
});

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = RgbaImage::from_pixel(w, h, Rgba([200, 30, 30, 255]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

dual_test!(logos_are_reencoded_and_cleared, |t: TestDb| async move {
    let st = t.state();
    let a = accounts::create(&st, input(), None).await.unwrap();
    assert_eq!(accounts::logo(&st.db, a.id).await.unwrap(), None);

    // Bytes after the image's end must not survive: only pixels are stored.
    let mut upload = png(24, 16);
    upload.extend_from_slice(b"TRAILING-PAYLOAD");
    accounts::set_logo(&st, a.id, Some(&upload), None).await.unwrap();
    let stored = accounts::logo(&st.db, a.id).await.unwrap().expect("a logo");
    assert!(!stored.windows(16).any(|w| w == b"TRAILING-PAYLOAD"));
    let decoded = image::load_from_memory_with_format(&stored, ImageFormat::Png).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (24, 16));
    assert_eq!(decoded.to_rgba8().get_pixel(3, 3), &Rgba([200, 30, 30, 255]));
    assert!(accounts::get(&st.db, a.id).await.unwrap().has_logo);
    assert!(accounts::list(&st.db).await.unwrap()[0].has_logo);

    // Refused uploads name the field and keep the stored logo.
    for bad in [b"GIF89a not a png".to_vec(), b"\x89PNG\r\n\x1a\ntruncated".to_vec(), vec![0u8; 0]] {
        match accounts::set_logo(&st, a.id, Some(&bad), None).await {
            Err(ServiceError::Validation { field: "logo", message }) => assert!(!message.to_string().is_empty()),
            other => panic!("expected a logo validation error, got {other:?}"),
        }
    }
    assert_eq!(accounts::logo(&st.db, a.id).await.unwrap(), Some(stored));

    accounts::set_logo(&st, a.id, None, None).await.unwrap();
    assert_eq!(accounts::logo(&st.db, a.id).await.unwrap(), None);
    assert!(!accounts::get(&st.db, a.id).await.unwrap().has_logo);
    assert!(matches!(accounts::set_logo(&st, 9999, None, None).await, Err(ServiceError::NotFound)));
    assert!(matches!(accounts::logo(&st.db, 9999).await, Err(ServiceError::NotFound)));

    let actions: Vec<String> = audit_log::Entity::find()
        .filter(audit_log::Column::Action.starts_with("account.logo"))
        .all(&st.db)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, ["account.logo", "account.logo_remove"]);
});

dual_test!(logo_migration_goes_down_and_up, |t: TestDb| async move {
    use migrations::{Migrator, MigratorTrait};
    let st = t.state();
    let a = accounts::create(&st, input(), None).await.unwrap();
    let select = |table: &str| Statement::from_string(t.db.get_database_backend(), format!("SELECT logo FROM {table}"));
    assert!(t.db.query_all_raw(select("wechat_accounts")).await.is_ok());
    // Back to where the API-health migration (the third) is the newest, then that one: the
    // API-health columns go, the logos stay.
    let health = Statement::from_string(t.db.get_database_backend(), "SELECT api_ok_at, api_failed_at, api_error FROM wechat_accounts");
    assert!(t.db.query_all_raw(health.clone()).await.is_ok());
    Migrator::down(&t.db, Some(Migrator::migrations().len() as u32 - 3)).await.unwrap();
    assert!(t.db.query_all_raw(health.clone()).await.is_ok(), "later migrations keep the API-health columns");
    Migrator::down(&t.db, Some(1)).await.unwrap();
    assert!(t.db.query_all_raw(health.clone()).await.is_err(), "down drops the API-health columns");
    assert!(t.db.query_all_raw(select("wechat_accounts")).await.is_ok(), "and only those");
    Migrator::down(&t.db, Some(1)).await.unwrap();
    assert!(t.db.query_all_raw(select("wechat_accounts")).await.is_err(), "down drops the account logo");
    assert!(t.db.query_all_raw(select("campaigns")).await.is_err(), "down drops the campaign logo");
    assert_eq!(
        t.db.query_all_raw(Statement::from_string(t.db.get_database_backend(), "SELECT name FROM wechat_accounts")).await.unwrap().len(),
        1,
        "and keeps the rows"
    );
    Migrator::up(&t.db, None).await.unwrap();
    assert!(t.db.query_all_raw(health).await.is_ok(), "up brings the columns back");
    accounts::set_logo(&st, a.id, Some(&png(8, 8)), None).await.unwrap();
    assert!(accounts::get(&st.db, a.id).await.unwrap().has_logo);
});
