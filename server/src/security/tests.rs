//! Unit tests of the origin check, the page policy and log escaping.

use super::*;
use axum::http::Method;
use axum::http::header::HeaderMap;

#[test]
fn values_for_the_log_are_escaped_and_capped() {
    assert_eq!(for_log("ada"), "ada");
    assert_eq!(for_log("管理员"), "管理员", "printable text stays readable");
    assert_eq!(for_log("a\nINFO forged line\r\u{1b}[31m"), "a\\nINFO forged line\\r\\u{1b}[31m");
    let long = "x".repeat(1 << 20);
    assert_eq!(for_log(&long).chars().count(), 201, "200 characters and an ellipsis");
}

#[test]
fn origins_are_compared_with_the_host_and_the_public_url() {
    let plain = Guard::new("http://127.0.0.1:3000");
    assert!(plain.is_own_origin("http://127.0.0.1:3000", Some("127.0.0.1:3000")));
    assert!(plain.is_own_origin("https://127.0.0.1:3000", Some("127.0.0.1:3000")), "TLS ended at a proxy");
    let guard = Guard::new("https://sb.example.com");
    let own = |c: &str, host: &str| guard.is_own_origin(c, Some(host));
    assert!(!own("http://127.0.0.1:3000", "127.0.0.1:3000"), "an https site is never plain http");
    assert!(!own("http://sb.example.com", "sb.example.com"), "the scheme counts");
    assert!(own("https://127.0.0.1:3000", "127.0.0.1:3000"), "TLS ended at a proxy");
    assert!(own("https://127.0.0.1:3000/campaigns?x=1", "127.0.0.1:3000"), "a Referer");
    assert!(own("https://sb.example.com", "10.0.0.5:3000"), "the public URL behind a proxy");
    assert!(own("https://SB.example.com:443/", "10.0.0.5:3000"), "default port, case");
    assert!(!own("http://127.0.0.1:3001", "127.0.0.1:3000"), "another port");
    assert!(!own("https://evil.example", "127.0.0.1:3000"));
    assert!(!own("https://sb.example.com.evil.example", "127.0.0.1:3000"));
    assert!(!own("null", "127.0.0.1:3000"));
    assert!(!own("", "127.0.0.1:3000"));
    assert!(!own("http://evil.example", "evil.example/@127.0.0.1"), "a Host that is not a host");
    assert!(!guard.is_own_origin("https://127.0.0.1:3000", None));
}

#[test]
fn only_state_changing_requests_outside_the_callback_are_checked() {
    let guard = Guard::new("http://127.0.0.1:3000");
    let mut evil = HeaderMap::new();
    evil.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
    evil.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
    assert!(guard.allows(&Method::GET, "/api/login", &evil, None).is_ok());
    for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        assert!(guard.allows(&m, "/api/login", &evil, None).is_err(), "{m}");
    }
    assert!(guard.allows(&Method::POST, "/wechat/callback/wx1", &evil, None).is_ok());
    // Origin wins over Referer; Referer is used when Origin is absent; neither: allowed.
    let mut both = evil.clone();
    both.insert(header::REFERER, HeaderValue::from_static("http://127.0.0.1:3000/login"));
    assert!(guard.allows(&Method::POST, "/api/login", &both, None).is_err());
    both.remove(header::ORIGIN);
    assert!(guard.allows(&Method::POST, "/api/login", &both, None).is_ok());
    both.insert(header::REFERER, HeaderValue::from_static("https://evil.example/page"));
    assert_eq!(guard.allows(&Method::POST, "/api/login", &both, None), Err("https://evil.example".to_owned()));
    both.remove(header::REFERER);
    assert!(guard.allows(&Method::POST, "/api/login", &both, None).is_ok());
}

#[test]
fn the_page_policy_adds_the_nonce_and_hash_to_scripts_only() {
    let csp = page_csp("abc", "xyz=");
    let script = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
    assert!(script.contains("'nonce-abc'") && script.contains("'sha256-xyz='"), "{script}");
    assert!(!script.contains("unsafe-inline"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(csp.matches("nonce-").count(), 1);
}
