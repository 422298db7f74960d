//! Verification, proofs, checkpoints and export: a ledger or a bundle audited from its raw
//! entries and checked against what the verifier trusts (a log key, its own checkpoints,
//! witnesses); one proof checked with no ledger; proofs made; checkpoints kept; bundles written.

use std::io::{BufRead, Write};

use ed25519_dalek::VerifyingKey;
use pledger_core::event::PublicKey;
use pledger_log::audit::{Auditor, Mark, Signatures};
use pledger_log::bundle::{self, Header};
use pledger_log::checkpoint::Checkpoint;
use pledger_log::keys;
use pledger_log::merkle::{self, Blake3};
use pledger_log::note::{Note, Verifier, TYPE_COSIGNATURE, TYPE_ED25519};
use pledger_log::proof::{encode_path, ConsistencyProof, InclusionProof, Proof};
use pledger_store::{Found, Ledger, TalliesMark};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How far a long piece of work has come: `done` of `total` (unknown for a count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Done so far.
    pub done: u64,
    /// Of how many, when known.
    pub total: Option<u64>,
}

/// What a verifier brings: the log key it trusts, the witnesses whose cosignature it requires,
/// its own checkpoints (each with the name it knows it by, a file's), and how to check
/// signatures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRequest {
    /// The log key: a public key's 32 bytes, or a C2SP verifier key.
    pub log_key: Option<TrustedKey>,
    /// Witnesses' verifier keys (type 4).
    pub witnesses: Vec<String>,
    /// The verifier's own checkpoints: a name for messages, and the note's text.
    pub checkpoints: Vec<(String, String)>,
    /// ed25519-dalek's verify_strict for every signature instead of pledger's exact check.
    pub strict: bool,
}

/// A key the verifier trusts, as given: a public key (from its file) or a verifier key string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustedKey {
    /// A public key's 32 bytes (from a `.pub` file).
    PublicKey(PublicKey),
    /// A C2SP verifier key string.
    Vkey(String),
}

impl TrustedKey {
    /// The key, checked to be of signature type `sig_type` when given as a verifier key.
    pub fn verifying(&self, sig_type: u8) -> Result<VerifyingKey> {
        match self {
            TrustedKey::PublicKey(pk) => {
                keys::from_event_key(pk).ok_or_else(|| Error::input("not a valid Ed25519 public key, or a weak one"))
            }
            TrustedKey::Vkey(s) => {
                let v = Verifier::parse_vkey(s).map_err(|e| Error::usage(e.to_string()))?;
                if v.sig_type != sig_type {
                    return Err(Error::usage(format!(
                        "{s}: a {} key is needed here",
                        if sig_type == TYPE_ED25519 { "log (type 1)" } else { "witness cosignature (type 4)" }
                    )));
                }
                Ok(v.key)
            }
        }
    }
}

/// A verification passed: what it established, one line each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// One line for each thing established.
    pub lines: Vec<String>,
}

/// What a full audit established, before the verifier's own checks.
struct Audited {
    auditor: Auditor,
    /// The checkpoints the ledger or bundle carries, opened.
    checkpoints: Vec<(Checkpoint, Note)>,
    origin: String,
    /// What the store's mark says of its tallies (a bundle: current, nothing to say).
    tallies: TalliesMark,
    /// Whether stored keys beside the entries were compared (a ledger's).
    stored: bool,
}

/// The verifier's own inputs, parsed.
struct Trust {
    log_key: Option<VerifyingKey>,
    witnesses: Vec<Verifier>,
    mine: Vec<(String, Note)>,
    sizes: Vec<u64>,
    signatures: Signatures,
}

