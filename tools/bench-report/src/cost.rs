//! What a million webhooks cost in AWS, service by service, from the durations and bytes the
//! cold-start runs measured and the us-east-1 list prices below, at each sampling rate: the
//! number to know before turning sampling to 100%. Every event's log lines are paid for
//! whatever the rate; only the tracing line moves with it.

use serde::Serialize;

use crate::cold_start::Sample;

/// A list price and where it comes from (us-east-1, checked for this report).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Price {
    pub usd: f64,
    pub per: &'static str,
    pub source: &'static str,
}

pub(crate) const API_GATEWAY_REST: Price = Price {
    usd: 3.50,
    per: "million REST API requests (first 333 million a month)",
    source: "aws.amazon.com/api-gateway/pricing",
};
pub(crate) const LAMBDA_REQUESTS: Price = Price {
    usd: 0.20,
    per: "million invocations",
    source: "aws.amazon.com/lambda/pricing",
};
pub(crate) const LAMBDA_ARM64_GB_SECOND: Price = Price {
    usd: 0.000_013_333_4,
    per: "GB-second on arm64 (first 7.5 billion a month)",
    source: "aws.amazon.com/lambda/pricing",
};
pub(crate) const SQS_STANDARD: Price = Price {
    usd: 0.40,
    per: "million requests (each 64 KiB chunk is one)",
    source: "aws.amazon.com/sqs/pricing",
};
pub(crate) const DYNAMODB_ON_DEMAND_WRITES: Price = Price {
    usd: 0.625,
    per: "million write request units (on-demand)",
    source: "aws.amazon.com/dynamodb/pricing/on-demand",
};
pub(crate) const LOGS_INGESTION: Price = Price {
    usd: 0.50,
    per: "GB ingested (Standard class)",
    source: "aws.amazon.com/cloudwatch/pricing, Logs",
};
pub(crate) const LOGS_INSIGHTS_SCANNED: Price = Price {
    usd: 0.005,
    per: "GB scanned by Logs Insights",
    source: "aws.amazon.com/cloudwatch/pricing, Logs",
};
pub(crate) const XRAY_TRACES_RECORDED: Price = Price {
    usd: 5.00,
    per: "million traces recorded (segments in X-Ray)",
    source: "aws.amazon.com/xray/pricing",
};
pub(crate) const XRAY_TRACES_RETRIEVED: Price = Price {
    usd: 0.50,
    per: "million traces retrieved or scanned",
    source: "aws.amazon.com/xray/pricing",
};
/// Transaction Search bills spans by the GB ingested into `aws/spans`, separately from log
/// ingestion (CloudWatch's "Spans" docs). The rate is the CloudWatch pricing page's; it could
/// not be read from the machine that wrote this, so it is taken at the Standard log ingestion
/// rate and is the one price to check before relying on the tracing line.
pub(crate) const TRANSACTION_SEARCH_SPANS: Price = Price {
    usd: 0.50,
    per: "GB of spans ingested with Transaction Search (taken at the log ingestion rate; check the page)",
    source: "aws.amazon.com/cloudwatch/pricing, Application Signals and Transaction Search",
};

/// DynamoDB write request units per event: the worker writes the event record, the subscription
/// and the notification (a payment failure, the largest effect) in one transaction, and a
/// transactional write of an item under 1 KB takes 2 units.
pub(crate) const WRITE_UNITS_PER_EVENT: f64 = 6.0;
/// SQS requests per event: its `SendMessage`, and its share of the mapping's `ReceiveMessage`
/// and `DeleteMessageBatch` at a full batch (empty polls are Lambda's and not counted).
fn sqs_requests_per_event(batch_size: f64) -> f64 {
    1.0 + 2.0 / batch_size
}

/// What was measured, per event.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Measured {
    /// The API's first invocation (median; warm ones are shorter).
    pub api_invocation_ms: f64,
    /// The worker's first batch (median).
    pub worker_batch_ms: f64,
    pub batch_size: f64,
    pub api_memory_mb: f64,
    pub worker_memory_mb: f64,
    /// JSON log lines written for one event, both functions.
    pub log_bytes_per_event: f64,
    /// The event's spans as Transaction Search stores them (OTLP JSON with the resource).
    pub span_bytes_per_event: f64,
}

