//! A WeCom (企业微信) group robot: one POST of a markdown message to its webhook, which answers
//! `{"errcode":0,"errmsg":"ok"}` or an error code.

use std::sync::OnceLock;
use std::time::Duration;

/// Longest a robot may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One client for every robot (its connection pool is shared). No redirects: a robot's
/// address answers itself, and following one would send the digest somewhere not configured.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Sceneboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}

#[derive(serde::Deserialize)]
struct Answer {
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// Posts `content` as a markdown message. The error is in words and never holds the
/// webhook's address (its `key` is the secret).
pub async fn post(webhook: &str, content: &str) -> Result<(), String> {
    let body = serde_json::json!({ "msgtype": "markdown", "markdown": { "content": content } });
    let res = client().post(webhook).json(&body).send().await.map_err(|e| format!("WeCom robot not reached: {}", e.without_url()))?;
    let status = res.status();
    let text = res.text().await.map_err(|e| format!("WeCom robot's answer not read: {}", e.without_url()))?;
    if !status.is_success() {
        return Err(format!("WeCom robot answered HTTP {}", status.as_u16()));
    }
    let answer: Answer = serde_json::from_str(&text)
        .map_err(|_| format!("WeCom robot answered something else than its JSON: {}", text.chars().take(120).collect::<String>()))?;
    match answer.errcode {
        0 => Ok(()),
        code => Err(format!(
            "WeCom refused the message: errcode {code} ({}){}",
            answer.errmsg.chars().take(200).collect::<String>(),
            hint(code)
        )),
    }
}

/// What the usual refusals mean, from WeCom's robot documentation.
fn hint(errcode: i64) -> &'static str {
    match errcode {
        93000 => "; the webhook address is not valid: was the robot removed from the group?",
        45009 => "; the robot sent more than WeCom allows (20 messages a minute)",
        40008 | 40058 => "; WeCom did not accept the message's form",
        _ => "",
    }
}
