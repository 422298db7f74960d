#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod client;
pub mod monitor;
pub mod problem;
pub mod publish;
pub mod receipt;
pub mod server;
/// The log as C2SP tlog-tiles (the application layer's).
pub use pledger_app::tiles;
pub mod witness_server;

pub use problem::Problem;
pub use receipt::Receipt;
