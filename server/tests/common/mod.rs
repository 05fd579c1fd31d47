//! Test harness: the real router on a throwaway SQLite file or PostgreSQL schema per test.
#![allow(dead_code)]

pub mod process;
pub mod smtp;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use app::server::{config::Config, AppState};
use axum::{body::Body, extract::connect_info::MockConnectInfo, Router};
use http::{header, Request, StatusCode};
use tower::ServiceExt;

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    /// The session cookie's value, if the server set one.
    pub cookie: Option<String>,
    /// The half-signed-in cookie (password passed, code owed).
    pub pending: Option<String>,
    /// The remembered-device cookie a completed sign-in leaves behind.
    pub device: Option<String>,
    /// The `User-Agent` this browser sends, if any.
    pub agent: Option<&'static str>,
    /// Seconds this browser's requests shift the server's clock by (a server spawned with
    /// `Config::test_clock`).
    pub clock_shift: i64,
    /// The secret of the authenticator this browser set up with [`TestApp::enroll`].
    pub secret: Option<Vec<u8>>,
    cookie_name: &'static str,
    pending_name: &'static str,
    device_name: &'static str,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    /// The token of the link a server function handed over (`HandedLink`), after `prefix`
    /// ("/invite/", "/setup/").
    pub fn link_token(&self, prefix: &str) -> String {
        let handed: app::domain::HandedLink = serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("a handed link: {} {}", self.status, self.body));
        let at = handed
            .link
            .find(prefix)
            .unwrap_or_else(|| panic!("{prefix} in {}", handed.link));
        handed.link[at + prefix.len()..].to_string()
    }

    /// The text of the page's element with `data-testid="{id}"` (up to its first child).
    pub fn test_id(&self, id: &str) -> &str {
        let at = self
            .body
            .find(&format!("data-testid=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} on the page: {}", self.body));
        let rest = &self.body[at..];
        let start = rest.find('>').unwrap() + 1;
        &rest[start..start + rest[start..].find('<').unwrap()]
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

pub fn pg_base_url() -> String {
    std::env::var("LATCHKEY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The mail settings of a server that sends through `sink`.
pub fn mail_settings(sink: &smtp::Sink) -> server::MailSettings {
    server::MailSettings {
        smtp_url: sink.url(),
        from: "Latchkey <no-reply@latchkey.test>".into(),
    }
}

/// A database URL nobody else uses: a fresh SQLite file, or a fresh PostgreSQL schema.
pub async fn fresh_database_url(db: Db) -> String {
    match db {
        Db::Sqlite => {
            let dir: PathBuf = std::env::temp_dir().join("latchkey-tests");
            std::fs::create_dir_all(&dir).unwrap();
            format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("{}.db", unique("t"))).display()
            )
        }
        Db::Postgres => {
            use sqlx::Connection;
            let base = pg_base_url();
            let schema = unique("lk");
            let mut conn = sqlx::PgConnection::connect(&base)
                .await
                .expect("PostgreSQL must run on 127.0.0.1:5432 (see README)");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-c%20search_path%3D{schema}")
        }
    }
}

impl TestApp {
    pub async fn spawn(db: Db) -> TestApp {
        Self::spawn_with(db, Config::default()).await
    }

    pub async fn spawn_with(db: Db, config: Config) -> TestApp {
        Self::spawn_on(fresh_database_url(db).await, config, None).await
    }

    /// A server that sends security mail through `sink` (its worker is not started: a test
    /// delivers with `app::server::mail::deliver_due`, or starts the worker itself).
    pub async fn spawn_with_mail(db: Db, config: Config, sink: &smtp::Sink) -> TestApp {
        Self::spawn_on(
            fresh_database_url(db).await,
            config,
            Some(mail_settings(sink)),
        )
        .await
    }

    /// A server on the database at `url` (another instance of one that runs there already).
    pub async fn spawn_on(
        url: String,
        config: Config,
        mail: Option<server::MailSettings>,
    ) -> TestApp {
        let leptos_options = leptos::config::LeptosOptions::builder()
            .output_name("latchkey")
            .build();
        let settings = server::Settings {
            database_url: Some(url),
            data_dir: std::env::temp_dir()
                .join("latchkey-tests")
                .join(unique("data")),
            max_connections: Some(8),
            // One key for every test server: instances of one database must share it.
            secret_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
            issuer: "Latchkey".into(),
            config,
            leptos_options,
            mail,
        };
        let state = server::open_state(&settings).await.expect("open state");
        let cookie_name = state.config.session_cookie_name();
        let pending_name = state.config.pending_cookie_name();
        let device_name = app::server::throttle::device_cookie_name(&state.config);
        let router = server::router(state.clone())
            .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        TestApp {
            router,
            state,
            cookie: None,
            pending: None,
            device: None,
            agent: None,
            clock_shift: 0,
            secret: None,
            cookie_name,
            pending_name,
            device_name,
        }
    }

    /// A second browser on the same server: no cookie.
    pub fn other_browser(&self) -> TestApp {
        TestApp {
            router: self.router.clone(),
            state: self.state.clone(),
            cookie: None,
            pending: None,
            device: None,
            agent: None,
            clock_shift: self.clock_shift,
            secret: self.secret.clone(),
            cookie_name: self.cookie_name,
            pending_name: self.pending_name,
            device_name: self.device_name,
        }
    }

    /// Another browser on the same server that holds the given cookies.
    pub fn other_browser_with(&self, cookie: Option<String>, pending: Option<String>) -> TestApp {
        let mut b = self.other_browser();
        b.cookie = cookie;
        b.pending = pending;
        b
    }

    pub async fn send(&mut self, req: Request<Body>) -> Resp {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        for v in headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let Some((name, rest)) = v.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or("");
            let value = (!value.is_empty()).then(|| value.to_string());
            if name == self.cookie_name {
                self.cookie = value;
            } else if name == self.pending_name {
                self.pending = value;
            } else if name == self.device_name {
                self.device = value;
            }
        }
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// A request carrying this browser's cookies, to add headers to.
    pub fn request(&self, method: http::Method, path: &str) -> http::request::Builder {
        self.with_cookie(Request::builder().method(method).uri(path))
    }

    /// A form-encoded POST carrying this browser's cookies, as a browser's form sends it.
    pub fn form_post(&self, path: &str) -> http::request::Builder {
        self.request(http::Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
    }

    fn with_cookie(&self, mut b: http::request::Builder) -> http::request::Builder {
        if let Some(agent) = self.agent {
            b = b.header(header::USER_AGENT, agent);
        }
        if self.clock_shift != 0 {
            b = b.header(app::server::clock::HEADER, self.clock_shift);
        }
        let mut jar = Vec::new();
        if let Some(c) = &self.cookie {
            jar.push(format!("{}={c}", self.cookie_name));
        }
        if let Some(p) = &self.pending {
            jar.push(format!("{}={p}", self.pending_name));
        }
        if let Some(d) = &self.device {
            jar.push(format!("{}={d}", self.device_name));
        }
        if jar.is_empty() {
            b
        } else {
            b.header(header::COOKIE, jar.join("; "))
        }
    }

    /// Calls a server function as the wasm client does (form-encoded, JSON back).
    pub async fn call(&mut self, name: &str, fields: &[(&str, &str)]) -> Resp {
        let body = encode_form(fields);
        let req = self
            .form_post(&format!("/api/{name}"))
            .header(header::ACCEPT, "application/json")
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    /// Posts `fields` to server function `name` as a browser without JavaScript does, from
    /// the page `page` (path and query) its form sits on.
    pub async fn plain_post(&mut self, name: &str, page: &str, fields: &[(&str, &str)]) -> Resp {
        let mut all = vec![("__return", page)];
        all.extend_from_slice(fields);
        let req = self
            .form_post(&format!("/api/{name}"))
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .header(header::HOST, "console.test")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(encode_form(&all)))
            .unwrap();
        self.send(req).await
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        let req = self
            .with_cookie(Request::get(path))
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    pub async fn sign_up(&mut self, email: &str, password: &str) -> Resp {
        self.call(
            "sign_up",
            &[
                ("account_name", "Acme"),
                ("name", "Ann Owner"),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Resp {
        self.call("sign_in", &[("email", email), ("password", password)])
            .await
    }

    /// The owner (or an admin) adds `email` as an admin named Adam, and the invitation is
    /// accepted with `password` in a new browser, which is returned signed in; also returns the
    /// invitation's token.
    pub async fn add_member(
        &mut self,
        email: &str,
        password: &str,
        two_factor: bool,
    ) -> (TestApp, String) {
        let token = self.invite("Adam", email, two_factor).await;
        let mut b = self.other_browser();
        let r = b
            .call(
                "accept_invitation",
                &[("token", &token), ("password", password)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        (b, token)
    }

    /// The owner (or an admin) adds `email` as an admin called `name`, with 2FA `two_factor`;
    /// returns the invitation's token, not accepted.
    pub async fn invite(&mut self, name: &str, email: &str, two_factor: bool) -> String {
        let two_factor = if two_factor { "true" } else { "false" };
        let fields = [("name", name), ("email", email), ("two_factor", two_factor)];
        let r = self.call("add_user", &fields).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.link_token("/invite/")
    }

    /// Signs up `email` with `password` as a new account's owner and sets up their
    /// authenticator; returns its secret.
    pub async fn owner_with_2fa(&mut self, email: &str, password: &str) -> Vec<u8> {
        let r = self.sign_up(email, password).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        self.enroll().await.0
    }

    /// Sets up an authenticator for the signed-in (or half-signed-in) user with a code at
    /// `now()`; returns the secret behind the setup key and the recovery codes.
    pub async fn enroll(&mut self) -> (Vec<u8>, Vec<String>) {
        use app::server::{now, totp};
        let start = self.call("start_enrollment", &[]).await;
        assert_eq!(start.status, StatusCode::OK, "{}", start.body);
        let key = start.json()["setup_key"].as_str().unwrap().to_string();
        let secret = totp::decode_setup_key(&key).expect("setup key is base32");
        let code = totp::code_for(&secret, now() as u64);
        let r = self.call("confirm_enrollment", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let codes: Vec<String> = serde_json::from_str(&r.body).unwrap();
        self.secret = Some(secret.clone());
        (secret, codes)
    }

    /// A current code of the authenticator this browser set up ([`TestApp::enroll`]), for a
    /// step-up; empty without one. An authenticator takes each 30-second step once: a test that
    /// steps up more often stands its user one step on first, as if they waited for the next
    /// code.
    pub async fn fresh_code(&mut self) -> String {
        use app::server::{now, totp};
        let Some(secret) = self.secret.clone() else {
            return String::new();
        };
        let me = self.call("current_user", &[]).await.json();
        sqlx::query("UPDATE authenticators SET last_step = last_step - 2 WHERE user_id = $1")
            .bind(me["user_id"].as_i64().expect("signed in"))
            .execute(&self.state.pool)
            .await
            .unwrap();
        totp::code_for(&secret, now() as u64)
    }

    /// What a user could observe of the stored state (everything but the audit log and the
    /// counters that failed attempts are meant to move): equal snapshots mean nothing changed.
    pub async fn snapshot(&self) -> Vec<(&'static str, i64)> {
        const QUERIES: &[&str] = &[
            "SELECT COUNT(*) FROM accounts",
            "SELECT CAST(COALESCE(SUM(require_2fa), 0) AS BIGINT) FROM accounts",
            "SELECT COUNT(*) FROM users",
            "SELECT CAST(COALESCE(SUM(tfa_on), 0) AS BIGINT) FROM users",
            "SELECT CAST(COALESCE(SUM(tfa_reset_pending), 0) AS BIGINT) FROM users",
            "SELECT COUNT(*) FROM users WHERE role = 'owner'",
            "SELECT COUNT(*) FROM authenticators",
            "SELECT COUNT(*) FROM enrollments",
            "SELECT COUNT(*) FROM recovery_codes",
            "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NOT NULL",
            "SELECT COUNT(*) FROM sessions",
            "SELECT COUNT(*) FROM sessions WHERE second_factor = 1",
            "SELECT COUNT(*) FROM pending_logins",
            "SELECT COUNT(*) FROM user_links",
            "SELECT COUNT(*) FROM user_links WHERE used_at IS NOT NULL",
        ];
        let mut out = Vec::new();
        for q in QUERIES {
            out.push((*q, self.count(q).await));
        }
        out
    }

    /// The id of the user with `email`.
    pub async fn user_id(&self, email: &str) -> i64 {
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email.to_string())
            .fetch_one(&self.state.pool)
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(sql)
            .fetch_one(&self.state.pool)
            .await
            .unwrap()
            .try_get::<i64, _>(0)
            .unwrap()
    }
}

pub fn encode_form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs an async test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(common::Db::Postgres).await
            }
        }
    };
}

/// Sends `n` copies of a call at once from browsers holding `b`'s cookies; returns the statuses.
pub async fn at_once(
    b: &TestApp,
    n: usize,
    name: &'static str,
    fields: Vec<(&'static str, String)>,
) -> Vec<StatusCode> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let mut c = b.other_browser_with(b.cookie.clone(), b.pending.clone());
            let fields = fields.clone();
            tokio::spawn(async move {
                let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                c.call(name, &f).await.status
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
