//! Turning a planned push into the HTTP request WeChat would make: the event XML, the signed
//! query, and in safe mode the AES envelope with `msg_signature`. Only the `wechat` crate's
//! own helpers are used, so the load generator signs exactly as the simulator and WeChat do.

use crate::plan::Push;
use wechat::xml::{envelope_xml, event_xml};
use wechat::{MsgCrypt, msg_signature, signature};

/// Signs (and in safe mode encrypts) pushes for one account.
pub struct Signer {
    token: String,
    crypt: Option<MsgCrypt>,
    /// ToUserName: the account's original id (`gh_...`).
    to_user: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("safe_mode", &self.crypt.is_some()).field("to_user", &self.to_user).finish_non_exhaustive()
    }
}

/// One request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The query string pairs.
    pub query: Vec<(&'static str, String)>,
    /// The body (plain event XML, or the encrypted envelope).
    pub body: String,
}

impl Signer {
    /// A signer for `app_id` with callback Token `token`; with an EncodingAESKey pushes are
    /// sent in safe mode.
    pub fn new(app_id: &str, token: &str, aes_key: Option<&str>) -> anyhow::Result<Self> {
        let crypt = match aes_key {
            Some(key) => Some(MsgCrypt::new(key, app_id).map_err(|e| anyhow::anyhow!("--aes-key: {e}"))?),
            None => None,
        };
        // The simulator's derivation of the original id; the server does not check it.
        let to_user = format!("gh_{}", app_id.trim_start_matches("wx").chars().take(12).collect::<String>());
        Ok(Self { token: token.to_owned(), crypt, to_user })
    }

    /// True in safe mode.
    pub fn is_safe_mode(&self) -> bool {
        self.crypt.is_some()
    }

    /// The request for `push`, signed with `timestamp` and `nonce`.
    pub fn request(&self, push: &Push, timestamp: i64, nonce: u32) -> anyhow::Result<SignedRequest> {
        let (ts, nonce) = (timestamp.to_string(), nonce.to_string());
        // Like WeChat, an unsubscribe carries an empty EventKey element.
        let xml = event_xml(&self.to_user, &push.openid, push.create_time, push.event.as_str(), Some(&push.event_key), None);
        let mut query = vec![
            ("signature", signature(&self.token, &ts, &nonce)),
            ("timestamp", ts.clone()),
            ("nonce", nonce.clone()),
            ("openid", push.openid.clone()),
        ];
        let body = match &self.crypt {
            None => xml,
            Some(crypt) => {
                let encrypt = crypt.encrypt(&xml).map_err(|e| anyhow::anyhow!("cannot encrypt a push: {e}"))?;
                query.push(("encrypt_type", "aes".into()));
                query.push(("msg_signature", msg_signature(&self.token, &ts, &nonce, &encrypt)));
                envelope_xml(&self.to_user, &encrypt, None)
            }
        };
        Ok(SignedRequest { query, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::EventType;
    use wechat::{CallbackQuery, EncryptMode, open_push};

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH";

    fn query(pairs: &[(&'static str, String)]) -> CallbackQuery {
        let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        CallbackQuery {
            signature: get("signature"),
            timestamp: get("timestamp"),
            nonce: get("nonce"),
            echostr: None,
            openid: get("openid"),
            encrypt_type: get("encrypt_type"),
            msg_signature: get("msg_signature"),
        }
    }

    fn push(event: EventType, key: &str) -> Push {
        Push { index: 3, openid: "oLG0000000100000000000000042".into(), create_time: 1_714_035_603, event, event_key: key.into() }
    }

    #[test]
    fn plaintext_and_safe_mode_pushes_open_as_the_server_opens_them() {
        for (aes, mode) in [(None, EncryptMode::Plain), (Some(KEY), EncryptMode::Safe)] {
            let signer = Signer::new("wx1000000000000001", "tok2026", aes).unwrap();
            let crypt = aes.map(|k| MsgCrypt::new(k, "wx1000000000000001").unwrap());
            for p in [push(EventType::Subscribe, "qrscene_7"), push(EventType::Scan, "7"), push(EventType::Unsubscribe, "")] {
                let r = signer.request(&p, 1_714_040_000, 123_456_789).unwrap();
                let opened = open_push("tok2026", mode, crypt.as_ref(), &query(&r.query), &r.body).unwrap();
                assert_eq!(opened.encrypted, aes.is_some());
                let m = opened.message;
                assert_eq!((m.from_user_name.as_str(), m.create_time), (p.openid.as_str(), p.create_time));
                assert_eq!(m.event.as_deref(), Some(p.event.as_str()));
                assert_eq!(m.event_key.as_deref().unwrap_or(""), p.event_key);
                // A wrong token is refused.
                assert!(open_push("other", mode, crypt.as_ref(), &query(&r.query), &r.body).is_err());
            }
        }
    }
}
