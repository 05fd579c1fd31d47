//! Browser-facing defences: headers, cookies, cross-origin and GET refusal, body limits.

mod common;

use axum::body::Body;
use common::{Db, TestApp};
use http::{header, Method, StatusCode};

const PW: &str = "correct horse battery";

fn assert_common_headers(r: &common::Resp, what: &str) {
    assert_eq!(r.headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(r.headers["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(r.headers["x-frame-options"], "DENY", "{what}");
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
}

/// The `'nonce-…'` of a page's Content-Security-Policy.
fn csp_nonce(r: &common::Resp) -> String {
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    let start = csp.find("'nonce-").expect("script nonce in CSP") + 7;
    let end = start + csp[start..].find('\'').unwrap();
    csp[start..end].to_string()
}

on_both!(
    pages_allow_only_their_own_nonced_scripts,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let first = app.get("/").await;
        let second = app.get("/").await;
        assert_eq!(first.status, StatusCode::OK);
        let csp = first.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self' 'nonce-"), "{csp}");
        let nonce = csp_nonce(&first);
        assert!(nonce.len() >= 16, "{nonce}");
        assert_ne!(nonce, csp_nonce(&second), "a fresh nonce for every page");
        // Every script on the page carries the nonce; none would run without it.
        let scripts = first.body.matches("<script").count();
        assert!(scripts >= 1);
        for (i, chunk) in first.body.split("<script").skip(1).enumerate() {
            let tag = &chunk[..chunk.find('>').unwrap()];
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "script {i}: {tag}"
            );
        }
        assert_common_headers(&first, "signed-in page");
        assert_eq!(first.headers["cache-control"], "no-store");
    }
);

on_both!(
    server_functions_and_the_qr_endpoint_carry_the_headers,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let api = app.call("current_user", &[]).await;
        assert_eq!(api.status, StatusCode::OK);
        let qr = app.get("/two-factor/qr.svg").await;
        let login = app.other_browser().get("/login").await;
        for (r, what) in [
            (&api, "server function"),
            (&qr, "qr"),
            (&login, "sign-in page"),
        ] {
            assert_common_headers(r, what);
            assert_eq!(r.headers["cache-control"], "no-store", "{what}");
        }
        let csp = api.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
    }
);

on_both!(
    over_https_the_session_cookie_is_host_prefixed_and_secure,
    |db: Db| async move {
        let config = app::server::config::Config {
            secure_cookies: true,
            ..Default::default()
        };
        let mut app = TestApp::spawn_with(db, config).await;
        let r = app.sign_up("ann@example.com", PW).await;
        let cookies: Vec<&str> = r
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        let session = cookies
            .iter()
            .find(|c| c.starts_with("__Host-latchkey_session="))
            .expect("__Host- session cookie");
        for attr in ["; Path=/", "; HttpOnly", "; SameSite=Strict", "; Secure"] {
            assert!(session.contains(attr), "{session}");
        }
        assert!(
            !session.to_ascii_lowercase().contains("domain="),
            "{session}"
        );
        for c in &cookies {
            assert!(c.starts_with("__Host-") && c.contains("; Secure"), "{c}");
        }
        // The prefixed cookie is the one the server reads back.
        assert_eq!(app.call("current_user", &[]).await.status, StatusCode::OK);
    }
);

/// A state-changing call as a browser on another site would send it, with the victim's cookies.
async fn forged(
    app: &mut TestApp,
    name: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> common::Resp {
    let mut b = app
        .form_post(&format!("/api/{name}"))
        .header(header::HOST, "console.test");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    app.send(b.body(Body::from(body.to_string())).unwrap())
        .await
}

on_both!(
    cross_origin_calls_are_refused_and_change_nothing,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let before = app.snapshot().await;
        let hostile: &[&[(&str, &str)]] = &[
            &[("origin", "https://evil.example")],
            &[("origin", "http://console.test.evil.example")],
            &[("origin", "null")],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://console.test"),
            ],
            &[
                ("sec-fetch-site", "none"),
                ("origin", "http://console.test"),
            ],
        ];
        for headers in hostile {
            for (name, body) in [
                ("set_account_requirement", "required=true"),
                ("add_user", "name=Eve&email=eve%40example.com"),
                ("sign_out", ""),
            ] {
                let r = forged(&mut app, name, body, headers).await;
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{name} {headers:?}: {}",
                    r.body
                );
                let err: app::domain::AppError = serde_json::from_str(&r.body).unwrap();
                assert_eq!(err.to_string(), "Cross-origin requests are refused.");
            }
        }
        assert_eq!(app.snapshot().await, before);
        // Our own pages' calls pass: from the wasm, and as a native form post, which carries
        // `Origin: null` under `Referrer-Policy: no-referrer`.
        for headers in [
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://console.test"),
            ][..],
            &[("sec-fetch-site", "same-origin"), ("origin", "null")],
            &[("origin", "http://console.test")],
        ] {
            let r = forged(&mut app, "current_user", "", headers).await;
            assert_eq!(r.status, StatusCode::OK, "{headers:?}: {}", r.body);
        }
    }
);

