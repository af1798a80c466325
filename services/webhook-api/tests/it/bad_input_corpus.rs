//! The bad-input corpus: every kind of defective request, through the Lambda edge as API
//! Gateway delivers it, gets its documented 4xx status and error code (README, "Responses"),
//! queues nothing, and leaves neither the signing secret nor the signature in any log line or
//! response.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use stripe_signature::{SigningSecrets, sign};
use test_support::events::{self, GatewayEvent};
use test_telemetry::TestTelemetry;
use tracing::Instrument;
use webhook_api::config::Limits;
use webhook_api::intake::WebhookIntake;
use webhook_api::lambda::{GatewayRequest, handle_request};
use webhook_api::queue::MemoryQueue;

const SECRET: &str = "whsec_corpus_secret_0123456789abcdef";
const OTHER_SECRET: &str = "whsec_some_other_endpoint_secret_0000";
const MAX_BODY: usize = 64 * 1024;
const TOLERANCE: i64 = 300;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// One defective request and what it must get.
struct Case {
    name: String,
    event: GatewayEvent,
    status: u16,
    code: &'static str,
}

fn case(name: &str, event: GatewayEvent, status: u16, code: &'static str) -> Case {
    Case {
        name: name.to_owned(),
        event,
        status,
        code,
    }
}

fn valid_event() -> Value {
    serde_json::from_slice(&events::stripe("payment_intent.payment_failed")).unwrap()
}

/// The valid event with one change.
fn event_with(change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut event = valid_event();
    change(&mut event);
    serde_json::to_vec(&event).unwrap()
}

/// `body`, correctly signed now, as a REST API request.
fn signed(body: &[u8]) -> GatewayEvent {
    GatewayEvent::rest(body).header("Stripe-Signature", Some(&sign(SECRET, now(), body)))
}

/// `body` with the given `Stripe-Signature` header.
fn with_signature(body: &[u8], header: Option<&str>) -> GatewayEvent {
    GatewayEvent::rest(body).header("Stripe-Signature", header)
}

/// The hex signature of `body` at `timestamp` with `secret`.
fn hex_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    sign(secret, timestamp, body)
        .split_once(",v1=")
        .map(|(_, hex)| hex.to_owned())
        .unwrap()
}

fn signature_cases() -> Vec<Case> {
    let body = events::stripe("payment_intent.payment_failed");
    let t = now();
    let good = hex_signature(SECRET, t, &body);
    let malformed = |name: &str, header: String| {
        case(
            name,
            with_signature(&body, Some(&header)),
            401,
            "signature_malformed",
        )
    };
    let mismatch = |name: &str, header: String| {
        case(
            name,
            with_signature(&body, Some(&header)),
            401,
            "signature_mismatch",
        )
    };
    let stale = |name: &str, timestamp: i64| {
        let header = sign(SECRET, timestamp, &body);
        case(name, with_signature(&body, Some(&header)), 401, "signature_stale")
    };
    vec![
        case(
            "signature header missing",
            with_signature(&body, None),
            401,
            "signature_missing",
        ),
        malformed("signature header empty", String::new()),
        malformed("signature header blank", "   ".to_owned()),
        malformed("only a v1, no timestamp", format!("v1={good}")),
        malformed("only a timestamp, no v1", format!("t={t}")),
        malformed("wrong scheme only (v0)", format!("t={t},v0={good}")),
        malformed("scheme in capitals (V1)", format!("t={t},V1={good}")),
        malformed("truncated hex (63 digits)", format!("t={t},v1={}", &good[..63])),
        malformed("hex one digit too long", format!("t={t},v1={good}0")),
        malformed("uppercase hex", format!("t={t},v1={}", good.to_uppercase())),
        malformed("non-hex digit", format!("t={t},v1={}g", &good[..63])),
        malformed("empty v1", format!("t={t},v1=")),
        malformed("duplicate t", format!("t={t},t={t},v1={good}")),
        malformed("garbled t", format!("t=12ab,v1={good}")),
        malformed("negative t", format!("t=-{t},v1={good}")),
        malformed("t with a plus sign", format!("t=+{t},v1={good}")),
        malformed("t beyond i64", format!("t=99999999999999999999,v1={good}")),
        malformed("empty t", format!("t=,v1={good}")),
        malformed("item without =", format!("t={t},v1")),
        malformed("space before v1", format!("t={t}, v1={good}")),
        malformed(
            "over 4096 bytes",
            format!("t={t},v1={good},{}", "v0=ab,".repeat(700)),
        ),
        malformed(
            "JSON instead of a header",
            format!("{{\"t\":{t},\"v1\":\"{good}\"}}"),
        ),
        stale("far past (11 days)", t - 1_000_000),
        stale("far future (11 days)", t + 1_000_000),
        stale("just outside the tolerance", t - TOLERANCE - 2),
        stale("signed at the epoch", 1),
        mismatch("wrong secret", sign(OTHER_SECRET, t, &body)),
        mismatch(
            "signature of another body",
            sign(SECRET, t, &events::stripe("invoice.payment_failed")),
        ),
        mismatch("timestamp not the one signed", format!("t={},v1={good}", t - 1)),
        mismatch(
            "rotation list, every v1 wrong",
            format!(
                "t={t},v1={},v1={}",
                hex_signature(OTHER_SECRET, t, &body),
                "0".repeat(64)
            ),
        ),
        mismatch("all-zero signature", format!("t={t},v1={}", "0".repeat(64))),
        case(
            "body changed after signing (trailing newline)",
            with_signature(&[&body[..], b"\n"].concat(), Some(&sign(SECRET, t, &body))),
            401,
            "signature_mismatch",
        ),
    ]
}

