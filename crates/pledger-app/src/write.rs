//! Writing to the ledger: what a front needs to know to build and sign an event (the signing
//! context), and appending envelopes — one, or many in durable groups — each acknowledged only
//! once it is on disk. Signing is the front's: a private key never reaches this layer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use chrono::Utc;
use ed25519_dalek::VerifyingKey;
use pledger_core::event::check_origin;
use pledger_core::{MemberId, PledgeId, StateView, Unit};
use pledger_log::keys;
use pledger_log::Envelope;
use pledger_store::{KeyLookup, Ledger, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What signing an event for this ledger needs beside the key: the ledger's origin and the
/// member the key signs as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningContext {
    /// The ledger's origin.
    pub origin: String,
    /// The member the key signs as.
    pub member: MemberId,
}

/// The member a key signs as in this ledger — `as_member` if given, else the member the ledger
/// records the key for — and the ledger's origin (refused if `origin` names another).
pub fn context(
    ledger: &Ledger,
    key: &VerifyingKey,
    as_member: Option<&str>,
    origin: Option<&str>,
) -> Result<SigningContext> {
    let key_id = keys::key_id(key);
    let member = match as_member {
        Some(id) => MemberId::parse(id)?,
        None => ledger.view().key_holder(&key_id)?.ok_or_else(|| {
            Error::NotFound(format!("key {key_id} is not registered in this ledger; a member must add it first"))
        })?,
    };
    // A revoked key never signs again: whatever it signs for this ledger would be refused, so
    // say so now, before it is signed (an envelope made with --sign-only included). A key not
    // yet the member's may be added by an envelope signed beside this one: the rules judge it.
    let view = ledger.view();
    if let Some(at) = view.member(&member)?.and_then(|m| m.key(&key_id).and_then(|k| k.revoked_seq)) {
        return Err(Error::Conflict(format!(
            "key {key_id} of member {member} was revoked at entry {at}: it signs nothing more in this ledger"
        )));
    }
    let own = &ledger.head().state.origin;
    if let Some(o) = origin {
        if o != own {
            return Err(Error::usage(format!("--origin {o} is not this ledger's origin {own}")));
        }
    }
    check_origin(own).map_err(|e| Error::input(e.to_string()))?;
    Ok(SigningContext { origin: own.clone(), member })
}

/// The unit of pledge `id`.
pub fn pledge_unit(ledger: &Ledger, id: PledgeId) -> Result<Unit> {
    let view = ledger.view();
    let p = view.pledge(id)?.ok_or_else(|| Error::NotFound(format!("refused: unknown pledge {id}")))?;
    Ok(p.into_owned().unit)
}

/// What an appended entry is known by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// Its position in the log.
    pub seq: u64,
    /// The short id it was given (`P-000001`), or what it is about (a member, a key, an area).
    pub id: String,
    /// The event's own id.
    pub event_id: String,
}

impl From<&pledger_store::Appended> for Appended {
    fn from(a: &pledger_store::Appended) -> Self {
        Appended { seq: a.seq, id: a.assigned.to_string(), event_id: a.event_id.to_string() }
    }
}

/// Appends one envelope durably.
pub fn append_one(ledger: &mut Ledger, envelope: Envelope) -> Result<Appended> {
    let mut w = ledger.writer();
    let appended = match w.append(envelope, Utc::now()) {
        Ok(a) => a,
        Err(StoreError::Refused { error, .. }) => {
            drop(w);
            return Err(known_names(ledger, error));
        }
        Err(e) => return Err(e.into()),
    };
    w.commit()?;
    Ok(Appended::from(&appended))
}

/// A refusal for an unknown category, area or member, with the ones the ledger knows (the first
/// 40):
/// what a person needs to write the command again.
fn known_names(ledger: &Ledger, error: pledger_log::LogError) -> Error {
    use pledger_core::RuleError;
    let known = match &error {
        pledger_log::LogError::Rule(RuleError::UnknownCategory(_)) => {
            ledger.categories().map(|c| ("categories", c.iter().map(|c| c.code.to_string()).collect::<Vec<_>>()))
        }
        pledger_log::LogError::Rule(RuleError::UnknownArea(_)) => {
            ledger.areas().map(|a| ("areas", a.iter().map(|a| a.code.to_string()).collect::<Vec<_>>()))
        }
        pledger_log::LogError::Rule(RuleError::UnknownMember(_)) => {
            ledger.members().map(|m| ("members", m.iter().map(|m| m.id.to_string()).collect::<Vec<_>>()))
        }
        _ => return Error::Refused { at: None, error },
    };
    match known {
        Ok((what, mut names)) if !names.is_empty() => {
            names.sort();
            let more = names.len().saturating_sub(40);
            names.truncate(40);
            let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
            Error::NotFound(format!("refused: {error}; the ledger's {what}: {}{tail}", names.join(", ")))
        }
        _ => Error::Refused { at: None, error },
    }
}

