#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod problem;
pub mod receipt;
pub mod server;
pub mod tiles;

pub use problem::Problem;
pub use receipt::Receipt;
