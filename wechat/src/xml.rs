//! The XML WeChat speaks on the callback: inbound pushes (plain or inside an encrypted
//! envelope), outbound passive replies, and the event classification Sceneboard counts.
//!
//! Input is untrusted: bodies over [`MAX_BODY`] and any `<!DOCTYPE`/`<!ENTITY` are refused
//! before the parser sees them, a body must be exactly one document (`document`), and every
//! failure is an [`XmlError`], never a panic.

mod document;

use serde::Deserialize;

use document::single_document;

use crate::error::XmlError;
use crate::scene::Scene;

/// Largest callback body accepted, in bytes. Real pushes are well under 4 KiB; compatible
/// mode triples that.
pub const MAX_BODY: usize = 64 * 1024;

/// Refuses oversized bodies and DTDs (entity expansion, external entities).
pub fn check_body(body: &str) -> Result<(), XmlError> {
    if body.len() > MAX_BODY {
        return Err(XmlError::TooLarge { len: body.len(), max: MAX_BODY });
    }
    let bytes = body.as_bytes();
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle));
    if has(b"<!doctype") || has(b"<!entity") {
        return Err(XmlError::Doctype);
    }
    Ok(())
}

/// The raw shape of any push; every field optional so unknown message types still parse.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawPush {
    #[serde(rename = "ToUserName")]
    to_user_name: Option<String>,
    #[serde(rename = "FromUserName")]
    from_user_name: Option<String>,
    #[serde(rename = "CreateTime")]
    create_time: Option<String>,
    #[serde(rename = "MsgType")]
    msg_type: Option<String>,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "EventKey")]
    event_key: Option<String>,
    #[serde(rename = "Ticket")]
    ticket: Option<String>,
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
}

fn parse_raw(body: &str) -> Result<RawPush, XmlError> {
    check_body(body)?;
    single_document(body)?;
    quick_xml::de::from_str::<RawPush>(body).map_err(|e| XmlError::Malformed(e.to_string()))
}

/// Trims and drops empty values: WeChat sends `<EventKey><![CDATA[]]></EventKey>` on
/// unsubscribe.
fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// One message or event pushed to the callback, after decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// The account's original id (`gh_...`).
    pub to_user_name: String,
    /// The follower's OpenID.
    pub from_user_name: String,
    /// Seconds since the epoch, as WeChat stamped it (part of the de-duplication key).
    pub create_time: i64,
    /// `event`, `text`, `image`...
    pub msg_type: String,
    /// `subscribe`, `unsubscribe`, `SCAN`... for `MsgType=event`.
    pub event: Option<String>,
    /// `qrscene_<scene>` on subscribe, the bare scene on SCAN.
    pub event_key: Option<String>,
    /// The QR code's ticket, when the event came from a code.
    pub ticket: Option<String>,
    /// The XML as received (decrypted), kept for audit and re-processing.
    pub raw: String,
}

impl InboundMessage {
    /// Parses a plaintext push (or a decrypted one). Fails on missing ToUserName,
    /// FromUserName, CreateTime or MsgType.
    pub fn parse(body: &str) -> Result<Self, XmlError> {
        let raw = parse_raw(body)?;
        let to_user_name = non_empty(raw.to_user_name).ok_or(XmlError::MissingField("ToUserName"))?;
        let from_user_name = non_empty(raw.from_user_name).ok_or(XmlError::MissingField("FromUserName"))?;
        let create_time = non_empty(raw.create_time)
            .ok_or(XmlError::MissingField("CreateTime"))?
            .parse::<i64>()
            .ok()
            // WeChat sends Unix seconds as an unsigned 32-bit number; anything else (a time
            // before 1970, past 2106) is not a real push and would land in a nonsense hour.
            .filter(|t| (0..=i64::from(u32::MAX)).contains(t))
            .ok_or_else(|| XmlError::Malformed("CreateTime is not a Unix time in seconds (0 to 4294967295)".into()))?;
        let msg_type = non_empty(raw.msg_type).ok_or(XmlError::MissingField("MsgType"))?;
        Ok(Self {
            to_user_name,
            from_user_name,
            create_time,
            msg_type,
            event: non_empty(raw.event),
            event_key: non_empty(raw.event_key),
            ticket: non_empty(raw.ticket),
            raw: body.to_owned(),
        })
    }

