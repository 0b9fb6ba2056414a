//! Hostile requests against the WeChat callback of a real running server, on SQLite and
//! PostgreSQL: entity expansion and external entities (also hidden in UTF-16 or inside a safe
//! mode envelope), a 10 MB body (sized and chunked), slow-loris bodies, invalid UTF-8, absurd
//! CreateTimes, a 10 000-character EventKey, wrong Content-Types, replays, and a flood of
//! unknown AppIDs. Each gets its documented status fast, stores nothing it should not, and the
//! server stays healthy: `/healthz` answers and a good push is still stored.
//!
//! Behaviour pinned here (README, "HTTP routes"):
//! - any DOCTYPE or ENTITY declaration: 400, before any parser sees it;
//! - a body over 64 KiB: 413; a body that has not fully arrived 5 s after the headers: 408,
//!   and the connection is closed;
//! - request headers that have not fully arrived 10 s after the request began: the connection
//!   is closed (hyper's header-read timeout, `server::http`);
//! - Content-Type is ignored: the body is always read as XML (WeChat sends `text/xml`), so a
//!   good push with another type is stored and anything that is not a push is 400;
//! - a signed push with an odd but well-formed field (a 10 000-character
//!   EventKey) is a push: stored once, with the EventKey cut to 128 characters;
//! - a body is one XML document: anything but whitespace after the root element (a second
//!   push, text, a comment), in plain or safe mode, inside the envelope or out, is 400.

mod support;

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use service::dual_test;
use service::testing::TestDb;
use std::time::{Duration, Instant};
use support::Running;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wechat::xml::{envelope_xml, event_xml};

const PLAIN: &str = "wx7000000000000001";
const SAFE: &str = "wx7000000000000002";
const TOKEN: &str = "hostiletoken";
const SAFE_TOKEN: &str = "hostilesafe";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH";
/// Every refusal must come this fast.
const FAST: Duration = Duration::from_secs(2);

struct H {
    r: Running,
}

async fn start(t: TestDb) -> H {
    let r = support::start(t).await;
    for (app_id, token, mode) in [(PLAIN, TOKEN, "plain"), (SAFE, SAFE_TOKEN, "safe")] {
        let input = service::accounts::AccountInput {
            name: format!("Hostile {mode}"),
            app_id: app_id.into(),
            app_secret: Some("secret".into()),
            token: token.into(),
            aes_key: (mode == "safe").then(|| AES_KEY.to_owned()),
            message_mode: mode.into(),
            api_base_url: Some("http://127.0.0.1:9".into()),
            timezone: None,
        };
        service::accounts::create(&r.state, input, None).await.unwrap();
    }
    H { r }
}

/// A query string signed now for an account with `token`.
fn signed_query(token: &str) -> String {
    support::query_string(&support::signed_now(token))
}

/// The query string of the safe-mode account's encrypted push, signed now.
fn safe_query(encrypt: &str) -> String {
    support::query_string(&support::signed_encrypted_now(SAFE_TOKEN, encrypt))
}

/// A good push from `openid` at `at`.
fn push_xml(openid: &str, at: i64) -> String {
    event_xml("gh_hostile", openid, at, "subscribe", None, None)
}

impl H {
    fn url(&self, app_id: &str) -> String {
        format!("{}/wechat/callback/{app_id}", self.r.base)
    }

    fn addr(&self) -> String {
        self.r.base.trim_start_matches("http://").to_owned()
    }

    /// A signed POST to the plaintext account: (status, body, how long it took).
    async fn post(&self, body: impl Into<reqwest::Body>, content_type: &str) -> (StatusCode, String, Duration) {
        self.post_to(&format!("{}?{}", self.url(PLAIN), signed_query(TOKEN)), body, content_type).await
    }

