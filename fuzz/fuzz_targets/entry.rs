//! Entry lines, as stored and as found in bundles.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(e) = pledger_log::Entry::parse(data) {
        let line = e.to_line();
        assert_eq!(pledger_log::Entry::parse(&line).expect("pledger's own line parses"), e);
    }
});
