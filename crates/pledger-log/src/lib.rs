#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod audit;
pub mod bundle;
pub mod check;
pub mod checkpoint;
pub mod dsse;
pub mod ed25519;
pub mod entry;
pub mod error;
pub mod input;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod sign;

pub use check::{apply_replayed, check, open, parse_event, parse_replayed, Opened};
pub use dsse::Envelope;
pub use entry::Entry;
pub use error::{LogError, Result};
