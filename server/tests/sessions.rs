//! Sessions people can see and end: each user their own in Profile, the owner a user's
//! everywhere; tried with other users' and other accounts' sessions, half sign-ins and twins.

mod common;

use common::{Db, TestApp};
use http::StatusCode;

const PW: &str = "correct horse battery";
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/131.0.0.0 Safari/537.36";
const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// Ann (owner, no 2FA) signed in on a Linux Chrome, plus her second browser on Windows Firefox.
async fn ann_on_two_browsers(db: Db) -> (TestApp, TestApp) {
    let mut ann = TestApp::spawn(db).await;
    ann.agent = Some(CHROME);
    ann.sign_up("ann@example.com", PW).await;
    let mut other = ann.other_browser();
    other.agent = Some(FIREFOX);
    assert_eq!(
        other.sign_in("ann@example.com", PW).await.status,
        StatusCode::OK
    );
    (ann, other)
}

fn handles(list: &serde_json::Value) -> Vec<(String, String, bool)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["handle"].as_str().unwrap().to_string(),
                s["browser"].as_str().unwrap().to_string(),
                s["current"].as_bool().unwrap(),
            )
        })
        .collect()
}

on_both!(
    a_user_sees_their_sessions_and_ends_another_once,
    |db: Db| async move {
        let (mut ann, mut other) = ann_on_two_browsers(db).await;
        let list = handles(&ann.call("my_sessions", &[]).await.json());
        assert_eq!(list.len(), 2, "{list:?}");
        let mine = list.iter().find(|s| s.2).unwrap();
        let theirs = list.iter().find(|s| !s.2).unwrap();
        assert_eq!(mine.1, "Chrome on Linux");
        assert_eq!(theirs.1, "Firefox on Windows");

        // This browser's own session is not ended this way.
        let r = ann.call("sign_out_session", &[("handle", &mine.0)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(ann.call("current_user", &[]).await.status, StatusCode::OK);

        // The other one, twenty times at once: it ends once, and its browser is signed out.
        let statuses = common::at_once(
            &ann,
            20,
            "sign_out_session",
            vec![("handle", theirs.0.clone())],
        )
        .await;
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "{statuses:?}");
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::OK || *s == StatusCode::NOT_FOUND),
            "{statuses:?}"
        );
        assert_eq!(
            other.call("current_user", &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(handles(&ann.call("my_sessions", &[]).await.json()).len(), 1);
        assert_eq!(
            ann.count(
                "SELECT COUNT(*) FROM audit_events WHERE event = 'session.ended' \
                 AND detail = 'Firefox on Windows, signed out by the user'"
            )
            .await,
            1
        );
    }
);

on_both!(nobody_ends_or_sees_anothers_sessions, |db: Db| async move {
    let (mut ann, mut other) = ann_on_two_browsers(db).await;
    let anns = handles(&other.call("my_sessions", &[]).await.json());
    // Bob, in an account of his own, names Ann's session.
    let mut bob = ann.other_browser();
    bob.sign_up("bob@example.com", PW).await;
    let bobs = handles(&bob.call("my_sessions", &[]).await.json());
    assert_eq!(bobs.len(), 1, "Bob sees only his own: {bobs:?}");
    let before = ann.snapshot().await;
    for (handle, _, _) in &anns {
        let r = bob.call("sign_out_session", &[("handle", handle)]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    // Garbage handles are refused in words.
    for bad in ["", "x", &"A".repeat(43), &"A".repeat(5000), "../../etc"] {
        let r = bob.call("sign_out_session", &[("handle", bad)]).await;
        assert!(r.status.is_client_error(), "{bad:.20}: {}", r.status);
    }
    assert_eq!(ann.snapshot().await, before);
    assert_eq!(ann.call("current_user", &[]).await.status, StatusCode::OK);
    assert_eq!(other.call("current_user", &[]).await.status, StatusCode::OK);

    // Bob is no owner of Ann's account: he cannot sign her out everywhere.
    let ann_id = ann.user_id("ann@example.com").await.to_string();
    let r = bob
        .call("sign_out_user_everywhere", &[("user_id", &ann_id)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(ann.call("current_user", &[]).await.status, StatusCode::OK);

    // A signed-out browser calls nothing here (half sign-ins: `hostile_input.rs`).
    let mut nobody = ann.other_browser();
    for name in ["my_sessions", "sign_out_other_sessions"] {
        assert_eq!(
            nobody.call(name, &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
});

on_both!(
    all_other_sessions_end_and_this_one_stays,
    |db: Db| async move {
        let (mut ann, mut other) = ann_on_two_browsers(db).await;
        let mut third = ann.other_browser();
        third.sign_in("ann@example.com", PW).await;
        let r = ann.call("sign_out_other_sessions", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, "2");
        assert_eq!(ann.call("current_user", &[]).await.status, StatusCode::OK);
        for b in [&mut other, &mut third] {
            assert_eq!(
                b.call("current_user", &[]).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        let r = ann.call("sign_out_other_sessions", &[]).await;
        assert_eq!(r.body, "0");
    }
);

on_both!(
    the_owner_signs_a_user_out_everywhere_and_only_in_her_account,
    |db: Db| async move {
        let mut ann = TestApp::spawn(db).await;
        ann.sign_up("ann@example.com", PW).await;
        let (mut adam, _) = ann.add_member("adam@example.com", PW, false).await;
        let mut adam2 = ann.other_browser();
        adam2.sign_in("adam@example.com", PW).await;
        let adam_id = ann.user_id("adam@example.com").await.to_string();
        let ann_id = ann.user_id("ann@example.com").await.to_string();
        // An admin cannot; the owner cannot aim it at herself.
        let r = adam
            .call("sign_out_user_everywhere", &[("user_id", &ann_id)])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        let r = ann
            .call("sign_out_user_everywhere", &[("user_id", &ann_id)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        for bad in ["0", "-1", "999999", "x"] {
            let r = ann
                .call("sign_out_user_everywhere", &[("user_id", bad)])
                .await;
            assert!(r.status.is_client_error(), "{bad}: {}", r.status);
        }
        assert_eq!(adam.call("current_user", &[]).await.status, StatusCode::OK);

        let r = ann
            .call("sign_out_user_everywhere", &[("user_id", &adam_id)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body,
            r#""Adam was signed out everywhere (2 sessions ended).""#
        );
        for b in [&mut adam, &mut adam2] {
            assert_eq!(
                b.call("current_user", &[]).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(ann.call("current_user", &[]).await.status, StatusCode::OK);
        assert_eq!(
            ann.count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE event = 'session.ended' \
                 AND target_user_id = {adam_id} AND detail LIKE '%signed out by the owner'"
            ))
            .await,
            2
        );
        // Again: nothing was open, and the log says so.
        let r = ann
            .call("sign_out_user_everywhere", &[("user_id", &adam_id)])
            .await;
        assert_eq!(
            r.body,
            r#""Adam was signed out everywhere (0 sessions ended).""#
        );
    }
);

on_both!(
    a_sign_in_finishing_while_the_owner_signs_the_user_out_leaves_no_session,
    |db: Db| async move {
        let mut ann = TestApp::spawn(db).await;
        ann.sign_up("ann@example.com", PW).await;
        for round in 0..12 {
            let email = format!("racer{round}@example.com");
            let (mut racer, _) = ann.add_member(&email, PW, true).await;
            assert!(racer.pending.is_some() && racer.cookie.is_none());
            racer.enroll().await;
            let id = ann.user_id(&email).await.to_string();
            // The user's last step of signing in and the owner's sign-out, at once.
            let mut owner = ann.other_browser_with(ann.cookie.clone(), None);
            let finish = tokio::spawn(async move {
                let r = racer.call("finish_enrollment", &[]).await;
                (r.status, racer)
            });
            let sign_out = tokio::spawn(async move {
                owner
                    .call("sign_out_user_everywhere", &[("user_id", &id)])
                    .await
                    .status
            });
            let (finished, mut racer) = finish.await.unwrap();
            let signed_out = sign_out.await.unwrap();
            assert_eq!(signed_out, StatusCode::OK, "round {round}");
            assert!(
                finished == StatusCode::OK || finished == StatusCode::UNAUTHORIZED,
                "round {round}: {finished}"
            );
            // Whichever came first, nothing of the user's sign-in is left.
            assert_eq!(
                racer.call("current_user", &[]).await.status,
                StatusCode::UNAUTHORIZED,
                "round {round}"
            );
            assert_eq!(
                ann.count(&format!(
                    "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE u.email = '{email}'"
                ))
                .await,
                0,
                "round {round}"
            );
        }
    }
);
