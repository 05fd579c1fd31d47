//! The second factor tried as an attacker would: leftover state, parallel guesses, races with
//! a removal, another browser's enrollment. Each test fails on a console with the hole it names.

mod common;

use app::server::{now, sessions, throttle, totp, two_factor, users};
use common::{at_once, Db, TestApp};
use http::StatusCode;

/// A sign-in from the tests' own address, in a browser the user never used.
const FROM_HERE: app::server::sessions::Arrival = app::server::sessions::Arrival {
    addr: "127.0.0.1",
    reported: true,
    new_browser: true,
};

const PW: &str = "correct horse battery";

/// A code of `secret` that no step near now has: a wrong guess.
fn wrong_code(secret: &[u8]) -> String {
    let t = now() as u64;
    (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| (-10i64..=10).all(|d| totp::code_for(secret, (t as i64 + d * 30) as u64) != *c))
        .unwrap()
}

fn tally(statuses: &[StatusCode]) -> (usize, usize) {
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused + limited, statuses.len(), "{statuses:?}");
    (refused, limited)
}

// 33.4: sixty wrong codes at the same instant from one half sign-in: at most five are compared
// (answered "not valid"), the rest are refused by the lock before any comparison.
on_both!(
    parallel_wrong_codes_cannot_beat_the_lock,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let secret = app.owner_with_2fa("owner@example.com", PW).await;
        let mut b = app.other_browser();
        b.sign_in("owner@example.com", PW).await;
        assert!(b.pending.is_some());
        let wrong = wrong_code(&secret);
        let (refused, limited) =
            tally(&at_once(&b, 60, "verify_sign_in", vec![("code", wrong)]).await);
        assert!(refused <= 5, "{refused} of 60 wrong codes were compared");
        assert!(limited >= 55);
        let failures = app
            .count("SELECT COUNT(*) FROM audit_events WHERE event = 'code.failure'")
            .await;
        assert!(failures <= 5, "{failures} failures logged");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'code.lockout'")
                .await,
            1
        );
        // Locked: the right code is refused too, and opens nothing.
        let right = totp::code_for(&secret, now() as u64 + 30);
        let r = b.call("verify_sign_in", &[("code", &right)]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        assert!(b.cookie.is_none());
    }
);

// 33.4: the same for recovery codes and for step-up codes.
on_both!(
    parallel_wrong_recovery_and_step_up_codes_cannot_beat_the_lock,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let secret = app.owner_with_2fa("owner@example.com", PW).await;
        let mut b = app.other_browser();
        b.sign_in("owner@example.com", PW).await;
        let (refused, _) = tally(
            &at_once(
                &b,
                60,
                "verify_sign_in_recovery",
                vec![("recovery_code", "aaaaa-bbbbb".to_string())],
            )
            .await,
        );
        assert!(
            refused <= 5,
            "{refused} of 60 wrong recovery codes were checked"
        );
        assert!(b.cookie.is_none());

        // The owner's own session, after the lock: step-up codes share the count.
        let uid = app.user_id("owner@example.com").await;
        sqlx::query("UPDATE users SET code_locked_until = 0, code_failures = 0 WHERE id = $1")
            .bind(uid)
            .execute(&app.state.pool)
            .await
            .unwrap();
        let wrong = wrong_code(&secret);
        let (refused, _) =
            tally(&at_once(&app, 60, "regenerate_recovery_codes", vec![("code", wrong)]).await);
        assert!(
            refused <= 5,
            "{refused} of 60 wrong step-up codes were compared"
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NULL")
                .await,
            10
        );
    }
);

