//! IATI activity files of `import iati`: parsed, then mapped, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(file) = pledger_iati::parse(data) {
        let opts = pledger_iati::Options {
            origin: "fuzz.example/l".into(),
            member: pledger_core::MemberId::parse("donor").expect("valid"),
            to: pledger_core::MemberId::parse("dns").expect("valid"),
            country: Some("ML".into()),
            reporting_orgs: vec![],
        };
        let _ = pledger_iati::plan(&file, &opts);
    }
});
