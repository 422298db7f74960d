//! The peer bulk append is measured against: plain SQLite, as an application that signs its
//! events and keeps them in a table would use it — each payload signed with Ed25519, then
//! inserted with its signature and key, 1,000 rows a transaction, in WAL mode with
//! `synchronous=FULL` (every commit on disk before it returns, as pledger's are). SQLite is the
//! one bundled with rusqlite, built with the benchmark, so the figure does not depend on the
//! machine's library.

use std::path::Path;
use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};
use pledger_log::dsse::Envelope;

/// Rows a transaction (the benchmark's row names it as 1,000).
pub const PER_TRANSACTION: usize = 1000;

/// What the peer took to append.
pub struct Appended {
    /// Rows appended a second, signing included.
    pub rate: f64,
    /// The database's bytes on disk once its write-ahead log is checkpointed.
    pub bytes: u64,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("SQLite peer: {e}")
}

/// Signs and appends `envelopes`' payloads into a new database in `dir` (removed afterwards).
pub fn sqlite_append(dir: &Path, envelopes: &[Envelope]) -> Result<Appended, String> {
    std::fs::create_dir_all(dir).map_err(err)?;
    let path = dir.join("events.sqlite");
    let mut db = rusqlite::Connection::open(&path).map_err(err)?;
    let mode: String = db.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(err(format!("journal mode {mode}, not WAL")));
    }
    db.pragma_update(None, "synchronous", "FULL").map_err(err)?;
    db.execute_batch(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, signature BLOB NOT NULL, key BLOB NOT NULL)",
    )
    .map_err(err)?;
    let key = SigningKey::from_bytes(&[7; 32]);
    let public = key.verifying_key().to_bytes();
    let start = Instant::now();
    for chunk in envelopes.chunks(PER_TRANSACTION) {
        let tx = db.transaction().map_err(err)?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO events (payload, signature, key) VALUES (?1, ?2, ?3)").map_err(err)?;
            for e in chunk {
                let signature = key.sign(&e.payload).to_bytes();
                insert.execute((&e.payload, &signature[..], &public[..])).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let rows: u64 = db.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).map_err(err)?;
    if rows != envelopes.len() as u64 {
        return Err(err(format!("{rows} rows for {} envelopes", envelopes.len())));
    }
    db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(err)?;
    drop(db);
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).map_err(err)? {
        bytes += entry.map_err(err)?.metadata().map_err(err)?.len();
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(Appended { rate: crate::measure::per_sec(envelopes.len() as u64, secs), bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_keeps_every_row_and_reports_its_bytes() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let envelopes: Vec<Envelope> = (0..2500)
            .map(|i| Envelope {
                payload_type: "application/vnd.pledger.event+json".into(),
                payload: format!("{{\"n\":{i}}}").into_bytes(),
                signatures: Vec::new(),
            })
            .collect();
        let done = sqlite_append(&dir.path().join("peer"), &envelopes).expect("the peer appends");
        assert!(done.rate > 0.0);
        // 2,500 rows of a payload, a 64-byte signature and a 32-byte key: more than their bytes.
        assert!(done.bytes > 2500 * 96, "{} bytes", done.bytes);
        assert!(!dir.path().join("peer").exists(), "the peer's database is removed");
    }
}
