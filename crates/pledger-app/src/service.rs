//! One request, one answer: everything a front asks of an open ledger, as data. The command
//! line runs [`handle`] on a ledger it opened itself; `pledger serve` runs it on the ledger it
//! holds, for requests that come over its socket; HTTP maps its routes to the same requests.
//! Requests carry values, never paths: a front reads its own files, so a server never opens a
//! file of its client's, nor waits on one.

use pledger_core::event::PublicKey;
use pledger_core::projection::{AreaCoverage, MemberSet, Members};
use pledger_core::{Date, PledgeId};
use pledger_log::Envelope;
use pledger_store::Ledger;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::import::{ImportReport, ImportRequest};
use crate::query::{QueryRequest, Rows};
use crate::read::{LogEntry, MemberShown, Shown};
use crate::report::Report;
use crate::verify::{Head, Progress, ProofRequest, Verified, VerifyRequest};
use crate::write::{Appended, Items, SigningContext, Source, SubmitOptions};

/// A request of an open ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "kebab-case")]
pub enum Request {
    /// Every pledge the filters keep; `today` is the asker's date, on which the head is judged.
    Status {
        /// Filters and horizon.
        query: QueryRequest,
        /// The asker's date.
        today: Date,
    },
    /// Every member's record as a pledger.
    Scorecard {
        /// Filters and horizon.
        query: QueryRequest,
        /// The asker's date.
        today: Date,
    },
    /// Each area and category: covered, promised or a gap.
    Coverage {
        /// Filters and horizon.
        query: QueryRequest,
        /// The asker's date.
        today: Date,
    },
    /// Month by month: pledged, confirmed, withdrawn, due.
    Timeline {
        /// Filters and horizon.
        query: QueryRequest,
        /// The asker's date.
        today: Date,
    },
    /// A pledge with its history, or one entry.
    Show {
        /// A short id (`P-000012`), a sequence number or an event id.
        id: String,
        /// The asker's date.
        today: Date,
    },
    /// The log from `from` on (answered entry by entry).
    Log {
        /// The first entry.
        from: u64,
    },
    /// Every member, with its keys.
    Members,
    /// What signing an event with `key` needs: the ledger's origin, the member the key signs as
    /// (or `as_member`), and the units of `pledges`.
    Context {
        /// The signing key.
        key: PublicKey,
        /// The member to sign as, when the key is held by several.
        as_member: Option<String>,
        /// The origin the signer expects, if it names one.
        origin: Option<String>,
        /// Pledges whose units the events will need.
        pledges: Vec<PledgeId>,
    },
    /// One envelope (JSON), appended durably.
    Append {
        /// The envelope.
        envelope: String,
    },
    /// Envelopes (JSON), each with what it is called in a refusal, appended in one durable
    /// group: all of them, or none if one is refused.
    AppendAll {
        /// Each envelope with its name in refusals.
        envelopes: Vec<(String, String)>,
    },
    /// Envelopes (JSON), appended in durable groups; the answer lists each as it is durable.
    /// With `input`, the envelopes come after the request, one at a time ([`crate::write::Items`]).
    Submit {
        /// How to submit.
        options: SubmitOptions,
        /// Each envelope with where it came from.
        envelopes: Vec<(Source, String)>,
        /// Whether more envelopes follow the request.
        input: bool,
    },
    /// The IATI file `bytes`, imported and signed with `key` (a private key's 32 bytes, sent
    /// only to a process of the same user on the same machine) as `as_member`.
    Import {
        /// What to import, and how.
        request: ImportRequest,
        /// The file's bytes.
        bytes: Vec<u8>,
        /// The signing key.
        key: SecretKey,
        /// The member to sign as, when the key is held by several.
        as_member: Option<String>,
        /// The asker's date.
        today: Date,
    },
    /// Recompute the stored state, tree and projections from the entries.
    Rebuild,
    /// The head, as a checkpoint signer needs it.
    Head,
    /// Keep this checkpoint of the head, signed by the log key.
    KeepCheckpoint {
        /// The checkpoint.
        note: String,
    },
    /// Add a witness's cosignatures to the kept checkpoint of their size.
    AddCosignatures {
        /// The cosigned checkpoint.
        note: String,
    },
    /// Verify the ledger as `verify` asks.
    Verify {
        /// What the verifier brings.
        verify: VerifyRequest,
    },
    /// An inclusion or consistency proof.
    Prove {
        /// What is to be proven.
        what: ProofRequest,
    },
    /// The bundle, answered in chunks of bytes.
    Export,
    /// The HTML report.
    Report {
        /// Filters and horizon.
        when: QueryRequest,
        /// The asker's date.
        today: Date,
    },
    /// The latest kept checkpoint, and the tiles and entry bundles of its tree from the tile
    /// holding entry `from` on (what a copy of the first `from` entries lacks), each as a part.
    Publish {
        /// The first entry a copy lacks.
        from: u64,
    },
}

