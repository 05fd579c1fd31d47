//! The owner's controls and who may call them, on SQLite and PostgreSQL.

mod common;

use app::server::{now, totp};
use common::{Db, TestApp};
use http::StatusCode;

const PW: &str = "correct horse battery";

/// Adds an admin and accepts the invitation in a new browser; returns (browser, user id).
async fn admin(owner: &mut TestApp, email: &str, two_factor: bool) -> (TestApp, i64) {
    let (b, token) = owner.add_member(email, PW, two_factor).await;
    // A used invitation is refused.
    let mut c = owner.other_browser();
    assert_eq!(
        c.call("accept_invitation", &[("token", &token), ("password", PW)])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let id = owner.user_id(email).await;
    (b, id)
}

on_both!(
    requirement_on_turns_everyone_on_and_off_changes_nobody,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let secret = app.owner_with_2fa("owner@example.com", PW).await;
        let (mut adam, _) = admin(&mut app, "adam@example.com", false).await;
        assert_eq!(adam.call("current_user", &[]).await.status, StatusCode::OK);
        let impact = app.call("account_policy", &[]).await.json();
        assert_eq!(impact["users_total"], 2);
        assert_eq!(impact["pending_setup"][0]["email"], "adam@example.com");

        let code = totp::code_for(&secret, now() as u64 + 30);
        let r = app
            .call(
                "set_account_requirement",
                &[("on", "true"), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM users WHERE tfa_on = 1")
                .await,
            2
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM users WHERE tfa_source = 'account'")
                .await,
            1
        );
        // Adam's session had no second factor: it ended.
        assert_eq!(
            adam.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
        // Adam now must enroll after the password.
        let mut b = app.other_browser();
        b.sign_in("adam@example.com", PW).await;
        assert_eq!(b.call("sign_in_stage", &[]).await.body, "\"Enroll\"");
        // OFF needs a current code and changes nobody's 2FA.
        assert_eq!(
            app.call(
                "set_account_requirement",
                &[("on", "false"), ("code", "000000")]
            )
            .await
            .status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(app.count("SELECT require_2fa FROM accounts").await, 1);
        // A minute later, as far as one-time use is concerned: the current step is fresh again.
        sqlx::query("UPDATE authenticators SET last_step = last_step - 3")
            .execute(&app.state.pool)
            .await
            .unwrap();
        let code = totp::code_for(&secret, now() as u64);
        let r = app
            .call(
                "set_account_requirement",
                &[("on", "false"), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(app.count("SELECT require_2fa FROM accounts").await, 0);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM users WHERE tfa_on = 1")
                .await,
            2
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'policy.changed'")
                .await,
            2
        );
    }
);

on_both!(
    requirement_via_enrollment_is_one_step,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("owner@example.com", PW).await;
        let start = app.call("start_requirement_enrollment", &[]).await;
        assert_eq!(start.status, StatusCode::OK, "{}", start.body);
        // Abandoned: nothing required yet.
        assert_eq!(app.count("SELECT require_2fa FROM accounts").await, 0);
        let secret = totp::decode_setup_key(start.json()["setup_key"].as_str().unwrap()).unwrap();
        let code = totp::code_for(&secret, now() as u64);
        assert_eq!(
            app.call("confirm_enrollment", &[("code", &code)])
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(app.count("SELECT require_2fa FROM accounts").await, 1);
        assert_eq!(
            app.call("current_user", &[]).await.status,
            StatusCode::OK,
            "the owner's own session was upgraded"
        );
    }
);

on_both!(
    per_user_exceptions_and_owner_cannot_exempt_self,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let secret = app.owner_with_2fa("owner@example.com", PW).await;
        let (_, adam_id) = admin(&mut app, "adam@example.com", true).await;
        let owner_id = app.count("SELECT id FROM users WHERE role = 'owner'").await;
        let code = totp::code_for(&secret, now() as u64 + 30);
        app.call(
            "set_account_requirement",
            &[("on", "true"), ("code", &code)],
        )
        .await;
        let r = app
            .call(
                "set_user_two_factor",
                &[("user_id", &adam_id.to_string()), ("on", "false")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            app.count(&format!("SELECT tfa_on FROM users WHERE id = {adam_id}"))
                .await,
            0
        );
        // The exempted admin signs in with the password alone.
        let mut b = app.other_browser();
        b.sign_in("adam@example.com", PW).await;
        assert!(b.cookie.is_some());
        // The owner cannot exempt themself.
        let r = app
            .call(
                "set_user_two_factor",
                &[("user_id", &owner_id.to_string()), ("on", "false")],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            app.count(&format!("SELECT tfa_on FROM users WHERE id = {owner_id}"))
                .await,
            1
        );
        // Exempt, the admin may still turn theirs on, as if the account did not require it.
        let r = b.call("start_enrollment", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
);

on_both!(reset_needs_the_setup_link, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.owner_with_2fa("owner@example.com", PW).await;
    let (mut adam, adam_id) = admin(&mut app, "adam@example.com", true).await;
    // Adam enrolls during sign-in.
    adam.enroll().await;
    assert_eq!(
        adam.call("finish_enrollment", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(adam.call("current_user", &[]).await.status, StatusCode::OK);

    let r = app
        .call(
            "reset_user_two_factor",
            &[("user_id", &adam_id.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = r.link_token("/setup/");
    assert_eq!(
        adam.call("current_user", &[]).await.status,
        StatusCode::UNAUTHORIZED,
        "sessions removed"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM authenticators").await,
        1,
        "only the owner's is left"
    );
    // The password alone does not enroll.
    let mut b = app.other_browser();
    let r = b.sign_in("adam@example.com", PW).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(b.pending.is_none());
    // The setup link with the wrong password changes nothing; with the right one, enrollment.
    assert_eq!(
        b.call(
            "continue_setup",
            &[("token", &token), ("password", "wrong password!!")]
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let r = b
        .call("continue_setup", &[("token", &token), ("password", PW)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The enrollment says the 2FA was reset, and by whom.
    let stage = b.call("sign_in_stage", &[]).await.json();
    assert_eq!(stage["Reenroll"]["by"], "Ann Owner", "{stage}");
    assert!(stage["Reenroll"]["at"].as_i64().unwrap() > 0, "{stage}");
    let page = b.get("/login/verify").await;
    assert!(
        page.body
            .contains("Your two-factor authentication was reset by Ann Owner on "),
        "{}",
        page.body
    );
    b.enroll().await;
    assert_eq!(
        b.call("finish_enrollment", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(b.call("current_user", &[]).await.status, StatusCode::OK);
    // The link is single use.
    let mut c = app.other_browser();
    assert_eq!(
        c.call("continue_setup", &[("token", &token), ("password", PW)])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
});

// Every owner function × anonymous, half-signed-in, admin, owner of another account:
// refused, and nothing changed.
on_both!(authorization_matrix, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.owner_with_2fa("owner@example.com", PW).await;
    let (mut admin_b, adam_id) = admin(&mut app, "adam@example.com", false).await;
    let mut other = app.other_browser();
    other
        .call(
            "sign_up",
            &[
                ("account_name", "Other"),
                ("name", "Olga"),
                ("email", "olga@example.com"),
                ("password", PW),
            ],
        )
        .await;
    let mut half = app.other_browser();
    half.sign_in("owner@example.com", PW).await;
    assert!(half.pending.is_some() && half.cookie.is_none());
    let mut anon = app.other_browser();

    let id = adam_id.to_string();
    let calls: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("account_policy", vec![]),
        (
            "set_account_requirement",
            vec![("on", "true"), ("code", "123456")],
        ),
        ("start_requirement_enrollment", vec![]),
        ("list_users", vec![]),
        (
            "add_user",
            vec![
                ("name", "Eve"),
                ("email", "eve@example.com"),
                ("two_factor", "false"),
            ],
        ),
        (
            "set_user_two_factor",
            vec![("user_id", &id), ("on", "true")],
        ),
        ("reset_user_two_factor", vec![("user_id", &id)]),
        ("remove_user", vec![("user_id", &id)]),
        (
            "audit_log",
            vec![("event", ""), ("user_id", "0"), ("before", "0")],
        ),
    ];
    let snapshot = |app: &TestApp| {
        let app = app.state.clone();
        async move {
            use sqlx::Row;
            let q = "SELECT CAST((SELECT COUNT(*) FROM users) + 10 * (SELECT COALESCE(SUM(tfa_on), 0) FROM users) \
                     + 100 * (SELECT COUNT(*) FROM user_links) + 1000 * (SELECT COALESCE(SUM(require_2fa), 0) FROM accounts) \
                     + 10000 * (SELECT COUNT(*) FROM enrollments) AS BIGINT)";
            sqlx::query(q)
                .fetch_one(&app.pool)
                .await
                .unwrap()
                .try_get::<i64, _>(0)
                .unwrap()
        }
    };
    let before = snapshot(&app).await;
    for (name, args) in &calls {
        for (who, browser, want) in [
            ("anonymous", &mut anon, StatusCode::UNAUTHORIZED),
            ("half-signed-in", &mut half, StatusCode::UNAUTHORIZED),
            ("admin", &mut admin_b, StatusCode::FORBIDDEN),
        ] {
            let r = browser.call(name, args).await;
            assert_eq!(r.status, want, "{name} as {who}: {}", r.body);
        }
    }
    // The owner of another account: the user ids are not theirs.
    for name in [
        "set_user_two_factor",
        "reset_user_two_factor",
        "remove_user",
    ] {
        let args = calls.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        let r = other.call(name, &args).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{name} on another account: {}",
            r.body
        );
    }
    let users = other.call("list_users", &[]).await.json();
    assert_eq!(
        users.as_array().unwrap().len(),
        1,
        "sees only their own account"
    );
    assert_eq!(
        snapshot(&app).await,
        before,
        "refused calls changed nothing"
    );
    // Unknown ids and malformed ids are clean errors too.
    assert_eq!(
        app.call("remove_user", &[("user_id", "999999")])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call("remove_user", &[("user_id", "abc")]).await.status,
        StatusCode::BAD_REQUEST
    );
});

on_both!(remove_user_ends_their_sessions, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.owner_with_2fa("owner@example.com", PW).await;
    let (mut adam, adam_id) = admin(&mut app, "adam@example.com", false).await;
    assert_eq!(adam.call("current_user", &[]).await.status, StatusCode::OK);
    assert_eq!(
        app.call("remove_user", &[("user_id", &adam_id.to_string())])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        adam.call("current_user", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let log = app
        .call(
            "audit_log",
            &[("event", "user.removed"), ("user_id", "0"), ("before", "0")],
        )
        .await
        .json();
    assert_eq!(log["entries"].as_array().unwrap().len(), 1);
});

on_both!(operator_reset_issues_a_setup_link, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.owner_with_2fa("owner@example.com", PW).await;
    let link = server::operator_reset(&app.state, "Owner@Example.com")
        .await
        .unwrap();
    assert!(
        link.starts_with("/setup/") && link.len() == "/setup/".len() + 43,
        "{link}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM authenticators").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'two_factor.reset' AND client_addr = 'operator'").await,
        1
    );
    assert!(server::operator_reset(&app.state, "nobody@example.com")
        .await
        .is_err());
});

on_both!(
    policy_impact_counts_in_the_database_and_names_the_first_fifty,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        for i in 0..55 {
            let email = format!("user{i}@example.com");
            let r = app
                .call(
                    "add_user",
                    &[
                        ("name", "Someone"),
                        ("email", &email),
                        ("two_factor", "false"),
                    ],
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let p = app.call("account_policy", &[]).await.json();
        assert_eq!(p["users_total"], 56);
        assert_eq!(p["protected"], 0);
        assert_eq!(p["pending_total"], 56);
        assert_eq!(p["pending_setup"].as_array().unwrap().len(), 50);
        // Oldest first: the owner heads the list.
        assert_eq!(p["pending_setup"][0]["email"], "ann@example.com");
        app.enroll().await;
        let p = app.call("account_policy", &[]).await.json();
        assert_eq!(
            (p["protected"].as_i64(), p["pending_total"].as_i64()),
            (Some(1), Some(55))
        );
        // The picture's three groups add up to everyone.
        assert_eq!(
            (p["to_set_up"].as_i64(), p["off"].as_i64()),
            (Some(0), Some(55))
        );
    }
);

on_both!(
    the_owner_exports_their_own_users_as_csv,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        let (mut adam, _) = admin(&mut app, "adam@example.com", true).await;
        let r = app
            .call(
                "add_user",
                &[
                    ("name", "=cmd|' /C calc'!A0"),
                    ("email", "formula@example.com"),
                    ("two_factor", "false"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Another account's users never appear.
        let mut other = app.other_browser();
        other.sign_up("stranger@example.com", PW).await;

        let csv = app.get("/users/export.csv").await;
        assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
        assert_eq!(
            csv.headers[http::header::CONTENT_TYPE],
            "text/csv; charset=utf-8"
        );
        let disposition = csv.headers[http::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\"latchkey-users-")
                && disposition.ends_with(".csv\""),
            "{disposition}"
        );
        assert_eq!(csv.headers[http::header::CACHE_CONTROL], "no-store");
        let lines: Vec<&str> = csv.body.lines().collect();
        assert_eq!(
            lines[0],
            r#""Name","Email","Role","Two-factor authentication","Source","Set by","Set at","Methods","Authenticator","Set up by","Last sign-in""#
        );
        assert_eq!(lines.len(), 4, "{}", csv.body);
        assert!(
            lines[1].starts_with(r#""Ann Owner","owner@example.com","Owner","On","self","#),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains(r#","App","Set up","#), "{}", lines[1]);
        // Adam: on by the owner, to enroll at his next sign-in, never signed in.
        assert!(
            lines[2].starts_with(r#""Adam","adam@example.com","Admin","On","owner","Ann Owner","#),
            "{}",
            lines[2]
        );
        assert!(
            lines[2].ends_with(r#","","Pending: sets up at next sign-in","","""#),
            "{}",
            lines[2]
        );
        // A cell a spreadsheet would run is written as text; every field is quoted, so a
        // spreadsheet reading `;` as the separator keeps `a;=1+1` in one cell too.
        assert!(
            lines[3].starts_with(r#""'=cmd|' /C calc'!A0","formula@example.com","Admin","Off","#),
            "{}",
            lines[3]
        );
        let head = app
            .send(
                app.request(http::Method::HEAD, "/users/export.csv")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(head.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(!csv.body.contains("stranger"));
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'users.exported'")
                .await,
            1
        );

        // Only the owner, only with a session: not a half sign-in, not an admin.
        let r = adam.get("/users/export.csv").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        let (mut bea, _) = admin(&mut app, "bea@example.com", false).await;
        let r = bea.get("/users/export.csv").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(!r.body.contains("adam@example.com"));
        let r = app.other_browser().get("/users/export.csv").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'users.exported'")
                .await,
            1,
            "a refused export is not one"
        );
    }
);

// An exemption, as the owner, the exempt user and the account's statements see it.
on_both!(
    an_exempt_user_is_named_not_asked_and_may_opt_in,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let secret = app.owner_with_2fa("owner@example.com", PW).await;
        let (_, ben_id) = admin(&mut app, "ben@example.com", false).await;
        admin(&mut app, "cy@example.com", false).await;
        let code = totp::code_for(&secret, now() as u64 + 30);
        let r = app
            .call(
                "set_account_requirement",
                &[("on", "true"), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let p = app.call("account_policy", &[]).await.json();
        assert_eq!(p["pending_total"], 2);
        assert_eq!(p["exempt"].as_array().unwrap().len(), 0);

        // The owner exempts Ben: he is named as exempt, and no longer listed as asked.
        let r = app
            .call(
                "set_user_two_factor",
                &[("user_id", &ben_id.to_string()), ("on", "false")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let p = app.call("account_policy", &[]).await.json();
        assert_eq!(p["off"], 1);
        assert_eq!(p["exempt"][0]["email"], "ben@example.com");
        assert_eq!(p["pending_total"], 1);
        assert_eq!(p["pending_setup"][0]["email"], "cy@example.com");

        // Ben signs in with only a password, and may turn 2FA on for himself.
        let mut ben = app.other_browser();
        assert_eq!(
            ben.sign_in("ben@example.com", PW).await.status,
            StatusCode::OK
        );
        assert!(ben.cookie.is_some(), "a session without a code");
        let status = ben.call("my_two_factor", &[]).await.json();
        assert_eq!(status["setting"]["on"], false);
        ben.enroll().await;
        let status = ben.call("my_two_factor", &[]).await.json();
        assert_eq!(status["setting"]["on"], true);
        // Once on, the account's requirement holds him: he cannot turn it off again.
        let r = ben.call("disable_two_factor", &[("code", "123456")]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("required for your account"), "{}", r.body);
        let p = app.call("account_policy", &[]).await.json();
        assert_eq!(p["off"], 0);
        assert_eq!(p["exempt"].as_array().unwrap().len(), 0);
    }
);

/// Follows a link (`accept_invitation` or `continue_setup` with its token) in a new browser.
async fn use_link(app: &TestApp, function: &str, token: String) -> StatusCode {
    let mut b = app.other_browser();
    b.call(function, &[("token", &token), ("password", PW)])
        .await
        .status
}

// A new link in place of the one sent before: the old one stops working, parallel renewals
// leave exactly one, and only the owner of the user's account gets one, while one is waiting.
on_both!(
    a_renewed_link_voids_the_old_one_and_only_waiting_users_get_one,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        let r = app
            .call(
                "add_user",
                &[("name", "Ada Admin"), ("email", "ada@example.com")],
            )
            .await;
        let first = r.link_token("/invite/");
        let ada = app.user_id("ada@example.com").await.to_string();
        let r = app.call("renew_link", &[("user_id", &ada)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("\"renewed\":true"), "{}", r.body);
        let second = r.link_token("/invite/");
        assert_eq!(
            use_link(&app, "accept_invitation", first).await,
            StatusCode::BAD_REQUEST
        );

        // Twenty at once: each voids the one before it, and one link is left.
        let statuses =
            common::at_once(&app, 20, "renew_link", vec![("user_id", ada.clone())]).await;
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
        let waiting =
            format!("SELECT COUNT(*) FROM user_links WHERE user_id = {ada} AND used_at IS NULL");
        assert_eq!(app.count(&waiting).await, 1);
        assert_eq!(
            use_link(&app, "accept_invitation", second).await,
            StatusCode::BAD_REQUEST
        );
        let r = app.call("renew_link", &[("user_id", &ada)]).await;
        assert_eq!(
            use_link(&app, "accept_invitation", r.link_token("/invite/")).await,
            StatusCode::OK
        );

        // Signed in: nothing is waiting. The owner's own, another account's user, an admin
        // asking: refused, and nothing issued.
        let r = app.call("renew_link", &[("user_id", &ada)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        let me = app.user_id("owner@example.com").await.to_string();
        assert_eq!(
            app.call("renew_link", &[("user_id", &me)]).await.status,
            StatusCode::BAD_REQUEST
        );
        let mut other = app.other_browser();
        other.sign_up("zed@example.com", PW).await;
        let (mut adam, _) = other.add_member("adam@example.com", PW, false).await;
        let pending = other
            .call("add_user", &[("name", "Pat"), ("email", "pat@example.com")])
            .await;
        assert_eq!(pending.status, StatusCode::OK);
        let pat = app.user_id("pat@example.com").await.to_string();
        assert_eq!(
            app.call("renew_link", &[("user_id", &pat)]).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            adam.call("renew_link", &[("user_id", &pat)]).await.status,
            StatusCode::FORBIDDEN
        );
        let links = "SELECT COUNT(*) FROM user_links WHERE used_at IS NULL";
        let after = app.count(links).await;
        assert_eq!(after, 1, "only Pat's invitation waits");

        // A setup link after a reset is renewed the same way.
        let r = app
            .call("reset_user_two_factor", &[("user_id", &ada)])
            .await;
        let old = r.link_token("/setup/");
        let r = app.call("renew_link", &[("user_id", &ada)]).await;
        let new = r.link_token("/setup/");
        assert_eq!(
            use_link(&app, "continue_setup", old).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(use_link(&app, "continue_setup", new).await, StatusCode::OK);
    }
);

// What the console says after the requirement is saved, and whom an invitation is for.
on_both!(
    requirement_since_and_invitation_details,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let secret = app.owner_with_2fa("owner@example.com", PW).await;
        let r = app
            .call(
                "add_user",
                &[("name", "Ada Admin"), ("email", "ada@example.com")],
            )
            .await;
        let token = r.link_token("/invite/");
        // The invitation names the account and the email, to the link's holder only.
        let mut visitor = app.other_browser();
        let r = visitor
            .call("invitation_details", &[("token", &token)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.json(), serde_json::json!(["Acme", "ada@example.com"]));
        for bad in ["", "not-a-token", &format!("{token}x")] {
            let r = visitor.call("invitation_details", &[("token", bad)]).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        }

        let p = app.call("account_policy", &[]).await.json();
        assert_eq!(p["required_since"], serde_json::Value::Null);
        let code = totp::code_for(&secret, now() as u64 + 30);
        app.call(
            "set_account_requirement",
            &[("on", "true"), ("code", &code)],
        )
        .await;
        let p = app.call("account_policy", &[]).await.json();
        let since = p["required_since"].as_i64().expect("since when");
        assert!((now() - since).abs() < 60, "{since}");
        // Spent or not, the link holder learns nothing once it no longer works.
        let r = visitor
            .call("accept_invitation", &[("token", &token), ("password", PW)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = visitor
            .call("invitation_details", &[("token", &token)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        // Off: no "since".
        sqlx::query("UPDATE authenticators SET last_step = last_step - 3")
            .execute(&app.state.pool)
            .await
            .unwrap();
        let code = totp::code_for(&secret, now() as u64);
        let r = app
            .call(
                "set_account_requirement",
                &[("on", "false"), ("code", &code)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let p = app.call("account_policy", &[]).await.json();
        assert_eq!(p["required_since"], serde_json::Value::Null);
    }
);

// "Not you?" on the code page ends the half sign-in, not only its cookie.
on_both!(signing_out_a_half_sign_in_ends_it, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.owner_with_2fa("owner@example.com", PW).await;
    let mut b = app.other_browser();
    b.sign_in("owner@example.com", PW).await;
    assert!(b.pending.is_some());
    assert_eq!(app.count("SELECT COUNT(*) FROM pending_logins").await, 1);
    let r = b.call("sign_out", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(b.pending.is_none(), "the cookie is cleared");
    assert_eq!(app.count("SELECT COUNT(*) FROM pending_logins").await, 0);
});

// A new invitation link issued while the first is being accepted sets no password: an
// invitation never replaces a password, and accepting one voids the user's other links.
on_both!(
    an_invitation_never_replaces_a_password,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("owner@example.com", PW).await;
        let r = app
            .call("add_user", &[("name", "Vi"), ("email", "vi@example.com")])
            .await;
        r.link_token("/invite/");
        let vi = app.user_id("vi@example.com").await.to_string();
        // The acceptance has spent the link and is hashing the password when the owner asks
        // for a new one.
        sqlx::query("UPDATE user_links SET used_at = $1")
            .bind(now())
            .execute(&app.state.pool)
            .await
            .unwrap();
        let second = app
            .call("renew_link", &[("user_id", &vi)])
            .await
            .link_token("/invite/");
        // ... and then sets it.
        sqlx::query("UPDATE users SET password_hash = 'set-by-the-acceptance' WHERE id = $1")
            .bind(vi.parse::<i64>().unwrap())
            .execute(&app.state.pool)
            .await
            .unwrap();
        assert_eq!(
            use_link(&app, "accept_invitation", second).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM users WHERE password_hash = 'set-by-the-acceptance'")
                .await,
            1
        );
        // A real acceptance voids every other invitation link of the user.
        let r = app
            .call("add_user", &[("name", "Wu"), ("email", "wu@example.com")])
            .await;
        let wu_link = r.link_token("/invite/");
        assert_eq!(
            use_link(&app, "accept_invitation", wu_link).await,
            StatusCode::OK
        );
        let wu = app.user_id("wu@example.com").await;
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM user_links WHERE user_id = {wu}"
            ))
            .await,
            0
        );
    }
);

/// Makes the database refuse audit rows of `events` (a trigger), as a full disk or a lost
/// connection would at that statement.
async fn refuse_audit_rows(app: &TestApp, db: Db, events: &[&str]) {
    let list = events
        .iter()
        .map(|e| format!("'{e}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let statements = match db {
        Db::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
             WHEN NEW.event IN ({list}) BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        )],
        Db::Postgres => vec![
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$"
                .to_string(),
            format!(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW \
                 WHEN (NEW.event IN ({list})) EXECUTE FUNCTION refuse_audit()"
            ),
        ],
    };
    for sql in statements {
        sqlx::raw_sql(&sql).execute(&app.state.pool).await.unwrap();
    }
}

on_both!(
    a_change_and_its_audit_row_land_together,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        let (_adam, adam) = admin(&mut app, "adam@example.com", true).await;
        let (bob_browser, _) = admin(&mut app, "bob@example.com", false).await;
        let bob_session = bob_browser.cookie.clone();
        let invitation = app.invite("Ivy", "ivy@example.com", false).await;
        let ivy = app.user_id("ivy@example.com").await;
        refuse_audit_rows(
            &app,
            db,
            &[
                "user.two_factor_changed",
                "user.added",
                "user.removed",
                "link.renewed",
                "two_factor.reset",
                "policy.changed",
                "invitation.accepted",
                "sign_in.success",
                "session.ended",
            ],
        )
        .await;
        let before = app.snapshot().await;
        let names = "SELECT COUNT(*) FROM users WHERE name = 'Eve'";
        let adam_id = adam.to_string();
        let ivy_id = ivy.to_string();
        let calls: Vec<(&str, Vec<(&str, &str)>)> = vec![
            (
                "set_user_two_factor",
                vec![("user_id", &adam_id), ("on", "false")],
            ),
            (
                "add_user",
                vec![
                    ("name", "Eve"),
                    ("email", "eve@example.com"),
                    ("two_factor", "true"),
                ],
            ),
            ("remove_user", vec![("user_id", &adam_id)]),
            ("reset_user_two_factor", vec![("user_id", &adam_id)]),
            ("renew_link", vec![("user_id", &ivy_id)]),
        ];
        for (name, fields) in calls {
            let r = app.call(name, &fields).await;
            assert!(!r.status.is_success(), "{name} answered {}", r.status);
            assert_eq!(
                app.snapshot().await,
                before,
                "{name} landed without its audit row"
            );
        }
        let code = app.fresh_code().await;
        let r = app
            .call(
                "set_account_requirement",
                &[("on", "true"), ("code", &code)],
            )
            .await;
        assert!(!r.status.is_success(), "requirement answered {}", r.status);
        assert_eq!(
            app.snapshot().await,
            before,
            "the requirement landed without its audit row"
        );
        let mut ivy_browser = app.other_browser();
        let r = ivy_browser
            .call(
                "accept_invitation",
                &[("token", &invitation), ("password", PW)],
            )
            .await;
        assert!(!r.status.is_success(), "invitation answered {}", r.status);
        assert_eq!(ivy_browser.cookie, None, "no session without the audit row");
        let mut bob = app.other_browser();
        let r = bob.sign_in("bob@example.com", PW).await;
        assert!(!r.status.is_success(), "sign-in answered {}", r.status);
        assert_eq!(bob.cookie, None, "no session without the audit row");
        assert!(server::operator_reset(&app.state, "adam@example.com")
            .await
            .is_err());
        let mut bobs = app.other_browser_with(bob_session, None);
        assert!(!bobs.call("sign_out", &[]).await.status.is_success());
        assert_eq!(bobs.call("current_user", &[]).await.status, StatusCode::OK);
        assert_eq!(
            app.snapshot().await,
            before,
            "a change landed without its audit row"
        );
        assert_eq!(app.count(names).await, 0);
        // The renewal was not issued: the link handed over is the one stored.
        let handed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM user_links WHERE token_hash = $1")
                .bind(app::server::tokens::hash_token(&invitation))
                .fetch_one(&app.state.pool)
                .await
                .unwrap();
        assert_eq!(handed, 1);
    }
);
