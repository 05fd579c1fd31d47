//! `latchkey-bench`: measures the release server side by side with its floors, in one run.
//!
//! It seeds a fresh database through the app's own server code (one account, many users, each
//! with an authenticator whose secret the benchmark keeps), starts the release `server` binary on
//! it, drives it over HTTP from this process (same machine, same cores) and prints one table.
//! The load loops use a lean keep-alive HTTP/1.1 client (`http1`), one connection per worker as
//! `wrk` does; reqwest is kept for the one-off requests (start-up, asset sizes, the QR).
//! Ratios to a floor measured in the same run matter more than absolute numbers on a shared box;
//! each scenario with a floor takes turns with it in one-second slices.
//!
//! Environment: LATCHKEY_BENCH_SERVER (server binary), LEPTOS_SITE_ROOT (built site),
//! LATCHKEY_BENCH_PG (PostgreSQL URL, `none` to skip), LATCHKEY_BENCH_USERS (users per code
//! scenario, default 1000), LATCHKEY_BENCH_SECS (seconds per timed scenario, default 5).
//! `--write FILE` also writes the report as Markdown. `--seed-only` seeds a database, prints
//! how to start the server on it and every member's session cookie (one a line), and stops
//! (for profiling a page under `valgrind --tool=callgrind`, or loading it with `wrk`, one
//! cookie per connection as the bench sends them).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use app::server::{now, sessions, totp, two_factor, users, AppState};

mod http1;

const PW: &str = "correct horse battery staple";
const PAGE_CONNS: usize = 32;
const CODE_CONNS: usize = 64;
const NOTES_MARKER: &str = "<!-- notes: kept across runs -->";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

// ---------------------------------------------------------------- the server under test

