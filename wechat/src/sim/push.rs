//! Playing a WeChat user: a scan or an unsubscribe, and the push WeChat sends for it to the
//! account's callback (signed, optionally encrypted, retried), with the reply read as WeChat does.

use std::collections::BTreeSet;

use axum::http::header;
use rand::Rng;

use crate::crypto::{EncryptMode, MsgCrypt, msg_signature, signature, verify_msg_signature};
use crate::error::CryptoError;
use crate::xml::{envelope_xml, event_xml, parse_encrypted_reply};

use super::random_string;
use super::state::{Follower, SimApp, SimState};

/// Why a simulated scan or unsubscribe did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// No code with this ticket.
    #[error("no code with this ticket")]
    UnknownTicket,
    /// The temporary code has expired: WeChat would show nothing.
    #[error("this temporary code has expired")]
    Expired,
    /// No account with this AppID.
    #[error("no simulated account {0}")]
    UnknownApp(String),
    /// No such follower (or none to pick).
    #[error("no such follower")]
    UnknownFollower,
    /// The account's EncodingAESKey is invalid.
    #[error("the account's EncodingAESKey: {0}")]
    Crypto(CryptoError),
    /// The callback never answered 2xx.
    #[error("the callback failed after {tries} tries: {last}")]
    PushFailed {
        /// Tries made.
        tries: u32,
        /// The last failure.
        last: String,
    },
}

/// Who scans a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanner {
    /// A new user, who follows through the code (`subscribe` with `qrscene_<scene>`).
    NewFollower,
    /// A known follower: `SCAN` if following, a new `subscribe` if they had left. `None`
    /// picks the most recent follower.
    Existing(Option<String>),
}

/// What happened to one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The follower's OpenID.
    pub openid: String,
    /// The event pushed (`subscribe`, `SCAN`, `unsubscribe`).
    pub event: String,
    /// The plaintext event XML.
    pub xml: String,
    /// The callback's answer, `None` when no callback is configured.
    pub delivery: Option<Delivery>,
}

/// The callback's answer to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Tries used (1..=3).
    pub tries: u32,
    /// HTTP status of the accepted answer.
    pub status: u16,
    /// The body as sent.
    pub body: String,
    /// The reply, decrypted when encrypted; `None` for `success` or empty.
    pub reply: Option<String>,
    /// Why WeChat would reject the reply ("this account cannot serve you right now").
    pub reply_error: Option<String>,
}

impl SimState {
    /// Simulates a scan of the code with `ticket` and pushes the event WeChat would push.
    pub async fn scan(&self, ticket: &str, scanner: Scanner) -> Result<PushReport, SimError> {
        let now = self.now();
        let (app, openid, event, key, note) = {
            let mut inner = self.lock();
            let (app_id, idx) = inner.tickets.get(ticket).cloned().ok_or(SimError::UnknownTicket)?;
            let app = inner.apps.get_mut(&app_id).ok_or_else(|| SimError::UnknownApp(app_id.clone()))?;
            let code = app.codes.get(idx).cloned().ok_or(SimError::UnknownTicket)?;
            if code.expires_at.is_some_and(|at| at <= now) {
                return Err(SimError::Expired);
            }
            let openid = match scanner {
                Scanner::NewFollower => format!("o{}", random_string(27)),
                Scanner::Existing(Some(openid)) => {
                    if !app.followers.contains_key(&openid) {
                        return Err(SimError::UnknownFollower);
                    }
                    openid
                }
                Scanner::Existing(None) => app
                    .followers
                    .values()
                    .filter(|f| f.subscribed)
                    .max_by_key(|f| f.subscribe_time)
                    .map(|f| f.openid.clone())
                    .ok_or(SimError::UnknownFollower)?,
            };
            let following = app.followers.get(&openid).is_some_and(|f| f.subscribed);
            let (event, key) = if following {
                ("SCAN", code.scene.to_string())
            } else {
                let follower = app.followers.entry(openid.clone()).or_insert_with(|| Follower {
                    openid: openid.clone(),
                    subscribed: true,
                    subscribe_time: now,
                    subscribe_scene: "ADD_SCENE_QR_CODE".into(),
                    scene: None,
                    tags: BTreeSet::new(),
                });
                follower.subscribed = true;
                follower.subscribe_time = now;
                follower.subscribe_scene = "ADD_SCENE_QR_CODE".into();
                follower.scene = Some(code.scene.clone());
                ("subscribe", format!("qrscene_{}", code.scene))
            };
            let note = format!("{openid} scanned {} ({} {}) → {event}", code.ticket, code.action_name, code.scene);
            (app.cfg.clone(), openid, event, key, note)
        };
        self.lock().note(note);
        let xml = event_xml(&app.original_id, &openid, now, event, Some(&key), Some(ticket));
        self.deliver(&app, openid, event, xml, now).await
    }

