//! Typed errors of the protocol crate: one enum per layer (crypto, XML, scene values, API
//! calls), so callers can map each to an HTTP status or an operator message without parsing
//! strings. No variant ever carries an AppSecret, an access token or an AES key.

use std::fmt;

/// Why a signature check, decryption or encryption failed.
///
/// Callbacks answer 403 on [`CryptoError::SignatureMismatch`] and 400 on the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 base64 characters.
    #[error("the EncodingAESKey must be 43 characters of base64 (A-Z, a-z, 0-9, +, /)")]
    InvalidAesKey,
    /// `signature` or `msg_signature` did not match.
    #[error("the signature does not match")]
    SignatureMismatch,
    /// The `Encrypt` field is not valid base64.
    #[error("the encrypted message is not valid base64")]
    Base64,
    /// The ciphertext is empty or not a whole number of AES blocks.
    #[error("the encrypted message has an invalid length ({0} bytes)")]
    CiphertextLength(usize),
    /// The PKCS#7 padding (32-byte blocks) is malformed: wrong key or tampered message.
    #[error("the decrypted message has invalid padding (wrong EncodingAESKey?)")]
    Padding,
    /// The decrypted frame is shorter than its header or its length field.
    #[error("the decrypted message is truncated")]
    Truncated,
    /// The decrypted message is not UTF-8.
    #[error("the decrypted message is not UTF-8")]
    NotUtf8,
    /// The trailing AppID does not belong to this account. (`found` is decrypted text: never
    /// in `Display`, which reaches logs.)
    #[error("the message was encrypted for another AppID")]
    AppIdMismatch {
        /// AppID found at the end of the decrypted frame (not a secret).
        found: String,
    },
    /// The message is too long for the 4-byte length field.
    #[error("the message is too long to encrypt")]
    TooLong,
}

/// Why an XML body was refused.
///
/// Callbacks answer 400 on every variant: the body came from the network and is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The body is larger than [`crate::xml::MAX_BODY`].
    #[error("the XML body is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Size of the refused body.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The body declares a DOCTYPE or an ENTITY (XXE / billion-laughs guard).
    #[error("the XML body declares a DOCTYPE or ENTITY, which is refused")]
    Doctype,
    /// The body is not well-formed or does not have the expected shape.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// A field every push carries is absent or empty.
    #[error("the XML body lacks the <{0}> field")]
    MissingField(&'static str),
    /// A reply could not be serialized.
    #[error("could not write XML: {0}")]
    Write(String),
}

/// Why a scene value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SceneError {
    /// Numeric scenes must lie in 1..=100000 (WeChat's permanent-code range).
    #[error("scene id {0} is out of range: use 1 to 100000")]
    IdOutOfRange(u64),
    /// String scenes must have 1 to 64 characters.
    #[error("scene string must have 1 to 64 characters, not {0}")]
    StrLength(usize),
    /// String scenes may not contain control characters.
    #[error("scene string contains a control character")]
    StrControl,
}

/// What a WeChat API call can fail with.
///
/// [`fmt::Display`] gives an operator-readable sentence; [`WechatError::errcode`] gives the
/// WeChat code for programmatic handling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WechatError {
    /// WeChat answered with a non-zero `errcode`.
    #[error("{}", api_message(*errcode, errmsg))]
    Api {
        /// WeChat's error code (e.g. 40164, 40125, 45009, -1).
        errcode: i64,
        /// WeChat's own message, kept for logs (it never contains the secret or token).
        errmsg: String,
    },
    /// The request did not complete in time.
    #[error("WeChat did not answer in time ({0})")]
    Timeout(String),
    /// The network failed (DNS, connection refused, TLS...).
    #[error("could not reach WeChat: {0}")]
    Http(String),
    /// WeChat answered something that is not the expected JSON.
    #[error("unexpected answer from WeChat: {0}")]
    Decode(String),
    /// The arguments were refused locally before anything was sent.
    #[error("invalid request: {0}")]
    InvalidInput(String),
    /// The shared token store failed.
    #[error("token store: {0}")]
    TokenStore(String),
}

impl WechatError {
    /// The WeChat `errcode`, when WeChat answered with one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// True when the access token was refused (40001, 40014, 42001): fetch a new one and retry
    /// once.
    pub fn is_token_error(&self) -> bool {
        matches!(self.errcode(), Some(40001 | 40014 | 42001))
    }

