//! Campaigns, codes and settings over real HTTP, on SQLite and PostgreSQL, against the WeChat
//! simulator: what admins and staff do on the pages, through the same server functions and
//! routes the browser uses.

mod support;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use service::dual_test;
use service::testing::TestDb;
use support::{sandbox_account, start};

/// Every QR payload in a PNG.
fn decode_png(png: &[u8]) -> Vec<String> {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).expect("a PNG").into_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(img.width() as usize, img.height() as usize, |x, y| {
        img.get_pixel(x as u32, y as u32).0[0]
    });
    prepared.detect_grids().into_iter().filter_map(|g| g.decode().ok().map(|(_, text)| text)).collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

dual_test!(admin_adds_an_account_and_tests_it, |t: TestDb| async move {
    let r = start(t).await;
    let sim = wechat::sim::spawn(wechat::sim::SimConfig::with_apps(vec![wechat::sim::SimApp::sandbox()])).await.unwrap();
    let app = wechat::sim::SimApp::sandbox();
    let admin = r.login("admin", "admin-password").await;
    let aes = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let res = r
        .call(
            "save_account",
            &admin,
            &[
                ("name", "Sandbox"),
                ("app_id", &app.app_id),
                ("app_secret", &app.secret),
                ("token", "sandboxtoken"),
                ("aes_key", aes),
                ("message_mode", "safe"),
                ("api_base_url", &sim.base_url()),
                ("timezone", "Asia/Shanghai"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    let id = res.text().await.unwrap();

    // The overview shows the callback URL and Token, says the secrets are set, never sends them.
    let body = r.call("settings_overview", &admin, &[]).await.text().await.unwrap();
    let v = json(&body);
    let acc = &v["accounts"][0];
    assert_eq!(acc["callback_url"], format!("http://127.0.0.1:3000/wechat/callback/{}", app.app_id));
    assert_eq!(acc["token"], "sandboxtoken");
    assert_eq!(acc["secret_set"], true);
    assert_eq!(acc["aes_key_set"], true);
    assert!(!body.contains(&app.secret) && !body.contains(aes), "secrets never reach the browser: {body}");
    let page = r.get("/settings", &admin).await.text().await.unwrap();
    assert!(page.contains("sandboxtoken") && page.contains("/wechat/callback/"));
    assert!(!page.contains(&app.secret) && !page.contains(aes), "nor the page");

    // Test connection: a token from the simulator, reported in words through the page URL.
    let (status, location) = r.post_form("test_account", &admin, "/settings", &[("id", &id)]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(location.starts_with(&format!("/settings?tested={id}&ok=1")), "{location}");
    assert_eq!(sim.state.token_fetches(&app.app_id), 1);

    // A wrong secret: saved (it is write-only), and the test says what is wrong.
    let res = r
        .call(
            "save_account",
            &admin,
            &[
                ("id", &id),
                ("name", "Sandbox"),
                ("app_id", &app.app_id),
                ("app_secret", "wrong-secret"),
                ("token", "sandboxtoken"),
                ("message_mode", "safe"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "blank AES key keeps the stored one");
    let (_, location) = r.post_form("test_account", &admin, "/settings", &[("id", &id)]).await;
    assert!(location.contains("ok=0"), "{location}");

    // Field errors name their field; JavaScript-off posts come back to the form with them.
    let res = r
        .call(
            "save_account",
            &admin,
            &[("name", "Bad"), ("app_id", "nope"), ("app_secret", "x"), ("token", "t"), ("message_mode", "plain")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("app_id"));
    let (status, location) = r
        .post_form(
            "save_account",
            &admin,
            "/settings",
            &[("name", "Bad"), ("app_id", "nope"), ("app_secret", "x"), ("token", "tok123"), ("message_mode", "plain")],
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(location.contains("__err=") && location.contains("/settings"), "{location}");
    assert_eq!(service::accounts::list(&r.t.db).await.unwrap().len(), 1, "nothing stored by the bad form");
});

dual_test!(staff_create_campaigns_and_download_codes, |t: TestDb| async move {
    let r = start(t).await;
    let (sim, account) = sandbox_account(&r).await;
    let staff = r.login("staff", "staff-password").await;
    let account = account.to_string();

    // Permanent with an automatic scene.
    let res = r
        .call("create_campaign", &staff, &[("account_id", &account), ("name", "春季海报"), ("group", "海报"), ("kind", "permanent")])
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    let first: i32 = res.text().await.unwrap().parse().unwrap();
    // Temporary with a typed string scene; JavaScript off: redirect to the new campaign's page.
    let (status, location) = r
        .post_form(
            "create_campaign",
            &staff,
            "/campaigns/new",
            &[("account_id", &account), ("name", "Shop counter"), ("kind", "temporary"), ("scene", "shop-001"), ("expire_days", "7")],
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(location.starts_with("/campaigns/") && location.ends_with("?created=1"), "{location}");
    let second: i32 = location.trim_start_matches("/campaigns/").trim_end_matches("?created=1").parse().unwrap();

    // Duplicate scene: refused, naming the campaign that has it; nothing stored.
    let res = r
        .call("create_campaign", &staff, &[("account_id", &account), ("name", "Copy"), ("kind", "permanent"), ("scene", "shop-001")])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("Shop counter"));
    let (_, location) = r
        .post_form(
            "create_campaign",
            &staff,
            "/campaigns/new",
            &[("account_id", &account), ("name", "Copy"), ("kind", "temporary"), ("expire_days", "45")],
        )
        .await;
    assert!(location.starts_with(&format!("{}/campaigns/new?", r.base)) && location.contains("__err="), "{location}");

    // The page lists both with their codes.
    let list = r.get("/campaigns", &staff).await;
    assert_eq!(list.status(), StatusCode::OK);
    let html = list.text().await.unwrap();
    assert!(html.contains("春季海报") && html.contains("Shop counter") && html.contains(&format!("/campaigns/{first}/qr.png")));
    let html = r.get("/campaigns?q=shop", &staff).await.text().await.unwrap();
    assert!(html.contains("Shop counter") && !html.contains("春季海报"), "search filters");

    // PNG decodes back to exactly the ticket's url; SVG is served as SVG.
    let detail = json(&r.call("campaign_detail", &staff, &[("id", &first.to_string())]).await.text().await.unwrap());
    let url = detail["code_url"].as_str().unwrap().to_owned();
    assert!(sim.state.codes(&wechat::sim::SimApp::sandbox().app_id).iter().any(|c| c.url == url), "the code was issued by WeChat");
    for size in [258, 430, 860, 1280] {
        let res = r.get(&format!("/campaigns/{first}/qr.png?size={size}"), &staff).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[CONTENT_TYPE], "image/png");
        let png = res.bytes().await.unwrap();
        assert_eq!(decode_png(&png), vec![url.clone()], "size {size}");
    }
    let res = r.get(&format!("/campaigns/{first}/qr.svg?caption=1"), &staff).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("image/svg+xml"));
    assert!(res.text().await.unwrap().contains("春季海报"), "caption drawn");
    assert_eq!(r.get(&format!("/campaigns/{first}/qr.png?size=abc"), &staff).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.get("/campaigns/99999/qr.png", &staff).await.status(), StatusCode::NOT_FOUND);

    // Both codes as one ZIP.
    let res = r.get(&format!("/campaigns/codes.zip?ids={first}&ids={second}&size=258"), &staff).await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(zip.len(), 2);
    let mut png = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_index(0).unwrap(), &mut png).unwrap();
    assert_eq!(decode_png(&png).len(), 1);

    // Renew the temporary code: a new ticket for the same scene.
    let before = json(&r.call("campaign_detail", &staff, &[("id", &second.to_string())]).await.text().await.unwrap());
    let (status, location) = r.post_form("renew_campaign", &staff, &format!("/campaigns/{second}"), &[("id", &second.to_string())]).await;
    assert_eq!((status, location.as_str()), (StatusCode::FOUND, format!("/campaigns/{second}?renewed=1").as_str()));
    let after = json(&r.call("campaign_detail", &staff, &[("id", &second.to_string())]).await.text().await.unwrap());
    assert_ne!(before["code_url"], after["code_url"]);
    assert_eq!(after["row"]["scene"], "shop-001");

    // A logo: PNGs only, re-encoded, and the code still decodes.
    let mut logo = Vec::new();
    image::DynamicImage::new_rgba8(40, 40).write_to(&mut std::io::Cursor::new(&mut logo), image::ImageFormat::Png).unwrap();
    let form = reqwest::multipart::Form::new().part("logo", reqwest::multipart::Part::bytes(logo).file_name("logo.png"));
    let res = r.http.post(format!("{}/campaigns/{first}/logo", r.base)).header("cookie", &staff).multipart(form).send().await.unwrap();
    assert_eq!(res.headers()[LOCATION], format!("/campaigns/{first}?logo=1"));
    let png = r.get(&format!("/campaigns/{first}/qr.png?size=430"), &staff).await.bytes().await.unwrap();
    assert_eq!(decode_png(&png), vec![url.clone()], "with a logo");
    let form = reqwest::multipart::Form::new().part("logo", reqwest::multipart::Part::bytes(b"GIF89a....".to_vec()).file_name("x.gif"));
    let res = r.http.post(format!("{}/campaigns/{first}/logo", r.base)).header("cookie", &staff).multipart(form).send().await.unwrap();
    assert!(res.headers()[LOCATION].to_str().unwrap().contains("logo_error="), "non-PNG refused");

    // Archive keeps it listed under "archived"; its page says so.
    let (status, _) = r
        .post_form("campaign_lifecycle", &staff, &format!("/campaigns/{first}"), &[("id", &first.to_string()), ("action", "archive")])
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let html = r.get("/campaigns", &staff).await.text().await.unwrap();
    assert!(!html.contains("春季海报"), "archived campaigns leave the default list");
    let html = r.get("/campaigns?status=archived", &staff).await.text().await.unwrap();
    assert!(html.contains("春季海报"));

    // The audit log names who did what.
    let admin = r.login("admin", "admin-password").await;
    let log = r.call("audit_log", &admin, &[]).await.text().await.unwrap();
    for action in ["campaign.create", "campaign.renew", "campaign.archive", "export.codes_zip"] {
        assert!(log.contains(action), "{action} in {log}");
    }
    assert!(log.contains("\"staff\""));
});

dual_test!(a_deleted_permanent_code_keeps_its_quota_and_its_scene, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let (staff, admin) = (r.login("staff", "staff-password").await, r.login("admin", "admin-password").await);
    let account = account.to_string();
    let res = r.call("create_campaign", &staff, &[("account_id", &account), ("name", "Poster"), ("kind", "permanent")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = res.text().await.unwrap();
    let (status, location) =
        r.post_form("campaign_lifecycle", &staff, &format!("/campaigns/{id}"), &[("id", &id), ("action", "delete")]).await;
    assert_eq!((status, location.as_str()), (StatusCode::FOUND, "/campaigns?deleted=1"));

    // Settings still count its code, and say why.
    let v = json(&r.call("settings_overview", &admin, &[]).await.text().await.unwrap());
    assert_eq!(v["accounts"][0]["permanent_codes"], 1);
    let page = r.get("/settings", &admin).await.text().await.unwrap();
    assert!(page.contains("1 / 100000") && page.contains("已删除活动的也算：微信不会退还"), "{page}");

    // Its scene, typed again, is refused; the next automatic one is another.
    let en = format!("{staff}; i18n_pref_locale=en");
    let res = r.call("create_campaign", &en, &[("account_id", &account), ("name", "Again"), ("kind", "permanent"), ("scene", "1")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("scene 1 belonged to a deleted campaign whose permanent code still works"));
    let res = r.call("create_campaign", &staff, &[("account_id", &account), ("name", "Again"), ("kind", "permanent")]).await;
    let again: i32 = res.text().await.unwrap().parse().unwrap();
    assert_eq!(service::campaigns::get(&r.t.db, again).await.unwrap().scene, "2");
});

dual_test!(csv_import_is_all_or_nothing_with_line_numbers, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let staff = r.login("staff", "staff-password").await;
    let account = account.to_string();
    let bad =
        "name,scene,kind,group,expire_days\nOne,101,permanent,,\nTwo,,temporary,Stores,45\nThree,101,permanent,,\nFour,x,sometimes,,\n";
    let res = r.call("import_campaigns", &staff, &[("account_id", &account), ("csv", bad)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = json(&res.text().await.unwrap());
    let lines: Vec<u64> = v["Rows"].as_array().expect("row problems").iter().map(|p| p["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![3, 4, 5], "{v}");
    assert_eq!(json(&r.call("list_campaigns", &staff, &[]).await.text().await.unwrap())["total"], 0, "nothing stored");

    let good = "\u{feff}name,scene,kind,group,expire_days\r\nOne,101,permanent,海报,\r\nTwo,,temporary,Stores,14\r\n";
    let res = r.call("import_campaigns", &staff, &[("account_id", &account), ("csv", good), ("preview", "1")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(&res.text().await.unwrap())["rows"].as_array().unwrap().len(), 2);
    assert_eq!(json(&r.call("list_campaigns", &staff, &[]).await.text().await.unwrap())["total"], 0, "a preview stores nothing");
    let (status, location) = r.post_form("import_campaigns", &staff, "/campaigns/import", &[("account_id", &account), ("csv", good)]).await;
    assert_eq!((status, location.as_str()), (StatusCode::FOUND, "/campaigns?imported=2"));
    assert_eq!(json(&r.call("list_campaigns", &staff, &[]).await.text().await.unwrap())["total"], 2);
});

dual_test!(users_are_managed_and_the_last_admin_stays, |t: TestDb| async move {
    let r = start(t).await;
    let admin = r.login("admin", "admin-password").await;
    let staff_cookie = r.login("staff", "staff-password").await;
    let users = service::users::list(&r.t.db).await.unwrap();
    let admin_id = users.iter().find(|u| u.username == "admin").unwrap().id.to_string();
    let staff_id = users.iter().find(|u| u.username == "staff").unwrap().id.to_string();

    // The only admin cannot demote or disable themselves.
    let res = r.call("change_user", &format!("{admin}; i18n_pref_locale=en"), &[("id", &admin_id), ("change", "staff")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("last administrator"));
    assert_eq!(r.call("change_user", &admin, &[("id", &admin_id), ("change", "disable")]).await.status(), StatusCode::CONFLICT);

    // Disabling staff ends their session at once.
    assert_eq!(r.call("change_user", &admin, &[("id", &staff_id), ("change", "disable")]).await.status(), StatusCode::OK);
    assert_eq!(r.call("list_campaigns", &staff_cookie, &[]).await.status(), StatusCode::UNAUTHORIZED);
    let res =
        r.http.post(format!("{}/api/login", r.base)).form(&[("username", "staff"), ("password", "staff-password")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.call("change_user", &admin, &[("id", &staff_id), ("change", "enable")]).await.status(), StatusCode::OK);

    // Promote staff; now the first admin may step down.
    assert_eq!(r.call("change_user", &admin, &[("id", &staff_id), ("change", "admin")]).await.status(), StatusCode::OK);
    assert_eq!(r.call("change_user", &admin, &[("id", &admin_id), ("change", "staff")]).await.status(), StatusCode::OK);

    // Create a user and reset a password (old sessions end, the new password works).
    let staff2 = r.login("staff", "staff-password").await;
    let res = r.call("create_user", &staff2, &[("username", "wang"), ("password", "wang-password-1"), ("role", "staff")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = r.call("create_user", &staff2, &[("username", "wang"), ("password", "another-pass"), ("role", "staff")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let wang = r.login("wang", "wang-password-1").await;
    let wang_id = service::users::list(&r.t.db).await.unwrap().into_iter().find(|u| u.username == "wang").unwrap().id.to_string();
    assert_eq!(
        r.call("reset_user_password", &staff2, &[("id", &wang_id), ("password", "short")]).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        r.call("reset_user_password", &staff2, &[("id", &wang_id), ("password", "fresh-password-2")]).await.status(),
        StatusCode::OK
    );
    assert_eq!(r.call("list_campaigns", &wang, &[]).await.status(), StatusCode::UNAUTHORIZED);
    r.login("wang", "fresh-password-2").await;
});
