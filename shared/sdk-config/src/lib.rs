//! The AWS SDK configuration for every binary in the workspace.
//!
//! TLS verifies AWS endpoints against Amazon Trust Services' roots compiled into the binary, so
//! a cold start reads no certificate file ([`TrustedRoots`]).
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

/// What a Lambda function loads at cold start.
pub async fn load() -> SdkConfig {
    loader().load().await
}

#[cfg(test)]
mod tests {
    use super::*;

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