    async fn post_to(&self, url: &str, body: impl Into<reqwest::Body>, content_type: &str) -> (StatusCode, String, Duration) {
        let started = Instant::now();
        let res = self.r.http.post(url).header("content-type", content_type).body(body).send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, text, started.elapsed())
    }

    async fn events(&self) -> i64 {
        let db = &self.r.t.db;
        let row = db.query_one_raw(service::db::stmt(db.get_database_backend(), "SELECT COUNT(*) FROM events", vec![])).await.unwrap();
        row.unwrap().try_get_by_index::<i64>(0).unwrap()
    }

    /// `/healthz` answers 200 and a good push (new follower `openid`) is stored.
    async fn still_healthy(&self, openid: &str) {
        let res = self.r.http.get(format!("{}/healthz", self.r.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "healthz");
        let before = self.events().await;
        let (status, text, took) = self.post(push_xml(openid, 1_714_040_000), "text/xml").await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "success"));
        assert!(took < FAST, "{took:?}");
        assert_eq!(self.events().await, before + 1, "the good push was stored");
    }

    /// Expects `status` for `body`, fast, with nothing stored.
    async fn refused(&self, what: &str, body: impl Into<reqwest::Body>, content_type: &str, status: StatusCode) -> String {
        let before = self.events().await;
        let (got, text, took) = self.post(body, content_type).await;
        assert_eq!(got, status, "{what}: {text}");
        assert!(took < FAST, "{what} took {took:?}");
        assert_eq!(self.events().await, before, "{what}: nothing stored");
        text
    }
}

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>gh_hostile</ToUserName><FromUserName>&lol9;</FromUserName><CreateTime>1714037059</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>"#;

const XXE: &str = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName>gh_hostile</ToUserName><FromUserName>&xxe;</FromUserName><CreateTime>1714037059</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>"#;

/// UTF-16LE, with or without a BOM. Without one, ASCII in UTF-16 is valid UTF-8 byte-wise
/// (each character followed by a NUL), so the DOCTYPE check on the text does not see
/// "<!DOCTYPE"; the parser must still refuse it.
fn utf16(s: &str, bom: bool) -> Vec<u8> {
    let mut out = if bom { vec![0xff, 0xfe] } else { Vec::new() };
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

dual_test!(malicious_xml_is_refused_and_stores_nothing, |t: TestDb| async move {
    let h = start(t).await;
    let text = h.refused("billion laughs", BILLION_LAUGHS, "text/xml", StatusCode::BAD_REQUEST).await;
    assert!(text.len() < 200, "short error, no expansion: {text}");
    let text = h.refused("external entity", XXE, "text/xml", StatusCode::BAD_REQUEST).await;
    assert!(!text.contains("root:"), "{text}");
    h.refused("lowercase doctype", XXE.replace("DOCTYPE", "doctype"), "text/xml", StatusCode::BAD_REQUEST).await;
    h.refused("entity without doctype", XXE.replace("<!DOCTYPE xml [", "").replace("]>", ""), "text/xml", StatusCode::BAD_REQUEST).await;
    for bom in [true, false] {
        let text = h.refused("UTF-16 external entity", utf16(XXE, bom), "text/xml; charset=utf-16", StatusCode::BAD_REQUEST).await;
        assert!(!text.contains("root:"), "{text}");
        h.refused("UTF-16 billion laughs", utf16(BILLION_LAUGHS, bom), "text/xml; charset=utf-16", StatusCode::BAD_REQUEST).await;
    }
    h.refused("invalid UTF-8", vec![b'<', b'x', b'm', b'l', b'>', 0xff, 0xfe, 0xc3, 0x28, b'<'], "text/xml", StatusCode::BAD_REQUEST).await;
    h.refused(
        "CreateTime beyond i64",
        push_xml("oHuge", 0).replace("<CreateTime>0</CreateTime>", "<CreateTime>99999999999999999999</CreateTime>"),
        "text/xml",
        StatusCode::BAD_REQUEST,
    )
    .await;
    h.refused(
        "JSON",
        r#"{"ToUserName":"gh","FromUserName":"o1","CreateTime":1,"MsgType":"event"}"#,
        "application/json",
        StatusCode::BAD_REQUEST,
    )
    .await;
    h.refused("empty body", "", "text/xml", StatusCode::BAD_REQUEST).await;

    // The same attacks inside a safe-mode envelope, properly encrypted and signed: the
    // decrypted text is checked like any other.
    let crypt = wechat::MsgCrypt::new(AES_KEY, SAFE).unwrap();
    for (what, inner) in [("encrypted billion laughs", BILLION_LAUGHS), ("encrypted external entity", XXE)] {
        let encrypt = crypt.encrypt(inner).unwrap();
        let url = format!("{}?{}", h.url(SAFE), safe_query(&encrypt));
        let before = h.events().await;
        let (status, text, took) = h.post_to(&url, envelope_xml("gh_hostile", &encrypt, None), "text/xml").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {text}");
        assert!(took < FAST && !text.contains("root:"), "{what}");
        assert_eq!(h.events().await, before, "{what}");
    }
    // An envelope that itself carries a DOCTYPE.
    let url = format!("{}?{}&encrypt_type=aes&msg_signature={}", h.url(SAFE), signed_query(SAFE_TOKEN), "0".repeat(40));
    let (status, _, _) = h.post_to(&url, XXE.replace("<FromUserName>", "<Encrypt>x</Encrypt><FromUserName>"), "text/xml").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Unsigned, the same bodies are 403 (the signature is checked before the body is parsed).
    let (status, _, _) = h.post_to(&h.url(PLAIN), BILLION_LAUGHS, "text/xml").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    assert_eq!(h.events().await, 0);
    h.still_healthy("oAfterXml").await;
});

dual_test!(a_body_of_more_than_one_document_is_refused, |t: TestDb| async move {
    let h = start(t).await;
    // Plaintext: a second push, text or a comment after the root element is 400, stored never.
    let (one, two) = (push_xml("oFirst", 1_714_037_000), push_xml("oSecond", 1_714_037_001));
    for (what, body) in [
        ("two pushes", format!("{one}{two}")),
        ("two pushes, a line apart", format!("{one}\n{two}\n")),
        ("garbage after </xml>", one.replace("</xml>", "</xml>garbage")),
        ("a comment after the root", format!("{one}<!-- more -->")),
    ] {
        h.refused(what, body, "text/xml", StatusCode::BAD_REQUEST).await;
    }
    // Safe mode, properly signed: a second envelope after the first, and one whose decrypted
    // push is followed by a second push.
    let crypt = wechat::MsgCrypt::new(AES_KEY, SAFE).unwrap();
    for (what, outer, inner) in [("two envelopes", 2, one.clone()), ("two pushes inside the envelope", 1, format!("{one}{two}"))] {
        let encrypt = crypt.encrypt(&inner).unwrap();
        let url = format!("{}?{}", h.url(SAFE), safe_query(&encrypt));
        let (status, text, took) = h.post_to(&url, envelope_xml("gh_hostile", &encrypt, None).repeat(outer), "text/xml").await;
        assert_eq!((status, took < FAST), (StatusCode::BAD_REQUEST, true), "{what}: {text}");
    }
    assert_eq!(h.events().await, 0, "nothing stored");
    // Whitespace after the root is still one document.
    let (status, text, _) = h.post(format!("{one}\r\n \t\n"), "text/xml").await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "success"));
    assert_eq!(h.events().await, 1);
});

