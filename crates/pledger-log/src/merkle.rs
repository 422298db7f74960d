//! The Merkle tree of RFC 9162 §2.1 with H = blake3-256: leaf hash = H(0x00 ‖ leaf), node
//! hash = H(0x01 ‖ left ‖ right), split at the largest power of two below n. Algorithms only:
//! storage sits behind [`NodeReader`] (docs/format.md §"Merkle tree").
//!
//! A node is named by its level and index: node (l, i) is the root of the perfect subtree over
//! leaves `i·2^l .. (i+1)·2^l`. Only such complete nodes are stored; the root of any other range
//! is computed from O(log n) of them.

/// A node's hash: 32 bytes.
pub type Hash = [u8; 32];

/// The hash function of a tree. pledger's is [`Blake3`]; tests also run the tree with SHA-256
/// to check it against RFC 6962's reference values.
pub trait TreeHash {
    /// The hash of `parts`, concatenated.
    fn hash(parts: &[&[u8]]) -> Hash;

    /// The hash of a leaf: its data after a 0x00 byte (RFC 9162 §2.1.1).
    fn leaf(data: &[u8]) -> Hash {
        Self::hash(&[&[0x00], data])
    }

    /// The hash of an inner node: its children after a 0x01 byte (RFC 9162 §2.1.1).
    fn node(left: &Hash, right: &Hash) -> Hash {
        Self::hash(&[&[0x01], left, right])
    }

    /// The root of the empty tree: the hash of the empty string.
    fn empty() -> Hash {
        Self::hash(&[])
    }
}

/// blake3 with its default 32-byte output.
pub struct Blake3;

impl TreeHash for Blake3 {
    fn hash(parts: &[&[u8]]) -> Hash {
        let mut h = blake3::Hasher::new();
        for p in parts {
            h.update(p);
        }
        *h.finalize().as_bytes()
    }
}

/// SHA-256, for RFC 6962's test vectors.
pub struct Sha256;

impl TreeHash for Sha256 {
    fn hash(parts: &[&[u8]]) -> Hash {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }
}

/// Leaf hash of an entry line, with pledger's hash.
pub fn leaf_hash(line: &[u8]) -> Hash {
    Blake3::leaf(line)
}

/// A complete node: its level, its index at that level, and its hash.
pub type Node = (u8, u64, Hash);

/// The right edge of a tree: the roots of its perfect subtrees, largest first. Enough to append
/// a leaf and to compute the root without reading anything else.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Frontier {
    /// The number of leaves.
    pub size: u64,
    /// The roots of its perfect subtrees, largest first: one per bit set in `size`.
    pub peaks: Vec<Hash>,
}

impl Frontier {
    /// Appends a leaf hash; returns the complete nodes this creates (the leaf itself first),
    /// which a store keeps for proofs.
    pub fn push<H: TreeHash>(&mut self, leaf: Hash) -> Vec<Node> {
        let index = self.size;
        let mut created = vec![(0u8, index, leaf)];
        let mut hash = leaf;
        let mut level = 0u8;
        let mut i = index;
        while i & 1 == 1 {
            let left = self
                .peaks
                .pop()
                .expect("a frontier holds a peak for each 1 bit of its size (Frontier::is_well_formed)");
            hash = H::node(&left, &hash);
            level += 1;
            i >>= 1;
            created.push((level, i, hash));
        }
        self.peaks.push(hash);
        self.size += 1;
        created
    }

    /// Whether it holds one peak for each 1 bit of its size, as every frontier pushed to does: a
    /// frontier read from storage is checked before it is pushed to or its root signed.
    pub fn is_well_formed(&self) -> bool {
        self.peaks.len() == self.size.count_ones() as usize
    }

    /// The tree's root hash.
    pub fn root<H: TreeHash>(&self) -> Hash {
        let mut it = self.peaks.iter().rev();
        match it.next() {
            None => H::empty(),
            Some(last) => it.fold(*last, |acc, left| H::node(left, &acc)),
        }
    }
}

