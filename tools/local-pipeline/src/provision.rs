//! Creates the pipeline's resources in the emulator with Terraform's names and settings: the
//! queue with its DLQ and redrive policy, the table with its key schema and TTL, the signing
//! secret in Secrets Manager (the API reads it from there, as in AWS), the functions' log groups
//! and, when the pipeline
//! fans out, the SNS topic with the queue's subscription and its dead-letter queue; with the
//! notifier, the table's stream, the on-failure queue and the sender's SES identity. moto does not
//! enforce resource policies, so the queue and topic policies exist only in Terraform.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use terraform_config::pipeline::{FanOut, PipelineSettings};

/// What was created, for the functions' environment and the checks.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The event queue's URL.
    pub queue_url: String,
    /// The event queue's ARN.
    pub queue_arn: String,
    /// The dead-letter queue's URL.
    pub dlq_url: String,
    /// The dead-letter queue's ARN.
    pub dlq_arn: String,
    /// The event table's name.
    pub table_name: String,
    /// The signing secret's ARN.
    pub secret_arn: String,
    /// The topic webhook-api publishes to, when the pipeline fans out.
    pub topic_arn: Option<String>,
    /// The subscription's dead-letter queue, when the pipeline fans out.
    pub undeliverable_url: Option<String>,
    /// The event queue's visibility timeout, scaled down for local runs.
    pub visibility_timeout_seconds: u32,
    /// The signing secret (random per run); the scenario signs with it.
    pub signing_secret: String,
    /// The notifier's resources, when the pipeline has the notifier.
    pub notifier: Option<ProvisionedNotifier>,
}

/// What the notifier hop needs.
#[derive(Debug, Clone)]
pub struct ProvisionedNotifier {
    /// The table's stream.
    pub stream_arn: String,
    /// The on-failure destination's URL.
    pub failures_url: String,
    /// The on-failure destination's ARN.
    pub failures_arn: String,
    /// The verified SES identity emails are sent from.
    pub sender: String,
}

/// A resource moto would not create.
#[derive(Debug, thiserror::Error)]
#[error("cannot create {resource} in the emulator: {detail}")]
pub struct ProvisionError {
    /// The resource.
    pub resource: String,
    /// moto's answer.
    pub detail: String,
}

fn failed(resource: &str) -> impl FnOnce(String) -> ProvisionError + '_ {
    move |detail| ProvisionError {
        resource: resource.to_owned(),
        detail,
    }
}

/// The functions' log groups, as the function module names them; Lambda writes there.
async fn create_log_groups(
    logs: &aws_sdk_cloudwatchlogs::Client,
    settings: &PipelineSettings,
) -> Result<(), ProvisionError> {
    let notifier = settings.notifier.as_ref().map(|notifier| &notifier.function);
    for function in [&settings.names.api_function, &settings.names.worker_function]
        .into_iter()
        .chain(notifier)
    {
        let group = crate::lambda_service::log_group(function);
        logs.create_log_group()
            .log_group_name(&group)
            .send()
            .await
            .map_err(|error| aws_sdk_cloudwatchlogs::error::DisplayErrorContext(error).to_string())
            .map_err(failed(&group))?;
    }
    Ok(())
}

/// Creates everything. `visibility_timeout_seconds` is the one setting the local pipeline scales
/// down (Terraform's 180 s would make a poison message take minutes to reach the DLQ).
pub async fn provision(
    sdk: &SdkConfig,
    settings: &PipelineSettings,
    visibility_timeout_seconds: u32,
) -> Result<Provisioned, ProvisionError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let (dlq_url, dlq_arn) = create_dlq(&sqs, &settings.names.dlq, settings.fifo).await?;
    let (queue_url, queue_arn) = create_queue(&sqs, settings, &dlq_arn, visibility_timeout_seconds).await?;
    let (topic_arn, undeliverable_url) = match settings.fan_out {
        FanOut::None => (None, None),
        FanOut::Sns { raw_message_delivery } => {
            let (undeliverable_url, undeliverable_arn) =
                create_dlq(&sqs, &settings.names.undeliverable_queue, settings.fifo).await?;
            let topic_arn = create_topic(
                &aws_sdk_sns::Client::new(sdk),
                settings,
                &queue_arn,
                &undeliverable_arn,
                raw_message_delivery,
            )
            .await?;
            (Some(topic_arn), Some(undeliverable_url))
        }
    };
    let stream_arn = create_table(&aws_sdk_dynamodb::Client::new(sdk), settings).await?;
    let notifier = match (&settings.notifier, stream_arn) {
        (Some(notifier), Some(stream_arn)) => {
            let (failures_url, failures_arn) = create_dlq(&sqs, &notifier.failures_queue, false).await?;
            // Verified, as the environment's sender must be (an environment without one has no
            // notifier to run).
            let sender = notifier.sender.clone().unwrap_or_default();
            if !sender.is_empty() {
                aws_sdk_sesv2::Client::new(sdk)
                    .create_email_identity()
                    .email_identity(&sender)
                    .send()
                    .await
                    .map_err(|e| failed(&sender)(aws_sdk_sesv2::error::DisplayErrorContext(e).to_string()))?;
            }
            Some(ProvisionedNotifier {
                stream_arn,
                failures_url,
                failures_arn,
                sender,
            })
        }
        _ => None,
    };
    create_log_groups(&aws_sdk_cloudwatchlogs::Client::new(sdk), settings).await?;
    let signing_secret = format!("whsec_local_{}", random_hex(16));
    let secret_arn = create_secret(
        &aws_sdk_secretsmanager::Client::new(sdk),
        settings,
        &signing_secret,
    )
    .await?;
    Ok(Provisioned {
        queue_url,
        queue_arn,
        dlq_url,
        dlq_arn,
        table_name: settings.names.table.clone(),
        secret_arn,
        topic_arn,
        undeliverable_url,
        visibility_timeout_seconds,
        signing_secret,
        notifier,
    })
}

