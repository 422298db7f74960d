//! pledger's end-to-end tests, in one binary linked once: a module per area, each driving the
//! real `pledger` binary as a process (and sled, Chromium, Go, Python, nginx where an area needs
//! them); `common` holds their helpers.

mod common;

mod bench_smoke;
mod cli_docs;
mod cli_ledger;
mod cli_projections;
mod cli_rules;
mod cli_verify;
mod compact;
mod crash;
mod iati;
mod limits;
mod network;
mod readme;
mod reference_impls;
mod report;
mod serve;
mod tamper;
