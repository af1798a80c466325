//! Creates the pipeline's resources in the emulator with Terraform's names and settings: the
//! queue with its DLQ and redrive policy, the table with its key schema and TTL, and the signing
//! secret in Secrets Manager (the API reads it from there, as in AWS).

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use terraform_config::pipeline::PipelineSettings;

/// What was created, for the functions' environment and the checks.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    pub table_name: String,
    pub secret_arn: String,
    pub visibility_timeout_seconds: u32,
    /// The signing secret (random per run); the scenario signs with it.
    pub signing_secret: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot create {resource} in the emulator: {detail}")]
pub struct ProvisionError {
    pub resource: String,
    pub detail: String,
}

fn failed(resource: &str) -> impl FnOnce(String) -> ProvisionError + '_ {
    move |detail| ProvisionError {
        resource: resource.to_owned(),
        detail,
    }
}

/// Creates everything. `visibility_timeout_seconds` is the one setting the local stack scales
/// down (Terraform's 180 s would make a poison message take minutes to reach the DLQ).
pub async fn provision(
    sdk: &SdkConfig,
    settings: &PipelineSettings,
    visibility_timeout_seconds: u32,
) -> Result<Provisioned, ProvisionError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let names = &settings.names;

    let mut dlq = sqs
        .create_queue()
        .queue_name(&names.dlq)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600");
    if settings.fifo {
        dlq = dlq.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let dlq_url = dlq
        .send()
        .await
        .map_err(|e| failed(&names.dlq)(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;

    let redrive = format!(
        r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":{}}}"#,
        settings.max_receive_count
    );
    let mut queue = sqs
        .create_queue()
        .queue_name(&names.queue)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_seconds.to_string(),
        )
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            settings.message_retention_seconds.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive);
    if settings.fifo {
        queue = queue.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let queue_url = queue
        .send()
        .await
        .map_err(|e| failed(&names.queue)(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?
        .queue_url
        .unwrap_or_default();
    let queue_arn = queue_arn(&sqs, &queue_url).await?;

    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let schema = &settings.table;
    let key = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .map_err(|e| failed(&names.table)(e.to_string()))
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| failed(&names.table)(e.to_string()))
    };
    dynamodb
        .create_table()
        .table_name(&names.table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(&schema.partition_key, KeyType::Hash)?)
        .key_schema(key(&schema.sort_key, KeyType::Range)?)
        .attribute_definitions(attribute(&schema.partition_key)?)
        .attribute_definitions(attribute(&schema.sort_key)?)
        .send()
        .await
        .map_err(|e| failed(&names.table)(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(&schema.ttl_attribute)
        .enabled(true)
        .build()
        .map_err(|e| failed(&names.table)(e.to_string()))?;
    dynamodb
        .update_time_to_live()
        .table_name(&names.table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| failed(&names.table)(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;

    let signing_secret = format!("whsec_local_{}", random_hex(16));
    let secret_arn = aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(&names.secret)
        .secret_string(&signing_secret)
        .send()
        .await
        .map_err(|e| {
            failed(&names.secret)(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
        })?
        .arn
        .unwrap_or_default();

    Ok(Provisioned {
        queue_url,
        queue_arn,
        dlq_url,
        dlq_arn,
        table_name: names.table.clone(),
        secret_arn,
        visibility_timeout_seconds,
        signing_secret,
    })
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, ProvisionError> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed(url)(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
    attributes
        .attributes()
        .and_then(|map| map.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| failed(url)("no QueueArn attribute".to_owned()))
}

/// `bytes` random bytes as hex, from the OS.
fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buffer = vec![0u8; bytes];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut buffer));
    if filled.is_err() {
        // Only the demo's throwaway secret depends on it; a time-based value will do.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        return format!("{nanos:032x}");
    }
    buffer.iter().map(|byte| format!("{byte:02x}")).collect()
}
