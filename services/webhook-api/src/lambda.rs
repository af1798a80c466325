//! The Lambda edge: an API Gateway event in (REST API payload v1, or HTTP API / function URL
//! payload v2), the intake's response out, in the same payload version. Also records the HTTP
//! semantic-convention attributes on the invocation span.
//!
//! The payloads are decoded here, with `aws_lambda_events`' types, rather than by converting
//! them into an `http::Request`: that conversion panics on a body marked base64 that is not and
//! on a `Host` header that is not an authority. Every HTTP event gets a response; a malformed
//! envelope is a 400. An event that is not HTTP at all does not decode, and the invocation
//! fails with one clear error (see `shared_telemetry::InvocationHandler`).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use shared_telemetry::attributes as attr;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::error::ApiError;
use crate::intake::{IncomingRequest, WEBHOOK_PATH, WebhookIntake};
use crate::sink::EventSink;

/// An HTTP event as API Gateway delivers it.
#[derive(Debug, Clone)]
pub enum GatewayRequest {
    /// REST API (payload format 1.0).
    Rest(Box<ApiGatewayProxyRequest>),
    /// HTTP API or function URL (payload format 2.0).
    Http(Box<ApiGatewayV2httpRequest>),
}

/// The response in the payload version the request came in.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum GatewayResponse {
    /// For a REST API (payload version 1.0).
    Rest(Box<ApiGatewayProxyResponse>),
    /// For an HTTP API (payload version 2.0).
    Http(Box<ApiGatewayV2httpResponse>),
}

impl GatewayResponse {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        let code = match self {
            Self::Rest(response) => response.status_code,
            Self::Http(response) => response.status_code,
        };
        u16::try_from(code).unwrap_or_default()
    }

    /// The body as text (the intake's bodies are always JSON text).
    pub fn body(&self) -> &str {
        let body = match self {
            Self::Rest(response) => response.body.as_ref(),
            Self::Http(response) => response.body.as_ref(),
        };
        match body {
            Some(Body::Text(text)) => text,
            _ => "",
        }
    }

    /// A response header by name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let headers = match self {
            Self::Rest(response) => &response.headers,
            Self::Http(response) => &response.headers,
        };
        headers.get(name).and_then(|value| value.to_str().ok())
    }
}

impl<'de> Deserialize<'de> for GatewayRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let event = serde_json::Value::deserialize(deserializer)?;
        let decode_error = |version: &str, error: serde_json::Error| {
            D::Error::custom(format!("the {version} event is malformed: {error}"))
        };
        if event.pointer("/requestContext/http").is_some() {
            return serde_json::from_value(event)
                .map(|request| Self::Http(Box::new(request)))
                .map_err(|error| decode_error("HTTP API (payload 2.0)", error));
        }
        if event.get("httpMethod").is_some() {
            return serde_json::from_value(event)
                .map(|request| Self::Rest(Box::new(request)))
                .map_err(|error| decode_error("REST API (payload 1.0)", error));
        }
        let keys: Vec<&str> = event
            .as_object()
            .map(|object| object.keys().map(String::as_str).take(5).collect())
            .unwrap_or_default();
        Err(D::Error::custom(format!(
            "webhook-api takes API Gateway REST or HTTP API events, and this one has neither httpMethod nor requestContext.http (its keys: {keys:?}; an SQS or EventBridge event?)"
        )))
    }
}

/// The parts of an event the intake reads.
struct RequestParts<'a> {
    method: &'a str,
    path: &'a str,
    headers: &'a HeaderMap,
    /// REST API events repeat the headers here; some clients' only appear here.
    multi_value_headers: Option<&'a HeaderMap>,
    body: Option<&'a str>,
    base64: bool,
}

impl RequestParts<'_> {
    /// A header by name, any case; an unreadable value counts as present but malformed.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .or_else(|| self.multi_value_headers.and_then(|headers| headers.get(name)))
            .map(|value| value.to_str().unwrap_or_default())
    }
}

impl GatewayRequest {
    fn parts(&self) -> RequestParts<'_> {
        match self {
            Self::Rest(request) => RequestParts {
                method: request.http_method.as_str(),
                path: request.path.as_deref().unwrap_or_default(),
                headers: &request.headers,
                multi_value_headers: Some(&request.multi_value_headers),
                body: request.body.as_deref(),
                base64: request.is_base64_encoded,
            },
            Self::Http(request) => RequestParts {
                method: request.request_context.http.method.as_str(),
                path: request
                    .raw_path
                    .as_deref()
                    .or(request.request_context.http.path.as_deref())
                    .unwrap_or_default(),
                headers: &request.headers,
                multi_value_headers: None,
                body: request.body.as_deref(),
                base64: request.is_base64_encoded,
            },
        }
    }

    /// `response` in this request's payload version.
    fn respond(
        &self,
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: String,
    ) -> GatewayResponse {
        let mut map = HeaderMap::new();
        map.insert("content-type", HeaderValue::from_static("application/json"));
        for (name, value) in headers {
            map.insert(name, HeaderValue::from_static(value));
        }
        let status_code = i64::from(status);
        match self {
            Self::Rest(_) => {
                let mut response = ApiGatewayProxyResponse::default();
                response.status_code = status_code;
                response.headers = map;
                response.body = Some(Body::Text(body));
                GatewayResponse::Rest(Box::new(response))
            }
            Self::Http(_) => {
                let mut response = ApiGatewayV2httpResponse::default();
                response.status_code = status_code;
                response.headers = map;
                response.body = Some(Body::Text(body));
                GatewayResponse::Http(Box::new(response))
            }
        }
    }
}

/// Answers one HTTP event.
pub async fn handle_request<Q: EventSink>(
    intake: &WebhookIntake<Q>,
    request: &GatewayRequest,
) -> GatewayResponse {
    let parts = request.parts();

    let span = tracing::Span::current();
    span.set_attribute(attr::HTTP_REQUEST_METHOD, parts.method.to_owned());
    span.set_attribute(attr::URL_PATH, parts.path.to_owned());
    span.set_attribute(attr::HTTP_ROUTE, WEBHOOK_PATH);

    let raw_body = parts.body.unwrap_or_default();
    let decoded;
    let body = if parts.base64 {
        match base64::engine::general_purpose::STANDARD.decode(raw_body) {
            Ok(bytes) => {
                decoded = bytes;
                decoded.as_slice()
            }
            Err(error) => {
                let refused = ApiError::MalformedEnvelope(format!(
                    "the body is marked isBase64Encoded but is not base64 ({error})"
                ));
                let response = intake.refuse(&refused, None);
                span.set_attribute(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(response.status));
                return request.respond(response.status, response.headers, response.body);
            }
        }
    } else {
        raw_body.as_bytes()
    };
    let incoming = IncomingRequest {
        method: parts.method,
        path: parts.path,
        content_type: parts.header("content-type"),
        signature: parts.header("stripe-signature"),
        body,
    };
    let response = intake.handle(incoming, unix_now()).await;
    span.set_attribute(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(response.status));
    request.respond(response.status, response.headers, response.body)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
