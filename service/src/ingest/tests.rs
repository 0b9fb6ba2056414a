//! Unit tests of the push's shape: the dedupe key, cut values, welcome replies, hour buckets.

use super::*;

fn msg(xml: &str) -> InboundMessage {
    InboundMessage::parse(xml).unwrap()
}

#[test]
fn dedupe_key_of_events_and_messages() {
    let e = msg(&wechat::xml::event_xml("gh_a", "o1", 7, "subscribe", Some("qrscene_5"), Some("T")));
    let p = Push::new(1, &e, Utc::now());
    assert_eq!((p.event.as_str(), p.event_key.as_str(), p.ticket.as_deref()), ("subscribe", "qrscene_5", Some("T")));
    let u = msg(&wechat::xml::event_xml("gh_a", "o1", 8, "unsubscribe", Some(""), None));
    assert_eq!(Push::new(1, &u, Utc::now()).event_key, "");
    let text = msg("<xml><ToUserName>gh_a</ToUserName><FromUserName>o1</FromUserName><CreateTime>9</CreateTime>\
        <MsgType><![CDATA[text]]></MsgType><Content>hi</Content><MsgId>  <![CDATA[2345]]> </MsgId></xml>");
    let p = Push::new(1, &text, Utc::now());
    assert_eq!((p.event.as_str(), p.event_key.as_str()), ("text", "2345"));
}

#[test]
fn oversized_and_nul_values_are_cut_to_the_columns() {
    let key = format!("{}\0x", "k".repeat(300));
    let e = msg(&wechat::xml::event_xml("gh_a", &"o".repeat(100), 7, "CLICK", Some(&key), None));
    let p = Push::new(1, &e, Utc::now());
    assert_eq!(p.openid.chars().count(), OPENID_MAX);
    assert_eq!(p.event_key, "k".repeat(EVENT_KEY_MAX));
}

#[test]
fn welcome_messages() {
    assert_eq!(welcome_reply(r#"{"type":"text","content":"hi"}"#), Some(Reply::Text { content: "hi".into() }));
    assert_eq!(
        welcome_reply(r#"{"type":"news","title":"T","description":"D","url":"https://u","pic_url":"https://p"}"#),
        Some(Reply::News { title: "T".into(), description: "D".into(), url: "https://u".into(), pic_url: "https://p".into() })
    );
    assert_eq!(welcome_reply(r#"{"type":"text","content":"  "}"#), None);
    assert_eq!(welcome_reply("not json"), None);
    assert_eq!(welcome_reply(r#"{"type":"video"}"#), None);
}

#[test]
fn hours() {
    assert_eq!(hour_bucket(1_714_035_600), 1_714_035_600);
    assert_eq!(hour_bucket(1_714_039_199), 1_714_035_600);
    assert_eq!(hour_bucket(-1), -3600);
}
