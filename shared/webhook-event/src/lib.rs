#![doc = include_str!("../README.md")]

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

mod envelope;

pub use envelope::{Envelope, EnvelopeError};

/// The longest event id or type accepted; Stripe's are far shorter.
const MAX_IDENTIFIER_LEN: usize = 255;

/// Why a body is not an acceptable Stripe event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body is not JSON at all (syntax error, truncated, not UTF-8, nested too deep).
    #[error("body is not valid JSON: {0}")]
    Malformed(String),
    /// The body is JSON but not a valid event; the message names the field.
    #[error("{0}")]
    Invalid(String),
}

impl EventError {
    /// The stable error code the HTTP API and span attributes use.
    pub fn code(&self) -> &'static str {
        match self {
            EventError::Malformed(_) => "malformed_json",
            EventError::Invalid(_) => "invalid_event",
        }
    }
}

/// A Stripe event id (`evt_...`), valid by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId(String);

impl EventId {
    /// Parses an event id: `evt_` followed by ASCII letters, digits or underscores.
    pub fn parse(value: &str) -> Result<Self, EventError> {
        validate_event_id(value).map_err(|error| EventError::Invalid(field_message("id", &error)))?;
        Ok(EventId(value.to_owned()))
    }

    /// The id as Stripe wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id a body names, read without validating the rest (for a message that will not be
    /// processed now but must still be told apart); `None` for a body without a valid id.
    pub fn of_body(body: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct IdOnly {
            id: String,
        }
        let only: IdOnly = serde_json::from_str(body).ok()?;
        Self::parse(&only.id).ok()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated Stripe event. Unknown fields are allowed and ignored, as Stripe adds fields
/// without notice; `data.object` is kept whole for the consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeEvent {
    id: EventId,
    event_type: String,
    created: i64,
    livemode: bool,
    account: Option<String>,
    object: Map<String, Value>,
}

/// The wire shape, checked by `validator` before it becomes a [`StripeEvent`].
#[derive(Deserialize, Validate)]
struct WireEvent {
    #[validate(custom(function = "validate_event_id"))]
    id: String,
    #[serde(rename = "type")]
    #[validate(custom(function = "validate_event_type"))]
    event_type: String,
    #[validate(range(min = 1, message = "must be a positive Unix timestamp"))]
    created: i64,
    livemode: bool,
    data: WireData,
    #[serde(default)]
    account: Option<String>,
}

/// `data` as it must be written: an object with an `object` field. Hand-written because serde's
/// derive also takes a struct written as an array, so `"data": [{}]` would pass as an event.
struct WireData {
    object: Map<String, Value>,
}

impl<'de> Deserialize<'de> for WireData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(WireDataVisitor)
    }
}

struct WireDataVisitor;

impl<'de> Visitor<'de> for WireDataVisitor {
    type Value = WireData;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object with an `object` field")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireData, A::Error> {
        let mut object = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key != "object" {
                map.next_value::<IgnoredAny>()?;
            } else if object.is_some() {
                return Err(de::Error::duplicate_field("object"));
            } else {
                object = Some(map.next_value()?);
            }
        }
        let object = object.ok_or_else(|| de::Error::missing_field("object"))?;
        Ok(WireData { object })
    }
}