// 33.2: an enrollment left over from while the owner had turned a user's 2FA off cannot
// complete a later sign-in, and cannot replace the authenticator in use.
on_both!(
    a_leftover_enrollment_completes_no_sign_in,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        // Adam enrolls (his own authenticator, K1) and finishes his sign-in.
        let (mut adam, _) = app.add_member("adam@example.com", PW, true).await;
        let (k1, _) = adam.enroll().await;
        assert_eq!(
            adam.call("finish_enrollment", &[]).await.status,
            StatusCode::OK
        );
        let adam_id = app.user_id("adam@example.com").await.to_string();
        let r = app
            .call(
                "set_user_two_factor",
                &[("user_id", &adam_id), ("on", "false")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);

        // With the password alone, the attacker gets in while 2FA is off and starts K2.
        let mut eve = app.other_browser();
        assert_eq!(
            eve.sign_in("adam@example.com", PW).await.status,
            StatusCode::OK
        );
        assert!(eve.cookie.is_some());
        let start = eve.call("start_enrollment", &[]).await;
        assert_eq!(start.status, StatusCode::OK, "{}", start.body);
        let k2 = totp::decode_setup_key(start.json()["setup_key"].as_str().unwrap()).unwrap();

        // The owner turns Adam's 2FA back on: Eve's password-only session ends.
        let r = app
            .call(
                "set_user_two_factor",
                &[("user_id", &adam_id), ("on", "true")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            eve.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );

        // Eve signs in with the password and tries to finish with her leftover K2.
        let mut eve = app.other_browser();
        eve.sign_in("adam@example.com", PW).await;
        assert!(eve.pending.is_some());
        let before = app.snapshot().await;
        let code = totp::code_for(&k2, now() as u64);
        let r = eve.call("confirm_enrollment", &[("code", &code)]).await;
        assert!(r.status.is_client_error(), "{}: {}", r.status, r.body);
        let r = eve.call("finish_enrollment", &[]).await;
        assert!(r.status.is_client_error(), "{}: {}", r.status, r.body);
        assert!(
            eve.cookie.is_none(),
            "no session from a leftover enrollment"
        );
        let r = eve.call("start_enrollment", &[]).await;
        assert!(r.status.is_client_error(), "{}: {}", r.status, r.body);
        assert_eq!(app.snapshot().await, before, "the refusals changed nothing");

        // Adam's own authenticator still signs him in.
        let mut adam2 = app.other_browser();
        adam2.sign_in("adam@example.com", PW).await;
        let r = adam2
            .call(
                "verify_sign_in",
                &[("code", &totp::code_for(&k1, now() as u64 + 30))],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
);

// 33.2: an enrollment belongs to the browser that started it.
on_both!(
    another_browser_cannot_see_or_confirm_an_enrollment,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("owner@example.com", PW).await;
        let start = app.call("start_enrollment", &[]).await;
        assert_eq!(start.status, StatusCode::OK);
        let secret = totp::decode_setup_key(start.json()["setup_key"].as_str().unwrap()).unwrap();
        assert_eq!(app.get("/two-factor/qr.svg").await.status, StatusCode::OK);
        let mut other = app.other_browser();
        assert_eq!(
            other.sign_in("owner@example.com", PW).await.status,
            StatusCode::OK
        );
        assert_eq!(
            other.get("/two-factor/qr.svg").await.status,
            StatusCode::NOT_FOUND
        );
        let code = totp::code_for(&secret, now() as u64);
        let r = other.call("confirm_enrollment", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM authenticators").await, 0);
        // The browser that started it confirms it.
        let r = app.call("confirm_enrollment", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
);

// 33.3: a stolen owner session cannot reset the owner's own 2FA.
on_both!(
    the_owner_cannot_reset_their_own_two_factor,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        let me = app.user_id("owner@example.com").await;
        let before = app.snapshot().await;
        let r = app
            .call("reset_user_two_factor", &[("user_id", &me.to_string())])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(app.snapshot().await, before);
    }
);

// 33.5: signing in to one's own account does not reset the count of one's address.
on_both!(
    an_own_sign_in_keeps_the_address_count,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("eve@example.com", PW).await;
        let mut eve = app.other_browser();
        for i in 0..3 {
            let r = eve
                .sign_in(&format!("victim{i}@example.com"), "not the password")
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        }
        assert_eq!(
            eve.sign_in("eve@example.com", PW).await.status,
            StatusCode::OK
        );
        assert_eq!(
            app.count("SELECT attempts FROM sign_in_throttle WHERE scope = 'addr'")
                .await,
            3,
            "the address keeps the count of its failures"
        );
        assert_eq!(
        app.count("SELECT COUNT(*) FROM sign_in_throttle WHERE scope = 'account' AND subject = 'eve@example.com'").await,
        0,
        "the account starts over"
    );
    }
);

// 33.6: the setup link's password check is throttled and audited like sign-in.
on_both!(
    setup_link_password_guesses_are_throttled,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        let (_adam, _) = app.add_member("adam@example.com", PW, true).await;
        let adam_id = app.user_id("adam@example.com").await;
        let r = app
            .call(
                "reset_user_two_factor",
                &[("user_id", &adam_id.to_string())],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let token = r.link_token("/setup/");
        let mut eve = app.other_browser();
        let mut statuses = Vec::new();
        for _ in 0..8 {
            let r = eve
                .call(
                    "continue_setup",
                    &[("token", &token), ("password", "a wrong guess!")],
                )
                .await;
            statuses.push(r.status);
        }
        assert_eq!(
            &statuses[..5],
            &[StatusCode::BAD_REQUEST; 5],
            "{statuses:?}"
        );
        assert!(
            statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
        let audited = app
        .count(&format!("SELECT COUNT(*) FROM audit_events WHERE event = 'sign_in.failure' AND target_user_id = {adam_id}"))
        .await;
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::BAD_REQUEST)
            .count() as i64;
        assert_eq!(audited, refused, "each wrong password is audited");
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM user_links WHERE used_at IS NOT NULL AND kind = 'setup'"
            )
            .await,
            0
        );
    }
);

// 33.7: turning a user's 2FA on ends their password-only sessions; off again does not revive them.
on_both!(password_only_sessions_end_for_good, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.owner_with_2fa("owner@example.com", PW).await;
    let (mut adam, _) = app.add_member("adam@example.com", PW, false).await;
    assert_eq!(adam.call("current_user", &[]).await.status, StatusCode::OK);
    let id = app.user_id("adam@example.com").await.to_string();
    for on in ["true", "false"] {
        let r = app
            .call("set_user_two_factor", &[("user_id", &id), ("on", on)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            adam.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED,
            "2FA {on}"
        );
    }
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM sessions WHERE user_id = {id}"
        ))
        .await,
        0
    );
});

