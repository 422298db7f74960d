//! Ed25519 batch verification in which the terms of one key are added before they are
//! multiplied.
//!
//! The equation is ed25519-dalek's `verify_batch` (2.2), cofactorless as there: for random
//! 128-bit `z_i` and `k_i = SHA-512(R_i ‖ A_i ‖ M_i) mod ℓ`,
//!
//! ```text
//! [−Σ z_i·s_i] B + Σ [z_i] R_i + Σ [z_i·k_i] A_i = 0
//! ```
//!
//! A ledger's signatures come from a few hundred keys, so the last sum has far fewer distinct
//! points than terms: `Σ_{i : A_i = A} [z_i·k_i] A = [Σ_{i : A_i = A} z_i·k_i] A`. The scalars
//! of one key are added (cheap) and the multiscalar multiplication, which is most of the cost,
//! runs over `1 + n + (distinct keys)` points instead of `1 + 2n`. The point it computes is
//! the same, so a batch passes exactly when ed25519-dalek's would with the same `z_i`.
//!
//! The `z_i` are read from blake3 in keyed mode over the batch's size, every SHA-512 value
//! (before its reduction to `k_i`) and every `s_i`, under a key drawn from the operating system
//! once per process: a signer cannot know them before
//! committing to its signature (ed25519-dalek derives them from a merlin transcript of the same
//! values; blake3 does it for a fraction of the keccak work).

use std::collections::HashMap;
use std::sync::OnceLock;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha512};

/// The process's key for drawing the batch coefficients. Should the operating system give no
/// randomness, the key stays zero and the coefficients are drawn from the batch's inputs alone,
/// as ed25519-dalek draws them.
fn coefficient_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        if OsRng.try_fill_bytes(&mut key).is_err() {
            key = [0u8; 32];
        }
        key
    })
}

