//! Ed25519 keys on disk: private keys as PKCS#8 v1 PEM (mode 0600), public keys as SPKI PEM,
//! both readable by `openssl pkey` (docs/format.md §"Keys").

use std::fs;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes};
use ed25519_dalek::{SigningKey, VerifyingKey};
use pledger_core::event::PublicKey;
use pledger_core::KeyId;
use zeroize::Zeroizing;

use crate::error::{LogError, Result};

/// Largest key file read, in bytes; checked before parsing.
pub const MAX_KEY_FILE: u64 = 16 * 1024;

fn key_err(path: &Path, reason: impl Into<String>) -> LogError {
    LogError::Key { path: path.display().to_string(), reason: reason.into() }
}

/// A fresh key from the operating system's random source; refused, never weakened, when the
/// operating system gives no randomness.
pub fn generate() -> Result<SigningKey> {
    use rand_core::RngCore;
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    rand_core::OsRng.try_fill_bytes(secret.as_mut()).map_err(|e| LogError::Key {
        path: "the operating system's random source".into(),
        reason: format!("gave no randomness for a new key: {e}"),
    })?;
    Ok(SigningKey::from_bytes(&secret))
}

/// The key id of a verifying key.
pub fn key_id(key: &VerifyingKey) -> KeyId {
    KeyId::of_public_key(key.as_bytes())
}

/// Writes `key` to `path` as PKCS#8 v1 PEM with mode 0600, and its public half to `path.pub`
/// as SPKI PEM. Refuses to overwrite either file.
pub fn write_keypair(path: &Path, key: &SigningKey) -> Result<()> {
    let pub_path = public_path(path);
    for p in [path, pub_path.as_path()] {
        if p.exists() {
            return Err(key_err(p, "already exists; pledger never overwrites a key"));
        }
    }
    let pem = KeypairBytes { secret_key: key.to_bytes(), public_key: None }
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| key_err(path, e.to_string()))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| key_err(path, e.to_string()))?;
    f.write_all(pem.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| key_err(path, e.to_string()))?;
    let public =
        key.verifying_key().to_public_key_pem(LineEnding::LF).map_err(|e| key_err(&pub_path, e.to_string()))?;
    fs::write(&pub_path, public).map_err(|e| key_err(&pub_path, e.to_string()))?;
    Ok(())
}

/// `FILE.pub` beside `FILE`.
pub fn public_path(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    s.into()
}

fn read_small(path: &Path) -> Result<Zeroizing<String>> {
    let meta = fs::metadata(path).map_err(|e| key_err(path, e.to_string()))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(key_err(path, format!("is {} bytes; a key file is at most {MAX_KEY_FILE}", meta.len())));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| key_err(path, e.to_string()))?);
    let text = std::str::from_utf8(&bytes).map_err(|_| key_err(path, "is not a PEM file"))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Reads a private key (PKCS#8 v1 or v2 PEM). Refuses a file that others can read.
pub fn read_private(path: &Path) -> Result<SigningKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_err(|e| key_err(path, e.to_string()))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(key_err(
                path,
                format!(
                    "private key is readable by others (mode {:o}); run: chmod 600 {}",
                    mode & 0o777,
                    path.display()
                ),
            ));
        }
    }
    let text = read_small(path)?;
    SigningKey::from_pkcs8_pem(&text).map_err(|_| key_err(path, "is not an Ed25519 private key in PKCS#8 PEM"))
}

/// Reads a public key (SPKI PEM). Refuses weak (small-order) keys.
pub fn read_public(path: &Path) -> Result<VerifyingKey> {
    let text = read_small(path)?;
    let key = VerifyingKey::from_public_key_pem(&text)
        .map_err(|_| key_err(path, "is not an Ed25519 public key in SPKI PEM"))?;
    if key.is_weak() {
        return Err(key_err(path, "is a weak Ed25519 key (small order) and cannot be used"));
    }
    Ok(key)
}

/// The raw public key as events carry it.
pub fn to_event_key(key: &VerifyingKey) -> PublicKey {
    PublicKey(key.to_bytes())
}

/// A public key from an event, checked to be a valid, non-weak Ed25519 point.
pub fn from_event_key(key: &PublicKey) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(&key.0).ok().filter(|k| !k.is_weak())
}

pub use crate::ed25519::KeyCache;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keypair_round_trips_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = generate().unwrap();
        write_keypair(&path, &key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(read_private(&path).unwrap().to_bytes(), key.to_bytes());
        assert_eq!(read_public(&public_path(&path)).unwrap(), key.verifying_key());
        assert!(write_keypair(&path, &key).is_err(), "overwrote a key");
        let pem = fs::read_to_string(&path).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    }

    #[test]
    fn refuses_world_readable_and_junk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_keypair(&path, &generate().unwrap()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            let e = read_private(&path).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{e}");
        }
        let junk = dir.path().join("junk");
        fs::write(&junk, "not a key").unwrap();
        assert!(read_public(&junk).is_err());
    }
}