fn trust(req: &VerifyRequest) -> Result<Trust> {
    let log_key = req.log_key.as_ref().map(|k| k.verifying(TYPE_ED25519)).transpose()?;
    let witnesses = req
        .witnesses
        .iter()
        .map(|w| {
            let v = Verifier::parse_vkey(w).map_err(|e| Error::usage(e.to_string()))?;
            if v.sig_type != TYPE_COSIGNATURE {
                return Err(Error::usage(format!("{w}: a witness verifier key has type 4 (cosignature)")));
            }
            Ok(v)
        })
        .collect::<Result<_>>()?;
    let mut mine = Vec::new();
    let mut sizes = Vec::new();
    for (name, text) in &req.checkpoints {
        let note = Note::parse(text.as_bytes()).map_err(|e| Error::input(format!("{name}: {e}")))?;
        let cp = Checkpoint::parse_text(&note.text).map_err(|e| Error::input(format!("{name}: {e}")))?;
        sizes.push(cp.size);
        mine.push((name.clone(), note));
    }
    let signatures = if req.strict { Signatures::Reference } else { Signatures::Exact };
    Ok(Trust { log_key, witnesses, mine, sizes, signatures })
}

/// Audits the ledger's stored entries, checks its stored tree, state, tallies and checkpoints
/// against what the entries say, then what the verifier brings.
pub fn ledger(ledger: &Ledger, req: &VerifyRequest, progress: &mut dyn FnMut(Progress)) -> Result<Verified> {
    let t = trust(req)?;
    let audited = audit_ledger(ledger, &t, progress)?;
    conclude(audited, &t)
}

/// Audits a bundle with no ledger, then checks what the verifier brings.
pub fn bundle<R: BufRead>(reader: R, req: &VerifyRequest, progress: &mut dyn FnMut(Progress)) -> Result<Verified> {
    let t = trust(req)?;
    let verified = bundle::verify(reader, &t.sizes, t.signatures, |done, of| {
        progress(Progress { done, total: Some(of) });
    })
    .map_err(Error::failed)?;
    let audited = Audited {
        origin: verified.header.origin.clone(),
        checkpoints: verified.checkpoints,
        auditor: verified.auditor,
        tallies: TalliesMark::Current,
        stored: false,
    };
    conclude(audited, &t)
}