impl StripeEvent {
    /// Parses and validates a raw body. Errors name the offending field by its path
    /// (`data.object`, `created`), never the whole body.
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        // serde also accepts a struct written as a JSON array; an event is always an object.
        // Checked whole and first: serde_json skips an unknown field's strings without
        // looking at their bytes, so invalid UTF-8 there would otherwise pass.
        let text = std::str::from_utf8(body)
            .map_err(|error| EventError::Malformed(format!("the body is not UTF-8: {error}")))?;
        if text.bytes().find(|b| !b.is_ascii_whitespace()) != Some(b'{') {
            return Err(match syntax_error(text) {
                Some(error) => error,
                None => EventError::Invalid("the event must be a JSON object".to_owned()),
            });
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let wire: WireEvent = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            // serde stops at the first problem it meets, so a truncated body can fail on a
            // field's type before its end; a body that is not JSON is malformed all the same.
            syntax_error(text)
                .unwrap_or_else(|| classify_serde_error(error.path().to_string(), error.inner()))
        })?;
        deserializer
            .end()
            .map_err(|error| classify_serde_error(String::new(), &error))?;
        wire.validate()
            .map_err(|errors| EventError::Invalid(describe_validation(&errors)))?;
        Ok(StripeEvent {
            id: EventId(wire.id),
            event_type: wire.event_type,
            created: wire.created,
            livemode: wire.livemode,
            account: wire.account,
            object: wire.data.object,
        })
    }

    /// The event's id.
    pub fn id(&self) -> &EventId {
        &self.id
    }

    /// The event type, e.g. `payment_intent.payment_failed`.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// Creation time, Unix seconds.
    pub fn created(&self) -> i64 {
        self.created
    }

    /// Whether the event is from live mode.
    pub fn livemode(&self) -> bool {
        self.livemode
    }

    /// The connected account the event belongs to (Stripe Connect), if any.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// `data.object`, the resource the event is about.
    pub fn object(&self) -> &Map<String, Value> {
        &self.object
    }

    /// A string field of `data.object`, if present and a string.
    pub fn object_str(&self, field: &str) -> Option<&str> {
        self.object.get(field).and_then(Value::as_str)
    }

    /// The customer the event concerns: `data.object.customer` (an id or an expanded object),
    /// or the object itself when it is a customer.
    pub fn customer_id(&self) -> Option<&str> {
        match self.object.get("customer") {
            Some(Value::String(id)) => Some(id.as_str()),
            Some(Value::Object(customer)) => customer.get("id").and_then(Value::as_str),
            _ if self.object_str("object") == Some("customer") => self.object_str("id"),
            _ => None,
        }
        .filter(|id| !id.is_empty())
    }
}

/// Why `text` is not JSON at all, if it is not: a second pass, only on the error path, into a
/// `Value` rather than `IgnoredAny` because skipping does not check that numbers fit (a number
/// beyond f64 is malformed, as everywhere else).
fn syntax_error(text: &str) -> Option<EventError> {
    serde_json::from_str::<Value>(text)
        .err()
        .map(|error| EventError::Malformed(error.to_string()))
}

fn classify_serde_error(path: String, error: &serde_json::Error) -> EventError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => EventError::Malformed(error.to_string()),
        Category::Data if path.is_empty() || path == "." => EventError::Invalid(error.to_string()),
        Category::Data => EventError::Invalid(format!("`{path}`: {error}")),
    }
}

fn validate_event_id(id: &str) -> Result<(), ValidationError> {
    let rest = id.strip_prefix("evt_").unwrap_or_default();
    let well_formed = !rest.is_empty()
        && id.len() <= MAX_IDENTIFIER_LEN
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(ValidationError::new("event_id").with_message(
            "must be `evt_` followed by letters, digits or underscores (at most 255 characters)".into(),
        ))
    }
}

fn validate_event_type(event_type: &str) -> Result<(), ValidationError> {
    let well_formed = !event_type.is_empty()
        && event_type.len() <= MAX_IDENTIFIER_LEN
        && event_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if well_formed {
        Ok(())
    } else {
        Err(ValidationError::new("event_type")
            .with_message("must be a dotted lowercase name such as `invoice.payment_failed`".into()))
    }
}

/// One line naming every failing field, in a stable (sorted) order.
fn describe_validation(errors: &ValidationErrors) -> String {
    let mut fields: Vec<String> = errors
        .errors()
        .iter()
        .filter_map(|(field, kind)| match kind {
            ValidationErrorsKind::Field(field_errors) => field_errors
                .first()
                .map(|error| field_message(wire_name(field), error)),
            _ => None,
        })
        .collect();
    fields.sort();
    fields.join("; ")
}

/// The JSON name of a struct field (the Rust names differ where JSON uses a keyword).
fn wire_name(field: &str) -> &str {
    match field {
        "event_type" => "type",
        other => other,
    }
}

