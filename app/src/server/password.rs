//! Argon2id password hashing, bounded and off the async threads.
//!
//! A fixed set of hashing threads (one per core) each owns one Argon2 working memory (12 MiB)
//! and reuses it for every hash: memory stays at cores x 12 MiB however many sign-ins arrive
//! (allocating it per hash let the allocator keep hundreds of MB), no page faults per hash, and
//! a burst of sign-ins queues here instead of starving every other request of CPU.

use std::sync::{mpsc, Arc, Mutex, OnceLock};

use argon2::{
    password_hash::{Output, ParamsString, PasswordHash, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use tokio::sync::oneshot;

use crate::domain::AppError;

/// Argon2id with 12 MiB, 3 passes, 1 lane: one of the settings OWASP's Password Storage Cheat
/// Sheet lists as equivalent in the defence they give (19 MiB with 2 passes is another; they
/// trade memory for passes at about the same work). Fewer MiB per hashing thread keep the
/// server's peak memory down; a hash stored with other parameters still verifies with them, and
/// is made anew with these at its user's next sign-in ([`Slot::verify_upgrading`]).
pub fn params() -> Params {
    Params::new(12 * 1024, 3, 1, None).unwrap_or_default()
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

enum Job {
    Hash(String, oneshot::Sender<Option<String>>),
    Verify(String, String, oneshot::Sender<bool>),
}

/// Hashes admitted (waiting or running), at most: about half a second of work on two cores. A
/// burst beyond it is answered 503 at once instead of making every sign-in wait seconds.
pub const MAX_QUEUED: usize = 64;

#[derive(Clone)]
pub struct Hasher {
    jobs: mpsc::Sender<Job>,
    admitted: Arc<tokio::sync::Semaphore>,
}

/// A place in the hashing queue, taken before anything is counted against a user (a sign-in's
/// throttle): a full queue then refuses without costing anyone an attempt.
pub struct Slot {
    hasher: Hasher,
    _place: tokio::sync::OwnedSemaphorePermit,
}

impl Default for Hasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Hasher::with_threads(cores)
    }
}

impl Hasher {
    pub fn with_threads(threads: usize) -> Hasher {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = vec![Block::default(); params().block_count()];
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(Job::Hash(password, reply)) => {
                                let _ = reply.send(hash_with(&mut memory, &password));
                            }
                            Ok(Job::Verify(password, phc, reply)) => {
                                let _ = reply.send(verify_with(&mut memory, &password, &phc));
                                // A hash stored with more memory grew it: back to ours.
                                let ours = params().block_count();
                                if memory.len() > ours {
                                    memory.truncate(ours);
                                    memory.shrink_to_fit();
                                }
                            }
                            // Every Hasher is gone: the server is shutting down.
                            Err(_) => return,
                        }
                    }
                })
                .expect("start a hashing thread");
        }
        Hasher {
            jobs: tx,
            admitted: Arc::new(tokio::sync::Semaphore::new(MAX_QUEUED)),
        }
    }

    /// A place in the queue, or `Busy` when it is full.
    pub fn slot(&self) -> Result<Slot, AppError> {
        let place = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| AppError::Busy {
                retry_after_secs: 1,
            })?;
        Ok(Slot {
            hasher: self.clone(),
            _place: place,
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.slot()?.hash(password).await
    }

    /// Checks `password` against `stored`; with no stored hash (unknown email) a dummy hash is
    /// checked instead, so the answer takes the same time either way.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        self.slot()?.verify(password, stored).await
    }
}

impl Slot {
    fn send(&self, job: Job) -> Result<(), AppError> {
        self.hasher
            .jobs
            .send(job)
            .map_err(super::internal("hashing threads gone"))
    }

    pub async fn hash(self, password: String) -> Result<String, AppError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Hash(password, tx))?;
        rx.await
            .map_err(super::internal("hashing thread failed"))?
            .ok_or_else(|| super::internal("argon2 hash")("hashing failed"))
    }

    /// As [`Hasher::verify`].
    pub async fn verify(self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        self.check(password, stored).await
    }

    /// As [`Slot::verify`]; when the password matched a hash stored with other parameters than
    /// [`params`] (an older setting), also the password hashed anew with them, for the caller
    /// to store in place of the old hash. A rehash that fails leaves `None`: the old hash still
    /// verifies.
    pub async fn verify_upgrading(
        self,
        password: &str,
        stored: Option<String>,
    ) -> Result<(bool, Option<String>), AppError> {
        let outdated = stored.as_deref().is_some_and(outdated);
        let ok = self.check(password.to_string(), stored).await?;
        if !(ok && outdated) {
            return Ok((ok, None));
        }
        let (tx, rx) = oneshot::channel();
        self.send(Job::Hash(password.to_string(), tx))?;
        Ok((true, rx.await.ok().flatten()))
    }

    async fn check(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        let (phc, real) = match stored {
            Some(h) => (h, true),
            None => (dummy_hash().to_string(), false),
        };
        let (tx, rx) = oneshot::channel();
        self.send(Job::Verify(password, phc, tx))?;
        let ok = rx.await.map_err(super::internal("hashing thread failed"))?;
        Ok(ok && real)
    }
}