/// A private key's 32 bytes, zeroed when dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretKey(pub [u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0 = [0; 32];
        std::hint::black_box(&self.0);
    }
}

/// An answer, or a part of one: a request answered in parts sends [`Answer::Progress`],
/// [`Answer::Entry`], [`Answer::Durable`] or [`Answer::Bytes`] before its last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", content = "value", rename_all = "kebab-case")]
pub enum Answer {
    /// Pledge statuses.
    Statuses(Rows<pledger_core::projection::PledgeStatus>),
    /// Members' records.
    Scorecard(Rows<pledger_core::projection::MemberScore>),
    /// Areas' coverage.
    Coverage(Rows<pledger_core::projection::AreaCoverage>),
    /// Months.
    Timeline(Rows<pledger_core::projection::MonthRow>),
    /// A pledge or an entry.
    Shown(Shown),
    /// One entry of the log.
    Entry(LogEntry),
    /// The members.
    Members(Vec<MemberShown>),
    /// What signing needs.
    Context {
        /// The ledger's origin and the member the key signs as.
        context: SigningContext,
        /// The unit of each pledge asked about.
        units: Vec<(PledgeId, pledger_core::Unit)>,
    },
    /// A group of envelopes, on disk.
    Durable(Vec<Appended>),
    /// What an import did.
    Imported(ImportReport),
    /// A rebuild finished.
    Rebuilt {
        /// Entries replayed.
        entries: u64,
        /// Stored values that differed from what the entries build, now corrected.
        changed: u64,
    },
    /// The head.
    Head(Head),
    /// The checkpoint is kept.
    Kept,
    /// The checkpoint with the cosignatures added.
    Cosigned(String),
    /// What a verification established.
    Verified(Verified),
    /// A proof, as a proof file holds it.
    Proof(String),
    /// A chunk of bytes (of a bundle).
    Bytes(Vec<u8>),
    /// An export finished.
    Exported {
        /// Entries exported.
        size: u64,
    },
    /// The report.
    Report(Report),
    /// A tile or an entry bundle, at its path below the log's prefix.
    Tile {
        /// Its path (`tile/0/000`, `tile/entries/000`).
        path: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// The checkpoint whose tree was published: its size and text.
    Published {
        /// Its size.
        size: u64,
        /// Its text.
        checkpoint: String,
    },
    /// How far the work has come.
    Progress(Progress),
    /// The request is done (the last part of one answered in parts).
    Done,
    /// [`Answer::Coverage`] in the form a socket carries it ([`CoverageBits`]).
    CoverageBits(CoverageBits),
}

/// A coverage answer as the local socket carries it: the members named once, each cell's as bits
/// over them. At a million events the matrix names 150,000 member ids, 2 MB of JSON whose
/// reading was most of a served `coverage`; as bits it is a few kilobytes. What a person or a
/// program reads is [`Answer::Coverage`], rebuilt by [`CoverageBits::rows`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoverageBits {
    /// The rows, every list of members left empty.
    rows: Rows<pledger_core::projection::AreaCoverage>,
    /// The member ids the sets are places in, in id order.
    roster: Vec<pledger_core::MemberId>,
    /// Each list of members, in the order [`members_of`] visits them.
    sets: Vec<MemberSet>,
}

