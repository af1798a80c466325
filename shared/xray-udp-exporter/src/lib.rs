#![doc = include_str!("../README.md")]

mod application_signals;
mod attributes;
mod exporter;

pub use application_signals::{
    AWS_CLOUDFORMATION_PRIMARY_IDENTIFIER, AWS_LOCAL_OPERATION, AWS_LOCAL_SERVICE, AWS_REMOTE_OPERATION,
    AWS_REMOTE_RESOURCE_IDENTIFIER, AWS_REMOTE_RESOURCE_TYPE, AWS_REMOTE_SERVICE, AWS_SPAN_KIND,
    AlwaysRecordSampler, ApplicationSignals,
};
pub use attributes::{DB_SYSTEM_DYNAMODB, MESSAGING_SYSTEM_SQS, RPC_SERVICE, RPC_SYSTEM, RPC_SYSTEM_AWS_API};
pub use exporter::{
    DEFAULT_DAEMON_ADDRESS, MAX_DATAGRAM_BYTES, PROTOCOL_HEADER, SAMPLED_PREFIX, UNSAMPLED_PREFIX,
    UdpExportCounters, UdpExporterError, XrayUdpExporter, decode, encode,
};
