use std::collections::HashMap;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use pledger_core::testkit::{self, cast, Actor};
use pledger_core::{Event, MemState};
use pledger_log::merkle::{self, Blake3, MemTree, TreeHash};
use pledger_log::sign::sign_event;

use super::*;

/// A cast with real keys, and a random ledger of their events, signed.
fn signed_ledger(seed: u64, n: usize) -> (Vec<Actor>, Vec<Envelope>) {
    let keys: Vec<SigningKey> = (0..5).map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32])).collect();
    let actors = cast(5, |i| pledger_log::keys::to_event_key(&keys[i].verifying_key()));
    let by_id: HashMap<String, &SigningKey> = actors.iter().map(|a| a.id.to_string()).zip(keys.iter()).collect();
    let events: Vec<Event> = testkit::ledger(&actors, seed, n);
    let envelopes = events.iter().map(|e| sign_event(e, by_id[e.signer.as_str()])).collect();
    (actors, envelopes)
}

/// Appends every envelope that the rules accept, one group; returns how many were accepted.
fn append_all(ledger: &mut Ledger, envelopes: &[Envelope]) -> usize {
    let mut w = ledger.writer();
    let mut ok = 0;
    for (i, e) in envelopes.iter().enumerate() {
        if w.append(e.clone(), testkit::time(i as u64)).is_ok() {
            ok += 1;
        }
    }
    w.commit().unwrap();
    ok
}

#[test]
fn append_reopen_and_the_tree_matches_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let (_, envelopes) = signed_ledger(11, 300);
    let mut ledger = Ledger::create(&path).unwrap();
    let accepted = append_all(&mut ledger, &envelopes);
    assert!(accepted > 50, "only {accepted} accepted");
    let head = ledger.head().clone();
    let lines: Vec<Vec<u8>> = ledger.lines(0).map(|r| r.unwrap().1).collect();
    drop(ledger);

    let ledger = Ledger::open(&path, Duration::ZERO).unwrap();
    assert_eq!(ledger.head(), &head);
    let again: Vec<Vec<u8>> = ledger.lines(0).map(|r| r.unwrap().1).collect();
    assert_eq!(again, lines);
    assert_eq!(lines.len() as u64, ledger.size());

    // The stored tree equals one built from the lines, at every size.
    let mut tree = MemTree::default();
    for (i, line) in lines.iter().enumerate() {
        tree.push::<Blake3>(Blake3::leaf(line));
        let n = i as u64 + 1;
        assert_eq!(merkle::root::<Blake3, _>(&ledger, n).unwrap(), tree.frontier.root::<Blake3>(), "size {n}");
    }
    assert_eq!(ledger.root(), tree.frontier.root::<Blake3>());

    // The stored state equals a replay of the lines through the same checks.
    let mut state = MemState::new();
    for line in &lines {
        let entry = Entry::parse(line).unwrap();
        let (_, outcome) = pledger_log::check(&state, &entry).unwrap();
        state.commit(&outcome);
    }
    assert_eq!(&state.head, &ledger.head().state);
    for (id, p) in &state.pledges {
        assert_eq!(ledger.view().pledge(*id).unwrap().as_ref(), Some(p));
    }
    for (id, m) in &state.members {
        assert_eq!(ledger.view().member(id).unwrap().as_ref(), Some(m));
    }
}

fn snapshot(path: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = sled::open(path).unwrap();
    db.iter().map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect()
}

#[test]
fn a_refused_envelope_leaves_the_store_exactly_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let (_, envelopes) = signed_ledger(5, 40);
    let mut ledger = Ledger::create(&path).unwrap();
    append_all(&mut ledger, &envelopes);
    drop(ledger);
    let before = snapshot(&path);

    let mut ledger = Ledger::open(&path, Duration::ZERO).unwrap();
    // Replayed, forged, and a group whose only envelope is refused: nothing is written.
    let mut forged = envelopes[10].clone();
    let last = forged.payload.len() - 3;
    forged.payload[last] ^= 0x01;
    for bad in [envelopes[3].clone(), forged] {
        let mut w = ledger.writer();
        let e = w.append(bad, Utc::now()).unwrap_err();
        assert!(matches!(e, StoreError::Refused { .. }), "{e}");
        assert!(w.commit().unwrap().is_empty());
    }
    drop(ledger);
    assert_eq!(snapshot(&path), before);
}

#[test]
fn a_second_open_is_told_the_ledger_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let (_, envelopes) = signed_ledger(3, 5);
    let mut ledger = Ledger::create(&path).unwrap();
    append_all(&mut ledger, &envelopes);
    let start = std::time::Instant::now();
    let e = Ledger::open(&path, Duration::from_millis(200)).err().unwrap();
    assert!(matches!(e, StoreError::InUse { .. }), "{e}");
    assert!(e.to_string().contains("in use by another process"));
    assert!(start.elapsed() >= Duration::from_millis(200), "did not wait");
    drop(ledger);
    assert!(Ledger::open(&path, Duration::ZERO).is_ok());
}

#[test]
fn not_a_ledger_and_not_overwriting_one() {
    let dir = tempfile::tempdir().unwrap();
    let e = Ledger::open(&dir.path().join("nothing"), Duration::ZERO).err().unwrap();
    assert!(matches!(e, StoreError::NotALedger { .. }), "{e}");
    assert!(!dir.path().join("nothing").exists(), "open created a directory");
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let e = Ledger::create(dir.path()).err().unwrap();
    assert!(matches!(e, StoreError::AlreadyExists { .. }), "{e}");
}

#[test]
fn short_ids_map_to_their_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (_, envelopes) = signed_ledger(21, 200);
    let mut ledger = Ledger::create(&dir.path().join("l")).unwrap();
    let mut w = ledger.writer();
    let mut assigned = Vec::new();
    for (i, e) in envelopes.iter().enumerate() {
        if let Ok(a) = w.append(e.clone(), testkit::time(i as u64)) {
            assigned.push(a);
        }
    }
    w.commit().unwrap();
    let mut numbered = 0;
    for a in &assigned {
        if let Some(kind) = a.kind.numbered() {
            numbered += 1;
            let id = ledger.short_id_at(kind, a.seq).unwrap().unwrap();
            assert_eq!(id.to_string(), a.assigned.to_string());
            assert_eq!(ledger.seq_of(id).unwrap(), Some(a.seq));
        }
        assert_eq!(ledger.seq_of_event(&a.event_id).unwrap(), Some(a.seq));
    }
    assert!(numbered > 20);
}