/// Sends the request head, then `step` bytes of a `len`-byte body every `every`, until the
/// server answers or closes (or `give_up` passes). Returns the status line (None: closed
/// without an answer) and when that happened.
async fn trickle(addr: &str, path: &str, len: usize, step: usize, every: Duration, give_up: Duration) -> (Option<String>, Duration) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml\r\nContent-Length: {len}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        while sent + step < len {
            tokio::time::sleep(every).await;
            if wr.write_all(&vec![b' '; step]).await.is_err() {
                return;
            }
            sent += step;
        }
        // Never the last byte: the body stays incomplete.
        std::future::pending::<()>().await;
    });
    let outcome = first_line_or_close(&mut rd, give_up, "the server waits for a trickled body forever").await;
    writer.abort();
    (outcome, started.elapsed())
}

/// The first line the server sends (None: it closed without a word); panics with `hangs`
/// when neither happens within `give_up`.
async fn first_line_or_close(rd: &mut tokio::net::tcp::OwnedReadHalf, give_up: Duration, hangs: &str) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(give_up, rd.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => None,
        Ok(Ok(n)) => Some(String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()),
        Err(_) => panic!("no answer and no close within {give_up:?}: {hangs}"),
    }
}

/// Sends `head`, then `body` from another task (the server may answer and close before it
/// is all written: write errors are expected), and returns the answer's status line and how
/// long it took. A raw socket, because an HTTP client reports a refused upload as its own
/// write error instead of the server's answer.
async fn upload(addr: &str, head: String, body: Vec<Vec<u8>>) -> (String, Duration) {
    let started = Instant::now();
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        if wr.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for piece in body {
            if wr.write_all(&piece).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    });
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(FAST, rd.read(&mut buf)).await.expect("an answer in time").unwrap();
    writer.abort();
    (String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned(), started.elapsed())
}