on_both!(get_never_reaches_a_server_function, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    app.sign_up("ann@example.com", PW).await;
    let before = app.snapshot().await;
    for path in [
        "/api/sign_out",
        "/api/set_account_requirement?required=true",
        "/api/add_user?name=Eve&email=eve%40example.com",
        "/api/current_user",
    ] {
        for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            let r = app
                .send(
                    app.request(method.clone(), path)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(r.headers[header::ALLOW], "POST");
        }
    }
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.call("current_user", &[]).await.status, StatusCode::OK);
});

on_both!(
    oversized_bodies_are_refused_before_anything_runs,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let before = app.snapshot().await;
        let big = format!("name=Eve&email={}", "e".repeat(1024 * 1024));
        for accept in ["application/json", "text/html"] {
            let req = app
                .form_post("/api/add_user")
                .header(header::ACCEPT, accept)
                .header(header::CONTENT_LENGTH, big.len())
                .body(Body::from(big.clone()))
                .unwrap();
            let r = app.send(req).await;
            assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{accept}");
            if accept == "application/json" {
                let err: app::domain::AppError = serde_json::from_str(&r.body).unwrap();
                assert!(err.to_string().contains("too large"), "{err}");
            } else {
                assert!(r.body.contains("too large"), "{}", r.body);
            }
        }
        // Streamed without a length, too.
        let chunks = futures_stream(big);
        let req = app
            .form_post("/api/add_user")
            .body(Body::from_stream(chunks))
            .unwrap();
        let r = app.send(req).await;
        assert!(r.status.is_client_error(), "{} {}", r.status, r.body);
        assert!(r.body.len() < 1000, "{}", r.body);
        assert_eq!(app.snapshot().await, before);
    }
);

fn futures_stream(s: String) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = s
        .into_bytes()
        .chunks(8192)
        .map(|c| Ok(c.to_vec()))
        .collect();
    futures_util::stream::iter(chunks)
}

on_both!(
    a_plain_form_post_returns_to_the_page_it_names,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let send = |app: &TestApp, body: &'static str| {
            app.form_post("/api/sign_in")
                .header(header::HOST, "console.test")
                .header(header::ACCEPT, "text/html")
                .header(header::REFERER, "http://elsewhere.example/leak")
                .body(Body::from(body))
                .unwrap()
        };
        let r = app
            .send(send(&app, "__return=%2Flogin&email=a%40b.c&password=wrong"))
            .await;
        assert_eq!(r.status, StatusCode::FOUND);
        let to = r.location().unwrap();
        // Relative: a redirect never names the host a request chose.
        assert!(to.starts_with("/login?"), "{to}");
        assert!(to.contains("__err=") && to.contains("__sig="), "{to}");
        // A return path that leaves the site is ignored: back to the start page, never elsewhere.
        let r = app
            .send(send(
                &app,
                "__return=%2F%2Fevil.example&email=a%40b.c&password=wrong",
            ))
            .await;
        let to = r.location().unwrap();
        assert!(!to.contains("evil") && !to.contains("elsewhere"), "{to}");
    }
);

