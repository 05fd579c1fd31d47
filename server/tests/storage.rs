//! Storage plumbing: PostgreSQL connections that die while idle in the pool; routers built while
//! pages render; database settings the server refuses.

mod common;

use common::{Db, TestApp};
use http::StatusCode;

/// A server with one account whose owner is signed in.
async fn signed_up(db: Db) -> TestApp {
    let mut app = TestApp::spawn(db).await;
    let signed_up = app
        .sign_up("ann@example.com", "correct horse battery")
        .await;
    assert_eq!(signed_up.status, StatusCode::OK);
    app
}

/// The PostgreSQL server process behind a connection.
async fn backend_pid(conn: &mut sqlx::AnyConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// PostgreSQL connections are pinged before use only after a second idle (not on every
/// acquire): one that died while idle (server restart, a proxy's idle timeout) is replaced
/// before a request gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_while_idle_are_replaced() {
    use sqlx::Connection;
    let mut app = signed_up(Db::Postgres).await;
    assert_eq!(app.get("/").await.status, StatusCode::OK);
    // Every connection the pool holds, at once, and the server process behind each.
    let mut held = Vec::new();
    for _ in 0..app.state.pool.size() {
        held.push(app.state.pool.acquire().await.unwrap());
    }
    let mut pids: Vec<i32> = Vec::new();
    for conn in &mut held {
        pids.push(backend_pid(conn).await);
    }
    drop(held);
    assert!(!pids.is_empty());
    let mut admin = sqlx::PgConnection::connect(&common::pg_base_url())
        .await
        .unwrap();
    for pid in &pids {
        let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert!(ended, "terminate backend {pid}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // Every pooled connection is dead; signed-in pages still open.
    assert_eq!(app.get("/").await.status, StatusCode::OK);
    assert_eq!(app.get("/profile").await.status, StatusCode::OK);
}

/// Commits do not checkpoint SQLite's WAL (past a backstop of 10,000 pages); a task of its own
/// does, every 100 ms. Its work shows in the database file alone, without the WAL, within
/// moments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sign_ins_reach_the_database_file_through_the_checkpointer() {
    use app::server::{now, totp};
    use sqlx::Connection;
    let mut app = signed_up(Db::Sqlite).await;
    let inline: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(inline, 10_000, "commits leave the WAL to the checkpointer");
    let (secret, _) = app.enroll().await;
    let mut b = app.other_browser();
    b.sign_in("ann@example.com", "correct horse battery").await;
    let code = totp::code_for(&secret, now() as u64 + 30);
    let r = b.call("verify_sign_in", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    // The database file copied without its WAL: what the checkpoints put there, nothing else.
    let copy = std::env::temp_dir()
        .join("latchkey-tests")
        .join(format!("file-only-{}.db", std::process::id()));
    std::fs::copy(&file, &copy).unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    // Before any checkpoint the file holds not even the schema: the query fails.
    let signed_in: Result<i64, _> = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE event = 'sign_in.success' AND detail = 'password + authenticator code'",
    )
    .fetch_one(&mut conn)
    .await;
    assert_eq!(
        signed_in.ok(),
        Some(1),
        "the sign-in is in the database file"
    );
    conn.close().await.unwrap();
    let _ = std::fs::remove_file(&copy);
}

/// Pages keep ending while another router of the same process is built. leptos walks the app
/// for its route list with every resource's loading switched off by one process-wide flag: a
/// page rendered in that window waited forever on its resources (one run in ~30 of this file
/// hung so, as its tests build their routers side by side); the list is now walked once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_end_while_another_router_is_built() {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };
    /// Stops the builder however the test ends (the runtime waits for it before it can end).
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Relaxed);
        }
    }
    let mut app = signed_up(Db::Sqlite).await;
    let building = Arc::new(AtomicBool::new(true));
    let stop = StopOnDrop(building.clone());
    let builder = tokio::task::spawn_blocking({
        let state = app.state.clone();
        let building = building.clone();
        move || {
            let mut built = 0u32;
            while building.load(Ordering::Relaxed) {
                drop(server::router(state.clone()));
                built += 1;
            }
            built
        }
    });
    for i in 0..200 {
        let page = tokio::time::timeout(std::time::Duration::from_secs(10), app.get("/"))
            .await
            .unwrap_or_else(|_| panic!("the Overview (request {i}) did not end"));
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("protected by two-factor authentication"),
            "{}",
            page.body
        );
    }
    drop(stop);
    assert!(builder.await.unwrap() > 0);
}

/// A password sign-in ends every expired half sign-in, found through an index: a full read of
/// `pending_logins` on every sign-in grows with the number of people halfway through signing in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_half_sign_ins_reads_no_whole_table() {
    use sqlx::Row;
    let app = TestApp::spawn(Db::Sqlite).await;
    let plan = sqlx::query(&format!(
        "EXPLAIN QUERY PLAN {}",
        app::server::sessions::CLEAR_EXPIRED_PENDING
    ))
    .bind(0_i64)
    .fetch_all(&app.state.pool)
    .await
    .unwrap();
    let steps: Vec<String> = plan.iter().map(|r| r.get::<String, _>(3)).collect();
    assert!(
        steps.iter().any(|s| s.contains("pending_logins_expires")),
        "{steps:?}"
    );
    assert!(
        !steps.iter().any(|s| s.starts_with("SCAN")),
        "a step reads the whole table: {steps:?}"
    );
}

/// Database settings the server cannot run with stop it before it listens, with a message that
/// names the setting, and leave nothing behind: no data folder, no key file.
#[test]
fn unusable_database_settings_stop_the_server_with_a_clear_error() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--database-url", "mysql://127.0.0.1/test"],
            "DATABASE_URL must start with sqlite: or postgres:",
        ),
        (&["--db-connections", "0"], "--db-connections"),
        (&["--db-connections", "many"], "--db-connections"),
    ];
    for (args, says) in cases {
        let dir = common::process::scratch_dir("refused").join("data");
        let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .args(*args)
            .env_remove("DATABASE_URL")
            .env_remove("LATCHKEY_DB_CONNECTIONS")
            .env_remove("LATCHKEY_SECRET_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run the server binary");
        // Read stderr while waiting: a child that wrote more than the pipe holds would block.
        let mut pipe = server.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut pipe, &mut text).map(|_| text)
        });
        // A server that accepted the settings would serve until killed: give it 30 s to stop.
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = server.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > std::time::Duration::from_secs(30) {
                server.kill().unwrap();
                panic!("{args:?} was accepted: the server is still running after 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let stderr = reader.join().unwrap().unwrap();
        assert!(!status.success(), "{args:?} was accepted:\n{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
}

/// `--help` names the settings but shows no secret from the environment: the database URL can
/// hold a password, as the key is one.
#[test]
fn help_hides_the_database_password_and_the_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("--help")
        .env(
            "DATABASE_URL",
            "postgres://latchkey:hunter2-in-url@db.internal/latchkey",
        )
        .env(
            "LATCHKEY_SECRET_KEY",
            "a2V5LW5vYm9keS1zaG91bGQtc2VlLWluLWhlbHAtb3V0",
        )
        .output()
        .expect("run the server binary");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    assert!(help.contains("DATABASE_URL"), "{help}");
    assert!(!help.contains("hunter2-in-url"), "{help}");
    assert!(!help.contains("a2V5LW5vYm9keS1zaG91bGQ"), "{help}");
}
