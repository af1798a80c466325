#![doc = include_str!("../README.md")]

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// A SHA-256 MAC is 32 bytes: 64 lowercase hex characters in the header.
const SIGNATURE_LEN: usize = 32;
/// Stripe's headers are far shorter; anything longer is not worth parsing.
const MAX_HEADER_LEN: usize = 4096;

/// Why a request's signature is refused. Each has its own error code; none reveals a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    /// No `Stripe-Signature` header.
    Missing,
    #[error("the Stripe-Signature header is malformed: {0}")]
    /// The header is not `t=<timestamp>,v1=<hex>,...`; the text says which part.
    Malformed(&'static str),
    #[error("no signature in the Stripe-Signature header matches the payload")]
    /// No `v1` signature matches the payload under any signing secret.
    Mismatch,
    #[error("the signature timestamp is outside the tolerance of {tolerance_secs} seconds")]
    /// The timestamp is further from now than the tolerance.
    Stale {
        /// The tolerance it was checked against.
        tolerance_secs: u64,
    },
}

impl SignatureError {
    /// The stable error code the HTTP API and span attributes use.
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::Malformed(_) => "signature_malformed",
            SignatureError::Mismatch => "signature_mismatch",
            SignatureError::Stale { .. } => "signature_stale",
        }
    }
}

/// One endpoint signing secret. Its bytes key the HMAC; it never prints.
#[derive(Clone)]
pub struct SigningSecret(String);

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(redacted)")
    }
}

/// The secrets a signature may match: more than one while a secret is being rotated.
#[derive(Clone, Debug)]
pub struct SigningSecrets(Vec<SigningSecret>);

impl SigningSecrets {
    /// Parses one secret, or several separated by commas or whitespace (rotation). Returns
    /// `None` when there is none; the caller names the setting it came from.
    pub fn parse(raw: &str) -> Option<Self> {
        let secrets: Vec<SigningSecret> = raw
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|secret| !secret.is_empty())
            .map(|secret| SigningSecret(secret.to_owned()))
            .collect();
        (!secrets.is_empty()).then_some(SigningSecrets(secrets))
    }
}

/// A parsed `Stripe-Signature` header: one timestamp, one or more well-formed `v1` signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    timestamp: i64,
    signatures: Vec<[u8; SIGNATURE_LEN]>,
}

impl SignatureHeader {
    /// Parses the header strictly: exactly one integer `t`, every item `key=value`, at least one
    /// `v1`, and every `v1` exactly 64 lowercase hex digits (so an empty or truncated signature
    /// can never be compared). Other schemes (`v0`) are ignored.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        if header.len() > MAX_HEADER_LEN {
            return Err(SignatureError::Malformed("longer than 4096 bytes"));
        }
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for item in header.split(',') {
            let (key, value) = item
                .split_once('=')
                .ok_or(SignatureError::Malformed("every item must be key=value"))?;
            match key {
                "t" if timestamp.is_some() => {
                    return Err(SignatureError::Malformed("more than one timestamp"));
                }
                "t" => timestamp = Some(parse_timestamp(value)?),
                "v1" => signatures.push(parse_signature(value)?),
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(SignatureError::Malformed("no timestamp (t=)"))?;
        if signatures.is_empty() {
            return Err(SignatureError::Malformed("no v1 signature"));
        }
        Ok(SignatureHeader {
            timestamp,
            signatures,
        })
    }

    /// The header's `t=` timestamp (Unix seconds).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
}

fn parse_timestamp(value: &str) -> Result<i64, SignatureError> {
    let malformed = SignatureError::Malformed("the timestamp must be Unix seconds");
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed);
    }
    value.parse().map_err(|_| malformed)
}

fn parse_signature(value: &str) -> Result<[u8; SIGNATURE_LEN], SignatureError> {
    let well_formed = value.len() == SIGNATURE_LEN * 2
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let mut signature = [0u8; SIGNATURE_LEN];
    if !well_formed || hex::decode_to_slice(value, &mut signature).is_err() {
        return Err(SignatureError::Malformed(
            "a v1 signature must be 64 lowercase hex digits",
        ));
    }
    Ok(signature)
}

