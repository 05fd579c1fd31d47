//! The second factor end to end through the real router, on SQLite and PostgreSQL.

mod common;

use app::server::{now, totp, two_factor};
use common::{Db, TestApp};
use http::StatusCode;

const PW: &str = "correct horse battery";

/// Signs up, enrolls an authenticator at `now()`; returns (secret, recovery codes).
async fn enrolled(app: &mut TestApp) -> (Vec<u8>, Vec<String>) {
    assert_eq!(
        app.sign_up("ann@example.com", PW).await.status,
        StatusCode::OK
    );
    let (secret, codes) = app.enroll().await;
    assert_eq!(secret.len(), 20, "160-bit secret");
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

fn who(user_id: i64) -> two_factor::Who<'static> {
    two_factor::Who {
        account_id: 1,
        user_id,
        client_addr: "127.0.0.1",
        agent: "",
        holder: &[],
    }
}

async fn user_id(app: &TestApp) -> i64 {
    app.user_id("ann@example.com").await
}

on_both!(enroll_then_sign_in_needs_a_code_once, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    let (secret, _) = enrolled(&mut app).await;
    // The enrolling session was upgraded and still works.
    let me = app.call("current_user", &[]).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["two_factor"]["setting"]["on"], true);
    assert_eq!(me.json()["two_factor"]["setting"]["source"], "SelfSet");

    let mut b = app.other_browser();
    let r = b.sign_in("ann@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(b.cookie.is_none(), "no session after the password alone");
    assert_eq!(
        b.call("current_user", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let stage = b.call("sign_in_stage", &[]).await.json();
    assert_eq!(stage["Code"]["app"], true, "{stage}");

    // The enrollment code's step is spent; the next step's code is fresh.
    let next = totp::code_for(&secret, now() as u64 + 30);
    let r = b.call("verify_sign_in", &[("code", &next)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(b.cookie.is_some());
    assert_eq!(b.call("current_user", &[]).await.status, StatusCode::OK);

    // The same code for a second sign-in is refused as a replay.
    let mut c = app.other_browser();
    c.sign_in("ann@example.com", PW).await;
    let r = c.call("verify_sign_in", &[("code", &next)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("already used"), "{}", r.body);
    assert!(c.cookie.is_none());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'code.replay_refused'")
            .await,
        1
    );
    // Malformed codes are refused before any check.
    for bad in ["", "12345", "abcdef", &"9".repeat(5000)] {
        let r = c.call("verify_sign_in", &[("code", bad)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
});

on_both!(
    fifty_concurrent_uses_of_one_code_succeed_once,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let (secret, _) = enrolled(&mut app).await;
        let uid = user_id(&app).await;
        let t = now() + 30;
        let code = totp::code_for(&secret, t as u64);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let state = app.state.clone();
                let code = code.clone();
                tokio::spawn(async move {
                    two_factor::verify_code(&state, who(uid), "code", &code, t).await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(
            ok, 1,
            "exactly one of 50 concurrent verifications may succeed"
        );
    }
);

on_both!(
    a_code_submitted_twenty_times_at_once_opens_one_session,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let (secret, _) = enrolled(&mut app).await;
        let uid = user_id(&app).await;
        let mut b = app.other_browser();
        b.sign_in("ann@example.com", PW).await;
        assert!(b.pending.is_some());
        let before = app
            .count("SELECT COUNT(*) FROM sessions WHERE second_factor = 1")
            .await;
        let sign_ins = format!(
            "SELECT COUNT(*) FROM audit_events WHERE event = 'sign_in.success' AND target_user_id = {uid}"
        );
        let sign_ins_before = app.count(&sign_ins).await;
        // A double (twenty-fold) submit from one half-signed-in browser, all in flight at once.
        let code = totp::code_for(&secret, now() as u64 + 30);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (mut b, code) = (b.other_browser_with(None, b.pending.clone()), code.clone());
                tokio::spawn(async move {
                    let r = b.call("verify_sign_in", &[("code", &code)]).await;
                    (r.status, r.body, b.cookie)
                })
            })
            .collect();
        let mut sessions = Vec::new();
        for t in tasks {
            let (status, body, cookie) = t.await.unwrap();
            match status {
                StatusCode::OK => sessions.push(cookie.expect("a session cookie")),
                // Its step already claimed, its half sign-in already ended by the winner, or
                // past the five attempts the lock allows at once.
                StatusCode::BAD_REQUEST
                | StatusCode::UNAUTHORIZED
                | StatusCode::TOO_MANY_REQUESTS => {
                    assert!(cookie.is_none(), "{body}")
                }
                s => panic!("{s}: {body}"),
            }
        }
        assert_eq!(sessions.len(), 1, "exactly one of twenty submits signs in");
        // The winner's twins found the half sign-in ended: none counts as a wrong code (on
        // PostgreSQL a twin that waited for the user's row once saw it still live, so each
        // counted as a replay and five of them locked the user's code check).
        assert_eq!(
            app.count(&format!(
                "SELECT code_failures + code_lockouts FROM users WHERE id = {uid}"
            ))
            .await,
            0,
            "a twin submit is no failure"
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM sessions WHERE second_factor = 1")
                .await,
            before + 1
        );
        assert_eq!(app.count("SELECT COUNT(*) FROM pending_logins").await, 0);
        assert_eq!(
            app.count(&sign_ins).await,
            sign_ins_before + 1,
            "one sign-in logged"
        );
        let mut signed_in = app.other_browser_with(Some(sessions.remove(0)), None);
        assert_eq!(
            signed_in.call("current_user", &[]).await.status,
            StatusCode::OK
        );
        // The code was spent: a fresh half sign-in cannot use it again.
        let mut c = app.other_browser();
        c.sign_in("ann@example.com", PW).await;
        let r = c.call("verify_sign_in", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("already used"), "{}", r.body);
    }
);

on_both!(
    a_code_for_an_ended_half_sign_in_stays_unspent,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let (secret, _) = enrolled(&mut app).await;
        let uid = user_id(&app).await;
        let mut b = app.other_browser();
        b.sign_in("ann@example.com", PW).await;
        let ended = b.pending.clone().expect("half signed in");
        let ended_hash = app::server::sessions::hash_token(&ended);
        // b's half sign-in ends (it expires, say) after b's code request passed the session
        // middleware (called here directly, past that check).
        let mut c = app.other_browser();
        c.sign_in("ann@example.com", PW).await;
        sqlx::query("DELETE FROM pending_logins WHERE id_hash = $1")
            .bind(ended_hash.clone())
            .execute(&app.state.pool)
            .await
            .unwrap();
        let last_step = "SELECT COALESCE(last_step, 0) FROM authenticators";
        let step_before = app.count(last_step).await;
        let sessions = "SELECT COUNT(*) FROM sessions WHERE second_factor = 1";
        let sessions_before = app.count(sessions).await;
        let code = totp::code_for(&secret, now() as u64 + 30);
        let r =
            two_factor::sign_in_with_code(&app.state, who(uid), &ended_hash, None, &code, now())
                .await
                .map(|finished| match finished {
                    two_factor::Finished::Session(signed) => Some(signed.device),
                    two_factor::Finished::PasskeyOwed => None,
                });
        assert!(
            matches!(r, Err(app::domain::AppError::Unauthorized)),
            "{r:?}"
        );
        assert_eq!(
            app.count(last_step).await,
            step_before,
            "the code's step is not spent"
        );
        assert_eq!(
            app.count(sessions).await,
            sessions_before,
            "no session opened"
        );
        // The same code still signs in the half sign-in that is live.
        let r = c.call("verify_sign_in", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(c.cookie.is_some());
    }
);

on_both!(
    replayed_sign_in_codes_count_toward_the_lockout,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let (secret, _) = enrolled(&mut app).await;
        let code = totp::code_for(&secret, now() as u64 + 30);
        let mut b = app.other_browser();
        b.sign_in("ann@example.com", PW).await;
        let r = b.call("verify_sign_in", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // The spent code, five times from fresh half sign-ins: the fifth refusal locks the check.
        for i in 1..=5 {
            let mut c = app.other_browser();
            c.sign_in("ann@example.com", PW).await;
            let r = c.call("verify_sign_in", &[("code", &code)]).await;
            if i < 5 {
                assert_eq!(r.status, StatusCode::BAD_REQUEST, "replay {i}: {}", r.body);
                assert!(r.body.contains("already used"), "{}", r.body);
            } else {
                assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
            }
            assert!(c.cookie.is_none());
        }
        let count =
            |event: &str| format!("SELECT COUNT(*) FROM audit_events WHERE event = '{event}'");
        assert_eq!(app.count(&count("code.replay_refused")).await, 5);
        assert_eq!(app.count(&count("code.failure")).await, 5);
        assert_eq!(app.count(&count("code.lockout")).await, 1);
        let until = app
            .count("SELECT code_locked_until FROM users WHERE email = 'ann@example.com'")
            .await;
        assert!(
            (29..=30).contains(&(until - now())),
            "the first lock lasts 30 s"
        );
        // Locked: even the next, unused code is refused.
        let mut d = app.other_browser();
        d.sign_in("ann@example.com", PW).await;
        let next = totp::code_for(&secret, now() as u64 + 60);
        let r = d.call("verify_sign_in", &[("code", &next)]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    }
);

on_both!(five_wrong_codes_lock_until_expiry, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    let (secret, _) = enrolled(&mut app).await;
    let uid = user_id(&app).await;
    let t = now();
    let good = totp::code_for(&secret, t as u64 + 30);
    let wrong = if good == "000000" { "111111" } else { "000000" };
    for i in 1..=5 {
        let e = two_factor::verify_code(&app.state, who(uid), "code", wrong, t)
            .await
            .unwrap_err();
        if i < 5 {
            assert_eq!(e.status_code(), 400, "failure {i}");
        } else {
            assert_eq!(e.status_code(), 429, "the fifth failure locks");
        }
    }
    // A correct code during the lock is refused with when to retry.
    let e = two_factor::verify_code(&app.state, who(uid), "code", &good, t)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Try again in"), "{e}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'code.lockout'")
            .await,
        1
    );
    // After the lock expires (30 s for the first), the correct code works.
    assert!(
        two_factor::verify_code(&app.state, who(uid), "code", &good, t + 31)
            .await
            .is_ok()
    );
    // The second lockout lasts longer.
    for _ in 0..5 {
        let _ = two_factor::verify_code(&app.state, who(uid), "code", wrong, t + 40).await;
    }
    let until = app
        .count("SELECT code_locked_until FROM users WHERE email = 'ann@example.com'")
        .await;
    assert_eq!(until, t + 40 + 60);
});

on_both!(recovery_code_signs_in_once, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    let (_, codes) = enrolled(&mut app).await;
    let mut b = app.other_browser();
    b.sign_in("ann@example.com", PW).await;
    let r = b
        .call(
            "verify_sign_in_recovery",
            &[("recovery_code", &codes[3].to_uppercase())],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(b.cookie.is_some());
    let mut c = app.other_browser();
    c.sign_in("ann@example.com", PW).await;
    let r = c
        .call("verify_sign_in_recovery", &[("recovery_code", &codes[3])])
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a recovery code works once"
    );
    assert!(c.cookie.is_none());
    let status = app.call("my_two_factor", &[]).await.json();
    assert_eq!(status["recovery_codes_left"], 9);
});

on_both!(
    a_recovery_code_submitted_twenty_times_at_once_opens_one_session,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let (_, codes) = enrolled(&mut app).await;
        let uid = user_id(&app).await;
        let mut b = app.other_browser();
        b.sign_in("ann@example.com", PW).await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let mut b = b.other_browser_with(None, b.pending.clone());
                let code = codes[0].clone();
                tokio::spawn(async move {
                    let r = b
                        .call("verify_sign_in_recovery", &[("recovery_code", &code)])
                        .await;
                    (r.status, r.body, b.cookie)
                })
            })
            .collect();
        let mut sessions = 0;
        for t in tasks {
            let (status, body, cookie) = t.await.unwrap();
            match status {
                StatusCode::OK => sessions += 1,
                StatusCode::UNAUTHORIZED => assert!(cookie.is_none(), "{body}"),
                s => panic!("{s}: {body}"),
            }
        }
        assert_eq!(sessions, 1, "exactly one of twenty submits signs in");
        // The twins found the half sign-in ended: none counts as a wrong code (each counted,
        // and five of them locked the user's code check).
        assert_eq!(
            app.count(&format!(
                "SELECT code_failures + code_lockouts FROM users WHERE id = {uid}"
            ))
            .await,
            0,
            "a twin submit is no failure"
        );
        let status = app.call("my_two_factor", &[]).await.json();
        assert_eq!(status["recovery_codes_left"], 9);
    }
);

