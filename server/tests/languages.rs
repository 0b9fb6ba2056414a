//! Messages reach people in the language of their pages: validation errors of server
//! functions and WeChat's refusals (from the simulator), in Chinese with the `zh` language
//! cookie and in English with `en`, over real HTTP on SQLite and PostgreSQL.

mod support;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE, COOKIE};
use service::dual_test;
use service::testing::TestDb;
use support::{Running, sandbox_account, start};

/// The session cookie with the language cookie `/lang/{code}` sets.
fn in_lang(session: &str, lang: &str) -> String {
    format!("{session}; i18n_pref_locale={lang}")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `(variant, field, message)` of a server function's field error.
async fn field_error(res: reqwest::Response) -> (String, String, String) {
    let v = json(&res.text().await.unwrap());
    let (variant, inner) = v.as_object().and_then(|o| o.iter().next()).unwrap_or_else(|| panic!("an error: {v}"));
    (variant.clone(), inner["field"].as_str().unwrap_or_default().to_owned(), inner["message"].as_str().unwrap_or_default().to_owned())
}

/// The campaign form's fields for a permanent campaign called `name`.
fn campaign<'a>(account: &'a str, name: &'a str) -> [(&'a str, &'a str); 3] {
    [("account_id", account), ("name", name), ("kind", "permanent")]
}

dual_test!(validation_errors_come_in_the_page_language, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let account = account.to_string();
    let staff = r.login("staff", "staff-password").await;

    // An empty name: 422 on the name field, in the language of the cookie.
    let res = r.call("create_campaign", &in_lang(&staff, "zh"), &campaign(&account, " ")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_error(res).await, ("Field".into(), "name".into(), "请填写活动名称".into()));
    let res = r.call("create_campaign", &in_lang(&staff, "en"), &campaign(&account, " ")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_error(res).await, ("Field".into(), "name".into(), "enter a name for the campaign".into()));

    // A duplicate name: 409, naming the campaign, in either language.
    assert_eq!(r.call("create_campaign", &staff, &campaign(&account, "春季海报")).await.status(), StatusCode::OK);
    let res = r.call("create_campaign", &in_lang(&staff, "zh"), &campaign(&account, "春季海报")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(field_error(res).await.2, "这个公众号下已经有名为“春季海报”的活动");
    let res = r.call("create_campaign", &in_lang(&staff, "en"), &campaign(&account, "春季海报")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(field_error(res).await.2, "another campaign of this account is already called \"春季海报\"");

    // No language cookie: the browser's languages decide, Chinese when they name neither.
    let post = |accept: &'static str| {
        r.http
            .post(format!("{}/api/create_campaign", r.base))
            .header(COOKIE, &staff)
            .header(ACCEPT_LANGUAGE, accept)
            .form(&campaign(&account, ""))
            .send()
    };
    assert_eq!(field_error(post("en-GB,en;q=0.9").await.unwrap()).await.2, "enter a name for the campaign");
    assert_eq!(field_error(post("fr-FR").await.unwrap()).await.2, "请填写活动名称");

    // A service message that is not the service's: the server function's own check.
    let res = r.call("create_campaign", &in_lang(&staff, "zh"), &[("account_id", "x"), ("name", "A"), ("kind", "permanent")]).await;
    assert_eq!(field_error(res).await.2, "请选择一个微信公众号");
});

