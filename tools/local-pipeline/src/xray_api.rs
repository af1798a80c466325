//! X-Ray's read API, answered from the spans the trace sink received, so the tools read traces
//! locally with the same `aws-sdk-xray` calls they make in AWS: `GetTraceSegmentDestination`,
//! `BatchGetTraces`, `GetTraceSummaries`, `StartTraceRetrieval` and `ListRetrievedTraces`.
//!
//! Spans become segment documents the way X-Ray's OpenTelemetry translation makes them (the
//! collector's `awsxray` translator is the public model): a SERVER span or a local root is a
//! segment named after its service; a CLIENT, PRODUCER or CONSUMER local root becomes a service
//! segment plus a dependency subsegment; every other span is a subsegment nested in its
//! segment, named after the remote service (`aws.remote.service` without `AWS::`, else
//! `rpc.service` in the `aws` namespace, else the span's name). Attributes named in
//! `aws.xray.annotations` are annotations (dots become underscores), the rest `default`
//! metadata. Only sampled spans are recorded, as in X-Ray.
//!
//! With Transaction Search on (the default here, as `terraform/bootstrap` sets it), segments
//! go to CloudWatch Logs: `BatchGetTraces` finds nothing, `GetTraceSummaries` sees only the
//! indexed share of traces, and full traces come back through `StartTraceRetrieval` and
//! `ListRetrievedTraces`, as AWS documents. With it off, the classic calls answer and the
//! retrieval calls are refused.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use trace_reader::span::{SpanKind, SpanRecord, SpanStatus};

use crate::trace_sink::SpanStore;

/// Where X-Ray puts segments, and what share Transaction Search indexes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceStorage {
    /// Segments go to CloudWatch Logs (`aws/spans`) instead of X-Ray's own store.
    pub transaction_search: bool,
    /// With Transaction Search, the percentage of traces indexed as trace summaries.
    pub indexing_percentage: f64,
}

impl Default for TraceStorage {
    /// As `terraform/bootstrap` sets up an account: Transaction Search on, 1% indexed.
    fn default() -> Self {
        Self {
            transaction_search: true,
            indexing_percentage: 1.0,
        }
    }
}

impl TraceStorage {
    /// Whether Transaction Search indexed `trace_id` as a trace summary: a fixed share of trace
    /// ids, the same one every time.
    pub fn indexes(&self, trace_id: &str) -> bool {
        if !self.transaction_search {
            return true;
        }
        let mut hasher = DefaultHasher::new();
        trace_id.hash(&mut hasher);
        (hasher.finish() % 10_000) as f64 / 100.0 < self.indexing_percentage
    }
}

/// An answer: HTTP status and JSON body (with the error type for a 4xx).
#[derive(Debug, Clone, PartialEq)]
pub struct XrayAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The `__type` of an error answer.
    pub error_type: Option<&'static str>,
    /// The JSON body.
    pub body: Value,
}

impl XrayAnswer {
    fn ok(body: Value) -> Self {
        Self {
            status: 200,
            error_type: None,
            body,
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            error_type: Some("InvalidRequestException"),
            body: json!({ "Message": message.into() }),
        }
    }
}

#[derive(Debug)]
struct Retrieval {
    trace_ids: Vec<String>,
    start_nanos: u64,
    end_nanos: u64,
    /// Lists answered so far: the first finds it still running, as a real retrieval would be.
    listed: u32,
}

/// The X-Ray read API over a span store.
#[derive(Debug, Clone)]
pub struct XrayApi {
    store: SpanStore,
    storage: TraceStorage,
    retrievals: Arc<Mutex<HashMap<String, Retrieval>>>,
}

impl XrayApi {
    /// X-Ray's read API over `store`, keeping segments as `storage` says.
    pub fn new(store: SpanStore, storage: TraceStorage) -> Self {
        Self {
            store,
            storage,
            retrievals: Arc::default(),
        }
    }

    /// Where segments are kept.
    pub fn storage(&self) -> TraceStorage {
        self.storage
    }

    /// Answers the REST request `POST <path>` with JSON `body`, or `None` if `path` is not one
    /// of the read calls.
    pub fn answer(&self, path: &str, body: &[u8]) -> Option<XrayAnswer> {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        Some(match path {
            "/GetTraceSegmentDestination" => XrayAnswer::ok(json!({
                "Destination": if self.storage.transaction_search { "CloudWatchLogs" } else { "XRay" },
                "Status": "ACTIVE",
            })),
            "/Traces" => self.batch_get_traces(&request),
            "/TraceSummaries" => self.trace_summaries(&request),
            "/StartTraceRetrieval" => self.start_trace_retrieval(&request),
            "/ListRetrievedTraces" => self.list_retrieved_traces(&request),
            _ => return None,
        })
    }