on_both!(secrets_are_encrypted_at_rest, |db: Db| async move {
    use sqlx::Row;
    let mut app = TestApp::spawn(db).await;
    let (secret, codes) = enrolled(&mut app).await;
    let row = sqlx::query("SELECT secret_enc FROM authenticators")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    let stored: Vec<u8> = row.try_get(0).unwrap();
    let b32 = app::server::totp::SecretKey(secret.clone()).base32();
    assert!(!String::from_utf8_lossy(&stored).contains(&b32));
    assert!(!stored.windows(secret.len()).any(|w| w == secret.as_slice()));
    let rows = sqlx::query("SELECT code_hash FROM recovery_codes")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    for r in rows {
        let h: Vec<u8> = r.try_get(0).unwrap();
        for c in &codes {
            assert!(!String::from_utf8_lossy(&h).contains(&c.replace('-', "")));
        }
    }
});

on_both!(qr_is_only_for_the_pending_owner, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    let mut anon = app.other_browser();
    assert_eq!(
        anon.get("/two-factor/qr.svg").await.status,
        StatusCode::NOT_FOUND
    );
    app.sign_up("ann@example.com", PW).await;
    assert_eq!(
        app.get("/two-factor/qr.svg").await.status,
        StatusCode::NOT_FOUND,
        "nothing pending"
    );
    let start = app.call("start_enrollment", &[]).await.json();
    let r = app.get("/two-factor/qr.svg").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.headers["content-type"], "image/svg+xml");
    assert!(
        r.body.starts_with("<svg") && r.body.len() <= 5 * 1024,
        "{} bytes",
        r.body.len()
    );
    println!("enrollment QR SVG: {} bytes", r.body.len());
    assert_eq!(
        anon.get("/two-factor/qr.svg").await.status,
        StatusCode::NOT_FOUND
    );
    let secret = totp::decode_setup_key(start["setup_key"].as_str().unwrap()).unwrap();
    let code = totp::code_for(&secret, now() as u64);
    assert_eq!(
        app.call("confirm_enrollment", &[("code", &code)])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/two-factor/qr.svg").await.status,
        StatusCode::NOT_FOUND,
        "gone once enrolled"
    );
});

