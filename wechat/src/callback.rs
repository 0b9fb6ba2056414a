//! The callback route's protocol in one call each way: verify the URL check, open a push
//! (signature, optional decryption, XML), and answer it (the reply XML, sealed when the push
//! came sealed), so the server's handler only maps errors to statuses and stores.

use serde::Deserialize;

use crate::crypto::{EncryptMode, MsgCrypt, verify_msg_signature, verify_signature};
use crate::error::{CryptoError, XmlError};
use crate::xml::{Envelope, InboundMessage, Reply, check_body};

/// The query string WeChat puts on every callback request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CallbackQuery {
    /// `sha1(sort(token, timestamp, nonce))`.
    pub signature: Option<String>,
    /// Seconds since the epoch, as text.
    pub timestamp: Option<String>,
    /// A random number, as text.
    pub nonce: Option<String>,
    /// URL verification only: the text to echo back.
    pub echostr: Option<String>,
    /// Pushes only: the follower's OpenID.
    pub openid: Option<String>,
    /// `aes` in compatible and safe mode, absent or `raw` otherwise.
    pub encrypt_type: Option<String>,
    /// Compatible and safe mode: the signature that also covers `Encrypt`.
    pub msg_signature: Option<String>,
}

impl CallbackQuery {
    /// True when WeChat says the body is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.encrypt_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("aes"))
    }
}

/// Why a callback request was refused; [`CallbackError::status`] gives the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// A signature is missing or wrong: 403, store nothing.
    #[error("bad or missing signature")]
    BadSignature,
    /// The account is in safe mode but the push came unencrypted: 403 (a plaintext signature
    /// does not cover the body, so it cannot be trusted here).
    #[error("this account expects encrypted pushes")]
    NotEncrypted,
    /// An encrypted push arrived but the account has no EncodingAESKey: 500, a setup error.
    #[error("encrypted push but no EncodingAESKey is configured for this account")]
    NoAesKey,
    /// The body is not acceptable XML: 400.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The ciphertext did not decrypt: 400.
    #[error(transparent)]
    Crypto(CryptoError),
}

impl CallbackError {
    /// The HTTP status the callback should answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadSignature | Self::NotEncrypted => 403,
            Self::NoAesKey => 500,
            Self::Xml(_) | Self::Crypto(_) => 400,
        }
    }
}

impl From<CryptoError> for CallbackError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::SignatureMismatch => Self::BadSignature,
            other => Self::Crypto(other),
        }
    }
}

/// Answers WeChat's URL verification: returns the `echostr` to send back as text/plain when the
/// signature holds.
pub fn verify_url<'q>(token: &str, query: &'q CallbackQuery) -> Result<&'q str, CallbackError> {
    let (Some(sig), Some(ts), Some(nonce), Some(echo)) = (&query.signature, &query.timestamp, &query.nonce, &query.echostr) else {
        return Err(CallbackError::BadSignature);
    };
    verify_signature(token, ts, nonce, sig)?;
    Ok(echo)
}

/// A push whose signature held, decrypted and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedPush {
    /// The message.
    pub message: InboundMessage,
    /// True when it came encrypted: a passive reply must then be encrypted too
    /// ([`MsgCrypt::seal_reply`]).
    pub encrypted: bool,
}

/// Checks and opens one push.
///
/// Plain pushes are checked with `signature` before the body is parsed; encrypted ones with
/// `msg_signature` over the `Encrypt` text, then decrypted (checking the AppID). An account in
/// [`EncryptMode::Safe`] refuses unencrypted pushes.
pub fn open_push(
    token: &str,
    mode: EncryptMode,
    crypt: Option<&MsgCrypt>,
    query: &CallbackQuery,
    body: &str,
) -> Result<OpenedPush, CallbackError> {
    let (Some(ts), Some(nonce)) = (&query.timestamp, &query.nonce) else {
        return Err(CallbackError::BadSignature);
    };
    if query.is_encrypted() {
        let sig = query.msg_signature.as_deref().ok_or(CallbackError::BadSignature)?;
        let envelope = Envelope::parse(body)?;
        verify_msg_signature(token, ts, nonce, &envelope.encrypt, sig)?;
        let crypt = crypt.ok_or(CallbackError::NoAesKey)?;
        let plain = crypt.decrypt(&envelope.encrypt)?;
        let message = InboundMessage::parse(&plain)?;
        Ok(OpenedPush { message, encrypted: true })
    } else {
        if mode == EncryptMode::Safe {
            return Err(CallbackError::NotEncrypted);
        }
        let sig = query.signature.as_deref().ok_or(CallbackError::BadSignature)?;
        verify_signature(token, ts, nonce, sig)?;
        check_body(body)?;
        let message = InboundMessage::parse(body)?;
        Ok(OpenedPush { message, encrypted: false })
    }
}

