//! Commands of the verifiable log: `checkpoint`, `verify`, `prove`, `export`, `witness`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use ed25519_dalek::{SigningKey, VerifyingKey};
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

use crate::cli::{Global, ProveWhat, VerifyArgs, WitnessAction};
use crate::fail::{refused, usage, Failure, Result};
use crate::progress;
use crate::read::find_seq;
use crate::write::{open_ledger, open_with};

/// Entries read and audited together: at 1M events 11.6–12.0 s against 12.6–12.8 s with the
/// bundle's 4,096 ([`pledger_log::bundle::CHUNK`]), in the same memory.
const CHUNK: usize = 8192;

fn failed(what: impl std::fmt::Display) -> Failure {
    refused(format!("verification failed: {what}"))
}

fn read_file(path: &Path, max: usize, what: &str) -> Result<Vec<u8>> {
    Ok(pledger_log::input::read(path, max as u64, what, pledger_log::input::Source::Any)?)
}

fn read_note(path: &Path) -> Result<Note> {
    let bytes = read_file(path, pledger_log::note::MAX_NOTE_BYTES, "a checkpoint")?;
    Note::parse(&bytes).map_err(|e| refused(format!("{}: {e}", path.display())))
}

/// A key given on the command line: a public key file, or a C2SP verifier key string.
fn key_arg(arg: &str, sig_type: u8) -> Result<(Option<String>, VerifyingKey)> {
    if Path::new(arg).is_file() {
        return Ok((None, keys::read_public(Path::new(arg))?));
    }
    let v = Verifier::parse_vkey(arg).map_err(|e| usage(e.to_string()))?;
    if v.sig_type != sig_type {
        return Err(usage(format!(
            "{arg}: a {} key is needed here",
            if sig_type == TYPE_ED25519 { "log (type 1)" } else { "witness cosignature (type 4)" }
        )));
    }
    Ok((Some(v.name), v.key))
}

fn log_verifying_key(pk: &Option<PublicKey>, size: u64) -> Result<VerifyingKey> {
    pk.as_ref()
        .and_then(keys::from_event_key)
        .ok_or_else(|| failed(format!("the ledger names no valid log key at size {size}")))
}

/// `pledger checkpoint`.
pub fn checkpoint(g: &Global, vkey: bool, add: Option<&Path>) -> Result<()> {
    let mut ledger = open_ledger(g)?;
    let head = ledger.head().state.clone();
    let log_key = log_verifying_key(&head.log_key, head.size)?;
    if vkey {
        crate::console::outln!("{}", Checkpoint::verifier(&head.origin, log_key)?.vkey())?;
        return Ok(());
    }
    if let Some(file) = add {
        let cosigned = read_note(file)?;
        let cp = Checkpoint::open(&cosigned, &log_key).or_else(|_| {
            // A checkpoint of an earlier size may be signed by an earlier log key.
            Checkpoint::parse_text(&cosigned.text).map_err(Failure::from)
        })?;
        let kept = ledger
            .checkpoints()?
            .into_iter()
            .find(|(s, _)| *s == cp.size)
            .ok_or_else(|| refused(format!("no checkpoint of size {} is kept here", cp.size)))?;
        let mut note = Note::parse(kept.1.as_bytes())?;
        note.merge(&cosigned).map_err(|_| refused("the cosigned checkpoint is not the one kept here"))?;
        ledger.put_checkpoint(cp.size, &note.to_text())?;
        crate::console::out!("{}", note.to_text())?;
        return Ok(());
    }
    if let Some((size, text)) = ledger.latest_checkpoint()? {
        if size == head.size {
            crate::console::out!("{text}")?;
            return Ok(());
        }
    }
    let key_path = g.key.as_deref().ok_or_else(|| usage("checkpoint needs the log key: pass --key FILE"))?;
    let key = keys::read_private(key_path)?;
    if key.verifying_key() != log_key {
        return Err(refused(format!(
            "key {} is not this ledger's log key ({}); only the log key signs checkpoints",
            keys::key_id(&key.verifying_key()),
            keys::key_id(&log_key)
        )));
    }
    let cp = Checkpoint { origin: head.origin.clone(), size: head.size, root: ledger.root() };
    let note = cp.sign(&key)?;
    ledger.put_checkpoint(cp.size, &note.to_text())?;
    crate::console::out!("{}", note.to_text())?;
    Ok(())
}