/// Reads complete nodes from wherever a tree is kept.
pub trait NodeReader {
    /// Why a node could not be read.
    type Error;
    /// The complete node `(level, index)`.
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// A node reader that remembers every node it read: proofs of neighbouring entries share most
/// of their nodes, and a node below the stored levels is hashed up from entries once, not once
/// per proof.
pub struct Memo<'a, R> {
    inner: &'a R,
    seen: std::cell::RefCell<std::collections::HashMap<(u8, u64), Hash>>,
}

impl<'a, R: NodeReader> Memo<'a, R> {
    /// A reader remembering what it reads from `inner`.
    pub fn new(inner: &'a R) -> Self {
        Memo { inner, seen: Default::default() }
    }
}

impl<R: NodeReader> NodeReader for Memo<'_, R> {
    type Error = R::Error;
    fn node(&self, level: u8, index: u64) -> Result<Hash, R::Error> {
        if let Some(h) = self.seen.borrow().get(&(level, index)) {
            return Ok(*h);
        }
        let h = self.inner.node(level, index)?;
        self.seen.borrow_mut().insert((level, index), h);
        Ok(h)
    }
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The root of leaves `start .. start + n` (n ≥ 1), as RFC 9162's MTH.
pub fn subtree_root<H: TreeHash, R: NodeReader>(r: &R, start: u64, n: u64) -> Result<Hash, R::Error> {
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return r.node(n.trailing_zeros() as u8, start / n);
    }
    let k = split(n);
    let left = subtree_root::<H, R>(r, start, k)?;
    let right = subtree_root::<H, R>(r, start + k, n - k)?;
    Ok(H::node(&left, &right))
}