// 33.8: a removed user's id is never given to another user, in any account.
on_both!(ids_are_never_reused, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.owner_with_2fa("owner@example.com", PW).await;
    let (_adam, _) = app.add_member("adam@example.com", PW, false).await;
    let adam_id = app.user_id("adam@example.com").await;
    let r = app
        .call("remove_user", &[("user_id", &adam_id.to_string())])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut other = app.other_browser();
    assert_eq!(
        other.sign_up("stranger@example.com", PW).await.status,
        StatusCode::OK
    );
    let stranger = app.user_id("stranger@example.com").await;
    assert!(
        stranger > adam_id,
        "{stranger} reuses or precedes {adam_id}"
    );
    // The first account's log names nobody from another account.
    let log = app
        .call(
            "audit_log",
            &[("event", ""), ("user_id", "0"), ("before", "0")],
        )
        .await;
    assert!(!log.body.contains("stranger@example.com"), "{}", log.body);
});

// 34.1: a session or half sign-in opens only for the user row the password was checked
// against; a user removed while the hash ran gets nothing (here the removal lands exactly
// between the check and the opening).
on_both!(
    a_sign_in_racing_a_removal_opens_nothing,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        for two_factor in [false, true] {
            let email = format!("temp{two_factor}@example.com");
            let (_b, _) = app.add_member(&email, PW, two_factor).await;
            let login = users::find_login(&app.state, &email)
                .await
                .unwrap()
                .unwrap();
            let hash = login.password_hash.clone().unwrap();
            let checked = sessions::Checked {
                user_id: login.user_id,
                account_id: login.account_id,
                password_hash: &hash,
            };
            let r = app
                .call("remove_user", &[("user_id", &login.user_id.to_string())])
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            // The next user, anywhere.
            let mut next = app.other_browser();
            next.sign_up(&format!("next{two_factor}@example.com"), PW)
                .await;
            let before = app.snapshot().await;
            // The sign-in's look at a pending reset finds nothing to refuse for a user who is
            // gone (no 500); what opens next checks the row.
            assert!(!users::reset_pending(&app.state, login.user_id)
                .await
                .unwrap());
            assert!(sessions::create_password_only(
                &app.state,
                checked,
                ("127.0.0.1", ""),
                FROM_HERE
            )
            .await
            .unwrap()
            .is_none());
            assert!(
                sessions::create_pending(&app.state, checked, false, FROM_HERE)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert_eq!(app.snapshot().await, before);
        }
        // A changed password hash opens nothing either; 2FA turned on meanwhile opens no session.
        let login = users::find_login(&app.state, "owner@example.com")
            .await
            .unwrap()
            .unwrap();
        let checked = sessions::Checked {
            user_id: login.user_id,
            account_id: login.account_id,
            password_hash: "an older hash",
        };
        assert!(
            sessions::create_pending(&app.state, checked, false, FROM_HERE)
                .await
                .unwrap()
                .is_none()
        );
        let hash = login.password_hash.clone().unwrap();
        let checked = sessions::Checked {
            password_hash: &hash,
            ..checked
        };
        assert!(
            sessions::create_password_only(&app.state, checked, ("127.0.0.1", ""), FROM_HERE)
                .await
                .unwrap()
                .is_none(),
            "the owner's 2FA is on: no session from a password"
        );
    }
);

