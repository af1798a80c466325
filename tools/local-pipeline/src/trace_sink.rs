//! A local trace receiver that keeps every span in memory: what the functions export is what the
//! demo shows and the end-to-end test checks. It takes both transports: OTLP/HTTP
//! (`POST /v1/traces`, protobuf or JSON; the ADOT collector's receiver) and OTLP over UDP in the
//! X-Ray daemon's datagram format (what `OTEL_AWS_APPLICATION_SIGNALS_ENABLED=true` sends).
//! Tools read the spans back through X-Ray's API on the stack's AWS endpoint (`xray_api`), as
//! they read them in AWS.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use tokio::net::{TcpListener, UdpSocket};
use trace_reader::span::{SpanKind, SpanRecord, SpanStatus};

use crate::http::{HttpResponse, reply, serve};

/// The spans, in arrival order, and where each trace's are.
#[derive(Debug, Default)]
struct StoredSpans {
    spans: Vec<SpanRecord>,
    by_trace: HashMap<String, Vec<usize>>,
}

/// Spans received so far, and why any export was refused.
#[derive(Debug, Clone, Default)]
pub struct SpanStore {
    spans: Arc<Mutex<StoredSpans>>,
    rejected: Arc<Mutex<Vec<String>>>,
    /// Each received span's size as one OTLP JSON document with its resource, by span id: what
    /// Transaction Search stores of it (`make bench` prices span ingestion with it).
    stored_bytes: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl SpanStore {
    /// Every span stored.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.spans
            .lock()
            .map(|stored| stored.spans.clone())
            .unwrap_or_default()
    }

