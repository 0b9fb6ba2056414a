//! Building the app's own URLs: query-string encoding and the way back after signing in.
//! Shared by the pages, the server functions and the server crate's routes.

/// Percent-encode a path for a query parameter (only what a local path can contain).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Where to send a visitor without a session: the login page, coming back here afterwards.
pub fn login_target(path: &str) -> String {
    if path == "/" || path.is_empty() { "/login".to_string() } else { format!("/login?next={}", urlencode(path)) }
}