/// True when every signature verifies under its key, as one batch. The three slices are
/// parallel; slices of different lengths, a non-canonical `s`, or an `R` that is not a point
/// fail the batch. A failed batch names no culprit: check its signatures one by one.
pub fn verify_batch(messages: &[&[u8]], signatures: &[Signature], keys: &[VerifyingKey]) -> bool {
    let n = signatures.len();
    if messages.len() != n || keys.len() != n {
        return false;
    }
    let mut transcript = blake3::Hasher::new_keyed(coefficient_key());
    transcript.update(&(n as u64).to_le_bytes());
    let mut ks = Vec::with_capacity(n);
    let mut ss = Vec::with_capacity(n);
    for ((message, signature), key) in messages.iter().zip(signatures).zip(keys) {
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes())) else {
            return false;
        };
        let hram: [u8; 64] = Sha512::new()
            .chain_update(signature.r_bytes())
            .chain_update(key.as_bytes())
            .chain_update(message)
            .finalize()
            .into();
        transcript.update(&hram);
        transcript.update(signature.s_bytes());
        ks.push(Scalar::from_bytes_mod_order_wide(&hram));
        ss.push(s);
    }
    let mut coefficients = transcript.finalize_xof();
    let zs: Vec<Scalar> = (0..n)
        .map(|_| {
            let mut z = [0u8; 16];
            coefficients.fill(&mut z);
            Scalar::from(u128::from_le_bytes(z))
        })
        .collect();

    let b_coefficient: Scalar = zs.iter().zip(&ss).map(|(z, s)| z * s).sum();
    // Each distinct key once, with the sum of its terms' coefficients.
    let mut slot: HashMap<&[u8; 32], usize> = HashMap::with_capacity(n.min(256));
    let mut key_points: Vec<EdwardsPoint> = Vec::new();
    let mut key_scalars: Vec<Scalar> = Vec::new();
    for ((z, k), key) in zs.iter().zip(&ks).zip(keys) {
        let i = *slot.entry(key.as_bytes()).or_insert_with(|| {
            key_points.push(key.to_edwards());
            key_scalars.push(Scalar::ZERO);
            key_points.len() - 1
        });
        key_scalars[i] += z * k;
    }

    let scalars = std::iter::once(-b_coefficient).chain(zs.iter().copied()).chain(key_scalars);
    let points = std::iter::once(Some(ED25519_BASEPOINT_POINT))
        .chain(signatures.iter().map(|s| CompressedEdwardsY(*s.r_bytes()).decompress()))
        .chain(key_points.into_iter().map(Some));
    EdwardsPoint::optional_multiscalar_mul(scalars, points).is_some_and(|sum| sum.is_identity())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;

    /// n signatures by `signers` keys (signature i by key i mod signers), on distinct messages.
    fn signed(n: usize, signers: usize, seed: u8) -> (Vec<Vec<u8>>, Vec<Signature>, Vec<VerifyingKey>) {
        let keys: Vec<SigningKey> = (0..signers)
            .map(|i| SigningKey::from_bytes(blake3::hash(format!("signer {i} of batch {seed}").as_bytes()).as_bytes()))
            .collect();
        let messages: Vec<Vec<u8>> = (0..n).map(|i| format!("message {i} of batch {seed}").into_bytes()).collect();
        let signatures = messages.iter().enumerate().map(|(i, m)| keys[i % signers].sign(m)).collect();
        let verifying = (0..n).map(|i| keys[i % signers].verifying_key()).collect();
        (messages, signatures, verifying)
    }

    fn both(messages: &[Vec<u8>], signatures: &[Signature], keys: &[VerifyingKey]) -> (bool, bool) {
        let m: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        (verify_batch(&m, signatures, keys), ed25519_dalek::verify_batch(&m, signatures, keys).is_ok())
    }

    #[test]
    fn rfc8032_test_vectors_pass_as_one_batch() {
        // RFC 8032 §7.1, TEST 1–3: (public key, message, signature).
        let vectors = [
            ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "", "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
            ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72", "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
            ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82", "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
        ];
        let parse = |h: &str| hex::decode(h).expect("hex");
        let keys: Vec<VerifyingKey> = vectors
            .iter()
            .map(|v| VerifyingKey::from_bytes(&parse(v.0).try_into().expect("32 bytes")).expect("key"))
            .collect();
        let messages: Vec<Vec<u8>> = vectors.iter().map(|v| parse(v.1)).collect();
        let signatures: Vec<Signature> =
            vectors.iter().map(|v| Signature::from_bytes(&parse(v.2).try_into().expect("64 bytes"))).collect();
        assert_eq!(both(&messages, &signatures, &keys), (true, true));
        // The same signatures under one another's messages: refused.
        let swapped = vec![messages[1].clone(), messages[0].clone(), messages[2].clone()];
        assert_eq!(both(&swapped, &signatures, &keys), (false, false));
    }

    #[test]
    fn a_batch_with_repeated_keys_passes_and_one_altered_byte_fails_it() {
        let (messages, mut signatures, keys) = signed(300, 7, 1);
        assert_eq!(both(&messages, &signatures, &keys), (true, true));
        let mut bytes = signatures[123].to_bytes();
        bytes[40] ^= 1;
        signatures[123] = Signature::from_bytes(&bytes);
        assert_eq!(both(&messages, &signatures, &keys), (false, false));
    }

    #[test]
    fn a_signature_under_the_wrong_key_fails_even_when_that_key_signs_elsewhere_in_the_batch() {
        // Keys combined must not let one key's term stand in for another's.
        let (messages, signatures, mut keys) = signed(64, 4, 2);
        keys.swap(10, 11);
        assert_eq!(both(&messages, &signatures, &keys), (false, false));
    }

    #[test]
    fn mismatched_lengths_and_a_non_canonical_s_fail() {
        let (messages, signatures, keys) = signed(8, 2, 3);
        let m: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        assert!(!verify_batch(&m[..7], &signatures, &keys));
        // s + ℓ: the same value mod ℓ, not canonical.
        let mut bytes = signatures[0].to_bytes();
        // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let ell = hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010").expect("hex");
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = bytes[32 + i] as u16 + ell[i] as u16 + carry;
            bytes[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        let mut altered = signatures.clone();
        altered[0] = Signature::from_bytes(&bytes);
        assert_eq!(both(&messages, &altered, &keys), (false, false));
        assert!(both(&messages, &signatures, &keys).0);
    }

    #[test]
    fn an_r_that_is_no_point_fails() {
        let (messages, signatures, keys) = signed(8, 2, 4);
        // y = 2 is not the y of any point of the curve.
        let mut bytes = signatures[5].to_bytes();
        bytes[..32].copy_from_slice(&{
            let mut y = [0u8; 32];
            y[0] = 2;
            y
        });
        let mut altered = signatures.clone();
        altered[5] = Signature::from_bytes(&bytes);
        assert!(CompressedEdwardsY(*altered[5].r_bytes()).decompress().is_none());
        assert_eq!(both(&messages, &altered, &keys), (false, false));
    }

    #[test]
    fn an_empty_batch_passes() {
        assert!(verify_batch(&[], &[], &[]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any batch, any number of signers, at most one signature altered anywhere: the
        /// batch agrees with ed25519-dalek's and with checking each signature alone.
        #[test]
        fn agrees_with_ed25519_dalek(n in 1usize..80, signers in 1usize..12, seed: u8, alter in proptest::option::of((0usize..80, 0usize..65, 1u8..=255))) {
            let (mut messages, mut signatures, keys) = signed(n, signers, seed);
            if let Some((i, byte, flip)) = alter {
                let i = i % n;
                // Alter the signature or, past its 64 bytes, the message.
                if byte < 64 {
                    let mut b = signatures[i].to_bytes();
                    b[byte] ^= flip;
                    signatures[i] = Signature::from_bytes(&b);
                } else {
                    messages[i].push(flip);
                }
            }
            let alone = (0..n).all(|i| keys[i].verify_strict(&messages[i], &signatures[i]).is_ok());
            let (ours, dalek) = both(&messages, &signatures, &keys);
            prop_assert_eq!(ours, dalek);
            prop_assert_eq!(ours, alone);
        }
    }
}
