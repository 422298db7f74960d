//! Commands of the verifiable log: `checkpoint`, `verify`, `prove`, `export`, `witness`. The
//! checks are the application layer's (`pledger_app::verify`, `pledger_app::witness`); this
//! module reads the files given, signs with the key given, and prints.

use std::io::{BufWriter, Write};
use std::path::Path;

use pledger_app::service::{Answer, Request};
use pledger_app::verify::{Head, ProofRequest, TrustedKey, VerifyRequest};
use pledger_app::witness::{AddCheckpoint, DirStore, Witness, WitnessStore};
use pledger_log::checkpoint::Checkpoint;
use pledger_log::keys;
use pledger_log::merkle::{self, Blake3, MemTree, TreeHash};
use pledger_log::note::{Note, Verifier, TYPE_ED25519};

use crate::cli::{Global, ProveWhat, VerifyArgs, WitnessAction};
use crate::fail::{input, usage, Failure, Result};
use crate::session::{unexpected, Open, Session};

fn read_file(path: &Path, max: usize, what: &str) -> Result<Vec<u8>> {
    Ok(pledger_log::input::read(path, max as u64, what, pledger_log::input::Source::Any)?)
}

/// A checkpoint file's text.
fn read_note_text(path: &Path) -> Result<String> {
    let bytes = read_file(path, pledger_log::note::MAX_NOTE_BYTES, "a checkpoint")?;
    String::from_utf8(bytes).map_err(|_| input(format!("{}: a checkpoint is UTF-8 text", path.display())))
}

/// A key given on the command line: a public key file, or a C2SP verifier key string.
fn key_arg(arg: &str) -> Result<TrustedKey> {
    if Path::new(arg).is_file() {
        return Ok(TrustedKey::PublicKey(keys::to_event_key(&keys::read_public(Path::new(arg))?)));
    }
    Verifier::parse_vkey(arg).map_err(|e| usage(e.to_string()))?;
    Ok(TrustedKey::Vkey(arg.to_owned()))
}

fn head(session: &mut Session) -> Result<Head> {
    match session.ask_one(Request::Head)? {
        Answer::Head(h) => Ok(h),
        other => Err(unexpected(other)),
    }
}

/// `pledger checkpoint`.
pub fn checkpoint(g: &Global, vkey: bool, add: Option<&Path>) -> Result<()> {
    let mut session = Session::open(g, Open::Normal)?;
    if let Some(file) = add {
        let note = read_note_text(file)?;
        match session.ask_one(Request::AddCosignatures { note })? {
            Answer::Cosigned(text) => crate::console::out!("{text}")?,
            other => return Err(unexpected(other)),
        }
        return Ok(());
    }
    let head = head(&mut session)?;
    let log_key = head.log_verifying_key()?;
    if vkey {
        crate::console::outln!("{}", Checkpoint::verifier(&head.origin, log_key)?.vkey())?;
        return Ok(());
    }
    if let Some((size, text)) = &head.latest {
        if *size == head.size {
            crate::console::out!("{text}")?;
            return Ok(());
        }
    }
    let key_path = g.key.as_deref().ok_or_else(|| usage("checkpoint needs the log key: pass --key FILE"))?;
    let note = sign_and_keep(&mut session, &head, key_path)?;
    crate::console::out!("{note}")?;
    Ok(())
}

