//! The code-check scenarios, on SQLite and on PostgreSQL: wrong codes as fast as the
//! connections go (the capacity), then each valid fresh code sent twice at once on a schedule
//! (the latency budget, and exactly one acceptance per code).

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use app::server::{now, totp};

use crate::{
    http1,
    load::{jobs, StealSampler, StealSamples},
    machine::{CpuMark, CpuUse},
    report::Row,
    seed::{self, Seed},
    server::{self, Server},
    Config, CODE_CONNS,
};

pub struct CodeResult {
    pub capacity: Row,
    pub valid: Row,
    /// Where the CPU went during each of the two phases.
    pub capacity_cpu: CpuUse,
    pub valid_cpu: CpuUse,
    /// Stolen time over the valid phase, for [`crate::load::slow_windows`].
    pub valid_steal: StealSamples,
    pub double_accepts: usize,
    pub accepted: usize,
    pub users: usize,
    /// p99 of the unmeasured warm-up (a cold server), reported beside the budget's run.
    pub warm_up_p99_ms: f64,
}

impl CodeResult {
    /// The code check's budget: p99 ≤ 5 ms, no errors, every code accepted exactly once.
    pub fn ok(&self) -> bool {
        self.valid.run.pct_ms(0.99) <= 5.0
            && self.valid.run.errors == 0
            && self.capacity.run.errors == 0
            && self.double_accepts == 0
            && self.accepted == self.users
    }
}

fn form_code(code: &str) -> String {
    format!("code={code}")
}

/// A 6-digit code that is none of the three the server would accept right now.
fn wrong_code(secret: &[u8]) -> String {
    let t = now() as u64;
    let valid: Vec<String> = [t - 30, t, t + 30, t + 60]
        .iter()
        .map(|&s| totp::code_for(secret, s))
        .collect();
    let mut n: u32 = valid[1].parse().unwrap();
    loop {
        n = (n + 1) % 1_000_000;
        let c = format!("{n:06}");
        if !valid.contains(&c) {
            return c;
        }
    }
}

/// The code scenarios on the SQLite server the rest of the run uses.
pub async fn on_sqlite(server: &Server, seed: &Seed) -> CodeResult {
    eprintln!("code checks on SQLite…");
    code_scenarios(server, seed, "SQLite").await
}

/// Users of the wrong-code set whose valid codes warm the server up before the measured run.
pub const WARM_UP_USERS: usize = 2 * CODE_CONNS;