// A page can start the enrollment more than once while it renders (and a person may open it
// again): the key it shows must stay the one its QR code carries, for as long as it is open.
on_both!(
    an_open_enrollment_keeps_its_key_for_its_browser_only,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let key = |r: common::Resp| r.json()["setup_key"].as_str().unwrap().to_string();
        let first = key(app.call("start_enrollment", &[]).await);
        assert_eq!(key(app.call("start_enrollment", &[]).await), first);
        // Another browser of hers starts its own; hers is then gone.
        let mut other = app.other_browser();
        other.sign_in("ann@example.com", PW).await;
        let theirs = key(other.call("start_enrollment", &[]).await);
        assert_ne!(theirs, first);
        assert_ne!(key(app.call("start_enrollment", &[]).await), first);
        // Started again for the account's requirement, it is another enrollment: a new key,
        // so a code from the Profile page's key cannot confirm what Settings started (and
        // the other way round).
        let profile = key(app.call("start_enrollment", &[]).await);
        let settings = key(app.call("start_requirement_enrollment", &[]).await);
        assert_ne!(settings, profile);
        let code = totp::code_for(&totp::decode_setup_key(&profile).unwrap(), now() as u64);
        let r = app.call("confirm_enrollment", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(app.count("SELECT require_2fa FROM accounts").await, 0);
        // Opening it again does not keep it open for longer.
        app.call("start_enrollment", &[]).await;
        let before = app.count("SELECT expires_at FROM enrollments").await;
        std::thread::sleep(std::time::Duration::from_millis(1100));
        app.call("start_enrollment", &[]).await;
        assert_eq!(
            app.count("SELECT expires_at FROM enrollments").await,
            before
        );
        // Expired, it starts afresh.
        let now_key = key(app.call("start_enrollment", &[]).await);
        sqlx::query("UPDATE enrollments SET expires_at = $1")
            .bind(now() - 1)
            .execute(&app.state.pool)
            .await
            .unwrap();
        assert_ne!(key(app.call("start_enrollment", &[]).await), now_key);
    }
);

