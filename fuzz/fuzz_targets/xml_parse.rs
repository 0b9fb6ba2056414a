//! Fuzzes the callback's XML readers with arbitrary bodies: `InboundMessage::parse`,
//! `Envelope::parse`, `parse_encrypted_reply` and the `check_body` gate in front of them.
//!
//! Besides "never panics, never hangs", it checks what must hold for every body:
//! * the gate: a body over `MAX_BODY` is `TooLarge`, one with `<!DOCTYPE`/`<!ENTITY` (any case)
//!   is `Doctype`, for every reader, before quick-xml sees it;
//! * no expansion: no parsed field is longer than the body (entities never grow text);
//! * one body, one document: an accepted body followed by itself or by text is `Malformed`;
//! * parsed fields are trimmed and non-empty, `raw` is the body, the classification agrees with
//!   `Event`/`EventKey`;
//! * the writers round-trip: `event_xml`, `envelope_xml`, `encrypted_reply_xml` and
//!   `Reply::to_xml` built from parsed (or arbitrary) values read back to the same values.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use wechat::xml::{check_body, encrypted_reply_xml, envelope_xml, event_xml, parse_encrypted_reply};
use wechat::{Envelope, EventKind, InboundMessage, MAX_BODY, Reply, XmlError};

fuzz_target!(|data: &[u8]| {
    // The route refuses non-UTF-8 bodies before parsing; lossy text still reaches the parser
    // with whatever the fuzzer found.
    match std::str::from_utf8(data) {
        Ok(body) => check(body),
        Err(_) => check(&String::from_utf8_lossy(data)),
    }
});

fn check(body: &str) {
    let too_large = body.len() > MAX_BODY;
    let lower = body.to_ascii_lowercase();
    let has_dtd = lower.contains("<!doctype") || lower.contains("<!entity");

    let gate = check_body(body);
    let message = InboundMessage::parse(body);
    let envelope = Envelope::parse(body);
    let reply = parse_encrypted_reply(body);

    if too_large {
        assert!(matches!(gate, Err(XmlError::TooLarge { .. })), "{gate:?}");
        assert!(matches!(message, Err(XmlError::TooLarge { .. })), "{message:?}");
        assert!(matches!(envelope, Err(XmlError::TooLarge { .. })), "{envelope:?}");
        assert!(matches!(reply, Err(XmlError::TooLarge { .. })), "{reply:?}");
    } else if has_dtd {
        assert_eq!(gate, Err(XmlError::Doctype));
        assert_eq!(message, Err(XmlError::Doctype));
        assert_eq!(envelope, Err(XmlError::Doctype));
        assert_eq!(reply.as_ref().err(), Some(&XmlError::Doctype));
    } else {
        assert_eq!(gate, Ok(()));
    }

    if let Ok(m) = &message {
        check_message(body, m);
    }
    if let Ok(e) = &envelope {
        field(body, &e.encrypt);
        if let Some(to) = &e.to_user_name {
            field(body, to);
        }
        let xml = envelope_xml(e.to_user_name.as_deref().unwrap_or("gh_x"), &e.encrypt, None);
        if writable(&xml) {
            let again = Envelope::parse(&xml).unwrap_or_else(|err| panic!("envelope_xml output refused: {err}\n{xml}"));
            assert_eq!(again.encrypt, e.encrypt);
        }
    }
    if let Ok(r) = &reply {
        for f in [&r.encrypt, &r.msg_signature, &r.timestamp, &r.nonce] {
            field(body, f);
        }
        let xml = encrypted_reply_xml(&r.encrypt, &r.msg_signature, &r.timestamp, &r.nonce);
        // The TimeStamp is written as escaped text, which drops what XML 1.0 forbids
        // (`wechat::xml::escape`): such a value cannot come back as it was, and its characters
        // never reach the output. Every other value reads back the same.
        let forbidden = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
        let stamp = wechat::xml::escape(&r.timestamp);
        assert!(!stamp.chars().any(forbidden) && xml.contains(&format!("<TimeStamp>{stamp}</TimeStamp>")), "{xml:?}");
        if writable(&xml) && !r.timestamp.chars().any(forbidden) {
            let again = parse_encrypted_reply(&xml).unwrap_or_else(|err| panic!("encrypted_reply_xml output refused: {err}\n{xml}"));
            assert_eq!(&again, r);
        }
    }

    if (message.is_ok() || envelope.is_ok()) && body.len() * 2 <= MAX_BODY {
        for longer in [format!("{body}{body}"), format!("{body}x")] {
            assert!(matches!(InboundMessage::parse(&longer), Err(XmlError::Malformed(_))), "content after the root accepted: {longer}");
            assert!(matches!(Envelope::parse(&longer), Err(XmlError::Malformed(_))), "content after the root accepted: {longer}");
        }
    }

    // A passive reply whose content is the arbitrary body must read back as that content
    // (CDATA splitting of `]]>`), whatever the body is.
    if body.len() <= MAX_BODY / 2 {
        let xml = Reply::Text { content: body.to_owned() }.to_xml("oUser1", "gh_abc", 1_714_037_059);
        let back: TextReply = quick_xml::de::from_str(&xml).unwrap_or_else(|err| panic!("reply XML unreadable: {err}\n{xml}"));
        assert_eq!(back.to_user_name, "oUser1");
        assert_eq!(back.from_user_name, "gh_abc");
        assert_eq!(back.create_time, 1_714_037_059);
        assert_eq!(back.msg_type, "text");
        // The serde reader trims text; WeChat reads CDATA verbatim.
        assert_eq!(back.content.trim(), body.trim(), "{xml}");
    }
}