// 34.2 and 33.9: remembered-device tokens are bound to the user as created, only the newest
// few count, they expire, and a reset forgets them.
on_both!(
    device_tokens_are_bound_expire_and_are_revoked,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        let (_adam, _) = app.add_member("adam@example.com", PW, false).await;
        let login = users::find_login(&app.state, "adam@example.com")
            .await
            .unwrap()
            .unwrap();
        let user = login.device_user();
        let t = now();
        let token = throttle::new_device_token(&app.state, user, user.issued, t);
        assert!(throttle::device_of(&app.state, &token, user, t).is_some());
        // Another user with the same id (a restored backup, another database) gets nothing.
        let stranger = throttle::DeviceUser {
            created_at: user.created_at + 1,
            ..user
        };
        assert!(throttle::device_of(&app.state, &token, stranger, t).is_none());
        // 90 days on, the device is forgotten.
        assert!(
            throttle::device_of(&app.state, &token, user, t + throttle::DEVICE_MAX_AGE_SECS)
                .is_none()
        );
        // Only the newest devices count: a token MAX_DEVICES older than the newest is forgotten.
        let newest = throttle::DeviceUser {
            issued: user.issued + throttle::MAX_DEVICES - 1,
            ..user
        };
        assert!(throttle::device_of(&app.state, &token, newest, t).is_some());
        let later = throttle::DeviceUser {
            issued: user.issued + throttle::MAX_DEVICES,
            ..user
        };
        assert!(throttle::device_of(&app.state, &token, later, t).is_none());
        // Its number is signed: changing it makes the token unknown.
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[7] ^= 1;
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert!(throttle::device_of(&app.state, &forged, user, t).is_none());
        // A reset forgets every device of the user.
        let r = app
            .call(
                "reset_user_two_factor",
                &[("user_id", &login.user_id.to_string())],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let after = users::find_login(&app.state, "adam@example.com")
            .await
            .unwrap()
            .unwrap();
        assert!(throttle::device_of(&app.state, &token, after.device_user(), t).is_none());
    }
);

// 34.3: a code answered with the clock hint counts as a failure, and its step never works.
on_both!(a_hinted_code_never_works_later, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    let secret = app.owner_with_2fa("owner@example.com", PW).await;
    let uid = app.user_id("owner@example.com").await;
    let who = two_factor::Who {
        account_id: 1,
        user_id: uid,
        client_addr: "127.0.0.1",
        agent: "",
        holder: &[],
    };
    let t0 = now() + 300;
    let ahead = totp::code_for(&secret, t0 as u64 + 90);
    let e = two_factor::verify_code(&app.state, who, "code", &ahead, t0)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("seconds ahead"), "{e}");
    assert_eq!(
        app.count(&format!("SELECT code_failures FROM users WHERE id = {uid}"))
            .await,
        1,
        "the hinted code counted as a failure"
    );
    // Once its time has come, the code is refused.
    let e = two_factor::verify_code(&app.state, who, "code", &ahead, t0 + 90)
        .await
        .unwrap_err();
    assert_eq!(e.status_code(), 400, "{e}");
    // While that step can still come due, another far code gets no hint: no second oracle.
    let other = totp::code_for(&secret, t0 as u64 + 150);
    let e = two_factor::verify_code(&app.state, who, "code", &other, t0)
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("seconds"), "{e}");
    // The next step's code still works.
    assert!(two_factor::verify_code(
        &app.state,
        who,
        "code",
        &totp::code_for(&secret, t0 as u64 + 120),
        t0 + 120
    )
    .await
    .is_ok());
});

