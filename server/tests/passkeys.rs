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
    let r = app
        .call("start_passkey_registration", &[("name", name)])
        .await;
    let options: CreationChallengeResponse = serde_json::from_str(&text(&r)).unwrap();
    let answer = key
        .do_registration(Url::parse(ORIGIN).unwrap(), options)
        .expect("the soft passkey registers");
    let answer = serde_json::to_string(&answer).unwrap();
    let r = app
        .call("finish_passkey_registration", &[("credential", &answer)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    answer
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
        assert_eq!(b.call("passkey_sign_in_offered", &[]).await.body, "true");
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
        ann.call("start_passkey_registration", &[("name", "Other")])
            .await;
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
        bob.call("start_passkey_registration", &[("name", "Mine")])
            .await;
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

        // Calls out of order: a signed-in session cannot finish a sign-in; a half sign-in cannot
        // add a passkey or list them.
        assert_eq!(
            ann.call("finish_passkey_sign_in", &[("credential", &answer)])
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        for name in ["start_passkey_registration", "my_passkeys"] {
            let r = b.call(name, &[("name", "x")]).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}");
        }
        assert_eq!(ann.count(passkeys).await, 1);
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
        assert_eq!(b.call("passkey_sign_in_offered", &[]).await.body, "false");
    }
);

on_both!(
    passkeys_need_a_domain_and_an_authenticator_first,
    |db: Db| async move {
        // No public URL on a domain name: passkeys are off, in words.
        let mut ip = TestApp::spawn(db).await;
        ip.owner_with_2fa("ann@example.com", PW).await;
        assert_eq!(ip.call("my_passkeys", &[]).await.json()["enabled"], false);
        let r = ip
            .call("start_passkey_registration", &[("name", "Key")])
            .await;
        assert!(r.status.is_client_error(), "{}", r.body);
        assert!(r.body.contains("domain name"), "{}", r.body);
        // No authenticator app yet: not yet.
        let mut cy = TestApp::spawn_with(db, on_localhost()).await;
        cy.sign_up("cy@example.com", PW).await;
        let r = cy
            .call("start_passkey_registration", &[("name", "Key")])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("authenticator app first"), "{}", r.body);
    }
);

on_both!(
    a_passkey_confirms_a_removal_once_and_only_of_ones_own,
    |db: Db| async move {
        const CONFIRM: &str = "start_passkey_confirmation";
        const REMOVE: &str = "remove_passkey_with_passkey";
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
            let r = b
                .call("start_passkey_registration", &[("name", "One more")])
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