/// `pledger verify`.
pub fn verify(g: &Global, a: &VerifyArgs) -> Result<()> {
    let log_key = a.log_key.as_deref().map(key_arg).transpose()?;
    let checkpoints: Vec<(String, String)> =
        a.checkpoint.iter().map(|p| read_note_text(p).map(|t| (p.display().to_string(), t))).collect::<Result<_>>()?;
    if let Some(p) = &a.proof {
        // The key the ledger names would prove nothing about the ledger: the auditor's own.
        let key = log_key.ok_or_else(|| usage("verifying a proof needs the log key you trust: --log-key FILE|VKEY"))?;
        let proof = read_file(p, pledger_log::proof::MAX_PROOF_BYTES, "a proof")?;
        let said = pledger_app::verify::proof(&proof, &checkpoints, &key).map_err(|e| with_path(e, p))?;
        crate::console::outln!("{said}")?;
        return Ok(());
    }
    let request = VerifyRequest { log_key, witnesses: a.witness.clone(), checkpoints, strict: a.strict };
    let verified = match &a.bundle {
        Some(b) => {
            let f = pledger_log::input::open(b, pledger_log::input::Source::Any)?;
            let mut drawn = crate::progress::Drawn::new("verifying bundle", g.quiet);
            let mut progress = |p| {
                drawn.take(&Answer::Progress(p));
            };
            let reader = std::io::BufReader::with_capacity(1 << 20, f);
            pledger_app::verify::bundle(reader, &request, &mut progress)?
        }
        None => {
            let mut session = Session::open(g, Open::Scan)?;
            let mut drawn = crate::progress::Drawn::new("verifying", g.quiet);
            let answer = session.ask(Request::Verify { verify: request }, None, &mut |part| {
                drawn.take(&part);
                Ok(())
            })?;
            match answer {
                Answer::Verified(v) => v,
                other => return Err(unexpected(other)),
            }
        }
    };
    for line in verified.lines {
        crate::console::outln!("{line}")?;
    }
    // A bundle checked against nothing the auditor holds proves only that it agrees with
    // itself: a ledger forged from nothing, with keys of its own, does too.
    if a.bundle.is_some() && a.log_key.is_none() && a.checkpoint.is_empty() && a.witness.is_empty() {
        crate::console::outln!("{UNANCHORED_SAID}")?;
        return Err(Failure {
            kind: pledger_app::Kind::Verification,
            message: "the bundle is consistent with itself but anchored to nothing you trust: give --log-key, --checkpoint or --witness".into(),
            exit: Some(crate::fail::UNANCHORED),
        });
    }
    Ok(())
}

/// What an unanchored `verify --bundle` says on stdout, after what it verified.
pub const UNANCHORED_SAID: &str = "UNANCHORED: no --log-key, --checkpoint or --witness was given, so this proves only that the bundle agrees with itself — anyone can make such a bundle from nothing. Exit status 3.";

/// A proof's malformation names its file.
fn with_path(e: pledger_app::Error, path: &Path) -> Failure {
    match e {
        pledger_app::Error::Input(m) => input(format!("{}: {m}", path.display())),
        e => e.into(),
    }
}

/// `pledger prove`.
pub fn prove(g: &Global, what: &ProveWhat) -> Result<()> {
    let mut session = Session::open(g, Open::Normal)?;
    let what = match what {
        ProveWhat::Inclusion { id, size } => ProofRequest::Inclusion { id: id.clone(), size: *size },
        ProveWhat::Consistency { old, new } => ProofRequest::Consistency { old: *old, new: *new },
    };
    match session.ask_one(Request::Prove { what })? {
        Answer::Proof(json) => crate::console::outln!("{json}")?,
        other => return Err(unexpected(other)),
    }
    Ok(())
}

/// `pledger export FILE`: written beside, synced, then renamed into place.
pub fn export(g: &Global, file: &Path) -> Result<()> {
    let mut session = Session::open(g, Open::Scan)?;
    let tmp = file.with_extension("partial");
    let f = std::fs::File::create(&tmp).map_err(|e| input(format!("{}: {e}", tmp.display())))?;
    let io = |e: std::io::Error| input(format!("{}: {e}", tmp.display()));
    let mut out = BufWriter::with_capacity(1 << 20, f);
    let pb = crate::progress::counter("exporting (bytes)", g.quiet);
    let mut written = 0u64;
    let answer = session.ask(Request::Export, None, &mut |part| {
        if let Answer::Bytes(b) = part {
            out.write_all(&b).map_err(io)?;
            written += b.len() as u64;
            pb.set_position(written);
        }
        Ok(())
    });
    pb.finish_and_clear();
    let size = match answer {
        Ok(Answer::Exported { size }) => size,
        Ok(other) => return Err(unexpected(other)),
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let f = out.into_inner().map_err(|e| io(e.into_error()))?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, file).map_err(|e| input(format!("{}: {e}", file.display())))?;
    crate::console::outln!("{size}")?;
    Ok(())
}