fn json_cases() -> Vec<Case> {
    let malformed = |name: &str, body: Vec<u8>| case(name, signed(&body), 400, "malformed_json");
    let invalid = |name: &str, body: Vec<u8>| case(name, signed(&body), 400, "invalid_event");
    let valid = String::from_utf8(events::stripe("payment_intent.payment_failed")).unwrap();
    let deep = format!(
        r#"{{"id":"evt_deep","type":"a.b","created":1,"livemode":false,"data":{{"object":{{"x":{}1{}}}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let invalid_utf8 = [
        br#"{"id":"evt_utf","type":"a.b","created":1,"livemode":false,"data":{"object":{"x":""#.as_slice(),
        b"\xff\xfe\xfd",
        br#""}}}"#.as_slice(),
    ]
    .concat();
    vec![
        malformed("truncated JSON", valid.as_bytes()[..valid.len() / 2].to_vec()),
        malformed("trailing garbage", format!("{valid}xyz").into_bytes()),
        malformed("two objects", format!("{valid}{valid}").into_bytes()),
        malformed("nesting 200 deep", deep.into_bytes()),
        malformed(
            "byte order mark",
            [b"\xEF\xBB\xBF".as_slice(), valid.as_bytes()].concat(),
        ),
        malformed(
            "unescaped newline in a string",
            valid.replacen("\"evt_", "\"evt_\n", 1).into_bytes(),
        ),
        malformed("single quotes", valid.replace('"', "'").into_bytes()),
        malformed("a trailing comma", valid.replacen('}', ",}", 1).into_bytes()),
        malformed("empty body", Vec::new()),
        malformed("whitespace only", b"  \n ".to_vec()),
        malformed("bare word", b"event".to_vec()),
        invalid(
            "huge number (beyond i64)",
            event_with(|e| e["created"] = json!(u64::MAX)),
        ),
        malformed(
            "number beyond f64",
            valid
                .replacen("\"created\":", "\"created\":1e400,\"x\":", 1)
                .into_bytes(),
        ),
        invalid("created as a float", event_with(|e| e["created"] = json!(1.5))),
        invalid(
            "created as a string",
            event_with(|e| e["created"] = json!("1732000000")),
        ),
        invalid("created zero", event_with(|e| e["created"] = json!(0))),
        invalid("created negative", event_with(|e| e["created"] = json!(-5))),
        invalid(
            "duplicate key",
            valid.replacen("{", "{\"id\":\"evt_first\",", 1).into_bytes(),
        ),
        invalid(
            "id missing",
            event_with(|e| drop(e.as_object_mut().unwrap().remove("id"))),
        ),
        invalid(
            "id of another object type",
            event_with(|e| e["id"] = json!("ch_3PpFailed")),
        ),
        invalid(
            "id with a hyphen",
            event_with(|e| e["id"] = json!("evt_3Pp-Failed")),
        ),
        invalid(
            "id too long",
            event_with(|e| e["id"] = json!(format!("evt_{}", "a".repeat(300)))),
        ),
        invalid("id empty", event_with(|e| e["id"] = json!(""))),
        invalid("id only the prefix", event_with(|e| e["id"] = json!("evt_"))),
        invalid("id a number", event_with(|e| e["id"] = json!(42))),
        invalid("id null", event_with(|e| e["id"] = Value::Null)),
        invalid(
            "type missing",
            event_with(|e| drop(e.as_object_mut().unwrap().remove("type"))),
        ),
        invalid("type empty", event_with(|e| e["type"] = json!(""))),
        invalid(
            "type in capitals",
            event_with(|e| e["type"] = json!("Invoice.Paid")),
        ),
        invalid(
            "type with spaces",
            event_with(|e| e["type"] = json!("invoice paid")),
        ),
        invalid("type a number", event_with(|e| e["type"] = json!(7))),
        invalid(
            "created missing",
            event_with(|e| drop(e.as_object_mut().unwrap().remove("created"))),
        ),
        invalid(
            "livemode missing",
            event_with(|e| drop(e.as_object_mut().unwrap().remove("livemode"))),
        ),
        invalid("livemode a string", event_with(|e| e["livemode"] = json!("true"))),
        invalid(
            "data missing",
            event_with(|e| drop(e.as_object_mut().unwrap().remove("data"))),
        ),
        invalid("data null", event_with(|e| e["data"] = Value::Null)),
        invalid("data.object missing", event_with(|e| e["data"] = json!({}))),
        invalid(
            "data an array holding the object",
            event_with(|e| e["data"] = json!([{}])),
        ),
        invalid(
            "data.object an array",
            event_with(|e| e["data"]["object"] = json!([1, 2])),
        ),
        invalid(
            "data.object a string",
            event_with(|e| e["data"]["object"] = json!("pi_1")),
        ),
        invalid("account not a string", event_with(|e| e["account"] = json!(12))),
        invalid("a JSON array", b"[1,2,3]".to_vec()),
        invalid("a JSON string", b"\"evt_1\"".to_vec()),
        invalid("JSON null", b"null".to_vec()),
        invalid("an empty object", b"{}".to_vec()),
        invalid(
            "U+FFFF, which SQS cannot carry",
            event_with(|e| e["data"]["object"]["description"] = json!("\u{FFFF}")),
        ),
        case(
            "invalid UTF-8 inside a string (base64 from API Gateway)",
            signed(&invalid_utf8).base64(true),
            400,
            "malformed_json",
        ),
    ]
}

