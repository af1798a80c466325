//! The API's settings, read once at cold start; every missing or invalid one is reported at
//! once, by variable name.

use env_settings::{ConfigError, ConfigProblem, EnvSettings};
use stripe_signature::SigningSecrets;

/// The queue accepted events go to.
pub const QUEUE_URL: &str = "WEBHOOK_QUEUE_URL";
/// Set instead of the queue URL when the pipeline fans out through an SNS topic.
pub const TOPIC_ARN: &str = "WEBHOOK_TOPIC_ARN";
/// The Secrets Manager secret holding the Stripe signing secret(s).
pub const SECRET_ARN: &str = "STRIPE_WEBHOOK_SECRET_ARN";
/// The signing secret itself, for local use only.
pub const SECRET: &str = "STRIPE_WEBHOOK_SECRET";
/// The signature timestamp's tolerance, in seconds.
pub const TOLERANCE: &str = "STRIPE_SIGNATURE_TOLERANCE_SECS";
/// The largest body accepted, in bytes.
pub const MAX_BODY: &str = "WEBHOOK_MAX_BODY_BYTES";

/// Stripe's own libraries default to five minutes.
const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// Well under SQS's 256 KiB message limit, and far above any Stripe event seen in practice.
const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// SQS refuses larger messages.
const SQS_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Where the signing secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// A Secrets Manager secret (ARN or name), read once per cold start.
    SecretsManager(String),
    /// The value itself, for local use.
    Value(SigningSecrets),
}

/// An SQS queue URL; its last path segment is the queue name, `.fifo` marks a FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrl {
    url: String,
    name: String,
}

impl QueueUrl {
    /// An SQS queue URL (`https://sqs.<region>.amazonaws.com/<account>/<name>` or a local endpoint's), if it is one.
    pub fn parse(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))?;
        let (_host, path) = rest.split_once('/')?;
        let name = path.trim_end_matches('/').rsplit('/').next()?;
        // SQS queue names: letters, digits, `-` and `_`, at most 80 characters, `.fifo` suffix.
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        let valid = !base.is_empty()
            && name.len() <= 80
            && base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| QueueUrl {
            url: url.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The URL as configured.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The queue's name, the URL's last part.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the queue is FIFO (its name ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.name.ends_with(".fifo")
    }
}

/// An SNS topic ARN, `arn:<partition>:sns:<region>:<account>:<name>`; `.fifo` marks a FIFO topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicArn {
    arn: String,
    name: String,
}

impl TopicArn {
    /// An SNS topic ARN, if it is one.
    pub fn parse(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.split(':').collect();
        let [prefix, partition, service, region, account, name] = parts.as_slice() else {
            return None;
        };
        // SNS topic names: letters, digits, `-` and `_`, at most 256 characters, `.fifo` suffix.
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        let valid = *prefix == "arn"
            && !partition.is_empty()
            && *service == "sns"
            && !region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && !base.is_empty()
            && name.len() <= 256
            && base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| TopicArn {
            arn: arn.to_owned(),
            name: (*name).to_owned(),
        })
    }

    /// The topic ARN as configured.
    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// The topic's name, the ARN's last part.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the topic is FIFO (its name ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.name.ends_with(".fifo")
    }
}

/// Where accepted events go: the worker's queue, or a topic the queue subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `WEBHOOK_QUEUE_URL`: SQS directly.
    Queue(QueueUrl),
    /// `WEBHOOK_TOPIC_ARN`: an SNS topic in front of the queue.
    Topic(TopicArn),
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How old a signature's timestamp may be, in seconds.
    pub tolerance_secs: u64,
    /// The largest body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

#[derive(Debug, Clone)]
/// The API's configuration, read from its environment at cold start.
pub struct ApiConfig {
    /// Where accepted events go.
    pub destination: Destination,
    /// Where the signing secret comes from.
    pub secret: SecretSource,
    /// The limits every request is held to.
    pub limits: Limits,
}

impl ApiConfig {
    /// Reads the process environment; every invalid variable is reported at once.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup`, so tests need no process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = EnvSettings::new("webhook-api", lookup);

        let destination = match (env.get(QUEUE_URL), env.get(TOPIC_ARN)) {
            (None, None) => {
                env.report(ConfigProblem::missing(
                    QUEUE_URL,
                    "set it to the URL of the webhook queue (or WEBHOOK_TOPIC_ARN to publish to a topic)",
                ));
                None
            }
            (Some(_), Some(arn)) => {
                env.report(ConfigProblem::new(
                    TOPIC_ARN,
                    &arn,
                    "unset while WEBHOOK_QUEUE_URL is set: events go to one destination",
                ));
                None
            }
            (Some(_), None) => env
                .parse(
                    QUEUE_URL,
                    "an SQS queue URL (https://.../<account>/<queue>)",
                    QueueUrl::parse,
                )
                .map(Destination::Queue),
            (None, Some(_)) => env
                .parse(
                    TOPIC_ARN,
                    "an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)",
                    TopicArn::parse,
                )
                .map(Destination::Topic),
        };

