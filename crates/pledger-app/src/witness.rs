//! A witness, as C2SP tlog-witness has it: it cosigns a log's checkpoint only when it is
//! consistent with the last one it cosigned for that log, proven by a consistency proof from
//! that size, and remembers each log's latest cosigned checkpoint. The state lives behind a
//! small trait ([`WitnessStore`]), as transparency-dev's witness keeps `LogStatePersistence`
//! apart; HTTP and the command line are fronts over [`Witness::add_checkpoint`].

use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use pledger_log::checkpoint::Checkpoint;
use pledger_log::keys;
use pledger_log::merkle::{self, Blake3, Hash};
use pledger_log::note::{Note, Verifier, TYPE_COSIGNATURE};
use serde::{Deserialize, Serialize};

/// What a witness remembers of one log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogState {
    /// The log's origin.
    pub origin: String,
    /// The log's verifier key (C2SP signed-note).
    pub log_key: String,
    /// The size of the latest checkpoint cosigned.
    pub size: u64,
    /// The root of the latest cosigned checkpoint, base64.
    pub root: String,
    /// That checkpoint, with every signature it carries.
    pub checkpoint: String,
}

/// Given the log key a witness remembers, the key the log names at a checkpoint's size, each
/// rotation between them checked (see [`Witness::add_checkpoint_following`]).
pub type Follow<'a> = dyn Fn(&VerifyingKey) -> Result<VerifyingKey, String> + 'a;

/// Where a witness keeps its state. `store` must replace what `load` returned atomically
/// and durably before the cosignature is given out.
pub trait WitnessStore {
    /// The state kept for the log `origin`, if any.
    fn load(&self, origin: &str) -> Result<Option<LogState>, String>;
    /// Replaces the state kept for its log, atomically and durably.
    fn store(&mut self, state: &LogState) -> Result<(), String>;
}

/// Why a checkpoint was not cosigned; each with the HTTP status tlog-witness gives it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs, reason = "an error is documented by its #[error] messages")]
pub enum WitnessError {
    /// The witness knows no log of this origin, and was given no key to trust for it (404).
    #[error("this witness knows no log {0}; give the log key to trust the first time")]
    UnknownLog(String),
    /// No signature on the checkpoint verifies under the log key the witness trusts (403).
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed: an old size above the checkpoint's, a bad proof line (400).
    #[error("{0}")]
    BadRequest(String),
    /// The old size is not the size of the latest checkpoint cosigned (409), which is `known`.
    #[error("refused: the old size {given} is not {known}, the size of the checkpoint last cosigned")]
    OldSize { given: u64, known: u64 },
    /// A checkpoint of the size last cosigned with another root, or an older one (409).
    #[error("{message}")]
    Conflict { message: String, known: u64 },
    /// The consistency proof does not verify (422).
    #[error("refused: the checkpoint of size {new} is not consistent with the one cosigned (size {old}): a fork or a rewritten history")]
    Inconsistent { old: u64, new: u64 },
    /// The witness could not read or keep its state.
    #[error("{0}")]
    State(String),
}

impl WitnessError {
    /// The HTTP status tlog-witness gives this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::UnknownLog(_) => 404,
            WitnessError::Forbidden(_) => 403,
            WitnessError::BadRequest(_) => 400,
            WitnessError::OldSize { .. } | WitnessError::Conflict { .. } => 409,
            WitnessError::Inconsistent { .. } => 422,
            WitnessError::State(_) => 500,
        }
    }
}

/// An add-checkpoint request: the size the client believes the witness last cosigned, a
/// consistency proof from it, and the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size the client believes the witness last cosigned.
    pub old_size: u64,
    /// A consistency proof from that size to the checkpoint's.
    pub proof: Vec<Hash>,
    /// The checkpoint to cosign.
    pub checkpoint: Note,
}

/// The most proof lines a request may carry (tlog-witness).
pub const MAX_PROOF_LINES: usize = 63;