/// Every list of members of the rows, in a fixed order: each area's pledging and delivered, then
/// each of its categories'.
fn members_of(rows: &mut [AreaCoverage]) -> Vec<&mut Members> {
    let mut out = Vec::new();
    for row in rows {
        out.push(&mut row.pledging);
        out.push(&mut row.delivered);
        for cell in &mut row.categories {
            out.push(&mut cell.pledging);
            out.push(&mut cell.delivered);
        }
    }
    out
}

impl CoverageBits {
    /// The compact form of `rows`.
    pub fn of(mut rows: Rows<AreaCoverage>) -> CoverageBits {
        let mut lists = members_of(&mut rows.rows);
        // A matrix computed here shares one roster; one read from elsewhere may not.
        let shared = lists.first().map(|m| std::sync::Arc::clone(m.roster()));
        let roster: std::sync::Arc<[pledger_core::MemberId]> = match shared {
            Some(r) if lists.iter().all(|m| std::sync::Arc::ptr_eq(m.roster(), &r)) => r,
            _ => {
                let ids: std::collections::BTreeSet<_> = lists.iter().flat_map(|m| m.iter().cloned()).collect();
                ids.into_iter().collect()
            }
        };
        let mut sets = Vec::with_capacity(lists.len());
        for m in lists.iter_mut() {
            if std::sync::Arc::ptr_eq(m.roster(), &roster) {
                sets.push(m.places().clone());
            } else {
                let mut set = MemberSet::with_room(roster.len());
                for id in m.iter() {
                    if let Ok(i) = roster.binary_search(id) {
                        set.insert(i);
                    }
                }
                sets.push(set);
            }
            **m = Members::default();
        }
        CoverageBits { rows, roster: roster.to_vec(), sets }
    }

    /// The rows it carries, every list of members restored.
    pub fn rows(self) -> Result<Rows<AreaCoverage>> {
        let CoverageBits { mut rows, roster, sets } = self;
        let roster: std::sync::Arc<[pledger_core::MemberId]> = roster.into();
        let mut lists = members_of(&mut rows.rows);
        if lists.len() != sets.len() {
            return Err(Error::input(format!(
                "a coverage answer with {} lists of members carries {} sets",
                lists.len(),
                sets.len()
            )));
        }
        for (m, set) in lists.iter_mut().zip(sets) {
            **m = Members::of(set, &roster);
        }
        Ok(rows)
    }
}

/// Where the parts of an answer go as they are made; an error stops the work (the asker went
/// away).
pub type Sink<'a> = &'a mut dyn FnMut(Answer) -> Result<()>;

