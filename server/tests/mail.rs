//! Security mail through a real SMTP server (`scripts/smtp-sink.py`): who hears of what, that
//! no mail holds a code or a secret, the hourly limit on "someone has your password", links the
//! owner sends, a mail server that is down or refusing, two instances on one database, and a
//! server killed between the commit and the send.

mod common;

use std::time::{Duration, Instant};

use app::server::{mail, now, totp};
use common::{
    process::{self, Browser, Server},
    smtp::{Mail, Sink},
    Db, TestApp,
};
use http::StatusCode;

const PW: &str = "correct horse battery";

/// The console's public URL, as `server` always has one: mailed links are built on it.
fn with_public_url() -> app::server::config::Config {
    app::server::config::Config {
        public_origin: Some("http://localhost:3000".into()),
        ..Default::default()
    }
}

/// Delivers what is due `ahead` seconds from now.
async fn deliver(app: &TestApp, ahead: i64) -> usize {
    mail::deliver_due(&app.state, now() + ahead).await.unwrap()
}

fn who_got(mails: &[Mail]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = mails
        .iter()
        .map(|m| (m.to.join(","), m.subject.clone()))
        .collect();
    v.sort();
    v
}

/// No mail holds any of `secrets`, in either part or in the raw message.
fn free_of(mails: &[Mail], secrets: &[String]) {
    for m in mails {
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(
                !m.raw.contains(s.as_str())
                    && !m.text.contains(s.as_str())
                    && !m.html.contains(s.as_str()),
                "a mail ({}) holds a secret {s:?}",
                m.subject
            );
        }
    }
}

