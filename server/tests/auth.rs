//! Sign-up, sign-in, sessions and page guards, on SQLite and PostgreSQL.

mod common;

use common::{Db, TestApp};
use http::StatusCode;

const PW: &str = "correct horse battery";

on_both!(sign_up_creates_owner_and_signs_in, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    let r = app.sign_up("Ann@Example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(app.cookie.is_some(), "sign-up opens a session");
    let me = app.call("current_user", &[]).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let me = me.json();
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["role"], "Owner");
    assert_eq!(me["account_name"], "Acme");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'account.created'")
            .await,
        1
    );
});

on_both!(bad_sign_up_input_changes_nothing, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    let huge = format!("{}@example.com", "a".repeat(10 * 1024));
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("account_name", ""),
                ("name", "Ann"),
                ("email", "a@b.co"),
                ("password", PW),
            ],
            "account_name",
        ),
        (
            vec![
                ("account_name", "Acme"),
                ("name", " "),
                ("email", "a@b.co"),
                ("password", PW),
            ],
            "name",
        ),
        (
            vec![
                ("account_name", "Acme"),
                ("name", "Ann"),
                ("email", ""),
                ("password", PW),
            ],
            "email",
        ),
        (
            vec![
                ("account_name", "Acme"),
                ("name", "Ann"),
                ("email", "not-an-email"),
                ("password", PW),
            ],
            "email",
        ),
        (
            vec![
                ("account_name", "Acme"),
                ("name", "Ann"),
                ("email", &huge),
                ("password", PW),
            ],
            "email",
        ),
        (
            vec![
                ("account_name", "Acme"),
                ("name", "Ann"),
                ("email", "a@b.co"),
                ("password", "short"),
            ],
            "password",
        ),
    ];
    for (fields, field) in cases {
        let r = app.call("sign_up", &fields).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.body);
        let err = r.json();
        assert_eq!(err["Invalid"]["field"], field, "{}", r.body);
        assert!(err["Invalid"]["message"].as_str().unwrap().len() > 5);
    }
    // A missing field is refused too, with a message rather than a crash.
    let r = app.call("sign_up", &[("email", "a@b.co")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(app.cookie.is_none());
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 0);
});

on_both!(
    duplicate_email_is_refused_and_changes_nothing,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        assert_eq!(
            app.sign_up("ann@example.com", PW).await.status,
            StatusCode::OK
        );
        let mut other = app.other_browser();
        let r = other
            .sign_up("ANN@example.com", "another long password")
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.json()["Invalid"]["field"], "email");
        assert!(other.cookie.is_none());
        assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 1);
    }
);

on_both!(
    wrong_password_gives_one_message_and_no_session,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let mut b = app.other_browser();
        let wrong = b.sign_in("ann@example.com", "wrong password here").await;
        let unknown = b.sign_in("nobody@example.com", PW).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            wrong.body, unknown.body,
            "the message must not tell which part was wrong"
        );
        assert!(b.cookie.is_none());
        assert!(wrong.headers.get(http::header::SET_COOKIE).is_none());
        assert_eq!(
            b.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'sign_in.failure'")
                .await,
            2
        );
        // The known user's failure lands in their account's log; the unknown email's in none.
        assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'sign_in.failure' AND account_id IS NOT NULL").await,
        1
    );
    }
);

on_both!(sign_in_rotates_the_session_id, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.sign_up("ann@example.com", PW).await;
    let first = app.cookie.clone().unwrap();
    let r = app.sign_in("ann@example.com", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let second = app.cookie.clone().unwrap();
    assert_ne!(first, second);
    let set = r
        .headers
        .get(http::header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    // The old id is dead.
    let mut old = app.other_browser();
    old.cookie = Some(first);
    assert_eq!(
        old.call("current_user", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.call("current_user", &[]).await.status, StatusCode::OK);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'sign_in.success'")
            .await,
        1
    );
});

on_both!(sign_out_ends_the_session_everywhere, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.sign_up("ann@example.com", PW).await;
    let token = app.cookie.clone().unwrap();
    let r = app.call("sign_out", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(app.cookie.is_none(), "the cookie is cleared");
    let mut replay = app.other_browser();
    replay.cookie = Some(token);
    assert_eq!(
        replay.call("current_user", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'session.ended'")
            .await,
        1
    );
});

on_both!(
    a_sign_out_sent_twenty_times_at_once_is_audited_once,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let statuses = common::at_once(&app, 20, "sign_out", vec![]).await;
        assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_events WHERE event = 'session.ended'")
                .await,
            1
        );
    }
);

