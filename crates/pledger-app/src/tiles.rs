//! The log as C2SP tlog-tiles has it (docs/format.md §12): tiles of 256 hashes of the blake3
//! tree, and entry bundles of 256 entries, at `tile/<L>/<N>[.p/<W>]` and
//! `tile/entries/<N>[.p/<W>]`.

use pledger_log::merkle::{self, Blake3, Hash, NodeReader};
use pledger_store::Ledger;

/// Hashes, or entries, in a full tile.
pub const WIDTH: u64 = 256;

/// The largest entry an entry bundle holds: its length is a big-endian uint16. Every entry a
/// ledger accepts is within it.
pub use pledger_log::entry::MAX_ENTRY_BYTES as MAX_ENTRY;

/// A tile or an entry bundle a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    /// `None` for an entry bundle.
    pub level: Option<u8>,
    /// Its index at its level (or the bundle's).
    pub index: u64,
    /// 256 for a full tile, else the partial tile's width.
    pub width: u64,
}

impl Tile {
    /// Its path below the log's prefix: `tile/0/x001/x234/067.p/12`.
    pub fn path(&self) -> String {
        let level = match self.level {
            Some(l) => l.to_string(),
            None => "entries".to_owned(),
        };
        let mut p = format!("tile/{level}/{}", encode_index(self.index));
        if self.width < WIDTH {
            p.push_str(&format!(".p/{}", self.width));
        }
        p
    }

    /// Parses the part of a path after `tile/`.
    pub fn parse(rest: &str) -> Option<Tile> {
        let (level, rest) = rest.split_once('/')?;
        let level = match level {
            "entries" => None,
            l if l == "0" || (!l.starts_with('0') && l.len() <= 2) => Some(l.parse::<u8>().ok().filter(|l| *l < 64)?),
            _ => return None,
        };
        let (n, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                if w.starts_with('0') || w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let w: u64 = w.parse().ok()?;
                if !(1..WIDTH).contains(&w) {
                    return None;
                }
                (n, w)
            }
            None => (rest, WIDTH),
        };
        Some(Tile { level, index: decode_index(n)?, width })
    }

    /// The first entry it spans, and how many entries (a full tile at level `l` spans 256^(l+1)).
    fn span(&self) -> Option<(u64, u64)> {
        let l = u32::from(self.level.unwrap_or(0));
        let unit = WIDTH.checked_pow(l)?;
        let start = self.index.checked_mul(WIDTH)?.checked_mul(unit)?;
        Some((start, self.width.checked_mul(unit)?))
    }

    /// Whether a tree of `size` entries holds this tile: every hash of it, each over a complete
    /// subtree. A partial tile of a smaller tree (one a past checkpoint called for) is a prefix of
    /// what the tree holds now, and never changes.
    pub fn within(&self, size: u64) -> bool {
        let Some((start, len)) = self.span() else { return false };
        start.checked_add(len).is_some_and(|end| end <= size)
    }
}

/// `1234067` as `x001/x234/067`.
pub fn encode_index(n: u64) -> String {
    let digits = n.to_string();
    let pad = (3 - digits.len() % 3) % 3;
    let digits = format!("{}{digits}", "0".repeat(pad));
    let groups: Vec<&str> = (0..digits.len() / 3).map(|i| &digits[i * 3..i * 3 + 3]).collect();
    let last = groups.len() - 1;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| if i < last { format!("x{g}") } else { (*g).to_owned() })
        .collect::<Vec<_>>()
        .join("/")
}

/// The index a path's `x001/x234/067` names, if it is written exactly so.
pub fn decode_index(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split('/').collect();
    let mut n: u64 = 0;
    for (i, p) in parts.iter().enumerate() {
        let digits = if i + 1 < parts.len() { p.strip_prefix('x')? } else { p };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(digits.parse::<u64>().ok()?)?;
    }
    // One spelling per index: no leading group of zeros.
    if parts.len() > 1 && parts[0] == "x000" {
        return None;
    }
    Some(n)
}

/// The hashes of a tile of the ledger, whose `size` must hold it.
pub fn hashes(ledger: &Ledger, tile: &Tile) -> pledger_store::Result<Vec<u8>> {
    let level = tile.level.unwrap_or(0);
    let (start, _) = tile.span().expect("a tile within the tree has a span");
    let mut out = Vec::with_capacity(tile.width as usize * 32);
    if level == 0 {
        for item in ledger.lines(start).take(tile.width as usize) {
            out.extend_from_slice(&merkle::leaf_hash(&item?.1));
        }
        return Ok(out);
    }
    let unit = WIDTH.pow(u32::from(level));
    for i in 0..tile.width {
        let h: Hash = merkle::subtree_root::<Blake3, _>(ledger, start + i * unit, unit)?;
        out.extend_from_slice(&h);
    }
    Ok(out)
}

/// An entry bundle of the ledger: each entry's line, its length first as a big-endian uint16.
pub fn bundle(ledger: &Ledger, tile: &Tile) -> Result<Vec<u8>, String> {
    let (start, len) = tile.span().expect("a bundle within the tree has a span");
    let mut out = Vec::new();
    for item in ledger.lines(start).take(len as usize) {
        let (seq, line) = item.map_err(|e| e.to_string())?;
        let n = u16::try_from(line.len())
            .map_err(|_| format!("entry {seq} is {} bytes, more than an entry bundle holds", line.len()))?;
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&line);
    }
    Ok(out)
}

