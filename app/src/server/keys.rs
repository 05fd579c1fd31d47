//! The server key: encrypts TOTP secrets at rest and peppers recovery-code hashes.

use std::path::Path;

use base64::{engine::general_purpose::STANDARD, Engine};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// 32 random bytes. Not `Debug`, not `Serialize`, never logged.
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("LATCHKEY_SECRET_KEY must be 32 bytes in base64")]
    BadEnv,
    #[error("key file {0} must hold 32 bytes in base64")]
    BadFile(String),
    #[error("key file: {0}")]
    Io(#[from] std::io::Error),
}

impl ServerKey {
    pub fn generate() -> ServerKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        ServerKey(k)
    }

    fn from_b64(s: &str) -> Option<ServerKey> {
        let bytes = STANDARD.decode(s.trim()).ok()?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok().map(ServerKey)
    }

    /// From `LATCHKEY_SECRET_KEY` if set (several instances must share one key), else from
    /// `secret.key` in the data folder, created with mode 0600 on first run.
    pub fn load(env_value: Option<&str>, data_dir: &Path) -> Result<ServerKey, KeyError> {
        if let Some(v) = env_value {
            return ServerKey::from_b64(v).ok_or(KeyError::BadEnv);
        }
        let path = data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(s) => {
                ServerKey::from_b64(&s).ok_or_else(|| KeyError::BadFile(path.display().to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir)?;
                let key = ServerKey::generate();
                match write_private(&path, &STANDARD.encode(key.0)) {
                    Ok(()) => Ok(key),
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        ServerKey::load(None, data_dir)
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Encrypts `plain` bound to `context` (e.g. the user id), so a ciphertext copied to another
    /// row does not decrypt. Output: 24-byte nonce then ciphertext.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail.
        if let Ok(ct) = cipher.encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: context.as_bytes(),
            },
        ) {
            out.extend(ct);
        }
        out
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 24 + 16 {
            return None;
        }
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let (nonce, ct) = sealed.split_at(24);
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }

    /// HMAC-SHA256 under the server key: a stolen database alone cannot test guesses.
    pub fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }

    /// True when `tag` is the leading bytes of `mac(data)`; compared in constant time.
    pub fn mac_starts_with(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(data);
        tag.len() >= 16 && m.verify_truncated_left(tag).is_ok()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = ServerKey::generate();
        let sealed = k.seal("totp:1", b"secret");
        assert_eq!(k.open("totp:1", &sealed).as_deref(), Some(&b"secret"[..]));
        assert_eq!(k.open("totp:2", &sealed), None, "bound to its row");
        assert_eq!(
            ServerKey::generate().open("totp:1", &sealed),
            None,
            "needs the key"
        );
        assert_eq!(k.open("totp:1", &sealed[..10]), None);
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("latchkey-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = ServerKey::load(None, &dir).unwrap();
        let b = ServerKey::load(None, &dir).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secret.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(ServerKey::load(Some("short"), &dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
