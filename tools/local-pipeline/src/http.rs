//! The HTTP plumbing the local pipeline's endpoints share: a loopback server that hands each
//! request to a handler, a reply, and forwarding a request unchanged to another endpoint.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A complete HTTP response.
pub type HttpResponse = Response<Full<Bytes>>;

/// Serves every connection on `listener` with `handler`, until the task is aborted.
pub async fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = handler(request);
                async move { Ok::<_, Infallible>(response.await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A response with `status`, `content_type` and `body`.
pub fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert("content-type", value);
    }
    response
}

/// Sends the request (`parts`, `body`) to `upstream` (`http://host:port`) unchanged and hands
/// back its answer; one it could not get is a `502` with the reason.
pub async fn forward(
    http: &reqwest::Client,
    upstream: &str,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> HttpResponse {
    send_on(http, upstream, parts, body)
        .await
        .unwrap_or_else(|error| reply(StatusCode::BAD_GATEWAY, "text/plain", error))
}

async fn send_on(
    http: &reqwest::Client,
    upstream: &str,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<HttpResponse, String> {
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = http.request(parts.method.clone(), format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding"
        ) {
            request = request.header(name, value);
        }
    }
    let answer = request.body(body).send().await.map_err(|e| e.to_string())?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding"
        ) {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.map_err(|e| e.to_string())?;
    response.body(Full::new(bytes)).map_err(|e| e.to_string())
}