/// Verifies `header` for `payload` at time `now` (Unix seconds). The signature is checked
/// first, then the age, so `Stale` is only reported for authentic (replayed) requests.
pub fn verify(
    header: &SignatureHeader,
    payload: &[u8],
    secrets: &SigningSecrets,
    now: i64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let matched = secrets.0.iter().any(|secret| {
        let expected = compute(secret, header.timestamp, payload);
        header
            .signatures
            .iter()
            .any(|candidate| bool::from(candidate.ct_eq(&expected)))
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if now.abs_diff(header.timestamp) > tolerance_secs {
        return Err(SignatureError::Stale { tolerance_secs });
    }
    Ok(())
}

fn compute(secret: &SigningSecret, timestamp: i64, payload: &[u8]) -> [u8; SIGNATURE_LEN] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.0.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// The `Stripe-Signature` header Stripe would send for `payload`, for tests, the demo and the
/// deploy smoke test. `secret` is one endpoint secret.
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let signature = compute(&SigningSecret(secret.to_owned()), timestamp, payload);
    format!("t={timestamp},v1={}", hex::encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_732_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1"}"#;

    fn secrets(raw: &str) -> SigningSecrets {
        SigningSecrets::parse(raw).expect("at least one secret")
    }

    fn check(header: &str, at: i64) -> Result<(), SignatureError> {
        let header = SignatureHeader::parse(header)?;
        verify(&header, BODY, &secrets(SECRET), at, 300)
    }

    #[test]
    fn a_signature_made_by_sign_verifies() {
        assert_eq!(check(&sign(SECRET, NOW, BODY), NOW), Ok(()));
    }

    #[test]
    fn matches_an_independent_hmac_sha256() {
        // HMAC-SHA256("whsec_test_secret", "1732000000.{\"id\":\"evt_1\"}"), computed independently
        // with Python's hmac module.
        assert_eq!(
            sign(SECRET, NOW, BODY),
            "t=1732000000,v1=cf1c3b15d53aaa2f93891b45e4c861209efc258889a348d108aa881a7120e58e"
        );
    }

    #[test]
    fn any_v1_may_match_and_any_configured_secret() {
        let valid = sign(SECRET, NOW, BODY);
        let v1 = valid.split_once(",v1=").map(|(_, v1)| v1).unwrap_or_default();
        let other = "0".repeat(64);
        assert_eq!(check(&format!("t={NOW},v1={other},v1={v1}"), NOW), Ok(()));

        let rotated = sign("whsec_new", NOW, BODY);
        let header = SignatureHeader::parse(&rotated).expect("well formed");
        assert_eq!(
            verify(&header, BODY, &secrets("whsec_old, whsec_new"), NOW, 300),
            Ok(())
        );
        assert_eq!(
            verify(&header, BODY, &secrets("whsec_old"), NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn tolerance_is_inclusive_in_both_directions() {
        let header = sign(SECRET, NOW, BODY);
        assert_eq!(check(&header, NOW + 300), Ok(()));
        assert_eq!(check(&header, NOW - 300), Ok(()));
        assert_eq!(
            check(&header, NOW + 301),
            Err(SignatureError::Stale { tolerance_secs: 300 })
        );
        assert_eq!(
            check(&header, NOW - 301),
            Err(SignatureError::Stale { tolerance_secs: 300 })
        );
    }

    #[test]
    fn a_wrong_secret_or_altered_body_is_a_mismatch() {
        assert_eq!(
            check(&sign("whsec_other", NOW, BODY), NOW),
            Err(SignatureError::Mismatch)
        );
        let header = SignatureHeader::parse(&sign(SECRET, NOW, b"{}")).expect("well formed");
        assert_eq!(
            verify(&header, BODY, &secrets(SECRET), NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_stale_forgery_is_reported_as_a_mismatch_not_as_stale() {
        let forged = format!("t={},v1={}", NOW - 10_000, "a".repeat(64));
        assert_eq!(check(&forged, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn malformed_headers_are_refused_before_any_comparison() {
        let valid = sign(SECRET, NOW, BODY);
        let v1 = valid
            .split_once(",v1=")
            .map(|(_, v1)| v1.to_owned())
            .unwrap_or_default();
        let cases = [
            ("", "empty"),
            ("t=1732000000", "no v1"),
            (&format!("v1={v1}"), "no t"),
            (&format!("t=1732000000,t=1732000000,v1={v1}"), "duplicate t"),
            (&format!("t=17320x0000,v1={v1}"), "garbled t"),
            (&format!("t=-1732000000,v1={v1}"), "negative t"),
            (&format!("t=99999999999999999999,v1={v1}"), "t overflows"),
            (&format!("t=1732000000,v0={v1}"), "wrong scheme only"),
            ("t=1732000000,v1=", "empty v1"),
            (&format!("t=1732000000,v1={}", &v1[..63]), "truncated v1"),
            (&format!("t=1732000000,v1={}", v1.to_uppercase()), "uppercase v1"),
            (&format!("t=1732000000,v1={}", "g".repeat(64)), "non-hex v1"),
            (&format!("t=1732000000, v1={v1}"), "space before key"),
            (&format!("t=1732000000,v1={v1},garbage"), "item without ="),
            (
                &format!("t=1732000000,v1={v1}{}", ",v0=x".repeat(1000)),
                "over-long header",
            ),
        ];
        for (header, case) in cases {
            assert!(
                matches!(SignatureHeader::parse(header), Err(SignatureError::Malformed(_))),
                "{case}: {header}"
            );
        }
    }

    #[test]
    fn extra_schemes_next_to_v1_are_ignored() {
        let valid = sign(SECRET, NOW, BODY);
        assert_eq!(check(&format!("{valid},v0=abc"), NOW), Ok(()));
    }

    #[test]
    fn secrets_never_print() {
        let secrets = secrets("whsec_visible_if_leaked");
        assert!(!format!("{secrets:?}").contains("whsec_visible"));
        assert!(SigningSecrets::parse(" , \n").is_none());
    }
}
