//! Properties of the signature scheme over arbitrary input: parsing never panics, whatever the
//! header; what `sign` produces verifies; any change to the payload, timestamp or secret does not.

// Property tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use stripe_signature::{SignatureError, SignatureHeader, SigningSecrets, sign, verify};

const TOLERANCE: u64 = 300;

proptest! {
    #[test]
    fn any_string_parses_or_is_refused_without_panicking(header in any::<String>()) {
        let _ = SignatureHeader::parse(&header);
    }

    #[test]
    fn header_like_strings_parse_or_are_refused_without_panicking(
        header in "((t|v1|v0|V1|x| t)=[0-9a-fA-F+ -]{0,70},?){0,6}"
    ) {
        if let Ok(parsed) = SignatureHeader::parse(&header) {
            prop_assert!(header.contains("t="));
            prop_assert!(parsed.timestamp() >= 0);
        }
    }

    #[test]
    fn what_sign_produces_verifies(
        secret in "whsec_[A-Za-z0-9]{1,48}",
        timestamp in 1_i64..4_000_000_000,
        payload in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let header = SignatureHeader::parse(&sign(&secret, timestamp, &payload)).unwrap();
        let secrets = SigningSecrets::parse(&secret).unwrap();
        prop_assert_eq!(verify(&header, &payload, &secrets, timestamp, TOLERANCE), Ok(()));
    }

    #[test]
    fn any_changed_payload_byte_is_a_mismatch(
        payload in proptest::collection::vec(any::<u8>(), 1..1024),
        position in any::<prop::sample::Index>(),
        flip in 1_u8..=255,
    ) {
        let header = SignatureHeader::parse(&sign("whsec_property", 1_700_000_000, &payload)).unwrap();
        let mut tampered = payload.clone();
        let index = position.index(tampered.len());
        tampered[index] ^= flip;
        let secrets = SigningSecrets::parse("whsec_property").unwrap();
        prop_assert_eq!(
            verify(&header, &tampered, &secrets, 1_700_000_000, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn another_secret_or_timestamp_is_a_mismatch(
        payload in proptest::collection::vec(any::<u8>(), 0..512),
        other in "whsec_[A-Za-z0-9]{1,32}",
        shift in 1_i64..100,
    ) {
        prop_assume!(other != "whsec_property");
        let signed = sign("whsec_property", 1_700_000_000, &payload);
        let header = SignatureHeader::parse(&signed).unwrap();
        let others = SigningSecrets::parse(&other).unwrap();
        prop_assert_eq!(
            verify(&header, &payload, &others, 1_700_000_000, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        // The same signature presented with another timestamp.
        let moved = signed.replacen("t=1700000000", &format!("t={}", 1_700_000_000 + shift), 1);
        let moved = SignatureHeader::parse(&moved).unwrap();
        let secrets = SigningSecrets::parse("whsec_property").unwrap();
        prop_assert_eq!(
            verify(&moved, &payload, &secrets, 1_700_000_000, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }
}