/// The settings page after "Test connection", in `lang`.
async fn connection_test_page(r: &Running, admin: &str, id: i32, lang: &str) -> String {
    let cookie = in_lang(admin, lang);
    let (status, location) = r.post_form("test_account", &cookie, "/settings", &[("id", &id.to_string())]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(location.contains("ok=0"), "{location}");
    let page = r.get(&location, &cookie).await;
    assert_eq!(page.status(), StatusCode::OK);
    page.text().await.unwrap()
}

dual_test!(wechat_refusals_are_explained_on_the_settings_page, |t: TestDb| async move {
    let r = start(t).await;
    let (sim, id) = sandbox_account(&r).await;
    let admin = r.login("admin", "admin-password").await;
    let app_id = wechat::sim::SimApp::sandbox().app_id;

    // 40164: this server's IP is not on the account's whitelist; the page says which IP and
    // where to add it.
    sim.state.block_ip(&app_id, Some("203.0.113.9".into()));
    let zh = connection_test_page(&r, &admin, id, "zh").await;
    assert!(zh.contains("微信错误 40164：本服务器的出口 IP（203.0.113.9）不在公众号的 IP 白名单里"), "{zh}");
    assert!(zh.contains("IP 白名单”中添加 203.0.113.9"), "the action to take: {zh}");
    let en = connection_test_page(&r, &admin, id, "en").await;
    assert!(
        en.contains("WeChat error 40164: this server&#x27;s outgoing IP (203.0.113.9) is not on the account&#x27;s IP whitelist")
            || en.contains("WeChat error 40164: this server's outgoing IP (203.0.113.9) is not on the account's IP whitelist"),
        "{en}"
    );
    assert!(en.contains("add 203.0.113.9 to the IP whitelist in the WeChat admin console"), "{en}");

    // 40125: a wrong AppSecret.
    sim.state.block_ip(&app_id, None);
    let input = service::accounts::AccountInput {
        name: "Sandbox".into(),
        app_id: app_id.clone(),
        app_secret: Some("wrong-secret-000".into()),
        token: "sandboxtoken".into(),
        aes_key: None,
        message_mode: "plain".into(),
        api_base_url: Some(sim.base_url()),
        timezone: None,
    };
    service::accounts::update(&r.state, id, input, None).await.unwrap();
    let zh = connection_test_page(&r, &admin, id, "zh").await;
    assert!(zh.contains("连接失败：微信错误 40125：AppSecret 不正确"), "{zh}");
    let en = connection_test_page(&r, &admin, id, "en").await;
    assert!(en.contains("Not connected: WeChat error 40125: the AppSecret is wrong"), "{en}");
    assert!(!zh.contains("wrong-secret-000") && !en.contains("wrong-secret-000"), "the secret is never shown");

    // Operators see the refusals in /metrics: calls by endpoint and errcode, failed token fetches.
    let token_calls = r.metric("sceneboard_wechat_api_calls_total", &[r#"endpoint="cgi-bin/stable_token""#]).await;
    assert!(token_calls >= 4.0, "every token request is counted: {token_calls}");
    for errcode in ["40164", "40125"] {
        let label = format!("outcome=\"{errcode}\"");
        assert!(r.metric("sceneboard_wechat_api_calls_total", &[&label]).await >= 2.0, "{errcode} counted");
    }
    assert!(r.metric("sceneboard_wechat_token_fetches_total", &[r#"result="error""#]).await >= 4.0);
});

dual_test!(wechat_refusals_are_explained_on_the_campaign_form, |t: TestDb| async move {
    let r = start(t).await;
    // A simulator whose account has no permanent codes left: WeChat answers 45029.
    let config = wechat::sim::SimConfig { permanent_quota: 0, ..wechat::sim::SimConfig::with_apps(vec![wechat::sim::SimApp::sandbox()]) };
    let (_sim, account) = support::sandbox_account_on(&r, config).await;
    let account = account.to_string();
    let staff = r.login("staff", "staff-password").await;

    // As the hydrated form sends it: 502 with WeChat's refusal explained.
    let res = r.call("create_campaign", &in_lang(&staff, "zh"), &campaign(&account, "海报")).await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let zh = json(&res.text().await.unwrap())["Wechat"].as_str().unwrap().to_owned();
    assert!(zh.starts_with("微信没有生成二维码：微信错误 45029：这个公众号的永久二维码已达到微信的数量上限：请改用临时码"), "{zh}");
    let res = r.call("create_campaign", &in_lang(&staff, "en"), &campaign(&account, "Poster")).await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let en = json(&res.text().await.unwrap())["Wechat"].as_str().unwrap().to_owned();
    assert!(en.starts_with("WeChat did not issue the code: WeChat error 45029: this account has used all 100 000 permanent codes"), "{en}");

    // As a browser without JavaScript posts it: back to the form, which shows the message.
    let cookie = in_lang(&staff, "zh");
    let (status, location) = r.post_form("create_campaign", &cookie, "/campaigns/new", &campaign(&account, "海报")).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(location.contains("__err="), "{location}");
    // (The referer's full URL, back with the error in its query.)
    let url = if location.starts_with("http") { location.clone() } else { format!("{}{location}", r.base) };
    let page = r.http.get(url).header(COOKIE, &cookie).header(ACCEPT, "text/html").send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("微信错误 45029：这个公众号的永久二维码已达到微信的数量上限"), "{html}");
    assert_eq!(service::campaigns::count(&r.t.db, &Default::default()).await.unwrap(), 0, "nothing stored");

    // In /metrics: the token fetched, and qrcode/create refused with 45029 each time.
    assert!(r.metric("sceneboard_wechat_token_fetches_total", &[r#"forced="false""#, r#"result="ok""#]).await >= 1.0);
    let refused = r.metric("sceneboard_wechat_api_calls_total", &[r#"endpoint="cgi-bin/qrcode/create""#, r#"outcome="45029""#]).await;
    assert!(refused >= 3.0, "{refused}");
});
