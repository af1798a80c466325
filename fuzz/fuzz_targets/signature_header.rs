//! `Stripe-Signature` header parsing and verification: any header, any body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stripe_signature::{SignatureHeader, SigningSecrets, verify};

fuzz_target!(|data: &[u8]| {
    // The header is the input up to the first newline, the body the rest.
    let (header, body) = match data.iter().position(|byte| *byte == b'\n') {
        Some(split) => (&data[..split], &data[split + 1..]),
        None => (data, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    if let Ok(parsed) = SignatureHeader::parse(&header) {
        let secrets = SigningSecrets::parse("whsec_fuzz,whsec_rotated").expect("two secrets");
        let _ = verify(&parsed, body, &secrets, parsed.timestamp(), 300);
    }
});