    fn batch_get_traces(&self, request: &Value) -> XrayAnswer {
        let ids = strings(&request["TraceIds"]);
        if self.storage.transaction_search {
            // "You cannot find traces through this API if Transaction Search is enabled."
            return XrayAnswer::ok(json!({ "Traces": [], "UnprocessedTraceIds": ids }));
        }
        let (mut traces, mut unprocessed) = (Vec::new(), Vec::new());
        for id in ids {
            match trace_json(&self.store.trace(&w3c_id(&id)), &id, 0, u64::MAX, "Segments") {
                Some(trace) => traces.push(trace),
                None => unprocessed.push(id),
            }
        }
        XrayAnswer::ok(json!({ "Traces": traces, "UnprocessedTraceIds": unprocessed }))
    }

    fn trace_summaries(&self, request: &Value) -> XrayAnswer {
        let (Some(start), Some(end)) = (seconds(&request["StartTime"]), seconds(&request["EndTime"])) else {
            return XrayAnswer::invalid("StartTime and EndTime are required");
        };
        let filter = match request["FilterExpression"].as_str().map(AnnotationFilter::parse) {
            None => None,
            Some(Ok(filter)) => Some(filter),
            Some(Err(message)) => return XrayAnswer::invalid(message),
        };
        let spans = self.store.spans();
        let mut seen = HashSet::new();
        let mut summaries = Vec::new();
        for span in spans.iter().filter(|span| span.sampled) {
            if span.start_unix_nanos < start
                || span.start_unix_nanos > end
                || !filter.as_ref().is_none_or(|filter| filter.matches(span))
                || !self.storage.indexes(&span.trace_id)
                || !seen.insert(span.trace_id.clone())
            {
                continue;
            }
            let trace: Vec<&SpanRecord> = spans
                .iter()
                .filter(|other| other.sampled && other.trace_id == span.trace_id)
                .collect();
            let (first, last) = bounds(&trace);
            summaries.push(json!({
                "Id": xray_id(&span.trace_id),
                "StartTime": first as f64 / 1e9,
                "Duration": (last - first) as f64 / 1e9,
                "HasError": trace.iter().any(|span| matches!(span.status, SpanStatus::Error(_))),
                "IsPartial": false,
            }));
        }
        XrayAnswer::ok(json!({
            "TraceSummaries": summaries,
            "ApproximateTime": end as f64 / 1e9,
            "TracesProcessedCount": seen.len(),
        }))
    }

    fn start_trace_retrieval(&self, request: &Value) -> XrayAnswer {
        if !self.storage.transaction_search {
            return XrayAnswer::invalid(
                "Transaction Search is not enabled: segments are in X-Ray, read them with BatchGetTraces",
            );
        }
        let (Some(start_nanos), Some(end_nanos)) =
            (seconds(&request["StartTime"]), seconds(&request["EndTime"]))
        else {
            return XrayAnswer::invalid("StartTime and EndTime are required");
        };
        let trace_ids = strings(&request["TraceIds"]);
        if trace_ids.is_empty() {
            return XrayAnswer::invalid("TraceIds must name at least one trace");
        }
        let Ok(mut retrievals) = self.retrievals.lock() else {
            return XrayAnswer::invalid("the retrieval table is unavailable");
        };
        let token = format!("local-retrieval-{}", retrievals.len() + 1);
        retrievals.insert(
            token.clone(),
            Retrieval {
                trace_ids,
                start_nanos,
                end_nanos,
                listed: 0,
            },
        );
        XrayAnswer::ok(json!({ "RetrievalToken": token }))
    }