/// What a full verification established.
struct Audited {
    auditor: Auditor,
    /// The checkpoints the ledger or bundle carries, opened: size and note.
    checkpoints: Vec<(Checkpoint, Note)>,
    origin: String,
    /// What the store's mark says of its tallies (a bundle: current, nothing to say).
    tallies: TalliesMark,
}

/// `pledger verify`.
pub fn verify(g: &Global, a: &VerifyArgs) -> Result<()> {
    let trusted = a.log_key.as_deref().map(|k| key_arg(k, TYPE_ED25519)).transpose()?.map(|(_, k)| k);
    let witnesses: Vec<Verifier> = a
        .witness
        .iter()
        .map(|w| {
            let v = Verifier::parse_vkey(w).map_err(|e| usage(e.to_string()))?;
            if v.sig_type != TYPE_COSIGNATURE {
                return Err(usage(format!("{w}: a witness verifier key has type 4 (cosignature)")));
            }
            Ok(v)
        })
        .collect::<Result<_>>()?;
    let mine: Vec<(PathBuf, Note)> =
        a.checkpoint.iter().map(|p| read_note(p).map(|n| (p.clone(), n))).collect::<Result<_>>()?;
    if let Some(p) = &a.proof {
        return verify_proof(p, &mine, trusted);
    }
    let sizes: Vec<u64> = mine
        .iter()
        .map(|(p, n)| {
            Checkpoint::parse_text(&n.text).map(|c| c.size).map_err(|e| refused(format!("{}: {e}", p.display())))
        })
        .collect::<Result<_>>()?;
    let signatures = if a.strict { Signatures::Reference } else { Signatures::Exact };
    let audited = match &a.bundle {
        Some(b) => audit_bundle(g, b, &sizes, signatures)?,
        None => audit_ledger(g, &sizes, signatures)?,
    };
    let size = audited.auditor.size();
    let how = match signatures {
        Signatures::Exact => "every signature strictly",
        Signatures::Reference => "every signature strictly, by ed25519-dalek's verify_strict",
    };
    // A ledger's stored keys are compared too; a bundle has none.
    let stored = if a.bundle.is_some() { "" } else { ", every stored key" };
    let mut report = vec![format!(
        "verified {size} entries of {}: {how}, every rule, every leaf{stored}; root {}",
        audited.origin,
        b64(&audited.auditor.root())
    )];
    // The log key the verifier trusts must be the one the ledger names now.
    let current = audited.auditor.state().head.log_key;
    if let Some(t) = trusted {
        if current.map(|k| k.0) != Some(t.to_bytes()) {
            return Err(failed(format!(
                "the ledger's log key is {}, not the one you trust ({})",
                current.map(|k| k.key_id().to_string()).unwrap_or_default(),
                keys::key_id(&t)
            )));
        }
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
    for (path, note) in &mine {
        let cp = Checkpoint::parse_text(&note.text)?;
        if cp.origin != audited.origin {
            return Err(failed(format!(
                "{}: a checkpoint of {}, not of {}",
                path.display(),
                cp.origin,
                audited.origin
            )));
        }
        if cp.size > size {
            return Err(failed(format!(
                "{}: your checkpoint of size {} is ahead of the ledger, of size {size}: entries were removed",
                path.display(),
                cp.size
            )));
        }
        let mark: &Mark =
            audited.auditor.mark_at(cp.size).ok_or_else(|| failed("no root at the size of your checkpoint"))?;
        let key = match trusted {
            Some(t) if cp.size == size => t,
            _ => log_verifying_key(&mark.log_key, cp.size)?,
        };
        Checkpoint::open(note, &key).map_err(|e| failed(format!("{}: {e}", path.display())))?;
        if mark.root != cp.root {
            return Err(failed(format!(
                "{}: the first {} entries hash to {}, but your checkpoint of that size says {}: history was rewritten or forked",
                path.display(),
                cp.size,
                b64(&mark.root),
                b64(&cp.root)
            )));
        }
        report.push(format!("your checkpoint of size {} ({}): consistent", cp.size, path.display()));
    }
    if !witnesses.is_empty() {
        let (cp, note) = audited.checkpoints.last().ok_or_else(|| failed("no checkpoint to find cosignatures on"))?;
        for w in &witnesses {
            match note.verified_by(w) {
                Ok(Some(t)) => report.push(format!(
                    "witness {} cosigned the checkpoint of size {} at {}",
                    w.name,
                    cp.size,
                    chrono::DateTime::from_timestamp(t as i64, 0).map(|d| d.to_rfc3339()).unwrap_or_default()
                )),
                Ok(None) => {
                    return Err(failed(format!(
                        "the checkpoint of size {} has no cosignature by witness {}",
                        cp.size, w.name
                    )))
                }
                Err(e) => return Err(failed(format!("checkpoint of size {}: {e}", cp.size))),
            }
        }
    }
    for line in report {
        crate::console::outln!("{line}")?;
    }
    Ok(())
}

fn b64(h: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// Audits a bundle with no ledger.
fn audit_bundle(g: &Global, path: &Path, sizes: &[u64], signatures: Signatures) -> Result<Audited> {
    let f = std::fs::File::open(path).map_err(|e| refused(format!("{}: {e}", path.display())))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let pb = progress::bar(len.max(1), "verifying bundle", g.quiet);
    let reader = std::io::BufReader::with_capacity(1 << 20, f);
    let mut total = 0;
    let verified = bundle::verify(reader, sizes, signatures, |done, of| {
        total = of;
        pb.set_length(of.max(1));
        pb.set_position(done);
    })
    .map_err(failed)?;
    pb.finish_and_clear();
    let _ = total;
    let origin = verified.header.origin.clone();
    Ok(Audited { origin, checkpoints: verified.checkpoints, auditor: verified.auditor, tallies: TalliesMark::Current })
}

/// Audits the ledger's stored entries, and checks its stored tree, state and checkpoints
/// against what the entries say.
/// Moves the tree nodes the audit made since the last call into `nodes`, those the store keeps
/// only (the levels below are most of them, and are not compared).
fn keep_stored_nodes(auditor: &mut Auditor, nodes: &mut Vec<merkle::Node>) {
    nodes.extend(auditor.take_nodes().into_iter().filter(|n| n.0 >= pledger_store::STORED_LEVEL));
}

fn audit_ledger(g: &Global, sizes: &[u64], signatures: Signatures) -> Result<Audited> {
    let ledger = open_with(g, Ledger::open_to_scan)?;
    let size = ledger.size();
    let stored = ledger.checkpoints()?;
    let mut auditor = Auditor::checking(signatures);
    auditor.expect(size);
    auditor.keep_nodes();
    for s in sizes.iter().chain(stored.iter().map(|(s, _)| s)) {
        auditor.mark(*s);
    }
    let pb = progress::bar(size, "verifying", g.quiet);
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut lines = ledger.lines(0);
    // The tree nodes the audit computed, from the level the store keeps up.
    let mut nodes = Vec::new();
    loop {
        for item in lines.by_ref().take(CHUNK) {
            let (_, line) = item.map_err(|e| failed(e.to_string()))?;
            chunk.push(line);
        }
        if chunk.is_empty() {
            break;
        }
        auditor.feed(std::mem::take(&mut chunk)).map_err(failed)?;
        keep_stored_nodes(&mut auditor, &mut nodes);
        pb.set_position(auditor.size());
    }
    auditor.finish().map_err(failed)?;
    keep_stored_nodes(&mut auditor, &mut nodes);
    pb.finish_and_clear();
    if auditor.size() != size {
        return Err(failed(format!("the ledger says it has {size} entries but holds {}", auditor.size())));
    }
    let head = ledger.head();
    if &head.frontier != auditor.frontier() || head.state != auditor.state().head {
        return Err(failed("the stored head differs from the entries (the store was altered); run `pledger rebuild`"));
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
        return Err(failed(match d.found {
            _ if tallies == TalliesMark::None && d.is_tally() => {
                "the store holds tallies without the mark that they are kept (the store was altered); run `pledger rebuild`".into()
            }
            Found::Differs => {
                format!("the stored {what} differs from the entries (the store was altered); run `pledger rebuild`")
            }
            Found::Missing => format!(
                "the store lacks the {what} the entries call for (the store was altered); run `pledger rebuild`"
            ),
            Found::Unexpected => format!(
                "the store holds {what}, which the entries do not call for (the store was altered); run `pledger rebuild`"
            ),
        }));
    }
    if let Some(what) = ledger.first_stray()? {
        return Err(failed(format!("the store holds {what} (the store was altered); run `pledger rebuild`")));
    }
    let mut checkpoints = Vec::new();
    for (s, text) in stored {
        let note = Note::parse(text.as_bytes()).map_err(|e| failed(format!("kept checkpoint of size {s}: {e}")))?;
        let mark =
            auditor.mark_at(s).ok_or_else(|| failed(format!("kept checkpoint of size {s} is beyond the log")))?;
        let key = log_verifying_key(&mark.log_key, s)?;
        let cp = Checkpoint::open(&note, &key).map_err(|e| failed(format!("kept checkpoint of size {s}: {e}")))?;
        if cp.root != mark.root || cp.size != s {
            return Err(failed(format!("the kept checkpoint of size {s} does not match the entries")));
        }
        checkpoints.push((cp, note));
    }
    Ok(Audited { origin: head.state.origin.clone(), checkpoints, auditor, tallies })
}

/// `verify --proof FILE --checkpoint FILE [--checkpoint FILE]`.
fn verify_proof(path: &Path, mine: &[(PathBuf, Note)], trusted: Option<VerifyingKey>) -> Result<()> {
    let proof = Proof::parse(&read_file(path, pledger_log::proof::MAX_PROOF_BYTES, "a proof")?)
        .map_err(|e| refused(format!("{}: {e}", path.display())))?;
    // The key the ledger names would prove nothing about the ledger: the auditor's own.
    let key = trusted.ok_or_else(|| usage("verifying a proof needs the log key you trust: --log-key FILE|VKEY"))?;
    let opened: Vec<Checkpoint> = mine
        .iter()
        .map(|(p, n)| Checkpoint::open(n, &key).map_err(|e| failed(format!("{}: {e}", p.display()))))
        .collect::<Result<_>>()?;
    match proof {
        Proof::Inclusion(p) => {
            let [cp] = opened.as_slice() else {
                return Err(usage("an inclusion proof is verified against one --checkpoint"));
            };
            p.verify(cp).map_err(failed)?;
            crate::console::outln!(
                "entry {} is in the tree of size {} of {}: proof verified",
                p.seq,
                p.size,
                p.origin
            )?;
        }
        Proof::Consistency(p) => {
            let old = opened.iter().find(|c| c.size == p.old_size);
            let new = opened.iter().find(|c| c.size == p.new_size);
            let (Some(old), Some(new)) = (old, new) else {
                return Err(usage("a consistency proof is verified against two --checkpoint files, of its two sizes"));
            };
            p.verify(old, new).map_err(failed)?;
            crate::console::outln!(
                "the tree of size {} is a prefix of the tree of size {}: proof verified",
                p.old_size,
                p.new_size
            )?;
        }
    }
    Ok(())
}

fn latest_size(ledger: &Ledger) -> Result<u64> {
    Ok(ledger.latest_checkpoint()?.map(|(s, _)| s).unwrap_or(ledger.size()))
}

/// `pledger prove`.
pub fn prove(g: &Global, what: &ProveWhat) -> Result<()> {
    let ledger = open_ledger(g)?;
    let origin = ledger.head().state.origin.clone();
    let proof = match what {
        ProveWhat::Inclusion { id, size } => {
            let seq = find_seq(&ledger, id)?;
            let size = match size {
                Some(s) => *s,
                None => latest_size(&ledger)?,
            };
            if size > ledger.size() || seq >= size {
                return Err(refused(format!(
                    "entry {seq} is not in the tree of size {size} (the ledger has {}; prove against a later checkpoint with --size)",
                    ledger.size()
                )));
            }
            let path = merkle::inclusion_proof::<Blake3, _>(&*ledger, seq, size)?;
            let line = ledger.line(seq)?.ok_or_else(|| refused(format!("no entry {seq}")))?;
            let entry = String::from_utf8(line).map_err(|_| refused(format!("entry {seq} is not UTF-8")))?;
            Proof::Inclusion(InclusionProof { origin, seq, size, entry, path: encode_path(&path) })
        }
        ProveWhat::Consistency { old, new } => {
            let new = match new {
                Some(n) => *n,
                None => latest_size(&ledger)?,
            };
            if *old > new || new > ledger.size() {
                return Err(refused(format!("sizes {old} → {new} do not fit a ledger of {} entries", ledger.size())));
            }
            let path = merkle::consistency_proof::<Blake3, _>(&*ledger, *old, new)?;
            Proof::Consistency(ConsistencyProof { origin, old_size: *old, new_size: new, path: encode_path(&path) })
        }
    };
    crate::console::outln!("{}", proof.to_json())?;
    Ok(())
}

/// `pledger export FILE`.
pub fn export(g: &Global, file: &Path) -> Result<()> {
    let ledger = open_with(g, Ledger::open_to_scan)?;
    let size = ledger.size();
    let checkpoints = ledger.checkpoints()?;
    match checkpoints.last() {
        Some((s, _)) if *s == size => {}
        _ => {
            return Err(refused(format!(
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
    let tmp = file.with_extension("partial");
    let f = std::fs::File::create(&tmp).map_err(|e| refused(format!("{}: {e}", tmp.display())))?;
    let mut out = BufWriter::with_capacity(1 << 20, f);
    let pb = progress::bar(size, "exporting", g.quiet);
    let io = |e: std::io::Error| refused(format!("{}: {e}", tmp.display()));
    serde_json::to_writer(&mut out, &header).map_err(|e| refused(e.to_string()))?;
    out.write_all(b"\n").map_err(io)?;
    for item in ledger.lines(0) {
        let (seq, line) = item?;
        out.write_all(&line).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
        if seq.is_multiple_of(4096) {
            pb.set_position(seq);
        }
    }
    let mut state = pledger_core::MemState::new();
    for m in ledger.members()? {
        state.members.insert(m.id.clone(), m);
    }
    serde_json::to_writer(&mut out, &bundle::keys_of(&state)).map_err(|e| refused(e.to_string()))?;
    out.write_all(b"\n").map_err(io)?;
    let f = out.into_inner().map_err(|e| refused(e.to_string()))?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, file).map_err(|e| refused(format!("{}: {e}", file.display())))?;
    pb.finish_and_clear();
    crate::console::outln!("{size}")?;
    Ok(())
}

/// Largest state file a witness reads: a checkpoint with its cosignatures, and little else.
const MAX_WITNESS_STATE: usize = 64 * 1024;

/// What a witness remembers of one log.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessState {
    origin: String,
    /// The log's verifier key.
    log_key: String,
    size: u64,
    root: String,
    checkpoint: String,
}

fn witness_name(key: &SigningKey, name: &Option<String>) -> String {
    name.clone().unwrap_or_else(|| format!("witness-{}", &keys::key_id(&key.verifying_key()).as_str()[..16]))
}

/// `pledger witness`.
pub fn witness(g: &Global, action: &WitnessAction) -> Result<()> {
    let key_path = g.key.as_deref().ok_or_else(|| usage("a witness signs with --key FILE"))?;
    let key = keys::read_private(key_path)?;
    match action {
        WitnessAction::Vkey { name } => {
            let v = Verifier::new(&witness_name(&key, name), TYPE_COSIGNATURE, key.verifying_key())?;
            crate::console::outln!("{}", v.vkey())?;
            Ok(())
        }
        WitnessAction::Cosign { checkpoint, state, name, log_key, bundle } => {
            cosign(g, &key, checkpoint, state, &witness_name(&key, name), log_key.as_deref(), bundle.as_deref())
        }
    }
}

fn cosign(
    g: &Global,
    key: &SigningKey,
    file: &Path,
    state_dir: &Path,
    name: &str,
    log_key: Option<&str>,
    bundle_path: Option<&Path>,
) -> Result<()> {
    let mut note = read_note(file)?;
    let claimed = Checkpoint::parse_text(&note.text).map_err(|e| refused(format!("{}: {e}", file.display())))?;
    std::fs::create_dir_all(state_dir).map_err(|e| refused(format!("{}: {e}", state_dir.display())))?;
    let state_file = state_dir.join(format!("{}.json", &hex::encode(sha2_256(claimed.origin.as_bytes()))[..24]));
    let remembered: Option<WitnessState> = match state_file.exists() {
        true => {
            let bytes = read_file(&state_file, MAX_WITNESS_STATE, "a witness's state")?;
            Some(serde_json::from_slice(&bytes).map_err(|e| refused(format!("{}: {e}", state_file.display())))?)
        }
        false => None,
    };
    let given = log_key.map(|k| key_arg(k, TYPE_ED25519)).transpose()?.map(|(_, k)| k);
    // The log key: remembered, else given, else taken from the ledger or bundle on first use.
    let mut source: Option<Source> = None;
    let log_vk = match (&remembered, given) {
        (Some(r), given) => {
            let v = Verifier::parse_vkey(&r.log_key)?;
            if given.is_some_and(|k| k != v.key) {
                return Err(refused("--log-key differs from the log key this witness remembers for this log"));
            }
            v.key
        }
        (None, Some(k)) => k,
        (None, None) => {
            let s = Source::open(g, bundle_path, &[claimed.size])?;
            let k = log_verifying_key(&s.log_key_at(claimed.size)?, claimed.size)?;
            source = Some(s);
            k
        }
    };
    let cp = Checkpoint::open(&note, &log_vk).map_err(|e| refused(format!("{}: {e}", file.display())))?;
    if let Some(r) = &remembered {
        if r.origin != cp.origin {
            return Err(refused("the remembered state is of another log"));
        }
        if cp.size < r.size {
            return Err(refused(format!(
                "refused: this checkpoint (size {}) is older than the one last cosigned (size {})",
                cp.size, r.size
            )));
        }
        if cp.size == r.size && b64(&cp.root) != r.root {
            return Err(refused(format!(
                "refused: a fork: this checkpoint of size {} has another root than the one cosigned for that size",
                cp.size
            )));
        }
        if cp.size > r.size {
            let s = match source.take() {
                Some(s) => s,
                None => Source::open(g, bundle_path, &[r.size, cp.size])?,
            };
            s.prove_consistent(r.size, &r.root, &cp)?;
        }
    }
    let now = Utc::now().timestamp().max(0) as u64;
    note.add_cosignature(name, key, now);
    let new_state = WitnessState {
        origin: cp.origin.clone(),
        log_key: Checkpoint::verifier(&cp.origin, log_vk)?.vkey(),
        size: cp.size,
        root: b64(&cp.root),
        checkpoint: note.to_text(),
    };
    let tmp = state_file.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(&new_state).map_err(|e| refused(e.to_string()))?;
    (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &state_file)
    })()
    .map_err(|e| refused(format!("{}: {e}", state_file.display())))?;
    crate::console::out!("{}", note.to_text())?;
    Ok(())
}

fn sha2_256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// Where a witness takes its consistency proof from: the ledger, or a bundle it audits.
enum Source<'a> {
    Ledger(crate::write::Opened<'a>),
    Bundle(Box<Auditor>),
}

impl<'a> Source<'a> {
    fn open(g: &'a Global, bundle_path: Option<&Path>, sizes: &[u64]) -> Result<Source<'a>> {
        match bundle_path {
            Some(p) => {
                let f = std::fs::File::open(p).map_err(|e| refused(format!("{}: {e}", p.display())))?;
                let v = bundle::verify(std::io::BufReader::new(f), sizes, Signatures::Exact, |_, _| {})
                    .map_err(|e| refused(format!("{}: {e}", p.display())))?;
                Ok(Source::Bundle(Box::new(v.auditor)))
            }
            None if g.ledger.is_some() => Ok(Source::Ledger(open_ledger(g)?)),
            None => Err(usage("the witness needs the log's entries: --ledger DIR or --bundle FILE")),
        }
    }

    fn log_key_at(&self, size: u64) -> Result<Option<PublicKey>> {
        match self {
            Source::Ledger(l) if l.size() == size => Ok(l.head().state.log_key),
            Source::Ledger(_) => Ok(None),
            Source::Bundle(a) => Ok(a.mark_at(size).and_then(|m| m.log_key)),
        }
    }

    /// Proves the tree of `old` entries, whose root the witness cosigned, a prefix of `new`'s.
    fn prove_consistent(&self, old: u64, old_root: &str, new: &Checkpoint) -> Result<()> {
        let fork = || {
            refused(format!("refused: the checkpoint of size {} is not consistent with the one cosigned (size {old}): a fork or a rewritten history", new.size))
        };
        match self {
            Source::Ledger(l) => {
                if new.size > l.size() || merkle::root::<Blake3, _>(&**l, new.size)? != new.root {
                    return Err(refused("the ledger at hand is not the one this checkpoint is of"));
                }
                let path = merkle::consistency_proof::<Blake3, _>(&**l, old, new.size)?;
                let old_root = decode_root(old_root)?;
                if !merkle::verify_consistency::<Blake3>(old, new.size, &old_root, &new.root, &path) {
                    return Err(fork());
                }
            }
            Source::Bundle(a) => {
                let (Some(m_old), Some(m_new)) = (a.mark_at(old), a.mark_at(new.size)) else {
                    return Err(refused("the bundle does not reach the checkpoint's size"));
                };
                if m_new.root != new.root {
                    return Err(refused("the bundle is not of this checkpoint"));
                }
                if b64(&m_old.root) != old_root {
                    return Err(fork());
                }
            }
        }
        Ok(())
    }
}

fn decode_root(s: &str) -> Result<merkle::Hash> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| refused("the remembered root is damaged"))
}
