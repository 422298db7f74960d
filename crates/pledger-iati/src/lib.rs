//! Reads IATI activity files — the aid transparency standard donors publish — and maps their
//! outgoing commitments and pledges to pledger pledges, their disbursements and expenditures to
//! fulfillments, their recipient countries, regions and locations to areas, and their sectors
//! to categories. Pure: it neither signs nor writes; the `pledger import iati` command does.
//! The mapping is documented in docs/iati.md.
#![forbid(unsafe_code)]

pub mod error;
pub mod map;
pub mod parse;

pub use error::{IatiError, Result};
pub use map::{part, plan, Options, Plan};
pub use parse::{parse, IatiFile};