    fn list_retrieved_traces(&self, request: &Value) -> XrayAnswer {
        let format = request["TraceFormat"].as_str().unwrap_or("XRAY");
        if format != "XRAY" {
            return XrayAnswer::invalid(format!(
                "TraceFormat {format}: the local pipeline answers XRAY only"
            ));
        }
        let token = request["RetrievalToken"].as_str().unwrap_or_default();
        let Ok(mut retrievals) = self.retrievals.lock() else {
            return XrayAnswer::invalid("the retrieval table is unavailable");
        };
        let Some(retrieval) = retrievals.get_mut(token) else {
            return XrayAnswer {
                status: 404,
                error_type: Some("ResourceNotFoundException"),
                body: json!({ "Message": format!("no retrieval {token}") }),
            };
        };
        retrieval.listed += 1;
        if retrieval.listed == 1 {
            return XrayAnswer::ok(json!({ "RetrievalStatus": "RUNNING", "TraceFormat": "XRAY" }));
        }
        let traces: Vec<Value> = retrieval
            .trace_ids
            .iter()
            .filter_map(|id| {
                let spans = self.store.trace(&w3c_id(id));
                trace_json(&spans, id, retrieval.start_nanos, retrieval.end_nanos, "Spans")
            })
            .collect();
        XrayAnswer::ok(json!({
            "RetrievalStatus": "COMPLETE",
            "TraceFormat": "XRAY",
            "Traces": traces,
        }))
    }
}

/// `annotation.<key> = "<value>"`, the one filter expression the tools send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationFilter {
    /// The annotation's key.
    pub key: String,
    /// The value it must equal.
    pub value: String,
}

impl AnnotationFilter {
    /// Parses the expression; its string is read as X-Ray reads one (`\"` and `\\` escaped).
    pub fn parse(expression: &str) -> Result<Self, String> {
        let unsupported = || {
            format!(
                "the local pipeline answers filter expressions of the form annotation.<key> = \"<value>\", not {expression:?}"
            )
        };
        let rest = expression
            .trim()
            .strip_prefix("annotation.")
            .ok_or_else(unsupported)?;
        let (key, value) = rest.split_once('=').ok_or_else(unsupported)?;
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(unsupported());
        }
        let value = value.trim();
        let inner = value
            .strip_prefix('"')
            .and_then(|value| value.strip_suffix('"'))
            .ok_or_else(unsupported)?;
        let mut text = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => text.push(chars.next().ok_or_else(unsupported)?),
                '"' => return Err(unsupported()),
                c => text.push(c),
            }
        }
        Ok(Self {
            key: key.to_owned(),
            value: text,
        })
    }

    fn matches(&self, span: &SpanRecord) -> bool {
        annotations(span).any(|(key, value)| key == self.key && value == self.value)
    }
}

/// The span's annotations: the attributes `aws.xray.annotations` names, keys with `_` for `.`.
fn annotations(span: &SpanRecord) -> impl Iterator<Item = (String, &str)> {
    let named = span.attribute("aws.xray.annotations").unwrap_or_default();
    named
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .filter_map(|name| span.attribute(name).map(|value| (name.replace('.', "_"), value)))
}

/// One trace as X-Ray returns it (`Segments` from `BatchGetTraces`, `Spans` from
/// `ListRetrievedTraces`), from its sampled spans that started within the window; `None` when
/// it has none.
fn trace_json(spans: &[SpanRecord], xray_trace_id: &str, start: u64, end: u64, list: &str) -> Option<Value> {
    let trace_id = w3c_id(xray_trace_id);
    let trace: Vec<&SpanRecord> = spans
        .iter()
        .filter(|span| {
            span.sampled && span.trace_id == trace_id && (start..=end).contains(&span.start_unix_nanos)
        })
        .collect();
    if trace.is_empty() {
        return None;
    }
    let (first, last) = bounds(&trace);
    let documents: Vec<Value> = segment_documents(&trace)
        .into_iter()
        .map(|document| json!({ "Id": document["id"], "Document": document.to_string() }))
        .collect();
    Some(json!({
        "Id": xray_trace_id,
        "Duration": (last - first) as f64 / 1e9,
        "LimitExceeded": false,
        list: documents,
    }))
}

