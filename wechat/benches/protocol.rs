//! Per-event cost of the callback protocol: signature check, AES decrypt, XML parse, and the
//! whole safe-mode open. Figures go to BENCHMARKS.md.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use wechat::crypto::{msg_signature, verify_signature};
use wechat::{CallbackQuery, EncryptMode, InboundMessage, MsgCrypt, open_push};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP: &str = "wxba5fad812f8e6fb9";

fn event() -> String {
    wechat::xml::event_xml(
        "gh_0123456789ab",
        "oABCDEFGHIJKLMNOPQRSTUVWXYZ0",
        1_714_037_059,
        "subscribe",
        Some("qrscene_spring-poster"),
        Some("gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw=="),
    )
}

fn bench(c: &mut Criterion) {
    let xml = event();
    let crypt = MsgCrypt::new(KEY, APP).expect("key");
    let encrypt = crypt.encrypt(&xml).expect("encrypt");

    c.bench_function("signature check", |b| {
        b.iter(|| {
            verify_signature(
                black_box("AAAAA"),
                black_box("1714037059"),
                black_box("486452656"),
                black_box("899cf89e464efb63f54ddac96b0a0a235f53aa78"),
            )
        })
    });
    c.bench_function("decrypt event", |b| b.iter(|| crypt.decrypt(black_box(&encrypt))));
    c.bench_function("parse event XML", |b| b.iter(|| InboundMessage::parse(black_box(&xml))));

    let body = wechat::xml::envelope_xml("gh_0123456789ab", &encrypt, None);
    let query = CallbackQuery {
        timestamp: Some("1714037059".into()),
        nonce: Some("486452656".into()),
        encrypt_type: Some("aes".into()),
        msg_signature: Some(msg_signature("AAAAA", "1714037059", "486452656", &encrypt)),
        ..Default::default()
    };
    c.bench_function("open safe-mode push (verify + decrypt + parse)", |b| {
        b.iter(|| open_push("AAAAA", EncryptMode::Safe, Some(&crypt), black_box(&query), black_box(&body)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
