//! WeChat's error codes in plain words, with what to do, in both languages.
//!
//! The `wechat` crate's own `Display` stays a terse English line for logs; this is what an
//! admin reads on a page. Codes not listed show the code and WeChat's errmsg with a general hint.

use super::{Lang, Msg};
use ::wechat::WechatError;

/// The message for a failed WeChat call.
pub fn from_wechat(e: &WechatError) -> Msg {
    match e {
        WechatError::Api { errcode, errmsg } => Msg::Wechat { errcode: *errcode, errmsg: errmsg.clone() },
        WechatError::Timeout(d) => Msg::WechatTimeout { detail: d.clone() },
        WechatError::Http(d) => Msg::WechatUnreachable { detail: d.clone() },
        WechatError::Decode(d) => Msg::WechatBadAnswer { detail: d.clone() },
        WechatError::InvalidInput(d) => Msg::WechatRefusedLocally { detail: d.clone() },
        WechatError::TokenStore(d) => {
            tracing::error!(error = %d, "token store failed");
            Msg::TokenStoreFailed
        }
    }
}

/// `errcode` explained: "WeChat error N: what it means and what to do (errmsg)".
pub(super) fn explain(lang: Lang, errcode: i64, errmsg: &str) -> String {
    let zh = lang == Lang::Zh;
    let ip = ::wechat::error::extract_ip(errmsg);
    let hint: String = match errcode {
        -1 => pick(zh, "微信系统繁忙，请稍后再试", "WeChat is busy; try again in a moment"),
        40013 => pick(
            zh,
            "AppID 不正确：请在微信公众平台（设置与开发 › 基本配置）复制 AppID，在“设置”里重新填写",
            "the AppID is wrong: copy the AppID from the WeChat admin console (Settings and Development › Basic Configuration) and enter it again in Settings",
        ),
        40125 | 40243 => pick(
            zh,
            "AppSecret 不正确：请在微信公众平台（设置与开发 › 基本配置）重置或复制 AppSecret，在“设置”里重新填写",
            "the AppSecret is wrong: copy or reset it in the WeChat admin console (Settings and Development › Basic Configuration) and enter it again in Settings",
        ),
        40164 => match (zh, ip) {
            (true, Some(ip)) => format!(
                "本服务器的出口 IP（{ip}）不在公众号的 IP 白名单里：请登录微信公众平台，在“设置与开发 › 基本配置 › IP 白名单”中添加 {ip}"
            ),
            (true, None) => "本服务器的出口 IP 不在公众号的 IP 白名单里：请登录微信公众平台，在“设置与开发 › 基本配置 › IP 白名单”中添加本服务器的出口 IP".into(),
            (false, Some(ip)) => format!(
                "this server's outgoing IP ({ip}) is not on the account's IP whitelist: add {ip} to the IP whitelist in the WeChat admin console (Settings and Development › Basic Configuration › IP whitelist)"
            ),
            (false, None) => "this server's outgoing IP is not on the account's IP whitelist: add the server's outgoing IP to the IP whitelist in the WeChat admin console (Settings and Development › Basic Configuration › IP whitelist)".into(),
        },
        40001 | 40014 | 42001 => pick(
            zh,
            "access token 无效或已过期。Sceneboard 会自动重新获取；如果一直出现，请检查 AppSecret 是否已在微信后台重置过",
            "the access token is invalid or has expired. Sceneboard fetches a new one by itself; if this keeps happening, check whether the AppSecret was reset in the WeChat admin console",
        ),
        45009 => pick(
            zh,
            "这个接口今天的调用次数已用完；微信在北京时间零点重置，请明天再试",
            "this API's daily quota is used up; WeChat resets it at midnight Beijing time, try again tomorrow",
        ),
        45011 => pick(zh, "调用太频繁，请稍后再试", "calls are too frequent; wait a moment and try again"),
        45029 => pick(
            zh,
            "这个公众号的永久二维码已达到微信的数量上限：请改用临时码",
            "this account has used all 100 000 permanent codes WeChat allows: use temporary codes instead",
        ),
        48001 => pick(
            zh,
            "这个公众号没有这个接口的权限：未认证的公众号不能生成带参数二维码，请在微信公众平台完成微信认证，或换用已认证的服务号",
            "this account is not authorised for this API: an unverified account cannot create parametric QR codes; complete WeChat verification in the admin console, or use a verified service account",
        ),
        50001 | 50002 => pick(
            zh,
            "这个公众号没有这个接口的权限，请在微信公众平台检查账号类型和认证状态",
            "this account is not authorised for this API; check the account type and verification in the WeChat admin console",
        ),
        45157 => pick(zh, "标签名已被使用", "the tag name is already used"),
        45158 => pick(zh, "标签名太长（最多 30 个字）", "the tag name is too long (30 characters at most)"),
        45056 => pick(zh, "标签太多（最多 100 个）", "too many tags (100 at most)"),
        _ => pick(
            zh,
            "请查看微信的说明；如果一直出现，请把错误码告诉管理员",
            "see WeChat's message; if it keeps happening, tell your administrator the error code",
        ),
    };
    if zh { format!("微信错误 {errcode}：{hint}（{errmsg}）") } else { format!("WeChat error {errcode}: {hint} ({errmsg})") }
}

fn pick(zh: bool, zh_text: &str, en_text: &str) -> String {
    if zh { zh_text } else { en_text }.to_owned()
}
