//! Crashes lose nothing: the server is killed with SIGKILL in the middle of a burst of
//! sign-ups, sign-ins, enrollments and policy changes, restarted, and checked: every change that
//! answered success is there, no half-finished state exists, and SQLite's file is intact.

mod common;

use std::time::Duration;

use app::server::{now, totp};
use common::process::{client, new_secret_key, scratch_dir, sign_up_fields, Browser, Server};
use common::{fresh_database_url, Db};
use sqlx::Row;

const PW: &str = "correct horse battery";

/// What a request that answered 200 promised.
#[derive(Debug)]
enum Promise {
    Account(String),
    Enrolled(String),
    RequirementOn(String),
    Session(Browser),
}

/// One owner's run of the burst: each step only after the previous one answered.
async fn owner_story(
    http: reqwest::Client,
    base: String,
    email: String,
    kind: usize,
) -> Vec<Promise> {
    let mut done = Vec::new();
    let mut b = Browser::default();
    let Ok(r) = b
        .call(&http, &base, "sign_up", &sign_up_fields(&email, PW))
        .await
    else {
        return done;
    };
    if r.status != 200 {
        return done;
    }
    done.push(Promise::Account(email.clone()));
    // Half the owners enroll through the account requirement (enrollment and policy in one
    // transaction), the others enroll for themselves and then switch the requirement on.
    let start = if kind.is_multiple_of(2) {
        "start_requirement_enrollment"
    } else {
        "start_enrollment"
    };
    let Ok(r) = b.call(&http, &base, start, &[]).await else {
        return done;
    };
    if r.status != 200 {
        return done;
    }
    let secret = totp::decode_setup_key(r.json()["setup_key"].as_str().unwrap()).unwrap();
    let code = totp::code_for(&secret, now() as u64);
    let Ok(r) = b
        .call(&http, &base, "confirm_enrollment", &[("code", &code)])
        .await
    else {
        return done;
    };
    if r.status != 200 {
        return done;
    }
    done.push(Promise::Enrolled(email.clone()));
    if kind.is_multiple_of(2) {
        done.push(Promise::RequirementOn(email.clone()));
    } else {
        let code = totp::code_for(&secret, now() as u64 + 30);
        let Ok(r) = b
            .call(
                &http,
                &base,
                "set_account_requirement",
                &[("on", "true"), ("code", &code)],
            )
            .await
        else {
            return done;
        };
        if r.status == 200 {
            done.push(Promise::RequirementOn(email.clone()));
        }
    }
    done
}

/// Signs in a user who exists from an earlier round.
async fn sign_in_story(http: reqwest::Client, base: String, email: String) -> Vec<Promise> {
    let mut b = Browser::default();
    match b
        .call(
            &http,
            &base,
            "sign_in",
            &[("email", &email), ("password", PW)],
        )
        .await
    {
        Ok(r) if r.status == 200 && b.cookie("latchkey_session").is_some() => {
            vec![Promise::Session(b)]
        }
        _ => Vec::new(),
    }
}