dual_test!(oversized_and_slow_bodies_are_cut_off, |t: TestDb| async move {
    let h = start(t).await;
    let path = format!("/wechat/callback/{PLAIN}?{}", signed_query(TOKEN));
    let ten_mb = 10 * 1024 * 1024;

    // 10 MB with a Content-Length: 413 before the body is read.
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {ten_mb}\r\n\r\n");
    let body = (0..160).map(|_| vec![b'x'; 64 * 1024]).collect();
    let (status_line, took) = upload(&h.addr(), head, body).await;
    assert!(status_line.contains(" 413 "), "{status_line}");
    assert!(took < FAST, "{took:?}");

    // 10 MB chunked (no length announced): cut off at the 64 KiB cap, also 413.
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut body: Vec<Vec<u8>> = (0..160).map(|_| format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024)).into_bytes()).collect();
    body.push(b"0\r\n\r\n".to_vec());
    let (status_line, took) = upload(&h.addr(), head, body).await;
    assert!(status_line.contains(" 413 "), "{status_line}");
    assert!(took < FAST, "{took:?}");

    // Just over the cap, through an ordinary client: 413 too.
    h.refused("65 KiB body", vec![b'x'; 65 * 1024], "text/xml", StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(h.events().await, 0);

    // Slow loris: headers, then a few bytes every 500 ms. Ten at once; the server answers 408
    // within ~5 s (or closes), and meanwhile serves everyone else.
    let mut lorises = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (addr, path) = (h.addr(), path.clone());
        lorises.spawn(async move { trickle(&addr, &path, 2000, 5, Duration::from_millis(500), Duration::from_secs(12)).await });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let res = h.r.http.get(format!("{}/healthz", h.r.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "served while lorises trickle");
    let (status, _, took) = h.post(push_xml("oDuringLoris", 1_714_039_000), "text/xml").await;
    assert_eq!(status, StatusCode::OK);
    assert!(took < FAST, "{took:?}");
    while let Some(r) = lorises.join_next().await {
        let (outcome, took) = r.unwrap();
        assert!(took < Duration::from_secs(10), "cut off in time: {took:?}");
        if let Some(line) = outcome {
            assert!(line.contains(" 408 "), "{line}");
        }
    }
    assert_eq!(h.events().await, 1, "only the good push");
    h.still_healthy("oAfterBodies").await;
});