/// Envelopes `lambda_http`'s conversion used to panic on (a 502 from API Gateway), in both
/// payload versions: each now gets its response.
fn envelope_cases() -> Vec<Case> {
    let body = events::stripe("payment_intent.payment_failed");
    let mut cases = Vec::new();
    for (version, event) in [
        ("REST", GatewayEvent::rest(&body)),
        ("HTTP API", GatewayEvent::http(&body)),
    ] {
        let signed = event
            .clone()
            .header("Stripe-Signature", Some(&sign(SECRET, now(), &body)));
        cases.extend([
            case(
                &format!("{version}: body marked base64 that is not"),
                signed.clone().base64(true).raw_body("{not base64!}"),
                400,
                "malformed_envelope",
            ),
            case(
                &format!("{version}: base64 body cut mid-quantum"),
                signed.clone().base64(true).raw_body("eyJpZCI6I"),
                400,
                "malformed_envelope",
            ),
            case(
                &format!("{version}: Host with a space, unsigned"),
                event
                    .clone()
                    .header("Host", Some("api example.com"))
                    .header("Stripe-Signature", None),
                401,
                "signature_missing",
            ),
            case(
                &format!("{version}: Host that is not an authority, forged"),
                event
                    .clone()
                    .header("Host", Some("[::1"))
                    .header("Stripe-Signature", Some("t=1,v1=00")),
                401,
                "signature_malformed",
            ),
            case(
                &format!("{version}: Host with a space, bad JSON"),
                GatewayEvent::rest(b"{")
                    .header("Host", Some("a b"))
                    .header("Stripe-Signature", Some(&sign(SECRET, now(), b"{"))),
                400,
                "malformed_json",
            ),
        ]);
    }
    cases
}

fn transport_cases() -> Vec<Case> {
    let body = events::stripe("payment_intent.payment_failed");
    let content_type = |name: &str, value: Option<&str>| {
        case(
            name,
            signed(&body).header("Content-Type", value),
            415,
            "unsupported_media_type",
        )
    };
    let oversized = {
        let padding = "x".repeat(MAX_BODY);
        event_with(|e| e["data"]["object"]["description"] = json!(padding))
    };
    vec![
        content_type("no content type", None),
        content_type("text/plain", Some("text/plain")),
        content_type("form encoded", Some("application/x-www-form-urlencoded")),
        content_type("application/jsonp", Some("application/jsonp")),
        content_type("empty content type", Some("")),
        content_type("multipart", Some("multipart/form-data; boundary=x")),
        case("over-size body", signed(&oversized), 413, "payload_too_large"),
        case(
            "over-size body, base64 from API Gateway",
            signed(&oversized).base64(true),
            413,
            "payload_too_large",
        ),
        case("GET", signed(&body).method("GET"), 405, "method_not_allowed"),
        case("PUT", signed(&body).method("PUT"), 405, "method_not_allowed"),
        case(
            "DELETE",
            signed(&body).method("DELETE"),
            405,
            "method_not_allowed",
        ),
        case("another path", signed(&body).path("/webhooks"), 404, "not_found"),
        case(
            "a deeper path",
            signed(&body).path("/webhooks/stripe/extra"),
            404,
            "not_found",
        ),
        case("the root", signed(&body).path("/"), 404, "not_found"),
        case(
            "path in capitals",
            signed(&body).path("/WEBHOOKS/STRIPE"),
            404,
            "not_found",
        ),
        case(
            "HTTP API payload without a signature",
            GatewayEvent::http(&body).header("stripe-signature", None),
            401,
            "signature_missing",
        ),
    ]
}