on_both!(
    the_sign_in_page_is_its_first_render_with_a_fresh_nonce_each_time,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        // The first is rendered by leptos and kept; the next two are copies of it; a query
        // string makes leptos render it again.
        let pages = [
            app.get("/login").await,
            app.get("/login").await,
            app.get("/login").await,
            app.get("/login?utm=x").await,
        ];
        let nonces: Vec<String> = pages.iter().map(csp_nonce).collect();
        for (i, (page, nonce)) in pages.iter().zip(&nonces).enumerate() {
            assert_eq!(page.status, StatusCode::OK, "page {i}");
            assert!(nonce.len() >= 16, "page {i}: {nonce}");
            assert!(page.body.contains("Sign in to Latchkey"), "page {i}");
            let scripts = page.body.matches("<script").count();
            assert!(scripts >= 1, "page {i}");
            assert_eq!(
                page.body.matches(&format!("nonce=\"{nonce}\"")).count(),
                scripts,
                "page {i}: every script carries this page's nonce"
            );
            assert_common_headers(page, "sign-in page");
            assert_eq!(page.headers["cache-control"], "no-store", "page {i}");
            assert_eq!(
                page.headers["content-type"],
                pages[0].headers["content-type"]
            );
            // The rendered one names its own address as the page its form returns to.
            assert_eq!(
                page.body
                    .replace(nonce.as_str(), "N")
                    .replace("value=\"/login?utm=x\"", "value=\"/login\""),
                pages[0].body.replace(nonces[0].as_str(), "N"),
                "page {i} is the first render but for its nonce"
            );
            assert_eq!(
                page.headers["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .replace(nonce.as_str(), "N"),
                pages[0].headers["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .replace(nonces[0].as_str(), "N"),
            );
        }
        let distinct: std::collections::HashSet<_> = nonces.iter().collect();
        assert_eq!(distinct.len(), nonces.len(), "a fresh nonce every time");
    }
);

on_both!(
    a_signed_in_page_made_from_its_user_alone_is_kept_for_them_and_follows_them,
    |db: Db| async move {
        let mut owner = TestApp::spawn(db).await;
        owner.sign_up("ann@example.com", PW).await;
        let (mut adam, _) = owner.add_member("adam@example.com", PW, false).await;

        // An admin's Overview shows only who they are: rendered once, then copies of that
        // render, each with its own nonce.
        let pages = [
            adam.get("/").await,
            adam.get("/").await,
            adam.get("/").await,
        ];
        let nonces: Vec<String> = pages.iter().map(csp_nonce).collect();
        for (i, (page, nonce)) in pages.iter().zip(&nonces).enumerate() {
            assert_eq!(page.status, StatusCode::OK, "page {i}");
            assert_eq!(page.test_id("two-factor-state"), "Off", "page {i}");
            assert!(page.body.contains("adam@example.com"), "page {i}");
            assert_eq!(
                page.body.matches(&format!("nonce=\"{nonce}\"")).count(),
                page.body.matches("<script").count(),
                "page {i}: every script carries this page's nonce"
            );
            // The rendered one names its own address as the page its form returns to.
            assert_eq!(
                page.body
                    .replace(nonce.as_str(), "N")
                    .replace("value=\"/login?utm=x\"", "value=\"/login\""),
                pages[0].body.replace(nonces[0].as_str(), "N"),
                "page {i} is the first render but for its nonce"
            );
            assert_common_headers(page, "kept signed-in page");
            assert_eq!(page.headers["cache-control"], "no-store", "page {i}");
        }
        let distinct: std::collections::HashSet<_> = nonces.iter().collect();
        assert_eq!(distinct.len(), nonces.len(), "a fresh nonce every time");

        // The owner's own Overview loads the account's
        // protection, so it is rendered every time and follows the account.
        let before = owner.get("/").await;
        assert_eq!(
            before.test_id("protected-count"),
            "0 of 2 users are protected by two-factor authentication."
        );
        assert!(before.body.contains("ann@example.com"));

        // Adam sets up an authenticator: his next Overview is rendered for who he is now, and
        // the owner's shows the account as it is now, though the owner is unchanged.
        adam.enroll().await;
        let after = adam.get("/").await;
        assert_eq!(after.test_id("two-factor-state"), "On");
        assert_eq!(adam.get("/").await.test_id("two-factor-state"), "On");
        assert_eq!(
            owner.get("/").await.test_id("protected-count"),
            "1 of 2 users are protected by two-factor authentication."
        );

        // Signed out, the kept page is not his any more: the sign-in page it is.
        assert_eq!(adam.call("sign_out", &[]).await.status, StatusCode::OK);
        let out = adam.get("/").await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert_eq!(out.location(), Some("/login"));
    }
);

on_both!(
    a_failed_plain_form_sign_in_shows_its_error_on_the_sign_in_page,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let mut visitor = app.other_browser();
        let kept = visitor.get("/login").await;
        assert!(!kept.body.contains("Incorrect email or password."));
        let req = visitor
            .form_post("/api/sign_in")
            .header(header::HOST, "console.test")
            .header(header::ACCEPT, "text/html")
            .body(Body::from(
                "__return=%2Flogin&email=ann%40example.com&password=wrong",
            ))
            .unwrap();
        let r = visitor.send(req).await;
        assert_eq!(r.status, StatusCode::FOUND);
        let back = r.location().unwrap().to_string();
        assert!(back.starts_with("/login?"), "{back}");
        let page = visitor.get(&back).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("Incorrect email or password."),
            "{}",
            page.body
        );
    }
);

