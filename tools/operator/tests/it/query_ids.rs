//! Every id is data to every query the tools build: any event id, whatever it holds (quotes,
//! backslashes, `|`, newlines, `#`, `&`), comes back unchanged from the Logs Insights queries
//! `make trace` runs and prints and from the X-Ray filter expression, read by the parsers the
//! local pipeline answers those queries with (Logs Insights' and X-Ray's string rules).

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use local_pipeline::logs_insights::{Command, Condition, Query};
use local_pipeline::xray_api::AnnotationFilter;
use proptest::prelude::*;

fn filter_of(query: &str) -> Condition {
    let parsed = Query::parse(query).unwrap_or_else(|error| panic!("{query:?} does not parse: {error}"));
    parsed
        .commands
        .into_iter()
        .find_map(|command| match command {
            Command::Filter(condition) => Some(condition),
            _ => None,
        })
        .expect("a filter")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_event_id_round_trips_through_every_query(id in "\\PC*|[\"\\\\|`'#&\n\r\t ]{0,12}evt_[a-z\"\\\\]{0,6}") {
        prop_assert_eq!(
            filter_of(&operator::logs::event_query(&id)),
            Condition::Equals { field: "webhook.event_id".to_owned(), value: id.clone(), negated: false }
        );
        prop_assert_eq!(
            filter_of(&operator::render::spans_query(&id)),
            Condition::Like { field: "@message".to_owned(), needle: id.clone() }
        );
        prop_assert_eq!(
            AnnotationFilter::parse(&shared_telemetry::event_id_filter(&id)),
            Ok(AnnotationFilter { key: "webhook_event_id".to_owned(), value: id.clone() })
        );
    }
}

#[test]
fn a_crafted_id_stays_one_string() {
    let crafted = r#"evt_1" | filter webhook.event_id != "x"#;
    assert_eq!(
        filter_of(&operator::logs::event_query(crafted)),
        Condition::Equals {
            field: "webhook.event_id".to_owned(),
            value: crafted.to_owned(),
            negated: false
        }
    );
    // The query the tool printed before this fix, for comparison: the id ends the string early.
    let unescaped = format!("filter @message like \"{crafted}\" | sort @timestamp asc");
    assert_ne!(
        filter_of(&unescaped),
        Condition::Like {
            field: "@message".to_owned(),
            needle: crafted.to_owned()
        }
    );
}
