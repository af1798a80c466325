#![doc = include_str!("../README.md")]

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::sdk_config::SharedCredentialsProvider;

/// The roots AWS endpoints chain to: Amazon Trust Services' four roots and the Starfield root
/// that cross-signs them (<https://www.amazontrust.com/repository/>), compiled in.
pub const AMAZON_TRUST_SERVICES_ROOTS: [&str; 5] = [
    include_str!("../roots/amazon-root-ca-1.pem"),
    include_str!("../roots/amazon-root-ca-2.pem"),
    include_str!("../roots/amazon-root-ca-3.pem"),
    include_str!("../roots/amazon-root-ca-4.pem"),
    include_str!("../roots/starfield-services-root-ca-g2.pem"),
];

/// Which certificates verify the endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustedRoots {
    /// [`AMAZON_TRUST_SERVICES_ROOTS`]: no file is read at cold start. The SDK builds its TLS
    /// configuration when a client is created, and with the system's store that meant opening
    /// and parsing every file in /etc/ssl/certs before the first event.
    AmazonTrustServices,
    /// The system's store (`SSL_CERT_FILE` / `SSL_CERT_DIR`, else /etc/ssl/certs), for endpoints
    /// outside Amazon Trust Services: the China regions, a TLS-intercepting proxy.
    System,
}

impl TrustedRoots {
    /// The system's store when `SSL_CERT_FILE` or `SSL_CERT_DIR` names one, else Amazon's.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned()))
    }

    /// [`Self::from_env`] through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name| lookup(name).is_some_and(|value| !value.is_empty());
        match set("SSL_CERT_FILE") || set("SSL_CERT_DIR") {
            true => Self::System,
            false => Self::AmazonTrustServices,
        }
    }
}

/// The HTTPS client (plain HTTP too, for local emulators): rustls with ring, verifying with
/// [`TrustedRoots::from_env`].
pub fn https_client() -> SharedHttpClient {
    https_client_with(TrustedRoots::from_env())
}

/// The HTTPS client verifying with `roots`.
pub fn https_client_with(roots: TrustedRoots) -> SharedHttpClient {
    let builder = Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    match roots {
        TrustedRoots::System => builder.build_https(),
        TrustedRoots::AmazonTrustServices => {
            let store = AMAZON_TRUST_SERVICES_ROOTS
                .iter()
                .fold(tls::TrustStore::empty(), |store, pem| {
                    store.with_pem_certificate(*pem)
                });
            match tls::TlsContext::builder().with_trust_store(store).build() {
                Ok(context) => builder.tls_context(context).build_https(),
                // Only a malformed compiled-in certificate gets here; the system's store still works.
                Err(_) => https_client_with(TrustedRoots::System),
            }
        }
    }
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

/// An AWS endpoint on this machine (moto, the local pipeline's): the loader's client and
/// timeouts, `region`, and placeholder credentials, which such an endpoint does not check.
pub async fn local_endpoint(endpoint: &str, region: &str) -> SdkConfig {
    loader()
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "local-endpoint",
        ))
        .load()
        .await
}

/// The default provider chain, loaded: for tools that run where profiles, SSO or instance roles
/// provide credentials. Lambda functions use [`lambda`].
pub async fn load() -> SdkConfig {
    loader().load().await
}

/// What a Lambda function loads at cold start: the configuration Lambda's environment gives, and
/// nothing else. The region from `AWS_REGION` (or `AWS_DEFAULT_REGION`), the execution role's
/// credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, an
/// `AWS_ENDPOINT_URL` if set (local emulators), with [`https_client`], [`timeouts`] and standard
/// retries.
///
/// Built without the default provider chain, which Lambda never needs: no profile files are
/// read at cold start, and the chain's STS, SSO, IMDS and container-credential clients are left
/// out of the binary (`bench/README.md` has the bytes). Service-specific endpoint variables
/// (`AWS_ENDPOINT_URL_SQS`, ...) and profile settings are not read.
pub fn lambda() -> SdkConfig {
    lambda_from(|name| std::env::var(name).ok())
}

/// [`lambda`] with the region and endpoint read through `lookup`; credentials still come from
/// the process environment, when the first call needs them.
pub fn lambda_from(lookup: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let set = |name| lookup(name).filter(|value| !value.trim().is_empty());
    let region = set("AWS_REGION")
        .or_else(|| set("AWS_DEFAULT_REGION"))
        .map(Region::new);
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard())
        .identity_cache(IdentityCache::lazy().build())
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .time_source(SystemTimeSource::new());
    builder.set_region(region);
    builder.set_sleep_impl(default_async_sleep());
    builder.set_endpoint_url(set("AWS_ENDPOINT_URL"));
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lambda_configuration_takes_region_and_endpoint_from_the_environment() {
        let vars = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ];
        let config = lambda_from(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        });
        assert_eq!(config.region().map(Region::as_ref), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert!(config.credentials_provider().is_some());
        assert!(config.http_client().is_some());
        assert!(config.sleep_impl().is_some());
        assert_eq!(config.retry_config().map(RetryConfig::max_attempts), Some(3));
        assert_eq!(
            config.timeout_config().and_then(|t| t.operation_timeout()),
            Some(Duration::from_secs(15))
        );
    }

    #[test]
    fn without_aws_region_the_default_region_is_used_and_no_endpoint_is_set() {
        let config = lambda_from(|name| (name == "AWS_DEFAULT_REGION").then(|| "ap-south-1".to_owned()));
        assert_eq!(config.region().map(Region::as_ref), Some("ap-south-1"));
        assert_eq!(config.endpoint_url(), None);
    }

    #[test]
    fn the_system_store_is_used_only_when_one_is_named() {
        assert_eq!(
            TrustedRoots::from_lookup(|_| None),
            TrustedRoots::AmazonTrustServices
        );
        let file =
            |name: &str| (name == "SSL_CERT_FILE").then(|| "/etc/ssl/certs/ca-certificates.crt".to_owned());
        assert_eq!(TrustedRoots::from_lookup(file), TrustedRoots::System);
        let empty = |_: &str| Some(String::new());
        assert_eq!(
            TrustedRoots::from_lookup(empty),
            TrustedRoots::AmazonTrustServices
        );
    }

    #[test]
    fn the_compiled_in_roots_are_one_certificate_each() {
        for pem in AMAZON_TRUST_SERVICES_ROOTS {
            assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 1);
            assert!(pem.trim_end().ends_with("-----END CERTIFICATE-----"));
        }
        let store = AMAZON_TRUST_SERVICES_ROOTS
            .iter()
            .fold(tls::TrustStore::empty(), |store, pem| {
                store.with_pem_certificate(*pem)
            });
        assert!(tls::TlsContext::builder().with_trust_store(store).build().is_ok());
    }
}