impl AddCheckpoint {
    /// Parses an add-checkpoint body: `old N`, proof hashes one per line, an empty line, the
    /// checkpoint.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, WitnessError> {
        let bad = |why: &str| WitnessError::BadRequest(format!("malformed add-checkpoint request: {why}"));
        let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8"))?;
        let (head, checkpoint) = text.split_once("\n\n").ok_or_else(|| bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines.next().and_then(|l| l.strip_prefix("old ")).ok_or_else(|| bad("no `old SIZE` line"))?;
        if old.is_empty() || (old.len() > 1 && old.starts_with('0')) || !old.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the old size is not a decimal number"));
        }
        let old_size: u64 = old.parse().map_err(|_| bad("the old size is not a decimal number"))?;
        let mut proof = Vec::new();
        for line in lines {
            use base64::Engine as _;
            let hash = base64::engine::general_purpose::STANDARD
                .decode(line)
                .ok()
                .and_then(|b| Hash::try_from(b).ok())
                .ok_or_else(|| bad("a proof line is not a hash in base64"))?;
            proof.push(hash);
            if proof.len() > MAX_PROOF_LINES {
                return Err(bad("more than 63 proof lines"));
            }
        }
        let checkpoint = Note::parse(checkpoint.as_bytes()).map_err(|e| bad(&e.to_string()))?;
        Ok(AddCheckpoint { old_size, proof, checkpoint })
    }

    /// The request body.
    pub fn to_body(&self) -> String {
        use base64::Engine as _;
        let mut out = format!("old {}\n", self.old_size);
        for h in &self.proof {
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint.to_text());
        out
    }
}

/// A witness: a name, a key, and what it remembers.
pub struct Witness<S> {
    /// Its name: the key name of its cosignatures.
    pub name: String,
    key: SigningKey,
    store: S,
}

fn b64(h: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

impl<S: WitnessStore> Witness<S> {
    /// A witness named `name` (by default `witness-` and the start of its key id).
    pub fn new(key: SigningKey, name: Option<String>, store: S) -> Self {
        let name = name.unwrap_or_else(|| default_name(&key.verifying_key()));
        Witness { name, key, store }
    }

    /// The witness's verifier key, for those who require its cosignature.
    pub fn vkey(&self) -> Result<String, WitnessError> {
        Verifier::new(&self.name, TYPE_COSIGNATURE, self.key.verifying_key())
            .map(|v| v.vkey())
            .map_err(|e| WitnessError::BadRequest(e.to_string()))
    }

    /// The latest checkpoint cosigned for `origin`.
    pub fn state(&self, origin: &str) -> Result<Option<LogState>, WitnessError> {
        self.store.load(origin).map_err(WitnessError::State)
    }

    /// Cosigns `req.checkpoint` if it is consistent with the last checkpoint cosigned for its
    /// log; returns the cosigned checkpoint. `trust` is the log key to trust for a log the
    /// witness has not seen yet; later the remembered key is used, and another is refused.
    pub fn add_checkpoint(&mut self, req: &AddCheckpoint, trust: Option<VerifyingKey>) -> Result<Note, WitnessError> {
        self.add_checkpoint_following(req, trust, None)
    }

    /// [`Witness::add_checkpoint`], following a rotation of the log key: `follow`, given the
    /// key the witness remembers, names the key the log names at the checkpoint's size, having
    /// checked that each rotation since the size last cosigned was signed by the key it replaced
    /// — in entries the consistency proof then binds to what the witness cosigned before.
    pub fn add_checkpoint_following(
        &mut self,
        req: &AddCheckpoint,
        trust: Option<VerifyingKey>,
        follow: Option<&Follow<'_>>,
    ) -> Result<Note, WitnessError> {
        let claimed = Checkpoint::parse_text(&req.checkpoint.text)
            .map_err(|e| WitnessError::BadRequest(format!("not a checkpoint: {e}")))?;
        let remembered = self.store.load(&claimed.origin).map_err(WitnessError::State)?;
        let log_key = match (&remembered, trust) {
            (Some(r), given) => {
                let v = Verifier::parse_vkey(&r.log_key).map_err(|e| WitnessError::State(e.to_string()))?;
                // The key the log names now: the remembered one, or the one it vouched for.
                let now = match follow {
                    Some(f) if Checkpoint::open(&req.checkpoint, &v.key).is_err() => {
                        f(&v.key).map_err(WitnessError::Forbidden)?
                    }
                    _ => v.key,
                };
                if given.is_some_and(|k| k != now) {
                    return Err(WitnessError::Forbidden(
                        "--log-key differs from the log key this witness remembers for this log (and from any it follows to)"
                            .into(),
                    ));
                }
                now
            }
            (None, Some(k)) => k,
            (None, None) => return Err(WitnessError::UnknownLog(claimed.origin.clone())),
        };
        let cp = Checkpoint::open(&req.checkpoint, &log_key).map_err(|e| WitnessError::Forbidden(e.to_string()))?;
        let known = remembered.as_ref().map_or(0, |r| r.size);
        if remembered.as_ref().is_some_and(|r| r.origin != cp.origin) {
            return Err(WitnessError::State("the remembered state is of another log".into()));
        }
        if req.old_size > cp.size {
            return Err(WitnessError::BadRequest(if req.old_size == known {
                format!(
                    "refused: this checkpoint (size {}) is older than the one last cosigned (size {known})",
                    cp.size
                )
            } else {
                format!("the old size {} is above the checkpoint's size {}", req.old_size, cp.size)
            }));
        }
        if req.old_size != known {
            return Err(WitnessError::OldSize { given: req.old_size, known });
        }
        match &remembered {
            Some(r) if cp.size == r.size && b64(&cp.root) != r.root => {
                return Err(WitnessError::Conflict {
                    message: format!(
                        "refused: a fork: this checkpoint of size {} has another root than the one cosigned for that size",
                        cp.size
                    ),
                    known,
                });
            }
            Some(r) if cp.size == r.size => {}
            Some(r) => {
                let old_root = decode_root(&r.root).map_err(WitnessError::State)?;
                if !merkle::verify_consistency::<Blake3>(r.size, cp.size, &old_root, &cp.root, &req.proof) {
                    return Err(WitnessError::Inconsistent { old: r.size, new: cp.size });
                }
            }
            None if !req.proof.is_empty() => {
                return Err(WitnessError::BadRequest("a proof from size 0 is empty".into()));
            }
            None => {}
        }
        let mut note = req.checkpoint.clone();
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        note.add_cosignature(&self.name, &self.key, now);
        let state = LogState {
            origin: cp.origin.clone(),
            log_key: Checkpoint::verifier(&cp.origin, log_key).map_err(|e| WitnessError::State(e.to_string()))?.vkey(),
            size: cp.size,
            root: b64(&cp.root),
            checkpoint: note.to_text(),
        };
        self.store.store(&state).map_err(WitnessError::State)?;
        Ok(note)
    }
}

/// A witness's name when none is given: `witness-` and the first 16 hex digits of its key id.
pub fn default_name(key: &VerifyingKey) -> String {
    format!("witness-{}", &keys::key_id(key).as_str()[..16])
}

fn decode_root(s: &str) -> Result<Hash, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "the remembered root is damaged".to_owned())
}