/// The root of the first `size` leaves.
pub fn root<H: TreeHash, R: NodeReader>(r: &R, size: u64) -> Result<Hash, R::Error> {
    if size == 0 {
        return Ok(H::empty());
    }
    subtree_root::<H, R>(r, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 9162
/// §2.1.3.1), leaf side first. `index < size` is the caller's to check.
pub fn inclusion_proof<H: TreeHash, R: NodeReader>(r: &R, index: u64, size: u64) -> Result<Vec<Hash>, R::Error> {
    let mut path = Vec::new();
    inclusion_rec::<H, R>(r, index, 0, size, &mut path)?;
    Ok(path)
}

fn inclusion_rec<H: TreeHash, R: NodeReader>(
    r: &R,
    m: u64,
    start: u64,
    n: u64,
    path: &mut Vec<Hash>,
) -> Result<(), R::Error> {
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        inclusion_rec::<H, R>(r, m, start, k, path)?;
        path.push(subtree_root::<H, R>(r, start + k, n - k)?);
    } else {
        inclusion_rec::<H, R>(r, m - k, start + k, n - k, path)?;
        path.push(subtree_root::<H, R>(r, start, k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of the first `old` and `new` leaves (RFC 9162
/// §2.1.4.1). Empty when `old` is 0 or equals `new`.
pub fn consistency_proof<H: TreeHash, R: NodeReader>(r: &R, old: u64, new: u64) -> Result<Vec<Hash>, R::Error> {
    let mut path = Vec::new();
    if old > 0 && old < new {
        subproof::<H, R>(r, old, 0, new, true, &mut path)?;
    }
    Ok(path)
}

fn subproof<H: TreeHash, R: NodeReader>(
    r: &R,
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    path: &mut Vec<Hash>,
) -> Result<(), R::Error> {
    if m == n {
        if !whole {
            path.push(subtree_root::<H, R>(r, start, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof::<H, R>(r, m, start, k, whole, path)?;
        path.push(subtree_root::<H, R>(r, start + k, n - k)?);
    } else {
        subproof::<H, R>(r, m - k, start + k, n - k, false, path)?;
        path.push(subtree_root::<H, R>(r, start, k)?);
    }
    Ok(())
}

/// Verifies an inclusion proof as RFC 9162 §2.1.3.2 prescribes.
pub fn verify_inclusion<H: TreeHash>(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = H::node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = H::node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &r == root
}

/// Verifies a consistency proof as RFC 9162 §2.1.4.2 prescribes. Two trees of one size are
/// consistent when their roots are equal and the proof is empty; the empty tree is consistent
/// with every tree when the proof is empty.
pub fn verify_consistency<H: TreeHash>(old: u64, new: u64, old_root: &Hash, new_root: &Hash, path: &[Hash]) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return path.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return path.is_empty() && old_root == &H::empty();
    }
    if path.is_empty() {
        return false;
    }
    let mut proof: Vec<Hash> = Vec::with_capacity(path.len() + 1);
    if old.is_power_of_two() {
        proof.push(*old_root);
    }
    proof.extend_from_slice(path);
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = proof[0];
    let mut sr = proof[0];
    for c in &proof[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = H::node(c, &fr);
            sr = H::node(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = H::node(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    &fr == old_root && &sr == new_root && s == 0
}

/// A whole tree in memory: every complete node, by level. For audits, tests and bundles.
#[derive(Clone, Debug, Default)]
pub struct MemTree {
    /// The tree's right edge.
    pub frontier: Frontier,
    levels: Vec<Vec<Hash>>,
}

impl MemTree {
    /// Appends a leaf hash, keeping every complete node it makes.
    pub fn push<H: TreeHash>(&mut self, leaf: Hash) {
        for (level, index, hash) in self.frontier.push::<H>(leaf) {
            let level = level as usize;
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            debug_assert_eq!(self.levels[level].len() as u64, index);
            self.levels[level].push(hash);
        }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size
    }
}

/// A node that a tree does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingNode(pub u8, pub u64);

impl NodeReader for MemTree {
    type Error = MissingNode;
    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.levels.get(level as usize).and_then(|l| l.get(index as usize)).copied().ok_or(MissingNode(level, index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 9162's MTH, written from the definition, for comparison.
    fn naive<H: TreeHash>(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => H::empty(),
            1 => H::leaf(&leaves[0]),
            n => {
                let k = split(n as u64) as usize;
                H::node(&naive::<H>(&leaves[..k]), &naive::<H>(&leaves[k..]))
            }
        }
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn rfc6962_leaves() -> Vec<Vec<u8>> {
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .iter()
            .map(|s| hex::decode(s).unwrap())
            .collect()
    }

    #[test]
    fn rfc6962_reference_roots_with_sha256() {
        // Roots of the first n of RFC 6962's eight test leaves (certificate-transparency's
        // merkle_tree_test.cc), with SHA-256.
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let leaves = rfc6962_leaves();
        let mut tree = MemTree::default();
        for (i, leaf) in leaves.iter().enumerate() {
            tree.push::<Sha256>(Sha256::leaf(leaf));
            assert_eq!(hex(&tree.frontier.root::<Sha256>()), expected[i], "size {}", i + 1);
            assert_eq!(hex(&root::<Sha256, _>(&tree, i as u64 + 1).unwrap()), expected[i]);
            assert_eq!(hex(&naive::<Sha256>(&leaves[..=i])), expected[i]);
        }
        assert_eq!(hex(&Sha256::empty()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn rfc6962_reference_proofs_with_sha256() {
        let mut tree = MemTree::default();
        for leaf in rfc6962_leaves() {
            tree.push::<Sha256>(Sha256::leaf(&leaf));
        }
        // Inclusion of leaf 0 in the tree of 8, from the same test suite.
        let path: Vec<String> = inclusion_proof::<Sha256, _>(&tree, 0, 8).unwrap().iter().map(hex).collect();
        assert_eq!(
            path,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        // Consistency 1 → 8 and 6 → 8.
        let c18: Vec<String> = consistency_proof::<Sha256, _>(&tree, 1, 8).unwrap().iter().map(hex).collect();
        assert_eq!(c18, path);
        let c68: Vec<String> = consistency_proof::<Sha256, _>(&tree, 6, 8).unwrap().iter().map(hex).collect();
        assert_eq!(
            c68,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
    }

    fn build(n: u64) -> (MemTree, Vec<Hash>) {
        let mut tree = MemTree::default();
        let mut leaves = Vec::new();
        for i in 0..n {
            let l = Blake3::leaf(&i.to_be_bytes());
            leaves.push(l);
            tree.push::<Blake3>(l);
        }
        (tree, leaves)
    }

    #[test]
    fn stored_root_equals_naive_for_sizes_1_to_1024() {
        let mut tree = MemTree::default();
        let mut leaves = Vec::new();
        for i in 0..1024u64 {
            let data = i.to_le_bytes().to_vec();
            tree.push::<Blake3>(Blake3::leaf(&data));
            leaves.push(data);
            let n = i + 1;
            let expected = naive::<Blake3>(&leaves);
            assert_eq!(tree.frontier.root::<Blake3>(), expected, "frontier, size {n}");
            assert_eq!(root::<Blake3, _>(&tree, n).unwrap(), expected, "stored nodes, size {n}");
        }
    }

    proptest! {
        #[test]
        fn every_proof_verifies_and_every_mutation_fails(n in 1u64..300, a in 0u64..300, b in 0u64..300, bit in 0usize..256) {
            let (tree, leaves) = build(n + 1);
            let root_next = root::<Blake3, _>(&tree, n + 1).unwrap();
            let index = a % n;
            let root_n = root::<Blake3, _>(&tree, n).unwrap();
            let path = inclusion_proof::<Blake3, _>(&tree, index, n).unwrap();
            prop_assert!(verify_inclusion::<Blake3>(&leaves[index as usize], index, n, &path, &root_n));
            if !path.is_empty() {
                let mut flipped = path.clone();
                let k = (bit / 8) % flipped.len();
                flipped[k][bit % 32] ^= 1 << (bit % 8);
                prop_assert!(!verify_inclusion::<Blake3>(&leaves[index as usize], index, n, &flipped, &root_n));
                let mut dropped = path.clone();
                dropped.pop();
                prop_assert!(!verify_inclusion::<Blake3>(&leaves[index as usize], index, n, &dropped, &root_n));
            }
            let mut extra = path.clone();
            extra.push([0; 32]);
            prop_assert!(!verify_inclusion::<Blake3>(&leaves[index as usize], index, n, &extra, &root_n));
            prop_assert!(!verify_inclusion::<Blake3>(&leaves[index as usize], index, n + 1, &path, &root_next));
            prop_assert!(!verify_inclusion::<Blake3>(&leaves[(index as usize + 1) % leaves.len()], index, n, &path, &root_n));
            prop_assert!(!verify_inclusion::<Blake3>(&leaves[index as usize], n, n, &path, &root_n));

            let m = 1 + b % n;
            let root_m = root::<Blake3, _>(&tree, m).unwrap();
            let proof = consistency_proof::<Blake3, _>(&tree, m, n).unwrap();
            prop_assert!(verify_consistency::<Blake3>(m, n, &root_m, &root_n, &proof));
            if !proof.is_empty() {
                let mut flipped = proof.clone();
                let k = (bit / 8) % flipped.len();
                flipped[k][bit % 32] ^= 1 << (bit % 8);
                prop_assert!(!verify_consistency::<Blake3>(m, n, &root_m, &root_n, &flipped));
                let mut dropped = proof.clone();
                dropped.pop();
                prop_assert!(!verify_consistency::<Blake3>(m, n, &root_m, &root_n, &dropped));
                let mut extra = proof.clone();
                extra.push([0; 32]);
                prop_assert!(!verify_consistency::<Blake3>(m, n, &root_m, &root_n, &extra));
                prop_assert!(!verify_consistency::<Blake3>(m, n + 1, &root_m, &root_next, &proof));
                if m > 1 {
                    prop_assert!(!verify_consistency::<Blake3>(m - 1, n, &root_m, &root_n, &proof));
                }
            }
        }
    }
}