impl OpenedPush {
    /// The body that answers this push with `reply`, the mirror of [`open_push`]: WeChat's
    /// passive reply XML to the follower who sent it, sealed with `msg_signature` when the push
    /// came encrypted. `nonce` is the push's own (only an input to the signature); `now` is
    /// the reply's `CreateTime` and `TimeStamp`.
    pub fn answer(&self, reply: &Reply, token: &str, crypt: Option<&MsgCrypt>, nonce: &str, now: i64) -> Result<String, CallbackError> {
        let m = &self.message;
        let xml = reply.to_xml(&m.from_user_name, &m.to_user_name, now);
        if !self.encrypted {
            return Ok(xml);
        }
        let crypt = crypt.ok_or(CallbackError::NoAesKey)?;
        Ok(crypt.seal_reply(token, &xml, &now.to_string(), nonce)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{msg_signature, signature};
    use crate::xml::{envelope_xml, event_xml};

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const APPID: &str = "wxba5fad812f8e6fb9";

    fn q(sig: Option<String>, msg_sig: Option<String>, aes: bool) -> CallbackQuery {
        CallbackQuery {
            signature: sig,
            timestamp: Some("1714037059".into()),
            nonce: Some("486452656".into()),
            openid: Some("o1".into()),
            encrypt_type: aes.then(|| "aes".into()),
            msg_signature: msg_sig,
            echostr: None,
        }
    }

    #[test]
    fn official_url_verification() {
        let query = CallbackQuery {
            signature: Some("f464b24fc39322e44b38aa78f5edd27bd1441696".into()),
            timestamp: Some("1714036504".into()),
            nonce: Some("1514711492".into()),
            echostr: Some("4375120948345356249".into()),
            ..Default::default()
        };
        assert_eq!(verify_url("AAAAA", &query), Ok("4375120948345356249"));
        assert_eq!(verify_url("BBBBB", &query), Err(CallbackError::BadSignature));
        assert_eq!(verify_url("AAAAA", &CallbackQuery::default()), Err(CallbackError::BadSignature));
    }

    #[test]
    fn plain_push_opens() {
        let body = event_xml("gh_x", "o1", 1, "subscribe", Some("qrscene_5"), Some("T"));
        let query = q(Some("899cf89e464efb63f54ddac96b0a0a235f53aa78".into()), None, false);
        let opened = open_push("AAAAA", EncryptMode::Plain, None, &query, &body).unwrap();
        assert!(!opened.encrypted);
        assert_eq!(opened.message.event_key.as_deref(), Some("qrscene_5"));
        // a bad signature is refused before the body is even looked at
        let bad = q(Some("0".repeat(40)), None, false);
        assert_eq!(open_push("AAAAA", EncryptMode::Plain, None, &bad, "garbage"), Err(CallbackError::BadSignature));
        // valid signature, malformed body: 400
        assert_eq!(open_push("AAAAA", EncryptMode::Plain, None, &query, "<xml>").unwrap_err().status(), 400);
        // safe mode refuses plaintext
        assert_eq!(open_push("AAAAA", EncryptMode::Safe, None, &query, &body), Err(CallbackError::NotEncrypted));
    }

    #[test]
    fn encrypted_push_opens() {
        let crypt = MsgCrypt::new(KEY, APPID).unwrap();
        let plain = event_xml("gh_x", "o1", 1, "SCAN", Some("spring"), None);
        let encrypt = crypt.encrypt(&plain).unwrap();
        let body = envelope_xml("gh_x", &encrypt, None);
        let ms = msg_signature("AAAAA", "1714037059", "486452656", &encrypt);
        let query = q(Some(signature("AAAAA", "1714037059", "486452656")), Some(ms), true);
        let opened = open_push("AAAAA", EncryptMode::Safe, Some(&crypt), &query, &body).unwrap();
        assert!(opened.encrypted);
        assert_eq!(opened.message.raw, plain);
        assert_eq!(open_push("AAAAA", EncryptMode::Safe, None, &query, &body), Err(CallbackError::NoAesKey));
        let tampered = envelope_xml("gh_x", &crypt.encrypt("<xml/>").unwrap(), None);
        assert_eq!(open_push("AAAAA", EncryptMode::Safe, Some(&crypt), &query, &tampered), Err(CallbackError::BadSignature));
        let other = MsgCrypt::new(KEY, "wx0000000000000000").unwrap();
        assert_eq!(open_push("AAAAA", EncryptMode::Safe, Some(&other), &query, &body).unwrap_err().status(), 400);
    }

    #[test]
    fn a_push_is_answered_in_the_form_it_came() {
        let reply = Reply::Text { content: "欢迎 & welcome".into() };
        // Plain: the reply XML, addressed back to the follower.
        let body = event_xml("gh_x", "o1", 1, "subscribe", Some("qrscene_5"), Some("T"));
        let query = q(Some("899cf89e464efb63f54ddac96b0a0a235f53aa78".into()), None, false);
        let opened = open_push("AAAAA", EncryptMode::Plain, None, &query, &body).unwrap();
        let plain = opened.answer(&reply, "AAAAA", None, "486452656", 1714037100).unwrap();
        assert_eq!(plain, reply.to_xml("o1", "gh_x", 1714037100));
        assert!(plain.contains("<ToUserName><![CDATA[o1]]></ToUserName>"), "{plain}");
        // Encrypted: sealed, signed over the push's nonce and the reply's time, and opening
        // to the same XML.
        let crypt = MsgCrypt::new(KEY, APPID).unwrap();
        let encrypt = crypt.encrypt(&event_xml("gh_x", "o1", 1, "SCAN", Some("spring"), None)).unwrap();
        let ms = msg_signature("AAAAA", "1714037059", "486452656", &encrypt);
        let query = q(Some(signature("AAAAA", "1714037059", "486452656")), Some(ms), true);
        let opened = open_push("AAAAA", EncryptMode::Safe, Some(&crypt), &query, &envelope_xml("gh_x", &encrypt, None)).unwrap();
        let sealed = opened.answer(&reply, "AAAAA", Some(&crypt), "486452656", 1714037100).unwrap();
        let r = crate::xml::parse_encrypted_reply(&sealed).unwrap();
        assert_eq!((r.timestamp.as_str(), r.nonce.as_str()), ("1714037100", "486452656"));
        assert_eq!(r.msg_signature, msg_signature("AAAAA", "1714037100", "486452656", &r.encrypt));
        assert_eq!(crypt.decrypt(&r.encrypt).unwrap(), reply.to_xml("o1", "gh_x", 1714037100));
        assert_eq!(opened.answer(&reply, "AAAAA", None, "486452656", 1714037100), Err(CallbackError::NoAesKey));
    }
}
