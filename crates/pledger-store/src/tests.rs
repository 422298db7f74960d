use std::collections::HashMap;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use pledger_core::projection;
use pledger_core::testkit::{self, cast, Actor};
use pledger_core::{Event, MemState};
use pledger_log::merkle::{self, Blake3, MemTree, TreeHash};
use pledger_log::sign::sign_event;

use super::*;

/// A cast with real keys, and a random ledger of their events, signed.
fn signed_ledger(seed: u64, n: usize) -> (Vec<Actor>, Vec<Envelope>) {
    signed(seed, n, |_, e| e)
}

/// [`signed_ledger`] with its events changed by `change` before they are signed.
fn signed(seed: u64, n: usize, change: impl FnOnce(&[Actor], Vec<Event>) -> Vec<Event>) -> (Vec<Actor>, Vec<Envelope>) {
    let keys: Vec<SigningKey> = (0..5).map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32])).collect();
    let actors = cast(5, |i| pledger_log::keys::to_event_key(&keys[i].verifying_key()));
    let by_id: HashMap<String, &SigningKey> = actors.iter().map(|a| a.id.to_string()).zip(keys.iter()).collect();
    let events: Vec<Event> = change(&actors, testkit::ledger(&actors, seed, n));
    let envelopes = events.iter().map(|e| sign_event(e, by_id[e.signer.as_str()])).collect();
    (actors, envelopes)
}

/// A random signed ledger as an earlier pledger could hold it: without schedules.
fn signed_plain(seed: u64, n: usize) -> (Vec<Actor>, Vec<Envelope>) {
    signed(seed, n, |_, mut events| {
        for e in &mut events {
            if let pledger_core::Body::Pledge(p) = &mut e.body {
                p.tranches.clear();
            }
        }
        events
    })
}

/// A new ledger in a temporary directory (kept alive by the first value), holding what the rules
/// accept of a random signed ledger.
fn built(seed: u64, n: usize) -> (tempfile::TempDir, std::path::PathBuf, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let (_, envelopes) = signed_ledger(seed, n);
    let mut ledger = Ledger::create(&path).unwrap();
    append_all(&mut ledger, &envelopes);
    (dir, path, ledger)
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

    let ledger = reopen(&path);
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
        assert_eq!(ledger.view().pledge(*id).unwrap().as_deref(), Some(p));
    }
    for (id, m) in &state.members {
        assert_eq!(ledger.view().member(id).unwrap().as_deref(), Some(m));
    }
}

