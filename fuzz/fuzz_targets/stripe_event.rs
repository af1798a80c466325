//! Event validation: any body, as the API and the worker receive it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_event::StripeEvent;

fuzz_target!(|body: &[u8]| {
    if let Ok(event) = StripeEvent::parse(body) {
        // What the worker reads from a valid event must not panic either.
        let _ = (event.customer_id(), event.account(), event.object_str("status"));
        assert!(event.id().as_str().starts_with("evt_"));
    }
});
