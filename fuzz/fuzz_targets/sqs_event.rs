//! The worker's input: any JSON as a Lambda SQS event, and every record's body as an event.
#![no_main]

use aws_lambda_events::sqs::SqsEvent;
use libfuzzer_sys::fuzz_target;
use webhook_event::StripeEvent;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = serde_json::from_slice::<SqsEvent>(data) {
        for record in &event.records {
            let body = record.body.as_deref().unwrap_or_default();
            let _ = StripeEvent::parse(body.as_bytes());
        }
    }
});