/// `owner` adds `name` <`email`> (2FA off); returns the link panel they were handed.
async fn add_invited(owner: &mut TestApp, name: &str, email: &str) -> app::domain::HandedLink {
    let r = owner
        .call(
            "add_user",
            &[("name", name), ("email", email), ("two_factor", "false")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

/// Ora owns account Acme with an authenticator; returns her browser, the sink and her secret.
async fn ora(db: Db) -> (TestApp, Sink, Vec<u8>, Vec<String>) {
    let sink = Sink::start();
    let mut ora = TestApp::spawn_with_mail(db, with_public_url(), &sink).await;
    let r = ora.sign_up("ora@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (secret, codes) = ora.enroll().await;
    (ora, sink, secret, codes)
}

on_both!(who_hears_of_what, |db| async move {
    let (mut ora, sink, secret, mut codes) = ora(db).await;
    // An admin who sets up an app on their own, then the owner turns it off for them.
    let (mut adam, _) = ora.add_member("adam@example.com", PW, false).await;
    let (adam_secret, adam_codes) = adam.enroll().await;
    codes.extend(adam_codes);
    let adam_id = ora.user_id("adam@example.com").await;
    let r = ora
        .call(
            "set_user_two_factor",
            &[("user_id", &adam_id.to_string()), ("on", "false")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Ora makes new recovery codes.
    let code = ora.fresh_code().await;
    let r = ora
        .call("regenerate_recovery_codes", &[("code", &code)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh: Vec<String> = serde_json::from_str(&r.body).unwrap();
    codes.extend(fresh);
    // Nothing is sent before the worker runs; then everything due, once.
    assert!(sink.mails().is_empty());
    assert_eq!(deliver(&ora, 0).await, 5);
    assert_eq!(deliver(&ora, 0).await, 0);
    let mails = sink.wait_for(5).await;
    assert_eq!(
        who_got(&mails),
        vec![
            (
                "adam@example.com".into(),
                "[Acme] Two-factor authentication is on".into()
            ),
            (
                "adam@example.com".into(),
                "[Acme] Two-factor authentication was turned off".into()
            ),
            (
                "ora@example.com".into(),
                "[Acme] New recovery codes were created".into()
            ),
            (
                "ora@example.com".into(),
                "[Acme] Two-factor authentication is on".into()
            ),
            (
                "ora@example.com".into(),
                "[Acme] Two-factor authentication was turned off for Adam".into()
            ),
        ]
    );
    let off = mails
        .iter()
        .find(|m| m.subject.ends_with("was turned off"))
        .unwrap();
    assert!(
        off.text
            .contains("Ann Owner, the account owner, turned off"),
        "{}",
        off.text
    );
    assert!(off.html.contains("<p>Hello Adam,</p>"), "{}", off.html);
    assert_eq!(off.from, "no-reply@latchkey.test");
    let mut secrets = codes.clone();
    secrets.extend(codes.iter().map(|c| c.replace('-', "")));
    secrets.push(PW.into());
    for s in [&secret, &adam_secret] {
        secrets.push(totp::SecretKey(s.clone()).base32());
        secrets.push(totp::code_for(s, now() as u64));
    }
    free_of(&mails, &secrets);
    // Each sent mail is in the audit log.
    assert_eq!(
        ora.count("SELECT COUNT(*) FROM audit_events WHERE event = 'mail.sent'")
            .await,
        5
    );
    let _ = adam;
});

on_both!(a_password_without_the_second_factor, |db| async move {
    let (ora, sink, secret, _) = ora(db).await;
    // Ora's own "2FA is on" first.
    assert_eq!(deliver(&ora, 0).await, 1);
    sink.wait_for(1).await;
    // Someone with the password, in a browser Ora never used, types a wrong code.
    let mut thief = ora.other_browser();
    let r = thief.sign_in("ora@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = thief.call("verify_sign_in", &[("code", "000000")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(deliver(&ora, 0).await, 1);
    let mails = sink.wait_for(2).await;
    assert_eq!(
        mails[1].subject,
        "[Acme] Your password was used with a wrong code"
    );
    let addr: String =
        sqlx::query_scalar("SELECT client_addr FROM audit_events WHERE event = 'code.failure'")
            .fetch_one(&ora.state.pool)
            .await
            .unwrap();
    assert!(
        mails[1]
            .text
            .contains(&format!("from {addr}, followed by a wrong")),
        "{}",
        mails[1].text
    );
    // Another half sign-in left unfinished: within the hour, no second mail.
    let mut again = ora.other_browser();
    let r = again.sign_in("ora@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(deliver(&ora, 0).await, 0, "not due before 10 minutes");
    assert_eq!(deliver(&ora, 601).await, 1);
    assert_eq!(sink.mails().len(), 2, "suppressed within the hour");
    // An hour later, an unfinished half sign-in is reported.
    sqlx::query("UPDATE users SET password_alert_at = password_alert_at - 3601")
        .execute(&ora.state.pool)
        .await
        .unwrap();
    let mut later = ora.other_browser();
    let r = later.sign_in("ora@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(deliver(&ora, 601).await, 1);
    let mails = sink.wait_for(3).await;
    assert_eq!(
        mails[2].subject,
        "[Acme] Your password was used without your second factor"
    );
    // Ora herself signs in from a new browser: no "unfinished" mail, one "new sign-in" mail.
    let mut laptop = ora.other_browser();
    laptop.agent = Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0");
    let r = laptop.sign_in("ora@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Her app's next code (enrollment spent this one).
    sqlx::query("UPDATE authenticators SET last_step = 0")
        .execute(&ora.state.pool)
        .await
        .unwrap();
    let code = totp::code_for(&secret, now() as u64);
    let r = laptop.call("verify_sign_in", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(deliver(&ora, 601).await, 1);
    let mails = sink.wait_for(4).await;
    assert_eq!(mails[3].subject, "[Acme] New sign-in to your account");
    assert!(mails[3].text.contains("Firefox/140.0"), "{}", mails[3].text);
    // The same browser again (it is remembered now): no mail.
    let r = laptop.call("sign_out", &[]).await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.body
    );
    let r = laptop.sign_in("ora@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    sqlx::query("UPDATE authenticators SET last_step = 0")
        .execute(&ora.state.pool)
        .await
        .unwrap();
    let code = totp::code_for(&secret, now() as u64);
    let r = laptop.call("verify_sign_in", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(deliver(&ora, 700).await, 0);
    assert_eq!(sink.mails().len(), 4);
    free_of(&sink.mails(), &[PW.into(), code]);
});

on_both!(recovery_codes_and_lockouts, |db| async move {
    let (mut ora, sink, _, codes) = ora(db).await;
    let mut b = ora.other_browser();
    let r = b.sign_in("ora@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = b
        .call("verify_sign_in_recovery", &[("recovery_code", &codes[3])])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    deliver(&ora, 0).await;
    let mails = sink.wait_for(2).await;
    let used = mails
        .iter()
        .find(|m| m.subject == "[Acme] A recovery code was used")
        .expect("the recovery-code mail");
    assert!(
        used.text.contains("Unused recovery codes left: 9."),
        "{}",
        used.text
    );
    free_of(&mails, &codes);
    // An admin's wrong codes lock their code check: the owner hears of it once.
    let (mut adam, _) = ora.add_member("adam@example.com", PW, false).await;
    adam.enroll().await;
    deliver(&ora, 0).await;
    let before = sink.wait_for(3).await.len();
    let mut thief = ora.other_browser();
    let r = thief.sign_in("adam@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for _ in 0..app::server::two_factor::MAX_FAILURES {
        thief.call("verify_sign_in", &[("code", "000000")]).await;
    }
    deliver(&ora, 0).await;
    let mails = sink.wait_for(before + 2).await;
    let new: Vec<_> = who_got(&mails[before..]);
    assert_eq!(
        new,
        vec![
            (
                "adam@example.com".into(),
                "[Acme] Your password was used with a wrong code".into()
            ),
            (
                "ora@example.com".into(),
                "[Acme] Adam is locked out after wrong codes".into()
            ),
        ]
    );
});

on_both!(the_owner_sends_links_by_email, |db| async move {
    let (mut ora, sink, _, _) = ora(db).await;
    let handed = add_invited(&mut ora, "Adam", "adam@example.com").await;
    assert!(handed.mailable);
    // The link that reaches the user is the console's, whatever host the copy named.
    let forged_host = handed.link.replace("http://", "http://evil.example/x/");
    let r = ora.call("email_link", &[("link", &forged_host)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json(), "Sent to Adam at adam@example.com.");
    // Again at once: refused, nothing more queued.
    let r = ora.call("email_link", &[("link", &handed.link)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    deliver(&ora, 0).await;
    let mails = sink.wait_for(2).await;
    let invite = mails
        .iter()
        .find(|m| m.subject == "[Acme] You are invited to Acme")
        .expect("the invitation");
    assert_eq!(invite.to, vec!["adam@example.com".to_string()]);
    let link = invite.link("/invite/").expect("a link in the invitation");
    assert!(!link.contains("evil"), "{link}");
    assert!(invite.html.contains(&format!("<a href=\"{link}\">")));
    assert_eq!(
        ora.count("SELECT COUNT(*) FROM outbox WHERE link_sealed IS NOT NULL")
            .await,
        0,
        "a sent link is not kept"
    );
    // The mailed link works.
    let token = link.rsplit('/').next().unwrap().to_string();
    let mut adam = ora.other_browser();
    let r = adam
        .call("accept_invitation", &[("token", &token), ("password", PW)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Used now: no longer sent.
    let r = ora.call("email_link", &[("link", &handed.link)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Made-up links, and links of another account, are refused and queue nothing.
    let queued = "SELECT COUNT(*) FROM outbox";
    let n = ora.count(queued).await;
    for bad in [
        "",
        "http://localhost/invite/",
        "http://localhost/invite/nope",
        "/setup/../../x",
    ] {
        let r = ora.call("email_link", &[("link", bad)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{bad}: {}", r.body);
    }
    let mut other = ora.other_browser();
    let r = other.sign_up("olga@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let theirs = add_invited(&mut other, "Bea", "bea@example.com").await;
    let r = ora.call("email_link", &[("link", &theirs.link)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // An admin is not the owner.
    let r = adam.call("email_link", &[("link", &theirs.link)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(ora.count(queued).await, n);
});

on_both!(
    the_same_send_fifty_times_at_once_queues_one,
    |db| async move {
        let (mut ora, _sink, _, _) = ora(db).await;
        let handed = add_invited(&mut ora, "Adam", "adam@example.com").await;
        let statuses = common::at_once(&ora, 50, "email_link", vec![("link", handed.link)]).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            ora.count("SELECT COUNT(*) FROM outbox WHERE kind = 'invitation'")
                .await,
            1
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_nothing_is_queued_and_links_say_so() {
    let mut ora = TestApp::spawn(Db::Sqlite).await;
    ora.owner_with_2fa("ora@example.com", PW).await;
    let handed = add_invited(&mut ora, "Adam", "adam@example.com").await;
    assert!(!handed.mailable);
    let r = ora.call("email_link", &[("link", &handed.link)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("Email is not configured"), "{}", r.body);
    let mut b = ora.other_browser();
    b.sign_in("ora@example.com", PW).await;
    b.call("verify_sign_in", &[("code", "000000")]).await;
    assert_eq!(ora.count("SELECT COUNT(*) FROM outbox").await, 0);
}

on_both!(
    a_mail_server_that_is_down_delays_mail_never_a_sign_in,
    |db| async move {
        let (ora, mut sink, secret, _) = ora(db).await;
        let port = sink.port;
        let dir = sink.dir.clone();
        deliver(&ora, 0).await;
        sink.wait_for(1).await;
        sink.stop();
        // The worker runs against a closed port while Ora signs in from new browsers.
        mail::spawn(ora.state.clone());
        for _ in 0..3 {
            let mut b = ora.other_browser();
            let start = Instant::now();
            let r = b.sign_in("ora@example.com", PW).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let code = totp::code_for(&secret, now() as u64);
            // Ora waits for her app's next code between sign-ins.
            sqlx::query("UPDATE authenticators SET last_step = 0")
                .execute(&ora.state.pool)
                .await
                .unwrap();
            let r = b.call("verify_sign_in", &[("code", &code)]).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "{:?}",
                start.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let waiting = "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL AND attempts >= 1 \
                   AND last_error IS NOT NULL";
        assert_eq!(ora.count(waiting).await, 3);
        // Back, but refusing (451): still waiting, tried again later.
        let sink = Sink::start_on(port, dir);
        sink.refuse(true);
        assert_eq!(deliver(&ora, 31).await, 3);
        assert_eq!(ora.count(waiting).await, 3);
        assert_eq!(sink.mails().len(), 1);
        // Taking mail again: each sent once.
        sink.refuse(false);
        assert_eq!(deliver(&ora, 3600).await, 3);
        let mails = sink.wait_for(4).await;
        assert_eq!(
            mails
                .iter()
                .filter(|m| m.subject == "[Acme] New sign-in to your account")
                .count(),
            3
        );
        assert_eq!(deliver(&ora, 7200).await, 0);
        // A day of failures is given up, and audited.
        sqlx::query("UPDATE outbox SET done_at = NULL, outcome = NULL, created_at = created_at - 90000, due_at = 0")
        .execute(&ora.state.pool)
        .await
        .unwrap();
        drop(sink);
        // Given up by this call or by the worker, whichever claims them first.
        deliver(&ora, 0).await;
        let given_up = "SELECT COUNT(*) FROM outbox WHERE outcome = 'given_up'";
        let start = Instant::now();
        while ora.count(given_up).await < 4 && start.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(ora.count(given_up).await, 4);
        assert_eq!(
            ora.count("SELECT COUNT(*) FROM audit_events WHERE event = 'mail.given_up'")
                .await,
            4
        );
    }
);

/// Two instances on one PostgreSQL database, each with its worker: 200 invitations sent by
/// email through both give 200 mails, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_mail_once() {
    let sink = Sink::start();
    let url = common::fresh_database_url(Db::Postgres).await;
    let mail = Some(common::mail_settings(&sink));
    let mut one = TestApp::spawn_on(url.clone(), with_public_url(), mail.clone()).await;
    let two = TestApp::spawn_on(url, with_public_url(), mail).await;
    one.owner_with_2fa("ora@example.com", PW).await;
    let mut via_two = two.other_browser_with(one.cookie.clone(), None);
    mail::spawn(one.state.clone());
    mail::spawn(two.state.clone());
    const N: usize = 200;
    for i in 0..N {
        let email = format!("user{i}@example.com");
        let handed = add_invited(&mut one, "Adam", &email).await;
        let b = if i % 2 == 0 { &mut one } else { &mut via_two };
        let r = b.call("email_link", &[("link", &handed.link)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    // Ora's own "2FA is on" and the 200 invitations.
    let mails = sink.wait_for(N + 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails_after = sink.mails();
    assert_eq!(mails_after.len(), N + 1, "no mail twice");
    let mut to: Vec<String> = mails.iter().map(|m| m.to.join(",")).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), N + 1);
}

/// The server is killed after the change committed and before its mail went out: the mail goes
/// out after the restart, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_survives_a_kill_between_commit_and_send() {
    let dir = process::scratch_dir("mail-kill");
    let key = process::new_secret_key();
    let port = process::free_port();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let flags = [
        "--smtp-url",
        smtp.as_str(),
        "--mail-from",
        "no-reply@latchkey.test",
    ];
    // No mail server yet: the worker cannot send.
    let mut server = Server::spawn_with(None, &dir, &key, &flags);
    server.wait_ready(Duration::from_secs(60)).await;
    let client = process::client();
    let mut ora = Browser::default();
    let r = ora
        .call(
            &client,
            &server.base,
            "sign_up",
            &process::sign_up_fields("ora@example.com", PW),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = ora
        .call(
            &client,
            &server.base,
            "add_user",
            &[
                ("name", "Adam"),
                ("email", "adam@example.com"),
                ("two_factor", "false"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let link = r.json()["link"].as_str().unwrap().to_string();
    let r = ora
        .call(&client, &server.base, "email_link", &[("link", &link)])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    server.kill();
    // The mail server comes up; the console restarts on the same data.
    let sink = Sink::start_on(port, process::scratch_dir("smtp"));
    let server = Server::spawn_with(None, &dir, &key, &flags);
    server.wait_ready(Duration::from_secs(60)).await;
    let start = Instant::now();
    while sink.mails().is_empty() && start.elapsed() < Duration::from_secs(45) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "the invitation, after the restart");
    assert_eq!(mails[0].to, vec!["adam@example.com".to_string()]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.mails().len(), 1, "once");
}

on_both!(one_person_cannot_be_flooded, |db| async move {
    let (mut ora, sink, _, _) = ora(db).await;
    deliver(&ora, 0).await;
    sink.wait_for(1).await;
    // The owner switches Adam's 2FA off and on 60 times: at most MAX_WAITING mails wait for
    // Adam (and for the owner), and at most MAX_SENT_PER_HOUR reach each address.
    let (_adam, _) = ora.add_member("adam@example.com", PW, true).await;
    let adam = ora.user_id("adam@example.com").await.to_string();
    for _ in 0..60 {
        for on in ["false", "true"] {
            let r = ora
                .call("set_user_two_factor", &[("user_id", &adam), ("on", on)])
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    }
    let waiting = "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL";
    assert_eq!(ora.count(waiting).await, 2 * mail::MAX_WAITING);
    while deliver(&ora, 0).await > 0 {}
    let mails = sink.mails();
    let to = |a: &str| mails.iter().filter(|m| m.to == vec![a.to_string()]).count() as i64;
    assert_eq!(to("adam@example.com"), mail::MAX_SENT_PER_HOUR);
    assert_eq!(to("ora@example.com"), mail::MAX_SENT_PER_HOUR);
    assert_eq!(ora.count(waiting).await, 0, "what was dropped is gone");
    // An address SMTP cannot take is refused when the owner sends a link to it.
    let handed = add_invited(&mut ora, "Odd", "x,y@example.com").await;
    let r = ora.call("email_link", &[("link", &handed.link)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("Mail cannot be sent"), "{}", r.body);
});

on_both!(
    a_switch_sent_twenty_times_at_once_changes_and_mails_once,
    |db| async move {
        let (mut ora, _sink, _, _) = ora(db).await;
        let (mut adam, _) = ora.add_member("adam@example.com", PW, false).await;
        adam.enroll().await;
        let adam_id = ora.user_id("adam@example.com").await.to_string();
        let off = || vec![("user_id", adam_id.clone()), ("on", "false".to_string())];
        let mails = "SELECT COUNT(*) FROM outbox WHERE kind IN ('two_factor_off', 'user_exempted')";
        let logged = "SELECT COUNT(*) FROM audit_events WHERE event = 'user.two_factor_changed'";
        let statuses = common::at_once(&ora, 20, "set_user_two_factor", off()).await;
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
        // One change: Adam hears once, the owner once, and the log has one row.
        assert_eq!(ora.count(mails).await, 2);
        assert_eq!(ora.count(logged).await, 1);
        // Asked again, nothing changes: no mail, no row.
        let r = ora
            .call(
                "set_user_two_factor",
                &[("user_id", &adam_id), ("on", "false")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(ora.count(mails).await, 2);
        assert_eq!(ora.count(logged).await, 1);
    }
);