on_both!(
    pages_go_out_gzipped_to_browsers_that_accept_it,
    |db: Db| async move {
        use std::io::Read;
        use tower::ServiceExt;
        let app = TestApp::spawn(db).await;
        let fetch = |accept: Option<&'static str>| {
            let router = app.router.clone();
            async move {
                let mut req = http::Request::get("/login");
                if let Some(a) = accept {
                    req = req.header(header::ACCEPT_ENCODING, a);
                }
                let res = router
                    .oneshot(req.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let headers = res.headers().clone();
                let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                    .await
                    .unwrap();
                (headers, body)
            }
        };
        let vary_ok = |h: &http::HeaderMap| {
            h.get_all(header::VARY).iter().any(|v| {
                v.to_str()
                    .unwrap()
                    .to_ascii_lowercase()
                    .contains("accept-encoding")
            })
        };

        let (h, gz) = fetch(Some("br;q=1, gzip;q=0.8")).await;
        assert_eq!(h[header::CONTENT_ENCODING], "gzip");
        assert!(vary_ok(&h), "{h:?}");
        let mut html = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut html)
            .expect("a valid gzip stream");
        assert!(html.contains("Sign in to Latchkey"), "{html}");
        // Compressed for real: the fixed-code encoder takes this 1.6 KB page to ~59 %; a stored
        // (uncompressed) deflate stream would be larger than the page.
        assert!(
            gz.len() * 3 < html.len() * 2,
            "{} -> {}",
            html.len(),
            gz.len()
        );

        // Refused or not offered: the page as it is, and caches still told it varies.
        for accept in [Some("gzip;q=0, br"), None] {
            let (h, body) = fetch(accept).await;
            assert!(
                h.get(header::CONTENT_ENCODING).is_none(),
                "{accept:?}: {h:?}"
            );
            assert!(vary_ok(&h), "{accept:?}");
            assert!(String::from_utf8(body.to_vec())
                .unwrap()
                .contains("Sign in to Latchkey"));
        }
    }
);