// 33.13: a stranger's password sign-in does not end the user's own half sign-in.
on_both!(half_sign_ins_are_kept_apart, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    let secret = app.owner_with_2fa("owner@example.com", PW).await;
    let mut mine = app.other_browser();
    mine.sign_in("owner@example.com", PW).await;
    let mut eve = app.other_browser();
    eve.sign_in("owner@example.com", PW).await;
    assert!(mine.pending.is_some() && eve.pending.is_some());
    let r = mine
        .call(
            "verify_sign_in",
            &[("code", &totp::code_for(&secret, now() as u64 + 30))],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(mine.cookie.is_some());
    assert!(eve.cookie.is_none());
});

// 33.1: one signed-in user requesting thousands of distinct long paths does not grow the
// server's memory: only the console's fixed pages are kept, within a budget that binds everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_paths_do_not_grow_the_server() {
    use common::process::{client, new_secret_key, scratch_dir, sign_up_fields, Browser, Server};
    let dir = scratch_dir("memory");
    let server = Server::start(None, &dir, &new_secret_key()).await;
    let http = client();
    let mut b = Browser::default();
    let r = b
        .call(
            &http,
            &server.base,
            "sign_up",
            &sign_up_fields("ann@example.com", PW),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let jar: Vec<String> = b.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let cookie = jar.join("; ");
    let long = "a".repeat(2000);
    let base = server.base.clone();
    let get = move |i: usize| {
        let (http, base, cookie, long) = (http.clone(), base.clone(), cookie.clone(), long.clone());
        async move {
            let prefix = if i.is_multiple_of(2) {
                "/invite/"
            } else {
                "/no-such-page/"
            };
            let r = http
                .get(format!("{base}{prefix}{long}{i}"))
                .header("cookie", cookie)
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let _ = r.bytes().await;
            status
        }
    };
    // Warm up: the allocator and the page machinery reach their working size.
    for i in 0..200 {
        get(i).await;
    }
    let before = server.rss_kib();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let get = get.clone();
        tasks.push(tokio::spawn(async move {
            for i in (1000 + worker..7000).step_by(4) {
                let status = get(i).await;
                assert!(status == 200 || status == 404, "{status}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let grown = server.rss_kib().saturating_sub(before);
    // Before the fix each of the 6,000 pages was kept: ~8 KB each, about 50 MB.
    assert!(
        grown < 12 * 1024,
        "the server grew by {grown} KiB over 6,000 distinct paths"
    );
}

// 33.10: a burst of sign-ups from one address is refused (429) before it can fill the
// password-hashing queue; the queue itself is bounded and answers "busy" when full.
on_both!(a_burst_of_sign_ups_is_throttled, |db: Db| async move {
    let app = TestApp::spawn(db).await;
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let mut b = app.other_browser();
            tokio::spawn(async move { b.sign_up(&format!("u{i}@example.com"), PW).await.status })
        })
        .collect();
    let mut created = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => created += 1,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => limited += 1,
            s => panic!("{s}"),
        }
    }
    // The 51st starts the first delay; delays are whole seconds, so a second ticking over
    // during the burst may let one more through.
    let most = throttle::FREE_SIGN_UPS as usize + 2;
    assert!(created <= most, "{created} accounts");
    assert_eq!(created + limited, 500);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM accounts").await,
        created as i64
    );
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hashing_queue_is_bounded() {
    use app::server::password::{Hasher, MAX_QUEUED};
    let hasher = Hasher::with_threads(1);
    let tasks: Vec<_> = (0..MAX_QUEUED + 40)
        .map(|_| {
            let h = hasher.clone();
            tokio::spawn(async move { h.hash(PW.to_string()).await })
        })
        .collect();
    let mut busy = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.status_code(), 503, "{e}");
                busy += 1;
            }
        }
    }
    assert!(busy >= 30, "only {busy} of {} refused", MAX_QUEUED + 40);
}