/// Appends `envelopes` in one durable group: all of them, or — if one is refused, named by
/// its name — none.
pub fn append_all(ledger: &mut Ledger, envelopes: Vec<(String, Envelope)>) -> Result<Vec<Appended>> {
    let mut w = ledger.writer();
    for (name, envelope) in envelopes {
        match w.append(envelope, Utc::now()) {
            Ok(_) => {}
            Err(StoreError::Refused { error, .. }) => return Err(Error::Refused { at: Some(name), error }),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(w.commit()?.iter().map(Appended::from).collect())
}

/// Makes a new ledger at `path` (a new or empty directory) from `envelopes`, its genesis first,
/// in one durable group: all of them or, if one is refused, no ledger at all.
pub fn create(path: &Path, envelopes: Vec<Envelope>) -> Result<Vec<Appended>> {
    let created = !path.exists();
    let mut ledger = Ledger::create(path)?;
    let result = (|| {
        let mut w = ledger.writer();
        for e in envelopes {
            w.append(e, Utc::now())?;
        }
        w.commit()
    })();
    match result {
        Ok(done) => Ok(done.iter().map(Appended::from).collect()),
        Err(e) => {
            drop(ledger);
            // Nothing was acknowledged: leave no half-made ledger behind.
            remove_made(path, created);
            Err(e.into())
        }
    }
}

/// Removes what making a ledger at `path` left: the directory if it was made, else its content.
pub fn remove_made(path: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(path);
    } else if let Ok(dir) = std::fs::read_dir(path) {
        for entry in dir.flatten() {
            let p = entry.path();
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
    }
}

/// Where an envelope came from, for refusals: a file (or `-`) and a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// A file's name, or `-`.
    pub name: String,
    /// The line, from 1.
    pub line: usize,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.line)
    }
}

/// How a submit appends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitOptions {
    /// Envelopes written and flushed together.
    pub group: usize,
    /// Skip envelopes already recorded exactly as given.
    pub resume: bool,
    /// Envelopes checked together ahead of the rules: a group's worth from a file, one at a
    /// time from a stream, so that each is answered as it comes.
    pub chunk: usize,
}

/// Envelopes to submit, in order, each with where it came from; an error ends them.
pub type Items = Box<dyn Iterator<Item = Result<(Source, Envelope)>> + Send>;

/// Appends `items` in durable groups of `opts.group`, calling `durable` with each group once it
/// is on disk. Stops at the first refused envelope, after making the envelopes before it durable,
/// and returns the refusal; an [`Error::Cancelled`] among the items (whoever sent them went
/// away) stops it without writing the group in hand. `ready` is asked before each group is
/// written: an error there (whoever asked is gone) cancels that group. A pipeline: a reader thread takes the items and verifies their
/// signatures on every core a chunk ahead, under the keys already committed, while this thread
/// applies the rules and commits.
pub fn submit(
    ledger: &mut Ledger,
    items: Items,
    opts: SubmitOptions,
    mut durable: impl FnMut(&[Appended]) -> Result<()>,
    mut ready: impl FnMut() -> Result<()>,
) -> Result<()> {
    if opts.group == 0 {
        return Err(Error::usage("--group must be at least 1"));
    }
    let lookup = ledger.key_lookup();
    let (tx, rx) = sync_channel::<Result<Chunk>>(1);
    // Not joined on a refusal: a reader waiting on an open standard input must not hold the
    // answer back.
    let chunk = opts.chunk.clamp(1, 100_000);
    let reader = std::thread::spawn(move || read_chunks(items, chunk, &lookup, &tx));
    let done = apply_chunks(ledger, rx, opts, &mut durable, &mut ready);
    if done.is_ok() {
        // The reader has sent everything and ended.
        let _ = reader.join();
    }
    done
}

