//! The local pipeline's one AWS endpoint (`AWS_ENDPOINT_URL` for the tools): every AWS call lands
//! here and is answered as AWS would answer it. X-Ray's read calls are answered from the spans
//! the trace sink received ([`crate::xray_api`]), Logs Insights queries by the local query
//! engine ([`crate::logs_insights`]), and everything else by moto, unchanged.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use tokio::net::TcpListener;

use crate::http::{HttpResponse, forward, reply, serve};
use crate::logs_insights::LogsInsights;
use crate::xray_api::XrayApi;

/// The prefix of CloudWatch Logs' JSON-protocol operations (`X-Amz-Target`).
const LOGS_TARGET: &str = "Logs_20140328.";

#[derive(Debug)]
struct Router {
    moto: String,
    http: reqwest::Client,
    xray: XrayApi,
    insights: LogsInsights,
}

/// The running endpoint; stops when dropped.
#[derive(Debug)]
pub struct AwsEndpoint {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl AwsEndpoint {
    /// Listens on 127.0.0.1:`port` (a free one for 0) in front of moto at `moto`.
    pub async fn start(
        port: u16,
        moto: &str,
        xray: XrayApi,
        insights: LogsInsights,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let router = Arc::new(Router {
            moto: moto.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            xray,
            insights,
        });
        let task = tokio::spawn(serve(listener, move |request| {
            let router = Arc::clone(&router);
            async move { router.route(request).await }
        }));
        Ok(Self { address, task })
    }

    /// `AWS_ENDPOINT_URL` for the tools.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }
}

impl Drop for AwsEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Router {
    async fn route(&self, request: Request<Incoming>) -> HttpResponse {
        let (parts, body) = request.into_parts();
        let Ok(body) = body.collect().await.map(|body| body.to_bytes()) else {
            return reply(StatusCode::BAD_REQUEST, "text/plain", "unreadable request body");
        };
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if let Some(operation) = target.strip_prefix(LOGS_TARGET)
            && let Some(answer) = self.insights.answer(operation, &body)
        {
            return json_answer(
                answer.status,
                answer.error_type,
                &answer.body,
                "application/x-amz-json-1.1",
            );
        }
        if target.is_empty()
            && parts.method == hyper::Method::POST
            && let Some(answer) = self.xray.answer(parts.uri.path(), &body)
        {
            return json_answer(answer.status, answer.error_type, &answer.body, "application/json");
        }
        forward(&self.http, &self.moto, &parts, body).await
    }
}

/// A JSON answer; an error names its type as AWS's protocols do (`x-amzn-errortype`).
fn json_answer(
    status: u16,
    error_type: Option<&str>,
    body: &serde_json::Value,
    content_type: &str,
) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = reply(status, content_type, body.to_string());
    if let Some(error_type) = error_type
        && let Ok(value) = error_type.parse()
    {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}
