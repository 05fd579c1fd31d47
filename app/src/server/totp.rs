//! RFC 6238 codes (via totp-rs) with the console's window rules. Time is always a parameter.

use rand::RngCore;
use totp_rs::{Algorithm, Builder, Totp};

/// 30-second steps, 6 digits, HMAC-SHA1: what every authenticator app supports.
pub const STEP_SECS: u64 = 30;
pub const DIGITS: u8 = 6;
/// Codes of the previous, current and next step are accepted.
pub const ACCEPT_STEPS: i64 = 1;
/// A code this many steps away is recognised only to tell the user their clock is off.
pub const DRIFT_STEPS: i64 = 10;

/// A 160-bit secret from the OS CSPRNG. Not `Debug`, not `Serialize`: it never leaves the server
/// except as the setup key and QR code of a pending enrollment.
pub struct SecretKey(pub Vec<u8>);

impl SecretKey {
    pub fn generate() -> SecretKey {
        let mut bytes = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SecretKey(bytes)
    }

    pub fn base32(&self) -> String {
        totp_rs::Secret::from(self.0.clone()).to_base32()
    }
}

/// What a submitted code matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Valid for this step (within the accepted window); the caller must claim the step once.
    Valid {
        step: i64,
    },
    /// Valid only for a step further away: the device clock is about `offset_secs` off
    /// (positive: the device is ahead).
    ClockOff {
        offset_secs: i64,
        /// The step the code is valid for.
        step: i64,
    },
    Wrong,
}

fn totp(algorithm: Algorithm, digits: u8, step_secs: u64, secret: &[u8]) -> Totp {
    Builder::new()
        .with_algorithm(algorithm)
        .with_digits(digits)
        .with_step_duration(step_secs)
        .with_skew(0)
        .with_secret(secret.to_vec())
        .build_noncompliant()
}

/// The code for `time` (Unix seconds) with any RFC 6238 parameters; the test vectors use this.
pub fn code_at(
    algorithm: Algorithm,
    digits: u8,
    step_secs: u64,
    secret: &[u8],
    time: u64,
) -> String {
    totp(algorithm, digits, step_secs, secret)
        .generate(time)
        .to_string()
}

/// The step that time `t` (Unix seconds) falls in.
pub fn step_at(t: i64) -> i64 {
    t.max(0) / STEP_SECS as i64
}

/// Checks a 6-digit code against the console's parameters at `now`.
pub fn check(secret: &[u8], code: &str, now: u64) -> Check {
    let t = totp(Algorithm::SHA1, DIGITS, STEP_SECS, secret);
    let current = (now / STEP_SECS) as i64;
    let matches = |offset: i64| {
        let step = current + offset;
        step >= 0
            && constant_time_eq(
                t.generate(step as u64 * STEP_SECS).to_string().as_bytes(),
                code.as_bytes(),
            )
    };
    // Prefer the nearest step, so a code valid for two steps claims the earlier one.
    for offset in [0, -1, 1] {
        if matches(offset) {
            return Check::Valid {
                step: current + offset,
            };
        }
    }
    for distance in (ACCEPT_STEPS + 1)..=DRIFT_STEPS {
        for offset in [-distance, distance] {
            if matches(offset) {
                return Check::ClockOff {
                    offset_secs: offset * STEP_SECS as i64,
                    step: current + offset,
                };
            }
        }
    }
    Check::Wrong
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `otpauth://` URI an authenticator app scans.
pub fn otpauth_uri(secret: &SecretKey, issuer: &str, email: &str) -> Option<String> {
    Builder::new()
        .with_secret(secret.0.clone())
        .with_issuer(Some(issuer))
        .with_account_name(email)
        .build()
        .ok()?
        .to_url()
        .ok()
}

/// The raw secret behind a setup key as shown to the user (spaces ignored).
pub fn decode_setup_key(key: &str) -> Option<Vec<u8>> {
    let compact: String = key.chars().filter(|c| !c.is_whitespace()).collect();
    totp_rs::Secret::try_from_base32(compact)
        .ok()
        .map(|s| s.as_bytes().to_vec())
}

/// The console's code (SHA-1, 6 digits, 30 s) for `time`.
pub fn code_for(secret: &[u8], time: u64) -> String {
    code_at(Algorithm::SHA1, DIGITS, STEP_SECS, secret, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1_SEED: &[u8] = b"12345678901234567890";
    const SHA256_SEED: &[u8] = b"12345678901234567890123456789012";
    const SHA512_SEED: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 Appendix B.
    #[test]
    fn rfc6238_vectors() {
        let rows: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (time, sha1, sha256, sha512) in rows {
            assert_eq!(
                code_at(Algorithm::SHA1, 8, 30, SHA1_SEED, time),
                sha1,
                "SHA1 @ {time}"
            );
            assert_eq!(
                code_at(Algorithm::SHA256, 8, 30, SHA256_SEED, time),
                sha256,
                "SHA256 @ {time}"
            );
            assert_eq!(
                code_at(Algorithm::SHA512, 8, 30, SHA512_SEED, time),
                sha512,
                "SHA512 @ {time}"
            );
        }
    }

    /// RFC 4226 Appendix D: HOTP is TOTP with a one-second step and time = counter.
    #[test]
    fn rfc4226_vectors() {
        let want = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in want.iter().enumerate() {
            assert_eq!(
                code_at(Algorithm::SHA1, 6, 1, SHA1_SEED, counter as u64),
                *code,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn window_and_drift() {
        let key = SecretKey::generate();
        let now = 1_800_000_015u64;
        let at = |t: u64| code_at(Algorithm::SHA1, 6, 30, &key.0, t);
        let step = (now / 30) as i64;
        assert_eq!(check(&key.0, &at(now), now), Check::Valid { step });
        assert_eq!(
            check(&key.0, &at(now - 30), now),
            Check::Valid { step: step - 1 }
        );
        assert_eq!(
            check(&key.0, &at(now + 30), now),
            Check::Valid { step: step + 1 }
        );
        // A device 3 steps ahead shows the code of now + 90 s.
        assert_eq!(
            check(&key.0, &at(now + 90), now),
            Check::ClockOff {
                offset_secs: 90,
                step: step + 3
            }
        );
        assert_eq!(
            check(&key.0, &at(now - 300), now),
            Check::ClockOff {
                offset_secs: -300,
                step: step - 10
            }
        );
        // Eleven steps away is simply wrong.
        let far = at(now + 330);
        if (-10..=10).all(|o: i64| at((now as i64 + o * 30) as u64) != far) {
            assert_eq!(check(&key.0, &far, now), Check::Wrong);
        }
        assert_eq!(check(&key.0, "12345", now), Check::Wrong);
        assert_eq!(check(&key.0, "", now), Check::Wrong);
    }

    #[test]
    fn secrets_are_160_bits_and_distinct() {
        let a = SecretKey::generate();
        let b = SecretKey::generate();
        assert_eq!(a.0.len(), 20);
        assert_ne!(a.0, b.0);
        assert_eq!(a.base32().len(), 32);
    }

    #[test]
    fn uri_carries_issuer_and_label() {
        let key = SecretKey(SHA1_SEED.to_vec());
        let uri = otpauth_uri(&key, "Latchkey", "ann@example.com").unwrap();
        assert!(
            uri.starts_with(
                "otpauth://totp/Latchkey:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            ),
            "{uri}"
        );
        assert!(uri.contains("issuer=Latchkey"));
    }
}
