//! DSSE envelopes from outside: parse, then the event inside and its checks.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(e) = pledger_log::Envelope::parse(data) {
        let _ = pledger_log::parse_event(&e);
        let again = pledger_log::Envelope::parse(e.to_json().as_bytes()).expect("pledger's own JSON parses");
        assert_eq!(again, e);
    }
});
