#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod check;
pub mod dsse;
pub mod entry;
pub mod error;
pub mod keys;
pub mod merkle;
pub mod sign;

pub use check::{check, open, parse_event, Opened};
pub use dsse::Envelope;
pub use entry::Entry;
pub use error::{LogError, Result};
