//! Ed25519 as pledger uses it, against RFC 8032 §7.1's test vectors: TEST 1, 2 and 3.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

const VECTORS: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

fn bytes<const N: usize>(h: &str) -> [u8; N] {
    hex::decode(h).unwrap().try_into().unwrap()
}

#[test]
fn rfc8032_test_vectors_sign_and_verify() {
    for (secret, public, message, signature) in VECTORS {
        let key = SigningKey::from_bytes(&bytes(secret));
        assert_eq!(hex::encode(key.verifying_key().as_bytes()), public);
        let msg = hex::decode(message).unwrap();
        let sig = key.sign(&msg);
        assert_eq!(hex::encode(sig.to_bytes()), signature);
        let vk = VerifyingKey::from_bytes(&bytes(public)).unwrap();
        assert!(vk.verify_strict(&msg, &Signature::from_bytes(&bytes(signature))).is_ok());
        let mut tampered = msg.clone();
        tampered.push(0);
        assert!(vk.verify(&tampered, &sig).is_err());
        let mut bad = sig.to_bytes();
        bad[0] ^= 1;
        assert!(vk.verify_strict(&msg, &Signature::from_bytes(&bad)).is_err());
    }
}

#[test]
fn rfc8032_keys_survive_pkcs8_as_pledger_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (secret, public, ..)) in VECTORS.iter().enumerate() {
        let key = SigningKey::from_bytes(&bytes(secret));
        let path = dir.path().join(format!("k{i}"));
        pledger_log::keys::write_keypair(&path, &key).unwrap();
        let read = pledger_log::keys::read_private(&path).unwrap();
        assert_eq!(read.to_bytes(), key.to_bytes());
        let pubkey = pledger_log::keys::read_public(&pledger_log::keys::public_path(&path)).unwrap();
        assert_eq!(hex::encode(pubkey.as_bytes()), *public);
        // pledger writes PKCS#8 v1 (no public key inside), which OpenSSL 3.0 reads; it also
        // reads v2 files, which other tools write.
        let v2 = KeypairBytes {
            secret_key: key.to_bytes(),
            public_key: Some(ed25519_dalek::pkcs8::PublicKeyBytes(key.verifying_key().to_bytes())),
        }
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
        assert_eq!(SigningKey::from_pkcs8_pem(&v2).unwrap().to_bytes(), key.to_bytes());
    }
}