fn b64(h: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

fn log_verifying_key(pk: &Option<PublicKey>, size: u64) -> Result<VerifyingKey> {
    pk.as_ref()
        .and_then(keys::from_event_key)
        .ok_or_else(|| Error::failed(format!("the ledger names no valid log key at size {size}")))
}

/// The verifier's checks on an audit: the log key it trusts, its own checkpoints, the
/// witnesses it requires; and the report.
fn conclude(audited: Audited, t: &Trust) -> Result<Verified> {
    let size = audited.auditor.size();
    let how = match t.signatures {
        Signatures::Exact => "every signature strictly",
        Signatures::Reference => "every signature strictly, by ed25519-dalek's verify_strict",
    };
    let stored = if audited.stored { ", every stored key" } else { "" };
    let mut report = vec![format!(
        "verified {size} entries of {}: {how}, every rule, every leaf{stored}; root {}",
        audited.origin,
        b64(&audited.auditor.root())
    )];
    // The log key the verifier trusts must be the one the ledger names now, or one it named
    // before and that vouched for each rotation since: each rotation entry signed by the log key
    // it replaced.
    if let Some(trusted) = t.log_key {
        report.extend(follow_rotations(&trusted, audited.auditor.rotations(), audited.auditor.state().head.log_key)?);
    }
    for (cp, _) in &audited.checkpoints {
        report.push(format!("checkpoint of size {} signed by the log key: matches the entries", cp.size));
    }
    match audited.tallies {
        TalliesMark::Current => {}
        TalliesMark::None => report.push(
            "this store keeps no tallies: scorecard, coverage and timeline are computed from every pledge; \
             `pledger rebuild` adds them"
                .into(),
        ),
        TalliesMark::Older => report.push(
            "this store's tallies are of an earlier layout and no longer kept: scorecard, coverage and timeline \
             are computed from every pledge; `pledger rebuild` rewrites them"
                .into(),
        ),
    }
    if audited.checkpoints.is_empty() {
        report.push("no checkpoint has been issued yet: run `pledger checkpoint` with the log key".into());
    }
    for (name, note) in &t.mine {
        let cp = Checkpoint::parse_text(&note.text)?;
        if cp.origin != audited.origin {
            return Err(Error::failed(format!("{name}: a checkpoint of {}, not of {}", cp.origin, audited.origin)));
        }
        if cp.size > size {
            return Err(Error::failed(format!(
                "{name}: your checkpoint of size {} is ahead of the ledger, of size {size}: entries were removed",
                cp.size
            )));
        }
        let mark: &Mark =
            audited.auditor.mark_at(cp.size).ok_or_else(|| Error::failed("no root at the size of your checkpoint"))?;
        // The log key of its size: the one trusted, or one it vouched for (above).
        let key = log_verifying_key(&mark.log_key, cp.size)?;
        Checkpoint::open(note, &key).map_err(|e| Error::failed(format!("{name}: {e}")))?;
        if mark.root != cp.root {
            return Err(Error::failed(format!(
                "{name}: the first {} entries hash to {}, but your checkpoint of that size says {}: history was rewritten or forked",
                cp.size,
                b64(&mark.root),
                b64(&cp.root)
            )));
        }
        report.push(format!("your checkpoint of size {} ({name}): consistent", cp.size));
    }
    if !t.witnesses.is_empty() {
        let (cp, note) =
            audited.checkpoints.last().ok_or_else(|| Error::failed("no checkpoint to find cosignatures on"))?;
        for w in &t.witnesses {
            match note.verified_by(w) {
                Ok(Some(time)) => report.push(format!(
                    "witness {} cosigned the checkpoint of size {} at {}",
                    w.name,
                    cp.size,
                    chrono::DateTime::from_timestamp(time as i64, 0).map(|d| d.to_rfc3339()).unwrap_or_default()
                )),
                Ok(None) => {
                    return Err(Error::failed(format!(
                        "the checkpoint of size {} has no cosignature by witness {}",
                        cp.size, w.name
                    )))
                }
                Err(e) => return Err(Error::failed(format!("checkpoint of size {}: {e}", cp.size))),
            }
        }
    }
    Ok(Verified { lines: report })
}

/// The report's lines on following the log key from the one the verifier trusts to the current
/// one through the rotations the log records; an error if it cannot be followed.
fn follow_rotations(
    trusted: &VerifyingKey,
    rotations: &[pledger_log::audit::Rotation],
    current: Option<pledger_core::event::PublicKey>,
) -> Result<Vec<String>> {
    let id = |k: &pledger_core::event::PublicKey| k.key_id().to_string();
    let trusted_id = keys::key_id(trusted);
    let Some(start) = rotations.iter().rposition(|r| r.new.0 == trusted.to_bytes()) else {
        return Err(Error::failed(format!(
            "the ledger's log key is {}, and the key you trust ({trusted_id}) was never its log key",
            current.as_ref().map(id).unwrap_or_default()
        )));
    };
    let mut lines = Vec::new();
    for r in &rotations[start + 1..] {
        let old = r.old.expect("a rotation after genesis replaces a log key");
        if r.signed_by != old {
            return Err(Error::failed(format!(
                "the log key was rotated at entry {} to {} by an entry signed with key {}, not with the log key it replaced ({}): the key you trust ({trusted_id}) does not vouch for it",
                r.seq,
                id(&r.new),
                id(&r.signed_by),
                id(&old)
            )));
        }
        lines.push(format!(
            "log key rotated at entry {} from {} to {}, signed by the key it replaced: followed",
            r.seq,
            id(&old),
            id(&r.new)
        ));
    }
    Ok(lines)
}

/// Entries read and audited together: at 1M events faster than the bundle's 4,096
/// ([`pledger_log::bundle::CHUNK`]), in the same memory.
const CHUNK: usize = 8192;

/// Moves the tree nodes the audit made since the last call into `nodes`, those the store keeps
/// only (the levels below are most of them, and are not compared).
fn keep_stored_nodes(auditor: &mut Auditor, nodes: &mut Vec<merkle::Node>) {
    nodes.extend(auditor.take_nodes().into_iter().filter(|n| n.0 >= pledger_store::STORED_LEVEL));
}

/// Audits the ledger's stored entries, and checks its stored tree, state and checkpoints
/// against what the entries say.
fn audit_ledger(ledger: &Ledger, t: &Trust, progress: &mut dyn FnMut(Progress)) -> Result<Audited> {
    let size = ledger.size();
    let stored = ledger.checkpoints()?;
    let mut auditor = Auditor::checking(t.signatures);
    auditor.reserve_for(size);
    auditor.keep_nodes();
    for s in t.sizes.iter().chain(stored.iter().map(|(s, _)| s)) {
        auditor.mark(*s);
    }
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut lines = ledger.lines(0);
    // The tree nodes the audit computed, from the level the store keeps up.
    let mut nodes = Vec::new();
    loop {
        for item in lines.by_ref().take(CHUNK) {
            let (_, line) = item.map_err(Error::failed)?;
            chunk.push(line);
        }
        if chunk.is_empty() {
            break;
        }
        auditor.feed(std::mem::take(&mut chunk)).map_err(Error::failed)?;
        keep_stored_nodes(&mut auditor, &mut nodes);
        progress(Progress { done: auditor.size(), total: Some(size) });
    }
    auditor.finish().map_err(Error::failed)?;
    keep_stored_nodes(&mut auditor, &mut nodes);
    if auditor.size() != size {
        return Err(Error::failed(format!("the ledger says it has {size} entries but holds {}", auditor.size())));
    }
    let head = ledger.head();
    if &head.frontier != auditor.frontier() || head.state != auditor.state().head {
        return Err(Error::altered("the stored head differs from the entries (the store was altered)"));
    }
    // Every key derived from the entries — tree nodes, records, indexes, tallies — against the
    // store, as bytes; the first that differs is named.
    let state = auditor.state();
    let tallies = ledger.tallies_mark()?;
    let computed = match tallies {
        TalliesMark::Current => Some(pledger_store::tallies_of_state(state)),
        // Without the mark, queries ignore the tallies; tallies there anyway were put there by
        // something other than pledger, which writes the mark with them.
        TalliesMark::None => Some(pledger_core::tally::Tallies::default()),
        // Tallies of an earlier layout are ignored too, and were left behind by pledger itself:
        // not compared.
        TalliesMark::Older => None,
    };
    if let Some(d) = ledger.first_difference(state, nodes, computed.as_ref())? {
        let what = d.what();
        return Err(Error::altered(match d.found {
            _ if tallies == TalliesMark::None && d.is_tally() => {
                "the store holds tallies without the mark that they are kept (the store was altered)".into()
            }
            Found::Differs => format!("the stored {what} differs from the entries (the store was altered)"),
            Found::Missing => format!("the store lacks the {what} the entries call for (the store was altered)"),
            Found::Unexpected => {
                format!("the store holds {what}, which the entries do not call for (the store was altered)")
            }
        }));
    }
    if let Some(what) = ledger.first_stray()? {
        return Err(Error::altered(format!("the store holds {what} (the store was altered)")));
    }
    let mut notes = Vec::with_capacity(stored.len());
    for (s, text) in stored {
        let note =
            Note::parse(text.as_bytes()).map_err(|e| Error::failed(format!("kept checkpoint of size {s}: {e}")))?;
        notes.push((s, note));
    }
    let checkpoints = bundle::check_checkpoints(notes, &auditor).map_err(Error::failed)?;
    Ok(Audited { origin: head.state.origin.clone(), checkpoints, auditor, tallies, stored: true })
}

/// Checks one proof (from `prove`) against the verifier's checkpoints, under the log key it
/// trusts; no ledger is needed. Returns what the proof establishes, in one line.
pub fn proof(proof: &[u8], checkpoints: &[(String, String)], log_key: &TrustedKey) -> Result<String> {
    let proof = Proof::parse(proof).map_err(|e| Error::input(e.to_string()))?;
    let key = log_key.verifying(TYPE_ED25519)?;
    let mut opened = Vec::new();
    for (name, text) in checkpoints {
        let note = Note::parse(text.as_bytes()).map_err(|e| Error::input(format!("{name}: {e}")))?;
        opened.push(Checkpoint::open(&note, &key).map_err(|e| Error::failed(format!("{name}: {e}")))?);
    }
    match proof {
        Proof::Inclusion(p) => {
            let [cp] = opened.as_slice() else {
                return Err(Error::usage("an inclusion proof is verified against one --checkpoint"));
            };
            p.verify(cp).map_err(Error::failed)?;
            Ok(format!("entry {} is in the tree of size {} of {}: proof verified", p.seq, p.size, p.origin))
        }
        Proof::Consistency(p) => {
            let old = opened.iter().find(|c| c.size == p.old_size);
            let new = opened.iter().find(|c| c.size == p.new_size);
            let (Some(old), Some(new)) = (old, new) else {
                return Err(Error::usage(
                    "a consistency proof is verified against two --checkpoint files, of its two sizes",
                ));
            };
            p.verify(old, new).map_err(Error::failed)?;
            Ok(format!(
                "the tree of size {} is a prefix of the tree of size {}: proof verified",
                p.old_size, p.new_size
            ))
        }
    }
}

/// What a proof is asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProofRequest {
    /// That the entry `id` names is in the tree of `size` entries (by default the latest
    /// checkpoint's).
    Inclusion {
        /// The entry: a short id (`P-000012`), a sequence number or an event id.
        id: String,
        /// The tree's size, if given.
        size: Option<u64>,
    },
    /// That the tree of `old` entries is a prefix of the tree of `new` (by default the latest
    /// checkpoint's).
    Consistency {
        /// The smaller tree's size.
        old: u64,
        /// The larger tree's size, if given.
        new: Option<u64>,
    },
}

