//! Proof files, checked against fixed checkpoints.
#![no_main]
use pledger_log::checkpoint::Checkpoint;
use pledger_log::proof::Proof;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let old = Checkpoint { origin: "hmis.sante.gov.ml/pledges".into(), size: 1, root: [1; 32] };
    let new = Checkpoint { origin: "hmis.sante.gov.ml/pledges".into(), size: 2, root: [2; 32] };
    match Proof::parse(data) {
        Ok(Proof::Inclusion(p)) => {
            let _ = p.verify(&new);
        }
        Ok(Proof::Consistency(p)) => {
            let _ = p.verify(&old, &new);
        }
        Err(_) => {}
    }
});