struct Server {
    child: Child,
    base: String,
    /// Where the load loops connect (and their `Host` header).
    addr: SocketAddr,
    pid: u32,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server and returns it with the time until `/healthz` answered.
async fn start_server(
    bin: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    key: &str,
    http: &reqwest::Client,
) -> (Server, Duration) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(data_dir.join(format!("server-{port}.log"))).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--public-url")
        .arg(&base)
        .env("LATCHKEY_SECRET_KEY", key)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    let started = Instant::now();
    let child = cmd.spawn().expect("start the server binary");
    let pid = child.id();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = Server {
        child,
        base,
        addr,
        pid,
    };
    loop {
        if let Ok(r) = http.get(format!("{}/healthz", server.base)).send().await {
            if r.status().is_success() {
                return (server, started.elapsed());
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn peak_rss_mb(pid: u32) -> f64 {
    proc_status_mb(pid, "VmHWM:")
}

/// A memory line of /proc/<pid>/status, in MB.
fn proc_status_mb(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

// ---------------------------------------------------------------- seeding

struct Member {
    email: String,
    secret: Vec<u8>,
}

struct Seed {
    /// Verify with a valid code: one half-signed-in browser each, which sends its code twice at
    /// once (a double submit). A user has one half sign-in at a time: a second password sign-in
    /// ends the first.
    valid: Vec<(Member, String)>,
    /// Verify with wrong codes: one half-signed-in browser each.
    wrong: Vec<(Member, String)>,
    /// Signed-in sessions for the Overview.
    sessions: Vec<String>,
    /// The owner's session, with an enrollment pending (for the QR).
    owner_session: String,
}

async fn open(url: &str, data_dir: &Path, key: &str) -> AppState {
    let settings = server::Settings {
        database_url: Some(url.to_string()),
        data_dir: data_dir.to_path_buf(),
        max_connections: Some(8),
        secret_key: Some(key.to_string()),
        issuer: "Latchkey".into(),
        config: Default::default(),
        leptos_options: leptos::config::LeptosOptions::builder()
            .output_name("latchkey")
            .build(),
    };
    server::open_state(&settings)
        .await
        .expect("open the database")
}

/// One account with `2 * n` enrolled users, through the same functions the server runs.
async fn seed(state: &AppState, n: usize) -> Seed {
    use sqlx::Row;
    let hash = state.hasher.hash(PW.into()).await.unwrap();
    let (account_id, owner_id) = users::create_account(
        state,
        users::NewOwner {
            account_name: "Bench Inc",
            name: "Bench Owner",
            email: "owner@bench.example",
            password_hash: hash.clone(),
            client_addr: "bench",
        },
    )
    .await
    .unwrap();
    let mut members = Vec::new();
    for i in 0..2 * n {
        let email = format!("user{i}@bench.example");
        // Members added by the owner set their password through an invitation; the bench
        // gives them all the same Argon2 hash instead of hashing 2,000 times.
        let row = sqlx::query(
            "INSERT INTO users (account_id, name, email, role, password_hash, created_at) \
             VALUES ($1, $2, $3, 'admin', $4, $5) RETURNING id",
        )
        .bind(account_id)
        .bind(format!("User {i}"))
        .bind(&email)
        .bind(&hash)
        .bind(now())
        .fetch_one(&state.pool)
        .await
        .unwrap();
        let user_id: i64 = row.try_get(0).unwrap();
        let who = two_factor::Who {
            account_id,
            user_id,
            client_addr: "bench",
            holder: &[],
        };
        let start = two_factor::start_enrollment_for(state, who, false)
            .await
            .unwrap();
        let secret = totp::decode_setup_key(&start.setup_key).unwrap();
        let code = totp::code_for(&secret, now() as u64);
        two_factor::confirm_enrollment(state, who, &code, now(), false)
            .await
            .unwrap();
        members.push((user_id, Member { email, secret }));
    }
    let mut valid = Vec::new();
    let mut wrong = Vec::new();
    let mut sessions_out = Vec::new();
    let checked = |user_id| sessions::Checked {
        user_id,
        account_id,
        password_hash: &hash,
    };
    for (i, (user_id, m)) in members.into_iter().enumerate() {
        if i < n {
            if sessions_out.len() < PAGE_CONNS {
                sessions_out.push(
                    sessions::create(&state.pool, &state.config, user_id, "bench", true)
                        .await
                        .unwrap(),
                );
            }
            let p = sessions::create_pending(state, checked(user_id), false)
                .await
                .unwrap()
                .expect("the member exists");
            valid.push((m, p));
        } else {
            let p = sessions::create_pending(state, checked(user_id), false)
                .await
                .unwrap()
                .expect("the member exists");
            wrong.push((m, p));
        }
    }
    let owner_session = sessions::create(&state.pool, &state.config, owner_id, "bench", false)
        .await
        .unwrap();
    // The owner's pending enrollment, for the QR scenario: it belongs to that session.
    let holder = sessions::hash_token(&owner_session);
    let owner = two_factor::Who {
        account_id,
        user_id: owner_id,
        client_addr: "bench",
        holder: &holder,
    };
    two_factor::start_enrollment_for(state, owner, false)
        .await
        .unwrap();
    Seed {
        valid,
        wrong,
        sessions: sessions_out,
        owner_session,
    }
}

// ---------------------------------------------------------------- load

#[derive(Default)]
struct Run {
    latencies: Vec<Duration>,
    ok: usize,
    errors: usize,
    wall: Duration,
    /// When the run's clock started (scheduled runs).
    start: Option<Instant>,
    /// Scheduled runs only: the answers slower than [`SLOW`], in the order they were scheduled.
    slow: Vec<Slow>,
}

/// One answer slower than [`SLOW`] in a scheduled run.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Slow {
    /// Its scheduled moment, from the start of the run.
    at: Duration,
    /// The job's index: odd for the second request of a pair.
    job: usize,
}

/// The code check's p99 budget: an answer slower than this is listed in [`Run::slow`].
const SLOW: Duration = Duration::from_millis(5);

impl Run {
    fn merge(parts: Vec<(Vec<Duration>, usize, usize)>, wall: Duration) -> Run {
        let mut r = Run {
            wall,
            ..Default::default()
        };
        for (l, ok, err) in parts {
            r.latencies.extend(l);
            r.ok += ok;
            r.errors += err;
        }
        r.latencies.sort();
        r
    }
    /// One run from slices of the same scenario: their requests over their summed time.
    fn combine(runs: Vec<Run>) -> Run {
        let wall = runs.iter().map(|r| r.wall).sum();
        let mut all = Run {
            wall,
            ..Default::default()
        };
        for r in runs {
            all.latencies.extend(r.latencies);
            all.ok += r.ok;
            all.errors += r.errors;
        }
        all.latencies.sort();
        all
    }
    fn requests(&self) -> usize {
        self.latencies.len()
    }
    fn rps(&self) -> f64 {
        self.requests() as f64 / self.wall.as_secs_f64()
    }
    fn pct_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1].as_secs_f64() * 1000.0
    }
}

/// `n` connections, opened before a run's clock starts (as `wrk` does); one that fails to open
/// tries again at its first request, which then counts the handshake (or the error).
async fn open_conns(addr: SocketAddr, n: usize) -> Vec<http1::Conn> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = http1::Conn::new(addr);
        let _ = c.open().await;
        conns.push(c);
    }
    conns
}

/// `conns` connections, each sending its next request as soon as the last one answered: worker
/// `w` sends `reqs[w]`, `reqs[w + conns]`, … (wrapping), and an answer with `ok` counts as one.
/// An answer with `ok` and an empty body (a page or health check that sent nothing) is an error.
async fn closed_for(
    addr: SocketAddr,
    conns: usize,
    dur: Duration,
    reqs: Arc<Vec<Vec<u8>>>,
    ok: u16,
) -> Run {
    let opened = open_conns(addr, conns).await;
    let start = Instant::now();
    let end = start + dur;
    let mut tasks = Vec::new();
    for (w, mut conn) in opened.into_iter().enumerate() {
        let reqs = reqs.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut good, mut err) = (Vec::new(), 0, 0);
            let mut i = w;
            while Instant::now() < end {
                let t = Instant::now();
                match conn.send(&reqs[i % reqs.len()]).await {
                    Ok(a) if a.status == ok && a.body_len > 0 => good += 1,
                    _ => err += 1,
                }
                lat.push(t.elapsed());
                i += conns;
            }
            (lat, good, err)
        }));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.unwrap());
    }
    Run::merge(parts, start.elapsed())
}