// A link with an error the server did not produce (`__err` in the query) shows no text: the
// page is sent again without it. The server's own errors carry their signature.
on_both!(
    pages_show_only_errors_this_server_signed,
    |db: Db| async move {
        use base64::Engine;
        let mut app = TestApp::spawn(db).await;
        app.sign_up("ann@example.com", PW).await;
        let mut visitor = app.other_browser();
        let forged = base64::engine::general_purpose::URL_SAFE
            .encode(r#"{"Refused":"Your account is suspended. Call +1 555 0100."}"#);
        for page in ["/login", "/signup", "/invite/abc", "/login/verify"] {
            let r = visitor
                .get(&format!("{page}?__path=/api/sign_in&__err={forged}"))
                .await;
            assert!(r.status.is_redirection(), "{page}: {}", r.status);
            assert!(!r.body.contains("suspended"), "{page}");
            let to = r.location().unwrap();
            assert!(!to.contains("__err"), "{page}: {to}");
            // A forged signature is no better.
            let r = visitor
                .get(&format!(
                    "{page}?__path=/api/sign_in&__err={forged}&__sig=AAAAAAAAAAAAAAAAAAAAAA"
                ))
                .await;
            assert!(r.status.is_redirection(), "{page}: {}", r.status);
        }
        // A real signed error with a forged one after it: leptos shows the last of a repeated
        // parameter, so repeats are refused.
        let req = visitor
            .form_post("/api/sign_in")
            .header(header::ACCEPT, "text/html")
            .body(Body::from(
                "__return=%2Flogin&email=x%40example.com&password=wrong",
            ))
            .unwrap();
        let signed = visitor.send(req).await.location().unwrap().to_string();
        assert!(signed.contains("__sig="), "{signed}");
        assert_eq!(visitor.get(&signed).await.status, StatusCode::OK);
        for extra in [
            format!("&__path=/api/sign_in&__err={forged}"),
            format!("&__err={forged}"),
            "&__sig=AAAAAAAAAAAAAAAAAAAAAA".to_string(),
            "&__path=/api/sign_up".to_string(),
        ] {
            let r = visitor.get(&format!("{signed}{extra}")).await;
            assert!(r.status.is_redirection(), "{extra}: {}", r.status);
            assert!(!r.body.contains("suspended"));
            assert!(!r.location().unwrap().contains("__err"), "{extra}");
        }
        // Behind a proxy the forwarded host is not trusted for redirects either.
        let req = visitor
            .form_post("/api/sign_in")
            .header(header::HOST, "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header(header::ACCEPT, "text/html")
            .body(Body::from(
                "__return=%2Flogin&email=ann%40example.com&password=wrong",
            ))
            .unwrap();
        let r = visitor.send(req).await;
        let to = r.location().unwrap();
        assert!(!to.contains("evil"), "{to}");
        assert!(to.starts_with("/login?"), "{to}");
    }
);

// The page a forged error redirects to stays on this site, and a request that brings its own
// `Referer` (any content type) is never sent back to it.
on_both!(redirects_never_leave_the_site, |db: Db| async move {
    let mut app = TestApp::spawn(db).await;
    for path in [
        "//evil.example/?__err=x",
        "/\\evil.example/?__err=x",
        "///evil.example/?__err=x",
    ] {
        let r = app.get(path).await;
        assert!(r.status.is_redirection(), "{path}: {}", r.status);
        let to = r.location().unwrap();
        assert!(
            to.starts_with('/') && !to.starts_with("//") && !to.starts_with("/\\"),
            "{path}: {to}"
        );
    }
    for content_type in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "APPLICATION/X-WWW-FORM-URLENCODED",
    ] {
        let req = app
            .request(Method::POST, "/api/sign_in")
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, "text/html")
            .header(header::REFERER, "http://evil.example/x")
            .body(Body::from("email=a%40b.c&password=wrong"))
            .unwrap();
        let r = app.send(req).await;
        let to = r.location().unwrap_or("");
        assert!(!to.contains("evil"), "{content_type}: {to}");
    }
});

// A signed error shows the server's own words: a request that could not be read (its field
// names echoed by the decoder) gets one fixed sentence.
on_both!(
    a_signed_error_never_echoes_the_request,
    |db: Db| async move {
        let mut app = TestApp::spawn(db).await;
        let phrase = "Your account is locked. Call support now";
        let body = format!(
            "__return=%2Flogin&{k}=1&{k}=2",
            k = phrase.replace(' ', "+")
        );
        let req = app
            .form_post("/api/sign_in")
            .header(header::ACCEPT, "text/html")
            .body(Body::from(body))
            .unwrap();
        let r = app.send(req).await;
        let to = r.location().unwrap().to_string();
        assert!(to.contains("__sig="), "{to}");
        let page = app.get(&to).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("Call support"), "{}", page.body);
        assert!(
            page.body.contains("the form could not be read"),
            "{}",
            page.body
        );
    }
);

