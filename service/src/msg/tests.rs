use super::*;
use std::collections::BTreeSet;

/// The argument names of a format string: `{name}`, `{name:?}`; `{{` is a literal brace.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text.replace("{{", "").replace("}}", "");
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let name = rest[open + 1..close].split(':').next().unwrap_or("").to_owned();
        out.insert(name);
        rest = rest[close.min(rest.len())..].to_owned();
        if !rest.is_empty() {
            rest.remove(0);
        }
    }
    out
}

#[test]
fn placeholder_reader_reads_names() {
    assert_eq!(placeholders("a {n} b {value:?} {{x}}"), BTreeSet::from(["n".to_owned(), "value".to_owned()]));
    assert!(placeholders("none").is_empty());
}

#[test]
fn both_languages_use_the_same_placeholders() {
    assert!(CATALOG.len() > 50, "the table is read");
    for (name, zh, en) in CATALOG {
        assert_eq!(placeholders(zh), placeholders(en), "{name}: zh {zh:?} and en {en:?} name different values");
        assert!(!zh.trim().is_empty() && !en.trim().is_empty(), "{name} has an empty text");
        // Chinese text has Chinese in it, English text has none: catches a pasted wrong language.
        assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{name}: zh text is not Chinese: {zh:?}");
        assert!(!en.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{name}: en text has Chinese: {en:?}");
    }
}

#[test]
fn values_fill_both_languages() {
    let m = Msg::CampaignNameTaken { name: "春季海报".into() };
    assert_eq!(m.text(Lang::Zh), "这个公众号下已经有名为“春季海报”的活动");
    assert_eq!(m.text(Lang::En), "another campaign of this account is already called \"春季海报\"");
    assert_eq!(m.to_string(), m.text(Lang::En), "Display is English");
    let rows = Msg::Several(vec![Msg::CsvNoSceneLeft, Msg::KindInvalid { value: "x".into() }]);
    assert!(rows.text(Lang::Zh).contains("；类型只能是"), "{}", rows.text(Lang::Zh));
    assert!(rows.text(Lang::En).contains("; kind must be"), "{}", rows.text(Lang::En));
}

#[test]
fn request_language() {
    assert_eq!(Lang::from_request(Some("en"), Some("zh-CN")), Lang::En, "the cookie wins");
    assert_eq!(Lang::from_request(Some("zh"), Some("en-US")), Lang::Zh);
    assert_eq!(Lang::from_request(None, Some("en-GB,en;q=0.9,zh;q=0.8")), Lang::En);
    assert_eq!(Lang::from_request(None, Some("fr, zh-TW;q=0.5")), Lang::Zh);
    assert_eq!(Lang::from_request(None, Some("zh;q=0.3, en;q=0.8")), Lang::En, "by q, not by order");
    assert_eq!(Lang::from_request(Some("fr"), None), Lang::Zh, "Chinese by default");
    assert_eq!(Lang::from_request(None, None), Lang::Zh);
}

fn wechat(errcode: i64, errmsg: &str) -> (String, String) {
    let m = Msg::Wechat { errcode, errmsg: errmsg.into() };
    (m.text(Lang::Zh), m.text(Lang::En))
}

/// Both texts carry the code and WeChat's errmsg, and say what `zh`/`en` expect.
fn check_wechat(errcode: i64, zh_says: &[&str], en_says: &[&str]) {
    let (zh, en) = wechat(errcode, "errmsg-from-wechat");
    assert!(zh.starts_with(&format!("微信错误 {errcode}：")) && zh.contains("errmsg-from-wechat"), "{zh}");
    assert!(en.starts_with(&format!("WeChat error {errcode}: ")) && en.contains("errmsg-from-wechat"), "{en}");
    for s in zh_says {
        assert!(zh.contains(s), "{errcode} zh lacks {s:?}: {zh}");
    }
    for s in en_says {
        assert!(en.contains(s), "{errcode} en lacks {s:?}: {en}");
    }
}

#[test]
fn wechat_40013_invalid_appid() {
    check_wechat(40013, &["AppID 不正确", "重新填写"], &["the AppID is wrong", "enter it again in Settings"]);
}

#[test]
fn wechat_40125_invalid_appsecret() {
    check_wechat(40125, &["AppSecret 不正确", "重新填写"], &["the AppSecret is wrong", "enter it again in Settings"]);
}

#[test]
fn wechat_40164_ip_whitelist_names_the_ip_and_the_action() {
    let (zh, en) = wechat(40164, "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 1");
    assert!(zh.contains("出口 IP（203.0.113.7）不在公众号的 IP 白名单里") && zh.contains("IP 白名单”中添加 203.0.113.7"), "{zh}");
    assert!(en.contains("outgoing IP (203.0.113.7) is not on the account's IP whitelist"), "{en}");
    assert!(en.contains("add 203.0.113.7 to the IP whitelist in the WeChat admin console"), "{en}");
    check_wechat(40164, &["IP 白名单", "添加本服务器的出口 IP"], &["add the server's outgoing IP to the IP whitelist"]);
}

#[test]
fn wechat_45009_daily_quota() {
    check_wechat(45009, &["今天的调用次数已用完", "明天再试"], &["daily quota is used up", "try again tomorrow"]);
}

#[test]
fn wechat_48001_not_authorised() {
    check_wechat(
        48001,
        &["没有这个接口的权限", "未认证", "带参数二维码"],
        &["not authorised", "unverified account cannot create parametric QR codes"],
    );
}

#[test]
fn wechat_45029_code_quota() {
    check_wechat(45029, &["永久二维码已达到", "临时码"], &["all 100 000 permanent codes", "use temporary codes"]);
}

#[test]
fn wechat_token_codes_say_sceneboard_refreshes_and_to_check_the_secret() {
    for code in [40001, 40014, 42001] {
        check_wechat(
            code,
            &["access token 无效或已过期", "自动重新获取", "AppSecret"],
            &["access token is invalid or has expired", "fetches a new one by itself", "check whether the AppSecret"],
        );
    }
}

#[test]
fn unknown_wechat_codes_show_code_errmsg_and_a_general_hint() {
    let (zh, en) = wechat(61234, "some new failure");
    assert_eq!(zh, "微信错误 61234：请查看微信的说明；如果一直出现，请把错误码告诉管理员（some new failure）");
    assert_eq!(
        en,
        "WeChat error 61234: see WeChat's message; if it keeps happening, tell your administrator the error code (some new failure)"
    );
}

#[test]
fn wechat_errors_of_the_transport_are_messages_too() {
    let m = from_wechat(&::wechat::WechatError::Timeout("10s".into()));
    assert_eq!(m.text(Lang::Zh), "微信没有及时响应（10s）；请稍后再试");
    let m = from_wechat(&::wechat::WechatError::Api { errcode: 40125, errmsg: "invalid appsecret".into() });
    assert!(Msg::CodeNotIssued(Box::new(m)).text(Lang::Zh).starts_with("微信没有生成二维码：微信错误 40125：AppSecret 不正确"));
}