    /// The spans of one trace (32 hex digits), found by the trace's index rather than a scan:
    /// a long run holds hundreds of thousands.
    pub fn trace(&self, trace_id: &str) -> Vec<SpanRecord> {
        self.spans
            .lock()
            .map(|stored| {
                stored
                    .by_trace
                    .get(trace_id)
                    .into_iter()
                    .flatten()
                    .filter_map(|index| stored.spans.get(*index).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stores `spans`.
    pub fn extend(&self, spans: impl IntoIterator<Item = SpanRecord>) {
        if let Ok(mut stored) = self.spans.lock() {
            for span in spans {
                let index = stored.spans.len();
                stored
                    .by_trace
                    .entry(span.trace_id.clone())
                    .or_default()
                    .push(index);
                stored.spans.push(span);
            }
        }
    }

    /// The stored size of span `span_id` (see the field), if it was received over OTLP.
    pub fn stored_bytes(&self, span_id: &str) -> Option<u64> {
        self.stored_bytes.lock().ok()?.get(span_id).copied()
    }

    /// Records `export`'s spans, each with its stored size.
    fn receive(&self, export: ExportTraceServiceRequest, sampled: bool) {
        if let Ok(mut sizes) = self.stored_bytes.lock() {
            for resource_spans in &export.resource_spans {
                let resource = serde_json::to_string(&resource_spans.resource).map_or(0, |json| json.len());
                for span in resource_spans.scope_spans.iter().flat_map(|scope| &scope.spans) {
                    let own = serde_json::to_string(span).map_or(0, |json| json.len());
                    sizes.insert(hex(&span.span_id), (resource + own) as u64);
                }
            }
        }
        self.extend(records(export, sampled));
    }

    /// Exports that could not be decoded: each would be spans lost in production.
    pub fn rejected(&self) -> Vec<String> {
        self.rejected
            .lock()
            .map(|rejected| rejected.clone())
            .unwrap_or_default()
    }

    fn reject(&self, reason: String) {
        if let Ok(mut rejected) = self.rejected.lock() {
            rejected.push(reason);
        }
    }
}

/// The running receiver; stops when dropped.
#[derive(Debug)]
pub struct TraceSink {
    address: SocketAddr,
    udp_address: SocketAddr,
    store: SpanStore,
    tasks: [tokio::task::JoinHandle<()>; 3],
}

impl TraceSink {
    /// Listens on 127.0.0.1:`port` for OTLP/HTTP and on 127.0.0.1:`udp_port` for the X-Ray
    /// daemon format (a free port for 0).
    pub async fn start(port: u16, udp_port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let socket = bind_udp(SocketAddr::from(([127, 0, 0, 1], udp_port)))?;
        let udp_address = socket.local_addr()?;
        let store = SpanStore::default();
        let (datagrams, received) = tokio::sync::mpsc::unbounded_channel();
        let tasks = [
            tokio::spawn(serve(listener, {
                let store = store.clone();
                move |request| handle(request, store.clone())
            })),
            tokio::spawn(receive_datagrams(socket, datagrams, store.clone())),
            tokio::spawn(decode_datagrams(received, store.clone())),
        ];
        Ok(Self {
            address,
            udp_address,
            store,
            tasks,
        })
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for the functions.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `AWS_XRAY_DAEMON_ADDRESS` for the functions (Lambda sets it to its own daemon).
    pub fn xray_daemon_address(&self) -> String {
        self.udp_address.to_string()
    }

    /// Span datagrams the kernel dropped before the sink read them (0 in a run whose every
    /// span arrived); `None` where the platform does not say.
    pub fn dropped_datagrams(&self) -> Option<u64> {
        kernel_drops(self.udp_address)
    }

    /// The store it writes to.
    pub fn store(&self) -> SpanStore {
        self.store.clone()
    }

    /// Every span received.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.store.spans()
    }
}

impl Drop for TraceSink {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What the sink asks the kernel to buffer for its UDP socket (capped at `net.core.rmem_max`).
/// A full buffer drops datagrams silently, as it would for the X-Ray daemon: a function
/// flushing a batch's spans sends them in one burst, while the stack's other processes compete
/// for the same cores.
const UDP_RECEIVE_BUFFER_BYTES: usize = 4 * 1024 * 1024;

fn bind_udp(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER_BYTES)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}

/// Only copies datagrams out of the socket, so decoding never holds the kernel's buffer full.
async fn receive_datagrams(
    socket: UdpSocket,
    datagrams: tokio::sync::mpsc::UnboundedSender<bytes::Bytes>,
    store: SpanStore,
) {
    // The daemon's read buffer: a larger datagram would be cut short in production.
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        match socket.recv(&mut buffer).await {
            Ok(length) => {
                if datagrams
                    .send(bytes::Bytes::copy_from_slice(&buffer[..length]))
                    .is_err()
                {
                    return;
                }
            }
            Err(error) => store.reject(format!("UDP receive failed: {error}")),
        }
    }
}

async fn decode_datagrams(
    mut received: tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>,
    store: SpanStore,
) {
    while let Some(datagram) = received.recv().await {
        match decode_daemon_datagram(&datagram) {
            Ok((sampled, export)) => store.receive(export, sampled),
            Err(reason) => store.reject(format!("UDP datagram of {} bytes: {reason}", datagram.len())),
        }
    }
}

/// Datagrams the kernel dropped because the sink's receive buffer was full, from the `drops`
/// column of `/proc/net/udp` (Linux); `None` where that cannot be read.
fn kernel_drops(address: SocketAddr) -> Option<u64> {
    drops_in_udp_table(&std::fs::read_to_string("/proc/net/udp").ok()?, address)
}

fn drops_in_udp_table(table: &str, address: SocketAddr) -> Option<u64> {
    let std::net::IpAddr::V4(ip) = address.ip() else {
        return None;
    };
    // The kernel prints the address as its in-memory u32 in hex, then the port.
    let local = format!("{:08X}:{:04X}", u32::from_ne_bytes(ip.octets()), address.port());
    table
        .lines()
        .skip(1)
        .find(|line| line.split_whitespace().nth(1) == Some(local.as_str()))
        .and_then(|line| line.split_whitespace().last()?.parse().ok())
}

/// One datagram in the X-Ray daemon format the ADOT SDKs use for OTLP: a JSON header line
/// `{"format":"json","version":1}`, then `T1S` (sampled) or `T1U` (unsampled), then the base64
/// of an OTLP `ExportTraceServiceRequest`. Written apart from the exporter in shared-telemetry,
/// so the end-to-end test checks the wire format and not the exporter against itself.
pub fn decode_daemon_datagram(datagram: &[u8]) -> Result<(bool, ExportTraceServiceRequest), String> {
    let newline = datagram
        .iter()
        .position(|byte| *byte == b'\n')
        .ok_or("no header line")?;
    let header: serde_json::Value = serde_json::from_slice(&datagram[..newline])
        .map_err(|error| format!("header is not JSON: {error}"))?;
    if header != serde_json::json!({"format": "json", "version": 1}) {
        return Err(format!("unexpected header {header}"));
    }
    let body = &datagram[newline + 1..];
    let (sampled, payload) = match body.split_at_checked(3) {
        Some((b"T1S", payload)) => (true, payload),
        Some((b"T1U", payload)) => (false, payload),
        _ => return Err("body does not start with T1S or T1U".to_owned()),
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|error| format!("payload is not base64: {error}"))?;
    let export = ExportTraceServiceRequest::decode(bytes.as_slice())
        .map_err(|error| format!("payload is not an OTLP ExportTraceServiceRequest: {error}"))?;
    Ok((sampled, export))
}

async fn handle(request: Request<Incoming>, store: SpanStore) -> HttpResponse {
    if request.method() != hyper::Method::POST || request.uri().path() != "/v1/traces" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "OTLP traces go to POST /v1/traces",
        );
    }
    let json = request
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let Ok(body) = request.into_body().collect().await.map(|body| body.to_bytes()) else {
        return reply(StatusCode::BAD_REQUEST, "text/plain", "unreadable request body");
    };
    let decoded = if json {
        serde_json::from_slice::<ExportTraceServiceRequest>(&body).map_err(|e| e.to_string())
    } else {
        ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())
    };
    match decoded {
        Ok(export) => {
            // The OTLP exporter sends only the spans that were sampled.
            store.receive(export, true);
            match json {
                true => reply(StatusCode::OK, "application/json", "{}"),
                false => reply(StatusCode::OK, "application/x-protobuf", ""),
            }
        }
        Err(error) => {
            store.reject(format!("OTLP/HTTP export: {error}"));
            reply(StatusCode::BAD_REQUEST, "text/plain", error)
        }
    }
}

