//! Event JSON: whatever parses must write back to bytes that parse to the same event.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(e) = pledger_core::Event::parse(data) {
        let bytes = e.to_bytes();
        assert_eq!(pledger_core::Event::parse(&bytes).expect("canonical bytes parse"), e);
    }
});