    /// Simulates a follower leaving and pushes `unsubscribe`.
    pub async fn unsubscribe(&self, app_id: &str, openid: &str) -> Result<PushReport, SimError> {
        let now = self.now();
        let app = {
            let mut inner = self.lock();
            let app = inner.apps.get_mut(app_id).ok_or_else(|| SimError::UnknownApp(app_id.to_owned()))?;
            let follower = app.followers.get_mut(openid).filter(|f| f.subscribed).ok_or(SimError::UnknownFollower)?;
            follower.subscribed = false;
            follower.tags.clear();
            let cfg = app.cfg.clone();
            inner.note(format!("{openid} unsubscribed from {app_id}"));
            cfg
        };
        let xml = event_xml(&app.original_id, openid, now, "unsubscribe", Some(""), None);
        self.deliver(&app, openid.to_owned(), "unsubscribe", xml, now).await
    }

    async fn deliver(&self, app: &SimApp, openid: String, event: &str, xml: String, now: i64) -> Result<PushReport, SimError> {
        let delivery = match &app.callback_url {
            None => None,
            Some(url) => {
                let result = push(&self.http, app, url, &openid, &xml, now, self.settings.push_tries).await;
                let line = match &result {
                    Ok(d) => format!(
                        "push {event} for {openid}: HTTP {} after {} tries{}",
                        d.status,
                        d.tries,
                        d.reply_error.as_ref().map(|e| format!(", reply refused: {e}")).unwrap_or_default()
                    ),
                    Err(e) => format!("push {event} for {openid}: {e}"),
                };
                self.lock().note(line);
                Some(result?)
            }
        };
        Ok(PushReport { openid, event: event.to_owned(), xml, delivery })
    }
}

/// Pushes one event to a callback as WeChat does: signed query (`signature`, `timestamp`,
/// `nonce`, `openid`, plus `encrypt_type=aes` and `msg_signature` in compat/safe mode), each
/// try bounded by the client's timeout, up to `tries` tries, then reads the reply like WeChat.
pub async fn push(
    http: &reqwest::Client,
    app: &SimApp,
    callback_url: &str,
    openid: &str,
    plain_xml: &str,
    timestamp: i64,
    tries: u32,
) -> Result<Delivery, SimError> {
    let timestamp = timestamp.to_string();
    let nonce = rand::thread_rng().gen_range(100_000_000u32..2_000_000_000).to_string();
    let crypt = match (&app.aes_key, app.mode) {
        (_, EncryptMode::Plain) => None,
        (Some(key), _) => Some(MsgCrypt::new(key, &app.app_id).map_err(SimError::Crypto)?),
        (None, _) => return Err(SimError::Crypto(CryptoError::InvalidAesKey)),
    };
    let mut query = vec![
        ("signature", signature(&app.token, &timestamp, &nonce)),
        ("timestamp", timestamp.clone()),
        ("nonce", nonce.clone()),
        ("openid", openid.to_owned()),
    ];
    let body = match &crypt {
        None => plain_xml.to_owned(),
        Some(crypt) => {
            let encrypt = crypt.encrypt(plain_xml).map_err(SimError::Crypto)?;
            query.push(("encrypt_type", "aes".into()));
            query.push(("msg_signature", msg_signature(&app.token, &timestamp, &nonce, &encrypt)));
            let plain_fields = (app.mode == EncryptMode::Compat).then_some(plain_xml);
            envelope_xml(&app.original_id, &encrypt, plain_fields)
        }
    };
    let mut last = String::from("not tried");
    for attempt in 1..=tries.max(1) {
        let sent = http.post(callback_url).query(&query).header(header::CONTENT_TYPE, "text/xml").body(body.clone()).send().await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                let (reply, reply_error) = read_reply(app, crypt.as_ref(), &text);
                return Ok(Delivery { tries: attempt, status, body: text, reply, reply_error });
            }
            Ok(resp) => last = format!("HTTP {}", resp.status()),
            Err(e) if e.is_timeout() => last = "timed out".into(),
            Err(e) => last = e.without_url().to_string(),
        }
    }
    Err(SimError::PushFailed { tries: tries.max(1), last })
}

/// Reads a callback answer as WeChat does: empty or `success` means no reply; an encrypted
/// account must answer encrypted XML signed with its Token.
fn read_reply(app: &SimApp, crypt: Option<&MsgCrypt>, text: &str) -> (Option<String>, Option<String>) {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "success" {
        return (None, None);
    }
    let Some(crypt) = crypt else {
        return match crate::xml::check_body(trimmed) {
            Ok(()) if trimmed.starts_with("<xml>") => (Some(trimmed.to_owned()), None),
            _ => (None, Some("the reply is not XML".into())),
        };
    };
    let opened = parse_encrypted_reply(trimmed).map_err(|e| e.to_string()).and_then(|r| {
        verify_msg_signature(&app.token, &r.timestamp, &r.nonce, &r.encrypt, &r.msg_signature).map_err(|e| e.to_string())?;
        crypt.decrypt(&r.encrypt).map_err(|e| e.to_string())
    });
    match opened {
        Ok(plain) => (Some(plain), None),
        Err(e) => (None, Some(e)),
    }
}