/// The entries of a bundle, each checked against the bound of its length.
pub fn entries(bundle: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bundle.len() {
        let len = bundle.get(at..at + 2).ok_or("an entry bundle cut inside a length")?;
        let n = u16::from_be_bytes([len[0], len[1]]) as usize;
        let entry = bundle.get(at + 2..at + 2 + n).ok_or("an entry bundle cut inside an entry")?;
        out.push(entry);
        at += 2 + n;
    }
    Ok(out)
}

/// The tiles and bundles a tree of `size` entries consists of, from the tile holding entry
/// `from` on (what a copy that already holds the first `from` entries lacks).
pub fn of_tree(size: u64, from: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    let mut unit = 1u64;
    let mut level = 0u8;
    // Level by level while the level has any hash.
    while size / unit > 0 {
        let count = size / unit;
        let full = count / WIDTH;
        let first = (from / unit) / WIDTH;
        for index in first..full {
            out.push(Tile { level: Some(level), index, width: WIDTH });
            if level == 0 {
                out.push(Tile { level: None, index, width: WIDTH });
            }
        }
        let rest = count % WIDTH;
        if rest > 0 {
            out.push(Tile { level: Some(level), index: full, width: rest });
            if level == 0 {
                out.push(Tile { level: None, index: full, width: rest });
            }
        }
        match unit.checked_mul(WIDTH) {
            Some(u) => unit = u,
            None => break,
        }
        level += 1;
    }
    out
}

/// A node reader over tiles fetched from anywhere: a tile's hashes by (level, index).
pub struct TileReader<F> {
    /// Fetches a tile's bytes.
    pub fetch: F,
}

impl<F: Fn(&Tile) -> Result<Vec<u8>, String>> NodeReader for TileReader<F> {
    type Error = String;

    fn node(&self, level: u8, index: u64) -> Result<Hash, String> {
        // A node at a multiple of eight is a hash of a tile at level / 8; below, it is hashed up
        // from the tile's hashes.
        let tile_level = level / 8;
        let below = u32::from(level % 8);
        let span = 1u64 << below;
        let first = index << below;
        let tile = Tile { level: Some(tile_level), index: first / WIDTH, width: WIDTH };
        let hashes = (self.fetch)(&tile)?;
        let at = (first % WIDTH) as usize;
        let leaves: Vec<Hash> = (at..at + span as usize)
            .map(|i| hashes.get(i * 32..i * 32 + 32).and_then(|b| b.try_into().ok()).ok_or("a tile cut short"))
            .collect::<Result<_, _>>()?;
        let mut level_hashes = leaves;
        while level_hashes.len() > 1 {
            level_hashes = level_hashes.chunks(2).map(|p| <Blake3 as merkle::TreeHash>::node(&p[0], &p[1])).collect();
        }
        Ok(level_hashes[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_written_as_the_spec_writes_them() {
        for (n, s) in [(0, "000"), (7, "007"), (256, "256"), (1000, "x001/000"), (1234067, "x001/x234/067")] {
            assert_eq!(encode_index(n), s);
            assert_eq!(decode_index(s), Some(n));
        }
        for bad in ["1", "0001", "x001", "001/002", "x000/001", "x01/000", "abc"] {
            assert_eq!(decode_index(bad), None, "{bad}");
        }
        let t = Tile::parse("0/x001/x234/067.p/12").unwrap();
        assert_eq!((t.level, t.index, t.width), (Some(0), 1234067, 12));
        assert_eq!(t.path(), "tile/0/x001/x234/067.p/12");
        assert_eq!(Tile::parse("entries/000").unwrap().path(), "tile/entries/000");
        for bad in ["0/000.p/0", "0/000.p/256", "0/000.p/012", "64/000", "01/000", "0/000.p/"] {
            assert_eq!(Tile::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_tree_is_the_tiles_the_spec_lists() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level
        // 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and
        // one partial level 2 tile of width 1."
        let tiles: Vec<Tile> = of_tree(70_000, 0).into_iter().filter(|t| t.level.is_some()).collect();
        let at = |l: u8| tiles.iter().filter(|t| t.level == Some(l)).map(|t| (t.index, t.width)).collect::<Vec<_>>();
        assert_eq!(at(0).len(), 274);
        assert_eq!(at(0).last(), Some(&(273, 112)));
        assert_eq!(at(1), [(0, 256), (1, 17)]);
        assert_eq!(at(2), [(0, 1)]);
        assert!(tiles.iter().all(|t| t.within(70_000)), "each tile is within its tree");
        assert!(Tile { level: Some(0), index: 273, width: 111 }.within(70_000), "a past checkpoint's");
        assert!(!Tile { level: Some(0), index: 273, width: 113 }.within(70_000));
        assert!(!Tile { level: Some(1), index: 1, width: WIDTH }.within(70_000));
        // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
        // tile of width 1."
        let t256: Vec<(Option<u8>, u64)> =
            of_tree(256, 0).into_iter().filter(|t| t.level.is_some()).map(|t| (t.level, t.width)).collect();
        assert_eq!(t256, [(Some(0), 256), (Some(1), 1)]);
    }
}
