//! Parsing and validating a Stripe event (the API's check before queueing, and the worker's
//! first step for each message).
// criterion_group! generates a public function it cannot document.
#![allow(missing_docs)]
// A benchmark's fixed inputs are valid; a failure here is a broken benchmark.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use webhook_event::StripeEvent;

const PAYMENT_FAILED: &[u8] = include_bytes!("../../../events/stripe/payment_intent.payment_failed.json");
const SUBSCRIPTION_UPDATED: &[u8] =
    include_bytes!("../../../events/stripe/customer.subscription.updated.json");

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("event");
    for (name, body) in [
        ("parse_and_validate_payment_intent", PAYMENT_FAILED),
        ("parse_and_validate_subscription", SUBSCRIPTION_UPDATED),
    ] {
        StripeEvent::parse(body).unwrap();
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| b.iter(|| StripeEvent::parse(black_box(body))));
    }
    group.finish();
}

criterion_group!(benches, validation);
criterion_main!(benches);
