//! Verifying a Stripe signature on a 4 KiB body: header parsing, HMAC-SHA256, constant-time
//! comparison. Target: ≤ 10 µs (see `make bench`).
// criterion_group! generates a public function it cannot document.
#![allow(missing_docs)]
// A benchmark's fixed inputs are valid; a failure here is a broken benchmark.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stripe_signature::{SignatureHeader, SigningSecrets, sign, verify};

const SECRET: &str = "whsec_benchmark0000000000000000000000";
const OLD_SECRET: &str = "whsec_rotatedaway000000000000000000000";
const NOW: i64 = 1_760_000_000;

fn body() -> Vec<u8> {
    let mut body = br#"{"id":"evt_3PpFailedPaymentIntent01","type":"payment_intent.payment_failed","data":{"object":{"description":""#.to_vec();
    body.resize(4096 - 6, b'x');
    body.extend_from_slice(b"\"}}}\n\n");
    body
}

fn verification(c: &mut Criterion) {
    let body = body();
    let header = sign(SECRET, NOW, &body);
    let one = SigningSecrets::parse(SECRET).unwrap();
    // During a rotation the matching secret may be the second one tried.
    let rotating = SigningSecrets::parse(&format!("{OLD_SECRET},{SECRET}")).unwrap();

    let mut group = c.benchmark_group("signature");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("verify_4KiB", |b| {
        b.iter(|| {
            let parsed = SignatureHeader::parse(black_box(&header)).unwrap();
            verify(&parsed, black_box(&body), &one, NOW, 300)
        })
    });
    group.bench_function("verify_4KiB_second_of_two_secrets", |b| {
        b.iter(|| {
            let parsed = SignatureHeader::parse(black_box(&header)).unwrap();
            verify(&parsed, black_box(&body), &rotating, NOW, 300)
        })
    });
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