on_both!(clock_drift_gets_a_hint, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.sign_up("ann@example.com", PW).await;
    let start = app.call("start_enrollment", &[]).await.json();
    let secret = totp::decode_setup_key(start["setup_key"].as_str().unwrap()).unwrap();
    let ahead = totp::code_for(&secret, now() as u64 + 120);
    let r = app.call("confirm_enrollment", &[("code", &ahead)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("seconds ahead"), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM authenticators").await, 0);
});

on_both!(
    turning_off_needs_a_code_and_the_policy,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let (secret, _) = enrolled(&mut app).await;
        let r = app.call("disable_two_factor", &[("code", "000000")]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM authenticators").await,
            1,
            "a wrong code changes nothing"
        );
        let code = totp::code_for(&secret, now() as u64 + 30);
        let r = app.call("disable_two_factor", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM authenticators").await, 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM recovery_codes").await, 0);
        assert_eq!(app.count("SELECT tfa_on FROM users").await, 0);
    }
);

on_both!(
    two_factor_on_ends_sessions_without_it,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let mut laptop = app.other_browser();
        laptop.sign_in("ann@example.com", PW).await;
        assert_eq!(
            laptop.call("current_user", &[]).await.status,
            StatusCode::OK
        );
        app.enroll().await;
        assert_eq!(
            laptop.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(app.call("current_user", &[]).await.status, StatusCode::OK);
    }
);