    /// What this push means for Sceneboard's counts.
    pub fn kind(&self) -> EventKind {
        classify(&self.msg_type, self.event.as_deref(), self.event_key.as_deref())
    }
}

/// The meaning of a push for the counts (docs/contract.md, "Event semantics").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A new follower; `scene` is `Some` when they came through a parametric code
    /// (`qrscene_<scene>`), `None` for organic follows (search, profile card).
    Subscribe {
        /// The code's scene, if any.
        scene: Option<Scene>,
    },
    /// An existing follower scanned a code.
    Scan {
        /// The code's scene.
        scene: Scene,
    },
    /// A follower left.
    Unsubscribe,
    /// Anything else (messages, menu clicks, malformed scenes).
    Other,
}

/// Classifies by MsgType, Event and EventKey.
pub fn classify(msg_type: &str, event: Option<&str>, event_key: Option<&str>) -> EventKind {
    if !msg_type.eq_ignore_ascii_case("event") {
        return EventKind::Other;
    }
    let key = event_key.map(str::trim).filter(|k| !k.is_empty());
    match event.map(str::trim) {
        Some(e) if e.eq_ignore_ascii_case("subscribe") => {
            EventKind::Subscribe { scene: key.and_then(|k| k.strip_prefix("qrscene_")).and_then(|s| Scene::parse(s).ok()) }
        }
        Some(e) if e.eq_ignore_ascii_case("unsubscribe") => EventKind::Unsubscribe,
        Some(e) if e.eq_ignore_ascii_case("scan") => match key.map(Scene::parse) {
            Some(Ok(scene)) => EventKind::Scan { scene },
            _ => EventKind::Other,
        },
        _ => EventKind::Other,
    }
}

/// The encrypted envelope of compatible and safe mode: `<xml><ToUserName/><Encrypt/></xml>`
/// (compatible mode adds plaintext fields, ignored here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The account's original id, when present.
    pub to_user_name: Option<String>,
    /// The base64 ciphertext, to verify with `msg_signature` and then decrypt.
    pub encrypt: String,
}

impl Envelope {
    /// Parses the envelope; fails when `Encrypt` is missing.
    pub fn parse(body: &str) -> Result<Self, XmlError> {
        let raw = parse_raw(body)?;
        Ok(Self { to_user_name: non_empty(raw.to_user_name), encrypt: non_empty(raw.encrypt).ok_or(XmlError::MissingField("Encrypt"))? })
    }
}

/// A passive reply (answered in the callback's HTTP response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A text message.
    Text {
        /// The text.
        content: String,
    },
    /// A news message with one article.
    News {
        /// The article title.
        title: String,
        /// The short description.
        description: String,
        /// The link opened on tap.
        url: String,
        /// The cover image URL.
        pic_url: String,
    },
}

