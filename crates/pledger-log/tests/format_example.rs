//! The worked example of docs/format.md, recomputed: every value the document shows between
//! `<!-- example: NAME -->` and the fenced block after it must equal what pledger computes.
//! Run with PLEDGER_PRINT_EXAMPLE=1 to print the values.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, KeypairBytes};
use ed25519_dalek::SigningKey;
use pledger_core::event::{AreaDefined, Genesis, Level, MemberKind, Name, PAYLOAD_TYPE};
use pledger_core::{AreaCode, Body, Date, Event, EventId, MemState, MemberId};
use pledger_log::dsse::pae;
use pledger_log::merkle::{leaf_hash, Blake3, MemTree, TreeHash};
use pledger_log::sign::sign_event;
use pledger_log::{keys, Entry};

mod docblocks;
use docblocks::doc_blocks;

/// The worked example's values, by name, as docs/format.md prints them.
pub fn values() -> Vec<(&'static str, String)> {
    let secret: [u8; 32] =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap().try_into().unwrap();
    let key = SigningKey::from_bytes(&secret);
    let vk = key.verifying_key();
    let key_id = keys::key_id(&vk);
    let private_pem = KeypairBytes { secret_key: secret, public_key: None }.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public_pem = vk.to_public_key_pem(LineEnding::LF).unwrap();
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let dns = MemberId::parse("dns").unwrap();
    let genesis = Event {
        id: EventId::parse("000102030405060708090a0b0c0d0e0f").unwrap(),
        origin: "hmis.sante.gov.ml/pledges".into(),
        signer: dns.clone(),
        key: key_id.clone(),
        signed_at: t("2026-01-15T09:00:00Z"),
        effective: Date::parse("2026-01-15").unwrap(),
        body: Body::Genesis(Genesis {
            member: dns.clone(),
            name: Name::parse("Direction Nationale de la Santé").unwrap(),
            kind: MemberKind::Government,
            public_key: keys::to_event_key(&vk),
            log_key: keys::to_event_key(&vk),
        }),
    };
    let area = Event {
        id: EventId::parse("101112131415161718191a1b1c1d1e1f").unwrap(),
        signed_at: t("2026-01-15T09:00:00Z"),
        body: Body::AreaDefined(AreaDefined {
            code: AreaCode::parse("ML-3").unwrap(),
            name: Name::parse("Sikasso").unwrap(),
            level: Level::Region,
            parent: None,
        }),
        ..genesis.clone()
    };
    let env0 = sign_event(&genesis, &key);
    let env1 = sign_event(&area, &key);
    let e0 = Entry { seq: 0, recorded_at: t("2026-01-15T09:00:01.250Z"), envelope: env0.clone() };
    let e1 = Entry { seq: 1, recorded_at: t("2026-01-15T09:00:01.300Z"), envelope: env1.clone() };
    // The example is a valid ledger.
    let mut state = MemState::new();
    for e in [&e0, &e1] {
        let (_, outcome) = pledger_log::check(&state, e).unwrap();
        state.commit(&outcome);
    }
    let (l0, l1) = (e0.to_line(), e1.to_line());
    let mut tree = MemTree::default();
    tree.push::<Blake3>(leaf_hash(&l0));
    tree.push::<Blake3>(leaf_hash(&l1));
    let root = tree.frontier.root::<Blake3>();
    assert_eq!(root, Blake3::node(&leaf_hash(&l0), &leaf_hash(&l1)));
    // Checkpoint of the two entries, signed by the log key (the same key).
    let cp = pledger_log::checkpoint::Checkpoint { origin: genesis.origin.clone(), size: 2, root };
    let mut note = cp.sign(&key).unwrap();
    let log_verifier = pledger_log::checkpoint::Checkpoint::verifier(&cp.origin, vk).unwrap();
    let plain_note = note.to_text();
    // A witness, whose key is RFC 8032 TEST 2's, cosigns at 2026-01-15T10:00:00Z.
    let witness: [u8; 32] =
        hex::decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb").unwrap().try_into().unwrap();
    let witness = SigningKey::from_bytes(&witness);
    note.add_cosignature("witness.example/w1", &witness, 1_768_471_200);
    let witness_verifier = pledger_log::note::Verifier::new(
        "witness.example/w1",
        pledger_log::note::TYPE_COSIGNATURE,
        witness.verifying_key(),
    )
    .unwrap();
    assert_eq!(note.verified_by(&witness_verifier).unwrap(), Some(1_768_471_200));
    let inclusion = pledger_log::proof::Proof::Inclusion(pledger_log::proof::InclusionProof {
        origin: cp.origin.clone(),
        seq: 0,
        size: 2,
        entry: String::from_utf8(l0.clone()).unwrap(),
        path: pledger_log::proof::encode_path(&pledger_log::merkle::inclusion_proof::<Blake3, _>(&tree, 0, 2).unwrap()),
    });
    if let pledger_log::proof::Proof::Inclusion(p) = &inclusion {
        p.verify(&cp).unwrap();
    }
    let consistency = pledger_log::proof::Proof::Consistency(pledger_log::proof::ConsistencyProof {
        origin: cp.origin.clone(),
        old_size: 1,
        new_size: 2,
        path: pledger_log::proof::encode_path(
            &pledger_log::merkle::consistency_proof::<Blake3, _>(&tree, 1, 2).unwrap(),
        ),
    });
    let header = pledger_log::bundle::Header {
        bundle: pledger_log::bundle::FORMAT.into(),
        origin: cp.origin.clone(),
        size: 2,
        checkpoints: vec![plain_note.clone()],
    };
    let bundle = format!(
        "{}\n{}\n{}\n{}\n",
        serde_json::to_string(&header).unwrap(),
        String::from_utf8(l0.clone()).unwrap(),
        String::from_utf8(l1.clone()).unwrap(),
        serde_json::to_string(&pledger_log::bundle::keys_of(&state)).unwrap()
    );
    let verified = pledger_log::bundle::verify(bundle.as_bytes(), &[], Default::default(), |_, _| {}).unwrap();
    assert_eq!(verified.latest().0, cp);
    vec![
        ("private-key", private_pem.trim_end().to_owned()),
        ("public-key", public_pem.trim_end().to_owned()),
        ("public-key-base64", B64.encode(vk.as_bytes())),
        ("key-id", key_id.to_string()),
        ("payload", String::from_utf8(genesis.to_bytes()).unwrap()),
        ("pae", String::from_utf8(pae(PAYLOAD_TYPE, &genesis.to_bytes())).unwrap()),
        ("signature", B64.encode(&env0.signatures[0].sig)),
        ("envelope", env0.to_json()),
        ("entry-0", String::from_utf8(l0.clone()).unwrap()),
        ("leaf-0", hex::encode(leaf_hash(&l0))),
        ("payload-1", String::from_utf8(area.to_bytes()).unwrap()),
        ("entry-1", String::from_utf8(l1.clone()).unwrap()),
        ("leaf-1", hex::encode(leaf_hash(&l1))),
        ("root-2", hex::encode(root)),
        ("root-2-base64", B64.encode(root)),
        ("checkpoint-text", cp.text().trim_end().to_owned()),
        ("note-key-hash", hex::encode(pledger_log::note::key_hash(&cp.origin, 1, vk.as_bytes()))),
        ("log-vkey", log_verifier.vkey()),
        ("checkpoint", plain_note.trim_end().to_owned()),
        (
            "cosigned-message",
            String::from_utf8(pledger_log::note::cosigned_message(&cp.text(), 1_768_471_200))
                .unwrap()
                .trim_end()
                .to_owned(),
        ),
        ("witness-vkey", witness_verifier.vkey()),
        ("cosigned-checkpoint", note.to_text().trim_end().to_owned()),
        ("inclusion-proof", inclusion.to_json()),
        ("consistency-proof", consistency.to_json()),
        ("bundle", bundle.trim_end().to_owned()),
    ]
}