// A change the server has begun lands even when its browser leaves before the answer (the tab
// closed, a full page load, a dropped connection): hyper then drops the request's future, and
// the change must not be dropped with it. Here the owner exempts a user while that user's row
// is held, so the change waits in the database; the request is dropped as hyper drops it; the
// row is let go; the change lands.
on_both!(
    a_change_whose_browser_left_still_lands,
    |db: Db| async move {
        use tower::ServiceExt;
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        app.add_member("adam@example.com", PW, true).await;
        let adam = app.user_id("adam@example.com").await;
        let tfa_on = format!("SELECT tfa_on FROM users WHERE id = {adam}");
        assert_eq!(app.count(&tfa_on).await, 1);

        let mut hold = app.state.pool.begin().await.unwrap();
        sqlx::query("UPDATE users SET name = name WHERE id = $1")
            .bind(adam)
            .execute(&mut *hold)
            .await
            .unwrap();
        let req = app
            .form_post("/api/set_user_two_factor")
            .header(header::ACCEPT, "application/json")
            .body(Body::from(common::encode_form(&[
                ("user_id", &adam.to_string()),
                ("on", "false"),
            ])))
            .unwrap();
        let answer = app.router.clone().oneshot(req);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(500), answer)
                .await
                .is_err(),
            "the change waited for the held row"
        );
        hold.rollback().await.unwrap();

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let audited = format!(
            "SELECT COUNT(*) FROM audit_events WHERE event = 'user.two_factor_changed' \
             AND target_user_id = {adam}"
        );
        // The change and its audit row, however the two reads fall against its commit.
        while app.count(&tfa_on).await != 0 || app.count(&audited).await != 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the change was dropped with its request"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE event = 'user.two_factor_changed' \
                 AND target_user_id = {adam}"
            ))
            .await,
            1,
            "and its audit row with it"
        );
    }
);

on_both!(
    changes_whose_browsers_left_are_bounded,
    |db: Db| async move {
        use tower::ServiceExt;
        const PLACES: usize = 256;
        const SHARE: usize = PLACES / 2;
        let mut app = TestApp::spawn(db).await;
        app.owner_with_2fa("owner@example.com", PW).await;
        // New users wait: the change of each request is held in flight.
        let mut hold = app.state.pool.begin().await.unwrap();
        let hold_sql = match db {
            // Any write holds SQLite's one write lock.
            Db::Sqlite => "UPDATE users SET name = name",
            Db::Postgres => "LOCK TABLE users IN SHARE MODE",
        };
        sqlx::query(hold_sql).execute(&mut *hold).await.unwrap();
        // Distinct changes from `addr` (numbered from `first`), each connection closed if not
        // answered within `wait`: how many were answered (refused). SQLite's busy timeout
        // and the pool's acquire timeout end the held changes after 5 s: the test stays short.
        let browser = &app;
        let send = move |addr: &'static str, first: usize, n: usize, wait: u64| {
            let sends = (first..first + n).map(move |i| {
                let mut req = browser
                    .form_post("/api/add_user")
                    .header(header::ACCEPT, "application/json")
                    .body(Body::from(common::encode_form(&[
                        ("name", "Flood"),
                        ("email", &format!("flood{i}@example.com")),
                        ("two_factor", "false"),
                    ])))
                    .unwrap();
                let from: std::net::SocketAddr = addr.parse().unwrap();
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(from));
                let answer = browser.router.clone().oneshot(req);
                tokio::time::timeout(std::time::Duration::from_millis(wait), answer)
            });
            async move {
                let answers = futures_util::future::join_all(sends).await;
                let busy: Vec<_> = answers.into_iter().filter_map(|a| a.ok()).collect();
                for res in &busy {
                    let res = res.as_ref().unwrap();
                    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
                    assert_eq!(res.headers()[header::RETRY_AFTER], "1");
                    assert_eq!(res.headers()["x-frame-options"], "DENY");
                }
                busy.len()
            }
        };
        // One client floods: it holds its share of the places, no more.
        assert_eq!(send("10.0.0.1:1", 0, 300, 300).await, 300 - SHARE);
        // Another still gets its share, until every place is taken.
        assert_eq!(send("10.0.1.1:1", 1000, SHARE, 300).await, 0);
        // The next waits a second for a place, then is refused.
        assert_eq!(
            send("10.0.2.1:1", 2000, 1, 1500).await,
            1,
            "every place is taken"
        );
        hold.rollback().await.unwrap();

        // The changes in their places land; then the places are free again.
        let flood = "SELECT COUNT(*) FROM users WHERE name = 'Flood'";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while app.count(flood).await != PLACES as i64 {
            assert!(
                std::time::Instant::now() < deadline,
                "the changes in flight were lost"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // A place is given back as its change's task ends, a moment after its commit.
        loop {
            let r = app
                .call(
                    "add_user",
                    &[
                        ("name", "Eve"),
                        ("email", "eve@example.com"),
                        ("two_factor", "false"),
                    ],
                )
                .await;
            if r.status == StatusCode::OK {
                break;
            }
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
            assert!(
                std::time::Instant::now() < deadline,
                "the places were not given back"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(app.count(flood).await, PLACES as i64);
    }
);