on_both!(pages_need_a_session, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    // Nobody exists yet: the console offers sign-up.
    let r = app.get("/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), Some("/signup"));
    app.sign_up("ann@example.com", PW).await;
    let mut anon = app.other_browser();
    let r = anon.get("/").await;
    assert_eq!(r.location(), Some("/login"));
    let r = anon.get("/login").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Sign in"));
    // Signed in: the overview renders with the account; sign-in redirects home.
    let r = app.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Acme"), "{}", r.body);
    assert_eq!(app.get("/login").await.location(), Some("/"));
    // A forged cookie is no session.
    anon.cookie = Some("A".repeat(43));
    assert_eq!(anon.get("/").await.location(), Some("/login"));
    assert_eq!(
        anon.call("current_user", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
});

on_both!(idle_and_expired_sessions_end, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.sign_up("ann@example.com", PW).await;
    sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 13 * 3600")
        .execute(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(
        app.call("current_user", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.sign_in("ann@example.com", PW).await;
    sqlx::query("UPDATE sessions SET expires_at = created_at - 1")
        .execute(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(
        app.call("current_user", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
});

on_both!(only_hashes_are_stored, |db: Db| async move {
    use sqlx::Row;
    let mut app = TestApp::spawn(db).await;
    app.sign_up("ann@example.com", PW).await;
    let token = app.cookie.clone().unwrap();
    let row = sqlx::query("SELECT id_hash FROM sessions")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    let stored: Vec<u8> = row.try_get(0).unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&token));
    let row = sqlx::query("SELECT password_hash FROM users")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    let hash: String = row.try_get(0).unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains(PW));
});

on_both!(
    a_password_hash_of_an_older_setting_is_made_anew_at_sign_in,
    |db: Db| async move {
        use argon2::{
            password_hash::SaltString, Algorithm, Argon2, Params, PasswordHasher, Version,
        };
        let mut app = TestApp::spawn(db).await;
        let r = app.sign_up("ann@example.com", PW).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Ann's hash as the setting before (19 MiB, 2 passes) stored it.
        let before = Params::new(19 * 1024, 2, 1, None).unwrap();
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, before)
            .hash_password(PW.as_bytes(), &salt)
            .unwrap()
            .to_string();
        sqlx::query("UPDATE users SET password_hash = $1 WHERE email = 'ann@example.com'")
            .bind(old.clone())
            .execute(&app.state.pool)
            .await
            .unwrap();
        let stored = |app: &TestApp| {
            let pool = app.state.pool.clone();
            async move {
                sqlx::query_scalar::<_, String>(
                    "SELECT password_hash FROM users WHERE email = 'ann@example.com'",
                )
                .fetch_one(&pool)
                .await
                .unwrap()
            }
        };
        // A wrong password changes nothing.
        let mut browser = app.other_browser_with(None, None);
        let r = browser
            .sign_in("ann@example.com", "wrong horse battery")
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(stored(&app).await, old);
        // The right one, sent four times at once, signs in each time (the first rehash stored
        // does not turn its twins away) and is stored anew, with today's setting.
        let fields = vec![
            ("email", "ann@example.com".to_string()),
            ("password", PW.to_string()),
        ];
        let statuses = common::at_once(&browser, 4, "sign_in", fields).await;
        assert_eq!(statuses, vec![StatusCode::OK; 4]);
        let anew = stored(&app).await;
        assert!(
            anew.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"),
            "{anew}"
        );
        // Which signs in again, and is kept as it is.
        let mut again = app.other_browser_with(None, None);
        let r = again.sign_in("ann@example.com", PW).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(stored(&app).await, anew);
    }
);
