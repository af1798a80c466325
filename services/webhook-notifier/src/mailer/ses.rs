//! Amazon SES (`SendEmail`, API v2) from the one configured identity, with a CLIENT span per
//! call.

use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use tracing::Instrument;

use super::{Email, Mailer, SendError, SendErrorKind};

/// Sends from `from` (a verified SES identity) with `client`.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// A mailer sending from `from`, optionally through `configuration_set` (SES's delivery
    /// events and suppression settings).
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client,
            from: from.into(),
            configuration_set,
        }
    }

    fn client_span(&self) -> tracing::Span {
        let region = self.client.config().region().map(ToString::to_string);
        shared_telemetry::aws_client_span("SES", "SendEmail", region)
    }
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        let text = |data: &str| Content::builder().data(data).charset("UTF-8").build();
        let (subject, body) = match (text(&email.subject), text(&email.text)) {
            (Ok(subject), Ok(body)) => (subject, body),
            (Err(error), _) | (_, Err(error)) => {
                return Err(SendError {
                    kind: SendErrorKind::Rejected,
                    detail: error.to_string(),
                });
            }
        };
        let message = Message::builder()
            .subject(subject)
            .body(Body::builder().text(body).build())
            .build();
        let call = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send();
        let span = self.client_span();
        match call.instrument(span.clone()).await {
            Ok(output) => Ok(output.message_id.unwrap_or_default()),
            Err(error) => {
                let kind = classify(&error);
                // The code only: SES's message can name the recipient's address.
                let detail = match &error {
                    SdkError::ServiceError(service) => service
                        .err()
                        .code()
                        .unwrap_or("an error without a code")
                        .to_owned(),
                    other => DisplayErrorContext(other).to_string(),
                };
                let error = SendError { kind, detail };
                shared_telemetry::record_error(&span, kind.error_type(), &error);
                Err(error)
            }
        }
    }
}

/// By the answer's code, else its status: a 5xx without a readable code is transient.
fn classify(error: &SdkError<SendEmailError, HttpResponse>) -> SendErrorKind {
    match error {
        SdkError::ServiceError(service) => match service.err().code().unwrap_or_default() {
            "TooManyRequestsException" | "Throttling" | "ThrottlingException" | "LimitExceededException" => {
                SendErrorKind::Throttled
            }
            _ if service.raw().status().as_u16() >= 500 => SendErrorKind::Unavailable,
            _ => SendErrorKind::Rejected,
        },
        SdkError::ConstructionFailure(_) => SendErrorKind::Rejected,
        _ => SendErrorKind::Unavailable,
    }
}