/// The segment documents of one trace's spans, subsegments nested in their segments.
pub fn segment_documents(trace: &[&SpanRecord]) -> Vec<Value> {
    let by_id: HashMap<&str, usize> = trace
        .iter()
        .enumerate()
        .rev()
        .map(|(index, span)| (span.span_id.as_str(), index))
        .collect();
    // The span's parent in its own service, if it has one: otherwise it is a local root.
    let local_parent = |index: usize| {
        let span = trace[index];
        by_id
            .get(span.parent_span_id.as_str())
            .copied()
            .filter(|parent| *parent != index && trace[*parent].service == span.service)
    };

    // Nodes: one per span, plus a service segment before each dependency local root.
    let mut nodes: Vec<Map<String, Value>> = Vec::new();
    let mut children: Vec<Vec<usize>> = Vec::new();
    let mut node_of_span = vec![0; trace.len()];
    let mut tops = Vec::new();
    let mut attach = Vec::new();
    for (index, span) in trace.iter().enumerate() {
        let parent = local_parent(index);
        let dependency = matches!(
            span.kind,
            SpanKind::Client | SpanKind::Producer | SpanKind::Consumer
        );
        if parent.is_none() && dependency {
            let service_id = derived_id(&span.span_id);
            let mut service = document(span, &span.service, true);
            service.insert("id".into(), Value::String(service_id.clone()));
            service.remove("metadata");
            service.remove("aws");
            if span.kind != SpanKind::Consumer {
                service.remove("links");
            }
            tops.push(nodes.len());
            nodes.push(service);
            children.push(Vec::new());
            let mut subsegment = document(span, &remote_name(span), false);
            subsegment.insert("parent_id".into(), Value::String(service_id));
            subsegment.remove("links");
            let service_node = nodes.len() - 1;
            node_of_span[index] = nodes.len();
            children[service_node].push(nodes.len());
            nodes.push(subsegment);
            children.push(Vec::new());
        } else if parent.is_none() || span.kind == SpanKind::Server {
            node_of_span[index] = nodes.len();
            tops.push(nodes.len());
            nodes.push(document(span, &span.service, true));
            children.push(Vec::new());
        } else {
            node_of_span[index] = nodes.len();
            nodes.push(document(span, &remote_name(span), false));
            children.push(Vec::new());
            attach.push((index, parent));
        }
    }
    for (index, parent) in attach {
        if let Some(parent) = parent {
            children[node_of_span[parent]].push(node_of_span[index]);
        }
    }
    let mut used = vec![false; nodes.len()];
    tops.iter()
        .map(|top| Value::Object(nest(*top, &nodes, &children, &mut used)))
        .collect()
}

/// The node with its subsegments inside, each node at most once.
fn nest(
    node: usize,
    nodes: &[Map<String, Value>],
    children: &[Vec<usize>],
    used: &mut [bool],
) -> Map<String, Value> {
    used[node] = true;
    let mut document = nodes[node].clone();
    let mut subsegments = Vec::new();
    for child in &children[node] {
        if !used[*child] {
            subsegments.push(Value::Object(nest(*child, nodes, children, used)));
        }
    }
    if !subsegments.is_empty() {
        document.insert("subsegments".into(), Value::Array(subsegments));
    }
    document
}

/// One span's document: a segment (`top`) or a subsegment named `name`.
fn document(span: &SpanRecord, name: &str, top: bool) -> Map<String, Value> {
    let mut document = Map::new();
    document.insert("id".into(), json!(span.span_id));
    document.insert("name".into(), json!(name));
    document.insert("start_time".into(), json!(span.start_unix_nanos as f64 / 1e9));
    document.insert("end_time".into(), json!(span.end_unix_nanos as f64 / 1e9));
    if top {
        document.insert("trace_id".into(), json!(xray_id(&span.trace_id)));
        if !span.parent_span_id.is_empty() {
            document.insert("parent_id".into(), json!(span.parent_span_id));
        }
        if let Some(origin) = span.attribute(trace_reader::xray::ORIGIN_ATTRIBUTE) {
            document.insert("origin".into(), json!(origin));
        }
    } else {
        document.insert("type".into(), json!("subsegment"));
        let aws = span.attribute("rpc.system") == Some("aws-api");
        if aws || span.attribute("aws.remote.service").is_some() || span.kind == SpanKind::Client {
            document.insert("namespace".into(), json!(if aws { "aws" } else { "remote" }));
        }
    }
    let annotations: Map<String, Value> = annotations(span)
        .map(|(key, value)| (key, json!(value)))
        .collect();
    if !annotations.is_empty() {
        document.insert("annotations".into(), Value::Object(annotations));
    }
    let metadata: BTreeMap<&str, &str> = span
        .attributes
        .iter()
        .filter(|(key, _)| {
            key.as_str() != "aws.xray.annotations" && key.as_str() != trace_reader::xray::ORIGIN_ATTRIBUTE
        })
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    if !metadata.is_empty() {
        document.insert("metadata".into(), json!({ "default": metadata }));
    }
    if let Some(method) = span
        .attribute("rpc.method")
        .filter(|_| span.attribute("rpc.system") == Some("aws-api"))
    {
        document.insert("aws".into(), json!({ "operation": method }));
    }
    if let SpanStatus::Error(message) = &span.status {
        let fault = span.kind == SpanKind::Server
            || span
                .attribute("http.response.status_code")
                .is_some_and(|code| code.starts_with('5'));
        document.insert(if fault { "fault" } else { "error" }.into(), json!(true));
        document.insert("cause".into(), json!({ "exceptions": [{ "message": message }] }));
    }
    if !span.links.is_empty() {
        let links: Vec<Value> = span
            .links
            .iter()
            .map(|(trace_id, span_id)| json!({ "trace_id": xray_id(trace_id), "id": span_id }))
            .collect();
        document.insert("links".into(), Value::Array(links));
    }
    document
}