/// `pledger witness`.
pub fn witness(g: &Global, action: &WitnessAction) -> Result<()> {
    let key_path = g.key.as_deref().ok_or_else(|| usage("a witness signs with --key FILE"))?;
    let key = keys::read_private(key_path)?;
    match action {
        WitnessAction::Vkey { name } => {
            let w = Witness::new(key, name.clone(), NoState);
            crate::console::outln!("{}", w.vkey().map_err(|e| usage(e.to_string()))?)?;
            Ok(())
        }
        WitnessAction::Serve { http, state, logs, name } => {
            let logs: Vec<Verifier> = logs
                .iter()
                .map(|v| Verifier::parse_vkey(v).map_err(|e| usage(format!("--log {v}: {e}"))))
                .collect::<Result<_>>()?;
            let store = DirStore::new(state).map_err(input)?;
            let witness = Witness::new(key, name.clone(), store);
            let addr = match http.strip_prefix(':').unwrap_or(http) {
                port if port.bytes().all(|b| b.is_ascii_digit()) => format!("127.0.0.1:{port}"),
                _ => http.clone(),
            };
            let listener = std::net::TcpListener::bind(&addr).map_err(|e| input(format!("--http {addr}: {e}")))?;
            if !g.quiet {
                let at = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
                eprintln!(
                    "pledger: witness {} on http://{at}/add-checkpoint; Ctrl-C stops",
                    witness.vkey().unwrap_or_default()
                );
            }
            let stop = std::sync::Arc::new(pledger_http::server::Stop::new());
            crate::serve::stop_on_signals(std::sync::Arc::clone(&stop))?;
            pledger_http::witness_server::run(witness, logs, listener, stop).map_err(input)
        }
        WitnessAction::Cosign { checkpoint, state, name, log_key, bundle } => {
            let store = DirStore::new(state).map_err(input)?;
            let witness = Witness::new(key, name.clone(), store);
            cosign(g, witness, checkpoint, log_key.as_deref(), bundle.as_deref())
        }
    }
}

/// The state of a witness that only says its key.
struct NoState;

impl WitnessStore for NoState {
    fn load(&self, _: &str) -> std::result::Result<Option<pledger_app::witness::LogState>, String> {
        Ok(None)
    }
    fn store(&mut self, _: &pledger_app::witness::LogState) -> std::result::Result<(), String> {
        Ok(())
    }
}

fn cosign(
    g: &Global,
    mut witness: Witness<DirStore>,
    file: &Path,
    log_key: Option<&str>,
    bundle_path: Option<&Path>,
) -> Result<()> {
    let text = read_note_text(file)?;
    let note = Note::parse(text.as_bytes()).map_err(|e| input(format!("{}: {e}", file.display())))?;
    let claimed = Checkpoint::parse_text(&note.text).map_err(|e| input(format!("{}: {e}", file.display())))?;
    let remembered = witness.state(&claimed.origin).map_err(|e| input(e.to_string()))?;
    let given = log_key.map(key_arg).transpose()?.map(|k| k.verifying(TYPE_ED25519)).transpose()?;
    let old = remembered.as_ref().map_or(0, |r| r.size);
    // The log's entries, for the proof from the size last cosigned (and the log key, the first
    // time, if none is given).
    let mut source = Source::open(g, bundle_path, claimed.size)?;
    let trust = match (&remembered, given) {
        (None, None) => Some(source.log_key_at(claimed.size)?),
        (_, given) => given,
    };
    let proof = if remembered.is_some() && claimed.size > old { source.proof(old, claimed.size)? } else { Vec::new() };
    let req = AddCheckpoint { old_size: old, proof, checkpoint: note };
    // A rotation of the log key since the size last cosigned, followed through the entries.
    let follow = |remembered: &ed25519_dalek::VerifyingKey| source.follow(remembered, old, claimed.size);
    let cosigned = witness.add_checkpoint_following(&req, trust, Some(&follow)).map_err(|e| match e {
        pledger_app::witness::WitnessError::Forbidden(m) => input(format!("{}: {m}", file.display())),
        e => Failure::new(pledger_app::Kind::Refused, e.to_string()),
    })?;
    crate::console::out!("{}", cosigned.to_text())?;
    Ok(())
}

/// Where a witness takes its consistency proof from: the ledger, or a bundle it audits.
enum Source {
    Ledger(Session),
    Bundle { tree: MemTree, auditor: Box<pledger_log::audit::Auditor> },
}

impl Source {
    fn open(g: &Global, bundle_path: Option<&Path>, size: u64) -> Result<Source> {
        match bundle_path {
            Some(p) => {
                let read = || -> Result<std::io::BufReader<std::fs::File>> {
                    let f = pledger_log::input::open(p, pledger_log::input::Source::Any)?;
                    Ok(std::io::BufReader::with_capacity(1 << 20, f))
                };
                let mut bar: Option<indicatif::ProgressBar> = None;
                let verified = pledger_log::bundle::verify(read()?, &[size], Default::default(), |done, total| {
                    bar.get_or_insert_with(|| crate::progress::bar(total.max(1), "auditing bundle", g.quiet))
                        .set_position(done)
                });
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
                let verified = verified.map_err(|e| input(format!("{}: {e}", p.display())))?;
                // The bundle verified: its entry lines hashed into a tree for the proof.
                let mut tree = MemTree::default();
                let mut r = read()?;
                let mut line = Vec::new();
                pledger_log::bundle::read_line(&mut r, &mut line).map_err(input)?;
                for _ in 0..verified.header.size {
                    pledger_log::bundle::read_line(&mut r, &mut line).map_err(input)?;
                    tree.push::<Blake3>(Blake3::leaf(&line));
                }
                Ok(Source::Bundle { tree, auditor: Box::new(verified.auditor) })
            }
            None if g.ledger.is_some() => Ok(Source::Ledger(Session::open(g, Open::Normal)?)),
            None => Err(usage("the witness needs the log's entries: --ledger DIR or --bundle FILE")),
        }
    }

