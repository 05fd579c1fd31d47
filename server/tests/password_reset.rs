//! Forgotten passwords: a password link (asked for by email, or from the owner) sets a new
//! password once and signs nobody in; signing in afterwards asks for the second factor as
//! always. Every unusable link, and every bad new password, gets a clear error and changes
//! nothing; asking says nothing about who has an account.

mod common;

use std::time::Duration;

use app::server::{config::Config, mail, now, totp};
use common::{smtp::Sink, Db, TestApp};
use http::StatusCode;

const PW: &str = "correct horse battery";
const NEW_PW: &str = "a brand new passphrase";

fn config() -> Config {
    Config {
        public_origin: Some("http://localhost:3000".into()),
        test_clock: true,
        ..Default::default()
    }
}

/// Ora owns Acme, with an authenticator; the console sends mail through the returned sink.
async fn ora(db: Db) -> (TestApp, Sink, Vec<u8>) {
    let sink = Sink::start();
    let mut ora = TestApp::spawn_with_mail(db, config(), &sink).await;
    let secret = ora.owner_with_2fa("ora@example.com", PW).await;
    (ora, sink, secret)
}

/// Waits for the mail to `to` whose subject ends with `subject`.
async fn mailed(app: &TestApp, sink: &Sink, to: &str, subject: &str) -> common::smtp::Mail {
    for _ in 0..100 {
        mail::deliver_due(&app.state, now()).await.unwrap();
        if let Some(m) = sink
            .mails()
            .into_iter()
            .find(|m| m.to == vec![to.to_string()] && m.subject.ends_with(subject))
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no mail {subject:?} to {to}: {:?}",
        sink.mails().iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
}

/// Waits for the mail to `to` whose subject ends with `subject`; returns its password link token.
async fn mailed_link(app: &TestApp, sink: &Sink, to: &str, subject: &str) -> String {
    let link = mailed(app, sink, to, subject)
        .await
        .link("/password/reset/")
        .expect("a password link");
    assert!(
        link.starts_with("http://localhost:3000/password/reset/"),
        "{link}"
    );
    link.rsplit('/').next().unwrap().to_string()
}

async fn reset(b: &mut TestApp, token: &str, pw: &str, confirm: &str) -> common::Resp {
    b.call(
        "reset_password",
        &[
            ("token", token),
            ("password", pw),
            ("confirm_password", confirm),
        ],
    )
    .await
}

on_both!(
    forgot_then_new_password_then_the_second_factor,
    |db| async move {
        let (ora, sink, secret) = ora(db).await;
        let mut old_session = ora.other_browser_with(ora.cookie.clone(), None);
        // Asking: the same answer for Ora and for nobody.
        let mut stranger = ora.other_browser();
        let known = stranger
            .call("forgot_password", &[("email", "Ora@Example.com")])
            .await;
        let unknown = stranger
            .call("forgot_password", &[("email", "nobody@example.com")])
            .await;
        assert_eq!(known.status, unknown.status);
        assert_eq!(known.body, unknown.body);
        assert_eq!(known.location(), unknown.location());
        let token = mailed_link(&ora, &sink, "ora@example.com", "Reset your password").await;
        assert_eq!(
            sink.mails()
                .iter()
                .filter(|m| m.to == vec!["nobody@example.com".to_string()])
                .count(),
            0
        );
        // The link sets the password and opens nothing.
        let mut b = ora.other_browser();
        let r = reset(&mut b, &token, NEW_PW, NEW_PW).await;
        assert!(
            r.status.is_success() || r.status.is_redirection(),
            "{} {}",
            r.status,
            r.body
        );
        assert!(
            b.cookie.is_none() && b.pending.is_none(),
            "no session from a link"
        );
        // Every session of Ora ended; the old password is refused, the new one asks for a code.
        let r = old_session.call("current_user", &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        let r = b.sign_in("ora@example.com", PW).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        let r = b.sign_in("ora@example.com", NEW_PW).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            b.pending.is_some() && b.cookie.is_none(),
            "the second factor is owed"
        );
        sqlx::query("UPDATE authenticators SET last_step = 0")
            .execute(&ora.state.pool)
            .await
            .unwrap();
        let code = totp::code_for(&secret, now() as u64);
        let r = b.call("verify_sign_in", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(b.cookie.is_some());
        // Used: never again.
        let mut c = ora.other_browser();
        let r = reset(
            &mut c,
            &token,
            "yet another passphrase",
            "yet another passphrase",
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("not valid any more"), "{}", r.body);
        // Audited, and Ora hears that her password changed.
        assert_eq!(
            ora.count("SELECT COUNT(*) FROM audit_events WHERE event = 'password.reset'")
                .await,
            1
        );
        mail::deliver_due(&ora.state, now()).await.unwrap();
        let changed = sink.wait_for(2).await;
        assert!(changed
            .iter()
            .any(|m| m.subject == "[Acme] Your password was changed"));
        for m in sink.mails() {
            assert!(!m.raw.contains(NEW_PW) && !m.raw.contains(PW) && !m.raw.contains(&code));
        }
    }
);

on_both!(
    every_unusable_link_and_bad_password_changes_nothing,
    |db| async move {
        let (mut ora, sink, _) = ora(db).await;
        let (_adam, invite) = ora.add_member("adam@example.com", PW, false).await;
        let adam_id = ora.user_id("adam@example.com").await;
        let r = ora
            .call("reset_user_password", &[("user_id", &adam_id.to_string())])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let token = r.link_token("/password/reset/");
        let before = ora.snapshot().await;
        let hash = "SELECT password_hash FROM users WHERE email = 'adam@example.com'";
        let old_hash: String = sqlx::query_scalar(hash)
            .fetch_one(&ora.state.pool)
            .await
            .unwrap();
        let mut b = ora.other_browser();
        // Password rules and the confirmation: the link stays unspent.
        for (pw, confirm, field) in [
            ("short", "short", "password"),
            (NEW_PW, "not the same passphrase", "confirm_password"),
            ("", "", "password"),
        ] {
            let r = reset(&mut b, &token, pw, confirm).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
            assert_eq!(r.json()["Invalid"]["field"], field, "{}", r.body);
        }
        // Made-up tokens, another kind's token (the invitation, used already), a token far too
        // long.
        for bad in ["", "nope", invite.as_str(), &"x".repeat(5000)] {
            let r = reset(&mut b, bad, NEW_PW, NEW_PW).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        }
        // Expired: an hour past its 24 hours.
        let mut late = ora.other_browser();
        late.clock_shift = 25 * 3600;
        let r = reset(&mut late, &token, NEW_PW, NEW_PW).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(ora.snapshot().await, before);
        let now_hash: String = sqlx::query_scalar(hash)
            .fetch_one(&ora.state.pool)
            .await
            .unwrap();
        assert_eq!(now_hash, old_hash);
        // A newer link voids the older one.
        let r = ora
            .call("reset_user_password", &[("user_id", &adam_id.to_string())])
            .await;
        let newer = r.link_token("/password/reset/");
        let r = reset(&mut b, &token, NEW_PW, NEW_PW).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        // A removed user's link.
        let r = ora
            .call("remove_user", &[("user_id", &adam_id.to_string())])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = reset(&mut b, &newer, NEW_PW, NEW_PW).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        drop(sink);
    }
);

on_both!(
    fifty_uses_of_one_link_at_once_set_one_password,
    |db| async move {
        let (mut ora, _sink, _) = ora(db).await;
        ora.add_member("adam@example.com", PW, false).await;
        let adam_id = ora.user_id("adam@example.com").await;
        let r = ora
            .call("reset_user_password", &[("user_id", &adam_id.to_string())])
            .await;
        let token = r.link_token("/password/reset/");
        let anon = ora.other_browser();
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let mut b = anon.other_browser();
                let token = token.clone();
                tokio::spawn(async move {
                    let pw = format!("parallel passphrase {i:02}");
                    reset(&mut b, &token, &pw, &pw).await.status
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            let status = t.await.unwrap();
            if status.is_success() || status.is_redirection() {
                won += 1;
            }
        }
        assert_eq!(won, 1);
        assert_eq!(
            ora.count("SELECT COUNT(*) FROM audit_events WHERE event = 'password.reset'")
                .await,
            1
        );
    }
);

on_both!(asking_is_throttled_alike_for_everyone, |db| async move {
    let (ora, _sink, _) = ora(db).await;
    for email in ["ora@example.com", "nobody@example.com"] {
        let mut b = ora.other_browser();
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(b.call("forgot_password", &[("email", email)]).await.status);
        }
        assert!(
            statuses[..3]
                .iter()
                .all(|s| s.is_success() || s.is_redirection()),
            "{email}: {statuses:?}"
        );
        assert_eq!(
            statuses[4],
            StatusCode::TOO_MANY_REQUESTS,
            "{email}: {statuses:?}"
        );
    }
    // Each mail to Ora: one a minute at most, whatever was asked.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        ora.count("SELECT COUNT(*) FROM outbox WHERE kind = 'password_reset_asked'")
            .await,
        1
    );
});

on_both!(the_owner_hands_a_password_link, |db| async move {
    let (mut ora, _sink, _) = ora(db).await;
    let ora_id = ora.user_id("ora@example.com").await;
    let r = ora
        .call("reset_user_password", &[("user_id", &ora_id.to_string())])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let (mut adam, _) = ora.add_member("adam@example.com", PW, false).await;
    let adam_id = ora.user_id("adam@example.com").await;
    // An admin is not the owner.
    let r = adam
        .call("reset_user_password", &[("user_id", &ora_id.to_string())])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Another account's user.
    let mut olga = ora.other_browser();
    olga.sign_up("olga@example.com", PW).await;
    let r = olga
        .call("reset_user_password", &[("user_id", &adam_id.to_string())])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // Someone invited who never set a password.
    ora.invite("Ivy", "ivy@example.com", false).await;
    let ivy = ora.user_id("ivy@example.com").await;
    let r = ora
        .call("reset_user_password", &[("user_id", &ivy.to_string())])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // To another account's owner, Ivy is not found like any other of Acme's users: the
    // answer does not tell an invited user from anyone else.
    let r = olga
        .call("reset_user_password", &[("user_id", &ivy.to_string())])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // Adam's link: his current password works until he uses it; then only the new one.
    let r = ora
        .call("reset_user_password", &[("user_id", &adam_id.to_string())])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = r.link_token("/password/reset/");
    let mut b = ora.other_browser();
    assert_eq!(
        b.sign_in("adam@example.com", PW).await.status,
        StatusCode::OK
    );
    let r = adam.call("current_user", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = reset(&mut b, &token, NEW_PW, NEW_PW).await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.body
    );
    let r = adam.call("current_user", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "every session ended");
    let mut c = ora.other_browser();
    assert_eq!(
        c.sign_in("adam@example.com", PW).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.sign_in("adam@example.com", NEW_PW).await.status,
        StatusCode::OK
    );
    assert!(
        c.cookie.is_some(),
        "Adam has no second factor: the password signs him in"
    );
});

// A mailbox alone never holds a setup link and a password link at once (a new password, then
// its own authenticator): a 2FA reset voids the password link that waited, and while the setup
// link waits "Forgot password?" mails no link, only the word to ask the account owner.
on_both!(
    a_mailbox_alone_cannot_replace_password_and_second_factor,
    |db| async move {
        let (mut ora, sink, _) = ora(db).await;
        let (mut adam, _) = ora.add_member("adam@example.com", PW, true).await;
        adam.enroll().await;
        let adam_id = ora.user_id("adam@example.com").await;
        let mut stranger = ora.other_browser();
        let r = stranger
            .call("forgot_password", &[("email", "adam@example.com")])
            .await;
        assert!(
            r.status.is_success() || r.status.is_redirection(),
            "{}",
            r.body
        );
        let early = mailed_link(&ora, &sink, "adam@example.com", "Reset your password").await;

        let r = ora
            .call(
                "reset_user_two_factor",
                &[("user_id", &adam_id.to_string())],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = reset(&mut stranger, &early, NEW_PW, NEW_PW).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

        let r = stranger
            .call("forgot_password", &[("email", "adam@example.com")])
            .await;
        assert!(
            r.status.is_success() || r.status.is_redirection(),
            "{}",
            r.body
        );
        let told = mailed(
            &ora,
            &sink,
            "adam@example.com",
            "Ask your account owner for a password link",
        )
        .await;
        assert_eq!(told.link("/password/reset/"), None, "{}", told.text);
        let live = format!(
            "SELECT COUNT(*) FROM user_links WHERE user_id = {adam_id} AND kind = 'password'"
        );
        assert_eq!(ora.count(&live).await, 0);
        // The owner may still hand one over, but not by email: the setup link may be there.
        let r = ora
            .call("reset_user_password", &[("user_id", &adam_id.to_string())])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let handed = r.link_token("/password/reset/");
        let r = ora
            .call(
                "email_link",
                &[(
                    "link",
                    &format!("http://localhost:3000/password/reset/{handed}"),
                )],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(
            r.body.contains("Hand this link over yourself"),
            "{}",
            r.body
        );
        for _ in 0..20 {
            mail::deliver_due(&ora.state, now()).await.unwrap();
        }
        assert!(
            !sink
                .mails()
                .iter()
                .any(|m| m.subject.ends_with("Set a new password")),
            "no password link went by mail"
        );
    }
);

// The other order: a password a link set, not yet used with the user's second factor, shows
// only that someone read their mail, so the owner's setup link does not go there by email. Once
// the user has signed in with it and their code, it may.
on_both!(
    a_password_set_by_link_keeps_the_setup_link_out_of_the_mailbox,
    |db| async move {
        let (mut ora, sink, _) = ora(db).await;
        let mut ids = Vec::new();
        let mut secrets = Vec::new();
        for email in ["adam@example.com", "bea@example.com"] {
            let (mut b, _) = ora.add_member(email, PW, true).await;
            secrets.push(b.enroll().await.0);
            ids.push(ora.user_id(email).await);
            let mut stranger = ora.other_browser();
            let r = stranger.call("forgot_password", &[("email", email)]).await;
            assert!(
                r.status.is_success() || r.status.is_redirection(),
                "{}",
                r.body
            );
            let token = mailed_link(&ora, &sink, email, "Reset your password").await;
            let r = reset(&mut stranger, &token, NEW_PW, NEW_PW).await;
            assert!(
                r.status.is_success() || r.status.is_redirection(),
                "{}",
                r.body
            );
        }
        // Bea signs in with the new password and her code: the password is hers.
        let mut bea = ora.other_browser();
        bea.sign_in("bea@example.com", NEW_PW).await;
        let code = totp::code_for(&secrets[1], now() as u64 + 30);
        let r = bea.call("verify_sign_in", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(bea.cookie.is_some());

        // Two minutes on: the link mails above no longer hold the next one back.
        ora.clock_shift = 120;
        for (i, id) in ids.iter().enumerate() {
            let r = ora
                .call("reset_user_two_factor", &[("user_id", &id.to_string())])
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let setup = r.link_token("/setup/");
            let r = ora
                .call(
                    "email_link",
                    &[("link", &format!("http://localhost:3000/setup/{setup}"))],
                )
                .await;
            if i == 0 {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
                assert!(
                    r.body.contains("Hand this link over yourself"),
                    "{}",
                    r.body
                );
            } else {
                assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            }
        }
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_mail_the_owner_is_the_way() {
    let mut ora = TestApp::spawn_with(Db::Sqlite, config()).await;
    ora.owner_with_2fa("ora@example.com", PW).await;
    let r = ora.call("password_reset_by_email", &[]).await;
    assert_eq!(r.json(), false);
    let mut b = ora.other_browser();
    let r = b
        .call("forgot_password", &[("email", "ora@example.com")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("ask your account owner"), "{}", r.body);
    assert_eq!(ora.count("SELECT COUNT(*) FROM user_links").await, 0);
}

on_both!(
    fifty_links_issued_at_once_leave_one_that_works,
    |db| async move {
        let (mut ora, _sink, _) = ora(db).await;
        ora.add_member("adam@example.com", PW, false).await;
        let adam = ora.user_id("adam@example.com").await.to_string();
        let statuses =
            common::at_once(&ora, 50, "reset_user_password", vec![("user_id", adam)]).await;
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
        assert_eq!(
            ora.count(
                "SELECT COUNT(*) FROM user_links WHERE kind = 'password' AND used_at IS NULL"
            )
            .await,
            1,
            "a newer link voids the older ones, also when they are issued at once"
        );
    }
);