impl Measured {
    /// From the cold-start samples of one transport, and the Terraform settings.
    pub(crate) fn of(
        samples: &[Sample],
        transport: &str,
        batch_size: usize,
        api_memory_mb: u32,
        worker_memory_mb: u32,
    ) -> Option<Self> {
        let median = |function: &str, value: fn(&Sample) -> f64| {
            let values: Vec<f64> = samples
                .iter()
                .filter(|sample| sample.function == function && sample.transport == transport)
                .map(value)
                .collect();
            crate::report::Summary::of(&values).map(|summary| summary.median)
        };
        let batch = batch_size as f64;
        Some(Self {
            api_invocation_ms: median("webhook-api", |s| s.first_invocation_ms)?,
            worker_batch_ms: median("webhook-worker", |s| s.first_invocation_ms)?,
            batch_size: batch,
            api_memory_mb: f64::from(api_memory_mb),
            worker_memory_mb: f64::from(worker_memory_mb),
            log_bytes_per_event: median("webhook-api", |s| s.log_bytes as f64)?
                + median("webhook-worker", |s| s.log_bytes as f64)? / batch,
            span_bytes_per_event: median("webhook-api", |s| s.span_bytes as f64)?
                + median("webhook-worker", |s| s.span_bytes as f64)? / batch,
        })
    }
}

/// One line of the cost table: dollars per million events.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CostLine {
    pub service: String,
    pub usd_per_million_events: f64,
    pub how: String,
}

/// The cost of a million events at `sampling` (the share traced), with Transaction Search on
/// (spans by the GB) or off (X-Ray's traces recorded).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CostTable {
    pub sampling: f64,
    pub transaction_search: bool,
    pub lines: Vec<CostLine>,
    pub total: f64,
}

const GB: f64 = 1_000_000_000.0;
const MILLION: f64 = 1_000_000.0;

pub(crate) fn per_million_events(measured: &Measured, sampling: f64, transaction_search: bool) -> CostTable {
    let m = measured;
    let billed_ms = |ms: f64| ms.ceil();
    let gb_seconds =
        |ms: f64, memory_mb: f64, invocations: f64| billed_ms(ms) / 1000.0 * memory_mb / 1024.0 * invocations;
    let worker_invocations = MILLION / m.batch_size;
    let mut lines = vec![
        CostLine {
            service: "API Gateway (REST)".to_owned(),
            usd_per_million_events: API_GATEWAY_REST.usd,
            how: "one request per event".to_owned(),
        },
        CostLine {
            service: "Lambda: webhook-api".to_owned(),
            usd_per_million_events: LAMBDA_REQUESTS.usd
                + gb_seconds(m.api_invocation_ms, m.api_memory_mb, MILLION) * LAMBDA_ARM64_GB_SECOND.usd,
            how: format!(
                "1 invocation per event, {:.0} ms billed at {} MB",
                billed_ms(m.api_invocation_ms),
                m.api_memory_mb
            ),
        },
        CostLine {
            service: "Lambda: webhook-worker".to_owned(),
            usd_per_million_events: LAMBDA_REQUESTS.usd / m.batch_size
                + gb_seconds(m.worker_batch_ms, m.worker_memory_mb, worker_invocations)
                    * LAMBDA_ARM64_GB_SECOND.usd,
            how: format!(
                "1 invocation per {} events, {:.0} ms billed per batch at {} MB",
                m.batch_size,
                billed_ms(m.worker_batch_ms),
                m.worker_memory_mb
            ),
        },
        CostLine {
            service: "SQS (standard)".to_owned(),
            usd_per_million_events: sqs_requests_per_event(m.batch_size) * SQS_STANDARD.usd,
            how: format!("{:.1} requests per event", sqs_requests_per_event(m.batch_size)),
        },
        CostLine {
            service: "DynamoDB (on-demand)".to_owned(),
            usd_per_million_events: WRITE_UNITS_PER_EVENT * DYNAMODB_ON_DEMAND_WRITES.usd,
            how: format!("{WRITE_UNITS_PER_EVENT:.0} write units per event (transaction of 3 items)"),
        },
        CostLine {
            service: "CloudWatch Logs (every event)".to_owned(),
            usd_per_million_events: m.log_bytes_per_event * MILLION / GB * LOGS_INGESTION.usd,
            how: format!(
                "{:.0} bytes of log lines per event, sampled or not",
                m.log_bytes_per_event
            ),
        },
    ];
    lines.push(match transaction_search {
        true => CostLine {
            service: format!(
                "Tracing: Transaction Search spans ({:.0}% traced)",
                sampling * 100.0
            ),
            usd_per_million_events: sampling * m.span_bytes_per_event * MILLION / GB
                * TRANSACTION_SEARCH_SPANS.usd,
            how: format!(
                "{:.0} bytes of spans per traced event; 1% indexed at no charge",
                m.span_bytes_per_event
            ),
        },
        false => CostLine {
            service: format!("Tracing: X-Ray traces recorded ({:.0}% traced)", sampling * 100.0),
            usd_per_million_events: sampling * XRAY_TRACES_RECORDED.usd,
            how: "one trace per traced event".to_owned(),
        },
    });
    let total = lines.iter().map(|line| line.usd_per_million_events).sum();
    CostTable {
        sampling,
        transaction_search,
        lines,
        total,
    }
}