async fn check(url: &str, base: &str, promises: &[Promise], sqlite: bool) -> usize {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let count = |sql: String| {
        let pool = pool.clone();
        async move {
            sqlx::query(&sql)
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get::<i64, _>(0)
                .unwrap()
        }
    };
    let http = client();
    for p in promises {
        match p {
            Promise::Account(e) => {
                assert_eq!(
                    count(format!("SELECT COUNT(*) FROM users WHERE email = '{e}'")).await,
                    1,
                    "{p:?}"
                )
            }
            Promise::Enrolled(e) => {
                let q = format!(
                    "SELECT COUNT(*) FROM authenticators a JOIN users u ON u.id = a.user_id \
                     WHERE u.email = '{e}' AND u.tfa_on = 1"
                );
                assert_eq!(count(q).await, 1, "{p:?}");
            }
            Promise::RequirementOn(e) => {
                let q = format!(
                    "SELECT COUNT(*) FROM accounts c JOIN users u ON u.account_id = c.id \
                     WHERE u.email = '{e}' AND c.require_2fa = 1"
                );
                assert_eq!(count(q).await, 1, "{p:?}");
            }
            Promise::Session(b) => {
                let r = b
                    .clone()
                    .call(&http, base, "current_user", &[])
                    .await
                    .unwrap();
                assert_eq!(r.status, 200, "a session that was handed out is gone");
            }
        }
    }
    // Nothing half-finished: no requirement without the owner's authenticator, no
    // authenticator without its recovery codes.
    let q = "SELECT COUNT(*) FROM accounts c JOIN users u ON u.account_id = c.id AND u.role = 'owner' \
             WHERE c.require_2fa = 1 AND NOT EXISTS (SELECT 1 FROM authenticators a WHERE a.user_id = u.id)";
    assert_eq!(
        count(q.into()).await,
        0,
        "requirement on without the owner enrolled"
    );
    let q = "SELECT COUNT(*) FROM authenticators a \
             WHERE (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = a.user_id) <> 10";
    assert_eq!(
        count(q.into()).await,
        0,
        "an authenticator without its 10 recovery codes"
    );
    let q = "SELECT COUNT(*) FROM users u WHERE u.tfa_on = 1 AND u.tfa_source = 'self' \
             AND NOT EXISTS (SELECT 1 FROM authenticators a WHERE a.user_id = u.id)";
    assert_eq!(
        count(q.into()).await,
        0,
        "2FA switched on by the user without an authenticator"
    );
    if sqlite {
        let row = sqlx::query("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.try_get::<String, _>(0).unwrap(), "ok");
    }
    pool.close().await;
    promises.len()
}

async fn crash_rounds(db: Db, rounds: usize) {
    sqlx::any::install_default_drivers();
    let dir = scratch_dir("crash");
    let (url, server_url) = match db {
        Db::Sqlite => {
            let file = dir.join("latchkey.db");
            (format!("sqlite://{}?mode=rw", file.display()), None)
        }
        Db::Postgres => {
            let url = fresh_database_url(Db::Postgres).await;
            (url.clone(), Some(url))
        }
    };
    let key = new_secret_key();
    let http = client();
    let mut all: Vec<Promise> = Vec::new();
    let mut kept = 0;
    for round in 0..rounds {
        let mut server = Server::start(server_url.as_deref(), &dir, &key).await;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let email = format!("r{round}-owner{i}@example.com");
            tasks.push(tokio::spawn(owner_story(
                http.clone(),
                server.base.clone(),
                email,
                i,
            )));
        }
        let earlier: Vec<String> = all
            .iter()
            .filter_map(|p| match p {
                Promise::Account(e) => Some(e.clone()),
                _ => None,
            })
            .take(4)
            .collect();
        for email in earlier {
            tasks.push(tokio::spawn(sign_in_story(
                http.clone(),
                server.base.clone(),
                email,
            )));
        }
        // Kill it while the burst is under way: a different moment each round.
        tokio::time::sleep(Duration::from_millis(300 + 400 * round as u64)).await;
        server.kill();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let restarted = Server::start(server_url.as_deref(), &dir, &key).await;
        kept = check(&url, &restarted.base, &all, matches!(db, Db::Sqlite)).await;
        drop(restarted);
    }
    let mut secrets = vec![PW.to_string()];
    for p in &all {
        if let Promise::Session(b) = p {
            secrets.extend(b.cookies.iter().map(|(_, v)| v.clone()));
        }
    }
    let logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    common::process::assert_logs_free_of(&logs, &secrets);
    eprintln!("{db:?}: {rounds} SIGKILLs, {kept} promised changes all found after restart");
    assert!(kept > 0, "the burst never got a success in before the kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_loses_nothing_sqlite() {
    crash_rounds(Db::Sqlite, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_loses_nothing_postgres() {
    crash_rounds(Db::Postgres, 3).await;
}

/// A stop (SIGTERM) lets a change under way end and commit; one that cannot end within the
/// grace of 10 s is given up and rolled back, and the process still stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_changes_end_then_gives_up() {
    sqlx::any::install_default_drivers();
    let dir = scratch_dir("stop");
    let url = fresh_database_url(Db::Postgres).await;
    let db = sqlx::AnyPool::connect(&url).await.unwrap();
    let http = client();
    let added = |email: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE email = $1")
                .bind(email)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    for (email, past_grace) in [("eve@example.com", false), ("ivy@example.com", true)] {
        let mut server = Server::start(Some(&url), &dir, &new_secret_key()).await;
        let mut owner = Browser::default();
        let owner_email = format!("owner-{email}");
        let r = owner
            .call(
                &http,
                &server.base,
                "sign_up",
                &sign_up_fields(&owner_email, PW),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        // New users wait for the table: the change is under way when the stop comes.
        let mut hold = db.begin().await.unwrap();
        sqlx::query("LOCK TABLE users IN SHARE MODE")
            .execute(&mut *hold)
            .await
            .unwrap();
        let adding = {
            let (http, base, mut owner) = (http.clone(), server.base.clone(), owner.clone());
            tokio::spawn(async move {
                let fields = [("name", "New"), ("email", email), ("two_factor", "false")];
                owner.call(&http, &base, "add_user", &fields).await
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stopped_at = std::time::Instant::now();
        server.terminate();
        assert!(
            server.exited(Duration::from_millis(500)).await.is_none(),
            "the server stopped with a change under way"
        );
        if !past_grace {
            // Within the grace: it ends, is answered and is there; then the process stops.
            tokio::time::sleep(Duration::from_secs(1)).await;
            hold.rollback().await.unwrap();
            let status = server.exited(Duration::from_secs(15)).await;
            assert!(status.is_some_and(|s| s.success()), "{status:?}");
            assert_eq!(adding.await.unwrap().unwrap().status, 200);
            assert_eq!(added(email).await, 1);
        } else {
            // Past it: the process stops at the grace with the change still waiting, which
            // rolls back.
            let status = server.exited(Duration::from_secs(13)).await;
            let took = stopped_at.elapsed();
            assert!(status.is_some_and(|s| s.success()), "{status:?}");
            assert!(took >= Duration::from_secs(9), "stopped after {took:?}");
            hold.rollback().await.unwrap();
            let answer = adding.await.unwrap();
            assert!(
                answer.is_err_and(|e| !e.is_timeout()),
                "answered after the stop"
            );
            assert_eq!(added(email).await, 0);
        }
    }
}
