//! `latchkey-bench`: measures the release server side by side with its floors, in one run.
//!
//! It seeds a fresh database through the app's own server code (one account, many users, each
//! with an authenticator whose secret the benchmark keeps), starts the release `server` binary on
//! it, drives it over HTTP from this process (same machine, same cores) and prints one table.
//! The load loops use hyper's HTTP/1.1 client connection (`http1`), one keep-alive connection
//! per worker as `wrk` does; reqwest is kept for the one-off requests (start-up, asset sizes,
//! the QR). Ratios to a floor measured in the same run matter more than absolute numbers on a
//! shared box; each scenario with a floor takes turns with it in one-second slices.
//!
//! Environment: LATCHKEY_BENCH_SERVER (server binary), LEPTOS_SITE_ROOT (built site),
//! LATCHKEY_BENCH_PG (PostgreSQL URL, `none` to skip), LATCHKEY_BENCH_USERS (users per code
//! scenario, default 1000), LATCHKEY_BENCH_SECS (seconds per timed scenario, default 5).
//! `--write FILE` also writes the report as Markdown. `--seed-only` seeds a database, prints
//! how to start the server on it and every member's session cookie (one a line), and stops
//! (for profiling a page under `valgrind --tool=callgrind`, or loading it with `wrk`, one
//! cookie per connection as the bench sends them). `--codes-only` seeds, runs the code-check
//! scenarios on both databases, prints them and stops.

use std::{path::PathBuf, time::Duration};

mod codes;
mod first_load;
mod http1;
mod load;
mod machine;
mod pages;
mod report;
mod seed;
mod server;
mod sign_in;

const PW: &str = "correct horse battery staple";
const PAGE_CONNS: usize = 32;
const CODE_CONNS: usize = 64;

/// What to run, from the command line and the environment.
struct Config {
    codes_only: bool,
    seed_only: bool,
    write_to: Option<PathBuf>,
    /// The release server binary.
    bin: PathBuf,
    /// Users per code scenario (twice as many are seeded).
    users: usize,
    /// Seconds per timed scenario.
    secs: Duration,
    /// PostgreSQL URL, or `none`.
    pg: String,
    /// The server's secret key, fresh for each run.
    key: String,
    /// The run's data directory (SQLite database, server logs).
    dir: PathBuf,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

impl Config {
    fn from_args_and_env() -> Config {
        let target = env_or("CARGO_TARGET_DIR", "target");
        Config {
            codes_only: std::env::args().any(|a| a == "--codes-only"),
            seed_only: std::env::args().any(|a| a == "--seed-only"),
            write_to: std::env::args()
                .skip_while(|a| a != "--write")
                .nth(1)
                .map(PathBuf::from),
            bin: PathBuf::from(env_or(
                "LATCHKEY_BENCH_SERVER",
                &format!("{target}/release/server"),
            )),
            users: env_or("LATCHKEY_BENCH_USERS", "1000").parse().unwrap(),
            secs: Duration::from_secs(env_or("LATCHKEY_BENCH_SECS", "5").parse().unwrap()),
            pg: env_or(
                "LATCHKEY_BENCH_PG",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
            key: {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
            },
            dir: std::env::temp_dir().join(format!("latchkey-bench-{}", std::process::id())),
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    sqlx::any::install_default_drivers();
    let ticks_at_start = machine::cpu_ticks();
    let config = Config::from_args_and_env();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    std::fs::create_dir_all(&config.dir).unwrap();

    let (seeded, password_hash) = seed::sqlite(&config.dir, &config.key, config.users).await;
    if config.seed_only {
        seed::print_for_other_tools(&seeded, &config.key, &config.dir);
        return;
    }
    let (server, _) = server::start(&config.bin, &config.dir, None, &config.key, &http).await;
    server.print_memory("start");

    let pages = pages::run(&server, &seeded.sessions, config.secs).await;
    server.print_memory("pages");

    let sqlite_codes = codes::on_sqlite(&server, &seeded).await;
    server.print_memory("code checks");
    if config.codes_only {
        // For A/B runs of the code paths: the code scenarios alone, printed, nothing written.
        drop(server);
        let pg_codes = codes::on_postgres(&config, &http).await;
        report::print_codes_only(&sqlite_codes, pg_codes.as_ref());
        let _ = std::fs::remove_dir_all(&config.dir);
        return;
    }

    let sign_in = sign_in::run(&server, &seeded, &password_hash, config.secs).await;
    server.print_memory("sign-ins");

    let first_load = first_load::run(&http, &server, &seeded.owner_session).await;
    let peak_rss = server.peak_rss_mb();
    drop(server);

    let pg_codes = codes::on_postgres(&config, &http).await;

    // Ready to serve on the existing SQLite database.
    let (server, restart) = server::start(&config.bin, &config.dir, None, &config.key, &http).await;
    drop(server);

    let out = report::render(report::Results {
        pages,
        sqlite_codes,
        pg_codes,
        sign_in,
        first_load,
        peak_rss,
        restart,
        ticks_at_start,
    });
    println!("{out}");
    if let Some(path) = &config.write_to {
        report::write(path, &out);
    }
    let _ = std::fs::remove_dir_all(&config.dir);
}