/// A dead-letter queue named `name`, keeping messages for SQS's maximum of 14 days (the event
/// queue's DLQ, or the subscription's undeliverable queue); its URL and ARN.
async fn create_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    fifo: bool,
) -> Result<(String, String), ProvisionError> {
    let mut dlq = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600");
    if fifo {
        dlq = dlq.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let url = dlq
        .send()
        .await
        .map_err(|e| failed(name)(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?
        .queue_url
        .unwrap_or_default();
    let arn = queue_arn(sqs, &url).await?;
    Ok((url, arn))
}

/// The main queue with its redrive policy to the DLQ; its URL and ARN.
async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    settings: &PipelineSettings,
    dlq_arn: &str,
    visibility_timeout_seconds: u32,
) -> Result<(String, String), ProvisionError> {
    let name = &settings.names.queue;
    let redrive = format!(
        r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":{}}}"#,
        settings.max_receive_count
    );
    let mut queue = sqs
        .create_queue()
        .queue_name(name)
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
    let url = queue
        .send()
        .await
        .map_err(|e| failed(name)(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?
        .queue_url
        .unwrap_or_default();
    let arn = queue_arn(sqs, &url).await?;
    Ok((url, arn))
}

/// The topic and the queue's subscription with its redrive policy; the topic's ARN.
async fn create_topic(
    sns: &aws_sdk_sns::Client,
    settings: &PipelineSettings,
    queue_arn: &str,
    undeliverable_arn: &str,
    raw_message_delivery: bool,
) -> Result<String, ProvisionError> {
    let name = &settings.names.topic;
    let refused = |e: String| failed(name)(e);
    let mut topic = sns
        .create_topic()
        .name(name)
        .attributes("TracingConfig", "PassThrough");
    if settings.fifo {
        topic = topic.attributes("FifoTopic", "true");
    }
    let topic_arn = topic
        .send()
        .await
        .map_err(|e| refused(aws_sdk_sns::error::DisplayErrorContext(e).to_string()))?
        .topic_arn
        .unwrap_or_default();
    let mut subscription = sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes(
            "RedrivePolicy",
            format!(r#"{{"deadLetterTargetArn":"{undeliverable_arn}"}}"#),
        );
    // moto takes any value, "false" included, for raw delivery: the attribute is set only to turn
    // it on (false is SNS's default).
    if raw_message_delivery {
        subscription = subscription.attributes("RawMessageDelivery", "true");
    }
    subscription
        .send()
        .await
        .map_err(|e| refused(aws_sdk_sns::error::DisplayErrorContext(e).to_string()))?;
    Ok(topic_arn)
}

/// The table with Terraform's key schema, on demand, with TTL on and, with the notifier, a stream
/// of new images; the stream's ARN.
async fn create_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    settings: &PipelineSettings,
) -> Result<Option<String>, ProvisionError> {
    let name = &settings.names.table;
    let schema = &settings.table;
    let refused = |e: String| failed(name)(e);
    let key = |attribute: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(key_type)
            .build()
            .map_err(|e| refused(e.to_string()))
    };
    let attribute = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| refused(e.to_string()))
    };
    let stream = settings.notifier.as_ref().map(|_| {
        StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewImage)
            .build()
    });
    let created = dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(&schema.partition_key, KeyType::Hash)?)
        .key_schema(key(&schema.sort_key, KeyType::Range)?)
        .attribute_definitions(attribute(&schema.partition_key)?)
        .attribute_definitions(attribute(&schema.sort_key)?)
        .set_stream_specification(stream.transpose().map_err(|e| refused(e.to_string()))?)
        .send()
        .await
        .map_err(|e| refused(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
    let stream_arn = created
        .table_description
        .and_then(|table| table.latest_stream_arn);
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(&schema.ttl_attribute)
        .enabled(true)
        .build()
        .map_err(|e| refused(e.to_string()))?;
    dynamodb
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| refused(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
    Ok(stream_arn)
}

/// The signing secret in Secrets Manager, where the API reads it as in AWS; its ARN.
async fn create_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    settings: &PipelineSettings,
    signing_secret: &str,
) -> Result<String, ProvisionError> {
    let name = &settings.names.secret;
    Ok(secrets
        .create_secret()
        .name(name)
        .secret_string(signing_secret)
        .send()
        .await
        .map_err(|e| failed(name)(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?
        .arn
        .unwrap_or_default())
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
