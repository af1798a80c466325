//! The Lambda edge: an API Gateway (REST or HTTP API), function URL or ALB request in, the
//! intake's response out. Also records the HTTP semantic-convention attributes on the
//! invocation span.

use std::time::{SystemTime, UNIX_EPOCH};

use lambda_http::{Body, Request, RequestExt, Response};
use shared_telemetry::attributes as attr;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::intake::{IncomingRequest, WEBHOOK_PATH, WebhookIntake};
use crate::queue::EventQueue;

pub async fn handle_request<Q: EventQueue>(
    intake: &WebhookIntake<Q>,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let path = match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    };
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            // An unreadable header counts as present but malformed.
            .map(|value| value.to_str().unwrap_or_default())
    };
    let incoming = IncomingRequest {
        method: request.method().as_str(),
        path,
        content_type: header("content-type"),
        signature: header("stripe-signature"),
        body: request.body().as_ref(),
    };

    let span = tracing::Span::current();
    span.set_attribute("http.request.method", incoming.method.to_owned());
    span.set_attribute("url.path", incoming.path.to_owned());
    span.set_attribute("http.route", WEBHOOK_PATH);

    let response = intake.handle(incoming, unix_now()).await;
    span.set_attribute(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(response.status));

    let mut builder = Response::builder()
        .status(response.status)
        .header("content-type", "application/json");
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    Ok(builder.body(Body::Text(response.body))?)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
