//! Passkeys as a second factor, driven by a software authenticator: added in Profile, proved
//! at sign-in, removed with a code; and every way an attacker could bend a ceremony.

mod common;

use app::server::{config::Config, now, totp};
use common::{Db, TestApp};
use http::StatusCode;
use url::Url;
use webauthn_authenticator_rs::{softpasskey::SoftPasskey, WebauthnAuthenticator};
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

const PW: &str = "correct horse battery";
const ORIGIN: &str = "http://localhost:3000";

fn on_localhost() -> Config {
    Config {
        public_origin: Some(ORIGIN.into()),
        ..Config::default()
    }
}

fn authenticator() -> WebauthnAuthenticator<SoftPasskey> {
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

/// The JSON text a server function answered (a `String`).
fn text(r: &common::Resp) -> String {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

/// Adds a passkey named `name` for the signed-in `app` with `key`; returns the answer sent.
async fn add(
    app: &mut TestApp,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    name: &str,
) -> String {
    let (answer, r) = try_add(app, key, name).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    answer
}

/// The browser's answer to a new registration challenge of `app`, and the server's reply to it.
async fn try_add(
    app: &mut TestApp,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    name: &str,
) -> (String, common::Resp) {
    let answer = registration(app, key, name).await;
    let r = app
        .call("finish_passkey_registration", &[("credential", &answer)])
        .await;
    (answer, r)
}

/// The browser's answer to a new registration challenge of `app` for a passkey `name`. A
/// signed-in user whose 2FA is in use confirms it is them first, with a code of the app this
/// browser set up (see [`step_up_code`]).
async fn registration(
    app: &mut TestApp,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    name: &str,
) -> String {
    let code = step_up_code(app).await;
    registration_with(app, key, name, &[("code", &code)]).await
}

/// A code for a step-up of `app`'s user, or nothing when they owe none (2FA not in use, or a
/// half sign-in).
async fn step_up_code(app: &mut TestApp) -> String {
    let me = app.call("current_user", &[]).await;
    if me.status != StatusCode::OK {
        return String::new();
    }
    let tf = &me.json()["two_factor"];
    let in_use = tf["setting"]["on"] == true
        && (tf["has_authenticator"] == true || tf["passkeys"].as_i64() > Some(0));
    if !in_use {
        return String::new();
    }
    app.fresh_code().await
}

/// As [`registration`], with the step-up fields given.
async fn registration_with(
    app: &mut TestApp,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    name: &str,
    proof: &[(&str, &str)],
) -> String {
    let mut fields = vec![("name", name)];
    fields.extend_from_slice(proof);
    let r = app.call("start_passkey_registration", &fields).await;
    let options: CreationChallengeResponse = serde_json::from_str(&text(&r)).unwrap();
    let answer = key
        .do_registration(Url::parse(ORIGIN).unwrap(), options)
        .expect("the soft passkey registers");
    serde_json::to_string(&answer).unwrap()
}

/// The browser's answer to a new passkey sign-in challenge of half-signed-in `b`.
async fn assertion(b: &mut TestApp, key: &mut WebauthnAuthenticator<SoftPasskey>) -> String {
    answer_to(b, "start_passkey_sign_in", key).await
}

/// The browser's answer to the challenge that server function `start` gives `b`.
async fn answer_to(
    b: &mut TestApp,
    start: &str,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
) -> String {
    let r = b.call(start, &[]).await;
    let options: RequestChallengeResponse = serde_json::from_str(&text(&r)).unwrap();
    let answer = key
        .do_authentication(Url::parse(ORIGIN).unwrap(), options)
        .expect("the soft passkey signs");
    serde_json::to_string(&answer).unwrap()
}

on_both!(
    a_passkey_is_added_then_signs_in_in_place_of_a_code,
    |db: Db| async move {
        let mut ann = TestApp::spawn_with(db, on_localhost()).await;
        ann.owner_with_2fa("ann@example.com", PW).await;
        let mut key = authenticator();
        add(&mut ann, &mut key, "Work laptop").await;
        let list = ann.call("my_passkeys", &[]).await.json();
        assert_eq!(list["enabled"], true);
        assert_eq!(list["items"][0]["name"], "Work laptop");
        assert_eq!(list["items"][0]["last_used_at"], serde_json::Value::Null);

        let mut b = ann.other_browser();
        b.sign_in("ann@example.com", PW).await;
        assert!(b.cookie.is_none() && b.pending.is_some());
        let stage = b.call("sign_in_stage", &[]).await.json();
        assert_eq!(stage["Code"]["passkey"], true, "{stage}");
        let answer = assertion(&mut b, &mut key).await;
        let r = b
            .call("finish_passkey_sign_in", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(b.cookie.is_some(), "signed in");
        assert_eq!(b.call("current_user", &[]).await.status, StatusCode::OK);
        let list = ann.call("my_passkeys", &[]).await.json();
        assert!(list["items"][0]["last_used_at"].is_i64());
        // The owner's Users page and export name both methods.
        let users = ann.call("list_users", &[]).await.json();
        assert_eq!(users[0]["passkeys"], 1);
        let csv = ann.get("/users/export.csv").await.body;
        assert!(csv.contains(r#""App, 1 passkey""#), "{csv}");
        assert_eq!(
            ann.count("SELECT COUNT(*) FROM audit_events WHERE event = 'passkey.used'")
                .await,
            1
        );

        // The same answer again, for a new half sign-in: its challenge was answered already.
        let mut c = ann.other_browser();
        c.sign_in("ann@example.com", PW).await;
        let r = c
            .call("finish_passkey_sign_in", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(c.cookie.is_none());
    }
);

on_both!(
    one_challenge_answered_twenty_times_at_once_opens_one_session,
    |db: Db| async move {
        let mut ann = TestApp::spawn_with(db, on_localhost()).await;
        ann.owner_with_2fa("ann@example.com", PW).await;
        let mut key = authenticator();
        add(&mut ann, &mut key, "Key").await;
        let mut b = ann.other_browser();
        b.sign_in("ann@example.com", PW).await;
        let answer = assertion(&mut b, &mut key).await;
        let sessions = "SELECT COUNT(*) FROM sessions WHERE second_factor = 1";
        let before = ann.count(sessions).await;
        let statuses = common::at_once(
            &b,
            20,
            "finish_passkey_sign_in",
            vec![("credential", answer)],
        )
        .await;
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "{statuses:?}");
        assert!(
            statuses.iter().all(|s| !s.is_server_error()),
            "{statuses:?}"
        );
        assert_eq!(ann.count(sessions).await, before + 1);
    }
);

on_both!(
    bent_ceremonies_are_refused_and_change_nothing,
    |db: Db| async move {
        let mut ann = TestApp::spawn_with(db, on_localhost()).await;
        ann.owner_with_2fa("ann@example.com", PW).await;
        let mut key = authenticator();
        let registered = add(&mut ann, &mut key, "Key").await;
        // The same registration answer again: its challenge is spent.
        let before = ann.snapshot().await;
        let passkeys = "SELECT COUNT(*) FROM passkeys";
        let r = ann
            .call(
                "finish_passkey_registration",
                &[("credential", &registered)],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        // Malformed answers, for a live challenge: refused in words, and the challenge is not
        // spent by them.
        let code = step_up_code(&mut ann).await;
        let r = ann
            .call(
                "start_passkey_registration",
                &[("name", "Other"), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for bad in ["", "{}", "not json", "{\"id\":1}", &"x".repeat(10_000)] {
            let r = ann
                .call("finish_passkey_registration", &[("credential", bad)])
                .await;
            assert!(
                r.status.is_client_error(),
                "{bad:.20}: {} {}",
                r.status,
                r.body
            );
        }
        assert_eq!(ann.count(passkeys).await, 1);
        assert_eq!(ann.snapshot().await, before);
        // Names are checked before anything starts.
        for bad in ["", "   ", &"n".repeat(61), "tab\there"] {
            let r = ann
                .call("start_passkey_registration", &[("name", bad)])
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }

        // Another user's challenge cannot be answered with Ann's passkey, and Bob cannot register
        // Ann's credential as his.
        let mut bob = ann.other_browser();
        bob.sign_up("bob@example.com", PW).await;
        bob.enroll().await;
        let code = step_up_code(&mut bob).await;
        let r = bob
            .call(
                "start_passkey_registration",
                &[("name", "Mine"), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = bob
            .call(
                "finish_passkey_registration",
                &[("credential", &registered)],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        let mut b = ann.other_browser();
        b.sign_in("ann@example.com", PW).await;
        let answer = assertion(&mut b, &mut key).await;
        let mut bob_pending = ann.other_browser();
        bob_pending.sign_in("bob@example.com", PW).await;
        let r = bob_pending
            .call("finish_passkey_sign_in", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(bob_pending.cookie.is_none());

        // An expired challenge.
        sqlx::query("UPDATE webauthn_ceremonies SET expires_at = $1")
            .bind(now() - 1)
            .execute(&ann.state.pool)
            .await
            .unwrap();
        let r = b
            .call("finish_passkey_sign_in", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(b.cookie.is_none());

        // Calls out of order: a signed-in session cannot finish a sign-in; a half sign-in of a
        // user who is set up cannot add a passkey (only one who must enroll can) or list them.
        assert_eq!(
            ann.call("finish_passkey_sign_in", &[("credential", &answer)])
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        for (name, refused) in [
            ("start_passkey_registration", StatusCode::FORBIDDEN),
            ("my_passkeys", StatusCode::UNAUTHORIZED),
        ] {
            let r = b.call(name, &[("name", "x")]).await;
            assert_eq!(r.status, refused, "{name}");
        }
        assert_eq!(ann.count(passkeys).await, 1);

        // One user starting ceremonies without end (each proof is an audit row) is slowed down
        // after the free ones.
        let mut slowed = 0;
        for _ in 0..40 {
            let r = ann.call("start_passkey_confirmation", &[]).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                slowed += 1;
            } else {
                assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            }
        }
        assert!(slowed > 0, "no ceremony was slowed down");
    }
);

on_both!(
    removing_a_passkey_needs_a_code_and_only_ones_own,
    |db: Db| async move {
        let mut ann = TestApp::spawn_with(db, on_localhost()).await;
        let secret = ann.owner_with_2fa("ann@example.com", PW).await;
        let mut key = authenticator();
        add(&mut ann, &mut key, "Key").await;
        let id = ann.count("SELECT id FROM passkeys").await.to_string();
        let r = ann
            .call("remove_passkey", &[("id", &id), ("code", "000000")])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        // Bob's code cannot remove Ann's passkey.
        let mut bob = ann.other_browser();
        bob.sign_up("bob@example.com", PW).await;
        let (bob_secret, _) = bob.enroll().await;
        let code = totp::code_for(&bob_secret, now() as u64 + 30);
        let r = bob
            .call("remove_passkey", &[("id", &id), ("code", &code)])
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        assert_eq!(ann.count("SELECT COUNT(*) FROM passkeys").await, 1);
        let code = totp::code_for(&secret, now() as u64 + 30);
        let r = ann
            .call("remove_passkey", &[("id", &id), ("code", &code)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(ann.count("SELECT COUNT(*) FROM passkeys").await, 0);
        let mut b = ann.other_browser();
        b.sign_in("ann@example.com", PW).await;
        let stage = b.call("sign_in_stage", &[]).await.json();
        assert_eq!(stage["Code"]["passkey"], false, "{stage}");
    }
);

on_both!(passkeys_need_a_domain_name, |db: Db| async move {
    // No public URL on a domain name: passkeys are off, in words.
    let mut ip = TestApp::spawn(db).await;
    ip.owner_with_2fa("ann@example.com", PW).await;
    assert_eq!(ip.call("my_passkeys", &[]).await.json()["enabled"], false);
    assert_eq!(
        ip.call("passkey_offer", &[]).await.json()["available"],
        false
    );
    let r = ip
        .call("start_passkey_registration", &[("name", "Key")])
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    assert!(r.body.contains("domain name"), "{}", r.body);
});

on_both!(
    a_passkey_confirms_a_removal_once_and_only_of_ones_own,
    |db: Db| async move {
        const CONFIRM: &str = "start_passkey_confirmation";
        const REMOVE: &str = "remove_passkey";
        let mut ann = TestApp::spawn_with(db, on_localhost()).await;
        ann.owner_with_2fa("ann@example.com", PW).await;
        let mut key = authenticator();
        add(&mut ann, &mut key, "Phone").await;
        let mut spare = authenticator();
        add(&mut ann, &mut spare, "Spare key").await;
        let phone = ann
            .count("SELECT id FROM passkeys WHERE name = 'Phone'")
            .await;
        let spare_id = ann
            .count("SELECT id FROM passkeys WHERE name = 'Spare key'")
            .await
            .to_string();
        let mut bob = ann.other_browser();
        bob.sign_up("bob@example.com", PW).await;
        bob.enroll().await;
        let mut bob_key = authenticator();
        add(&mut bob, &mut bob_key, "Bob's key").await;
        let passkeys = "SELECT COUNT(*) FROM passkeys";
        let used = "SELECT COUNT(*) FROM passkeys WHERE last_used_at IS NOT NULL";

        // Bob proves his own passkey, then names Ann's: not his, and his proof is not used.
        let answer = answer_to(&mut bob, CONFIRM, &mut bob_key).await;
        let r = bob
            .call(REMOVE, &[("id", &spare_id), ("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        assert_eq!(ann.count(passkeys).await, 3);
        assert_eq!(ann.count(used).await, 0);

        // A half sign-in cannot confirm anything, and a sign-in challenge is not a confirmation.
        let mut half = ann.other_browser();
        half.sign_in("ann@example.com", PW).await;
        for name in [CONFIRM, REMOVE] {
            let r = half
                .call(name, &[("id", &spare_id), ("credential", "{}")])
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}");
        }
        let sign_in = assertion(&mut half, &mut key).await;
        let r = ann
            .call(REMOVE, &[("id", &spare_id), ("credential", &sign_in)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

        // Ann's phone confirms the removal of her spare key, sent twenty times at once: one
        // removal, and the answer cannot be used again.
        let answer = answer_to(&mut ann, CONFIRM, &mut key).await;
        let statuses = common::at_once(
            &ann,
            20,
            REMOVE,
            vec![("id", spare_id.clone()), ("credential", answer.clone())],
        )
        .await;
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "{statuses:?}");
        assert!(
            statuses.iter().all(|s| !s.is_server_error()),
            "{statuses:?}"
        );
        assert_eq!(ann.count(passkeys).await, 2);
        let r = ann
            .call(
                REMOVE,
                &[("id", &phone.to_string()), ("credential", &answer)],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(
            ann.count("SELECT COUNT(*) FROM audit_events WHERE event = 'passkey.removed'")
                .await,
            1
        );
        // A passkey may confirm its own removal.
        let answer = answer_to(&mut ann, CONFIRM, &mut key).await;
        let r = ann
            .call(
                REMOVE,
                &[("id", &phone.to_string()), ("credential", &answer)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(ann.count(passkeys).await, 1);
    }
);

on_both!(
    passkeys_added_at_once_from_many_browsers_stop_at_the_limit,
    |db: Db| async move {
        let mut ann = TestApp::spawn_with(db, on_localhost()).await;
        ann.owner_with_2fa("ann@example.com", PW).await;
        let max = app::server::passkeys::MAX_PER_USER;
        for i in 0..max - 2 {
            add(&mut ann, &mut authenticator(), &format!("Key {i}")).await;
        }
        let user_id = ann.count("SELECT id FROM users").await;
        // Six more browsers of Ann's, each with its own registration challenge and key.
        let mut answers = Vec::new();
        for _ in 0..6 {
            let token = app::server::sessions::create(
                &ann.state.pool,
                &ann.state.config,
                user_id,
                ("127.0.0.1", "test"),
                true,
            )
            .await
            .unwrap();
            let mut b = ann.other_browser_with(Some(token), None);
            let code = step_up_code(&mut b).await;
            let r = b
                .call(
                    "start_passkey_registration",
                    &[("name", "One more"), ("code", &code)],
                )
                .await;
            let options: CreationChallengeResponse = serde_json::from_str(&text(&r)).unwrap();
            let answer = authenticator()
                .do_registration(Url::parse(ORIGIN).unwrap(), options)
                .unwrap();
            answers.push((b, serde_json::to_string(&answer).unwrap()));
        }
        let tasks: Vec<_> = answers
            .into_iter()
            .map(|(mut b, answer)| {
                tokio::spawn(async move {
                    b.call("finish_passkey_registration", &[("credential", &answer)])
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            let r = t.await.unwrap();
            if r.status == StatusCode::OK {
                ok += 1;
            } else {
                assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
                assert!(r.body.contains("Remove one first"), "{}", r.body);
            }
        }
        assert_eq!(ok, 2);
        assert_eq!(ann.count("SELECT COUNT(*) FROM passkeys").await, max);
    }
);

on_both!(
    an_invited_user_enrolls_with_a_passkey_only_and_signs_in_with_it,
    |db: Db| async move {
        let mut ora = TestApp::spawn_with(db, on_localhost()).await;
        ora.owner_with_2fa("ora@example.com", PW).await;
        // Adam is invited with 2FA on: after his password he must enroll.
        let (mut adam, _) = ora.add_member("adam@example.com", PW, true).await;
        assert!(adam.pending.is_some() && adam.cookie.is_none());
        assert_eq!(adam.call("sign_in_stage", &[]).await.json(), "Enroll");
        let offer = adam.call("passkey_offer", &[]).await.json();
        assert_eq!(offer["available"], true);
        assert_eq!(offer["required"], false);
        let mut key = authenticator();
        let (_, r) = try_add(&mut adam, &mut key, "Adam's phone").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let added = r.json();
        assert_eq!(added["passkey"]["name"], "Adam's phone");
        let codes = added["recovery_codes"].as_array().unwrap().clone();
        assert_eq!(
            codes.len(),
            10,
            "the first factor comes with recovery codes"
        );
        assert_eq!(adam.call("sign_in_stage", &[]).await.json(), "Enrolled");
        let r = adam.call("finish_enrollment", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let me = adam.call("current_user", &[]).await.json();
        assert_eq!(me["two_factor"]["setting"]["on"], true);
        assert_eq!(me["two_factor"]["has_authenticator"], false);
        assert_eq!(me["two_factor"]["passkeys"], 1);
        assert_eq!(
            ora.count("SELECT COUNT(*) FROM audit_events WHERE event = 'two_factor.enrolled' AND detail = 'passkey'")
                .await,
            1
        );
        let users = ora.call("list_users", &[]).await.json();
        assert_eq!(users[1]["passkeys"], 1);
        let policy = ora.call("account_policy", &[]).await.json();
        assert_eq!(policy["pending_total"], 0, "{policy}");

        // At the next sign-in: a passkey or a recovery code; no code, no enrollment.
        let mut b = ora.other_browser();
        b.sign_in("adam@example.com", PW).await;
        let stage = b.call("sign_in_stage", &[]).await.json();
        assert_eq!(stage["Code"]["app"], false, "{stage}");
        assert_eq!(stage["Code"]["passkey"], true, "{stage}");
        for name in ["start_enrollment", "start_passkey_registration"] {
            let r = b.call(name, &[("name", "Thief's key")]).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: {}", r.body);
        }
        let r = b.call("verify_sign_in", &[("code", "123456")]).await;
        assert!(r.status.is_client_error(), "{}", r.body);
        assert!(b.cookie.is_none());
        let answer = assertion(&mut b, &mut key).await;
        let r = b
            .call("finish_passkey_sign_in", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(b.cookie.is_some());
        let mut c = ora.other_browser();
        c.sign_in("adam@example.com", PW).await;
        let r = c
            .call(
                "verify_sign_in_recovery",
                &[("recovery_code", codes[0].as_str().unwrap())],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(c.cookie.is_some());
    }
);

on_both!(
    an_enrollment_finishes_once_whichever_factor_and_however_often,
    |db: Db| async move {
        let mut ora = TestApp::spawn_with(db, on_localhost()).await;
        ora.owner_with_2fa("ora@example.com", PW).await;
        let (mut adam, _) = ora.add_member("adam@example.com", PW, true).await;
        let user = ora.user_id("adam@example.com").await;
        // The app's enrollment and a passkey's registration both started, out of order: the
        // passkey finishes first; the app's code is then refused and changes nothing.
        let start = adam.call("start_enrollment", &[]).await.json();
        let secret = totp::decode_setup_key(start["setup_key"].as_str().unwrap()).unwrap();
        let mut key = authenticator();
        let answer = registration(&mut adam, &mut key, "Key").await;
        // Twenty finishes of one registration at once: one passkey, one set of codes.
        let statuses = common::at_once(
            &adam,
            20,
            "finish_passkey_registration",
            vec![("credential", answer)],
        )
        .await;
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "{statuses:?}");
        assert!(
            statuses.iter().all(|s| !s.is_server_error()),
            "{statuses:?}"
        );
        let of_adam = |table: &str| format!("SELECT COUNT(*) FROM {table} WHERE user_id = {user}");
        assert_eq!(ora.count(&of_adam("passkeys")).await, 1);
        assert_eq!(ora.count(&of_adam("recovery_codes")).await, 10);
        let before = ora.snapshot().await;
        let code = totp::code_for(&secret, now() as u64);
        let r = adam.call("confirm_enrollment", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert_eq!(ora.snapshot().await, before);
        assert_eq!(ora.count(&of_adam("authenticators")).await, 0);

        // The reverse, for Bea: the app first; her passkey's registration is then refused.
        let (mut bea, _) = ora.add_member("bea@example.com", PW, true).await;
        let bea_id = ora.user_id("bea@example.com").await;
        let answer = registration(&mut bea, &mut authenticator(), "Key").await;
        bea.enroll().await;
        let r = bea
            .call("finish_passkey_registration", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert_eq!(
            ora.count(&format!(
                "SELECT COUNT(*) FROM passkeys WHERE user_id = {bea_id}"
            ))
            .await,
            0
        );

        // A half sign-in that ended (Not you?) cannot finish a registration it started.
        let (mut cy, _) = ora.add_member("cy@example.com", PW, true).await;
        let answer = registration(&mut cy, &mut authenticator(), "Key").await;
        let pending = cy.pending.clone();
        cy.call("sign_out", &[]).await;
        let mut ghost = ora.other_browser_with(None, pending);
        let r = ghost
            .call("finish_passkey_registration", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(
            ora.count("SELECT COUNT(*) FROM users WHERE email = 'cy@example.com' AND tfa_on = 1")
                .await,
            1
        );
        assert_eq!(ora.count("SELECT COUNT(*) FROM passkeys WHERE user_id = (SELECT id FROM users WHERE email = 'cy@example.com')").await, 0);
    }
);

on_both!(
    a_passkey_only_user_keeps_a_factor_and_steps_up_with_the_passkey,
    |db: Db| async move {
        let mut ann = TestApp::spawn_with(db, on_localhost()).await;
        ann.sign_up("ann@example.com", PW).await;
        // 2FA off: her first passkey turns it on, with recovery codes.
        let mut key = authenticator();
        let (_, r) = try_add(&mut ann, &mut key, "Phone").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.json()["recovery_codes"].as_array().unwrap().len(), 10);
        let me = ann.call("current_user", &[]).await.json();
        assert_eq!(me["two_factor"]["setting"]["on"], true);
        // A second passkey needs her to confirm it is her (a stolen session alone adds none):
        // refused without, added with her phone; no new codes, the first ones stay.
        let codes = "SELECT COUNT(*) FROM recovery_codes";
        let mut spare = authenticator();
        let r = ann
            .call("start_passkey_registration", &[("name", "Spare")])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("Confirm it is you first"), "{}", r.body);
        let proof = answer_to(&mut ann, "start_passkey_confirmation", &mut key).await;
        let answer =
            registration_with(&mut ann, &mut spare, "Spare", &[("credential", &proof)]).await;
        let r = ann
            .call("finish_passkey_registration", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.json()["recovery_codes"].as_array().unwrap().len(), 0);
        assert_eq!(ann.count(codes).await, 10);
        let spare_id = ann
            .count("SELECT id FROM passkeys WHERE name = 'Spare'")
            .await
            .to_string();
        let phone_id = ann
            .count("SELECT id FROM passkeys WHERE name = 'Phone'")
            .await
            .to_string();

        // The spare goes (confirmed with the phone); the phone, her last factor, stays.
        let answer = answer_to(&mut ann, "start_passkey_confirmation", &mut key).await;
        let r = ann
            .call(
                "remove_passkey",
                &[("id", &spare_id), ("credential", &answer)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let before = ann.snapshot().await;
        let answer = answer_to(&mut ann, "start_passkey_confirmation", &mut key).await;
        let r = ann
            .call(
                "remove_passkey",
                &[("id", &phone_id), ("credential", &answer)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(r.body.contains("only second factor"), "{}", r.body);
        assert_eq!(ann.snapshot().await, before);
        assert_eq!(ann.count("SELECT COUNT(*) FROM passkeys").await, 1);

        // New recovery codes with the passkey; a code of an app she does not have is refused.
        let r = ann
            .call("regenerate_recovery_codes", &[("code", "123456")])
            .await;
        assert!(r.status.is_client_error(), "{}", r.body);
        let answer = answer_to(&mut ann, "start_passkey_confirmation", &mut key).await;
        let r = ann
            .call("regenerate_recovery_codes", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // The same answer again: spent.
        let r = ann
            .call("regenerate_recovery_codes", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

        // An app beside the passkey: only after a passkey proves it is her; no new codes; then
        // the passkey may go.
        let start = ann.call("start_enrollment", &[]).await.json();
        let unproven = totp::decode_setup_key(start["setup_key"].as_str().unwrap()).unwrap();
        let r = ann
            .call(
                "confirm_enrollment",
                &[("code", &totp::code_for(&unproven, now() as u64))],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(ann.count("SELECT COUNT(*) FROM authenticators").await, 0);
        let proof = answer_to(&mut ann, "start_passkey_confirmation", &mut key).await;
        let start = ann
            .call("start_enrollment", &[("credential", &proof)])
            .await;
        assert_eq!(start.status, StatusCode::OK, "{}", start.body);
        let secret = totp::decode_setup_key(start.json()["setup_key"].as_str().unwrap()).unwrap();
        let r = ann
            .call(
                "confirm_enrollment",
                &[("code", &totp::code_for(&secret, now() as u64))],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let app_codes: Vec<String> = serde_json::from_str(&r.body).unwrap();
        assert!(app_codes.is_empty());
        ann.secret = Some(secret);
        assert_eq!(ann.count(codes).await, 10);
        let answer = answer_to(&mut ann, "start_passkey_confirmation", &mut key).await;
        let r = ann
            .call(
                "remove_passkey",
                &[("id", &phone_id), ("credential", &answer)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);

        // Turning 2FA off with a passkey removes every factor.
        let mut key = authenticator();
        add(&mut ann, &mut key, "Laptop").await;
        let answer = answer_to(&mut ann, "start_passkey_confirmation", &mut key).await;
        let r = ann
            .call("disable_two_factor", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for table in ["passkeys", "authenticators", "recovery_codes"] {
            assert_eq!(
                ann.count(&format!("SELECT COUNT(*) FROM {table}")).await,
                0,
                "{table}"
            );
        }
    }
);

on_both!(
    the_owner_requires_2fa_by_adding_a_passkey_and_a_reset_removes_passkeys,
    |db: Db| async move {
        let mut ora = TestApp::spawn_with(db, on_localhost()).await;
        ora.sign_up("ora@example.com", PW).await;
        let (mut adam, _) = ora.add_member("adam@example.com", PW, false).await;
        // An admin cannot take the owner's step; a registration for Profile is not one for the
        // requirement.
        let r = adam
            .call(
                "start_passkey_registration",
                &[("name", "Key"), ("for_requirement", "true")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        let mut key = authenticator();
        let own = registration(&mut ora, &mut key, "Ora's key").await;
        let r = ora
            .call(
                "finish_passkey_registration",
                &[("credential", &own), ("for_requirement", "true")],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(ora.count("SELECT require_2fa FROM accounts").await, 0);

        let r = ora
            .call(
                "start_passkey_registration",
                &[("name", "Ora's key"), ("for_requirement", "true")],
            )
            .await;
        let options: CreationChallengeResponse = serde_json::from_str(&text(&r)).unwrap();
        let answer = key
            .do_registration(Url::parse(ORIGIN).unwrap(), options)
            .unwrap();
        let answer = serde_json::to_string(&answer).unwrap();
        let r = ora
            .call(
                "finish_passkey_registration",
                &[("credential", &answer), ("for_requirement", "true")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(ora.count("SELECT require_2fa FROM accounts").await, 1);
        assert_eq!(ora.call("current_user", &[]).await.status, StatusCode::OK);
        // With a second factor of her own, the owner confirms the requirement with it: a
        // passkey added "for the requirement" is refused.
        let code = ora.fresh_code().await;
        let r = ora
            .call(
                "start_passkey_registration",
                &[
                    ("name", "Again"),
                    ("for_requirement", "true"),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        // Adam's password-only session ended with the requirement.
        assert_eq!(
            adam.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );

        // Adam enrolls with a passkey; the owner resets his 2FA: the passkey goes with it.
        adam.sign_in("adam@example.com", PW).await;
        let mut adam_key = authenticator();
        add(&mut adam, &mut adam_key, "Adam's key").await;
        adam.call("finish_enrollment", &[]).await;
        let adam_id = ora.user_id("adam@example.com").await.to_string();
        let r = ora
            .call("reset_user_two_factor", &[("user_id", &adam_id)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            ora.count(&format!(
                "SELECT COUNT(*) FROM passkeys WHERE user_id = {adam_id}"
            ))
            .await,
            0
        );
        let mut b = ora.other_browser();
        let r = b.sign_in("adam@example.com", PW).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "a password alone never enrolls after a reset"
        );
    }
);

on_both!(
    with_passkeys_required_an_app_code_proves_once_and_a_passkey_opens_the_session,
    |db: Db| async move {
        let mut ora = TestApp::spawn_with(db, on_localhost()).await;
        let secret = ora.owner_with_2fa("ora@example.com", PW).await;
        // An authenticator accepts each step once and the clock one step either way: this test
        // has one code of Ora's to give (the next step), so her later proofs are her passkey.
        let code = totp::code_for(&secret, now() as u64 + 30);
        // Not by an owner without a passkey of her own: refused, and her code stays unspent.
        let before = ora.snapshot().await;
        let r = ora
            .call(
                "set_passkey_requirement",
                &[("on", "true"), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("Add a passkey for yourself"), "{}", r.body);
        assert_eq!(ora.snapshot().await, before);
        let r = ora
            .call(
                "set_account_requirement",
                &[("on", "true"), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Adam sets up an app, Bea a passkey, Cy both.
        let (mut adam, _) = ora.add_member("adam@example.com", PW, true).await;
        let (adam_secret, adam_codes) = adam.enroll().await;
        adam.call("finish_enrollment", &[]).await;
        let (mut bea, _) = ora.add_member("bea@example.com", PW, true).await;
        add(&mut bea, &mut authenticator(), "Bea's key").await;
        bea.call("finish_enrollment", &[]).await;
        assert_eq!(bea.call("current_user", &[]).await.status, StatusCode::OK);
        let (mut cy, _) = ora.add_member("cy@example.com", PW, true).await;
        let (cy_secret, _) = cy.enroll().await;
        cy.call("finish_enrollment", &[]).await;
        add(&mut cy, &mut authenticator(), "Cy's key").await;

        // Not by an admin.
        let r = adam
            .call(
                "set_passkey_requirement",
                &[("on", "true"), ("code", "123456")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        let mut ora_key = authenticator();
        add(&mut ora, &mut ora_key, "Ora's key").await;
        let policy = ora.call("account_policy", &[]).await.json();
        assert_eq!(policy["app_only"], 1, "Adam: {policy}");
        assert_eq!(policy["passkeys_required"], false);
        let answer = answer_to(&mut ora, "start_passkey_confirmation", &mut ora_key).await;
        let r = ora
            .call(
                "set_passkey_requirement",
                &[("on", "true"), ("credential", &answer)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let policy = ora.call("account_policy", &[]).await.json();
        assert_eq!(policy["passkeys_required"], true);
        assert_eq!(
            ora.count(
                "SELECT COUNT(*) FROM audit_events WHERE detail = 'passkeys required at login'"
            )
            .await,
            1
        );
        // Adam, with no passkey, is signed out; the others are not.
        assert_eq!(
            adam.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
        for (who, b) in [("bea", &mut bea), ("cy", &mut cy), ("ora", &mut ora)] {
            assert_eq!(
                b.call("current_user", &[]).await.status,
                StatusCode::OK,
                "{who}"
            );
        }

        // Adam's app code proves it is him once, sent twenty times at once: no session, no
        // failure counted, and the half sign-in now owes a passkey.
        let mut a = ora.other_browser();
        a.sign_in("adam@example.com", PW).await;
        let stage = a.call("sign_in_stage", &[]).await.json();
        assert_eq!(stage["Code"]["app"], true, "{stage}");
        let code = totp::code_for(&adam_secret, now() as u64 + 30);
        let statuses = common::at_once(&a, 20, "verify_sign_in", vec![("code", code)]).await;
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "{statuses:?}");
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
            "{statuses:?}"
        );
        assert!(a.cookie.is_none());
        assert_eq!(
            a.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(a.call("sign_in_stage", &[]).await.json(), "AddPasskey");
        let failures = "SELECT code_failures FROM users WHERE email = 'adam@example.com'";
        assert_eq!(ora.count(failures).await, 0);
        // A recovery code, or finishing as if enrolled, opens nothing and spends nothing.
        let unused = "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NULL";
        let left = ora.count(unused).await;
        let r = a
            .call(
                "verify_sign_in_recovery",
                &[("recovery_code", &adam_codes[0])],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(ora.count(unused).await, left);
        let r = a.call("finish_enrollment", &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(a.cookie.is_none());
        // His new passkey opens the session, in one step.
        let (_, r) = try_add(&mut a, &mut authenticator(), "Adam's key").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(a.cookie.is_some());
        assert_eq!(a.call("current_user", &[]).await.status, StatusCode::OK);

        // While passkeys are required, Cy's only passkey stays (his app alone would not do).
        let cy_key_id = ora
            .count("SELECT k.id FROM passkeys k JOIN users u ON u.id = k.user_id WHERE u.email = 'cy@example.com'")
            .await
            .to_string();
        let code = cy.fresh_code().await;
        let r = cy
            .call("remove_passkey", &[("id", &cy_key_id), ("code", &code)])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(r.body.contains("requires a passkey"), "{}", r.body);
        // Cy has a passkey: his app code is refused (not counted, not spent).
        let mut c = ora.other_browser();
        c.sign_in("cy@example.com", PW).await;
        let stage = c.call("sign_in_stage", &[]).await.json();
        assert_eq!(stage["Code"]["app"], false, "{stage}");
        let code = totp::code_for(&cy_secret, now() as u64 + 30);
        let r = c.call("verify_sign_in", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("requires a passkey"), "{}", r.body);
        let failures = "SELECT code_failures FROM users WHERE email = 'cy@example.com'";
        assert_eq!(ora.count(failures).await, 0);
        // Ora's passkey signs her in.
        let mut o = ora.other_browser();
        o.sign_in("ora@example.com", PW).await;
        let answer = assertion(&mut o, &mut ora_key).await;
        let r = o
            .call("finish_passkey_sign_in", &[("credential", &answer)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(o.cookie.is_some());

        // 2FA no longer required: nor are passkeys; and they cannot be required alone.
        let answer = answer_to(&mut ora, "start_passkey_confirmation", &mut ora_key).await;
        let r = ora
            .call(
                "set_account_requirement",
                &[("on", "false"), ("credential", &answer)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(ora.count("SELECT require_passkeys FROM accounts").await, 0);
        let answer = answer_to(&mut ora, "start_passkey_confirmation", &mut ora_key).await;
        let r = ora
            .call(
                "set_passkey_requirement",
                &[("on", "true"), ("credential", &answer)],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(
            r.body.contains("Require two-factor authentication first"),
            "{}",
            r.body
        );
        assert_eq!(ora.count("SELECT require_passkeys FROM accounts").await, 0);
    }
);
