#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod error;
pub mod event;
pub mod ids;
pub mod measure;
pub mod projection;
pub mod rules;
pub mod state;
pub mod table;
pub mod tally;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use error::{FieldError, Result, RuleError};
pub use event::{Body, Date, Event, Kind};
pub use ids::{AreaCode, CategoryCode, EventId, FulfillmentId, KeyId, MemberId, Numbered, PledgeId, ShortId};
pub use measure::{Measure, Total, Unit};
pub use rules::{decide, signing_key};
pub use state::{Fulfillments, Head, MemState, Outcome, Pledges, Recorded, StateView};
pub use table::Table;
