//! Exact Ed25519 verification, fast for the keys that sign most of a ledger.
//!
//! Every signature is checked alone, with exactly the verdict of ed25519-dalek's
//! `verify_strict` (docs/format.md §5): `s` canonical, `A` not of small order, and
//! `R = [s]B − [k]A` recomputed and compared with the signature's `R` as bytes, refused if of
//! small order. Nothing random takes part, so a verdict never depends on the run — unlike a
//! batch, whose random coefficients let a signature whose `R` carries a small-order component
//! through one time in two to one in eight.
//!
//! A ledger's millions of signatures come from a few hundred keys. For a key that has signed
//! [`COMB_AFTER`] times, `[k](−A)` is computed with a comb of its own multiples (as `[s]B` is
//! with one of `B`'s), with no doubling: about a third less work than `verify_strict`. The
//! point computed is the same, so the verdict is the same; a key seen fewer times, or beyond
//! [`MAX_COMBS`] keys, is checked by `verify_strict` itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use ed25519_dalek::{Signature, VerifyingKey};
use pledger_core::event::PublicKey;
use sha2::{Digest, Sha512};

/// Signatures a key makes before it gets a comb: building one costs about ten verifications.
pub const COMB_AFTER: u32 = 16;

/// Keys with a comb at most, each about 136 KB.
pub const MAX_COMBS: usize = 256;

/// The multiples of a point for a comb in radix 2^W: row `j` holds `d · 2^(W·j) · P` for
/// `d` from 1 to 2^(W−1), so that a scalar written in signed digits of W bits needs one addition
/// per digit and no doubling.
struct Comb<const W: usize> {
    rows: Vec<Vec<EdwardsPoint>>,
}

impl<const W: usize> Comb<W> {
    /// Digits of a scalar below 2^256, with the last one's carry.
    const DIGITS: usize = 256_usize.div_ceil(W) + 1;

    fn new(p: &EdwardsPoint) -> Self {
        let half = 1usize << (W - 1);
        let mut rows = Vec::with_capacity(Self::DIGITS);
        let mut base = *p;
        for _ in 0..Self::DIGITS {
            let mut row = Vec::with_capacity(half);
            let mut multiple = base;
            for _ in 0..half {
                row.push(multiple);
                multiple += base;
            }
            rows.push(row);
            for _ in 0..W {
                base = base + base;
            }
        }
        Comb { rows }
    }

    /// `[s]P`, in variable time: `s` and the point are public.
    fn mul(&self, s: &Scalar) -> EdwardsPoint {
        let bytes = s.as_bytes();
        let bit = |i: usize| if i < 256 { i64::from((bytes[i / 8] >> (i % 8)) & 1) } else { 0 };
        let half = 1i64 << (W - 1);
        let mut sum = EdwardsPoint::identity();
        let mut carry = 0;
        for (j, row) in self.rows.iter().enumerate() {
            let mut digit = (0..W).map(|b| bit(j * W + b) << b).sum::<i64>() + carry;
            carry = 0;
            if digit >= half {
                digit -= 1 << W;
                carry = 1;
            }
            match digit {
                0 => {}
                d if d > 0 => sum += row[(d - 1) as usize],
                d => sum -= row[(-d - 1) as usize],
            }
        }
        debug_assert_eq!(carry, 0, "a scalar below 2^256 leaves no carry past its last digit");
        sum
    }
}

/// The comb of the base point, made once.
static BASE: LazyLock<Comb<8>> = LazyLock::new(|| Comb::new(&ED25519_BASEPOINT_POINT));

/// A public key, with what makes checking its signatures fast once it has signed often.
pub struct Key {
    key: VerifyingKey,
    uses: AtomicU32,
    /// The comb of −A, once built (`None` when the budget was spent).
    comb: OnceLock<Option<Comb<5>>>,
    budget: Arc<AtomicUsize>,
}