/// Answers `request` on `ledger`, sending the parts of a long answer to `sink` and returning
/// the last. `input` are the envelopes of a submit that come after the request.
pub fn handle(ledger: &mut Ledger, request: Request, input: Option<Items>, sink: Sink<'_>) -> Result<Answer> {
    use crate::{query, read, verify, write};
    Ok(match request {
        Request::Status { query, today } => Answer::Statuses(query::status(ledger, &query, today)?),
        Request::Scorecard { query, today } => Answer::Scorecard(query::scorecard(ledger, &query, today)?),
        Request::Coverage { query, today } => Answer::Coverage(query::coverage(ledger, &query, today)?),
        Request::Timeline { query, today } => Answer::Timeline(query::timeline(ledger, &query, today)?),
        Request::Show { id, today } => Answer::Shown(read::show(ledger, &id, today)?),
        Request::Log { from } => {
            for entry in read::log(ledger, from) {
                sink(Answer::Entry(entry?))?;
            }
            Answer::Done
        }
        Request::Members => Answer::Members(read::members(ledger)?),
        Request::Context { key, as_member, origin, pledges } => {
            let verifying = pledger_log::keys::from_event_key(&key)
                .ok_or_else(|| Error::input("not a valid Ed25519 public key, or a weak one"))?;
            let context = write::context(ledger, &verifying, as_member.as_deref(), origin.as_deref())?;
            let units = pledges.iter().map(|p| Ok((*p, write::pledge_unit(ledger, *p)?))).collect::<Result<_>>()?;
            Answer::Context { context, units }
        }
        Request::Append { envelope } => {
            let env = Envelope::parse(envelope.as_bytes()).map_err(|e| Error::input(e.to_string()))?;
            Answer::Durable(vec![write::append_one(ledger, env)?])
        }
        Request::AppendAll { envelopes } => {
            let parsed = envelopes
                .into_iter()
                .map(|(name, json)| {
                    let env = Envelope::parse(json.as_bytes()).map_err(|e| Error::input(format!("{name}: {e}")))?;
                    Ok((name, env))
                })
                .collect::<Result<Vec<_>>>()?;
            Answer::Durable(write::append_all(ledger, parsed)?)
        }
        Request::Submit { options, envelopes, input: streamed } => {
            let listed: Items = Box::new(envelopes.into_iter().map(|(src, json)| {
                let env = Envelope::parse(json.as_bytes()).map_err(|e| Error::input(format!("{src}: {e}")))?;
                Ok((src, env))
            }));
            let items: Items = match (streamed, input) {
                (true, Some(more)) => Box::new(listed.chain(more)),
                (true, None) => return Err(Error::usage("a submit of streamed envelopes came without them")),
                (false, _) => listed,
            };
            // Before each group is written, a word to the asker: one who went away cancels it.
            let sink = std::cell::RefCell::new(sink);
            let ready = || (sink.borrow_mut())(Answer::Progress(Progress { done: 0, total: None }));
            let durable = |done: &[Appended]| (sink.borrow_mut())(Answer::Durable(done.to_vec()));
            write::submit(ledger, items, options, durable, ready)?;
            Answer::Done
        }
        Request::Import { request, bytes, key, as_member, today } => {
            let key = ed25519_dalek::SigningKey::from_bytes(&key.0);
            let context = write::context(ledger, &key.verifying_key(), as_member.as_deref(), None)?;
            let signer = pledger_log::sign::Signer { origin: context.origin, member: context.member, key };
            let mut progress = |done: u64, total: u64| {
                if done.is_multiple_of(256) || done == total {
                    sink(Answer::Progress(Progress { done, total: Some(total) }))
                } else {
                    Ok(())
                }
            };
            Answer::Imported(crate::import::iati(ledger, &bytes, &request, &signer, today, &mut progress)?)
        }
        Request::Rebuild => {
            let (entries, changed) = rebuild(ledger, sink)?;
            Answer::Rebuilt { entries, changed }
        }
        Request::Head => Answer::Head(verify::head(ledger)?),
        Request::KeepCheckpoint { note } => {
            verify::keep_checkpoint(ledger, &note)?;
            Answer::Kept
        }
        Request::AddCosignatures { note } => Answer::Cosigned(verify::add_cosignatures(ledger, &note)?),
        Request::Verify { verify: req } => {
            let mut progress = |p: Progress| {
                let _ = sink(Answer::Progress(p));
            };
            Answer::Verified(verify::ledger(ledger, &req, &mut progress)?)
        }
        Request::Prove { what } => Answer::Proof(verify::prove(ledger, &what)?.to_json()),
        Request::Export => {
            let mut out = ChunkWriter { sink: &mut *sink, buf: Vec::with_capacity(CHUNK) };
            let mut progress = |_: Progress| {};
            let size = verify::export(ledger, &mut out, &mut progress)?;
            out.flush_chunk()?;
            Answer::Exported { size }
        }
        Request::Report { when, today } => Answer::Report(crate::report::report(ledger, &when, today)?),
        Request::Publish { from } => {
            let (size, checkpoint) = ledger.latest_checkpoint()?.ok_or_else(|| {
                Error::Conflict(
                    "the ledger keeps no checkpoint yet: sign one with `pledger checkpoint` and the log key".into(),
                )
            })?;
            for tile in crate::tiles::of_tree(size, from.min(size)) {
                let bytes = match tile.level {
                    Some(_) => crate::tiles::hashes(ledger, &tile)?,
                    None => crate::tiles::bundle(ledger, &tile)
                        .map_err(|e| Error::Store(pledger_store::StoreError::Corrupt(e)))?,
                };
                sink(Answer::Tile { path: tile.path(), bytes })?;
            }
            Answer::Published { size, checkpoint }
        }
    })
}