/// Sends every job's request once over `conns` connections; `check` judges each answer's
/// status (0: no answer). With `rate` (requests/s) the jobs are sent on a fixed schedule (open
/// loop) and latency counts from the scheduled moment, so a slow answer cannot hide the queue
/// behind it; without, as fast as the connections allow.
async fn jobs<M, C>(
    addr: SocketAddr,
    conns: usize,
    rate: Option<f64>,
    jobs: Vec<(Vec<u8>, M)>,
    check: C,
) -> Run
where
    M: Send + Sync + 'static,
    C: Fn(&M, u16) -> bool + Clone + Send + Sync + 'static,
{
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let opened = open_conns(addr, conns).await;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in opened {
        let (jobs, next, check) = (jobs.clone(), next.clone(), check.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut ok, mut err) = (Vec::new(), 0, 0);
            let mut slow = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((req, meta)) = jobs.get(i) else {
                    break;
                };
                let t = match rate {
                    Some(r) => {
                        let at = start + Duration::from_secs_f64(i as f64 / r);
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    None => Instant::now(),
                };
                let status = conn.send(req).await.map(|a| a.status).unwrap_or(0);
                if check(meta, status) {
                    ok += 1
                } else {
                    err += 1
                }
                let took = t.elapsed();
                if rate.is_some() && took > SLOW {
                    slow.push(Slow {
                        at: t - start,
                        job: i,
                    });
                }
                lat.push(took);
            }
            ((lat, ok, err), slow)
        }));
    }
    let (mut parts, mut slow) = (Vec::new(), Vec::new());
    for t in tasks {
        let (part, s) = t.await.unwrap();
        parts.push(part);
        slow.extend(s);
    }
    let mut run = Run::merge(parts, start.elapsed());
    slow.sort();
    run.slow = slow;
    run.start = Some(start);
    run
}

/// When the answers over [`SLOW`] of a scheduled run were sent: "none", or each 100 ms window
/// of the run that holds any, as "+1.3 s: 4 (2nd of a pair 2, 20 ms stolen)", where the stolen
/// time is what the hypervisor gave other guests over that window, on all cores. Answers slow all
/// at once point at a stall of the machine or the database; with time stolen, at the host.
fn slow_windows(run: &Run, steal: &StealSamples) -> String {
    if run.slow.is_empty() {
        return "none".into();
    }
    const WINDOW: Duration = Duration::from_millis(100);
    // (window, answers, second of a pair)
    let mut windows: Vec<(u32, usize, usize)> = Vec::new();
    for slow in &run.slow {
        let w = (slow.at.as_millis() / WINDOW.as_millis()) as u32;
        let twin = slow.job % 2;
        match windows.last_mut() {
            Some((last, n, twins)) if *last == w => {
                *n += 1;
                *twins += twin;
            }
            _ => windows.push((w, 1, twin)),
        }
    }
    windows
        .iter()
        .map(|&(w, n, twins)| {
            let stolen = run.start.map_or(0, |start| {
                let from = start + WINDOW * w;
                steal.between(from, from + WINDOW)
            });
            format!(
                "+{:.1} s: {n} (2nd of a pair {twins}, {} ms stolen)",
                w as f64 / 10.0,
                stolen * 10
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The machine's stolen CPU ticks (/proc/stat), read every 10 ms by a thread of its own.
struct StealSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<StealSamples>,
}

/// (when, stolen ticks since boot), in time order.
#[derive(Default)]
struct StealSamples(Vec<(Instant, u64)>);

impl StealSampler {
    fn start() -> StealSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    samples.push((Instant::now(), machine_ticks()[STEAL]));
                    std::thread::sleep(Duration::from_millis(10));
                }
                samples.push((Instant::now(), machine_ticks()[STEAL]));
                StealSamples(samples)
            }
        });
        StealSampler { stop, thread }
    }

    fn finish(self) -> StealSamples {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

impl StealSamples {
    /// Ticks stolen from the last sample at or before `from` to the first at or after `to`:
    /// at least what was stolen over that span (0 outside the samples).
    fn between(&self, from: Instant, to: Instant) -> u64 {
        let first = self.0.iter().rev().find(|(t, _)| *t <= from);
        let last = self.0.iter().find(|(t, _)| *t >= to);
        match (first, last) {
            (Some((_, a)), Some((_, b))) => b.saturating_sub(*a),
            _ => 0,
        }
    }
}

async fn anonymous_get(server: &Server, path: &str, secs: Duration) -> Run {
    let req = http1::get(server.addr, path, None);
    closed_for(server.addr, PAGE_CONNS, secs, Arc::new(vec![req]), 200).await
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

// ---------------------------------------------------------------- scenarios

struct Row {
    scenario: String,
    conns: String,
    run: Run,
    floor_rps: Option<f64>,
}

struct CodeResult {
    capacity: Row,
    valid: Row,
    /// Where the CPU went during each of the two phases.
    capacity_cpu: CpuUse,
    valid_cpu: CpuUse,
    /// Stolen time over the valid phase, for [`slow_windows`].
    valid_steal: StealSamples,
    double_accepts: usize,
    accepted: usize,
    users: usize,
}

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
    let wrong_jobs: Vec<(Vec<u8>, ())> = seed
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
        capacity: Row {
            scenario: format!("code check, wrong codes, max rate ({label})"),
            conns: CODE_CONNS.to_string(),
            run: capacity,
            floor_rps: None,
        },
        valid: Row {
            scenario: format!("code check, valid fresh codes at {rate:.0}/s ({label})"),
            conns: CODE_CONNS.to_string(),
            run: valid,
            floor_rps: None,
        },
        capacity_cpu,
        valid_cpu,
        valid_steal,
        double_accepts,
        accepted: accepted.load(Ordering::Relaxed),
        users: seed.valid.len(),
    }
}

