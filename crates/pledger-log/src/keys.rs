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
/// as SPKI PEM with mode 0644, whatever the umask. Refuses to overwrite either file.
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
    write_new(path, pem.as_bytes(), 0o600)?;
    let public =
        key.verifying_key().to_public_key_pem(LineEnding::LF).map_err(|e| key_err(&pub_path, e.to_string()))?;
    write_new(&pub_path, public.as_bytes(), 0o644)
}

/// Creates `path` with `bytes` and exactly `mode`: set on the open file, so that no umask —
/// 000 included — leaves it writable by others.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| key_err(path, e.to_string());
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(fail)?;
    f.set_permissions(fs::Permissions::from_mode(mode)).map_err(fail)?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(fail)
}

/// `FILE.pub` beside `FILE`.
pub fn public_path(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    s.into()
}

/// A key file's text: a regular file of at most [`MAX_KEY_FILE`] bytes, read without waiting
/// on a FIFO.
fn read_small(path: &Path) -> Result<(Zeroizing<String>, fs::Metadata)> {
    let f = crate::input::open(path, crate::input::Source::Regular)?;
    let meta = f.metadata().map_err(|e| key_err(path, e.to_string()))?;
    let bytes = Zeroizing::new(crate::input::read_from(&f, MAX_KEY_FILE).map_err(|e| match e {
        crate::input::Bounded::TooLong => key_err(path, format!("is larger than a key file ({MAX_KEY_FILE} bytes)")),
        crate::input::Bounded::Io(e) => key_err(path, e.to_string()),
    })?);
    let text = std::str::from_utf8(&bytes).map_err(|_| key_err(path, "is not a PEM file"))?;
    Ok((Zeroizing::new(text.to_owned()), meta))
}

/// Reads a private key (PKCS#8 v1 or v2 PEM). Refuses a public key given in its place, a file
/// that is not the user's own or that others can read, and one reached through a directory that
/// another user owns or others can write (without the sticky bit, as /tmp has): whoever can
/// replace the file can make the user sign with a key of their choosing.
pub fn read_private(path: &Path) -> Result<SigningKey> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (text, meta) = read_small(path)?;
    if VerifyingKey::from_public_key_pem(&text).is_ok() {
        return Err(key_err(path, "is a public key (SPKI PEM); signing needs the private key"));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(key_err(path, format!("private key is owned by uid {}, not by you (uid {me})", meta.uid())));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(key_err(
            path,
            format!("private key is readable by others (mode {:o}); run: chmod 600 {}", mode & 0o777, path.display()),
        ));
    }
    for dir in directories_of(path) {
        let Ok(m) = fs::metadata(&dir) else { continue };
        if m.uid() != me && m.uid() != 0 {
            return Err(key_err(
                path,
                format!(
                    "private key is reached through {}, owned by uid {}, not by you or root",
                    dir.display(),
                    m.uid()
                ),
            ));
        }
        let mode = m.permissions().mode();
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(key_err(
                path,
                format!(
                    "private key is reached through {}, which others can write (mode {:o})",
                    dir.display(),
                    mode & 0o7777
                ),
            ));
        }
    }
    SigningKey::from_pkcs8_pem(&text).map_err(|_| key_err(path, "is not an Ed25519 private key in PKCS#8 PEM"))
}

/// Every directory above `path`, as given (made absolute) and with its links resolved.
fn directories_of(path: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<std::path::PathBuf> = Vec::new();
    for p in [std::path::absolute(path).ok(), fs::canonicalize(path).ok()].into_iter().flatten() {
        for dir in p.ancestors().skip(1) {
            if !out.iter().any(|d| d == dir) {
                out.push(dir.to_owned());
            }
        }
    }
    out
}

/// Reads a public key (SPKI PEM). Refuses weak (small-order) keys.
pub fn read_public(path: &Path) -> Result<VerifyingKey> {
    let (text, _) = read_small(path)?;
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