    /// The log key the log names at `size`.
    fn log_key_at(&mut self, size: u64) -> Result<ed25519_dalek::VerifyingKey> {
        let key = match self {
            Source::Ledger(s) => {
                let h = head(s)?;
                if h.size == size {
                    h.log_key
                } else {
                    None
                }
            }
            Source::Bundle { auditor, .. } => auditor.mark_at(size).and_then(|m| m.log_key),
        };
        key.as_ref().and_then(keys::from_event_key).ok_or_else(|| {
            input(format!("the log names no log key at size {size}: give the one to trust with --log-key"))
        })
    }

    /// The log key at `new` entries, followed from `remembered` through the rotations recorded
    /// in entries `old..new`, each signed by the log key it replaced.
    fn follow(
        &self,
        remembered: &ed25519_dalek::VerifyingKey,
        old: u64,
        new: u64,
    ) -> std::result::Result<ed25519_dalek::VerifyingKey, String> {
        let Source::Bundle { auditor, .. } = self else {
            return Err(format!(
                "the checkpoint is not signed by the log key this witness remembers ({}); if the log key was rotated, give the log as a bundle (`pledger export`, then `witness cosign … --bundle FILE`) so that the witness can check the rotation",
                keys::key_id(remembered)
            ));
        };
        let mut key = keys::to_event_key(remembered);
        for r in auditor.rotations().iter().filter(|r| r.seq >= old && r.seq < new) {
            if r.old != Some(key) || r.signed_by != key {
                return Err(format!(
                    "the log key was rotated at entry {} to {} by an entry not signed by the log key this witness remembers ({}): it does not vouch for it",
                    r.seq,
                    r.new.key_id(),
                    key.key_id()
                ));
            }
            key = r.new;
        }
        let named = auditor.mark_at(new).and_then(|m| m.log_key);
        if named != Some(key) {
            return Err(format!(
                "the checkpoint is not signed by the log key this witness remembers ({}), and no rotation since the size it last cosigned leads to the key the log names at size {new}",
                keys::key_id(remembered)
            ));
        }
        keys::from_event_key(&key).ok_or_else(|| format!("the log key {} is not a valid Ed25519 key", key.key_id()))
    }

    /// A consistency proof from `old` to `new` entries.
    fn proof(&mut self, old: u64, new: u64) -> Result<Vec<merkle::Hash>> {
        match self {
            Source::Ledger(s) => {
                let json =
                    match s.ask_one(Request::Prove { what: ProofRequest::Consistency { old, new: Some(new) } })? {
                        Answer::Proof(json) => json,
                        other => return Err(unexpected(other)),
                    };
                match pledger_log::proof::Proof::parse(json.as_bytes()).map_err(|e| input(e.to_string()))? {
                    pledger_log::proof::Proof::Consistency(p) => {
                        pledger_log::proof::decode_path(&p.path).map_err(|e| input(e.to_string()))
                    }
                    _ => Err(input("the ledger answered another proof")),
                }
            }
            Source::Bundle { tree, .. } => {
                if new > tree.size() {
                    return Err(input("the bundle does not reach the checkpoint's size"));
                }
                merkle::consistency_proof::<Blake3, _>(&*tree, old, new).map_err(|e| input(format!("{e:?}")))
            }
        }
    }
}

/// Signs a checkpoint of the head with the log key in `key_path` and has the ledger keep it;
/// returns its text.
fn sign_and_keep(session: &mut Session, head: &Head, key_path: &Path) -> Result<String> {
    let log_key = head.log_verifying_key()?;
    let key = keys::read_private(key_path)?;
    if key.verifying_key() != log_key {
        return Err(Failure::new(
            pledger_app::Kind::Refused,
            format!(
                "key {} is not this ledger's log key ({}); only the log key signs checkpoints",
                keys::key_id(&key.verifying_key()),
                keys::key_id(&log_key)
            ),
        ));
    }
    let cp = Checkpoint { origin: head.origin.clone(), size: head.size, root: head.root_bytes()? };
    let note = cp.sign(&key)?;
    match session.ask_one(Request::KeepCheckpoint { note: note.to_text() })? {
        Answer::Kept => Ok(note.to_text()),
        other => Err(unexpected(other)),
    }
}