/// Sends a request line and one header, then one more header byte every `every`, never
/// finishing the head. Returns the first line the server sent (None: it closed silently) and
/// when the connection ended.
async fn trickle_headers(addr: &str, path: &str, every: Duration, give_up: Duration) -> (Option<String>, Duration) {
    let s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let (mut rd, mut wr) = s.into_split();
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    let writer = tokio::spawn(async move {
        if wr.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(every).await;
            if wr.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let outcome = first_line_or_close(&mut rd, give_up, "trickled headers hold the connection for ever").await;
    writer.abort();
    (outcome, started.elapsed())
}

dual_test!(trickled_headers_are_cut_off, |t: TestDb| async move {
    // Slow loris on the head itself: a header byte every 500 ms keeps any per-read timer
    // happy; only a deadline for the whole head (server::http::HEADER_READ_TIMEOUT) ends it.
    let h = start(t).await;
    let path = format!("/wechat/callback/{PLAIN}?{}", signed_query(TOKEN));
    let limit = server::http::HEADER_READ_TIMEOUT;
    let mut lorises = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (addr, path) = (h.addr(), path.clone());
        lorises.spawn(async move { trickle_headers(&addr, &path, Duration::from_millis(500), limit + Duration::from_secs(5)).await });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, _, took) = h.post(push_xml("oDuringHeaderLoris", 1_714_039_500), "text/xml").await;
    assert_eq!(status, StatusCode::OK, "served while the heads trickle");
    assert!(took < FAST, "{took:?}");
    while let Some(r) = lorises.join_next().await {
        let (outcome, took) = r.unwrap();
        assert!(took >= limit - Duration::from_secs(1), "not cut off before the deadline: {took:?}");
        assert!(took < limit + Duration::from_secs(3), "cut off at the deadline: {took:?}");
        if let Some(line) = outcome {
            assert!(line.contains(" 408 "), "{line}");
        }
    }
    assert_eq!(h.events().await, 1, "only the good push");
    h.still_healthy("oAfterHeaderLoris").await;
});

dual_test!(odd_but_signed_pushes_and_replays, |t: TestDb| async move {
    let h = start(t).await;
    let db = h.r.t.db.clone();
    let backend = db.get_database_backend();
    let rows = |sql: &'static str| {
        let db = db.clone();
        async move { db.query_all_raw(service::db::stmt(backend, sql, vec![])).await.unwrap() }
    };

    // A replayed push (WeChat's retry, or someone resending a captured request): 200 each
    // time, stored once.
    let xml = push_xml("oReplay", 1_714_037_000);
    for _ in 0..3 {
        let (status, text, took) = h.post(xml.clone(), "text/xml").await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "success"));
        assert!(took < FAST);
    }
    assert_eq!(h.events().await, 1);

    // Another Content-Type does not matter: the body is read as XML.
    for (i, ct) in
        ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "image/png"].into_iter().enumerate()
    {
        let (status, text, took) = h.post(push_xml(&format!("oType{i}"), 1_714_037_100), ct).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "success"), "{ct}");
        assert!(took < FAST);
    }
    assert_eq!(h.events().await, 5);

    // A 10 000-character EventKey: a well-formed signed push, stored once with the key cut to
    // the column's 128 characters, attributed to no campaign.
    let long = "k".repeat(10_000);
    for event in ["SCAN", "subscribe"] {
        let key = if event == "SCAN" { long.clone() } else { format!("qrscene_{long}") };
        let xml = event_xml("gh_hostile", "oLongKey", 1_714_037_200, event, Some(&key), None);
        for _ in 0..2 {
            let (status, text, took) = h.post(xml.clone(), "text/xml").await;
            assert_eq!((status, text.as_str()), (StatusCode::OK, "success"), "{event}");
            assert!(took < FAST);
        }
    }
    let stored = rows("SELECT event_key, campaign_id FROM events WHERE openid = 'oLongKey' ORDER BY id").await;
    assert_eq!(stored.len(), 2, "each stored once");
    for r in &stored {
        let key: String = r.try_get_by_index(0).unwrap();
        assert!(key.chars().count() <= 128, "{}", key.len());
        assert_eq!(r.try_get_by_index::<Option<i32>>(1).unwrap(), None);
    }

    // A negative CreateTime (before 1970) or one past 2106 is no real push: 400, nothing stored.
    for when in [-1, i64::from(u32::MAX) + 1] {
        let (status, _, took) = h.post(push_xml("oPast", when), "text/xml").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "CreateTime {when}");
        assert!(took < FAST);
    }
    assert!(rows("SELECT create_time FROM events WHERE openid = 'oPast'").await.is_empty());

    // Nothing of it reached a campaign or a counter it should not.
    assert_eq!(rows("SELECT campaign_id FROM campaign_hourly").await.len(), 0);
    h.still_healthy("oAfterOdd").await;
});

dual_test!(a_flood_of_unknown_app_ids_is_404_and_harmless, |t: TestDb| async move {
    let h = start(t).await;
    let started = Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..2000u64 {
        let (http, base, sem) = (h.r.http.clone(), h.r.base.clone(), sem.clone());
        flood.spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            // Well-formed AppIDs, and now and then something that is not one.
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555_5555;
            let app_id = match i % 10 {
                0 => "wx".to_owned() + &"f".repeat(300),
                1 => format!("..%2F..%2Fetc%2Fpasswd{i}"),
                _ => format!("wx{x:016x}"),
            };
            let t0 = Instant::now();
            let res = http
                .post(format!("{base}/wechat/callback/{app_id}?{}", signed_query(TOKEN)))
                .header("content-type", "text/xml")
                .body(push_xml("oFlood", 1_714_037_000))
                .send()
                .await
                .unwrap();
            (res.status(), t0.elapsed())
        });
    }
    let mut slowest = Duration::ZERO;
    while let Some(r) = flood.join_next().await {
        let (status, took) = r.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        slowest = slowest.max(took);
    }
    assert!(slowest < FAST, "slowest 404 took {slowest:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "2000 requests took {:?}", started.elapsed());
    assert_eq!(h.events().await, 0);
    h.still_healthy("oAfterFlood").await;
});
