//! Event validation: any body, as the API and the worker receive it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_event::StripeEvent;

fuzz_target!(|body: &[u8]| {
    match StripeEvent::parse(body) {
        Ok(event) => {
            // What the worker reads from a valid event must not panic either.
            let _ = (event.customer_id(), event.account(), event.object_str("status"));
            assert!(event.id().as_str().starts_with("evt_"));
        }
        // `malformed_json` is for a body that is not JSON at all; JSON of the wrong shape is
        // `invalid_event`. (A property test found `"data": [{}, null]` reported as malformed.)
        Err(error) => {
            let is_json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
            assert_eq!(error.code() == "malformed_json", !is_json, "{error}");
        }
    }
});