#[tokio::test]
async fn every_defective_request_gets_its_documented_refusal_and_nothing_is_queued() {
    let cases: Vec<Case> = [
        signature_cases(),
        json_cases(),
        transport_cases(),
        envelope_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        let telemetry = TestTelemetry::new(&[]);
        let queue = MemoryQueue::new();
        let limits = Limits {
            tolerance_secs: TOLERANCE as u64,
            max_body_bytes: MAX_BODY,
        };
        let intake = WebhookIntake::new(queue.clone(), SigningSecrets::parse(SECRET).unwrap(), limits);
        let event_json = case.event.to_json();
        let request: GatewayRequest = serde_json::from_str(&event_json)
            .unwrap_or_else(|error| panic!("{}: not a valid API Gateway event: {error}", case.name));
        let span = tracing::info_span!("invocation", otel.kind = "server");
        let response = handle_request(&intake, &request).instrument(span).await;

        let status = response.status();
        let body: Value = serde_json::from_str(response.body()).unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("<none>");
        if (status, code) != (case.status, case.code) {
            failures.push(format!(
                "{}: expected {} {}, got {status} {code} ({})",
                case.name, case.status, case.code, body["error"]["message"]
            ));
        }
        if !queue.sent().is_empty() {
            failures.push(format!("{}: something was queued", case.name));
        }
        let logs = telemetry
            .logs
            .lines()
            .iter()
            .map(Value::to_string)
            .collect::<String>();
        let signature = event_json_signature(&event_json);
        for (what, text) in [("the logs", &logs), ("the response", &body.to_string())] {
            if text.contains(SECRET) {
                failures.push(format!("{}: the signing secret is in {what}", case.name));
            }
            if let Some(signature) = signature.as_deref().filter(|s| s.len() >= 16)
                && text.contains(signature)
            {
                failures.push(format!("{}: the signature is in {what}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The `v1` value of the request's `Stripe-Signature` header, if it has one.
fn event_json_signature(event_json: &str) -> Option<String> {
    let event: Value = serde_json::from_str(event_json).ok()?;
    let headers = event["headers"].as_object()?;
    let header = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("stripe-signature"))?
        .1
        .as_str()?;
    header
        .split(',')
        .find_map(|item| item.strip_prefix("v1="))
        .map(str::to_owned)
}

/// The control: the same builder, a correct request, is accepted, so every refusal above is
/// the defect's doing and not the harness's.
#[tokio::test]
async fn the_corpus_builder_makes_acceptable_requests_when_nothing_is_wrong() {
    let _telemetry = TestTelemetry::new(&[]);
    let body = events::stripe("payment_intent.payment_failed");
    let rotation = format!(
        "t={t},v1={},v1={}",
        hex_signature(OTHER_SECRET, now(), &body),
        hex_signature(SECRET, now(), &body),
        t = now()
    );
    for (name, event) in [
        ("REST, text body", signed(&body)),
        ("REST, base64 body", signed(&body).base64(true)),
        (
            "HTTP API",
            GatewayEvent::http(&body).header("stripe-signature", Some(&sign(SECRET, now(), &body))),
        ),
        (
            "rotation list, second v1 right",
            with_signature(&body, Some(&rotation)),
        ),
        ("trailing slash", signed(&body).path("/webhooks/stripe/")),
        (
            "REST, Host with a space",
            signed(&body).header("Host", Some("api example.com")),
        ),
        (
            "HTTP API, Host that is not an authority",
            GatewayEvent::http(&body)
                .header("stripe-signature", Some(&sign(SECRET, now(), &body)))
                .header("host", Some("[::1")),
        ),
    ] {
        let queue = MemoryQueue::new();
        let limits = Limits {
            tolerance_secs: TOLERANCE as u64,
            max_body_bytes: MAX_BODY,
        };
        let intake = WebhookIntake::new(queue.clone(), SigningSecrets::parse(SECRET).unwrap(), limits);
        let request: GatewayRequest = serde_json::from_str(&event.to_json()).unwrap();
        let response = handle_request(&intake, &request).await;
        assert_eq!(response.status(), 202, "{name}: {:?}", response.body());
        assert_eq!(queue.sent().len(), 1, "{name}");
    }
}
