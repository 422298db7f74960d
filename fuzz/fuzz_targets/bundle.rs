//! Whole bundles: verification must refuse or accept, never panic or run away — signatures
//! checked in batches or each alone.
#![no_main]
use pledger_log::audit::Signatures;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for signatures in [Signatures::Batched, Signatures::Strict] {
        let _ = pledger_log::bundle::verify(data, &[1, 2, 3], signatures, |_, _| {});
    }
});