/// The code scenarios on a fresh PostgreSQL schema, seeded like the SQLite database.
async fn pg_code_scenarios(
    http: &reqwest::Client,
    pg: &str,
    bin: &Path,
    dir: &Path,
    key: &str,
    n: usize,
) -> CodeResult {
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
    let state = open(&url, &pg_dir, key).await;
    let seed_pg = seed(&state, n).await;
    state.pool.close().await;
    let (server, _) = start_server(bin, &pg_dir, Some(&url), key, http).await;
    let codes = code_scenarios(&server, &seed_pg, "PostgreSQL").await;
    drop(server);
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    codes
}

/// Raw Argon2id per second with the server's parameters on every core in this process: each
/// thread computes the hash of the seeded password into its own preallocated memory, the
/// fastest way Argon2 runs (no allocation, no parsing, no HTTP).
fn argon2_floor(hash: &str, dur: Duration) -> f64 {
    use argon2::{password_hash::PasswordHash, Algorithm, Argon2, Block, Params, Version};
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let start = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let hash = hash.to_string();
            std::thread::spawn(move || {
                let params = Params::new(19 * 1024, 2, 1, None).unwrap();
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

async fn get_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// Bytes of `/pkg/...` assets the sign-in page loads, as served with each encoding.
async fn first_load(http: &reqwest::Client, base: &str) -> Vec<(String, [usize; 3], String)> {
    let page = get_text(http, &format!("{base}/login")).await;
    let mut assets: Vec<String> = page
        .split('"')
        .filter(|s| s.starts_with("/pkg/"))
        .map(str::to_string)
        .collect();
    // Files the entry script imports itself (the lazy-route loader) load on every visit too.
    for js in assets.clone().iter().filter(|a| a.ends_with(".js")) {
        let text = get_text(http, &format!("{base}{js}")).await;
        for part in text.split(['"', '\'']) {
            if let Some(name) = part.strip_prefix("./").filter(|n| n.ends_with(".js")) {
                assets.push(format!("/pkg/{name}"));
            }
        }
    }
    assets.sort();
    assets.dedup();
    let mut out = Vec::new();
    for a in assets {
        let mut sizes = [0usize; 3];
        let mut cache = String::new();
        for (k, enc) in ["br", "gzip", "identity"].iter().enumerate() {
            let r = http
                .get(format!("{base}{a}"))
                .header("accept-encoding", *enc)
                .send()
                .await
                .unwrap();
            cache = r
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            sizes[k] = r.bytes().await.unwrap().len();
        }
        out.push((a, sizes, cache));
    }
    out
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

fn table(rows: &[&Row]) -> String {
    let mut s = String::from(
        "| scenario | conns | requests | req/s | p50 ms | p99 ms | errors | vs floor |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let ratio = r
            .floor_rps
            .map(|f| format!("{:.0} %", 100.0 * r.run.rps() / f))
            .unwrap_or_else(|| "–".into());
        s.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |\n",
            r.scenario,
            r.conns,
            r.run.requests(),
            r.run.rps(),
            r.run.pct_ms(0.5),
            r.run.pct_ms(0.99),
            r.run.errors,
            ratio
        ));
    }
    s
}

/// The machine, with the CPU's family, model and caches: machines of one kind differ in CPU
/// generation (an EPYC of family 25 or 26 both say "AMD EPYC"), and a page's rate follows its
/// code's fit in the caches as much as its instruction count.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(name))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
    };
    let mut cpu = field("model name").unwrap_or_else(|| "unknown CPU".into());
    if let (Some(family), Some(model)) = (field("cpu family"), field("model")) {
        cpu.push_str(&format!(", family {family} model {model}"));
    }
    let caches = cpu0_caches();
    if !caches.is_empty() {
        cpu.push_str(&format!("; caches per core {caches}"));
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem} RAM; load generator on the same machine")
}

/// CPU 0's caches from sysfs, as "L1d 48K, L1i 32K, L2 1024K, L3 32768K (shared by 2)".
fn cpu0_caches() -> String {
    let read = |dir: &Path, file: &str| {
        std::fs::read_to_string(dir.join(file))
            .map(|s| s.trim().to_string())
            .ok()
    };
    let mut out = Vec::new();
    for i in 0.. {
        let dir = PathBuf::from(format!("/sys/devices/system/cpu/cpu0/cache/index{i}"));
        let (Some(level), Some(kind), Some(size)) =
            (read(&dir, "level"), read(&dir, "type"), read(&dir, "size"))
        else {
            break;
        };
        let name = match kind.as_str() {
            "Data" => format!("L{level}d"),
            "Instruction" => format!("L{level}i"),
            _ => format!("L{level}"),
        };
        let shared = read(&dir, "shared_cpu_list")
            .filter(|l| l.contains(['-', ',']))
            .map(|l| format!(" (shared by cpus {l})"))
            .unwrap_or_default();
        out.push(format!("{name} {size}{shared}"));
    }
    out.join(", ")
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

/// All CPU time and the part of it the hypervisor gave to other guests ("steal"), in ticks
/// since boot, from the first line of /proc/stat.
fn cpu_ticks() -> (u64, u64) {
    let ticks = machine_ticks();
    (ticks.iter().sum(), ticks[STEAL])
}

/// User + system CPU ticks of one process, from /proc/PID/stat (0 once it is gone).
fn process_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces:
    // state is the first, utime the 12th and stime the 13th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    tick(11) + tick(12)
}

