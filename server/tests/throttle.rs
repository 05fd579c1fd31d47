//! Brute force at the door: password sign-in throttled per account, per client address and per
//! remembered device. Waiting is simulated by moving `blocked_until` into the past.

mod common;

use common::{Db, TestApp};
use http::StatusCode;

const PW: &str = "correct horse battery";

async fn wait_out_delays(app: &TestApp) {
    sqlx::query("UPDATE sign_in_throttle SET blocked_until = 0")
        .execute(&app.state.pool)
        .await
        .unwrap();
}

async fn attempts(app: &TestApp, scope: &str, subject: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT attempts FROM sign_in_throttle WHERE scope = $1 AND subject = $2")
        .bind(scope)
        .bind(subject)
        .fetch_optional(&app.state.pool)
        .await
        .unwrap()
        .map(|r| r.try_get::<i64, _>(0).unwrap())
        .unwrap_or(0)
}

fn err(r: &common::Resp) -> app::domain::AppError {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("{} {}", r.status, r.body))
}

on_both!(
    after_five_failures_each_attempt_waits_longer,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let mut stranger = app.other_browser();
        for _ in 0..5 {
            let r = stranger.sign_in("ann@example.com", "wrong password").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        // The sixth and later are still checked, but each starts a delay (1 s, 2 s, ...).
        for _ in 0..2 {
            let r = stranger.sign_in("ann@example.com", "wrong password").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            wait_out_delays(&app).await;
        }
        let r = stranger.sign_in("ann@example.com", "wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let mut waits = Vec::new();
        for _ in 0..4 {
            // Even the right password is not checked while the delay runs, and the refused
            // attempt counts against nobody: not the address, whose count came first.
            // (This test's one browser has one address.)
            const ADDR_COUNT: &str =
                "SELECT COALESCE(MAX(attempts), 0) FROM sign_in_throttle WHERE scope = 'addr'";
            let addr_before = app.count(ADDR_COUNT).await;
            assert!(addr_before > 0);
            let r = stranger.sign_in("ann@example.com", PW).await;
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
            assert_eq!(app.count(ADDR_COUNT).await, addr_before);
            let app::domain::AppError::TooManyRequests { retry_after_secs } = err(&r) else {
                panic!("{}", r.body)
            };
            waits.push(retry_after_secs);
            wait_out_delays(&app).await;
            let r = stranger.sign_in("ann@example.com", "wrong password").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        assert!(stranger.cookie.is_none() && stranger.pending.is_none());
        // Attempts 8..=11 wait 4, 8, 16, 32 s (a second less if the clock ticked in between).
        for (wait, expected) in waits.iter().zip([4u64, 8, 16, 32]) {
            assert!(*wait == expected || *wait + 1 == expected, "{waits:?}");
        }
        // Emails are compared normalized, and unknown emails are throttled the same way, so the
        // answer never tells whether an account exists.
        let r = stranger.sign_in("  ANN@example.com ", PW).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        // Seven counted attempts: the seventh starts a 2 s delay (times are whole seconds, so a
        // 1 s delay could end a moment after it began and make the next check a coin toss).
        for _ in 0..7 {
            wait_out_delays(&app).await;
            stranger
                .sign_in("nobody@example.com", "wrong password")
                .await;
        }
        let r = stranger
            .sign_in("nobody@example.com", "wrong password")
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        // After the wait the right password works and the count starts over.
        wait_out_delays(&app).await;
        const SIGN_IN_ADDR: &str = "SELECT COALESCE(MAX(attempts), 0) FROM sign_in_throttle \
             WHERE scope = 'addr'";
        let by_addr = app.count(SIGN_IN_ADDR).await;
        assert!(by_addr > 0, "the address's attempts are counted");
        let r = stranger.sign_in("ann@example.com", PW).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(attempts(&app, "account", "ann@example.com").await, 0);
        assert_eq!(
            app.count(SIGN_IN_ADDR).await,
            by_addr,
            "the account starts over; the address keeps its failures"
        );
    }
);

on_both!(
    never_more_than_100_failures_yet_the_user_keeps_their_browser,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        assert!(
            app.device.is_some(),
            "a completed sign-in remembers the browser"
        );
        app.call("sign_out", &[]).await;
        let mut stranger = app.other_browser();
        let mut checked = 0;
        for _ in 0..130 {
            wait_out_delays(&app).await;
            let r = stranger.sign_in("ann@example.com", "guess").await;
            match r.status {
                StatusCode::UNAUTHORIZED => checked += 1,
                StatusCode::FORBIDDEN => {
                    assert_eq!(err(&r).to_string(), app::server::throttle::LOCKED_MESSAGE)
                }
                s => panic!("{s} {}", r.body),
            }
        }
        assert_eq!(checked, 100, "exactly 100 passwords were checked");
        // Locked for browsers the user never signed in with, even with the right password...
        wait_out_delays(&app).await;
        let r = app.other_browser().sign_in("ann@example.com", PW).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // ...but the stranger cannot lock the user out of their own browser.
        let r = app.sign_in("ann@example.com", PW).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(app.call("current_user", &[]).await.status, StatusCode::OK);
        // A forged device cookie is just an unknown browser. (The shared address keeps its
        // count through the success above: its delay is waited out first.)
        wait_out_delays(&app).await;
        let mut forger = app.other_browser();
        forger.device = Some("A".repeat(43));
        assert_eq!(
            forger.sign_in("ann@example.com", PW).await.status,
            StatusCode::FORBIDDEN
        );
        // Another user's device cookie does not open this account either.
        let mut bob = app.other_browser();
        bob.sign_up("bob@example.com", PW).await;
        bob.call("sign_out", &[]).await;
        wait_out_delays(&app).await;
        assert_eq!(
            bob.sign_in("ann@example.com", PW).await.status,
            StatusCode::FORBIDDEN
        );
        // The operator's unlock lifts the lock.
        assert!(
            app::server::throttle::unlock_account(&app.state, "ann@example.com")
                .await
                .unwrap()
        );
        wait_out_delays(&app).await;
        let r = app.other_browser().sign_in("ann@example.com", PW).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
);

on_both!(
    a_burst_of_parallel_guesses_cannot_pass_the_limit,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        sqlx::query(
            "INSERT INTO sign_in_throttle (scope, subject, attempts, blocked_until) \
         VALUES ('account', 'ann@example.com', 97, 0)",
        )
        .execute(&app.state.pool)
        .await
        .unwrap();
        let mut tasks = Vec::new();
        for i in 0..40 {
            let mut b = app.other_browser();
            tasks.push(tokio::spawn(async move {
                b.sign_in("ann@example.com", &format!("guess {i}"))
                    .await
                    .status
            }));
        }
        let mut checked = 0;
        for t in tasks {
            let s = t.await.unwrap();
            assert!(s.is_client_error(), "{s}");
            if s == StatusCode::UNAUTHORIZED {
                checked += 1;
            }
        }
        assert!(checked <= 3, "{checked} passwords checked past the limit");
        assert!(attempts(&app, "account", "ann@example.com").await <= 100);
    }
);

on_both!(
    one_address_trying_many_accounts_is_slowed_down,
    |db: Db| async move {
        let config = app::server::config::Config {
            trust_proxy: true,
            ..Default::default()
        };
        let mut app = TestApp::spawn_with(db, config).await;
        app.sign_up("ann@example.com", PW).await;
        let sign_in_from = |addr: &'static str, email: String, password: &'static str| {
            let body = common::encode_form(&[("email", &email), ("password", password)]);
            app.other_browser()
                .form_post("/api/sign_in")
                .header("x-forwarded-for", addr)
                .body(axum::body::Body::from(body))
                .unwrap()
        };
        let mut b = app.other_browser();
        for i in 0..20 {
            let r = b
                .send(sign_in_from(
                    "203.0.113.9",
                    format!("user{i}@example.com"),
                    "pw",
                ))
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        // Past the free attempts each failure starts a delay (1 s, then 2 s).
        for _ in 0..2 {
            let r = b
                .send(sign_in_from(
                    "203.0.113.9",
                    "user99@example.com".into(),
                    "pw",
                ))
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            if attempts(&app, "addr", "203.0.113.9").await == 21 {
                wait_out_delays(&app).await;
            }
        }
        let r = b
            .send(sign_in_from("203.0.113.9", "ann@example.com".into(), PW))
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        // Everyone else is unaffected.
        let r = b
            .send(sign_in_from("198.51.100.7", "ann@example.com".into(), PW))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(attempts(&app, "addr", "203.0.113.9").await, 22);
    }
);

on_both!(
    parallel_right_passwords_from_one_address_never_fail,
    |db: Db| async move {
        // A sign-in's count and another's success take the throttle rows in one order: on
        // PostgreSQL, opposite orders deadlocked and one of them answered 500.
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        for _ in 0..4 {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let mut b = app.other_browser();
                    tokio::spawn(async move {
                        let r = b.sign_in("ann@example.com", PW).await;
                        (r.status, r.body)
                    })
                })
                .collect();
            for t in tasks {
                let (status, body) = t.await.unwrap();
                assert!(
                    status == StatusCode::OK || status == StatusCode::TOO_MANY_REQUESTS,
                    "{status}: {body}"
                );
            }
            wait_out_delays(&app).await;
        }
    }
);

on_both!(
    the_operator_sets_how_many_sign_ups_an_address_gets,
    |db: Db| async move {
        let waiting = "SELECT COUNT(*) FROM sign_in_throttle \
                       WHERE scope = 'sign_up' AND blocked_until > 0";
        // With three free sign-ups, the fourth from one address starts the wait; with the
        // default fifty, it does not.
        for (free, starts_waiting) in [(3, 1), (app::server::throttle::FREE_SIGN_UPS, 0)] {
            let config = app::server::config::Config {
                free_sign_ups: free,
                ..Default::default()
            };
            let app = TestApp::spawn_with(db, config).await;
            for i in 0..4 {
                let mut b = app.other_browser();
                let r = b.sign_up(&format!("u{i}@example.com"), PW).await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            }
            assert_eq!(app.count(waiting).await, starts_waiting, "{free} free");
        }
    }
);
