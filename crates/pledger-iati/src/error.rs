//! What can make an IATI file unusable as a whole. Problems with single activities or
//! transactions are not errors: they are reported in the plan.

use thiserror::Error;

/// Why a whole file cannot be imported.
#[derive(Debug, Error)]
#[allow(missing_docs, reason = "an error is documented by its #[error] messages")]
pub enum IatiError {
    #[error("the file is {bytes} bytes, more than the {max} an import reads")]
    TooLarge { bytes: usize, max: usize },
    #[error("{0}")]
    Encoding(String),
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("not an IATI activity file: its root element is <{0}>, not <iati-activities>")]
    NotIati(String),
    #[error(
        "the file holds the activities of {} reporting organisations ({}): choose yours with --reporting-org",
        .0.len(), .0.join(", ")
    )]
    SeveralPublishers(Vec<String>),
    #[error("no activity of the file is reported by {0}")]
    NoSuchPublisher(String),
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, IatiError>;
