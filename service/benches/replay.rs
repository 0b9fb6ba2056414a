//! Per-push cost of the callback's replay check (`ingest::ReplayGuard::admit`): the window,
//! a SHA-256 of the body, and the binding map held full (50 000 bindings, the oldest evicted
//! as new ones come). Figures go to BENCHMARKS.md.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use service::ingest::{ReplayGuard, Verdict};

fn bench(c: &mut Criterion) {
    let body = wechat::xml::event_xml(
        "gh_0123456789ab",
        "oABCDEFGHIJKLMNOPQRSTUVWXYZ0",
        1_714_037_059,
        "subscribe",
        Some("qrscene_spring-poster"),
        None,
    );
    let now = 1_800_000_000_i64;
    let ts = now.to_string();
    let guard = ReplayGuard::new(300);
    let mut nonce = 0u64;
    // Steady state: the map full, each push a new triple.
    for _ in 0..service::ingest::MAX_BINDINGS {
        nonce += 1;
        guard.admit(1, &ts, &nonce.to_string(), "899cf89e464efb63f54ddac96b0a0a235f53aa78", body.as_bytes(), now);
    }
    c.bench_function("replay check, new triple, 50 000 held", |b| {
        b.iter(|| {
            nonce += 1;
            let v = guard.admit(1, &ts, &nonce.to_string(), "899cf89e464efb63f54ddac96b0a0a235f53aa78", black_box(body.as_bytes()), now);
            assert_eq!(v, Verdict::Fresh);
        })
    });
    c.bench_function("replay check, WeChat's retry", |b| {
        b.iter(|| guard.admit(1, &ts, &nonce.to_string(), "899cf89e464efb63f54ddac96b0a0a235f53aa78", black_box(body.as_bytes()), now))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
