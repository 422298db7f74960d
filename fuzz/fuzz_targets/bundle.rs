//! Whole bundles: verification must refuse or accept, never panic or run away.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pledger_log::bundle::verify(data, &[1, 2, 3], |_, _| {});
});