fn latest_size(ledger: &Ledger) -> Result<u64> {
    Ok(ledger.latest_checkpoint()?.map(|(s, _)| s).unwrap_or(ledger.size()))
}

/// An inclusion or a consistency proof.
pub fn prove(ledger: &Ledger, what: &ProofRequest) -> Result<Proof> {
    let origin = ledger.head().state.origin.clone();
    Ok(match what {
        ProofRequest::Inclusion { id, size } => {
            let seq = crate::read::find_seq(ledger, id)?;
            let size = match size {
                Some(s) => *s,
                None => latest_size(ledger)?,
            };
            if size > ledger.size() || seq >= size {
                return Err(Error::not_found(format!(
                    "entry {seq} is not in the tree of size {size} (the ledger has {}; prove against a later checkpoint with --size)",
                    ledger.size()
                )));
            }
            let path = merkle::inclusion_proof::<Blake3, _>(ledger, seq, size)?;
            let line = ledger.line(seq)?.ok_or_else(|| Error::not_found(format!("no entry {seq}")))?;
            let entry = String::from_utf8(line).map_err(|_| Error::failed(format!("entry {seq} is not UTF-8")))?;
            Proof::Inclusion(InclusionProof { origin, seq, size, entry, path: encode_path(&path) })
        }
        ProofRequest::Consistency { old, new } => {
            let new = match new {
                Some(n) => *n,
                None => latest_size(ledger)?,
            };
            if *old > new || new > ledger.size() {
                return Err(Error::not_found(format!(
                    "sizes {old} → {new} do not fit a ledger of {} entries",
                    ledger.size()
                )));
            }
            let path = merkle::consistency_proof::<Blake3, _>(ledger, *old, new)?;
            Proof::Consistency(ConsistencyProof { origin, old_size: *old, new_size: new, path: encode_path(&path) })
        }
    })
}

