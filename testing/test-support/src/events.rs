//! The sample events kept in the repository's `events/` folder.

use serde_json::Value;

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

/// An API Gateway event from one of the sample envelopes, with the parts a test varies:
/// method, path, headers, body. The body is sent as text, or base64-encoded as API Gateway does
/// for binary media types (and must be, when it is not UTF-8).
#[derive(Debug, Clone)]
pub struct GatewayEvent {
    envelope: &'static str,
    method: String,
    path: String,
    /// Replaces any header of that name (in any case); `None` removes it.
    headers: Vec<(String, Option<String>)>,
    body: Vec<u8>,
    base64: bool,
    /// The `body` field exactly as given, whatever `base64` says (a malformed envelope).
    raw_body: Option<String>,
}

impl GatewayEvent {
    /// A REST API (payload v1) `POST /webhooks/stripe` with the sample's headers and `body`.
    pub fn rest(body: &[u8]) -> Self {
        Self::from_envelope("apigw-rest-request", body)
    }

    /// An HTTP API (payload v2) `POST /webhooks/stripe` with the sample's headers and `body`.
    pub fn http(body: &[u8]) -> Self {
        Self::from_envelope("apigw-http-request", body)
    }

    fn from_envelope(envelope: &'static str, body: &[u8]) -> Self {
        Self {
            envelope,
            method: "POST".to_owned(),
            path: "/webhooks/stripe".to_owned(),
            headers: Vec::new(),
            body: body.to_vec(),
            base64: false,
            raw_body: None,
        }
    }

    /// The request's HTTP method.
    pub fn method(mut self, method: &str) -> Self {
        method.clone_into(&mut self.method);
        self
    }

    /// The request's path.
    pub fn path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.path);
        self
    }

    /// Sets (`Some`) or removes (`None`) a header.
    pub fn header(mut self, name: &str, value: Option<&str>) -> Self {
        self.headers.push((name.to_owned(), value.map(str::to_owned)));
        self
    }

    /// Whether the body is base64-encoded, as API Gateway marks binary bodies.
    pub fn base64(mut self, base64: bool) -> Self {
        self.base64 = base64;
        self
    }

    /// Puts `text` in the `body` field as is (with `base64(true)`: a body that claims to be
    /// base64 and is not).
    pub fn raw_body(mut self, text: &str) -> Self {
        self.raw_body = Some(text.to_owned());
        self
    }

    /// The event as Lambda delivers it.
    pub fn to_json(&self) -> String {
        use base64::Engine as _;
        let mut event = lambda(self.envelope);
        if self.envelope == "apigw-rest-request" {
            event["httpMethod"] = Value::from(self.method.clone());
            event["path"] = Value::from(self.path.clone());
            event["requestContext"]["httpMethod"] = Value::from(self.method.clone());
            event["requestContext"]["path"] = Value::from(format!("/prod{}", self.path));
        } else {
            event["rawPath"] = Value::from(self.path.clone());
            event["requestContext"]["http"]["method"] = Value::from(self.method.clone());
            event["requestContext"]["http"]["path"] = Value::from(self.path.clone());
        }
        let headers = event["headers"]
            .as_object_mut()
            .expect("the envelope has headers");
        for (name, value) in &self.headers {
            headers.retain(|existing, _| !existing.eq_ignore_ascii_case(name));
            if let Some(value) = value {
                headers.insert(name.clone(), Value::from(value.clone()));
            }
        }
        if let Some(multi) = event.get_mut("multiValueHeaders").and_then(Value::as_object_mut) {
            for (name, _) in &self.headers {
                multi.retain(|existing, _| !existing.eq_ignore_ascii_case(name));
            }
        }
        event["body"] = if let Some(raw) = &self.raw_body {
            Value::from(raw.clone())
        } else if self.base64 {
            Value::from(base64::engine::general_purpose::STANDARD.encode(&self.body))
        } else {
            Value::from(
                String::from_utf8(self.body.clone()).expect("a text body is UTF-8; send others as base64"),
            )
        };
        event["isBase64Encoded"] = Value::from(self.base64);
        event.to_string()
    }
}
