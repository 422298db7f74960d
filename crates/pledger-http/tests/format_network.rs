//! The worked examples of docs/format.md §12 and §13, recomputed by the code that serves them:
//! the ledger of §8, rebuilt in sled from the document's own entries, cut into tiles and an
//! entry bundle, and a receipt of its second entry under the checkpoint of §9. Run with
//! PLEDGER_PRINT_EXAMPLE=1 to print the values.

#[path = "../../pledger-log/tests/docblocks/mod.rs"]
mod docblocks;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use pledger_http::tiles::{self, Tile};
use pledger_http::Receipt;
use pledger_log::note::{Note, Verifier};
use pledger_log::Entry;

fn block(blocks: &[(String, String)], name: &str) -> String {
    blocks.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone()).unwrap_or_else(|| panic!("no example {name}"))
}

#[test]
fn docs_format_md_tiles_bundles_and_receipts_are_exact() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/format.md")).unwrap();
    let blocks = docblocks::doc_blocks(&doc);
    let lines = [block(&blocks, "entry-0"), block(&blocks, "entry-1")];
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = pledger_store::Ledger::create(&dir.path().join("ledger")).unwrap();
    {
        let mut w = ledger.writer();
        for line in &lines {
            let entry = Entry::parse(line.as_bytes()).unwrap();
            w.append(entry.envelope, entry.recorded_at).unwrap();
        }
        w.commit().unwrap();
    }
    for (seq, line) in lines.iter().enumerate() {
        assert_eq!(
            ledger.line(seq as u64).unwrap().unwrap(),
            line.as_bytes(),
            "the ledger holds the document's entries"
        );
    }
    let tile = Tile::parse("0/000.p/2").unwrap();
    let bundle_tile = Tile::parse("entries/000.p/2").unwrap();
    assert_eq!((tile.path(), bundle_tile.path()), ("tile/0/000.p/2".to_owned(), "tile/entries/000.p/2".to_owned()));
    let hashes = tiles::hashes(&ledger, &tile).unwrap();
    let bundle = tiles::bundle(&ledger, &bundle_tile).unwrap();
    assert_eq!(tiles::entries(&bundle).unwrap(), [lines[0].as_bytes(), lines[1].as_bytes()]);
    // The tiles of the tree of 2 entries: exactly these two.
    let all: Vec<String> = tiles::of_tree(2, 0).iter().map(Tile::path).collect();
    // A receipt of entry 1 under the checkpoint of §9.
    let note = Note::parse(format!("{}\n", block(&blocks, "checkpoint")).as_bytes()).unwrap();
    let receipt = Receipt::of(&ledger, 1, "ML-3", lines[1].as_bytes(), &note, 2).unwrap();
    let vkey = Verifier::parse_vkey(&block(&blocks, "log-vkey")).unwrap();
    let cp = receipt.verify("hmis.sante.gov.ml/pledges", &vkey.key, None).unwrap();
    assert_eq!(cp.size, 2);
    let values = [
        ("tiles-of-2", all.join("\n")),
        ("tile-0-000-p-2", hex::encode(&hashes)),
        ("bundle-head", hex::encode(&bundle[..2])),
        ("bundle-second-head", hex::encode(&bundle[2 + lines[0].len()..4 + lines[0].len()])),
        ("bundle-length", bundle.len().to_string()),
        ("bundle-blake3", blake3::hash(&bundle).to_hex().to_string()),
        ("receipt", serde_json::to_string_pretty(&receipt).unwrap()),
        ("receipt-inclusion", B64.encode(&hashes[..32])),
    ];
    if std::env::var_os("PLEDGER_PRINT_EXAMPLE").is_some() {
        for (name, v) in &values {
            println!("<!-- example: {name} -->\n```\n{v}\n```\n");
        }
    }
    for (name, value) in &values {
        let found: Vec<&String> = blocks.iter().filter(|(n, _)| n == name).map(|(_, b)| b).collect();
        if found.is_empty() {
            assert!(doc.contains(value.as_str()), "docs/format.md shows no example {name}");
        }
        for b in found {
            assert_eq!(b, value, "docs/format.md example {name} differs from what pledger computes");
        }
    }
}
