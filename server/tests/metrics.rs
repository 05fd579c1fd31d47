//! Metrics for operators: the real binary with `--metrics-listen`, scraped after sign-ins.

mod common;

use std::time::Duration;

use app::server::{now, totp};
use common::process::{
    client, free_port, new_secret_key, scratch_dir, sign_up_fields, Browser, Server,
};

const PW: &str = "correct horse battery";
const EMAIL: &str = "metrics-owner@example.com";

/// The value of the sample `name` (with its labels, as written) in a scrape; 0 when absent.
fn sample(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_and_requests_move_the_counters_and_name_nobody() {
    let dir = scratch_dir("metrics");
    let port = free_port();
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let server = Server::spawn_with(
        None,
        &dir,
        &new_secret_key(),
        &["--metrics-listen", &format!("127.0.0.1:{port}")],
    );
    server.wait_ready(Duration::from_secs(60)).await;
    let http = client();
    let base = server.base.clone();
    let scrape = || async {
        let r = http.get(&metrics_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    let before = scrape().await;
    assert!(
        before.contains("latchkey_db_pool_connections{state=\"open\"}"),
        "{before}"
    );

    // An owner with an authenticator.
    let mut owner = Browser::default();
    let r = owner
        .call(&http, &base, "sign_up", &sign_up_fields(EMAIL, PW))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = owner
        .call(&http, &base, "start_enrollment", &[])
        .await
        .unwrap();
    let secret = totp::decode_setup_key(r.json()["setup_key"].as_str().unwrap()).unwrap();
    let code = totp::code_for(&secret, now() as u64 - 30);
    let r = owner
        .call(&http, &base, "confirm_enrollment", &[("code", &code)])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    // Two wrong passwords, then the right one, a wrong code and the right code.
    let mut b = Browser::default();
    let sign_in = [("email", EMAIL), ("password", "wrong password!!")];
    for _ in 0..2 {
        let r = b.call(&http, &base, "sign_in", &sign_in).await.unwrap();
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let r = b
        .call(
            &http,
            &base,
            "sign_in",
            &[("email", EMAIL), ("password", PW)],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = b
        .call(&http, &base, "verify_sign_in", &[("code", "000000")])
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    let code = totp::code_for(&secret, now() as u64 + 30);
    let r = b
        .call(&http, &base, "verify_sign_in", &[("code", &code)])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    // Five wrong codes lock the code check; the sixth attempt is turned away unchecked.
    let mut c = Browser::default();
    let r = c
        .call(
            &http,
            &base,
            "sign_in",
            &[("email", EMAIL), ("password", PW)],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    for _ in 0..5 {
        c.call(&http, &base, "verify_sign_in", &[("code", "000000")])
            .await
            .unwrap();
    }
    let r = c
        .call(&http, &base, "verify_sign_in", &[("code", "000000")])
        .await
        .unwrap();
    assert_eq!(r.status, 429, "{}", r.body);

    // Requests to a thousand made-up paths grow no label.
    for i in 0..1000 {
        http.get(format!("{base}/made-up-{i}"))
            .send()
            .await
            .unwrap();
    }

    let after = scrape().await;
    let moved = |name: &str| sample(&after, name) - sample(&before, name);
    assert_eq!(
        moved("latchkey_sign_ins_total{method=\"password\",result=\"failure\"}"),
        2.0,
        "{after}"
    );
    assert_eq!(
        moved("latchkey_sign_ins_total{method=\"code\",result=\"success\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        moved("latchkey_code_checks_total{kind=\"code\",result=\"refused\"}"),
        6.0,
        "{after}"
    );
    assert_eq!(
        moved("latchkey_code_checks_total{kind=\"code\",result=\"accepted\"}"),
        1.0,
        "{after}"
    );
    assert!(
        moved("latchkey_http_requests_total{class=\"server_fn\",status=\"200\"}") >= 4.0,
        "{after}"
    );
    // Signed out, every page but sign-in sends the browser there.
    assert!(
        moved("latchkey_http_requests_total{class=\"page\",status=\"303\"}") >= 1000.0,
        "{after}"
    );
    assert_eq!(moved("latchkey_code_lockouts_total"), 1.0, "{after}");
    assert_eq!(
        moved("latchkey_throttled_total{what=\"code\"}"),
        1.0,
        "{after}"
    );
    assert!(
        moved("latchkey_http_requests_total{class=\"server_fn\",status=\"429\"}") >= 1.0,
        "{after}"
    );
    assert!(
        after.contains(
            "latchkey_http_request_duration_seconds_bucket{class=\"server_fn\",le=\"0.005\"}"
        ),
        "{after}"
    );
    assert!(moved("latchkey_security_events_total{event=\"account.created\"}") == 1.0);
    // Nobody and nothing a request chose is named.
    for private in [EMAIL, "Acme", "Test Owner", "made-up", "127.0.0.1"] {
        assert!(!after.contains(private), "{private} in the metrics");
    }
    let families = |s: &str| s.lines().filter(|l| !l.starts_with('#')).count();
    assert!(families(&after) < 200, "{} samples", families(&after));
}