/// Writes the bundle — every entry, every checkpoint, the keys — to `out`; returns its size.
/// The head must have a checkpoint.
pub fn export(ledger: &Ledger, out: &mut dyn Write, progress: &mut dyn FnMut(Progress)) -> Result<u64> {
    let size = ledger.size();
    let checkpoints = ledger.checkpoints()?;
    match checkpoints.last() {
        Some((s, _)) if *s == size => {}
        _ => {
            return Err(Error::Conflict(format!(
                "no checkpoint of the ledger's head (size {size}): run `pledger checkpoint` with the log key first"
            )))
        }
    }
    let header = Header {
        bundle: bundle::FORMAT.into(),
        origin: ledger.head().state.origin.clone(),
        size,
        checkpoints: checkpoints.into_iter().map(|(_, t)| t).collect(),
    };
    serde_json::to_writer(&mut *out, &header).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    for item in ledger.lines(0) {
        let (seq, line) = item?;
        out.write_all(&line)?;
        out.write_all(b"\n")?;
        if seq.is_multiple_of(4096) {
            progress(Progress { done: seq, total: Some(size) });
        }
    }
    let mut state = pledger_core::MemState::new();
    for m in ledger.members()? {
        state.members.insert(m.id.clone(), m);
    }
    serde_json::to_writer(&mut *out, &bundle::keys_of(&state)).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(size)
}

