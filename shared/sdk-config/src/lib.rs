//! The AWS SDK configuration for every binary in the workspace.
//!
//! The SDK's default HTTPS client uses rustls with aws-lc, about 1.3 MiB of each Lambda binary
//! (`cargo bloat`); rustls with ring serves the same TLS 1.2/1.3 to AWS endpoints for a
//! fraction of that. The SDK crates are built without their default client, so every SDK
//! configuration must come from here: one without an HTTP client fails at its first call.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The HTTPS client (plain HTTP too, for local emulators): rustls with ring, the system's
/// trusted roots, loaded when the first SDK client uses it.
pub fn https_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Bounds on every SDK call. The SDK's defaults leave an operation unbounded: one call that
/// never answers would hold a Lambda invocation until its timeout and take the rest of the
/// batch's results with it. Three attempts of at most 5 s fit well inside the API Gateway
/// (29 s) and worker (30 s) limits; AWS answers these calls in milliseconds.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build()
}

/// The default provider chain (region, credentials, retries, ...) with [`https_client`] and
/// [`timeouts`]; adjust it before `load()`, e.g. with an endpoint URL for a local emulator.
pub fn loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeouts())
}

/// What a Lambda function loads at cold start.
pub async fn load() -> SdkConfig {
    loader().load().await
}
