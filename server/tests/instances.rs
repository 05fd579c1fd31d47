//! Two server processes on one PostgreSQL database: every rule holds across them.

mod common;

use app::server::{now, totp};
use common::process::{client, new_secret_key, scratch_dir, sign_up_fields, Browser, Server};
use common::{fresh_database_url, Db};

const PW: &str = "correct horse battery";

/// Signs up `email` on `base` and enrolls an authenticator; returns the browser and secret.
async fn enrolled_owner(
    http: &reqwest::Client,
    base: &str,
    other: &str,
    email: &str,
    secrets: &mut Vec<String>,
) -> (Browser, Vec<u8>) {
    let mut b = Browser::default();
    let r = b
        .call(http, base, "sign_up", &sign_up_fields(email, PW))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // Start the enrollment on one instance, confirm and finish it on the other.
    let r = b.call(http, base, "start_enrollment", &[]).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let setup_key = r.json()["setup_key"].as_str().unwrap().to_string();
    let secret = totp::decode_setup_key(&setup_key).unwrap();
    let code = totp::code_for(&secret, now() as u64);
    secrets.push(setup_key.replace(' ', ""));
    secrets.push(code.clone());
    let r = b
        .call(http, other, "confirm_enrollment", &[("code", &code)])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = b.call(http, base, "finish_enrollment", &[]).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    secrets.extend(b.cookies.iter().map(|(_, v)| v.clone()));
    (b, secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_keep_every_rule() {
    let url = fresh_database_url(Db::Postgres).await;
    let key = new_secret_key();
    let dir = scratch_dir("instances");
    // Both start at once on an empty schema: the migrations must not trip over each other.
    let a = Server::spawn(Some(&url), &dir.join("a"), &key);
    let b = Server::spawn(Some(&url), &dir.join("b"), &key);
    a.wait_ready(std::time::Duration::from_secs(60)).await;
    b.wait_ready(std::time::Duration::from_secs(60)).await;
    let http = client();
    let (a_url, b_url) = (a.base.clone(), b.base.clone());
    let mut secrets = vec![PW.to_string()];

    // A session opened on one instance works on the other, and ends on both when revoked.
    let mut ann = Browser::default();
    let r = ann
        .call(
            &http,
            &a_url,
            "sign_up",
            &sign_up_fields("ann@example.com", PW),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = ann.call(&http, &b_url, "current_user", &[]).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["email"], "ann@example.com");
    secrets.extend(ann.cookies.iter().map(|(_, v)| v.clone()));
    let copy = ann.clone();
    let r = ann.call(&http, &b_url, "sign_out", &[]).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    for base in [&a_url, &b_url] {
        let r = copy
            .clone()
            .call(&http, base, "current_user", &[])
            .await
            .unwrap();
        assert_eq!(r.status, 401, "the revoked session still works on {base}");
    }

    // Codes: 5 users, 200 concurrent attempts each with the same fresh code, spread over both
    // instances (1,000 in all): exactly one success per code.
    let mut users = Vec::new();
    for i in 0..5 {
        let (browser, secret) = enrolled_owner(
            &http,
            &a_url,
            &b_url,
            &format!("user{i}@example.com"),
            &mut secrets,
        )
        .await;
        users.push((browser, secret));
    }
    // A step none of them has used yet (enrollment spent the current one).
    let next_step = now() as u64 + 30;
    let mut tasks = Vec::new();
    for (u, (browser, secret)) in users.iter().enumerate() {
        let code = totp::code_for(secret, next_step);
        secrets.push(code.clone());
        for k in 0..200 {
            let (http, mut browser, code) = (http.clone(), browser.clone(), code.clone());
            let base = if k % 2 == 0 {
                a_url.clone()
            } else {
                b_url.clone()
            };
            tasks.push(tokio::spawn(async move {
                let r = browser
                    .call(
                        &http,
                        &base,
                        "regenerate_recovery_codes",
                        &[("code", &code)],
                    )
                    .await
                    .unwrap();
                (u, r.status, r.body)
            }));
        }
    }
    let mut successes = [0usize; 5];
    for t in tasks {
        let (u, status, body) = t.await.unwrap();
        match status {
            200 => successes[u] += 1,
            // Refused: wrong, throttled, or (503) beyond the places for changes at once.
            400 | 403 | 429 | 503 => {}
            s => panic!("user {u}: {s} {body}"),
        }
    }
    assert_eq!(successes, [1; 5], "exactly one success per code");

    // A lockout earned on one instance holds on the other.
    let (mut eve, secret) =
        enrolled_owner(&http, &b_url, &a_url, "eve@example.com", &mut secrets).await;
    for i in 0..5 {
        let r = eve
            .call(&http, &a_url, "disable_two_factor", &[("code", "000000")])
            .await
            .unwrap();
        // The fifth failure takes the lock and says so.
        let expected = if i < 4 { 400 } else { 429 };
        assert_eq!(r.status, expected, "{}", r.body);
    }
    let good = totp::code_for(&secret, now() as u64 + 30);
    let r = eve
        .call(&http, &b_url, "disable_two_factor", &[("code", &good)])
        .await
        .unwrap();
    assert_eq!(r.status, 429, "{}", r.body);

    // Both instances started on the empty schema together: every migration is recorded once,
    // as applied successfully, and the schema is complete.
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../app/migrations/postgres"
    ))
    .unwrap()
    .filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "sql")
    })
    .count() as i64;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied, files);
    sqlx::query("SELECT COUNT(*) FROM sign_in_throttle")
        .fetch_one(&pool)
        .await
        .expect("the newest migration's table exists");

    // Neither instance wrote a password, code, setup key or session id to its log.
    let (a_log, b_log) = (a.log.clone(), b.log.clone());
    drop((a, b));
    let scanned = common::process::assert_logs_free_of(&[a_log, b_log], &secrets);
    eprintln!(
        "{} secrets, {scanned} bytes of debug logs: none found",
        secrets.len()
    );
}
