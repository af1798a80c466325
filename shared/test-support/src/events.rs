//! The sample events kept in the repository's `events/` folder.

use crate::workspace_root;

/// A sample Stripe event, e.g. `stripe("invoice.payment_failed")`, as its raw bytes.
pub fn stripe(event_type: &str) -> Vec<u8> {
    read(&format!("events/stripe/{event_type}.json"))
}

/// A Lambda event envelope, e.g. `lambda("apigw-rest-request")`, parsed.
pub fn lambda(name: &str) -> serde_json::Value {
    let bytes = read(&format!("events/lambda/{name}.json"));
    serde_json::from_slice(&bytes).unwrap_or_else(|error| panic!("events/lambda/{name}.json: {error}"))
}

fn read(relative: &str) -> Vec<u8> {
    let path = workspace_root().join(relative);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