/// The CPU ticks of every PostgreSQL process on this machine, by pid.
fn postgres_ticks() -> Vec<(u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "postgres")
        })
        .map(|pid| (pid, process_ticks(pid)))
        .collect()
}

/// Where the machine's CPU time went over one phase, by process, in ticks.
struct CpuUse {
    server: u64,
    postgres: u64,
    bench: u64,
    /// All busy time of the machine (not idle, not I/O wait, not stolen), every process
    /// included.
    busy: u64,
    /// Time the hypervisor gave to other guests.
    steal: u64,
    /// All time of every core, busy or not.
    all: u64,
}

/// Counts CPU ticks from now until [`CpuMark::used`].
struct CpuMark {
    server_pid: u32,
    server: u64,
    postgres: Vec<(u32, u64)>,
    bench: u64,
    machine: [u64; 8],
}

/// The machine's CPU ticks since boot by kind (user, nice, system, idle, iowait, irq, softirq,
/// steal), from the first line of /proc/stat; 0 for a kind it does not show.
fn machine_ticks() -> [u64; 8] {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut ticks = [0; 8];
    let fields = stat.lines().next().unwrap_or_default().split_whitespace();
    for (tick, field) in ticks.iter_mut().zip(fields.skip(1)) {
        *tick = field.parse().unwrap_or(0);
    }
    ticks
}

/// Kinds of [`machine_ticks`] by index.
const IDLE: usize = 3;
const IOWAIT: usize = 4;
const STEAL: usize = 7;

impl CpuMark {
    fn now(server_pid: u32) -> CpuMark {
        CpuMark {
            server_pid,
            server: process_ticks(server_pid),
            postgres: postgres_ticks(),
            bench: process_ticks(std::process::id()),
            machine: machine_ticks(),
        }
    }

    fn used(&self) -> CpuUse {
        let before = |pid: u32| {
            self.postgres
                .iter()
                .find(|(p, _)| *p == pid)
                .map_or(0, |(_, t)| *t)
        };
        let postgres = postgres_ticks()
            .into_iter()
            .map(|(pid, t)| t.saturating_sub(before(pid)))
            .sum();
        let now = machine_ticks();
        let machine: [u64; 8] = std::array::from_fn(|i| now[i].saturating_sub(self.machine[i]));
        let all: u64 = machine.iter().sum();
        let (idle, steal) = (machine[IDLE] + machine[IOWAIT], machine[STEAL]);
        CpuUse {
            server: process_ticks(self.server_pid).saturating_sub(self.server),
            postgres,
            bench: process_ticks(std::process::id()).saturating_sub(self.bench),
            busy: all.saturating_sub(idle + steal),
            steal,
            all,
        }
    }
}