    /// True when WeChat said "system busy" (-1): worth a bounded retry with backoff.
    pub fn is_busy(&self) -> bool {
        self.errcode() == Some(-1)
    }

    /// Builds the error from a reqwest failure, dropping the URL: it carries the access token
    /// in its query string.
    pub(crate) fn from_reqwest(e: reqwest::Error) -> Self {
        let timeout = e.is_timeout();
        let decode = e.is_decode();
        let text = e.without_url().to_string();
        if timeout {
            Self::Timeout(text)
        } else if decode {
            Self::Decode(text)
        } else {
            Self::Http(text)
        }
    }
}

/// The operator-readable sentence for a WeChat error code.
fn api_message(errcode: i64, errmsg: &str) -> String {
    let hint: Option<String> = match errcode {
        -1 => Some("WeChat is busy; try again in a moment".into()),
        40164 => Some(match extract_ip(errmsg) {
            Some(ip) => format!("add this server's outgoing IP ({ip}) to the IP whitelist"),
            None => "add this server's outgoing IP to the IP whitelist".into(),
        }),
        40125 | 40243 => Some("the AppSecret is wrong".into()),
        40013 => Some("the AppID is wrong".into()),
        40001 | 40014 => Some("the access token was refused; a new one is needed".into()),
        42001 => Some("the access token has expired".into()),
        45009 => Some("daily quota exhausted for this API; it resets at midnight (Beijing time)".into()),
        45011 => Some("calls are too frequent; slow down".into()),
        45029 => Some("this account has used all 100 000 permanent codes; use temporary codes".into()),
        48001 => Some("this account is not authorized for this API (verify the account type)".into()),
        50001 | 50002 => Some("this account is not authorized for this API".into()),
        40097 => Some("invalid arguments".into()),
        40003 => Some("invalid OpenID".into()),
        45157 => Some("the tag name is already used".into()),
        45158 => Some("the tag name is too long (30 characters at most)".into()),
        45056 => Some("too many tags (100 at most)".into()),
        45059 => Some("a follower has too many tags (20 at most)".into()),
        45159 => Some("invalid tag id".into()),
        89503 => Some("the call needs an administrator's confirmation".into()),
        _ => None,
    };
    match hint {
        Some(h) => format!("WeChat error {errcode}: {h} ({errmsg})"),
        None => format!("WeChat error {errcode}: {errmsg}"),
    }
}

/// Finds the first IPv4 address in WeChat's message, e.g.
/// `invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist` (40164 names the caller's IP).
pub fn extract_ip(errmsg: &str) -> Option<std::net::Ipv4Addr> {
    errmsg.split(|c: char| !(c.is_ascii_digit() || c == '.')).find_map(|word| word.trim_matches('.').parse().ok())
}

/// A placeholder printed instead of secrets.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist_message_names_the_ip() {
        let e = WechatError::Api {
            errcode: 40164,
            errmsg: "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 6620".into(),
        };
        let text = e.to_string();
        assert!(text.contains("add this server's outgoing IP (203.0.113.7) to the IP whitelist"), "{text}");
    }

    #[test]
    fn whitelist_message_without_ip() {
        let e = WechatError::Api { errcode: 40164, errmsg: "not in whitelist".into() };
        assert!(e.to_string().contains("outgoing IP to the IP whitelist"));
    }

    #[test]
    fn known_codes_have_hints() {
        let msg = |c| WechatError::Api { errcode: c, errmsg: "x".into() }.to_string();
        assert!(msg(40125).contains("the AppSecret is wrong"));
        assert!(msg(40013).contains("the AppID is wrong"));
        assert!(msg(45009).contains("daily quota exhausted"));
        assert!(msg(12345).contains("12345"));
    }

    #[test]
    fn classifies_token_and_busy() {
        let api = |c| WechatError::Api { errcode: c, errmsg: String::new() };
        assert!(api(40001).is_token_error());
        assert!(api(40014).is_token_error());
        assert!(api(42001).is_token_error());
        assert!(!api(40013).is_token_error());
        assert!(api(-1).is_busy());
        assert!(!WechatError::Http("x".into()).is_busy());
    }

    #[test]
    fn ip_extraction_ignores_other_numbers() {
        assert_eq!(extract_ip("rid: 123 ip 10.1.2.3."), Some("10.1.2.3".parse().unwrap()));
        assert_eq!(extract_ip("no ip here 42"), None);
    }
}
