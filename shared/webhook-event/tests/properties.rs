//! Properties of event validation over arbitrary input: bytes and JSON values of any shape are
//! accepted or refused with a code, never a panic; well-formed events always parse, unchanged.

// Property tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};
use webhook_event::StripeEvent;

/// JSON values of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(
                "(id|type|created|livemode|data|object|account|[a-z]{1,6})",
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_refused_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(error) = StripeEvent::parse(&body) {
            prop_assert!(["malformed_json", "invalid_event"].contains(&error.code()));
        }
    }

    #[test]
    fn arbitrary_json_is_accepted_or_refused_with_a_code(value in json_value()) {
        let body = serde_json::to_vec(&value).unwrap();
        match StripeEvent::parse(&body) {
            Ok(event) => prop_assert!(event.id().as_str().starts_with("evt_")),
            Err(error) => prop_assert_eq!(error.code(), "invalid_event", "{}", error),
        }
    }

    #[test]
    fn well_formed_events_parse_unchanged(
        id in "evt_[A-Za-z0-9_]{1,40}",
        event_type in "[a-z_]{1,12}(\\.[a-z_]{1,12}){0,3}",
        created in 1_i64..=i64::MAX,
        livemode in any::<bool>(),
        object in proptest::collection::btree_map("[a-z_]{1,8}", json_value(), 0..5),
        extra in ".{0,20}",
    ) {
        let body = json!({
            "id": id, "type": event_type, "created": created, "livemode": livemode,
            "data": {"object": object}, "unknown_field_stripe_added": extra,
        });
        let event = StripeEvent::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        prop_assert_eq!(event.id().as_str(), id.as_str());
        prop_assert_eq!(event.event_type(), event_type.as_str());
        prop_assert_eq!(event.created(), created);
        prop_assert_eq!(event.livemode(), livemode);
        prop_assert_eq!(event.object().len(), object.len());
    }
}