/// A rebuild, its progress told every tenth of a second: the store reports it from the thread
/// that replays, and the sink is this thread's.
fn rebuild(ledger: &mut Ledger, sink: Sink<'_>) -> Result<(u64, u64)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc::{channel, RecvTimeoutError};
    let total = ledger.size().max(1);
    let done = AtomicU64::new(0);
    let (finished, wait) = channel::<()>();
    std::thread::scope(|scope| {
        let work = scope.spawn(|| {
            let result = ledger.rebuild(|n| done.store(n, Ordering::Relaxed));
            let _ = finished.send(());
            result
        });
        while let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(std::time::Duration::from_millis(100)) {
            let _ = sink(Answer::Progress(Progress { done: done.load(Ordering::Relaxed), total: Some(total) }));
        }
        work.join().unwrap_or_else(|_| Err(pledger_store::StoreError::Corrupt("the rebuild stopped".into())))
    })
    .map_err(Error::from)
}

/// Bytes of an export, answered in chunks.
const CHUNK: usize = 1 << 20;

struct ChunkWriter<'s> {
    sink: &'s mut dyn FnMut(Answer) -> Result<()>,
    buf: Vec<u8>,
}

impl ChunkWriter<'_> {
    fn flush_chunk(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            (self.sink)(Answer::Bytes(std::mem::take(&mut self.buf)))?;
        }
        Ok(())
    }
}

impl std::io::Write for ChunkWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush_chunk().map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Rows<AreaCoverage> {
        let cell = |c: &str, p: &[&str], d: &[&str]| serde_json::json!({"category": c, "pledging": p, "delivered": d, "status": if d.is_empty() { "promised" } else { "covered" }});
        serde_json::from_value(serde_json::json!({
            "described": {"origin": "test.pledger/ledger", "size": 12, "as_of": null, "eval": "2026-01-01"},
            "rows": [
                {"code": "ML", "name": "Mali", "level": "country", "parent": null, "depth": 0, "status": "covered",
                 "pledging": ["dns", "psi", "unicef"], "delivered": ["psi"],
                 "categories": [cell("training", &["psi"], &["psi"]), cell("software", &["dns", "unicef"], &[])]},
                {"code": "ML-3", "name": "Sikasso", "level": "region", "parent": "ML", "depth": 1, "status": "gap",
                 "pledging": [], "delivered": [], "categories": [cell("training", &[], &[])]}
            ]
        }))
        .expect("a coverage answer")
    }

    /// The socket's compact form gives back every row, whether the lists share one roster (as a
    /// matrix computed here does) or each has its own (as one read from JSON does).
    #[test]
    fn coverage_bits_give_back_the_rows() {
        let read = rows();
        let bits = CoverageBits::of(read.clone());
        assert_eq!(bits.roster.len(), 3);
        let json = serde_json::to_string(&Answer::CoverageBits(bits)).expect("serializes");
        assert!(json.matches("unicef").count() == 1, "each id once: {json}");
        let Answer::CoverageBits(back) = serde_json::from_str(&json).expect("reads back") else { panic!("{json}") };
        let back = back.rows().expect("rows");
        assert_eq!(back, read);
        assert_eq!(serde_json::to_string(&back).ok(), serde_json::to_string(&read).ok());
        // Rebuilt rows share one roster: compacting them again takes their sets as they are.
        let again = CoverageBits::of(back).rows().expect("rows");
        assert_eq!(again, read);
    }

    #[test]
    fn coverage_bits_that_do_not_match_their_rows_are_refused() {
        let mut bits = CoverageBits::of(rows());
        bits.sets.pop();
        let e = bits.rows().expect_err("a set is missing");
        assert!(e.to_string().contains("carries"), "{e}");
    }
}
