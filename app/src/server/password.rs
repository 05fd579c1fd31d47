//! Argon2id password hashing, bounded and off the async threads.

use std::sync::{Arc, OnceLock};

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;

use crate::domain::AppError;

/// OWASP's Argon2id choice: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashing runs on the blocking pool, at most one per core at a time, so a burst of sign-ins
/// queues here instead of starving every other request of memory and CPU.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Default for Hasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Hasher {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }
}

impl Hasher {
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(super::internal("hasher closed"))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(super::internal("hashing task failed"))
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.run(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await?
        .map_err(super::internal("argon2 hash"))
    }

    /// Checks `password` against `stored`; with no stored hash (unknown email) a dummy hash is
    /// checked instead, so the answer takes the same time either way.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        self.run(move || {
            let (phc, real) = match stored {
                Some(h) => (h, true),
                None => (dummy_hash().to_string(), false),
            };
            let ok = PasswordHash::new(&phc)
                .map(|parsed| {
                    argon2()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false);
            ok && real
        })
        .await
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2()
            .hash_password(b"not a real password, only here for timing", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id_with_owasp_params() {
        let h = Hasher::default();
        let phc = h.hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h
            .verify("correct horse battery".into(), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!h
            .verify("wrong horse battery".into(), Some(phc))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let h = Hasher::default();
        assert!(!h
            .verify("not a real password, only here for timing".into(), None)
            .await
            .unwrap());
        assert!(!h.verify("x".into(), Some("garbage".into())).await.unwrap());
    }
}
