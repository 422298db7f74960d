//! Whole bundles: verification must refuse or accept, never panic or run away — signatures
//! checked exactly by pledger or by ed25519-dalek's verify_strict.
#![no_main]
use pledger_log::audit::Signatures;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for signatures in [Signatures::Exact, Signatures::Reference] {
        let _ = pledger_log::bundle::verify(data, &[1, 2, 3], signatures, |_, _| {});
    }
});
