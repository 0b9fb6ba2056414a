//! A refused push learns nothing but its status: one fixed text per status, whichever check
//! failed (signature, mode, base64, length, padding, the AppID inside, the XML), and never a
//! piece of decrypted text. Otherwise the answers would be a decryption oracle.

mod support;

use reqwest::StatusCode;
use server::routes::callback::{REFUSED_MALFORMED, REFUSED_SIGNATURE};
use service::dual_test;
use service::testing::TestDb;
use wechat::xml::{envelope_xml, event_xml};

const APP: &str = "wx7100000000000001";
const OTHER: &str = "wx7100000000000999";
const TOKEN: &str = "oracletoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH";

dual_test!(every_refusal_of_a_status_reads_the_same, |t: TestDb| async move {
    let r = support::start(t).await;
    let input = service::accounts::AccountInput {
        name: "Oracle".into(),
        app_id: APP.into(),
        app_secret: Some("secret".into()),
        token: TOKEN.into(),
        aes_key: Some(KEY.into()),
        message_mode: "safe".into(),
        api_base_url: Some("http://127.0.0.1:9".into()),
        timezone: None,
    };
    service::accounts::create(&r.state, input, None).await.unwrap();
    let url = format!("{}/wechat/callback/{APP}", r.base);
    let post = |encrypt: String, signature: Option<String>| {
        let mut query = support::signed_encrypted_now(TOKEN, &encrypt);
        if let Some(signature) = signature {
            query.last_mut().expect("msg_signature").1 = signature;
        }
        let query = support::query_string(&query);
        let req = r.http.post(format!("{url}?{query}")).body(envelope_xml("gh_oracle", &encrypt, None));
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let push = event_xml("gh_oracle", "oOracle", 1_714_037_059, "subscribe", None, None);
    let ours = wechat::MsgCrypt::new(KEY, APP).unwrap();
    let theirs = wechat::MsgCrypt::new(KEY, OTHER).unwrap();
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let malformed = [
        ("encrypted for another AppID", theirs.encrypt(&push).unwrap()),
        ("not base64", "***".to_owned()),
        ("a length that is no multiple of the block", b64(&[7u8; 33])),
        ("bad padding", b64(&[0u8; 32])),
        ("decrypted text that is not XML", ours.encrypt("hello, not xml").unwrap()),
    ];
    for (what, encrypt) in malformed {
        let (status, body) = post(encrypt, None).await;
        assert_eq!((status, body.as_str()), (StatusCode::BAD_REQUEST, REFUSED_MALFORMED), "{what}");
    }
    let (status, body) = post(ours.encrypt(&push).unwrap(), Some("0".repeat(40))).await;
    assert_eq!((status, body.as_str()), (StatusCode::FORBIDDEN, REFUSED_SIGNATURE), "a bad msg_signature");
    // A plaintext push to an account in safe mode: refused as unsigned, in the same words.
    let query = support::query_string(&support::signed_now(TOKEN));
    let res = r.http.post(format!("{url}?{query}")).body(push.clone()).send().await.unwrap();
    assert_eq!((res.status(), res.text().await.unwrap()), (StatusCode::FORBIDDEN, REFUSED_SIGNATURE.to_owned()), "plaintext to safe mode");
    // And a good one still goes through.
    let (status, _) = post(ours.encrypt(&push).unwrap(), None).await;
    assert_eq!(status, StatusCode::OK);
});
