//! The attribute names and values Application Signals derives its dependencies from: the
//! semantic conventions' where they exist, and the AWS SDK conventions X-Ray still reads.

pub(crate) use opentelemetry_semantic_conventions::attribute::{
    AWS_DYNAMODB_TABLE_NAMES, AWS_SNS_TOPIC_ARN, AWS_SQS_QUEUE_URL, DB_OPERATION_NAME, DB_SYSTEM_NAME,
    MESSAGING_DESTINATION_NAME, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
    RPC_METHOD,
};

// X-Ray and Application Signals read an AWS SDK call's service from these two. Semantic
// conventions 1.37 deprecated them (`rpc.system.name`), but AWS's backends and the ADOT agents
// still use them.
/// The RPC system (`aws-api` for the AWS SDK).
pub const RPC_SYSTEM: &str = "rpc.system";
/// The AWS service called, e.g. `DynamoDB`.
pub const RPC_SERVICE: &str = "rpc.service";
/// `messaging.system` for SQS.
pub const MESSAGING_SYSTEM_SQS: &str = "aws_sqs";
/// `db.system.name` for DynamoDB.
pub const DB_SYSTEM_DYNAMODB: &str = "aws.dynamodb";
/// `rpc.system` for an AWS SDK call.
pub const RPC_SYSTEM_AWS_API: &str = "aws-api";
