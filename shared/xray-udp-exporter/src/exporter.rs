use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use prost::Message;

use crate::application_signals::ApplicationSignals;

/// The header every datagram to the X-Ray daemon starts with.
pub const PROTOCOL_HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";
/// Prefix of a payload of sampled spans (stored as traces and counted for metrics).
pub const SAMPLED_PREFIX: &str = "T1S";
/// Prefix of a payload of unsampled spans (counted for Application Signals metrics only).
pub const UNSAMPLED_PREFIX: &str = "T1U";
/// Where the daemon listens when `AWS_XRAY_DAEMON_ADDRESS` is not set.
pub const DEFAULT_DAEMON_ADDRESS: &str = "127.0.0.1:2000";
/// The largest UDP payload IPv4 can carry; the daemon's read buffer (64 KiB) is larger.
pub const MAX_DATAGRAM_BYTES: usize = 65_507;

/// Why the daemon address is unusable.
#[derive(Debug, thiserror::Error)]
pub enum UdpExporterError {
    #[error("AWS_XRAY_DAEMON_ADDRESS={0:?} is not a host:port")]
    /// The address is not `host:port`.
    Address(String),
    #[error("cannot open a UDP socket for the X-Ray daemon: {0}")]
    /// No UDP socket could be opened.
    Socket(std::io::Error),
}

/// Exports spans as OTLP over UDP to the X-Ray daemon.
#[derive(Debug)]
pub struct XrayUdpExporter {
    socket: UdpSocket,
    daemon: SocketAddr,
    resource: ResourceAttributesWithSchema,
    signals: Option<ApplicationSignals>,
    counters: Arc<UdpExportCounters>,
}

/// What the exporter has sent and dropped, for tests and logs.
#[derive(Debug, Default)]
pub struct UdpExportCounters {
    /// Datagrams sent.
    pub datagrams: AtomicU64,
    /// Spans dropped because one alone exceeds a datagram.
    pub oversized_spans_dropped: AtomicU64,
}

impl XrayUdpExporter {
    /// An exporter for the daemon at `address` (`host:port`). With `signals`, spans get the
    /// Application Signals attributes before they are encoded.
    pub fn new(address: &str, signals: Option<ApplicationSignals>) -> Result<Self, UdpExporterError> {
        let daemon = address
            .to_socket_addrs()
            .ok()
            .and_then(|mut addresses| addresses.next())
            .ok_or_else(|| UdpExporterError::Address(address.to_owned()))?;
        let local = if daemon.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let socket = UdpSocket::bind(local).map_err(UdpExporterError::Socket)?;
        Ok(Self {
            socket,
            daemon,
            resource: ResourceAttributesWithSchema::from(&Resource::builder_empty().build()),
            signals,
            counters: Arc::default(),
        })
    }

    /// The exporter's counters, shared.
    pub fn counters(&self) -> Arc<UdpExportCounters> {
        Arc::clone(&self.counters)
    }

    /// The datagrams for `batch`: sampled and unsampled spans apart, each datagram at most
    /// [`MAX_DATAGRAM_BYTES`].
    pub fn datagrams(&self, mut batch: Vec<SpanData>) -> Vec<Vec<u8>> {
        if let Some(signals) = &self.signals {
            signals.annotate(&mut batch);
        }
        let (sampled, unsampled): (Vec<SpanData>, Vec<SpanData>) =
            batch.into_iter().partition(|span| span.span_context.is_sampled());
        let mut datagrams = Vec::new();
        for (prefix, spans) in [(SAMPLED_PREFIX, sampled), (UNSAMPLED_PREFIX, unsampled)] {
            if spans.is_empty() {
                continue;
            }
            for request in self.split(group_spans_by_resource_and_scope(spans, &self.resource)) {
                datagrams.push(encode(prefix, &request));
            }
        }
        datagrams
    }

