//! A deadline to enroll: while the account requires 2FA, a user with nothing set up signs in
//! with the password until their deadline (the later of Enroll by and the day they were added
//! plus the days for new users), computed from the current policy on every request. The clock
//! is shifted per request (`Config::test_clock`), so each browser stands where the test puts it.

mod common;

use app::domain::format_iso_date;
use app::server::{config::Config, now, totp};
use common::{Db, TestApp};
use http::StatusCode;

const PW: &str = "correct horse battery";
const DAY: i64 = 86_400;

fn with_clock() -> Config {
    Config {
        test_clock: true,
        ..Config::default()
    }
}

/// Ora owns an account that requires 2FA; returns her browser.
async fn ora_requiring(db: Db) -> TestApp {
    let mut ora = TestApp::spawn_with(db, with_clock()).await;
    let secret = ora.owner_with_2fa("ora@example.com", PW).await;
    let code = totp::code_for(&secret, now() as u64 + 30);
    let r = ora
        .call(
            "set_account_requirement",
            &[("on", "true"), ("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    ora
}

/// Saves Enroll by `date` (empty: none) and `days` for new users as Ora.
async fn deadline(ora: &mut TestApp, date: &str, days: &str) {
    let code = ora.fresh_code().await;
    let r = ora
        .call(
            "set_enrollment_deadline",
            &[
                ("enroll_by", date),
                ("new_user_days", days),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// The day `days` from now, as a date field sends it.
fn in_days(days: i64) -> String {
    format_iso_date(now() + days * DAY)
}

/// A browser of `email` that signs in with the clock shifted by `shift` seconds: `true` when
/// the password alone gave it a session, `false` when it owes a second factor.
async fn password_suffices(ora: &TestApp, email: &str, shift: i64) -> bool {
    let mut b = ora.other_browser();
    b.clock_shift = shift;
    let r = b.sign_in(email, PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(b.cookie.is_some() != b.pending.is_some());
    b.cookie.is_some()
}

/// How Users shows the user `email`'s deadline.
async fn due(ora: &mut TestApp, email: &str) -> serde_json::Value {
    let users = ora.call("list_users", &[]).await.json();
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap()["due"]
        .clone()
}

on_both!(
    before_the_deadline_the_password_suffices_and_after_it_nothing_does,
    |db: Db| async move {
        let mut ora = ora_requiring(db).await;
        // No deadline: a new user with 2FA on sets up at once.
        let (adam, _) = ora.add_member("adam@example.com", PW, true).await;
        assert!(adam.pending.is_some() && adam.cookie.is_none());

        // Enroll by in ten days (a window far longer than 48 hours).
        deadline(&mut ora, &in_days(10), "0").await;
        assert!(password_suffices(&ora, "adam@example.com", 0).await);
        assert!(password_suffices(&ora, "adam@example.com", 9 * DAY).await);
        assert!(!password_suffices(&ora, "adam@example.com", 11 * DAY).await);
        assert_eq!(due(&mut ora, "adam@example.com").await, "Due in 10 days");
        // The export names the deadline's last day.
        let csv = ora.get(app::domain::EXPORT_USERS_PATH).await.body;
        let adam_line = csv
            .lines()
            .find(|l| l.contains("adam@example.com"))
            .unwrap();
        assert!(
            adam_line.contains(&format!(",\"{}\",", in_days(10))),
            "{adam_line}"
        );
        let policy = ora.call("account_policy", &[]).await.json();
        assert_eq!(policy["due"], 1, "{policy}");

        // The banner's date, and his session ends the moment the deadline passes (checked on
        // each request: a session opened an hour before it stops working a minute after).
        let enroll_by = {
            let mut b = ora.other_browser();
            b.sign_in("adam@example.com", PW).await;
            let me = b.call("current_user", &[]).await.json();
            me["two_factor"]["enroll_by"].as_i64().expect("a deadline")
        };
        let mut late = ora.other_browser();
        late.clock_shift = enroll_by - now() - 3600;
        late.sign_in("adam@example.com", PW).await;
        assert_eq!(late.call("current_user", &[]).await.status, StatusCode::OK);
        late.clock_shift = enroll_by - now() + 60;
        assert_eq!(
            late.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );

        // Shortened into the past: his session ends at once, and Users says Overdue.
        let mut now_session = ora.other_browser();
        now_session.sign_in("adam@example.com", PW).await;
        deadline(&mut ora, &in_days(-1), "0").await;
        assert_eq!(
            now_session.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert!(!password_suffices(&ora, "adam@example.com", 0).await);
        assert_eq!(due(&mut ora, "adam@example.com").await, "Overdue");
        // Extended: the password suffices again, for everyone at once; the session that ended
        // stays ended.
        deadline(&mut ora, &in_days(30), "0").await;
        assert_eq!(
            now_session.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert!(password_suffices(&ora, "adam@example.com", 20 * DAY).await);
        // Cleared: set up at the next sign-in.
        let mut cleared = ora.other_browser();
        cleared.sign_in("adam@example.com", PW).await;
        deadline(&mut ora, "", "0").await;
        assert_eq!(
            cleared.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert!(!password_suffices(&ora, "adam@example.com", 0).await);
        assert_eq!(due(&mut ora, "adam@example.com").await, "Overdue");

        let details: Vec<String> = sqlx::query_scalar(
            "SELECT detail FROM audit_events WHERE detail LIKE 'enrollment deadline%' ORDER BY id",
        )
        .fetch_all(&ora.state.pool)
        .await
        .unwrap();
        assert_eq!(details.len(), 4, "{details:?}");
        assert!(details[0].contains("enroll by"), "{details:?}");
        assert!(details[3].contains("cleared"), "{details:?}");
    }
);

on_both!(
    new_users_get_their_days_from_the_day_they_were_added,
    |db: Db| async move {
        let mut ora = ora_requiring(db).await;
        deadline(&mut ora, "", "14").await;
        // Bea, added during the window: 14 days from today.
        let (bea, _) = ora.add_member("bea@example.com", PW, true).await;
        assert!(bea.cookie.is_some(), "invited into the window: signed in");
        assert_eq!(due(&mut ora, "bea@example.com").await, "Due in 14 days");
        assert!(password_suffices(&ora, "bea@example.com", 13 * DAY).await);
        assert!(!password_suffices(&ora, "bea@example.com", 15 * DAY).await);
        // Cy, added "20 days ago" (his row says so): past his own days, and an Enroll by
        // further out than them is his deadline instead.
        let (_, _) = ora.add_member("cy@example.com", PW, true).await;
        sqlx::query("UPDATE users SET created_at = created_at - $1 WHERE email = 'cy@example.com'")
            .bind(20 * DAY)
            .execute(&ora.state.pool)
            .await
            .unwrap();
        assert!(!password_suffices(&ora, "cy@example.com", 0).await);
        deadline(&mut ora, &in_days(5), "14").await;
        assert!(password_suffices(&ora, "cy@example.com", 0).await);
        assert_eq!(due(&mut ora, "cy@example.com").await, "Due in 5 days");
        assert_eq!(due(&mut ora, "bea@example.com").await, "Due in 14 days");

        // Setting up ends the window: Bea enrolls in her session and is protected.
        let mut b = ora.other_browser();
        b.sign_in("bea@example.com", PW).await;
        b.enroll().await;
        assert_eq!(
            due(&mut ora, "bea@example.com").await,
            serde_json::Value::Null
        );
        assert!(!password_suffices(&ora, "bea@example.com", 0).await);
        assert_eq!(b.call("current_user", &[]).await.status, StatusCode::OK);
    }
);

on_both!(
    a_deadline_takes_only_good_dates_from_the_owner_of_a_requiring_account,
    |db: Db| async move {
        let mut ora = ora_requiring(db).await;
        let (mut adam, _) = ora.add_member("adam@example.com", PW, false).await;
        let r = adam
            .call(
                "set_enrollment_deadline",
                &[("enroll_by", &in_days(3)), ("new_user_days", "0")],
            )
            .await;
        assert!(r.status.is_client_error(), "{}", r.body);
        let before_bad = ora.snapshot().await;
        let enroll_by =
            "SELECT COUNT(*) FROM accounts WHERE enroll_by IS NOT NULL OR new_user_days <> 0";
        for (date, days) in [
            ("2027-13-01", "0"),
            ("2027-02-30", "0"),
            ("tomorrow", "0"),
            ("27-03-12", "0"),
            ("2027-3-1", "0"),
            ("9999-01-01", "0"),
            ("", "-1"),
            ("", "91"),
            ("", "1.5"),
            ("", "ten"),
        ] {
            let r = ora
                .call(
                    "set_enrollment_deadline",
                    &[("enroll_by", date), ("new_user_days", days)],
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{date:?} {days:?}: {}",
                r.body
            );
            assert_eq!(ora.count(enroll_by).await, 0, "{date:?} {days:?}");
        }
        assert_eq!(ora.snapshot().await, before_bad);
        // Not without a current second factor.
        let r = ora
            .call(
                "set_enrollment_deadline",
                &[("enroll_by", &in_days(4)), ("new_user_days", "0")],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(ora.count(enroll_by).await, 0);
        // Not while the account does not require 2FA.
        sqlx::query("UPDATE accounts SET require_2fa = 0")
            .execute(&ora.state.pool)
            .await
            .unwrap();
        let code = ora.fresh_code().await;
        let r = ora
            .call(
                "set_enrollment_deadline",
                &[
                    ("enroll_by", &in_days(4)),
                    ("new_user_days", "0"),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(ora.count(enroll_by).await, 0);
    }
);