// 33.12: expired rows are purged, live ones stay.
on_both!(expired_rows_are_purged, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.owner_with_2fa("owner@example.com", PW).await;
    let mut half = app.other_browser();
    half.sign_in("owner@example.com", PW).await;
    app.call("start_enrollment", &[]).await;
    let (_adam, _) = app.add_member("adam@example.com", PW, false).await;
    let mut eve = app.other_browser();
    eve.sign_in("nobody@example.com", "wrong password!").await;
    let live = app.snapshot().await;
    let throttle_rows = "SELECT COUNT(*) FROM sign_in_throttle";
    let rows = app.count(throttle_rows).await;
    assert!(rows > 0);
    // Now: nothing has expired, nothing goes.
    let purged = app::server::purge::run_once(&app.state, now())
        .await
        .unwrap();
    // (An accepted invitation's link goes with the acceptance.)
    assert_eq!(purged, 0);
    assert_eq!(app.snapshot().await, live);
    assert_eq!(app.count(throttle_rows).await, rows);
    // Two days on, every session, half sign-in, enrollment and throttle row has expired.
    let later = now() + 2 * 24 * 3600;
    app::server::purge::run_once(&app.state, later)
        .await
        .unwrap();
    for table in [
        "sessions",
        "pending_logins",
        "enrollments",
        "sign_in_throttle",
        "user_links",
    ] {
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users").await,
        2,
        "users stay"
    );
    // The audit log keeps a year and a month; rows of no account (unknown emails) a month.
    let events = "SELECT COUNT(*) FROM audit_events";
    let unowned = "SELECT COUNT(*) FROM audit_events WHERE account_id IS NULL";
    assert!(app.count(unowned).await > 0, "eve's unknown email");
    let month_on = now() + 31 * 24 * 3600;
    app::server::purge::run_once(&app.state, month_on)
        .await
        .unwrap();
    assert_eq!(app.count(unowned).await, 0);
    assert!(app.count(events).await > 0);
    let retention_on = now() + app::server::purge::AUDIT_RETENTION_SECS + 1;
    app::server::purge::run_once(&app.state, retention_on)
        .await
        .unwrap();
    assert_eq!(app.count(events).await, 0);
});

