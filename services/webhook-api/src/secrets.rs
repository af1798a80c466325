//! Loads the Stripe signing secret once per cold start: from Secrets Manager in AWS, from the
//! environment locally. Errors name the secret, never its value.

use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::config::SecretSource;
use stripe_signature::SigningSecrets;

#[derive(Debug, thiserror::Error)]
/// Why the signing secrets could not be loaded at cold start.
pub enum SecretError {
    #[error("cannot read the signing secret {secret_id} from Secrets Manager: {detail}")]
    /// Secrets Manager did not answer with the secret.
    Unreadable {
        /// The secret's ARN or name.
        secret_id: String,
        /// Secrets Manager's answer.
        detail: String,
    },
    #[error(
        "the Secrets Manager secret {secret_id} holds no signing secret; store one (whsec_...) or several separated by commas"
    )]
    /// The secret exists but holds no signing secret.
    Empty {
        /// The secret's ARN or name.
        secret_id: String,
    },
}

/// The signing secrets from `source`: the variable's value, or the secret's, read once.
pub async fn load_signing_secrets(
    source: &SecretSource,
    sdk_config: &aws_config::SdkConfig,
) -> Result<SigningSecrets, SecretError> {
    let secret_id = match source {
        SecretSource::Value(secrets) => return Ok(secrets.clone()),
        SecretSource::SecretsManager(secret_id) => secret_id,
    };
    let client = aws_sdk_secretsmanager::Client::new(sdk_config);
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|error| SecretError::Unreadable {
            secret_id: secret_id.clone(),
            detail: DisplayErrorContext(&error).to_string(),
        })?;
    output
        .secret_string()
        .and_then(SigningSecrets::parse)
        .ok_or_else(|| SecretError::Empty {
            secret_id: secret_id.clone(),
        })
}