/// Whether the PHC string `phc` is weaker than one [`hash_with`] makes now, so that a sign-in
/// makes it anew: another algorithm or version, or less memory or fewer passes (19 MiB with 2
/// passes has fewer). A hash at least as costly in both is kept: never made cheaper.
pub fn outdated(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let now = params();
    let as_strong = Algorithm::try_from(parsed.algorithm) == Ok(Algorithm::Argon2id)
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() >= now.m_cost() && p.t_cost() >= now.t_cost());
    !as_strong
}

/// A new PHC string for `password`, computed in `memory`.
fn hash_with(memory: &mut [Block], password: &str) -> Option<String> {
    let params = params();
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).ok()?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2(params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            &mut out,
            &mut memory[..params.block_count()],
        )
        .ok()?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).ok()?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).ok()?),
    };
    Some(phc.to_string())
}

/// Whether `password` matches the PHC string `phc` (any Argon2id parameters it names).
fn verify_with(memory: &mut Vec<Block>, password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let n = params.block_count();
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, &mut memory[..n])
        .is_ok()
        // Output's comparison is constant-time.
        && Output::new(&out).is_ok_and(|o| o == expected)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        use argon2::PasswordHasher;
        argon2(params())
            .hash_password(b"not a real password, only here for timing", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `password` hashed by the argon2 crate with `mib` MiB and `passes` passes.
    fn hash_with_setting(password: &str, mib: u32, passes: u32) -> String {
        let setting = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(mib * 1024, passes, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2::PasswordHasher::hash_password(&setting, password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    /// `password` hashed as the setting used before this one stored it (19 MiB, 2 passes).
    fn hash_of_the_setting_before(password: &str) -> String {
        hash_with_setting(password, 19, 2)
    }

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id_with_owasp_params() {
        // A hash stored with the parameters used before still verifies.
        let before = hash_of_the_setting_before("correct horse battery");
        let h = Hasher::default();
        let phc = h.hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"), "{phc}");
        assert!(h
            .verify("correct horse battery".into(), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!h
            .verify("wrong horse battery".into(), Some(phc.clone()))
            .await
            .unwrap());
        assert!(h
            .verify("correct horse battery".into(), Some(before.clone()))
            .await
            .unwrap());
        assert!(!h
            .verify("wrong horse battery".into(), Some(before))
            .await
            .unwrap());
        // And ours still after it, on the memory it grew and gave back.
        assert!(h
            .verify("correct horse battery".into(), Some(phc.clone()))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_hash_of_an_older_setting_is_made_anew_when_its_password_matches() {
        let before = hash_of_the_setting_before("correct horse battery");
        assert!(outdated(&before));
        let h = Hasher::default();
        let upgrade = |password: &str, stored: &str| {
            let (h, password, stored) = (h.clone(), password.to_string(), stored.to_string());
            async move {
                h.slot()
                    .unwrap()
                    .verify_upgrading(&password, Some(stored))
                    .await
                    .unwrap()
            }
        };
        let (ok, anew) = upgrade("correct horse battery", &before).await;
        let anew = anew.expect("an outdated hash is made anew");
        assert!(ok);
        assert!(!outdated(&anew) && anew.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"));
        assert!(h
            .verify("correct horse battery".into(), Some(anew.clone()))
            .await
            .unwrap());
        // A wrong password earns nothing; a current hash needs nothing.
        assert_eq!(upgrade("wrong horse battery", &before).await, (false, None));
        assert_eq!(upgrade("correct horse battery", &anew).await, (true, None));
        assert!(!outdated("not a hash"));
        // A costlier hash is never made cheaper.
        assert!(!outdated(&hash_with_setting("x", 64, 4)));
    }

    #[test]
    fn our_hashes_verify_with_the_argon2_crate_and_back() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let mut memory = vec![Block::default(); params().block_count()];
        let ours = hash_with(&mut memory, "correct horse battery").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2(params())
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = argon2(params())
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(verify_with(&mut memory, "correct horse battery", &theirs));
        assert!(!verify_with(&mut memory, "correct horse batterY", &theirs));
        // Other parameters stored in the hash are honoured (the memory grows to fit).
        let bigger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw", &salt)
        .unwrap()
        .to_string();
        assert!(verify_with(&mut memory, "pw", &bigger));
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