// A kept page is never stale: the owner's changes show on the affected user's next page load.
on_both!(
    owner_changes_show_on_the_next_page_load,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let secret = app.owner_with_2fa("owner@example.com", PW).await;
        let (mut adam, _) = app.add_member("adam@example.com", PW, true).await;
        adam.enroll().await;
        assert_eq!(
            adam.call("finish_enrollment", &[]).await.status,
            StatusCode::OK
        );
        let state = |page: &str| {
            let start = page.find("data-testid=\"two-factor-state\"").unwrap();
            page[start..]
                .split('>')
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .to_string()
        };
        for _ in 0..2 {
            assert_eq!(state(&adam.get("/").await.body), "On");
            assert!(!adam
                .get("/profile")
                .await
                .body
                .contains("required for your account"));
        }
        // The account requirement.
        let code = totp::code_for(&secret, now() as u64 + 30);
        let r = app
            .call(
                "set_account_requirement",
                &[("on", "true"), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(adam
            .get("/profile")
            .await
            .body
            .contains("required for your account"));
        // The owner's exception for Adam.
        let id = app.user_id("adam@example.com").await.to_string();
        let r = app
            .call("set_user_two_factor", &[("user_id", &id), ("on", "false")])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(state(&adam.get("/").await.body), "Off");
        // A reset ends his session: the next page is the sign-in page.
        let r = app.call("reset_user_two_factor", &[("user_id", &id)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = adam.get("/").await;
        assert!(r.status.is_redirection(), "{}", r.status);
    }
);

// Turning one's own 2FA off checks the Profile rule again under the locks: a requirement or
// an owner's switch that landed after the page's check still refuses it, and changes nothing.
on_both!(
    turning_off_rechecks_the_rule_in_storage,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        let (mut adam, _) = app.add_member("adam@example.com", PW, false).await;
        let (mut secret, _) = adam.enroll().await;
        let uid = app.user_id("adam@example.com").await;
        let account = app
            .count(&format!("SELECT account_id FROM users WHERE id = {uid}"))
            .await;
        let who = two_factor::Who {
            account_id: account,
            user_id: uid,
            client_addr: "127.0.0.1",
            agent: "",
            holder: &[],
        };
        for (change, undo) in [
            (
                format!("UPDATE accounts SET require_2fa = 1 WHERE id = {account}"),
                format!("UPDATE accounts SET require_2fa = 0 WHERE id = {account}"),
            ),
            (
                format!("UPDATE users SET tfa_source = 'owner' WHERE id = {uid}"),
                format!("UPDATE users SET tfa_source = 'self' WHERE id = {uid}"),
            ),
        ] {
            // The change lands after the page's check, before the storage's.
            sqlx::query(&change).execute(&app.state.pool).await.unwrap();
            let before = app.snapshot().await;
            let code = totp::code_for(&secret, now() as u64 + 30);
            let e = two_factor::disable_own(&app.state, who, &two_factor::StepUp::Code(code))
                .await
                .unwrap_err();
            assert_eq!(e.status_code(), 400, "{e}");
            assert_eq!(app.snapshot().await, before, "{change}");
            sqlx::query(&undo).execute(&app.state.pool).await.unwrap();
        }
        // Raced for real: the owner turning Adam's 2FA on and Adam turning it off, at once. When
        // the owner's change is answered 200, it is what stays.
        let id = uid.to_string();
        for _ in 0..5 {
            let code = totp::code_for(&secret, now() as u64 + 30);
            let mut owner = app.other_browser_with(app.cookie.clone(), None);
            let mut admin = adam.other_browser_with(adam.cookie.clone(), None);
            let id2 = id.clone();
            let on = tokio::spawn(async move {
                owner
                    .call("set_user_two_factor", &[("user_id", &id2), ("on", "true")])
                    .await
                    .status
            });
            let off = tokio::spawn(async move {
                admin
                    .call("disable_two_factor", &[("code", &code)])
                    .await
                    .status
            });
            let (on, off) = (on.await.unwrap(), off.await.unwrap());
            assert!(
                !on.is_server_error() && !off.is_server_error(),
                "{on} {off}"
            );
            if on == StatusCode::OK {
                let now_on = app
                    .count(&format!("SELECT tfa_on FROM users WHERE id = {uid}"))
                    .await;
                assert_eq!(now_on, 1, "the owner's switch was undone (disable: {off})");
            }
            // Back to a self-enrolled switch for the next round: the owner turns it off and Adam
            // sets up a new authenticator in Profile.
            let r = app
                .call("set_user_two_factor", &[("user_id", &id), ("on", "false")])
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            // The owner's switch (when it won) signed Adam out: a fresh sign-in, 2FA off now.
            adam = app.other_browser();
            let r = adam.sign_in("adam@example.com", PW).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            secret = adam.enroll().await.0;
        }
    }
);

// Parallel starts of an enrollment, and a code sign-in racing a reset, end without a 500.
on_both!(
    parallel_starts_and_a_reset_racing_a_sign_in_answer_cleanly,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        let (adam, _) = app.add_member("adam@example.com", PW, false).await;
        let statuses = at_once(&adam, 20, "start_enrollment", vec![]).await;
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
        assert_eq!(app.count("SELECT COUNT(*) FROM enrollments").await, 1);

        for round in 0..4 {
            let email = format!("eve{round}@example.com");
            let (mut eve, _) = app.add_member(&email, PW, true).await;
            let (secret, _) = eve.enroll().await;
            assert_eq!(
                eve.call("finish_enrollment", &[]).await.status,
                StatusCode::OK
            );
            let id = app.user_id(&email).await.to_string();
            let mut b = app.other_browser();
            b.sign_in(&email, PW).await;
            let code = totp::code_for(&secret, now() as u64 + 30);
            let mut owner = app.other_browser_with(app.cookie.clone(), None);
            let reset = tokio::spawn(async move {
                owner
                    .call("reset_user_two_factor", &[("user_id", &id)])
                    .await
                    .status
            });
            let verify = tokio::spawn(async move {
                let status = b.call("verify_sign_in", &[("code", &code)]).await.status;
                (status, b)
            });
            let reset = reset.await.unwrap();
            let (verify, mut b) = verify.await.unwrap();
            assert_eq!(reset, StatusCode::OK);
            assert!(!verify.is_server_error(), "{verify}");
            // Whichever came first, no session survives the reset.
            assert_eq!(
                b.call("current_user", &[]).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
    }
);

// A full hashing queue refuses a sign-in (503) without counting it against anyone; one
// invitation link cannot be hashed over and over.
on_both!(a_busy_server_costs_nobody_an_attempt, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.owner_with_2fa("owner@example.com", PW).await;
    let full: Vec<_> = (0..app::server::password::MAX_QUEUED)
        .map(|_| app.state.hasher.slot().unwrap())
        .collect();
    let mut b = app.other_browser();
    let before = app
        .count("SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM sign_in_throttle")
        .await;
    let r = b.sign_in("owner@example.com", "a wrong password").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(
        app.count("SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM sign_in_throttle")
            .await,
        before
    );
    drop(full);

    // Thirty acceptances of one invitation at once: the link is spent before the hashing, so
    // one sets the password and the rest are refused (the link is used, or its count says
    // wait) without costing a hash.
    let token = app.invite("Ivy", "ivy@example.com", false).await;
    let visitor = app.other_browser();
    let statuses = at_once(
        &visitor,
        30,
        "accept_invitation",
        vec![("token", token), ("password", PW.to_string())],
    )
    .await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{statuses:?}");
    let refused = [StatusCode::BAD_REQUEST, StatusCode::TOO_MANY_REQUESTS];
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || refused.contains(s)),
        "{statuses:?}"
    );
});

