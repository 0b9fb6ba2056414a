//! Validation of an account's fields, one function per field (errors name their field).

use std::str::FromStr;

use crate::{AppState, Msg, ServiceError};

/// `Some(trimmed)` unless absent or blank.
pub(super) fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Checks a display name: 1–64 characters once trimmed.
pub(super) fn check_name(name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 {
        return Err(ServiceError::invalid("name", Msg::AccountNameEmpty));
    }
    if n > 64 {
        return Err(ServiceError::invalid("name", Msg::NameTooLong { n, max: 64 }));
    }
    if name.chars().any(char::is_control) {
        return Err(ServiceError::invalid("name", Msg::AccountNameControl));
    }
    Ok(name.to_owned())
}

/// Checks an AppID: `wx` and 16 lowercase hexadecimal digits, as WeChat issues them.
pub fn check_app_id(app_id: &str) -> Result<String, ServiceError> {
    let app_id = app_id.trim();
    let ok =
        app_id.len() == 18 && app_id.starts_with("wx") && app_id[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return Err(ServiceError::invalid("app_id", Msg::AppIdInvalid));
    }
    Ok(app_id.to_owned())
}

/// Checks an AppSecret. WeChat's are 32 hexadecimal digits, but simulators and sandboxes use
/// other shapes, so only what could never be a secret is refused.
pub(super) fn check_app_secret(secret: &str) -> Result<(), ServiceError> {
    if secret.len() > 128 {
        return Err(ServiceError::invalid("app_secret", Msg::AppSecretTooLong));
    }
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ServiceError::invalid("app_secret", Msg::AppSecretChars));
    }
    Ok(())
}

/// Checks the callback Token: 3–32 letters or digits (WeChat's rule).
pub(super) fn check_token(token: &str) -> Result<String, ServiceError> {
    let token = token.trim();
    if !(3..=32).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ServiceError::invalid("token", Msg::TokenInvalid));
    }
    Ok(token.to_owned())
}

/// Checks an API base URL: https (http on loopback only), a host, no query or fragment;
/// stored without trailing slash.
pub(super) fn check_api_base(url: Option<&str>) -> Result<String, ServiceError> {
    let Some(text) = url else { return Ok(wechat::client::DEFAULT_API_BASE.to_owned()) };
    let bad = |why: Msg| ServiceError::invalid("api_base_url", why);
    let parsed = url::Url::parse(text).map_err(|_| bad(Msg::ApiBaseNotUrl))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(Msg::ApiBaseScheme));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad(Msg::ApiBaseHost));
    }
    // Plain http only to this machine (the simulator): anywhere else the AppSecret and the
    // access tokens would cross the network in the clear.
    if parsed.scheme() == "http" && !is_loopback(&parsed) {
        return Err(bad(Msg::ApiBaseHttpNotLoopback));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad(Msg::ApiBaseQuery));
    }
    // Credentials in the URL would be shown to every admin on the settings page.
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(Msg::ApiBaseCredentials));
    }
    let stored = parsed.as_str().trim_end_matches('/').to_owned();
    if stored.len() > 255 {
        return Err(bad(Msg::ApiBaseTooLong));
    }
    Ok(stored)
}

/// Checks an IANA time zone name (`Asia/Shanghai`); `None` means the server's default.
pub(super) fn check_timezone(st: &AppState, tz: Option<&str>) -> Result<String, ServiceError> {
    let name = tz.unwrap_or(&st.settings.timezone);
    let tz =
        chrono_tz::Tz::from_str(name).map_err(|_| ServiceError::invalid("timezone", Msg::TimezoneUnknown { name: name.to_owned() }))?;
    Ok(tz.name().to_owned())
}

/// Whether the URL's host is this machine: 127.0.0.0/8, ::1 or `localhost`. The one rule for
/// where plain text may go (a WeChat API base, a digest's robot and mail server).
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}