fn field_message(field: &str, error: &ValidationError) -> String {
    match &error.message {
        Some(message) => format!("`{field}` {message}"),
        None => format!("`{field}` is invalid ({})", error.code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(overrides: Value) -> Vec<u8> {
        let mut base = json!({
            "id": "evt_1PqR2sT3uV4wX5yZ",
            "object": "event",
            "type": "invoice.payment_failed",
            "created": 1_732_000_000,
            "livemode": false,
            "data": {"object": {"id": "in_1", "object": "invoice", "customer": "cus_9"}},
        });
        if let (Some(base), Some(overrides)) = (base.as_object_mut(), overrides.as_object()) {
            for (key, value) in overrides {
                if value.is_null() {
                    base.remove(key);
                } else {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
        serde_json::to_vec(&base).unwrap_or_default()
    }

    fn invalid_message(body: &[u8]) -> String {
        match StripeEvent::parse(body) {
            Err(EventError::Invalid(message)) => message,
            other => panic!("expected an invalid-event error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_valid_event_and_keeps_the_object() {
        let parsed = StripeEvent::parse(&event(json!({}))).expect("valid event");
        assert_eq!(parsed.id().as_str(), "evt_1PqR2sT3uV4wX5yZ");
        assert_eq!(parsed.event_type(), "invoice.payment_failed");
        assert_eq!(parsed.created(), 1_732_000_000);
        assert!(!parsed.livemode());
        assert_eq!(parsed.customer_id(), Some("cus_9"));
        assert_eq!(parsed.object_str("object"), Some("invoice"));
    }

    #[test]
    fn unknown_fields_are_allowed() {
        let body = event(json!({"api_version": "2024-06-20", "request": {"id": null}}));
        assert!(StripeEvent::parse(&body).is_ok());
    }

    #[test]
    fn each_missing_field_is_named() {
        for field in ["id", "type", "created", "livemode", "data"] {
            let message = invalid_message(&event(json!({ field: null })));
            assert!(
                message.contains(&format!("missing field `{field}`")),
                "{field}: {message}"
            );
        }
    }

    #[test]
    fn a_missing_data_object_is_named_by_its_path() {
        let message = invalid_message(&event(json!({"data": {}})));
        assert!(
            message.contains("`data`") && message.contains("`object`"),
            "{message}"
        );
    }

    #[test]
    fn data_object_must_be_an_object() {
        let message = invalid_message(&event(json!({"data": {"object": "in_1"}})));
        assert!(message.contains("data.object"), "{message}");
    }

    #[test]
    fn data_must_be_an_object_not_an_array() {
        // Found by the property tests: serde's derive read `[{}]` as `data.object = {}`.
        for data in [json!([{}]), json!([{}, null]), json!([])] {
            let message = invalid_message(&event(json!({ "data": data })));
            assert!(message.starts_with("`data`: invalid type: sequence"), "{message}");
        }
    }

    #[test]
    fn data_ignores_unknown_fields_but_not_a_second_object() {
        let body = event(json!({"data": {"previous_attributes": {"a": 1}, "object": {}}}));
        assert!(StripeEvent::parse(&body).is_ok());
        let body =
            br#"{"id":"evt_1","type":"a.b","created":1,"livemode":false,"data":{"object":{},"object":{}}}"#;
        assert!(invalid_message(body).contains("duplicate field `object`"));
    }

    #[test]
    fn id_must_have_the_evt_prefix() {
        for id in ["ch_123", "evt_", "EVT_123", "evt_12-3", "evt_ 1"] {
            let message = invalid_message(&event(json!({ "id": id })));
            assert!(message.starts_with("`id` must be `evt_`"), "{id}: {message}");
        }
        let long = format!("evt_{}", "a".repeat(300));
        assert!(invalid_message(&event(json!({ "id": long }))).starts_with("`id`"));
    }

    #[test]
    fn type_and_created_are_checked_and_all_failures_reported_together() {
        let message = invalid_message(&event(json!({"type": "", "created": 0})));
        assert_eq!(
            message,
            "`created` must be a positive Unix timestamp; `type` must be a dotted lowercase name such as `invoice.payment_failed`"
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let message = invalid_message(&event(json!({"livemode": "no"})));
        assert!(message.contains("`livemode`"), "{message}");
        let message = invalid_message(&event(json!({"created": 1e30})));
        assert!(message.contains("`created`"), "{message}");
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let body =
            br#"{"id":"evt_1","id":"evt_2","type":"a.b","created":1,"livemode":false,"data":{"object":{}}}"#;
        assert!(invalid_message(body).contains("duplicate field `id`"));
    }

    #[test]
    fn syntax_problems_are_malformed_not_invalid() {
        let valid = event(json!({}));
        let truncated = &valid[..valid.len() / 2];
        let mut trailing = valid.clone();
        trailing.extend_from_slice(b" {}");
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(&valid);
        let deep = format!(
            r#"{{"id":"evt_1","type":"a.b","created":1,"livemode":false,"data":{{"object":{{"a":{}{}}}}}}}"#,
            "[".repeat(1000),
            "]".repeat(1000)
        );
        let cases: [&[u8]; 6] = [
            b"",
            truncated,
            &trailing,
            &bom,
            b"{\"id\": \"evt_\xff\"}",
            deep.as_bytes(),
        ];
        for body in cases {
            let error = StripeEvent::parse(body).expect_err("must fail");
            assert_eq!(error.code(), "malformed_json", "{error}");
        }
    }

    #[test]
    fn a_truncated_body_is_malformed_even_where_a_field_has_the_wrong_type() {
        // Found by fuzzing: `{"id":{` failed on `id`'s type before serde reached the end.
        for body in [&br#"{"id":{"#[..], br#"{"id":"evt_1","created":"x","#] {
            let error = StripeEvent::parse(body).expect_err("must fail");
            assert_eq!(error.code(), "malformed_json", "{error}");
        }
        // Found by fuzzing: a bare number beyond f64 was "not an object" rather than malformed.
        assert_eq!(
            StripeEvent::parse(b"220e805").map_err(|e| e.code()),
            Err("malformed_json")
        );
    }

    #[test]
    fn invalid_utf8_anywhere_is_malformed_even_in_an_ignored_field() {
        // Found by fuzzing: serde_json skipped an unknown field's bytes unchecked.
        let valid = String::from_utf8(event(json!({"api_version": "2024-06-20"}))).expect("UTF-8");
        let mut body = valid.replace("2024-06-20", "2024\u{1}06-20").into_bytes();
        let at = body.iter().position(|b| *b == 1).expect("marker");
        body[at] = 0xB0;
        assert!(StripeEvent::parse(valid.as_bytes()).is_ok());
        for body in [body.as_slice(), b"\"\xff\""] {
            let error = StripeEvent::parse(body).expect_err("must fail");
            assert_eq!(error.code(), "malformed_json", "{error}");
        }
    }

    #[test]
    fn a_json_value_that_is_not_an_object_is_invalid() {
        let positional = br#"["evt_1","a.b",1,false,{"object":{}}]"#;
        for body in [&b"[]"[..], b"42", b"null", b"\"evt_1\"", positional] {
            let error = StripeEvent::parse(body).expect_err("must fail");
            assert_eq!(
                error,
                EventError::Invalid("the event must be a JSON object".into())
            );
        }
    }

    #[test]
    fn customer_id_accepts_expanded_objects_and_customer_events() {
        let expanded = event(json!({"data": {"object": {"customer": {"id": "cus_x"}}}}));
        assert_eq!(
            StripeEvent::parse(&expanded).expect("valid").customer_id(),
            Some("cus_x")
        );
        let customer = event(json!({"data": {"object": {"object": "customer", "id": "cus_y"}}}));
        assert_eq!(
            StripeEvent::parse(&customer).expect("valid").customer_id(),
            Some("cus_y")
        );
        let none = event(json!({"data": {"object": {"customer": null}}}));
        assert_eq!(StripeEvent::parse(&none).expect("valid").customer_id(), None);
    }

    #[test]
    fn event_id_parse_matches_event_validation() {
        assert!(EventId::parse("evt_abc_123").is_ok());
        assert!(EventId::parse("evt_").is_err());
    }
}