/// The head as a checkpoint signer needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The ledger's origin.
    pub origin: String,
    /// Entries in the tree.
    pub size: u64,
    /// The tree's root, base64.
    pub root: String,
    /// The log key the ledger names now.
    pub log_key: Option<PublicKey>,
    /// The latest checkpoint kept, if any: its size and note.
    pub latest: Option<(u64, String)>,
}

impl Head {
    /// The root's 32 bytes.
    pub fn root_bytes(&self) -> Result<merkle::Hash> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&self.root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::input("a root is 32 bytes in base64"))
    }

    /// The log key, checked.
    pub fn log_verifying_key(&self) -> Result<VerifyingKey> {
        log_verifying_key(&self.log_key, self.size)
    }
}

/// The ledger's head, as a checkpoint signer needs it.
pub fn head(ledger: &Ledger) -> Result<Head> {
    let state = &ledger.head().state;
    Ok(Head {
        origin: state.origin.clone(),
        size: state.size,
        root: b64(&ledger.root()),
        log_key: state.log_key,
        latest: ledger.latest_checkpoint()?,
    })
}

/// Keeps a checkpoint the log key signed (`pledger checkpoint`): it must be of the head, signed
/// by the log key the ledger names now.
pub fn keep_checkpoint(ledger: &mut Ledger, note_text: &str) -> Result<()> {
    let note = Note::parse(note_text.as_bytes()).map_err(|e| Error::input(e.to_string()))?;
    let state = &ledger.head().state;
    let key = log_verifying_key(&state.log_key, state.size)?;
    let cp = Checkpoint::open(&note, &key).map_err(|e| Error::Conflict(e.to_string()))?;
    if cp.origin != state.origin || cp.size != state.size || cp.root != ledger.root() {
        return Err(Error::Conflict(format!(
            "the checkpoint is of size {}, not of the ledger's head (size {}): the ledger changed, sign again",
            cp.size, state.size
        )));
    }
    ledger.put_checkpoint(cp.size, &note.to_text())?;
    Ok(())
}

/// Adds the cosignatures of a cosigned checkpoint (from a witness) to the kept one of its size;
/// returns the kept checkpoint with them.
pub fn add_cosignatures(ledger: &mut Ledger, note_text: &str) -> Result<String> {
    let cosigned = Note::parse(note_text.as_bytes()).map_err(|e| Error::input(e.to_string()))?;
    let head = &ledger.head().state;
    let log_key = log_verifying_key(&head.log_key, head.size)?;
    let cp = Checkpoint::open(&cosigned, &log_key).or_else(|_| {
        // A checkpoint of an earlier size may be signed by an earlier log key.
        Checkpoint::parse_text(&cosigned.text).map_err(|e| Error::input(e.to_string()))
    })?;
    let kept = ledger
        .checkpoints()?
        .into_iter()
        .find(|(s, _)| *s == cp.size)
        .ok_or_else(|| Error::not_found(format!("no checkpoint of size {} is kept here", cp.size)))?;
    let mut note =
        Note::parse(kept.1.as_bytes()).map_err(|e| Error::Store(pledger_store::StoreError::Corrupt(e.to_string())))?;
    note.merge(&cosigned).map_err(|_| Error::Conflict("the cosigned checkpoint is not the one kept here".into()))?;
    ledger.put_checkpoint(cp.size, &note.to_text())?;
    Ok(note.to_text())
}