/// A text reply read back with quick-xml directly, not through the crate's readers.
#[derive(Debug, Deserialize)]
struct TextReply {
    #[serde(rename = "ToUserName")]
    to_user_name: String,
    #[serde(rename = "FromUserName")]
    from_user_name: String,
    #[serde(rename = "CreateTime")]
    create_time: i64,
    #[serde(rename = "MsgType")]
    msg_type: String,
    #[serde(rename = "Content", default)]
    content: String,
}

/// A parsed value: non-empty, trimmed, and never longer than the body it came from.
fn field(body: &str, value: &str) {
    assert!(!value.is_empty());
    assert_eq!(value, value.trim());
    assert!(value.len() <= body.len(), "{} bytes of field from a {}-byte body", value.len(), body.len());
}

/// Writer output the gate can accept: a value may legitimately contain `<!DOCTYPE` as text
/// (escaped in the input), which the byte-level gate then refuses; and CDATA adds bytes.
fn writable(xml: &str) -> bool {
    check_body(xml).is_ok()
}

fn check_message(body: &str, m: &InboundMessage) {
    assert_eq!(m.raw, body);
    for f in [&m.to_user_name, &m.from_user_name, &m.msg_type] {
        field(body, f);
    }
    for f in [&m.event, &m.event_key, &m.ticket].into_iter().flatten() {
        field(body, f);
    }

    let is_event = m.msg_type.eq_ignore_ascii_case("event");
    let event = m.event.as_deref().map(str::to_ascii_lowercase);
    match m.kind() {
        EventKind::Subscribe { scene } => {
            assert!(is_event && event.as_deref() == Some("subscribe"));
            if let Some(scene) = scene {
                assert_eq!(m.event_key.as_deref(), Some(format!("qrscene_{scene}").as_str()));
            }
        }
        EventKind::Scan { scene } => {
            assert!(is_event && event.as_deref() == Some("scan"));
            assert_eq!(m.event_key.as_deref(), Some(scene.to_string().as_str()));
        }
        EventKind::Unsubscribe => assert!(is_event && event.as_deref() == Some("unsubscribe")),
        EventKind::Other => {
            assert!(!is_event || !matches!(event.as_deref(), Some("subscribe" | "unsubscribe")));
        }
    }

    // The simulator's writer, fed what was parsed, must give back the same push.
    if let Some(event) = &m.event {
        let xml = event_xml(&m.to_user_name, &m.from_user_name, m.create_time, event, m.event_key.as_deref(), m.ticket.as_deref());
        if writable(&xml) {
            let again = InboundMessage::parse(&xml).unwrap_or_else(|err| panic!("event_xml output refused: {err}\n{xml}"));
            assert_eq!(again.to_user_name, m.to_user_name);
            assert_eq!(again.from_user_name, m.from_user_name);
            assert_eq!(again.create_time, m.create_time);
            assert_eq!(again.msg_type, "event");
            assert_eq!(again.event, m.event);
            assert_eq!(again.event_key, m.event_key);
            assert_eq!(again.ticket, m.ticket);
            if is_event {
                assert_eq!(again.kind(), m.kind());
            }
        }
    }
}
