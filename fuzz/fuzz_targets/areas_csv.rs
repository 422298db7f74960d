//! The areas file of `init --areas`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pledger_app::areas_csv::parse(data);
});