        // The secret's value is read untrimmed and never echoed: it is a secret even when it is
        // malformed.
        let secret = match (env.get(SECRET_ARN), (env.lookup())(SECRET)) {
            (Some(arn), _) => Some(SecretSource::SecretsManager(arn)),
            (None, Some(value)) => SigningSecrets::parse(&value)
                .map(SecretSource::Value)
                .or_else(|| {
                    env.report(ConfigProblem::unusable_secret(
                        SECRET,
                        "is set but holds no secret",
                    ));
                    None
                }),
            (None, None) => {
                env.report(ConfigProblem::missing(
                    SECRET_ARN,
                    "set it, or STRIPE_WEBHOOK_SECRET for local use",
                ));
                None
            }
        };

        let mut limits = Limits::default();
        if let Some(secs) = env.number(TOLERANCE, 1.., "a positive number of seconds") {
            limits.tolerance_secs = secs;
        }
        let body_limit = format!("a byte count from 1 to {SQS_MAX_MESSAGE_BYTES} (SQS's message limit)");
        if let Some(bytes) = env.number(MAX_BODY, 1..=SQS_MAX_MESSAGE_BYTES, &body_limit) {
            limits.max_body_bytes = bytes;
        }

        let config = destination.zip(secret).map(|(destination, secret)| ApiConfig {
            destination,
            secret,
            limits,
        });
        env.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<ApiConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ApiConfig::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    const URL: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-dev";

    #[test]
    fn a_complete_configuration_parses_with_default_limits() {
        let config = config(&[
            (QUEUE_URL, URL),
            (SECRET_ARN, "arn:aws:secretsmanager:eu-west-1:1:secret:s"),
        ])
        .expect("valid");
        let Destination::Queue(queue) = &config.destination else {
            panic!("a queue: {:?}", config.destination)
        };
        assert_eq!(queue.name(), "webhooks-dev");
        assert!(!queue.is_fifo());
        assert!(matches!(config.secret, SecretSource::SecretsManager(_)));
        assert_eq!(config.limits, Limits::default());
    }

    #[test]
    fn every_missing_setting_is_named_at_once() {
        let error = config(&[]).expect_err("nothing set");
        assert_eq!(error.problems.len(), 2);
        assert!(error.to_string().contains("WEBHOOK_QUEUE_URL is not set"));
        assert!(
            error
                .to_string()
                .contains("STRIPE_WEBHOOK_SECRET_ARN is not set; set it, or STRIPE_WEBHOOK_SECRET")
        );
    }

    #[test]
    fn a_malformed_secret_value_is_reported_without_echoing_it() {
        let error = config(&[(QUEUE_URL, URL), (SECRET, " , ")]).expect_err("no secret");
        assert_eq!(
            error.to_string(),
            "invalid webhook-api configuration: STRIPE_WEBHOOK_SECRET is set but holds no secret"
        );
    }

    #[test]
    fn limits_are_validated() {
        let error = config(&[
            (QUEUE_URL, URL),
            (SECRET, "whsec_x"),
            (TOLERANCE, "0"),
            (MAX_BODY, "300000"),
        ])
        .expect_err("invalid limits");
        let variables: Vec<&str> = error.problems.iter().map(ConfigProblem::variable).collect();
        assert_eq!(variables, [TOLERANCE, MAX_BODY], "{error}");
        let ok = config(&[(QUEUE_URL, URL), (SECRET, "whsec_x"), (MAX_BODY, "1024")]).expect("valid");
        assert_eq!(ok.limits.max_body_bytes, 1024);
    }

    #[test]
    fn a_topic_replaces_the_queue_but_never_joins_it() {
        const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:webhooks-dev-events.fifo";
        let published = config(&[(TOPIC_ARN, TOPIC), (SECRET, "whsec_x")]).expect("valid");
        let Destination::Topic(topic) = &published.destination else {
            panic!("a topic: {:?}", published.destination)
        };
        assert_eq!(topic.name(), "webhooks-dev-events.fifo");
        assert!(topic.is_fifo());
        let error = config(&[(QUEUE_URL, URL), (TOPIC_ARN, TOPIC), (SECRET, "whsec_x")])
            .expect_err("two destinations");
        assert!(error.to_string().contains("WEBHOOK_TOPIC_ARN"), "{error}");
        for bad in [
            "arn:aws:sqs:eu-west-1:123456789012:q",
            "arn:aws:sns:eu-west-1:1234:t",
            "arn:aws:sns:eu-west-1:123456789012:",
            "arn:aws:sns:eu-west-1:123456789012:a b",
        ] {
            assert!(TopicArn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn queue_urls_give_their_name_and_kind() {
        let fifo = QueueUrl::parse("http://127.0.0.1:5000/123456789012/webhooks.fifo").expect("valid");
        assert_eq!(fifo.name(), "webhooks.fifo");
        assert!(fifo.is_fifo());
        for bad in ["webhooks", "ftp://host/1/q", "https://", "https://host/"] {
            assert!(QueueUrl::parse(bad).is_none(), "{bad}");
        }
    }
}
