#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod error;
pub mod query;
pub mod read;

pub use error::{Error, Kind, Result};
