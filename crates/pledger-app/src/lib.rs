#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod areas_csv;
pub mod attestations_csv;
pub mod error;
pub mod import;
pub mod query;
pub mod read;
pub mod report;
pub mod service;
pub mod sheet;
pub mod tiles;
pub mod verify;
pub mod witness;
pub mod write;

pub use error::{Advice, Error, Kind, Result};
