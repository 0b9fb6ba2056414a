//! Device cookies: a browser that signed in as a user carries a token saying so, and the
//! limiter never refuses that browser the right password for that user (OWASP's "device
//! cookies" against lockout).
//!
//! Stateless: the value is `v1.{issued}.{nonce}.{tag}`, the tag an HMAC (a key derived from the
//! secret key for this purpose only) over the rest and the username. A forged, altered, expired
//! or other user's cookie is simply not a known device. Changing the secret key forgets every
//! device, as it ends every session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use service::Keys;

/// The cookie's name over plain http...
pub const COOKIE_NAME: &str = "sb_device";
/// ...and when cookies are `Secure` (https public URL), as the session cookie's.
pub const SECURE_COOKIE_NAME: &str = "__Host-sb_device";
/// How long a browser stays known after its last sign-in (the cookie's `Max-Age`, and what
/// the server accepts whatever the browser keeps).
pub const LIFETIME_SECS: i64 = 365 * 24 * 3600;

/// A known device: the random part of its cookie, which the limiter counts its failures by.
pub type DeviceId = [u8; 16];

/// The device cookie's name in force.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE_NAME } else { COOKIE_NAME }
}

/// A new cookie value for a browser that just signed in as `username`, at `now` (Unix
/// seconds).
pub fn issue(keys: &Keys, username: &str, now: i64) -> String {
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let body = format!("v1.{now}.{}", URL_SAFE_NO_PAD.encode(nonce));
    let tag = keys.device_tag(&signed_text(&body, username));
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// The device of `value` if this server issued it to `username` (as typed in the form,
/// trimmed as sign-in trims it) less than [`LIFETIME_SECS`] before `now`.
pub fn verify(keys: &Keys, value: &str, username: &str, now: i64) -> Option<DeviceId> {
    if value.len() > 128 {
        return None;
    }
    let (body, tag) = value.rsplit_once('.')?;
    let mut parts = body.split('.');
    let (Some("v1"), Some(issued), Some(nonce), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if !keys.device_tag_matches(&signed_text(body, username), &tag) {
        return None;
    }
    let issued: i64 = issued.parse().ok()?;
    if !(0..LIFETIME_SECS).contains(&(now - issued)) {
        return None;
    }
    URL_SAFE_NO_PAD.decode(nonce).ok()?.try_into().ok()
}

/// What the tag covers: the cookie's body and the username it was issued to (a newline
/// cannot occur in either, so the two cannot be shifted into each other).
fn signed_text(body: &str, username: &str) -> Vec<u8> {
    format!("{body}\n{}", username.trim()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    #[test]
    fn a_cookie_is_known_for_its_user_until_it_expires() {
        let keys = Keys::random();
        let value = issue(&keys, "li.wei", NOW);
        let id = verify(&keys, &value, "li.wei", NOW + 60).expect("known");
        assert_eq!(verify(&keys, &value, " li.wei ", NOW + 60), Some(id), "trimmed as sign-in trims");
        assert_ne!(verify(&keys, &issue(&keys, "li.wei", NOW), "li.wei", NOW), Some(id), "each cookie its own device");
        assert!(verify(&keys, &value, "admin", NOW).is_none(), "another user");
        assert!(verify(&keys, &value, "Li.Wei", NOW).is_none(), "usernames are exact");
        assert!(verify(&Keys::random(), &value, "li.wei", NOW).is_none(), "another secret key");
        assert!(verify(&keys, &value, "li.wei", NOW + LIFETIME_SECS).is_none(), "expired");
        assert!(verify(&keys, &value, "li.wei", NOW - 1).is_none(), "from the future");
    }

    #[test]
    fn altered_cookies_are_unknown() {
        let keys = Keys::random();
        let value = issue(&keys, "admin", NOW);
        let parts: Vec<&str> = value.split('.').collect();
        assert_eq!(parts.len(), 4, "{value}");
        // A later issue date (to outlive the lifetime) breaks the tag.
        let later = format!("v1.{}.{}.{}", NOW + 1000, parts[2], parts[3]);
        assert!(verify(&keys, &later, "admin", NOW + 2000).is_none());
        let extended = format!("{value}.x");
        let bad: [&str; 6] = ["", "v1", "v1.1.2.3", "v2.1.AAAA.AAAA", &extended, &value[..value.len() - 2]];
        for bad in bad {
            assert!(verify(&keys, bad, "admin", NOW).is_none(), "{bad}");
        }
    }
}
