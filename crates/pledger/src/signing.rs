//! What every command that signs needs: the caller's key, read here and never sent elsewhere
//! (but to the same user's own server, for an import), and the dates it signs with.

use ed25519_dalek::SigningKey;
use pledger_core::Date;
use pledger_log::keys;

use crate::cli::Global;
use crate::fail::{usage, Result};

/// The private key of `--key` (or `PLEDGER_KEY`), checked as `pledger_log::keys::read_private`
/// checks it.
pub fn load_key(g: &Global) -> Result<SigningKey> {
    let path = g.key.as_deref().ok_or_else(|| usage("no key given: pass --key FILE or set PLEDGER_KEY"))?;
    Ok(keys::read_private(path)?)
}

/// Today in the local time of whoever runs the command: the default of `--date`, and the date
/// figures at the head are judged on.
pub fn today() -> Date {
    Date(crate::console::today())
}

/// The effective date of `--date`, today by default.
pub fn effective(date: &Option<String>) -> Result<Date> {
    match date {
        Some(d) => Ok(Date::parse(d)?),
        None => Ok(today()),
    }
}