impl Key {
    /// The key, as ed25519-dalek has it.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether `signature` on `message` verifies under this key, exactly as `verify_strict`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        if self.uses.fetch_add(1, Ordering::Relaxed) < COMB_AFTER {
            return self.key.verify_strict(message, signature).is_ok();
        }
        let comb = self.comb.get_or_init(|| {
            let taken = self.budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            taken.is_ok().then(|| Comb::new(&-self.key.to_edwards()))
        });
        match comb {
            Some(comb) => verify_with(&self.key, comb, message, signature),
            None => self.key.verify_strict(message, signature).is_ok(),
        }
    }
}

/// `verify_strict`'s verdict, with `[k](−A)` from `comb`.
fn verify_with(key: &VerifyingKey, comb: &Comb<5>, message: &[u8], signature: &Signature) -> bool {
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes())) else {
        return false;
    };
    if key.to_edwards().is_small_order() {
        return false;
    }
    let k = Scalar::from_hash(
        Sha512::new().chain_update(signature.r_bytes()).chain_update(key.as_bytes()).chain_update(message),
    );
    let r = BASE.mul(&s) + comb.mul(&k);
    // A compressed point equal to the signature's R means R decompresses to it; verify_strict
    // refuses an R of small order.
    !r.is_small_order() && r.compress().as_bytes() == signature.r_bytes()
}