impl CpuUse {
    /// "server 0.41, PostgreSQL 0.95, load generator 0.12, the rest 0.05 ms of CPU per request;
    /// cores 80 % busy, 120 ms stolen", with ticks of 10 ms (`CLK_TCK` is 100 on Linux).
    fn per_request(&self, requests: usize) -> String {
        let ms = |ticks: u64| ticks as f64 * 10.0 / requests.max(1) as f64;
        let rest = self
            .busy
            .saturating_sub(self.server + self.postgres + self.bench);
        format!(
            "server {:.2}, PostgreSQL {:.2}, load generator {:.2}, the rest {:.2} ms of CPU per request; cores {:.0} % busy, {} ms stolen",
            ms(self.server),
            ms(self.postgres),
            ms(self.bench),
            ms(rest),
            100.0 * self.busy as f64 / self.all.max(1) as f64,
            self.steal * 10
        )
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    sqlx::any::install_default_drivers();
    let ticks_at_start = cpu_ticks();
    // `--codes-only`: seed, run the code-check scenarios on both databases, print, stop.
    let codes_only = std::env::args().any(|a| a == "--codes-only");
    let write_to = std::env::args()
        .skip_while(|a| a != "--write")
        .nth(1)
        .map(PathBuf::from);
    let target = env_or("CARGO_TARGET_DIR", "target");
    let bin = PathBuf::from(env_or(
        "LATCHKEY_BENCH_SERVER",
        &format!("{target}/release/server"),
    ));
    let n: usize = env_or("LATCHKEY_BENCH_USERS", "1000").parse().unwrap();
    let secs = Duration::from_secs(env_or("LATCHKEY_BENCH_SECS", "5").parse().unwrap());
    let pg = env_or(
        "LATCHKEY_BENCH_PG",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("latchkey-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    eprintln!(
        "seeding SQLite: 1 account, {} users with authenticators…",
        2 * n
    );
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.join("latchkey.db").display());
    let state = open(&sqlite_url, &dir, &key).await;
    let seed_data = seed(&state, n).await;
    let hash: String = {
        use sqlx::Row;
        sqlx::query("SELECT password_hash FROM users WHERE email = 'user0@bench.example'")
            .fetch_one(&state.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    state.pool.close().await;
    if std::env::args().any(|a| a == "--seed-only") {
        println!(
            "LATCHKEY_SECRET_KEY={key} server --data-dir {}",
            dir.display()
        );
        // One line per signed-in member, for a load tool that sends them in turn as the bench does.
        for s in &seed_data.sessions {
            println!("latchkey_session={s}");
        }
        return;
    }
    let (server, ready) = start_server(&bin, &dir, None, &key, &http).await;
    let base = server.base.clone();
    let mem = |phase: &str, pid: u32| {
        eprintln!(
            "  after {phase}: RSS {:.1} MB (heap and stacks {:.1}, code and files {:.1}), peak {:.1} MB",
            proc_status_mb(pid, "VmRSS:"),
            proc_status_mb(pid, "RssAnon:"),
            proc_status_mb(pid, "RssFile:"),
            proc_status_mb(pid, "VmHWM:")
        )
    };
    mem("start", server.pid);

    eprintln!("floor and pages…");
    // One Overview request per signed-in member, sent round-robin.
    let overview_reqs: Arc<Vec<Vec<u8>>> = Arc::new(
        seed_data
            .sessions
            .iter()
            .map(|s| http1::get(server.addr, "/", Some(&format!("latchkey_session={s}"))))
            .collect(),
    );
    let overview_for =
        |dur: Duration| closed_for(server.addr, PAGE_CONNS, dur, overview_reqs.clone(), 200);
    // With a query string the server renders each member's Overview anew instead of copying
    // the render it kept for them: leptos' full cost, with the same session lookup.
    let overview_rendered_reqs: Arc<Vec<Vec<u8>>> = Arc::new(
        seed_data
            .sessions
            .iter()
            .map(|s| {
                http1::get(
                    server.addr,
                    "/?from=bench",
                    Some(&format!("latchkey_session={s}")),
                )
            })
            .collect(),
    );
    // The floor and the pages take turns in one-second slices, so a slower stretch of this
    // shared machine falls on all three alike rather than on whichever ran then.
    let slices = secs.as_secs().max(1) as u32;
    let slice = secs / slices;
    let (mut floors, mut logins, mut overviews) = (Vec::new(), Vec::new(), Vec::new());
    let (mut logins_rendered, mut overviews_rendered) = (Vec::new(), Vec::new());
    for _ in 0..slices {
        floors.push(anonymous_get(&server, "/healthz", slice).await);
        logins.push(anonymous_get(&server, "/login", slice).await);
        // With a query string the server renders the sign-in page anew (as it does to show a
        // plain form post's error) instead of copying its first render: leptos' full cost.
        logins_rendered.push(anonymous_get(&server, "/login?from=bench", slice).await);
        overviews.push(overview_for(slice).await);
        overviews_rendered.push(
            closed_for(
                server.addr,
                PAGE_CONNS,
                slice,
                overview_rendered_reqs.clone(),
                200,
            )
            .await,
        );
    }
    // Each round's page rates over its own floor: how far one round is from another on this
    // machine, printed beside the ratios of the whole run.
    let round_ratios = |pages: &[Run]| -> Vec<f64> {
        pages
            .iter()
            .zip(&floors)
            .map(|(p, f)| p.rps() / f.rps())
            .collect()
    };
    let (login_rounds, overview_rounds) = (round_ratios(&logins), round_ratios(&overviews));
    let overview_rendered_rounds = round_ratios(&overviews_rendered);
    let (floor, login, login_rendered, overview, overview_rendered) = (
        Run::combine(floors),
        Run::combine(logins),
        Run::combine(logins_rendered),
        Run::combine(overviews),
        Run::combine(overviews_rendered),
    );
    let floor_rps = floor.rps();

    mem("pages", server.pid);
    eprintln!("code checks on SQLite…");
    let sqlite_codes = code_scenarios(&server, &seed_data, "SQLite").await;

    mem("code checks", server.pid);
    if codes_only {
        // For A/B runs of the code paths: the code scenarios alone, printed, nothing written.
        drop(server);
        let mut rows = vec![&sqlite_codes.capacity, &sqlite_codes.valid];
        let pg_codes = if pg != "none" {
            Some(pg_code_scenarios(&http, &pg, &bin, &dir, &key, n).await)
        } else {
            None
        };
        if let Some(p) = &pg_codes {
            rows.push(&p.capacity);
            rows.push(&p.valid);
        }
        print!("{}", table(&rows));
        for c in std::iter::once(&sqlite_codes).chain(&pg_codes) {
            let r = &c.valid.run;
            println!(
                "{}: {} of {} codes accepted once, {} accepted twice; p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2} ms",
                c.valid.scenario,
                c.accepted,
                c.users,
                c.double_accepts,
                r.pct_ms(0.9),
                r.pct_ms(0.99),
                r.pct_ms(0.999),
                r.pct_ms(1.0)
            );
            println!(
                "  wrong codes: {}",
                c.capacity_cpu.per_request(c.capacity.run.requests())
            );
            println!("  valid codes: {}", c.valid_cpu.per_request(r.requests()));
            println!(
                "  answers over 5 ms, by when they were sent: {}",
                slow_windows(r, &c.valid_steal)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    eprintln!("password sign-in and its floor…");
    let sign_in_reqs: Arc<Vec<Vec<u8>>> = Arc::new(
        seed_data
            .valid
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
    let (mut argon_rates, mut sign_ins, mut overviews_during) = (0.0, Vec::new(), Vec::new());
    let mut sign_in_rounds = Vec::new();
    for _ in 0..slices {
        let argon = argon2_floor(&hash, slice);
        argon_rates += argon;
        let during = overview_during_for(slice * 2);
        let burst = sign_ins_for(slice * 2).await;
        sign_in_rounds.push(burst.rps() / argon);
        sign_ins.push(burst);
        overviews_during.push(during.await.unwrap());
    }
    // Equal slices: the mean of their rates is the rate over all of them.
    let argon_floor = argon_rates / f64::from(slices);
    let sign_in = Run::combine(sign_ins);
    let overview_during = Run::combine(overviews_during);
    mem("sign-ins", server.pid);

    let assets = first_load(&http, &base).await;
    let qr = http
        .get(format!("{base}/two-factor/qr.svg"))
        .header(
            "cookie",
            format!("latchkey_session={}", seed_data.owner_session),
        )
        .send()
        .await
        .unwrap();
    let qr_status = qr.status().as_u16();
    let qr_len = qr.bytes().await.unwrap().len();
    let rss = peak_rss_mb(server.pid);
    drop(server);

    let pg_codes = if pg != "none" {
        Some(pg_code_scenarios(&http, &pg, &bin, &dir, &key, n).await)
    } else {
        None
    };

    // Ready to serve on the existing SQLite database.
    let (server, restart) = start_server(&bin, &dir, None, &key, &http).await;
    drop(server);
    let _ = ready;

    // ------------------------------------------------------------ report
    let row = |scenario: &str, conns: usize, run: Run, floor: Option<f64>| Row {
        scenario: scenario.into(),
        conns: conns.to_string(),
        run,
        floor_rps: floor,
    };
    let login_ratio = login.rps() / floor_rps;
    let overview_ratio = overview.rps() / floor_rps;
    let sign_in_ratio = sign_in.rps() / argon_floor;
    let floor_row = row("floor: `GET /healthz`", PAGE_CONNS, floor, None);
    let login_row = row(
        "sign-in page, anonymous (SSR once, then copied with a fresh nonce)",
        PAGE_CONNS,
        login,
        Some(floor_rps),
    );
    let login_rendered_row = row(
        "sign-in page with a query string, rendered anew each time",
        PAGE_CONNS,
        login_rendered,
        Some(floor_rps),
    );
    let overview_row = row(
        "Overview, signed in (SSR once per member, then copied with a fresh nonce)",
        PAGE_CONNS,
        overview,
        Some(floor_rps),
    );
    let overview_rendered_row = row(
        "Overview with a query string, rendered anew each time",
        PAGE_CONNS,
        overview_rendered,
        Some(floor_rps),
    );
    let sign_in_row = row("password sign-in (Argon2id)", 4, sign_in, Some(argon_floor));
    let during_row = row(
        "Overview at 50/s during the sign-in burst",
        8,
        overview_during,
        None,
    );
    let mut rows: Vec<&Row> = vec![
        &floor_row,
        &login_row,
        &login_rendered_row,
        &overview_row,
        &overview_rendered_row,
    ];
    rows.push(&sqlite_codes.capacity);
    rows.push(&sqlite_codes.valid);
    if let Some(p) = &pg_codes {
        rows.push(&p.capacity);
        rows.push(&p.valid);
    }
    rows.push(&sign_in_row);
    rows.push(&during_row);

    let mut out = String::new();
    out.push_str(&table(&rows));
    let spread = |ratios: &[f64]| {
        ratios
            .iter()
            .map(|r| format!("{:.0} %", r * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "\nEach round over its own floor ({} rounds): sign-in page {}; Overview {}; Overview rendered anew {}; password sign-in {}.\n",
        login_rounds.len(),
        spread(&login_rounds),
        spread(&overview_rounds),
        spread(&overview_rendered_rounds),
        spread(&sign_in_rounds)
    ));
    out.push_str(&format!(
        "\nSecond floor: raw Argon2id (m=19 MiB, t=2, p=1) on every core in this process: {argon_floor:.1} verifications/s.\n"
    ));
    // How much of the cores the host's other guests took meanwhile (a shared machine's noise).
    let ticks = cpu_ticks();
    let (all, stolen) = (ticks.0 - ticks_at_start.0, ticks.1 - ticks_at_start.1);
    out.push_str(&format!(
        "\nCPU time stolen by the hypervisor during the run (/proc/stat): {:.1} %.\n\n",
        100.0 * stolen as f64 / all.max(1) as f64
    ));
    // Where the cores went in the code checks: the server, PostgreSQL and this load generator
    // share them, so a tail that grows with the cores' load shows here.
    out.push_str("CPU per code check (/proc, 10 ms ticks):\n");
    for c in std::iter::once(&sqlite_codes).chain(pg_codes.as_ref()) {
        out.push_str(&format!(
            "- {}: {}.\n- {}: {}.\n",
            c.capacity.scenario,
            c.capacity_cpu.per_request(c.capacity.run.requests()),
            c.valid.scenario,
            c.valid_cpu.per_request(c.valid.run.requests())
        ));
    }
    out.push('\n');
    let (mut br, mut gz, mut id) = (0, 0, 0);
    out.push_str("| first-load asset | brotli | gzip | identity | Cache-Control |\n|---|---:|---:|---:|---|\n");
    for (a, s, cache) in &assets {
        out.push_str(&format!(
            "| `{a}` | {} | {} | {} | {cache} |\n",
            kb(s[0]),
            kb(s[1]),
            kb(s[2])
        ));
        br += s[0];
        gz += s[1];
        id += s[2];
    }
    out.push_str(&format!(
        "| **total** | **{}** | **{}** | **{}** | |\n\n",
        kb(br),
        kb(gz),
        kb(id)
    ));
    out.push_str(&format!(
        "Enrollment QR SVG: {qr_len} bytes (HTTP {qr_status}). Server peak RSS (VmHWM) over the SQLite scenarios: {rss:.1} MB. Ready to serve on the existing database: {:.0} ms after start.\n\n",
        restart.as_secs_f64() * 1000.0
    ));

    let codes_ok = |c: &CodeResult| {
        c.valid.run.pct_ms(0.99) <= 5.0
            && c.valid.run.errors == 0
            && c.capacity.run.errors == 0
            && c.double_accepts == 0
            && c.accepted == c.users
    };
    let mut budgets = vec![
        (
            format!(
                "sign-in page SSR ≥ 30 % of floor, no errors: {:.1} %",
                login_ratio * 100.0
            ),
            login_ratio >= 0.30 && login_row.run.errors == 0,
        ),
        (
            format!(
                "Overview SSR ≥ 20 % of floor, no errors: {:.1} % (rendered anew each time: {:.1} %)",
                overview_ratio * 100.0,
                overview_rendered_row.run.rps() / floor_rps * 100.0
            ),
            overview_ratio >= 0.20
                && overview_row.run.errors == 0
                && overview_rendered_row.run.errors == 0,
        ),
    ];
    for c in std::iter::once(&sqlite_codes).chain(pg_codes.as_ref()) {
        budgets.push((
            format!(
                "{}: p99 ≤ 5 ms, no errors, one acceptance per code: p99 {:.2} ms, {} errors, {} of {} codes accepted once, {} accepted twice",
                c.valid.scenario,
                c.valid.run.pct_ms(0.99),
                c.valid.run.errors + c.capacity.run.errors,
                c.accepted,
                c.users,
                c.double_accepts
            ),
            codes_ok(c),
        ));
    }
    budgets.extend([
        (
            format!(
                "password sign-in ≥ 90 % of raw Argon2id: {:.1} % (Overview p99 during the burst {:.1} ms)",
                sign_in_ratio * 100.0,
                during_row.run.pct_ms(0.99)
            ),
            sign_in_ratio >= 0.90 && sign_in_row.run.errors == 0,
        ),
        (
            format!("first load ≤ 200 KB brotli: {}", kb(br)),
            // A site that did not load (no wasm, script or stylesheet served) is not a small one.
            br <= 200 * 1024 && [".wasm", ".js", ".css"].iter().all(|ext| {
                assets
                    .iter()
                    .any(|(a, s, _)| a.ends_with(ext) && s.iter().all(|&n| n > 0))
            }),
        ),
        (format!("QR SVG ≤ 5 KB: {qr_len} bytes"), qr_status == 200 && qr_len <= 5 * 1024),
        (format!("peak RSS ≤ 60 MB: {rss:.1} MB"), rss <= 60.0),
        (
            format!("ready ≤ 1 s on an existing database: {:.0} ms", restart.as_secs_f64() * 1000.0),
            restart <= Duration::from_secs(1),
        ),
    ]);
    out.push_str("| budget | result |\n|---|---|\n");
    for (text, ok) in &budgets {
        out.push_str(&format!("| {text} | {} |\n", verdict(*ok)));
    }
    println!("{out}");
    if let Some(path) = write_to {
        let doc = format!(
            "# Benchmarks\n\nWritten by `scripts/bench.sh` (which runs `latchkey-bench`, `bench/src/main.rs`) on {}.\n\nMachine: {}.\n\n{out}",
            chrono_like_now(),
            machine()
        );
        // Hand-written analysis below the marker survives a new run.
        let notes = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| old.find(NOTES_MARKER).map(|i| old[i..].to_string()))
            .unwrap_or_else(|| format!("{NOTES_MARKER}\n"));
        std::fs::write(&path, format!("{doc}\n{notes}")).unwrap();
        eprintln!("wrote {}", path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `YYYY-MM-DD HH:MM UTC` without a date crate.
fn chrono_like_now() -> String {
    let t = now();
    let (days, rem) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_answers_are_grouped_by_100_ms_window_with_the_time_stolen_over_it() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let run = Run {
            start: Some(start),
            slow: vec![
                Slow {
                    at: ms(120),
                    job: 4,
                },
                Slow {
                    at: ms(150),
                    job: 5,
                },
                Slow {
                    at: ms(1310),
                    job: 40,
                },
            ],
            ..Default::default()
        };
        // 3 ticks stolen between 100 and 200 ms, none later.
        let steal = StealSamples(vec![
            (start, 10),
            (start + ms(100), 10),
            (start + ms(200), 13),
            (start + ms(1300), 13),
            (start + ms(1400), 13),
        ]);
        assert_eq!(
            slow_windows(&run, &steal),
            "+0.1 s: 2 (2nd of a pair 1, 30 ms stolen), +1.3 s: 1 (2nd of a pair 0, 0 ms stolen)"
        );
        assert_eq!(slow_windows(&Run::default(), &steal), "none");
    }

    #[test]
    fn cpu_per_request_leaves_stolen_time_out_of_busy() {
        let used = CpuUse {
            server: 10,
            postgres: 20,
            bench: 5,
            busy: 40,
            steal: 12,
            all: 100,
        };
        assert_eq!(
            used.per_request(100),
            "server 1.00, PostgreSQL 2.00, load generator 0.50, the rest 0.50 ms of CPU per request; cores 40 % busy, 120 ms stolen"
        );
    }
}