/// Every price used, for the report's sources.
pub(crate) const PRICES: [(&str, Price); 10] = [
    ("API Gateway", API_GATEWAY_REST),
    ("Lambda requests", LAMBDA_REQUESTS),
    ("Lambda duration", LAMBDA_ARM64_GB_SECOND),
    ("SQS", SQS_STANDARD),
    ("DynamoDB", DYNAMODB_ON_DEMAND_WRITES),
    ("CloudWatch Logs", LOGS_INGESTION),
    ("Logs Insights", LOGS_INSIGHTS_SCANNED),
    ("X-Ray recorded", XRAY_TRACES_RECORDED),
    ("X-Ray retrieved", XRAY_TRACES_RETRIEVED),
    ("Transaction Search", TRANSACTION_SEARCH_SPANS),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn measured() -> Measured {
        Measured {
            api_invocation_ms: 9.2,
            worker_batch_ms: 126.0,
            batch_size: 10.0,
            api_memory_mb: 128.0,
            worker_memory_mb: 256.0,
            log_bytes_per_event: 1000.0,
            span_bytes_per_event: 10_000.0,
        }
    }

    #[test]
    fn only_the_tracing_line_moves_with_the_sampling_rate() {
        let all = per_million_events(&measured(), 1.0, true);
        let some = per_million_events(&measured(), 0.05, true);
        let tracing = |table: &CostTable| {
            table
                .lines
                .last()
                .map(|line| line.usd_per_million_events)
                .unwrap_or(-1.0)
        };
        // 10 kB a traced event, a million events: 10 GB at $0.50.
        assert!((tracing(&all) - 5.0).abs() < 1e-9, "{}", tracing(&all));
        assert!((tracing(&some) - 0.25).abs() < 1e-9);
        assert!((all.total - some.total - 4.75).abs() < 1e-9);
        // Logs: 1 kB an event, every event: $0.50 a million.
        let logs = all
            .lines
            .iter()
            .find(|line| line.service.starts_with("CloudWatch Logs"))
            .unwrap();
        assert!((logs.usd_per_million_events - 0.5).abs() < 1e-9);
        // The API: 10 ms billed at 128 MB a million times, plus the requests.
        let api = all
            .lines
            .iter()
            .find(|line| line.service == "Lambda: webhook-api")
            .unwrap();
        let expected = 0.20 + 10.0 / 1000.0 * 0.125 * 1e6 * 0.000_013_333_4;
        assert!((api.usd_per_million_events - expected).abs() < 1e-9);
        let xray = per_million_events(&measured(), 1.0, false);
        assert!(
            (tracing(&xray) - 5.0).abs() < 1e-9,
            "X-Ray bills $5 per million traces"
        );
    }
}