/// sled may finish its last writes on a thread of its own after a handle is dropped, holding the
/// directory's lock a moment longer; a second open in the same process waits for it, with a bound.
fn open_sled(path: &std::path::Path) -> sled::Db {
    let start = std::time::Instant::now();
    loop {
        match config(path).open() {
            Ok(db) => return db,
            Err(e) if start.elapsed() < Duration::from_secs(10) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Reopens a ledger in the same process (see [`open_sled`]).
fn reopen(path: &std::path::Path) -> Ledger {
    Ledger::open(path, Duration::from_secs(10)).unwrap()
}

fn snapshot(path: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = open_sled(path);
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

    let mut ledger = reopen(&path);
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
    let (_dir, path, ledger) = built(3, 5);
    let start = std::time::Instant::now();
    let e = Ledger::open(&path, Duration::from_millis(200)).err().unwrap();
    assert!(matches!(e, StoreError::InUse { .. }), "{e}");
    assert!(e.to_string().contains("in use by another process"));
    assert!(start.elapsed() >= Duration::from_millis(200), "did not wait");
    drop(ledger);
    reopen(&path);
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

fn everything(path: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    snapshot(path)
}

#[test]
fn rebuild_recomputes_exactly_what_appends_wrote() {
    let (_dir, path, mut ledger) = built(17, 400);
    ledger.put_checkpoint(ledger.size(), "a kept checkpoint\n").unwrap();
    drop(ledger);
    let before = everything(&path);
    // Damage a derived record and the head, then rebuild.
    {
        let db = open_sled(&path);
        db.insert(keys::Key::Pledge(PledgeId(1)).bytes(), b"garbage".as_slice()).unwrap();
        db.remove(keys::Key::Node(keys::STORED_LEVEL, 3).bytes()).unwrap();
        // Keys the store no longer writes (a low tree node, the short id of a pledge), as a
        // ledger made by an earlier pledger holds them.
        db.insert(keys::Key::Node(0, 3).bytes(), [7u8; 32].as_slice()).unwrap();
        db.insert(keys::Key::Numbered(ShortId::new(Numbered::Pledge, 1)).bytes(), [0u8].as_slice()).unwrap();
        // A record that should not exist at all.
        db.insert(keys::Key::Pledge(PledgeId(9999)).bytes(), b"stale".as_slice()).unwrap();
        // The member index: an entry lost, and one naming a pledge the member has nothing to do with.
        let p1: pledger_core::state::PledgeRecord =
            postcard::from_bytes(&db.get(keys::Key::Pledge(PledgeId(2)).bytes()).unwrap().unwrap()).unwrap();
        db.remove(keys::Key::ByMember(p1.pledger.clone(), p1.id).bytes()).unwrap();
        let stranger = MemberId::parse("nobody-at-all").unwrap();
        db.insert(keys::Key::ByMember(stranger.clone(), p1.id).bytes(), b"".as_slice()).unwrap();
        // The tallies: one altered, one lost, one that should not exist.
        db.insert(keys::Key::Tally(p1.pledger.clone()).bytes(), b"garbage".as_slice()).unwrap();
        let cell = keys::Key::Cell(p1.areas[0].clone(), p1.category.clone(), p1.pledger.clone()).bytes();
        assert!(db.remove(cell).unwrap().is_some());
        let members = keys::Key::CellMembers(p1.areas[0].clone(), p1.category.clone()).bytes();
        assert!(db.remove(members).unwrap().is_some());
        db.insert(keys::Key::Tally(stranger.clone()).bytes(), b"".as_slice()).unwrap();
        db.insert(keys::Key::Due(p1.due, stranger).bytes(), b"".as_slice()).unwrap();
        db.flush().unwrap();
    }
    let mut ledger = reopen(&path);
    let (n, changed) = ledger.rebuild(|_| {}).unwrap();
    assert_eq!(n, ledger.size());
    // Twelve keys repaired, and the head (whose rewrite is idempotent) plus the rebuild mark.
    assert!((12..=14).contains(&changed), "{changed} keys changed");
    let (_, again) = ledger.rebuild(|_| {}).unwrap();
    assert!(again <= 2, "an intact store needs no repair, {again} keys changed");
    drop(ledger);
    assert_eq!(everything(&path), before, "rebuild wrote something else than the appends had");
}

#[test]
fn an_interrupted_rebuild_is_reported_until_finished() {
    let (_dir, path, ledger) = built(2, 30);
    drop(ledger);
    {
        let db = open_sled(&path);
        db.insert(keys::Key::Rebuilding.bytes(), b"1".as_slice()).unwrap();
        db.flush().unwrap();
    }
    let e = Ledger::open(&path, Duration::from_secs(10)).err().unwrap();
    assert!(matches!(e, StoreError::RebuildInterrupted { .. }), "{e}");
    let mut ledger = Ledger::open_for_rebuild(&path, Duration::from_secs(10), &mut || false).unwrap();
    ledger.rebuild(|_| {}).unwrap();
    drop(ledger);
    reopen(&path);
}

#[test]
fn replaying_a_prefix_gives_the_state_as_it_stood() {
    let dir = tempfile::tempdir().unwrap();
    let (_, envelopes) = signed_ledger(8, 200);
    let mut ledger = Ledger::create(&dir.path().join("l")).unwrap();
    let mut heads = Vec::new();
    let mut w = ledger.writer();
    for (i, e) in envelopes.iter().enumerate() {
        if w.append(e.clone(), testkit::time(i as u64)).is_ok() {
            heads.push(w.head_state().clone());
        }
    }
    w.commit().unwrap();
    for n in [1usize, 10, 57, heads.len()] {
        let state = ledger.replay(n as u64).unwrap();
        assert_eq!(&state.head, &heads[n - 1], "prefix {n}");
    }
    let full = ledger.replay(ledger.size()).unwrap();
    assert_eq!(full.pledges.values().cloned().collect::<Vec<_>>(), ledger.pledges().unwrap());
    assert_eq!(&full.fulfillments, &ledger.fulfillments().unwrap());
}

/// Every projection of a state, as JSON, judged on one date and as of another.
fn projections(
    members: &[pledger_core::state::MemberRecord],
    areas: &[pledger_core::state::AreaRecord],
    pledges: &[pledger_core::state::PledgeRecord],
    fulfillments: &pledger_core::Fulfillments,
) -> String {
    use pledger_core::projection::*;
    let mut out = String::new();
    for h in [
        Horizon::head(pledger_core::Date::parse("2016-01-01").unwrap()),
        Horizon::as_of(pledger_core::Date::parse("2014-09-01").unwrap()),
    ] {
        let st: Vec<_> = pledges.iter().filter_map(|p| status(p, fulfillments, &h)).collect();
        let refs: Vec<_> = pledges.iter().collect();
        out += &serde_json::to_string(&st).unwrap();
        out += &serde_json::to_string(&scorecard(&st, members, &[])).unwrap();
        out += &serde_json::to_string(&coverage(&st, areas, None)).unwrap();
        out += &serde_json::to_string(&timeline(&refs, fulfillments, &h)).unwrap();
    }
    out
}

#[test]
fn incremental_projections_equal_a_replay_at_every_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (_, envelopes) = signed_ledger(23, 160);
    let mut ledger = Ledger::create(&dir.path().join("l")).unwrap();
    let mut at_each = Vec::new();
    for (i, e) in envelopes.iter().enumerate() {
        let mut w = ledger.writer();
        if w.append(e.clone(), testkit::time(i as u64)).is_err() {
            continue;
        }
        w.commit().unwrap();
        // Incremental: the records the appends wrote, read from the store.
        at_each.push(projections(
            &ledger.members().unwrap(),
            &ledger.areas().unwrap(),
            &ledger.pledges().unwrap(),
            &ledger.fulfillments().unwrap(),
        ));
    }
    assert!(at_each.len() > 60);
    for (i, incremental) in at_each.iter().enumerate() {
        // --at N: the first N entries of the final ledger, replayed.
        let s = ledger.replay(i as u64 + 1).unwrap();
        let pledges: Vec<_> = s.pledges.values().cloned().collect();
        let replayed = projections(
            &s.members.values().cloned().collect::<Vec<_>>(),
            &s.areas.values().cloned().collect::<Vec<_>>(),
            &pledges,
            &s.fulfillments,
        );
        assert_eq!(incremental, &replayed, "prefix {}", i + 1);
    }
}

#[test]
fn the_stored_tree_equals_a_naive_rfc9162_recursion_at_every_size_to_1024() {
    use pledger_core::event::{AreaDefined, Body, Date, Genesis, Level, MemberKind, Name};
    use pledger_log::sign::Signer;
    fn naive(leaves: &[Vec<u8>]) -> merkle::Hash {
        match leaves.len() {
            0 => Blake3::empty(),
            1 => Blake3::leaf(&leaves[0]),
            n => {
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                Blake3::node(&naive(&leaves[..k]), &naive(&leaves[k..]))
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[42u8; 32]);
    let pk = pledger_log::keys::to_event_key(&key.verifying_key());
    let signer = Signer { origin: testkit::ORIGIN.into(), member: pledger_core::MemberId::parse("m0").unwrap(), key };
    let date = Date::parse("2014-01-01").unwrap();
    let mut ledger = Ledger::create(&dir.path().join("l")).unwrap();
    let mut w = ledger.writer();
    let genesis = Genesis {
        member: signer.member.clone(),
        name: Name::parse("C").unwrap(),
        kind: MemberKind::Government,
        public_key: pk,
        log_key: pk,
    };
    w.append(signer.sign(testkit::time(0), date, Body::Genesis(genesis)), testkit::time(0)).unwrap();
    for i in 1..1024u64 {
        let area = AreaDefined {
            code: AreaCode::parse(&format!("A-{i}")).unwrap(),
            name: Name::parse("Area").unwrap(),
            level: Level::Facility,
            parent: None,
        };
        w.append(signer.sign(testkit::time(i), date, Body::AreaDefined(area)), testkit::time(i)).unwrap();
    }
    w.commit().unwrap();
    let lines: Vec<Vec<u8>> = ledger.lines(0).map(|r| r.unwrap().1).collect();
    assert_eq!(lines.len(), 1024);
    for n in 1..=1024usize {
        assert_eq!(merkle::root::<Blake3, _>(&ledger, n as u64).unwrap(), naive(&lines[..n]), "size {n}");
    }
    // Proofs from the store (low nodes recomputed from entries) equal those of a whole tree.
    let mut whole = MemTree::default();
    for l in &lines {
        whole.push::<Blake3>(merkle::leaf_hash(l));
    }
    for (a, b) in [(0u64, 1u64), (5, 13), (16, 17), (100, 1000), (511, 1024), (1023, 1024)] {
        assert_eq!(
            merkle::inclusion_proof::<Blake3, _>(&ledger, a, b).unwrap(),
            merkle::inclusion_proof::<Blake3, _>(&whole, a, b).unwrap(),
            "inclusion of {a} in {b}"
        );
        assert_eq!(
            merkle::consistency_proof::<Blake3, _>(&ledger, a + 1, b).unwrap(),
            merkle::consistency_proof::<Blake3, _>(&whole, a + 1, b).unwrap(),
            "consistency of {} and {b}",
            a + 1
        );
    }
    drop(ledger);
    // Only nodes from the stored level up are kept: 1024 entries, 64 + 32 + … + 1 nodes.
    let nodes: Vec<_> = snapshot(&dir.path().join("l")).into_iter().filter(|(k, _)| k[0] == b'n').collect();
    assert!(nodes.iter().all(|(k, _)| k[1] >= keys::STORED_LEVEL));
    assert_eq!(nodes.len(), 127);
}

#[test]
fn pledges_and_fulfillments_keep_no_short_id_key_of_their_own() {
    let (_dir, path, ledger) = built(29, 600);
    let counts = ledger.head().state.numbered;
    assert!(counts[Numbered::Pledge as usize] > 10 && counts[Numbered::Fulfillment as usize] > 0, "{counts:?}");
    drop(ledger);
    let letters: Vec<u8> = snapshot(&path).into_iter().filter(|(k, _)| k[0] == b's').map(|(k, _)| k[1]).collect();
    assert!(!letters.contains(&b'P') && !letters.contains(&b'F'));
    let others: u64 = [Numbered::Attestation, Numbered::Amendment, Numbered::Withdrawal]
        .into_iter()
        .map(|k| counts[k as usize])
        .sum();
    assert!(others > 0);
    assert_eq!(letters.len() as u64, others);
}

#[test]
fn the_member_index_finds_exactly_the_pledges_a_member_made_or_received() {
    // Hurried: pledges met, on time and late, beside open and overdue ones.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let (_, envelopes) = signed(23, 2000, testkit::hurried);
    let mut ledger = Ledger::create(&path).unwrap();
    append_all(&mut ledger, &envelopes);
    let all = ledger.pledges().unwrap();
    let every_fulfillment = ledger.fulfillments().unwrap();
    assert!(all.len() > 50, "{} pledges", all.len());
    let mut fulfilled = 0;
    for m in ledger.members().unwrap() {
        let mut expected: Vec<PledgeId> =
            all.iter().filter(|p| p.pledger == m.id || p.beneficiary == m.id).map(|p| p.id).collect();
        expected.sort();
        let found = ledger.records_of(&m.id, WithFulfillments::All).unwrap().expect("a new ledger is indexed");
        assert_eq!(found.pledges.iter().map(|p| p.id).collect::<Vec<_>>(), expected, "{}", m.id);
        let want: Vec<_> = found.pledges.iter().flat_map(|p| p.fulfillments.iter().copied()).collect();
        assert_eq!(
            found.fulfillments.keys().copied().collect::<std::collections::BTreeSet<_>>(),
            want.iter().copied().collect()
        );
        for (id, f) in &found.fulfillments {
            assert_eq!(Some(f), every_fulfillment.get(id), "{id}");
        }
        // For the statuses at the head: only the fulfilled pledges' fulfillments, and the same
        // statuses as from every fulfillment.
        let lean = ledger.records_of(&m.id, WithFulfillments::ForHeadStatus).unwrap().expect("indexed");
        assert_eq!(lean.pledges, found.pledges);
        let want: std::collections::BTreeSet<_> = found
            .pledges
            .iter()
            .filter(|p| projection::reads_fulfillments_at_head(p))
            .flat_map(|p| p.fulfillments.iter().copied())
            .collect();
        assert_eq!(lean.fulfillments.keys().copied().collect::<std::collections::BTreeSet<_>>(), want);
        for eval in ["2020-01-01", "2031-06-30"] {
            let h = projection::Horizon::head(pledger_core::Date::parse(eval).unwrap());
            for p in &found.pledges {
                let full = projection::status(p, &found.fulfillments, &h);
                assert_eq!(projection::status(p, &lean.fulfillments, &h), full, "{} judged on {eval}", p.id);
            }
        }
        fulfilled += found.pledges.iter().filter(|p| projection::reads_fulfillments_at_head(p)).count();
    }
    assert!(fulfilled >= 20, "only {fulfilled} fulfilled pledges: the lean read was hardly tested");
    // A ledger made before the index existed says so, and a rebuild indexes it.
    drop(ledger);
    {
        let db = open_sled(&path);
        db.remove(keys::Key::Indexed.bytes()).unwrap();
        db.flush().unwrap();
    }
    let mut ledger = reopen(&path);
    let someone = ledger.members().unwrap()[0].id.clone();
    assert!(ledger.records_of(&someone, WithFulfillments::All).unwrap().is_none());
    ledger.rebuild(|_| {}).unwrap();
    assert!(ledger.records_of(&someone, WithFulfillments::All).unwrap().is_some());
}

#[test]
fn records_read_in_slices_are_every_record_in_key_order() {
    let (_dir, path, ledger) = built(31, 600);
    let count = ledger.head().state.count(Numbered::Pledge);
    drop(ledger);
    // A record beyond the count (as a damaged store may hold) is read too, as by a plain scan.
    {
        let db = open_sled(&path);
        let stale = db.get(keys::Key::Pledge(PledgeId(1)).bytes()).unwrap().unwrap();
        db.insert(keys::Key::Pledge(PledgeId(count + 50)).bytes(), stale).unwrap();
        db.flush().unwrap();
    }
    let ledger = reopen(&path);
    let plain: Vec<PledgeRecord> = ledger.scan(keys::PLEDGE, "pledge").unwrap();
    assert_eq!(plain.len() as u64, count + 1);
    for slices in 1..=9 {
        let sliced: Vec<PledgeRecord> = ledger.scan_slices(keys::PLEDGE, count, slices, "pledge").unwrap();
        assert_eq!(sliced, plain, "{slices} slices");
    }
    assert_eq!(ledger.pledges().unwrap(), plain);
}

#[test]
fn the_stored_tallies_equal_those_of_a_replay_after_every_group() {
    use pledger_core::projection::{self, Horizon};
    use pledger_core::tally::Tallies;
    let dir = tempfile::tempdir().unwrap();
    let (_, envelopes) = signed(41, 700, testkit::hurried);
    let mut ledger = Ledger::create(&dir.path().join("l")).unwrap();
    assert!(ledger.is_tallied());
    let mut rng = testkit::Rng::new(5);
    let mut i = 0;
    let mut groups = 0;
    while i < envelopes.len() {
        // Groups of 1 to 40 envelopes, as single writes and bulk submits make them.
        let end = (i + 1 + rng.below(40) as usize).min(envelopes.len());
        let mut w = ledger.writer();
        for (j, e) in envelopes[i..end].iter().enumerate() {
            let _ = w.append(e.clone(), testkit::time((i + j) as u64));
        }
        w.commit().unwrap();
        i = end;
        groups += 1;
        let state = ledger.replay(ledger.size()).unwrap();
        let want = Tallies::of_state(&state);
        assert_eq!(crate::tally::of_state(&state), want, "counted on two cores, after group {groups}");
        let (stored, cells) = ledger.stored_tallies().unwrap();
        assert_eq!(stored, want, "after group {groups}");
        assert_eq!(cells, want.cell_members(), "after group {groups}");
        let members = ledger.members().unwrap();
        for eval in ["2014-01-01", "2014-09-15", "2015-03-01", "2030-01-01"] {
            let eval = pledger_core::Date::parse(eval).unwrap();
            let st: Vec<_> = state
                .pledges
                .values()
                .filter_map(|p| projection::status(p, &state.fulfillments, &Horizon::head(eval)))
                .collect();
            let card = ledger.scorecard(&members, &[], eval).unwrap().expect("tallied");
            assert_eq!(card, projection::scorecard(&st, &members, &[]), "after group {groups}, judged on {eval}");
        }
        let areas = ledger.areas().unwrap();
        let st: Vec<_> = state
            .pledges
            .values()
            .filter_map(|p| {
                projection::status(
                    p,
                    &state.fulfillments,
                    &Horizon::head(pledger_core::Date::parse("2030-01-01").unwrap()),
                )
            })
            .collect();
        assert_eq!(
            ledger.coverage(&areas, None, None).unwrap().expect("tallied"),
            projection::coverage(&st, &areas, None)
        );
        let pledges: Vec<_> = state.pledges.values().collect();
        let later = Horizon::head(pledger_core::Date::parse("2030-01-01").unwrap());
        let timeline = projection::timeline(&pledges, &state.fulfillments, &later);
        assert_eq!(ledger.timeline().unwrap().expect("tallied"), timeline, "after group {groups}");
    }
    let (t, _) = ledger.stored_tallies().unwrap();
    assert!(!t.members.is_empty());
    assert!(t.members.values().any(|t| !t.delays.is_empty()), "no pledge fulfilled late");
}

#[test]
fn a_ledger_without_tallies_says_so_until_rebuilt() {
    let (_dir, path, ledger) = built(29, 300);
    let want = ledger.stored_tallies().unwrap();
    drop(ledger);
    {
        let db = open_sled(&path);
        db.remove(keys::Key::Tallied.bytes()).unwrap();
        for prefix in keys::TALLIES {
            for k in db.scan_prefix([prefix]).keys() {
                db.remove(k.unwrap()).unwrap();
            }
        }
        db.flush().unwrap();
    }
    let mut ledger = reopen(&path);
    let members = ledger.members().unwrap();
    let today = pledger_core::Date::parse("2026-01-01").unwrap();
    assert!(ledger.scorecard(&members, &[], today).unwrap().is_none());
    assert!(ledger.coverage(&ledger.areas().unwrap(), None, None).unwrap().is_none());
    ledger.rebuild(|_| {}).unwrap();
    assert_eq!(ledger.stored_tallies().unwrap(), want);
    assert!(ledger.scorecard(&members, &[], today).unwrap().is_some());
}

#[test]
fn tallies_of_the_earlier_layout_are_set_aside_until_rebuilt() {
    let (_, envelopes) = signed_plain(31, 300);
    let (first, rest) = envelopes.split_at(250);
    // What the whole ledger's tallies and coverage are, made by this version.
    let whole_dir = tempfile::tempdir().unwrap();
    let mut whole = Ledger::create(&whole_dir.path().join("l")).unwrap();
    append_all(&mut whole, &envelopes);
    let want = whole.stored_tallies().unwrap();
    let areas = whole.areas().unwrap();
    let coverage = whole.coverage(&areas, None, None).unwrap().expect("tallied");
    drop(whole);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let mut ledger = Ledger::create(&path).unwrap();
    append_all(&mut ledger, first);
    let (_, cells) = ledger.stored_tallies().unwrap();
    assert_eq!(ledger.tallies_mark().unwrap(), TalliesMark::Current);
    drop(ledger);
    // As the version before left it: `pledger-ledger-1`, tallies marked `1`, each cell's
    // members as two lists of ids.
    {
        let db = open_sled(&path);
        db.insert(keys::Key::Version.bytes(), EARLIER_FORMAT).unwrap();
        db.insert(keys::Key::Tallied.bytes(), b"1".as_slice()).unwrap();
        as_before_reversals(&db);
        for ((a, c), cell) in &cells {
            let ids =
                |s: &std::collections::BTreeSet<MemberId>| s.iter().map(|m| m.as_str().to_owned()).collect::<Vec<_>>();
            let old = postcard::to_allocvec(&(ids(&cell.live), ids(&cell.delivered))).unwrap();
            db.insert(keys::Key::CellMembers(a.clone(), c.clone()).bytes(), old).unwrap();
        }
        db.flush().unwrap();
    }
    let version = |l: &Ledger| l.db.get(keys::Key::Version.bytes()).unwrap().unwrap().to_vec();
    let mut ledger = reopen(&path);
    assert_eq!(ledger.tallies_mark().unwrap(), TalliesMark::Older);
    assert!(!ledger.is_tallied());
    assert!(ledger.coverage(&areas, None, None).unwrap().is_none(), "cells of the earlier layout were read");
    // Opened, its fulfillments are brought to this layout and it is marked with this version
    // (an older pledger would now refuse it rather than read tallies no one kept up); its
    // tallies stay set aside.
    assert_eq!(version(&ledger), FORMAT);
    assert!(append_all(&mut ledger, rest) > 10);
    assert_eq!(version(&ledger), FORMAT);
    assert_eq!(ledger.tallies_mark().unwrap(), TalliesMark::Older);
    drop(ledger);
    let mut ledger = reopen(&path);
    assert!(ledger.coverage(&areas, None, None).unwrap().is_none());
    ledger.rebuild(|_| {}).unwrap();
    assert_eq!(ledger.tallies_mark().unwrap(), TalliesMark::Current);
    assert_eq!(ledger.stored_tallies().unwrap(), want);
    assert_eq!(ledger.coverage(&areas, None, None).unwrap().expect("tallied"), coverage);
}

/// Fulfillment and member records as a ledger before reversals and IATI organisations stored
/// them: without their last field (an empty list, one zero byte).
fn as_before_reversals(db: &sled::Db) {
    for prefix in [keys::FULFILLMENT, keys::MEMBER, keys::PLEDGE] {
        for kv in db.scan_prefix([prefix]) {
            let (k, v) = kv.unwrap();
            assert_eq!(v.last(), Some(&0), "a record without the list ends with its empty list");
            db.insert(k, &v[..v.len() - 1]).unwrap();
        }
    }
}

#[test]
fn a_ledger_of_the_previous_layout_is_upgraded_when_opened_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let mut ledger = Ledger::create(&path).unwrap();
    append_all(&mut ledger, &signed_plain(47, 3000).1);
    let fulfillments = ledger.fulfillments().unwrap();
    assert!(fulfillments.len() > 5, "{} fulfillments", fulfillments.len());
    drop(ledger);
    let now = snapshot(&path);
    {
        let db = open_sled(&path);
        db.insert(keys::Key::Version.bytes(), PREVIOUS_FORMAT).unwrap();
        as_before_reversals(&db);
        db.flush().unwrap();
    }
    assert_ne!(snapshot(&path), now);
    let mut ledger = reopen(&path);
    assert_eq!(ledger.fulfillments().unwrap(), fulfillments);
    let (_, changed) = ledger.rebuild(|_| {}).unwrap();
    assert_eq!(changed, 0, "the upgraded records are what a rebuild writes");
    drop(ledger);
    assert_eq!(snapshot(&path), now, "upgraded, the store is byte for byte the one written by this version");
}

#[test]
fn a_replay_reports_the_first_damaged_entry_in_log_order() {
    let (_dir, path, ledger) = built(43, 1500);
    let size = ledger.size();
    assert!(size > 300, "{size} entries");
    let first_200 = ledger.replay(200).unwrap();
    drop(ledger);
    let damage = |change: &dyn Fn(&sled::Db)| {
        let db = open_sled(&path);
        change(&db);
        db.flush().unwrap();
    };
    let entry = |n: u64| keys::Key::Entry(n).bytes();
    let line = |n: u64| open_sled(&path).get(entry(n)).unwrap().unwrap();
    let (line_40, line_150) = (line(40), line(150));
    // A line missing: found by the thread that reads.
    damage(&|db| {
        db.remove(entry(150)).unwrap();
    });
    let e = reopen(&path).replay(size).unwrap_err().to_string();
    assert!(e.contains("entry 150 is missing"), "{e}");
    // And an earlier line that is not an entry, found by the thread that applies: the earlier
    // one is named, whichever thread met its damage first.
    damage(&|db| {
        db.insert(entry(40), b"not an entry".as_slice()).unwrap();
    });
    let e = reopen(&path).replay(size).unwrap_err().to_string();
    assert!(e.contains("entry 40:") && !e.contains("150"), "{e}");
    // An entry standing where another should.
    damage(&|db| {
        db.insert(entry(40), line_40.clone()).unwrap();
        db.insert(entry(150), line_150.clone()).unwrap();
        db.insert(entry(300), db.get(entry(299)).unwrap().unwrap()).unwrap();
    });
    let e = reopen(&path).replay(size).unwrap_err().to_string();
    assert!(e.contains("entry 300"), "{e}");
    // What comes before the damage replays as it did.
    assert_eq!(reopen(&path).replay(200).unwrap(), first_200);
}

#[test]
fn a_coverage_cell_is_stored_as_bits_over_the_members_in_admission_order() {
    let (_dir, _path, ledger) = built(37, 300);
    let members = ledger.members().unwrap();
    let roster = tally::Roster::of(&members);
    let mut admitted = members.clone();
    admitted.sort_by_key(|m| m.admitted_seq);
    let (_, cells) = ledger.stored_tallies().unwrap();
    assert!(!cells.is_empty());
    for ((a, c), cell) in &cells {
        let stored = ledger.db.get(keys::Key::CellMembers(a.clone(), c.clone()).bytes()).unwrap().unwrap();
        // The bits, by hand: member i of the admission order is bit i % 8 of byte i / 8.
        let (live, delivered): (Vec<u8>, Vec<u8>) = postcard::from_bytes(&stored).unwrap();
        for (bits, set) in [(&live, &cell.live), (&delivered, &cell.delivered)] {
            let named: std::collections::BTreeSet<MemberId> = admitted
                .iter()
                .enumerate()
                .filter(|(i, _)| bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
                .map(|(_, m)| m.id.clone())
                .collect();
            assert_eq!(&named, set, "{a} / {c}");
            assert_ne!(bits.last(), Some(&0), "a trailing zero byte in {a} / {c}");
        }
        assert_eq!(roster.encode(cell).unwrap(), stored.to_vec());
    }
    // What is not a cell pledger wrote is refused, in one line.
    let n = members.len();
    let cell = |live: Vec<u8>| postcard::to_allocvec(&(live, Vec::<u8>::new())).unwrap();
    let beyond = vec![0xff; n.div_ceil(8) + 1];
    for (bad, why) in
        [(cell(vec![1, 0]), "trailing zero"), (cell(beyond), "beyond the members"), (vec![7], "unreadable")]
    {
        let (a, c) = cells.keys().next().unwrap();
        let e = roster.decode(&bad, a, c).unwrap_err().to_string();
        assert!(e.contains(why) && e.contains(&format!("cell {a} / {c}")) && !e.contains('\n'), "{e}");
    }
    let stranger = pledger_core::tally::CellMembers {
        live: [MemberId::parse("nobody-at-all").unwrap()].into(),
        delivered: Default::default(),
    };
    assert!(roster.encode(&stranger).unwrap_err().to_string().contains("never admitted"));
}

#[test]
fn new_ledgers_get_large_segments_and_older_ones_open_with_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, envelopes) = signed_ledger(3, 40);
    // A new ledger.
    let path = dir.path().join("new");
    let mut ledger = Ledger::create(&path).unwrap();
    append_all(&mut ledger, &envelopes);
    drop(ledger);
    let conf = |p: &std::path::Path| String::from_utf8_lossy(&std::fs::read(p.join("conf")).unwrap()).into_owned();
    assert!(conf(&path).contains(&format!("segment_size: {SEGMENT_BYTES}")), "{}", conf(&path));
    // A ledger made when pledger used sled's default segments.
    let old = dir.path().join("old");
    {
        let db = sled::Config::new().path(&old).segment_size(512 * 1024).open().unwrap();
        db.insert(keys::Key::Version.bytes(), FORMAT).unwrap();
        db.insert(keys::Key::Indexed.bytes(), b"1".as_slice()).unwrap();
        db.insert(keys::Key::Tallied.bytes(), TALLIES_LAYOUT).unwrap();
        db.flush().unwrap();
    }
    let mut ledger = reopen(&old);
    let accepted = append_all(&mut ledger, &envelopes);
    assert!(accepted > 10);
    drop(ledger);
    let ledger = reopen(&old);
    assert_eq!(ledger.size() as usize, accepted);
    assert!(conf(&old).contains("segment_size: 524288"));
}

#[test]
fn a_state_the_rules_cannot_read_is_a_failure_of_the_store_not_a_refusal() {
    let (_dir, _path, mut ledger) = built(17, 200);
    let (_, envelopes) = signed_ledger(17, 400);
    // Every member's record garbled: the next event's signing key cannot be looked up.
    let members: Vec<Vec<u8>> = ledger.db.scan_prefix([keys::MEMBER]).keys().map(|k| k.unwrap().to_vec()).collect();
    assert!(!members.is_empty());
    for k in &members {
        ledger.db.insert(k, &b"\xff\xff\xff"[..]).unwrap();
    }
    let size = ledger.size();
    let mut w = ledger.writer();
    let e = w.append(envelopes[200].clone(), testkit::time(500)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Damaged, "{e}");
    assert!(e.to_string().contains("could not read the state"), "{e}");
    drop(w);
    assert_eq!(ledger.size(), size);
}

#[test]
fn a_rollback_undoes_the_appends_since_its_savepoint_and_nothing_else() {
    let (_, envelopes) = signed_ledger(23, 120);
    let dir = tempfile::tempdir().unwrap();
    // One ledger takes every envelope it accepts; the other is offered some twice over, with
    // a rollback in between, and must end the same.
    let straight = dir.path().join("straight");
    let mut a = Ledger::create(&straight).unwrap();
    append_all(&mut a, &envelopes);
    let mut b = Ledger::create(&dir.path().join("rolled")).unwrap();
    let mut w = b.writer();
    for (i, e) in envelopes.iter().enumerate() {
        if i % 3 == 0 {
            let sp = w.savepoint();
            let _ = w.append(e.clone(), testkit::time(i as u64));
            w.rollback(sp);
        }
        let _ = w.append(e.clone(), testkit::time(i as u64));
    }
    w.commit().unwrap();
    assert_eq!(a.head(), b.head());
    assert_eq!(a.lines(0).map(|l| l.unwrap()).collect::<Vec<_>>(), b.lines(0).map(|l| l.unwrap()).collect::<Vec<_>>());
    assert_eq!(a.tallies_mark().unwrap(), b.tallies_mark().unwrap());
    assert_eq!(
        a.scorecard(&a.members().unwrap(), &[], pledger_core::Date::parse("2015-01-01").unwrap()).unwrap(),
        b.scorecard(&b.members().unwrap(), &[], pledger_core::Date::parse("2015-01-01").unwrap()).unwrap()
    );
}

#[test]
fn a_stored_head_whose_tree_edge_does_not_fit_its_size_is_refused_on_open() {
    let (_dir, path, ledger) = built(53, 200);
    let size = ledger.size();
    assert!(size.count_ones() > 1, "{size} entries: more than one peak");
    drop(ledger);
    for change in [0, 1] {
        let db = open_sled(&path);
        let mut head: StoredHead = postcard::from_bytes(&db.get(keys::Key::Head.bytes()).unwrap().unwrap()).unwrap();
        let kept = head.clone();
        match change {
            0 => drop(head.frontier.peaks.pop()),
            _ => head.state.size += 1,
        }
        db.insert(keys::Key::Head.bytes(), postcard::to_allocvec(&head).unwrap()).unwrap();
        db.flush().unwrap();
        drop(db);
        let e = Ledger::open(&path, Duration::from_secs(10)).err().expect("refused");
        assert!(e.to_string().contains("stored head: its tree edge holds"), "{e}");
        let db = open_sled(&path);
        db.insert(keys::Key::Head.bytes(), postcard::to_allocvec(&kept).unwrap()).unwrap();
        db.flush().unwrap();
    }
    assert_eq!(reopen(&path).size(), size);
}