#[test]
fn docs_format_md_worked_example_is_exact() {
    let values = values();
    let payload_len = values.iter().find(|(n, _)| *n == "payload").map(|(_, v)| v.len()).unwrap_or(0);
    if std::env::var_os("PLEDGER_PRINT_EXAMPLE").is_some() {
        for (name, v) in &values {
            println!("<!-- example: {name} -->\n```\n{v}\n```\n");
        }
    }
    if std::env::var_os("PLEDGER_PRINT_EXAMPLE").is_some() {
        let json: std::collections::BTreeMap<&str, &String> = values.iter().map(|(k, v)| (*k, v)).collect();
        std::fs::write(std::env::temp_dir().join("pledger-example.json"), serde_json::to_string(&json).unwrap())
            .unwrap();
    }
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/format.md")).unwrap();
    let blocks = doc_blocks(&doc);
    assert!(doc.contains(&format!("the exact bytes signed ({payload_len} bytes")), "the payload's length in bytes");
    for (name, value) in &values {
        let found: Vec<&String> = blocks.iter().filter(|(n, _)| n == name).map(|(_, b)| b).collect();
        if found.is_empty() {
            // A value quoted in the prose rather than in a block.
            assert!(doc.contains(value.as_str()), "docs/format.md shows no example {name}");
        }
        for b in found {
            assert_eq!(b, value, "docs/format.md example {name} differs from what pledger computes");
        }
    }
}
