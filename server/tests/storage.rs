//! Storage plumbing: the hot-path read helper (`app::server::read`: SQLite reads on the calling
//! thread, PostgreSQL through sqlx — the same answers either way) and PostgreSQL connections
//! that die while idle in the pool; routers built while pages render; database settings the
//! server refuses.

mod common;

use app::{
    domain::AppError,
    server::{
        pg_direct::{Lease, PgDirect},
        read::{fetch_all, fetch_optional, Arg},
    },
};
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

on_both!(numbered_parameters_bind_by_number, |db: Db| async move {
    let app = TestApp::spawn(db).await;
    assert_eq!(
        app.state.reader.is_some(),
        matches!(db, Db::Sqlite),
        "SQLite files read on the calling thread, PostgreSQL through the pool"
    );
    // `$2` before `$1`, and `$1` twice: each binds its own argument.
    let got = fetch_optional(
        &app.state,
        "SELECT $2 - $1 AS d, $1 + $1 AS twice, CAST(octet_length($3) AS BIGINT) AS n",
        &[Arg::Int(1), Arg::Int(10), Arg::Blob(&[7, 0, 7])],
        |row| Ok((row.int("d")?, row.int("twice")?, row.int("n")?)),
    )
    .await
    .unwrap();
    assert_eq!(got, Some((9, 2, 3)));
    let none = fetch_optional(
        &app.state,
        "SELECT id FROM users WHERE id = $1",
        &[Arg::Int(42)],
        |row| row.int("id"),
    )
    .await
    .unwrap();
    assert_eq!(none, None);
    let all = fetch_all(
        &app.state,
        "SELECT CAST(column1 AS BIGINT) AS x FROM (VALUES (3), (1), (2), (5)) AS v \
         WHERE column1 >= $1 ORDER BY column1",
        &[Arg::Int(2)],
        |row| row.int("x"),
    )
    .await
    .unwrap();
    assert_eq!(all, vec![2, 3, 5], "every row, in order");
    // Columns by name, in any order, on every row; a name the query has not is an error.
    let pairs = fetch_all(
        &app.state,
        "SELECT CAST(column1 AS BIGINT) AS a, CAST(column1 * 10 AS BIGINT) AS b \
         FROM (VALUES (1), (2)) AS v ORDER BY column1",
        &[],
        |row| Ok((row.int("b")?, row.int("a")?)),
    )
    .await
    .unwrap();
    assert_eq!(pairs, vec![(10, 1), (20, 2)]);
    let missing = fetch_optional(&app.state, "SELECT 1 AS a", &[], |row| row.int("c")).await;
    assert!(matches!(missing, Err(AppError::Internal)), "{missing:?}");
    // Too few arguments for the statement is an error, not a silently unbound NULL.
    let unbound = fetch_optional(&app.state, "SELECT $2 AS x", &[Arg::Int(1)], |row| {
        row.int("x")
    })
    .await;
    assert!(matches!(unbound, Err(AppError::Internal)), "{unbound:?}");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_connections_cannot_write() {
    let mut app = signed_up(Db::Sqlite).await;
    let deleted = fetch_optional(
        &app.state,
        "DELETE FROM sessions WHERE user_id = $1 RETURNING user_id",
        &[Arg::Int(1)],
        |row| row.int("user_id"),
    )
    .await;
    assert!(matches!(deleted, Err(AppError::Internal)), "{deleted:?}");
    // The session is still there: the signed-in page still opens.
    assert_eq!(app.get("/").await.status, StatusCode::OK);
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
/// before a request gets it, in sqlx's pool and in the hot path's own set.
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
    // And every connection of the hot path's own set (`pg_direct`), given back after use.
    let direct = app
        .state
        .pg_direct
        .as_ref()
        .expect("PostgreSQL has the direct set");
    let mut leases = lease_all_idle(direct).await;
    assert!(!leases.is_empty(), "the page's reads used the direct set");
    for lease in &mut leases {
        pids.push(backend_pid(lease.conn()).await);
    }
    for lease in leases {
        lease.release();
    }
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

/// A hot-path PostgreSQL connection goes back to its set only when its user says its query
/// finished: one whose request was dropped half-way (its lease dropped) is closed, so no later
/// request can get a connection in the middle of someone else's exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_direct_connections_return_only_when_released() {
    let app = signed_up(Db::Postgres).await;
    let direct = app
        .state
        .pg_direct
        .as_ref()
        .expect("PostgreSQL has the direct set");
    // A query on a leased connection, which then goes back.
    let select = |n: i32| async move {
        let mut lease = direct.acquire().await.unwrap();
        let got: i32 = sqlx::query_scalar(&format!("SELECT {n}"))
            .fetch_one(lease.conn())
            .await
            .unwrap();
        lease.release();
        got
    };
    let before = direct.idle_count();
    assert_eq!(select(1).await, 1);
    let after_release = direct.idle_count();
    assert_eq!(after_release, before.max(1));
    // A query abandoned mid-way: its lease is dropped, the connection with it.
    let mut lease = direct.acquire().await.unwrap();
    assert_eq!(direct.idle_count(), after_release - 1);
    let abandoned = sqlx::query("SELECT pg_sleep(5)").execute(lease.conn());
    let _ = tokio::time::timeout(std::time::Duration::from_millis(50), abandoned).await;
    drop(lease);
    assert_eq!(direct.idle_count(), after_release - 1);
    // The next lease works on a connection that is in a clean state.
    assert_eq!(select(2).await, 2);
}

/// Every idle connection of the direct set, leased, so that the next lease opens a new one.
async fn lease_all_idle(direct: &PgDirect) -> Vec<Lease<'_>> {
    let mut leases = Vec::new();
    for _ in 0..direct.idle_count() {
        leases.push(direct.acquire().await.unwrap());
    }
    leases
}

/// Writes do not checkpoint SQLite's WAL on their commits; a thread of its
/// own does. Its work shows in the database file alone, without the WAL, within moments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sign_ins_reach_the_database_file_without_a_writer_checkpointing() {
    use app::server::{now, totp};
    use sqlx::Connection;
    let mut app = signed_up(Db::Sqlite).await;
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
        assert!(page.body.contains("users are protected"), "{}", page.body);
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