fn apply_chunks(
    ledger: &mut Ledger,
    rx: Receiver<Result<Chunk>>,
    opts: SubmitOptions,
    durable: &mut impl FnMut(&[Appended]) -> Result<()>,
    ready: &mut impl FnMut() -> Result<()>,
) -> Result<()> {
    let mut w = ledger.writer();
    let mut commit = |w: pledger_store::Writer<'_>| -> Result<()> {
        if w.is_empty() {
            return Ok(());
        }
        ready()?;
        let done: Vec<Appended> = w.commit()?.iter().map(Appended::from).collect();
        durable(&done)
    };
    for msg in rx.iter() {
        let chunk = match msg {
            Ok(chunk) => chunk,
            Err(e @ Error::Cancelled(_)) => return Err(e),
            Err(e) => {
                commit(w)?;
                return Err(e);
            }
        };
        for (src, env, pre) in chunk {
            if opts.resume && w.holds(&env)? {
                continue;
            }
            if let Err(e) = w.append_preverified(env, Utc::now(), pre) {
                commit(w)?;
                return Err(match e {
                    StoreError::Refused { error, .. } => Error::refused_at(src.to_string(), error),
                    other => other.into(),
                });
            }
            if w.len() >= opts.group {
                commit(w)?;
                w = ledger.writer();
            }
        }
    }
    commit(w)
}

/// Envelopes with their signatures checked beforehand where their keys were known.
type Chunk = Vec<(Source, Envelope, pledger_log::check::Preverified)>;

/// Reads the items in chunks, verifies each chunk's signatures in parallel under the keys
/// already committed, and sends them on; a bad item ends the stream with its error, after the
/// chunks before it.
fn read_chunks(items: Items, size: usize, lookup: &KeyLookup, tx: &std::sync::mpsc::SyncSender<Result<Chunk>>) {
    let mut cache = keys::KeyCache::new();
    let mut chunk: Vec<(Source, Envelope)> = Vec::with_capacity(size);
    for item in items {
        match item {
            Ok(x) => chunk.push(x),
            Err(e) => {
                let _ = tx.send(Ok(preverify(std::mem::take(&mut chunk), lookup, &mut cache)));
                let _ = tx.send(Err(e));
                return;
            }
        }
        if chunk.len() >= size && tx.send(Ok(preverify(std::mem::take(&mut chunk), lookup, &mut cache))).is_err() {
            return;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(Ok(preverify(chunk, lookup, &mut cache)));
    }
}

/// The keys the envelopes' key ids name in the committed ledger (none for a key not known yet).
pub type SigningKeys = HashMap<String, Option<Arc<pledger_log::ed25519::Key>>>;

/// Looks up the key of every key id the envelopes name, under the keys already committed.
pub fn signing_keys<'a>(
    envelopes: impl Iterator<Item = &'a Envelope>,
    lookup: &KeyLookup,
    cache: &mut keys::KeyCache,
) -> SigningKeys {
    let mut known = SigningKeys::new();
    for env in envelopes {
        let Ok((keyid, _)) = env.single_signature() else { continue };
        if !known.contains_key(keyid) {
            let key = pledger_core::KeyId::parse(keyid)
                .ok()
                .and_then(|id| lookup.public_key(&id))
                .and_then(|pk| cache.get(&pk));
            known.insert(keyid.to_owned(), key);
        }
    }
    known
}

/// An envelope's signature checked under the key its key id names, if that key is known: what
/// [`pledger_store::Writer::append_preverified`] takes, so that the math is done off the writer.
pub fn preverify_one(env: &Envelope, known: &SigningKeys) -> pledger_log::check::Preverified {
    let (keyid, sig) = env.single_signature().ok()?;
    let key = known.get(keyid)?.as_ref()?;
    Some((*key.verifying_key(), key.verify(&env.signed_bytes(), &sig)))
}

/// Checks every signature of a chunk, on every core, under the key its key id names in the
/// committed ledger; an envelope whose key is not known yet is left to the append.
fn preverify(batch: Vec<(Source, Envelope)>, lookup: &KeyLookup, cache: &mut keys::KeyCache) -> Chunk {
    use rayon::prelude::*;
    let known = signing_keys(batch.iter().map(|(_, e)| e), lookup, cache);
    batch
        .into_par_iter()
        .map(|(src, env)| {
            let pre = preverify_one(&env, &known);
            (src, env, pre)
        })
        .collect()
}