/// What X-Ray names a dependency: the remote service, else the AWS service, else the span.
fn remote_name(span: &SpanRecord) -> String {
    if let Some(remote) = span.attribute("aws.remote.service") {
        return remote.strip_prefix("AWS::").unwrap_or(remote).to_owned();
    }
    if span.attribute("rpc.system") == Some("aws-api")
        && let Some(service) = span.attribute("rpc.service")
    {
        return service.to_owned();
    }
    span.name.clone()
}

/// A segment id for the service segment X-Ray adds before a dependency local root.
fn derived_id(span_id: &str) -> String {
    let mut hasher = DefaultHasher::new();
    ("service-segment", span_id).hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn bounds(trace: &[&SpanRecord]) -> (u64, u64) {
    let first = trace
        .iter()
        .map(|span| span.start_unix_nanos)
        .min()
        .unwrap_or_default();
    let last = trace
        .iter()
        .map(|span| span.end_unix_nanos)
        .max()
        .unwrap_or(first);
    (first, last.max(first))
}

/// `1-5759e988-bd862e3fe1be46a994272793` from 32 hex digits.
fn xray_id(trace_id: &str) -> String {
    trace_reader::waterfall::xray_trace_id(trace_id)
}

/// 32 hex digits from `1-5759e988-bd862e3fe1be46a994272793`.
fn w3c_id(xray_trace_id: &str) -> String {
    trace_reader::xray::otel_trace_id(xray_trace_id)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Epoch seconds (a JSON number, as the SDK sends timestamps) as Unix nanoseconds.
fn seconds(value: &Value) -> Option<u64> {
    value
        .as_f64()
        .filter(|seconds| *seconds >= 0.0)
        .map(|seconds| (seconds * 1e9) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const TRACE: &str = "6b072030a2b7091c360c3217ec38674e";

    fn span(
        service: &str,
        name: &str,
        kind: SpanKind,
        id: &str,
        parent: &str,
        attributes: &[(&str, &str)],
    ) -> SpanRecord {
        SpanRecord {
            service: service.into(),
            trace_id: TRACE.into(),
            span_id: id.into(),
            parent_span_id: parent.into(),
            name: name.into(),
            kind,
            start_unix_nanos: 1_000_000_000,
            end_unix_nanos: 2_000_000_000,
            status: SpanStatus::Unset,
            attributes: attributes
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            links: Vec::new(),
            events: Vec::new(),
            sampled: true,
        }
    }

    fn pipeline() -> Vec<SpanRecord> {
        vec![
            span(
                "webhooks-local/live",
                "POST /webhooks/stripe",
                SpanKind::Server,
                "g",
                "",
                &[("xray.origin", "AWS::ApiGateway::Stage")],
            ),
            span(
                "webhook-api",
                "webhooks-local-webhook-api",
                SpanKind::Server,
                "a",
                "g",
                &[],
            ),
            span(
                "webhook-api",
                "send webhooks-local-events",
                SpanKind::Producer,
                "b",
                "a",
                &[
                    ("messaging.operation.type", "send"),
                    ("aws.remote.service", "AWS::SQS"),
                    ("rpc.system", "aws-api"),
                    ("rpc.service", "SQS"),
                    ("rpc.method", "SendMessage"),
                ],
            ),
            span(
                "webhook-worker",
                "process-webhook",
                SpanKind::Consumer,
                "c",
                "b",
                &[
                    ("messaging.operation.type", "process"),
                    ("webhook.event_id", "evt_1"),
                    ("aws.xray.annotations", "[webhook.event_id]"),
                ],
            ),
            span(
                "webhook-worker",
                "DynamoDB.TransactWriteItems",
                SpanKind::Client,
                "d",
                "c",
                &[
                    ("rpc.system", "aws-api"),
                    ("rpc.service", "DynamoDB"),
                    ("rpc.method", "TransactWriteItems"),
                    ("db.system.name", "aws.dynamodb"),
                ],
            ),
        ]
    }

    #[test]
    fn a_pipeline_trace_reads_back_as_a_connected_trace() {
        let spans = pipeline();
        let refs: Vec<&SpanRecord> = spans.iter().collect();
        let documents: Vec<String> = segment_documents(&refs).iter().map(Value::to_string).collect();
        assert_eq!(
            documents.len(),
            3,
            "the gateway, the API, the worker's service segment: {documents:#?}"
        );
        let read = trace_reader::xray::spans_from_documents(documents.iter().map(String::as_str)).unwrap();
        assert_eq!(
            trace_reader::pipeline::missing_parts(&read, true),
            [],
            "{read:#?}"
        );
        let message = read
            .iter()
            .find(|span| trace_reader::pipeline::is_message_span(span))
            .unwrap();
        assert_eq!(
            message.name, "process-webhook",
            "no remote service: the span's name"
        );
        assert_eq!(
            message.attribute("webhook_event_id"),
            Some("evt_1"),
            "an annotation"
        );
        let write = read
            .iter()
            .find(|span| span.name == "DynamoDB.TransactWriteItems")
            .unwrap();
        assert_eq!(write.parent_span_id, "c");
    }

    #[test]
    fn transaction_search_hides_traces_from_batch_get_traces_and_serves_retrievals() {
        let store = SpanStore::default();
        store.extend(pipeline());
        let api = XrayApi::new(store, TraceStorage::default());
        let ids = json!({ "TraceIds": [xray_id(TRACE)] }).to_string();
        let batch = api.answer("/Traces", ids.as_bytes()).unwrap();
        assert_eq!(batch.body["Traces"], json!([]));

        let start = json!({ "TraceIds": [xray_id(TRACE)], "StartTime": 0.5, "EndTime": 3.0 }).to_string();
        let token =
            api.answer("/StartTraceRetrieval", start.as_bytes()).unwrap().body["RetrievalToken"].clone();
        let list = json!({ "RetrievalToken": token, "TraceFormat": "XRAY" }).to_string();
        assert_eq!(
            api.answer("/ListRetrievedTraces", list.as_bytes()).unwrap().body["RetrievalStatus"],
            "RUNNING"
        );
        let done = api.answer("/ListRetrievedTraces", list.as_bytes()).unwrap();
        assert_eq!(done.body["RetrievalStatus"], "COMPLETE");
        assert_eq!(done.body["Traces"][0]["Spans"].as_array().map(Vec::len), Some(3));

        let off = XrayApi::new(
            api.store.clone(),
            TraceStorage {
                transaction_search: false,
                indexing_percentage: 100.0,
            },
        );
        assert_eq!(
            off.answer("/Traces", ids.as_bytes()).unwrap().body["Traces"][0]["Segments"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        assert_eq!(
            off.answer("/StartTraceRetrieval", start.as_bytes())
                .unwrap()
                .status,
            400
        );
    }

    #[test]
    fn summaries_see_only_the_indexed_share() {
        let storage = TraceStorage::default();
        let indexed = (0..10_000)
            .filter(|n| storage.indexes(&format!("{n:032x}")))
            .count();
        assert!((50..200).contains(&indexed), "about 1% of 10,000: {indexed}");
        assert!(
            TraceStorage {
                transaction_search: false,
                indexing_percentage: 0.0
            }
            .indexes("x")
        );
    }

    #[test]
    fn annotation_filters_read_escaped_strings_and_refuse_the_rest() {
        assert_eq!(
            AnnotationFilter::parse(r#"annotation.webhook_event_id = "evt_\"1\\""#),
            Ok(AnnotationFilter {
                key: "webhook_event_id".into(),
                value: "evt_\"1\\".into()
            })
        );
        for bad in [
            "service(\"x\")",
            "annotation.a = b",
            "annotation.a = \"x\" OR annotation.b = \"y\"",
            "annotation.a-b = \"x\"",
        ] {
            assert!(AnnotationFilter::parse(bad).is_err(), "{bad}");
        }
    }
}