async fn code_scenarios(server: &Server, seed: &Seed, label: &str) -> CodeResult {
    let path = "/api/verify_sign_in";
    let post = |cookie: &str, code: &str| {
        http1::post_form(
            server.addr,
            path,
            &form_code(code),
            Some(&format!("latchkey_pending={cookie}")),
        )
    };
    // Wrong codes first, as fast as 64 connections go: the capacity of the code check.
    let wrong_jobs: Vec<(http1::Request, ())> = seed
        .wrong
        .iter()
        .flat_map(|(m, p)| {
            let req = post(p, &wrong_code(&m.secret));
            (0..4).map(move |_| (req.clone(), ()))
        })
        .collect();
    let mark = CpuMark::now(server.pid);
    let capacity = jobs(server.addr, CODE_CONNS, None, wrong_jobs, |_: &(), s| {
        s == 400
    })
    .await;
    let capacity_cpu = mark.used();
    // Valid fresh codes, each user's sent twice at once from its browser, on a schedule at a
    // third of the capacity: exactly one of each pair may pass.
    let rate = (capacity.rps() / 3.0).max(50.0);
    // Warm-up, unmeasured: valid codes of other users, in pairs at the same rate, so that the
    // measured run meets a server in its steady state. A fresh server's PostgreSQL connections
    // prepare each of the sign-in's statements on first use; without this the run's first
    // second held most of its answers over 5 ms.
    // The next step, as below: the seed enrolled these users moments ago, in this one perhaps.
    let t = now() as u64 + 30;
    let warm_jobs: Vec<(http1::Request, ())> = seed
        .wrong
        .iter()
        .take(WARM_UP_USERS)
        .flat_map(|(m, p)| {
            let req = post(p, &totp::code_for(&m.secret, t));
            [(req.clone(), ()), (req, ())]
        })
        .collect();
    let refused = Arc::new(std::sync::Mutex::new(Vec::new()));
    let warm = {
        let refused = refused.clone();
        jobs(
            server.addr,
            CODE_CONNS,
            Some(rate),
            warm_jobs,
            move |_: &(), s| {
                let ok = matches!(s, 200 | 400 | 401);
                if !ok {
                    refused.lock().unwrap().push(s);
                }
                ok
            },
        )
        .await
    };
    assert_eq!(
        warm.errors,
        0,
        "the warm-up's valid codes ({label}): {:?}",
        refused.lock().unwrap()
    );

    let accepted = Arc::new(AtomicUsize::new(0));
    let per_user: Arc<Vec<AtomicUsize>> =
        Arc::new((0..seed.valid.len()).map(|_| AtomicUsize::new(0)).collect());
    let step = now() as u64 + 30;
    let mut valid_jobs = Vec::new();
    for (u, (m, p)) in seed.valid.iter().enumerate() {
        let req = post(p, &totp::code_for(&m.secret, step));
        valid_jobs.push((req.clone(), u));
        valid_jobs.push((req, u));
    }
    let mark = CpuMark::now(server.pid);
    let sampler = StealSampler::start();
    let valid = {
        let (accepted, per_user) = (accepted.clone(), per_user.clone());
        jobs(
            server.addr,
            CODE_CONNS,
            Some(rate),
            valid_jobs,
            move |&u: &usize, status| match status {
                200 => {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    per_user[u].fetch_add(1, Ordering::Relaxed);
                    true
                }
                // The twin of an accepted code: refused as already used (400), or its
                // half-finished sign-in already ended by the twin's success (401).
                400 | 401 => true,
                _ => false,
            },
        )
        .await
    };
    let valid_cpu = mark.used();
    let valid_steal = sampler.finish();
    let double_accepts = per_user
        .iter()
        .filter(|n| n.load(Ordering::Relaxed) > 1)
        .count();
    CodeResult {
        capacity: Row::new(
            format!("code check, wrong codes, max rate ({label})"),
            CODE_CONNS,
            capacity,
            None,
        ),
        valid: Row::new(
            format!("code check, valid fresh codes at {rate:.0}/s ({label})"),
            CODE_CONNS,
            valid,
            None,
        ),
        capacity_cpu,
        valid_cpu,
        valid_steal,
        double_accepts,
        accepted: accepted.load(Ordering::Relaxed),
        users: seed.valid.len(),
        warm_up_p99_ms: warm.pct_ms(0.99),
    }
}

/// The code scenarios on a fresh PostgreSQL schema, seeded like the SQLite database; `None`
/// when `LATCHKEY_BENCH_PG` is `none`.
pub async fn on_postgres(config: &Config, http: &reqwest::Client) -> Option<CodeResult> {
    if config.pg == "none" {
        return None;
    }
    let (pg, dir, key) = (&config.pg, &config.dir, &config.key);
    eprintln!("code checks on PostgreSQL…");
    let schema = format!("bench_{}", std::process::id());
    let admin = sqlx::AnyPool::connect(pg)
        .await
        .expect("PostgreSQL (LATCHKEY_BENCH_PG)");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if pg.contains('?') { '&' } else { '?' };
    let url = format!("{pg}{sep}options=-c%20search_path%3D{schema}");
    let pg_dir = dir.join("pg");
    std::fs::create_dir_all(&pg_dir).unwrap();
    let state = seed::open(&url, &pg_dir, key).await;
    let seed_pg = seed::seed(&state, config.users).await;
    state.pool.close().await;
    let (server, _) = server::start(&config.bin, &pg_dir, Some(&url), key, http).await;
    let codes = code_scenarios(&server, &seed_pg, "PostgreSQL").await;
    drop(server);
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    Some(codes)
}
