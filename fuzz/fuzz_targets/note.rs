//! Signed notes and checkpoints.
#![no_main]
use pledger_log::checkpoint::Checkpoint;
use pledger_log::note::{Note, Verifier};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(n) = Note::parse(data) {
        let again = Note::parse(n.to_text().as_bytes()).expect("a note's own text parses");
        assert_eq!(again, n);
        if let Ok(cp) = Checkpoint::parse_text(&n.text) {
            assert_eq!(Checkpoint::parse_text(&cp.text()).expect("checkpoint text parses"), cp);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(v) = Verifier::parse_vkey(s) {
            assert_eq!(Verifier::parse_vkey(&v.vkey()).expect("vkey round-trips"), v);
        }
    }
});
