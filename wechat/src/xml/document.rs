//! One body, one XML document: serde's reader stops at the end of the root element, so
//! `<xml>…</xml><xml>…</xml>` or `</xml>garbage` would otherwise pass as the first push alone.
//! Every reader in [`crate::xml`] runs [`single_document`] before deserializing.

use quick_xml::events::Event;

use crate::error::XmlError;

/// Refuses a body that is not exactly one XML document. Whitespace may follow the root
/// element; before it only whitespace, the XML declaration, comments and processing
/// instructions may stand. A body without any root is left to the deserializer, which names
/// what is missing.
pub(crate) fn single_document(body: &str) -> Result<(), XmlError> {
    // XML's whitespace (not Rust's, which also counts form feeds).
    let blank = |t: &[u8]| t.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    let mut reader = quick_xml::Reader::from_str(body);
    let (mut depth, mut done) = (0usize, false);
    loop {
        match reader.read_event().map_err(|e| XmlError::Malformed(e.to_string()))? {
            Event::Eof => return Ok(()),
            Event::Text(t) if depth == 0 && blank(&t) => {}
            _ if done => return Err(XmlError::Malformed("content after the root element".into())),
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                depth = depth.checked_sub(1).ok_or_else(|| XmlError::Malformed("an end tag without its start".into()))?;
                done = depth == 0;
            }
            Event::Empty(_) => done = depth == 0,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) if depth == 0 => {}
            _ if depth == 0 => return Err(XmlError::Malformed("content before the root element".into())),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{Envelope, InboundMessage, encrypted_reply_xml, event_xml, parse_encrypted_reply};
    use proptest::prelude::*;

    fn push() -> String {
        event_xml("gh_abc", "oUser1", 1_714_037_059, "subscribe", Some("qrscene_123"), Some("TICKET"))
    }

    fn after_root() -> Result<InboundMessage, XmlError> {
        Err(XmlError::Malformed("content after the root element".into()))
    }

    #[test]
    fn refuses_content_after_the_root() {
        let push = push();
        let tails = ["<xml><ToUserName>gh_x</ToUserName></xml>", "garbage", "<x/>", "<!-- c -->", "<?pi x?>", "<![CDATA[x]]>", " \n x"];
        for tail in tails {
            let body = format!("{push}{tail}");
            assert_eq!(InboundMessage::parse(&body), after_root(), "{body}");
        }
        // A second push glued to the first.
        assert_eq!(InboundMessage::parse(&format!("{push}{push}")), after_root());
        // Text or a second element before the root is no single document either.
        assert!(matches!(InboundMessage::parse(&format!("junk{push}")), Err(XmlError::Malformed(_))));
        assert!(matches!(InboundMessage::parse(&format!("<a/>{push}")), Err(XmlError::Malformed(_))));
    }

    #[test]
    fn whitespace_a_declaration_and_comments_around_the_root_are_fine() {
        let push = push();
        let bodies = [
            format!("{push} \r\n\t"),
            format!("\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a push -->\n{push}\n"),
            format!("\u{feff}{push}"),
        ];
        for body in bodies {
            assert_eq!(InboundMessage::parse(&body).map(|m| m.from_user_name), Ok("oUser1".to_owned()), "{body:?}");
        }
    }

    #[test]
    fn envelopes_and_encrypted_replies_are_one_document_too() {
        let envelope = "<xml><ToUserName>gh_abc</ToUserName><Encrypt>abc</Encrypt></xml>";
        assert_eq!(Envelope::parse(&format!("{envelope}\n")).map(|e| e.encrypt), Ok("abc".to_owned()));
        for body in [format!("{envelope}{envelope}"), format!("{envelope}x")] {
            assert_eq!(Envelope::parse(&body), Err(XmlError::Malformed("content after the root element".into())), "{body}");
        }
        let reply = encrypted_reply_xml("E", "S", "1", "N");
        assert_eq!(parse_encrypted_reply(&reply).map(|r| r.encrypt), Ok("E".to_owned()));
        assert!(matches!(parse_encrypted_reply(&format!("{reply}<xml/>")), Err(XmlError::Malformed(_))));
    }

    proptest! {
        #[test]
        fn anything_but_whitespace_after_a_push_is_refused(tail in "[ \t\r\n]{0,3}[^ \t\r\n][\\PC\n]{0,40}") {
            let body = format!("{}{tail}", push());
            prop_assert!(matches!(InboundMessage::parse(&body), Err(XmlError::Malformed(_))), "{}", body);
        }
    }
}