/// A witness's state as files in a directory: one JSON file per log, named by a hash of its
/// origin, replaced atomically (written beside, synced, renamed).
pub struct DirStore {
    dir: PathBuf,
}

/// Largest state file read: a checkpoint with its cosignatures, and little else.
const MAX_STATE: u64 = 64 * 1024;

impl DirStore {
    /// A store in `dir`, created if need be.
    pub fn new(dir: &Path) -> Result<DirStore, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(DirStore { dir: dir.to_owned() })
    }

    fn file(&self, origin: &str) -> PathBuf {
        use sha2::Digest;
        let h = sha2::Sha256::digest(origin.as_bytes());
        self.dir.join(format!("{}.json", &hex::encode(h)[..24]))
    }
}

impl WitnessStore for DirStore {
    fn load(&self, origin: &str) -> Result<Option<LogState>, String> {
        let file = self.file(origin);
        if !file.exists() {
            return Ok(None);
        }
        let bytes =
            pledger_log::input::read(&file, MAX_STATE, "a witness's state", pledger_log::input::Source::Regular)
                .map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{}: {e}", file.display()))
    }

    fn store(&mut self, state: &LogState) -> Result<(), String> {
        use std::io::Write;
        let file = self.file(&state.origin);
        let tmp = file.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
        (|| -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &file)?;
            std::fs::File::open(&self.dir)?.sync_all()
        })()
        .map_err(|e| format!("{}: {e}", file.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pledger_log::merkle::{MemTree, TreeHash};

    struct Memory(Option<LogState>);

    impl WitnessStore for Memory {
        fn load(&self, _: &str) -> Result<Option<LogState>, String> {
            Ok(self.0.clone())
        }
        fn store(&mut self, s: &LogState) -> Result<(), String> {
            self.0 = Some(s.clone());
            Ok(())
        }
    }

    fn tree(n: u64, salt: &str) -> MemTree {
        let mut t = MemTree::default();
        for i in 0..n {
            t.push::<Blake3>(Blake3::leaf(format!("{salt}{i}").as_bytes()));
        }
        t
    }

    fn checkpoint(t: &MemTree, key: &SigningKey) -> Note {
        Checkpoint { origin: "example.org/log".into(), size: t.size(), root: t.frontier.root::<Blake3>() }
            .sign(key)
            .unwrap()
    }

    #[test]
    fn cosigns_only_checkpoints_consistent_with_the_last_one() {
        let log = SigningKey::from_bytes(&[3; 32]);
        let mut w = Witness::new(SigningKey::from_bytes(&[4; 32]), None, Memory(None));
        let t10 = tree(10, "e");
        let first = AddCheckpoint { old_size: 0, proof: vec![], checkpoint: checkpoint(&t10, &log) };
        // Unknown log without a key to trust.
        assert_eq!(w.add_checkpoint(&first, None).unwrap_err().status(), 404);
        let cosigned = w.add_checkpoint(&first, Some(log.verifying_key())).unwrap();
        assert_eq!(cosigned.signatures.len(), 2);
        // The same again, from old size 0: the witness says what it knows.
        assert_eq!(w.add_checkpoint(&first, None).unwrap_err(), WitnessError::OldSize { given: 0, known: 10 });
        // A larger tree, with the right proof.
        let t15 = tree(15, "e");
        let proof = merkle::consistency_proof::<Blake3, _>(&t15, 10, 15).unwrap();
        let next = AddCheckpoint { old_size: 10, proof: proof.clone(), checkpoint: checkpoint(&t15, &log) };
        w.add_checkpoint(&next, None).unwrap();
        assert_eq!(w.state("example.org/log").unwrap().unwrap().size, 15);
        // A fork: another tree of 20 whose first 15 leaves differ.
        let forked = tree(20, "f");
        let bad_proof = merkle::consistency_proof::<Blake3, _>(&forked, 15, 20).unwrap();
        let fork = AddCheckpoint { old_size: 15, proof: bad_proof, checkpoint: checkpoint(&forked, &log) };
        assert_eq!(w.add_checkpoint(&fork, None).unwrap_err().status(), 422);
        // Another root at the size last cosigned.
        let same_size = AddCheckpoint { old_size: 15, proof: vec![], checkpoint: checkpoint(&tree(15, "g"), &log) };
        assert_eq!(w.add_checkpoint(&same_size, None).unwrap_err().status(), 409);
        // An older checkpoint.
        let older = AddCheckpoint { old_size: 15, proof: vec![], checkpoint: checkpoint(&t10, &log) };
        let e = w.add_checkpoint(&older, None).unwrap_err();
        assert_eq!((e.status(), e.to_string().contains("is older than the one last cosigned")), (400, true));
        let older = AddCheckpoint { old_size: 10, proof: vec![], checkpoint: checkpoint(&t10, &log) };
        assert_eq!(w.add_checkpoint(&older, None).unwrap_err(), WitnessError::OldSize { given: 10, known: 15 });
        // Signed by another key.
        let other = SigningKey::from_bytes(&[5; 32]);
        let t16 = tree(16, "e");
        let proof16 = merkle::consistency_proof::<Blake3, _>(&t16, 15, 16).unwrap();
        let forged = AddCheckpoint { old_size: 15, proof: proof16.clone(), checkpoint: checkpoint(&t16, &other) };
        assert_eq!(w.add_checkpoint(&forged, None).unwrap_err().status(), 403);
        assert_eq!(w.state("example.org/log").unwrap().unwrap().size, 15, "nothing refused was remembered");
        // The body round-trips.
        let honest = AddCheckpoint { old_size: 15, proof: proof16, checkpoint: checkpoint(&t16, &log) };
        assert_eq!(AddCheckpoint::parse(honest.to_body().as_bytes()).unwrap(), honest);
        w.add_checkpoint(&honest, None).unwrap();
    }

    #[test]
    fn malformed_requests_are_bad_requests() {
        for body in [&b"old 01\n\nx"[..], b"old x\n\n", b"\n\n", b"old 1\nnot-base64\n\n", b"old 1\n"] {
            assert_eq!(AddCheckpoint::parse(body).unwrap_err().status(), 400, "{:?}", String::from_utf8_lossy(body));
        }
    }
}