/// Flattens an OTLP export into span records.
pub fn records(export: ExportTraceServiceRequest, sampled: bool) -> Vec<SpanRecord> {
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
                    kind: SpanKind::from_otlp(span.kind),
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
                    sampled,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_drop_count_is_read_for_the_sinks_own_socket() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  101: 0100007F:A1B2 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1234 2 0000000000000000 0
  102: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1235 2 0000000000000000 17
";
        let sink = SocketAddr::from(([127, 0, 0, 1], 0x1F90));
        assert_eq!(drops_in_udp_table(table, sink), Some(17));
        assert_eq!(
            drops_in_udp_table(table, SocketAddr::from(([127, 0, 0, 1], 9))),
            None
        );
    }

    fn datagram(header: &str, prefix: &str, request: &ExportTraceServiceRequest) -> Vec<u8> {
        let payload = base64::engine::general_purpose::STANDARD.encode(request.encode_to_vec());
        format!("{header}\n{prefix}{payload}").into_bytes()
    }

    #[test]
    fn daemon_datagrams_decode_whatever_the_header_spacing() {
        let request = ExportTraceServiceRequest::default();
        let compact = datagram(r#"{"format":"json","version":1}"#, "T1S", &request);
        assert_eq!(decode_daemon_datagram(&compact), Ok((true, request.clone())));
        let spaced = datagram(r#"{"format": "json", "version": 1}"#, "T1U", &request);
        assert_eq!(decode_daemon_datagram(&spaced), Ok((false, request)));
    }

    #[test]
    fn malformed_datagrams_say_what_is_wrong() {
        let request = ExportTraceServiceRequest::default();
        let cases: [(Vec<u8>, &str); 4] = [
            (b"T1Sabc".to_vec(), "no header line"),
            (
                datagram(r#"{"format":"json","version":2}"#, "T1S", &request),
                "unexpected header",
            ),
            (
                datagram(r#"{"format":"json","version":1}"#, "T2S", &request),
                "T1S or T1U",
            ),
            (
                b"{\"format\":\"json\",\"version\":1}\nT1S%%%".to_vec(),
                "not base64",
            ),
        ];
        for (bytes, expected) in cases {
            let error = decode_daemon_datagram(&bytes).expect_err(expected);
            assert!(error.contains(expected), "{error}");
        }
    }
}
