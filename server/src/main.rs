//! `server`: runs the Latchkey console.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "server", version, about = "Runs the Latchkey console")]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "LATCHKEY_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Database URL (sqlite:… or postgres:…). Default: a SQLite file in the data folder.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Folder for the SQLite database and server keys.
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Database connections the instance holds (at least 1). Default: 4 on SQLite, 16 on
    /// PostgreSQL (half of them for the reads behind every request and the code sign-in).
    #[arg(long, env = "LATCHKEY_DB_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    db_connections: Option<u32>,
    /// Public URL of the console; https:// makes cookies Secure and __Host- prefixed. Its host
    /// is the passkeys' relying party: on an IP address, passkeys are off.
    #[arg(
        long,
        env = "LATCHKEY_PUBLIC_URL",
        default_value = "http://localhost:3000"
    )]
    public_url: String,
    /// Trust the last X-Forwarded-For hop as the client address (only behind your own proxy).
    #[arg(long, env = "LATCHKEY_TRUST_PROXY")]
    trust_proxy: bool,
    /// Server key (32 bytes, base64) that encrypts TOTP secrets; all instances must share it.
    /// Default: `secret.key` in the data folder, created on first run.
    #[arg(long, env = "LATCHKEY_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Issuer name that authenticator apps show.
    #[arg(long, env = "LATCHKEY_TOTP_ISSUER", default_value = "Latchkey")]
    totp_issuer: String,
    /// Serve Prometheus metrics at http://ADDR/metrics (off by default; keep ADDR private).
    #[arg(long, env = "LATCHKEY_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Sign-ups one client address may make in an hour before each further one waits (raise it
    /// when many people sign up from behind one address).
    #[arg(long, env = "LATCHKEY_SIGN_UPS_PER_ADDRESS", default_value_t = app::server::throttle::FREE_SIGN_UPS, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    sign_ups_per_address: i64,
    /// Test builds only: a request's `x-latchkey-clock-shift` header (seconds) shifts the clock
    /// it is served with. A production build (without the `test-clock` feature) refuses it.
    #[arg(long, hide = true)]
    test_clock: bool,
    /// SMTP relay for security mail: smtp://host[:25] (no TLS), smtps://host[:465] or
    /// smtp+starttls://host[:587], with user:password@ (percent-encoded) if it needs them.
    /// Without it no mail is sent.
    #[arg(
        long,
        env = "LATCHKEY_SMTP_URL",
        hide_env_values = true,
        requires = "mail_from"
    )]
    smtp_url: Option<String>,
    /// Sender of security mail, e.g. "Latchkey <no-reply@example.com>".
    #[arg(long, env = "LATCHKEY_MAIL_FROM", requires = "smtp_url")]
    mail_from: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "LATCHKEY_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Operator: reset a user's two-factor authentication (lost phone and recovery codes).
    /// Removes their authenticator, recovery codes and sessions, and prints a single-use setup
    /// link (24 hours) to hand over. Writes an audit event.
    ResetTwoFactor {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
    /// Operator: print a single-use password link (24 hours) for a user who forgot their
    /// password (also the owner's own way). Their current password works until it is used;
    /// signing in afterwards still asks for their second factor. Writes an audit event.
    ResetPassword {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
    /// Operator: lift the sign-in lock of an account that reached 100 failed password attempts
    /// (or is waiting out a delay). Writes nothing else.
    UnlockSignIn {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
}

/// mimalloc instead of glibc's malloc: a page render makes hundreds of small allocations, which
/// glibc served with more CPU and, for larger blocks, handed back to the kernel and
/// page-faulted in again (see BENCHMARKS.md). Built without its transparent
/// huge pages (`no_thp`): those made every touched arena region a 2 MiB resident page.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// SQLite's own allocations go through glibc's malloc (Rust's through mimalloc), and glibc gives
/// every thread that allocates an arena of its own: one per SQLite connection, each keeping
/// what it freed. One arena for them all: peak RSS 60.7 → 59.5 MB (BENCHMARKS.md).
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an option of glibc's allocator; it takes the allocator's lock.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[tokio::main]
async fn main() {
    one_malloc_arena();
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    if let Err(e) = run(cli).await {
        tracing::error!(error = %e, "server stopped");
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> server::anyhow_like::Result<()> {
    if cli.test_clock && !app::server::clock::AVAILABLE {
        return Err(
            "--test-clock is a test-only setting: this production build refuses it \
                    (build with the test-clock feature for browser tests)"
                .to_string()
                .into(),
        );
    }
    let mut leptos_options = leptos::config::get_config_from_env()?.leptos_options;
    leptos_options.site_addr = cli.listen;
    if !leptos_options.hash_files {
        // cargo-leptos writes the asset hashes next to the binary it built.
        leptos_options.hash_files = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|d| d.join(&*leptos_options.hash_file)))
            .is_some_and(|f| f.exists());
    }
    if leptos_options.output_name.is_empty() {
        // Built without cargo-leptos (e.g. `cargo build`): the asset names are still ours.
        leptos_options.output_name = "latchkey".into();
    }
    let config = app::server::config::Config {
        secure_cookies: cli.public_url.starts_with("https://"),
        public_origin: Some(app::server::config::origin_of(&cli.public_url)),
        trust_proxy: cli.trust_proxy,
        free_sign_ups: cli.sign_ups_per_address,
        test_clock: cli.test_clock,
        ..Default::default()
    };
    let settings = server::Settings {
        database_url: cli.database_url,
        data_dir: cli.data_dir,
        max_connections: cli.db_connections,
        secret_key: cli.secret_key,
        issuer: cli.totp_issuer,
        config,
        leptos_options,
        mail: cli
            .smtp_url
            .zip(cli.mail_from)
            .map(|(smtp_url, from)| server::MailSettings { smtp_url, from }),
    };
    let state = server::open_state(&settings).await?;
    match cli.command {
        Some(Command::ResetTwoFactor { email }) => {
            let link = server::operator_reset(&state, &email).await?;
            println!("Two-factor authentication of {email} was reset.");
            println!("Hand over this single-use setup link (valid 24 hours):");
            println!("{}{link}", cli.public_url.trim_end_matches('/'));
            return Ok(());
        }
        Some(Command::ResetPassword { email }) => {
            let link = server::operator_password_link(&state, &email).await?;
            println!("Hand over this single-use password link for {email} (valid 24 hours):");
            println!("{}{link}", cli.public_url.trim_end_matches('/'));
            return Ok(());
        }
        Some(Command::UnlockSignIn { email }) => {
            let email = app::domain::normalize_email(&email);
            let unlocked = app::server::throttle::unlock_account(&state, &email)
                .await
                .map_err(|e| e.to_string())?;
            if unlocked {
                println!("Sign-in of {email} is unlocked.");
            } else {
                println!("Sign-in of {email} was not locked.");
            }
            return Ok(());
        }
        None => {}
    }
    tracing::info!(backend = ?state.backend, "database ready");
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    app::server::purge::spawn(state.clone());
    app::server::mail::spawn(state.clone());
    let mut router = server::router(state.clone());
    if let Some(addr) = cli.metrics_listen {
        // Bound before the console starts: a taken address stops the server with its error.
        let metrics_listener = tokio::net::TcpListener::bind(addr).await?;
        let handle = server::metrics::install()?;
        let metrics = server::metrics::serve(metrics_listener, handle, state);
        tokio::spawn(async move {
            if let Err(e) = metrics.await {
                tracing::error!(error = %e, "metrics listener");
            }
        });
        router = router.layer(axum::middleware::from_fn(server::metrics::measure));
    }
    server::serve(listener, router).await?;
    Ok(())
}

fn init_tracing(json: bool) {
    use tracing_subscriber::{filter::Targets, fmt, prelude::*};
    // `RUST_LOG` as a level and `target=level` pairs ("info,sqlx=warn"): tracing-subscriber's
    // `Targets`, which needs no regex engine (an `EnvFilter` links one, +0.3 MB of server).
    const DEFAULT: &str = "info,sqlx=warn";
    let asked = std::env::var("RUST_LOG").ok();
    let filter = match asked.as_deref().map(str::parse::<Targets>) {
        Some(Ok(filter)) => filter,
        Some(Err(e)) => {
            eprintln!("RUST_LOG is not a level or target=level list ({e}): using {DEFAULT}");
            DEFAULT.parse().expect("the default filter parses")
        }
        None => DEFAULT.parse().expect("the default filter parses"),
    };
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(fmt::layer().json()).init();
    } else {
        registry.with(fmt::layer()).init();
    }
}