/// Public keys already decompressed and checked, each with its comb once it signs often:
/// decompressing a point costs more than a rule, and a ledger has a few hundred keys signing
/// millions of events.
pub struct KeyCache {
    keys: HashMap<[u8; 32], Arc<Key>>,
    budget: Arc<AtomicUsize>,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache { keys: HashMap::new(), budget: Arc::new(AtomicUsize::new(MAX_COMBS)) }
    }
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key, if it is a valid Ed25519 point that is not of small order
    /// ([`crate::keys::from_event_key`]).
    pub fn get(&mut self, key: &PublicKey) -> Option<Arc<Key>> {
        if let Some(k) = self.keys.get(&key.0) {
            return Some(Arc::clone(k));
        }
        let verifying = crate::keys::from_event_key(key)?;
        let k = Arc::new(Key {
            key: verifying,
            uses: AtomicU32::new(0),
            comb: OnceLock::new(),
            budget: Arc::clone(&self.budget),
        });
        self.keys.insert(key.0, Arc::clone(&k));
        Some(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::traits::IsIdentity;
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(blake3::hash(&[seed]).as_bytes())
    }

    /// A key that has signed often enough to have its comb.
    fn warm(k: &SigningKey) -> Arc<Key> {
        let mut cache = KeyCache::new();
        let key = cache.get(&PublicKey(k.verifying_key().to_bytes())).expect("a valid key");
        for i in 0..COMB_AFTER {
            let m = i.to_le_bytes();
            assert!(key.verify(&m, &k.sign(&m)));
        }
        key
    }

    #[test]
    fn combs_multiply_as_the_curve_does() {
        let p = ED25519_BASEPOINT_POINT * Scalar::from(987_654_321u64);
        let comb = Comb::<5>::new(&p);
        let minus_one = -Scalar::ONE;
        for s in [Scalar::ZERO, Scalar::ONE, Scalar::from(31u64), Scalar::from(32u64), minus_one] {
            assert_eq!(comb.mul(&s), p * s);
            assert_eq!(BASE.mul(&s), ED25519_BASEPOINT_POINT * s);
        }
    }

    /// RFC 8032 §7.1, TEST 1–3: (public key, message, signature).
    #[test]
    fn rfc8032_vectors_verify_with_and_without_a_comb() {
        let vectors = [
            ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "", "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
            ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72", "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
            ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82", "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
        ];
        for (pk, msg, sig) in vectors {
            let pk = VerifyingKey::from_bytes(&hex::decode(pk).unwrap().try_into().unwrap()).unwrap();
            let msg = hex::decode(msg).unwrap();
            let sig = Signature::from_slice(&hex::decode(sig).unwrap()).unwrap();
            let comb = Comb::<5>::new(&-pk.to_edwards());
            assert!(verify_with(&pk, &comb, &msg, &sig));
            let mut other = msg.clone();
            other.push(0);
            assert!(!verify_with(&pk, &comb, &other, &sig));
        }
    }

    /// A signature by `k` whose R carries a point of order `order` (2, 4 or 8): made by the
    /// key's own holder, refused by `verify_strict`.
    fn torsioned(k: &SigningKey, msg: &[u8], order: u64, nonce: u8) -> Signature {
        let h = Sha512::digest(k.as_bytes());
        let mut a = [0u8; 32];
        a.copy_from_slice(&h[..32]);
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a);
        let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest([nonce]).into());
        let torsion = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .find(|t| (1..=8u64).find(|n| (*t * Scalar::from(*n)).is_identity()) == Some(order));
        let big_r = (ED25519_BASEPOINT_POINT * r + torsion.expect("a point of that order")).compress();
        let k_hash = Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(k.verifying_key().as_bytes())
            .chain_update(msg)
            .finalize();
        let s = r + Scalar::from_bytes_mod_order_wide(&k_hash.into()) * a;
        Signature::from_slice(&[big_r.to_bytes(), s.to_bytes()].concat()).expect("64 bytes")
    }

    #[test]
    fn an_r_with_a_small_order_component_is_refused_every_time() {
        let k = key(7);
        let warm = warm(&k);
        for order in [2, 4, 8] {
            for nonce in 0..16 {
                let msg = [order as u8, nonce];
                let sig = torsioned(&k, &msg, order, nonce);
                assert!(k.verifying_key().verify_strict(&msg, &sig).is_err());
                assert!(!warm.verify(&msg, &sig), "order {order}, nonce {nonce}");
            }
        }
    }

    #[test]
    fn a_small_order_r_and_a_non_canonical_s_are_refused() {
        let k = key(8);
        let warm = warm(&k);
        let msg = b"m";
        let good = k.sign(msg);
        // s + ℓ: the same value mod ℓ, not canonical.
        let ell = hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010").unwrap();
        let mut bytes = good.to_bytes();
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(bytes[32 + i]) + u16::from(ell[i]) + carry;
            bytes[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        assert!(!warm.verify(msg, &Signature::from_bytes(&bytes)));
        // R the identity, s = 0: a small-order R.
        let mut identity = [0u8; 64];
        identity[0] = 1;
        assert!(!warm.verify(msg, &Signature::from_bytes(&identity)));
        assert!(CompressedEdwardsY(identity[..32].try_into().unwrap()).decompress().is_some());
        assert!(warm.verify(msg, &good));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any signature, altered anywhere or not, under any key: the same verdict as
        /// ed25519-dalek's verify_strict, with a comb and without.
        #[test]
        fn agrees_with_verify_strict(seed: u8, msg in proptest::collection::vec(any::<u8>(), 0..200), alter in proptest::option::of((0usize..64, 1u8..=255)), torsion in proptest::option::of(prop_oneof![Just(2u64), Just(4), Just(8)])) {
            let k = key(seed);
            let mut sig = match torsion {
                Some(order) => torsioned(&k, &msg, order, seed),
                None => k.sign(&msg),
            };
            if let Some((byte, flip)) = alter {
                let mut b = sig.to_bytes();
                b[byte] ^= flip;
                sig = Signature::from_bytes(&b);
            }
            let expected = k.verifying_key().verify_strict(&msg, &sig).is_ok();
            let comb = Comb::<5>::new(&-k.verifying_key().to_edwards());
            prop_assert_eq!(verify_with(&k.verifying_key(), &comb, &msg, &sig), expected);
            prop_assert_eq!(warm(&k).verify(&msg, &sig), expected);
        }
    }
}
