//! A local OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf or JSON) that keeps every span
//! in memory: what the functions export is what the demo shows and the end-to-end test checks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use tokio::net::TcpListener;

/// One received span, flattened for queries and rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub status: SpanStatus,
    pub attributes: BTreeMap<String, String>,
    /// (trace id, span id) of each link.
    pub links: Vec<(String, String)>,
    pub events: Vec<String>,
}

impl SpanRecord {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }

    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_empty()
    }

    pub fn is_child_of(&self, parent: &SpanRecord) -> bool {
        self.trace_id == parent.trace_id && self.parent_span_id == parent.span_id
    }

    pub fn links_to(&self, other: &SpanRecord) -> bool {
        self.links
            .iter()
            .any(|(trace, span)| *trace == other.trace_id && *span == other.span_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
    Unspecified,
}

impl SpanKind {
    fn from_proto(kind: i32) -> Self {
        match kind {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SpanKind::Internal => "INTERNAL",
            SpanKind::Server => "SERVER",
            SpanKind::Client => "CLIENT",
            SpanKind::Producer => "PRODUCER",
            SpanKind::Consumer => "CONSUMER",
            SpanKind::Unspecified => "-",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Ok,
    Error(String),
}

/// Spans received so far.
#[derive(Debug, Clone, Default)]
pub struct SpanStore(Arc<Mutex<Vec<SpanRecord>>>);

impl SpanStore {
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.0.lock().map(|spans| spans.clone()).unwrap_or_default()
    }

    pub fn extend(&self, spans: impl IntoIterator<Item = SpanRecord>) {
        if let Ok(mut store) = self.0.lock() {
            store.extend(spans);
        }
    }
}

/// The running receiver; stops when dropped.
#[derive(Debug)]
pub struct TraceSink {
    address: SocketAddr,
    store: SpanStore,
    task: tokio::task::JoinHandle<()>,
}

impl TraceSink {
    /// Listens on 127.0.0.1:`port` (a free port for 0).
    pub async fn start(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let store = SpanStore::default();
        let task = tokio::spawn(serve(listener, store.clone()));
        Ok(Self { address, store, task })
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for the functions.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn store(&self) -> SpanStore {
        self.store.clone()
    }

    pub fn spans(&self) -> Vec<SpanRecord> {
        self.store.spans()
    }
}

impl Drop for TraceSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, store: SpanStore) {
    while let Ok((stream, _)) = listener.accept().await {
        let store = store.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(request, store.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>, store: SpanStore) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if request.method() != hyper::Method::POST || request.uri().path() != "/v1/traces" {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "OTLP traces go to POST /v1/traces",
        ));
    }
    let json = request
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let body = request.into_body().collect().await?.to_bytes();
    let decoded = if json {
        serde_json::from_slice::<ExportTraceServiceRequest>(&body).map_err(|e| e.to_string())
    } else {
        ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())
    };
    match decoded {
        Ok(export) => {
            store.extend(records(export));
            Ok(if json {
                reply(StatusCode::OK, "application/json", "{}")
            } else {
                reply(StatusCode::OK, "application/x-protobuf", "")
            })
        }
        Err(error) => Ok(reply(StatusCode::BAD_REQUEST, "text/plain", &error)),
    }
}

fn reply(status: StatusCode, content_type: &str, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert("content-type", value);
    }
    response
}

/// Flattens an OTLP export into span records.
pub fn records(export: ExportTraceServiceRequest) -> Vec<SpanRecord> {
    let mut records = Vec::new();
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|resource| resource.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref())
            .map(render)
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                let status = match span.status {
                    Some(status) if status.code == 2 => SpanStatus::Error(status.message),
                    Some(status) if status.code == 1 => SpanStatus::Ok,
                    _ => SpanStatus::Unset,
                };
                records.push(SpanRecord {
                    service: service.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    kind: SpanKind::from_proto(span.kind),
                    start_unix_nanos: span.start_time_unix_nano,
                    end_unix_nanos: span.end_time_unix_nano,
                    status,
                    attributes: attributes(&span.attributes),
                    links: span
                        .links
                        .iter()
                        .map(|link| (hex(&link.trace_id), hex(&link.span_id)))
                        .collect(),
                    events: span.events.into_iter().map(|event| event.name).collect(),
                });
            }
        }
    }
    records
}

fn attributes(key_values: &[KeyValue]) -> BTreeMap<String, String> {
    key_values
        .iter()
        .filter_map(|kv| kv.value.as_ref().map(|value| (kv.key.clone(), render(value))))
        .collect()
}

/// An attribute value as text: strings as is, arrays as `[a, b]`.
fn render(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        Some(any_value::Value::ArrayValue(array)) => {
            let items: Vec<String> = array.values.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let items: Vec<String> = list
                .values
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value.as_ref().map(render).unwrap_or_default()))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Some(any_value::Value::BytesValue(bytes)) => hex(bytes),
        _ => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
