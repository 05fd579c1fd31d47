//! Every flow without JavaScript: a plain form post goes back to its page, which shows what the
//! post did (recovery codes, a link, "Saved.") once, to the browser that posted, and a failed one
//! goes back to the step it came from with its error.

mod common;

use app::server::{now, totp};
use common::{Db, Resp, TestApp};
use http::StatusCode;

const PW: &str = "correct horse battery staple";

/// The recovery codes a page shows.
fn codes_on(page: &Resp) -> Vec<String> {
    let Some(at) = page.body.find("class=\"recovery-codes\"") else {
        return Vec::new();
    };
    let list = &page.body[at..];
    let list = &list[..list.find("</ul>").unwrap()];
    list.split("<code>")
        .skip(1)
        .map(|c| c[..c.find("</code>").unwrap()].replace("<!>", ""))
        .collect()
}

/// The secret behind the setup key on a page that shows an enrollment.
fn secret_on(page: &Resp) -> Vec<u8> {
    totp::decode_setup_key(page.test_id("setup-key")).expect("a base32 setup key")
}

/// Turns 2FA on in Profile as a browser without JavaScript does: the switch loads the
/// enrollment step (the server renders the setup key), its code is posted, and the browser is
/// sent back to `/profile?done`, where the recovery codes wait.
async fn enroll_in_profile_without_js(b: &mut TestApp) {
    let step = b.get("/profile?two_factor=on").await;
    assert_eq!(step.status, StatusCode::OK);
    let code = code_for_setup_key_on(&step);
    let r = b
        .plain_post(
            "confirm_enrollment",
            "/profile?two_factor=on",
            &[("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert_eq!(r.location(), Some("/profile?done"));
}

/// The current code of the setup key on a page that shows an enrollment.
fn code_for_setup_key_on(page: &Resp) -> String {
    totp::code_for(&secret_on(page), now() as u64)
}

async fn flashes(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM flashes").await
}

on_both!(
    an_enrollment_without_javascript_shows_its_recovery_codes_once_and_only_to_its_browser,
    |db: Db| async move {
        let mut ann = TestApp::spawn(db).await;
        ann.sign_up("ann@example.com", PW).await;
        // The same user in another browser: a session of her own.
        let mut other = ann.other_browser();
        assert_eq!(
            other.sign_in("ann@example.com", PW).await.status,
            StatusCode::OK
        );

        enroll_in_profile_without_js(&mut ann).await;

        // Her other browser asks for the result: it is not its own, and stays for hers.
        assert!(codes_on(&other.get("/profile?done").await).is_empty());
        assert_eq!(flashes(&ann).await, 1);

        let shown = ann.get("/profile?done").await;
        let codes = codes_on(&shown);
        assert_eq!(codes.len(), 10, "{}", shown.body);
        assert!(shown.body.contains("I have saved my recovery codes"));
        // Once: a reload shows them no more, and nothing is left behind.
        assert!(codes_on(&ann.get("/profile?done").await).is_empty());
        assert_eq!(flashes(&ann).await, 0);

        // They are her real codes: one of them signs her in.
        let mut later = ann.other_browser();
        later.sign_in("ann@example.com", PW).await;
        let r = later
            .call("verify_sign_in_recovery", &[("recovery_code", &codes[3])])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(later.cookie.is_some());
    }
);

on_both!(
    a_failed_plain_post_goes_back_to_its_step_with_its_error_and_changes_nothing,
    |db: Db| async move {
        let mut ann = TestApp::spawn(db).await;
        ann.owner_with_2fa("ann@example.com", PW).await;
        let before = ann.snapshot().await;
        let r = ann
            .plain_post(
                "disable_two_factor",
                "/profile?two_factor=off",
                &[("code", "000000")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FOUND);
        let to = r.location().unwrap().to_string();
        assert!(to.starts_with("/profile?two_factor=off&"), "{to}");
        assert!(to.contains("__err=") && to.contains("__sig="), "{to}");
        let page = ann.get(&to).await;
        assert_eq!(page.status, StatusCode::OK);
        // The step is open again, with the error under the field.
        assert!(page.body.contains("Turn off"), "{}", page.body);
        assert!(page.body.contains("field-error"), "{}", page.body);
        assert_eq!(ann.snapshot().await, before);
        assert_eq!(flashes(&ann).await, 0);
    }
);

on_both!(
    the_sign_in_enrollment_works_without_javascript,
    |db: Db| async move {
        let mut owner = TestApp::spawn(db).await;
        owner.sign_up("ann@example.com", PW).await;
        // Adam must set up 2FA: after his password he is half signed in.
        let (mut adam, _) = owner.add_member("adam@example.com", PW, true).await;
        assert!(adam.cookie.is_none() && adam.pending.is_some());
        let step = adam.get("/login/verify").await;
        let code = code_for_setup_key_on(&step);
        let r = adam
            .plain_post("confirm_enrollment", "/login/verify", &[("code", &code)])
            .await;
        assert_eq!(r.location(), Some("/login/verify?done"), "{}", r.body);
        // Not signed in yet: the codes come first.
        assert!(adam.cookie.is_none());
        let page = adam.get("/login/verify?done").await;
        assert_eq!(codes_on(&page).len(), 10, "{}", page.body);
        // A reload after that can only go on.
        let again = adam.get("/login/verify?done").await;
        assert!(codes_on(&again).is_empty());
        assert!(again.body.contains("Continue"), "{}", again.body);
        let r = adam
            .plain_post("finish_enrollment", "/login/verify", &[])
            .await;
        assert_eq!(r.location(), Some("/"), "{}", r.body);
        assert!(adam.cookie.is_some(), "signed in");
        assert_eq!(adam.get("/").await.status, StatusCode::OK);
    }
);

on_both!(
    links_and_sentences_come_back_to_the_owner_once,
    |db: Db| async move {
        let mut owner = TestApp::spawn(db).await;
        owner.owner_with_2fa("ann@example.com", PW).await;
        let r = owner
            .plain_post(
                "add_user",
                "/users?add=1",
                &[("name", "Ada Admin"), ("email", "ada@example.com")],
            )
            .await;
        assert_eq!(r.location(), Some("/users?done"), "{}", r.body);
        let page = owner.get("/users?done").await;
        assert!(page.body.contains("Ada Admin was added."), "{}", page.body);
        let link = page.test_id("invitation-link").to_string();
        let path = link
            .strip_prefix("http://")
            .and_then(|l| l.find('/').map(|i| &l[i..]));
        let path = path.unwrap_or_else(|| panic!("an absolute link: {link}"));
        assert!(path.starts_with("/invite/"), "{link}");
        // An unchecked switch is absent from the form: 2FA off.
        assert_eq!(
            owner
                .count("SELECT tfa_on FROM users WHERE email = 'ada@example.com'")
                .await,
            0
        );
        let mut ada = owner.other_browser();
        assert_eq!(ada.get(path).await.status, StatusCode::OK);
        let ada_id = owner.user_id("ada@example.com").await.to_string();

        // The confirmation step's form, sent for Ada.
        let confirmed = |owner: &mut TestApp, what: &'static str, function: &'static str| {
            let mut owner = owner.other_browser_with(owner.cookie.clone(), None);
            let ada_id = ada_id.clone();
            async move {
                let page = format!("/users?confirm={what}&user={ada_id}");
                owner
                    .plain_post(function, &page, &[("user_id", &ada_id)])
                    .await
            }
        };
        let r = confirmed(&mut owner, "reset", "reset_user_two_factor").await;
        assert_eq!(r.location(), Some("/users?done"));
        let page = owner.get("/users?done").await;
        assert!(
            page.test_id("setup-link").contains("/setup/"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("Ada Admin's two-factor authentication was reset"),
            "{}",
            page.body
        );

        let r = confirmed(&mut owner, "remove", "remove_user").await;
        assert_eq!(r.location(), Some("/users?done"));
        let page = owner.get("/users?done").await;
        assert!(
            page.body.contains("Ada Admin was removed."),
            "{}",
            page.body
        );
        assert!(!owner.get("/users?done").await.body.contains("was removed"));
        // The twin of the removal finds no one, and says so.
        let r = confirmed(&mut owner, "remove", "remove_user").await;
        assert!(
            r.location().unwrap().contains("__err="),
            "{:?}",
            r.location()
        );
    }
);

on_both!(
    kept_results_are_one_per_browser_expire_and_go_with_their_user,
    |db: Db| async move {
        let mut owner = TestApp::spawn(db).await;
        owner.sign_up("ann@example.com", PW).await;
        // Many posts keep one result: the newest.
        for i in 0..30 {
            let email = format!("u{i}@example.com");
            let r = owner
                .plain_post("add_user", "/users", &[("name", "U"), ("email", &email)])
                .await;
            assert_eq!(r.location(), Some("/users?done"), "{}", r.body);
        }
        assert_eq!(flashes(&owner).await, 1);
        // With the wasm, the answer carries the result and nothing is kept.
        let (mut adam, _) = owner.add_member("adam@example.com", PW, false).await;
        let (secret, _) = adam.enroll().await;
        assert_eq!(flashes(&owner).await, 1);

        // Expired: not shown, and purged.
        sqlx::query("UPDATE flashes SET expires_at = $1")
            .bind(now() - 1)
            .execute(&owner.state.pool)
            .await
            .unwrap();
        assert!(!owner.get("/users?done").await.body.contains("was added"));
        app::server::purge::run_once(&owner.state, now())
            .await
            .unwrap();
        assert_eq!(flashes(&owner).await, 0);

        // A result kept for a user goes when the user is removed.
        let next_step = totp::code_for(&secret, now() as u64 + 30);
        let r = adam
            .plain_post(
                "regenerate_recovery_codes",
                "/profile?regenerate=1",
                &[("code", &next_step)],
            )
            .await;
        assert_eq!(r.location(), Some("/profile?done"), "{}", r.body);
        assert_eq!(flashes(&owner).await, 1);
        let adam_id = owner.user_id("adam@example.com").await.to_string();
        let r = owner.call("remove_user", &[("user_id", &adam_id)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(flashes(&owner).await, 0);
    }
);

on_both!(
    the_owner_requires_two_factor_authentication_without_javascript,
    |db: Db| async move {
        let mut owner = TestApp::spawn(db).await;
        owner.sign_up("ann@example.com", PW).await;
        let required = |app: &TestApp| {
            let app = app.state.clone();
            async move {
                use sqlx::Row;
                sqlx::query("SELECT require_2fa FROM accounts")
                    .fetch_one(&app.pool)
                    .await
                    .unwrap()
                    .try_get::<i64, _>(0)
                    .unwrap()
            }
        };
        // The switch, then Save: without an authenticator of her own she sets one up first.
        let page = owner.get("/settings/security?require=on").await;
        assert!(page.body.contains("When you save"), "{}", page.body);
        let page = owner
            .get("/settings/security?require=on&step=confirm")
            .await;
        let secret = secret_on(&page);
        let code = totp::code_for(&secret, now() as u64);
        let r = owner
            .plain_post(
                "confirm_enrollment",
                "/settings/security?require=on&step=confirm",
                &[("code", &code)],
            )
            .await;
        assert_eq!(r.location(), Some("/settings/security?done"), "{}", r.body);
        assert_eq!(
            codes_on(&owner.get("/settings/security?done").await).len(),
            10
        );
        assert_eq!(required(&owner).await, 1);

        // Off again from the confirmation step: a wrong code changes nothing and comes back to
        // the step; a right one saves.
        let page = owner
            .get("/settings/security?require=off&step=confirm")
            .await;
        assert!(
            page.body
                .contains("Stop requiring two-factor authentication"),
            "{}",
            page.body
        );
        let step = "/settings/security?require=off&step=confirm";
        let r = owner
            .plain_post(
                "set_account_requirement",
                step,
                &[("on", "false"), ("code", "000000")],
            )
            .await;
        assert!(
            r.location().unwrap().starts_with(&format!("{step}&")),
            "{:?}",
            r.location()
        );
        assert_eq!(required(&owner).await, 1);
        let code = totp::code_for(&secret, now() as u64 + 30);
        let r = owner
            .plain_post(
                "set_account_requirement",
                step,
                &[("on", "false"), ("code", &code)],
            )
            .await;
        assert_eq!(r.location(), Some("/settings/security?done"), "{}", r.body);
        assert_eq!(required(&owner).await, 0);
        assert!(owner
            .get("/settings/security?done")
            .await
            .body
            .contains("Saved."));
    }
);

on_both!(
    a_result_asked_for_fifty_times_at_once_is_given_once,
    |db: Db| async move {
        let mut ann = TestApp::spawn(db).await;
        ann.sign_up("ann@example.com", PW).await;
        enroll_in_profile_without_js(&mut ann).await;
        assert_eq!(flashes(&ann).await, 1);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let mut b = ann.other_browser_with(ann.cookie.clone(), None);
                tokio::spawn(async move { b.call("take_flash", &[]).await })
            })
            .collect();
        let mut given = 0;
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            if r.body != "null" {
                assert!(r.body.contains("RecoveryCodes"), "{}", r.body);
                given += 1;
            }
        }
        assert_eq!(given, 1);
        assert_eq!(flashes(&ann).await, 0);
    }
);