// One owner cannot add users without end.
on_both!(
    an_account_holds_a_bounded_number_of_users,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        let cap = app::server::owner::MAX_USERS;
        sqlx::query(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < {cap}) \
         INSERT INTO users (account_id, name, email, role, created_at) \
         SELECT 1, 'Filler', 'filler' || i || '@example.com', 'admin', 0 FROM n"
        ))
        .execute(&app.state.pool)
        .await
        .unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM users").await, cap);
        let r = app
            .call(
                "add_user",
                &[
                    ("name", "One more"),
                    ("email", "more@example.com"),
                    ("two_factor", "false"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("limit"), "{}", r.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM users").await, cap);
    }
);

// The address's count is of its failures: an office whose people sign in all day from one
// address is never slowed down by their successes, and a quiet hour starts the count over.
on_both!(
    successes_from_one_address_cost_it_nothing,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        for i in 0..(throttle::FREE_ATTEMPTS_ADDR + 5) {
            let mut b = app.other_browser();
            let r = b.sign_in("ann@example.com", PW).await;
            assert_eq!(r.status, StatusCode::OK, "sign-in {i}: {}", r.body);
        }
        assert_eq!(
            app.count("SELECT attempts FROM sign_in_throttle WHERE scope = 'addr'")
                .await,
            0
        );
        // Twenty-five failures: the address waits; an hour later (its last attempt moved back by
        // an hour here) it counts afresh.
        let mut eve = app.other_browser();
        for i in 0..(throttle::FREE_ATTEMPTS_ADDR + 5) {
            sqlx::query("UPDATE sign_in_throttle SET blocked_until = 0")
                .execute(&app.state.pool)
                .await
                .unwrap();
            eve.sign_in(&format!("nobody{i}@example.com"), "wrong password")
                .await;
        }
        let r = eve.sign_in("nobody@example.com", "wrong password").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        sqlx::query(&format!(
            "UPDATE sign_in_throttle SET updated_at = updated_at - {}, blocked_until = 0 \
         WHERE scope = 'addr'",
            throttle::ADDR_QUIET_SECS + 1
        ))
        .execute(&app.state.pool)
        .await
        .unwrap();
        let r = eve.sign_in("nobody@example.com", "wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(
            app.count("SELECT attempts FROM sign_in_throttle WHERE scope = 'addr'")
                .await,
            1
        );
    }
);

// An authenticator left from before an exemption, replaced by whoever had the password then,
// gives them no session that outlives the owner turning 2FA back on, and the replacement signs
// out every other browser of the user.
on_both!(
    a_replaced_authenticator_leaves_no_foothold,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        let (mut adam, _) = app.add_member("adam@example.com", PW, true).await;
        adam.enroll().await;
        assert_eq!(
            adam.call("finish_enrollment", &[]).await.status,
            StatusCode::OK
        );
        let id = app.user_id("adam@example.com").await.to_string();
        let r = app
            .call("set_user_two_factor", &[("user_id", &id), ("on", "false")])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Eve has the password: a session, then her own authenticator in place of Adam's.
        let mut eve = app.other_browser();
        assert_eq!(
            eve.sign_in("adam@example.com", PW).await.status,
            StatusCode::OK
        );
        eve.enroll().await;
        assert_eq!(
            adam.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED,
            "the replacement signed Adam's browser out"
        );
        let r = app
            .call("set_user_two_factor", &[("user_id", &id), ("on", "true")])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            eve.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED,
            "2FA turned on again ends Eve's session"
        );
    }
);