    /// Packs spans greedily into requests that fit a datagram, keeping each scope's spans under
    /// their scope. Sizes are bounded from above, so a request never outgrows a datagram.
    fn split(&self, resource_spans: Vec<ResourceSpans>) -> Vec<ExportTraceServiceRequest> {
        let budget = max_payload_bytes(MAX_DATAGRAM_BYTES - PROTOCOL_HEADER.len() - SAMPLED_PREFIX.len());
        let mut requests = Vec::new();
        for resource_span in resource_spans {
            for scope_spans in resource_span.scope_spans.iter() {
                let empty = request_of(&resource_span, scope_spans, Vec::new());
                // Room for the two enclosing length prefixes to grow (5 bytes each at most).
                let overhead = empty.encoded_len() + 10;
                let mut current = Vec::new();
                let mut current_bytes = overhead;
                for span in &scope_spans.spans {
                    let span_bytes = field_bytes(span.encoded_len());
                    if overhead + span_bytes > budget {
                        self.counters
                            .oversized_spans_dropped
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            span = %span.name,
                            bytes = span_bytes,
                            "span too large for one datagram to the X-Ray daemon; dropped"
                        );
                        continue;
                    }
                    if current_bytes + span_bytes > budget {
                        requests.push(request_of(
                            &resource_span,
                            scope_spans,
                            std::mem::take(&mut current),
                        ));
                        current_bytes = overhead;
                    }
                    current.push(span.clone());
                    current_bytes += span_bytes;
                }
                if !current.is_empty() {
                    requests.push(request_of(&resource_span, scope_spans, current));
                }
            }
        }
        requests
    }
}

/// A request holding `spans` under the resource and scope they came with.
fn request_of(
    resource_span: &ResourceSpans,
    scope_spans: &ScopeSpans,
    spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource_span.resource.clone(),
            scope_spans: vec![ScopeSpans {
                scope: scope_spans.scope.clone(),
                spans,
                schema_url: scope_spans.schema_url.clone(),
            }],
            schema_url: resource_span.schema_url.clone(),
        }],
    }
}

/// Bytes a length-delimited field of `len` bytes takes: tag, length prefix, payload.
fn field_bytes(len: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

/// The most raw bytes whose base64 fits in `encoded_budget` characters.
fn max_payload_bytes(encoded_budget: usize) -> usize {
    encoded_budget / 4 * 3
}

/// One datagram: header, prefix, base64 of the protobuf request.
pub fn encode(prefix: &str, request: &ExportTraceServiceRequest) -> Vec<u8> {
    let payload = base64::engine::general_purpose::STANDARD.encode(request.encode_to_vec());
    let mut datagram = Vec::with_capacity(PROTOCOL_HEADER.len() + prefix.len() + payload.len());
    datagram.extend_from_slice(PROTOCOL_HEADER.as_bytes());
    datagram.extend_from_slice(prefix.as_bytes());
    datagram.extend_from_slice(payload.as_bytes());
    datagram
}

/// A datagram taken apart: whether its spans are sampled, and the request it carries.
pub fn decode(datagram: &[u8]) -> Option<(bool, ExportTraceServiceRequest)> {
    let rest = datagram.strip_prefix(PROTOCOL_HEADER.as_bytes())?;
    let (sampled, payload) = if let Some(payload) = rest.strip_prefix(SAMPLED_PREFIX.as_bytes()) {
        (true, payload)
    } else {
        (false, rest.strip_prefix(UNSAMPLED_PREFIX.as_bytes())?)
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(payload).ok()?;
    let request = ExportTraceServiceRequest::decode(bytes.as_slice()).ok()?;
    Some((sampled, request))
}

impl SpanExporter for XrayUdpExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut failures = Vec::new();
        for datagram in self.datagrams(batch) {
            match self.socket.send_to(&datagram, self.daemon) {
                Ok(_) => {
                    self.counters.datagrams.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => failures.push(error.to_string()),
            }
        }
        match failures.first() {
            None => Ok(()),
            Some(first) => Err(OTelSdkError::InternalFailure(format!(
                "{} datagram(s) to the X-Ray daemon at {} not sent: {first}",
                failures.len(),
                self.daemon
            ))),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = ResourceAttributesWithSchema::from(resource);
        if let Some(signals) = &mut self.signals {
            signals.set_resource(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_budget_leaves_room_for_base64_and_the_header() {
        let budget = max_payload_bytes(MAX_DATAGRAM_BYTES - PROTOCOL_HEADER.len() - SAMPLED_PREFIX.len());
        let encoded = budget.div_ceil(3) * 4;
        assert!(PROTOCOL_HEADER.len() + SAMPLED_PREFIX.len() + encoded <= MAX_DATAGRAM_BYTES);
        assert!(
            PROTOCOL_HEADER.len() + SAMPLED_PREFIX.len() + (budget + 3).div_ceil(3) * 4 > MAX_DATAGRAM_BYTES
        );
    }

    #[test]
    fn the_header_is_the_sdks_byte_for_byte() {
        assert_eq!(PROTOCOL_HEADER, "{\"format\":\"json\",\"version\":1}\n");
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(decode(b"{\"format\":\"json\",\"version\":1}\nT1Xabc").is_none());
        assert!(decode(b"T1Sabc").is_none());
        assert!(decode(b"{\"format\":\"json\",\"version\":1}\nT1S!!!").is_none());
    }
}