/// Appends `<![CDATA[text]]>`, splitting any `]]>` inside so the text cannot close the section.
fn push_cdata(out: &mut String, text: &str) {
    out.push_str("<![CDATA[");
    out.push_str(&text.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

fn push_field(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_cdata(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn push_number(out: &mut String, name: &str, n: i64) {
    out.push_str(&format!("<{name}>{n}</{name}>"));
}

impl Reply {
    /// The reply XML: `to_user` is the follower's OpenID, `from_user` the account's `gh_` id
    /// (the inbound message's From/To swapped).
    pub fn to_xml(&self, to_user: &str, from_user: &str, create_time: i64) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<xml>");
        push_field(&mut out, "ToUserName", to_user);
        push_field(&mut out, "FromUserName", from_user);
        push_number(&mut out, "CreateTime", create_time);
        match self {
            Self::Text { content } => {
                push_field(&mut out, "MsgType", "text");
                push_field(&mut out, "Content", content);
            }
            Self::News { title, description, url, pic_url } => {
                push_field(&mut out, "MsgType", "news");
                push_number(&mut out, "ArticleCount", 1);
                out.push_str("<Articles><item>");
                push_field(&mut out, "Title", title);
                push_field(&mut out, "Description", description);
                push_field(&mut out, "PicUrl", pic_url);
                push_field(&mut out, "Url", url);
                out.push_str("</item></Articles>");
            }
        }
        out.push_str("</xml>");
        out
    }
}

/// The safe-mode reply wrapper around an encrypted reply.
pub fn encrypted_reply_xml(encrypt: &str, msg_signature: &str, timestamp: &str, nonce: &str) -> String {
    let mut out = String::with_capacity(encrypt.len() + 200);
    out.push_str("<xml>");
    push_field(&mut out, "Encrypt", encrypt);
    push_field(&mut out, "MsgSignature", msg_signature);
    out.push_str("<TimeStamp>");
    out.push_str(&escape(timestamp));
    out.push_str("</TimeStamp>");
    push_field(&mut out, "Nonce", nonce);
    out.push_str("</xml>");
    out
}

/// Text made safe for an XML (or HTML) text node or attribute value: markup characters
/// escaped by quick-xml, and the control characters XML 1.0 does not allow dropped. The one
/// escaper of the project: the simulator's page, code SVGs and chart SVGs use it too.
pub fn escape(text: &str) -> String {
    let allowed = |c: &char| !c.is_control() || matches!(c, '\t' | '\n' | '\r');
    if text.chars().all(|c| allowed(&c)) {
        quick_xml::escape::escape(text).into_owned()
    } else {
        quick_xml::escape::escape(text.chars().filter(allowed).collect::<String>()).into_owned()
    }
}

/// A parsed safe-mode reply (what WeChat reads back; used by the simulator and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedReply {
    /// The ciphertext.
    pub encrypt: String,
    /// Its signature.
    pub msg_signature: String,
    /// The timestamp signed.
    pub timestamp: String,
    /// The nonce signed.
    pub nonce: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawEncryptedReply {
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
    #[serde(rename = "MsgSignature")]
    msg_signature: Option<String>,
    #[serde(rename = "TimeStamp")]
    timestamp: Option<String>,
    #[serde(rename = "Nonce")]
    nonce: Option<String>,
}

/// Parses `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`.
pub fn parse_encrypted_reply(body: &str) -> Result<EncryptedReply, XmlError> {
    check_body(body)?;
    single_document(body)?;
    let raw: RawEncryptedReply = quick_xml::de::from_str(body).map_err(|e| XmlError::Malformed(e.to_string()))?;
    Ok(EncryptedReply {
        encrypt: non_empty(raw.encrypt).ok_or(XmlError::MissingField("Encrypt"))?,
        msg_signature: non_empty(raw.msg_signature).ok_or(XmlError::MissingField("MsgSignature"))?,
        timestamp: non_empty(raw.timestamp).ok_or(XmlError::MissingField("TimeStamp"))?,
        nonce: non_empty(raw.nonce).ok_or(XmlError::MissingField("Nonce"))?,
    })
}

/// Builds an event push as WeChat sends it (for the simulator and tests).
pub fn event_xml(to_user: &str, from_user: &str, create_time: i64, event: &str, event_key: Option<&str>, ticket: Option<&str>) -> String {
    let mut out = String::with_capacity(320);
    out.push_str("<xml>");
    push_field(&mut out, "ToUserName", to_user);
    push_field(&mut out, "FromUserName", from_user);
    push_number(&mut out, "CreateTime", create_time);
    push_field(&mut out, "MsgType", "event");
    push_field(&mut out, "Event", event);
    if let Some(key) = event_key {
        push_field(&mut out, "EventKey", key);
    }
    if let Some(ticket) = ticket {
        push_field(&mut out, "Ticket", ticket);
    }
    out.push_str("</xml>");
    out
}

/// Builds the encrypted envelope WeChat sends in safe mode (`plain_fields` = `None`) or
/// compatible mode (the plaintext push, whose fields are repeated next to `Encrypt`).
pub fn envelope_xml(to_user: &str, encrypt: &str, plain_push: Option<&str>) -> String {
    let mut out = String::with_capacity(encrypt.len() + 400);
    match plain_push.and_then(|p| p.trim().strip_prefix("<xml>")).and_then(|p| p.strip_suffix("</xml>")) {
        Some(inner) => {
            out.push_str("<xml>");
            out.push_str(inner);
        }
        None => {
            out.push_str("<xml>");
            push_field(&mut out, "ToUserName", to_user);
        }
    }
    push_field(&mut out, "Encrypt", encrypt);
    out.push_str("</xml>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escape_covers_markup_keeps_cjk_and_drops_what_xml_forbids() {
        assert_eq!(escape("<a & 'b'>\"春\""), "&lt;a &amp; &apos;b&apos;&gt;&quot;春&quot;");
        assert_eq!(escape("a\u{0}b\u{1b}c\td"), "abc\td");
        assert_eq!(escape("plain"), "plain");
    }

    const SUBSCRIBE: &str = "<xml><ToUserName><![CDATA[gh_abc]]></ToUserName>\
        <FromUserName><![CDATA[oUser1]]></FromUserName><CreateTime>1714037059</CreateTime>\
        <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>\
        <EventKey><![CDATA[qrscene_123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>";

    #[test]
    fn parses_subscribe_with_scene() {
        let m = InboundMessage::parse(SUBSCRIBE).unwrap();
        assert_eq!(m.to_user_name, "gh_abc");
        assert_eq!(m.from_user_name, "oUser1");
        assert_eq!(m.create_time, 1_714_037_059);
        assert_eq!(m.ticket.as_deref(), Some("TICKET"));
        assert_eq!(m.raw, SUBSCRIBE);
        assert_eq!(m.kind(), EventKind::Subscribe { scene: Some(Scene::Id(123)) });
    }

    #[test]
    fn parses_pretty_printed_and_unknown_fields() {
        let body = "<xml>\n  <ToUserName><![CDATA[gh_abc]]></ToUserName>\n  <FromUserName>oU</FromUserName>\n  \
            <CreateTime>1</CreateTime>\n  <MsgType><![CDATA[event]]></MsgType>\n  <Event>SCAN</Event>\n  \
            <EventKey><![CDATA[spring]]></EventKey>\n  <ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo>\n</xml>";
        let m = InboundMessage::parse(body).unwrap();
        assert_eq!(m.kind(), EventKind::Scan { scene: Scene::Str("spring".into()) });
    }

    #[test]
    fn classification() {
        assert_eq!(classify("event", Some("subscribe"), None), EventKind::Subscribe { scene: None });
        assert_eq!(classify("event", Some("subscribe"), Some("")), EventKind::Subscribe { scene: None });
        assert_eq!(
            classify("event", Some("subscribe"), Some("qrscene_spring")),
            EventKind::Subscribe { scene: Some(Scene::Str("spring".into())) }
        );
        assert_eq!(classify("event", Some("SCAN"), Some("100000")), EventKind::Scan { scene: Scene::Id(100_000) });
        assert_eq!(classify("event", Some("SCAN"), None), EventKind::Other);
        assert_eq!(classify("event", Some("unsubscribe"), None), EventKind::Unsubscribe);
        assert_eq!(classify("event", Some("CLICK"), Some("menu")), EventKind::Other);
        assert_eq!(classify("text", None, None), EventKind::Other);
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let evil = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><xml><ToUserName>&a;</ToUserName></xml>";
        assert_eq!(InboundMessage::parse(evil), Err(XmlError::Doctype));
        assert_eq!(InboundMessage::parse("<xml><!entity></xml>"), Err(XmlError::Doctype));
    }

    #[test]
    fn refuses_large_bodies() {
        let big = format!("<xml><A>{}</A></xml>", "x".repeat(MAX_BODY));
        assert!(matches!(InboundMessage::parse(&big), Err(XmlError::TooLarge { .. })));
    }

    #[test]
    fn refuses_malformed_and_incomplete() {
        assert!(matches!(InboundMessage::parse("<xml><ToUserName>"), Err(XmlError::Malformed(_)) | Err(XmlError::MissingField(_))));
        assert!(InboundMessage::parse("not xml at all").is_err());
        assert_eq!(InboundMessage::parse("<xml><ToUserName>a</ToUserName></xml>"), Err(XmlError::MissingField("FromUserName")));
        assert!(matches!(
            InboundMessage::parse(
                "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>x</CreateTime><MsgType>event</MsgType></xml>"
            ),
            Err(XmlError::Malformed(_))
        ));
    }

    #[test]
    fn envelope_parses() {
        let e = Envelope::parse("<xml><ToUserName><![CDATA[gh_abc]]></ToUserName><Encrypt><![CDATA[abc+/=]]></Encrypt></xml>").unwrap();
        assert_eq!(e.encrypt, "abc+/=");
        assert_eq!(e.to_user_name.as_deref(), Some("gh_abc"));
        assert_eq!(Envelope::parse("<xml><ToUserName>a</ToUserName></xml>"), Err(XmlError::MissingField("Encrypt")));
    }

    #[test]
    fn compat_envelope_keeps_plain_fields() {
        let xml = envelope_xml("gh_abc", "CIPHER", Some(SUBSCRIBE));
        assert_eq!(Envelope::parse(&xml).unwrap().encrypt, "CIPHER");
        assert_eq!(InboundMessage::parse(&xml).unwrap().from_user_name, "oUser1");
    }

    #[test]
    fn text_reply_round_trips_tricky_content() {
        let xml = Reply::Text { content: "a]]>b<c>&".into() }.to_xml("oUser1", "gh_abc", 5);
        #[derive(Deserialize)]
        struct R {
            #[serde(rename = "Content")]
            content: String,
            #[serde(rename = "MsgType")]
            msg_type: String,
        }
        let r: R = quick_xml::de::from_str(&xml).unwrap();
        assert_eq!(r.content, "a]]>b<c>&");
        assert_eq!(r.msg_type, "text");
    }

    #[test]
    fn news_reply_shape() {
        let xml = Reply::News { title: "T".into(), description: "D".into(), url: "https://u".into(), pic_url: "https://p".into() }
            .to_xml("o", "gh", 1);
        assert!(
            xml.contains("<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[T]]></Title>")
        );
        assert!(xml.contains("<Url><![CDATA[https://u]]></Url></item></Articles></xml>"));
    }

    #[test]
    fn event_xml_round_trips() {
        let xml = event_xml("gh", "o1", 9, "SCAN", Some("42"), Some("t+/="));
        let m = InboundMessage::parse(&xml).unwrap();
        assert_eq!(m.kind(), EventKind::Scan { scene: Scene::Id(42) });
        assert_eq!(m.ticket.as_deref(), Some("t+/="));
    }

    proptest! {
        #[test]
        fn parse_never_panics(body in "\\PC{0,400}") {
            let _ = InboundMessage::parse(&body);
            let _ = Envelope::parse(&body);
        }

        #[test]
        fn parse_never_panics_on_xmlish(body in "(<xml>|</xml>|<[A-Za-z]{1,8}>|</[A-Za-z]{1,8}>|<!\\[CDATA\\[|\\]\\]>|&[a-z]{1,4};|[a-z0-9 ]{0,5}){0,40}") {
            let _ = InboundMessage::parse(&body);
        }

        #[test]
        fn event_fields_round_trip(openid in "[A-Za-z0-9_-]{1,40}", key in "\\PC{1,64}", t in 0i64..4_000_000_000) {
            let xml = event_xml("gh_x", &openid, t, "SCAN", Some(&key), None);
            let m = InboundMessage::parse(&xml).unwrap();
            prop_assert_eq!(m.from_user_name, openid);
            prop_assert_eq!(m.create_time, t);
            prop_assert_eq!(m.event_key, Some(key.trim().to_owned()).filter(|k| !k.is_empty()));
        }
    }
}