/// `pledger publish DIR`: the latest kept checkpoint and the tiles its copy in DIR lacks.
pub fn publish(g: &Global, dir: &Path) -> Result<()> {
    use pledger_http::publish;
    let mut session = Session::open(g, Open::Scan)?;
    let mut head = head(&mut session)?;
    // With the log key, the head is published: a checkpoint of it is signed and kept first.
    if let Some(key_path) = g.key.as_deref() {
        if head.latest.as_ref().is_none_or(|(size, _)| *size < head.size) {
            let note = sign_and_keep(&mut session, &head, key_path)?;
            head.latest = Some((head.size, note));
        }
    }
    let Some((size, _)) = &head.latest else {
        return Err(Failure::new(
            pledger_app::Kind::Conflict,
            "the ledger keeps no checkpoint yet: publish with --key (the log key), or sign one with `pledger checkpoint`",
        ));
    };
    let before = publish::published(dir).map_err(input)?;
    if let Some((origin, published)) = &before {
        if origin != &head.origin {
            return Err(input(format!("{} holds a copy of {origin}, not of {}", dir.display(), head.origin)));
        }
        if published > size {
            return Err(Failure::new(
                pledger_app::Kind::Conflict,
                format!(
                    "{} holds a checkpoint of size {published}, beyond the ledger's latest ({size}): publishing would roll it back",
                    dir.display()
                ),
            ));
        }
    }
    let from = before.as_ref().map_or(0, |(_, s)| *s);
    let (mut written, mut kept) = (0u64, 0u64);
    let counter = crate::progress::counter("publishing tiles and bundles", g.quiet);
    let answer = session.ask(Request::Publish { from }, None, &mut |part| {
        if let Answer::Tile { path, bytes } = part {
            if publish::already(dir, &path) {
                kept += 1;
            } else {
                publish::write_atomically(dir, &path, &bytes).map_err(input)?;
                written += 1;
            }
            counter.set_position(written + kept);
        }
        Ok(())
    });
    counter.finish_and_clear();
    let answer = answer?;
    let Answer::Published { size, checkpoint } = answer else { return Err(unexpected(answer)) };
    // The checkpoint last: a reader finds every tile it names already there.
    publish::write_atomically(dir, "checkpoint", checkpoint.as_bytes()).map_err(input)?;
    crate::console::outln!(
        "published {} at size {size} in {}: {written} tiles and bundles written, {kept} full ones already there",
        head.origin,
        dir.display()
    )?;
    Ok(())
}

/// `pledger monitor URL --log-key KEY --state DIR [--follow]`.
pub fn monitor(g: &Global, a: &crate::cli::MonitorArgs) -> Result<()> {
    use pledger_http::monitor::{Finding, Monitor};
    let key = key_arg(&a.log_key)?.verifying(TYPE_ED25519)?;
    let monitor = Monitor::new(&a.url, key, &a.state).map_err(|e| input(e.to_string()))?;
    let interval =
        std::time::Duration::from_secs_f64(if a.interval.is_finite() { a.interval.clamp(0.1, 86_400.0) } else { 10.0 });
    loop {
        let mut drawn = crate::progress::Drawn::new("auditing new entries", g.quiet);
        let round = monitor.round(&mut |done, total| {
            drawn.take(&Answer::Progress(pledger_app::verify::Progress { done, total: Some(total) }));
        });
        drawn.finish();
        match round {
            Ok(r) => crate::console::outln!(
                "{} at size {} (root {}): {} new entries, every one verified; consistent with every checkpoint seen before",
                r.origin,
                r.size,
                r.root,
                r.new_entries
            )?,
            Err(f @ (Finding::Fetch(_) | Finding::State(_))) if a.follow => {
                // A server down for a moment is not a finding: the next round tries again.
                eprintln!("pledger: {f}");
            }
            Err(f) => {
                let kind = match f {
                    // Unreachable: try again later (75), not a finding about the log.
                    Finding::Fetch(pledger_http::client::ClientError::Transport { .. }) => pledger_app::Kind::InUse,
                    Finding::Fetch(_) => pledger_app::Kind::Verification,
                    Finding::State(_) => pledger_app::Kind::Input,
                    _ => pledger_app::Kind::Verification,
                };
                return Err(Failure::new(kind, f.to_string()));
            }
        }
        if !a.follow {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}
