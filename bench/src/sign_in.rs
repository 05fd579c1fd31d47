//! The password sign-in and its floor: raw Argon2id in this process, and bursts of sign-ins
//! over HTTP with the Overview served beside them, taking turns in one-second slices.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    http1,
    load::{closed_for, jobs, slices, Run},
    pages,
    seed::Seed,
    server::Server,
    PW,
};

pub struct SignIn {
    /// Raw Argon2id verifications per second.
    pub argon_floor: f64,
    pub sign_in: Run,
    /// The Overview at 50/s during the bursts.
    pub overview_during: Run,
    /// Each round's sign-in rate over its own Argon2 floor.
    pub rounds: Vec<f64>,
}

/// Raw Argon2id per second with the server's parameters on every core in this process: each
/// thread computes the hash of the seeded password into its own preallocated memory, the
/// fastest way Argon2 runs (no allocation, no parsing, no HTTP).
fn argon2_floor(hash: &str, dur: Duration) -> f64 {
    use argon2::{password_hash::PasswordHash, Algorithm, Argon2, Block, Version};
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let start = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let hash = hash.to_string();
            std::thread::spawn(move || {
                let params = app::server::password::params();
                let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
                let parsed = PasswordHash::new(&hash).unwrap();
                let mut salt = [0u8; 64];
                let salt = parsed.salt.unwrap().decode_b64(&mut salt).unwrap().to_vec();
                let expected = parsed.hash.unwrap();
                let mut memory = vec![Block::default(); params.block_count()];
                let mut out = vec![0u8; expected.len()];
                let mut n = 0u64;
                while start.elapsed() < dur {
                    a.hash_password_into_with_memory(PW.as_bytes(), &salt, &mut out, &mut memory)
                        .unwrap();
                    assert_eq!(out.as_slice(), expected.as_bytes());
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

/// `hash` is the members' password hash, for the Argon2 floor.
pub async fn run(server: &Server, seed: &Seed, hash: &str, secs: Duration) -> SignIn {
    eprintln!("password sign-in and its floor…");
    let sign_in_reqs: Arc<Vec<http1::Request>> = Arc::new(
        seed.valid
            .iter()
            .map(|(m, _)| {
                let body = format!(
                    "email={}&password={}",
                    m.email.replace('@', "%40"),
                    PW.replace(' ', "+")
                );
                http1::post_form(server.addr, "/api/sign_in", &body, None)
            })
            .collect(),
    );
    let overview_reqs = pages::as_members(server, "/", &seed.sessions);
    // Overview requests at 50/s while the sign-ins of one slice run.
    let overview_during_for = |dur: Duration| {
        let per_sec = 50.0;
        let count = (per_sec * dur.as_secs_f64()) as usize;
        let reqs = (0..count)
            .map(|i| (overview_reqs[i % overview_reqs.len()].clone(), ()))
            .collect();
        tokio::spawn(jobs(server.addr, 8, Some(per_sec), reqs, |_: &(), s| {
            s == 200
        }))
    };
    let sign_ins_for = |dur: Duration| closed_for(server.addr, 4, dur, sign_in_reqs.clone(), 200);
    // Raw Argon2 (1 s) and the sign-in burst (2 s, the Overview beside it) take turns, as the
    // pages and their floor do.
    let (slices, slice) = slices(secs);
    let (mut argon_rates, mut sign_ins, mut overviews_during) = (0.0, Vec::new(), Vec::new());
    let mut rounds = Vec::new();
    for _ in 0..slices {
        let argon = argon2_floor(hash, slice);
        argon_rates += argon;
        let during = overview_during_for(slice * 2);
        let burst = sign_ins_for(slice * 2).await;
        rounds.push(burst.rps() / argon);
        sign_ins.push(burst);
        overviews_during.push(during.await.unwrap());
    }
    SignIn {
        // Equal slices: the mean of their rates is the rate over all of them.
        argon_floor: argon_rates / f64::from(slices),
        sign_in: Run::combine(sign_ins),
        overview_during: Run::combine(overviews_during),
        rounds,
    }
}
