//! The real `server` binary as separate processes, and a browser-like HTTP client for them:
//! for tests about several instances, crashes and what ends up in the logs.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

/// A 32-byte server key, base64, shared by every instance of one test.
pub fn new_secret_key() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts `server` on a free port; returns once `/healthz` answers.
    pub async fn start(database_url: Option<&str>, data_dir: &Path, secret_key: &str) -> Server {
        let s = Self::spawn(database_url, data_dir, secret_key);
        s.wait_ready(Duration::from_secs(60)).await;
        s
    }

    /// Starts `server` without waiting for it.
    pub fn spawn(database_url: Option<&str>, data_dir: &Path, secret_key: &str) -> Server {
        Self::spawn_with(database_url, data_dir, secret_key, &[])
    }

    /// Starts `server` with `extra` flags, without waiting for it.
    pub fn spawn_with(
        database_url: Option<&str>,
        data_dir: &Path,
        secret_key: &str,
        extra: &[&str],
    ) -> Server {
        std::fs::create_dir_all(data_dir).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = data_dir.join(format!("server-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--public-url")
            .arg(&base)
            .arg("--db-connections")
            .arg("8")
            .env("LATCHKEY_SECRET_KEY", secret_key)
            // Everything the server can say, so the secret scan sees it all.
            .env("RUST_LOG", "debug")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.args(extra);
        let child = cmd.spawn().expect("start the server binary");
        Server { child, base, log }
    }

    pub async fn wait_ready(&self, limit: Duration) {
        let client = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                start.elapsed() < limit,
                "server at {} not ready; log:\n{}",
                self.base,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process's resident memory now, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server process is running");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// SIGTERM: the stop a service manager sends.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// The process's exit status once it has ended, waiting up to `limit`; `None` if it still
    /// runs then.
    pub async fn exited(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// SIGKILL: no shutdown, no flushing, like a power cut for the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One browser: its cookies, and any instance it talks to.
#[derive(Clone, Debug, Default)]
pub struct Browser {
    pub cookies: Vec<(String, String)>,
}

pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

impl Browser {
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Calls a server function on the instance at `base`, as the wasm client does.
    pub async fn call(
        &mut self,
        http: &reqwest::Client,
        base: &str,
        name: &str,
        fields: &[(&str, &str)],
    ) -> Result<Answer, reqwest::Error> {
        let mut req = http
            .post(format!("{base}/api/{name}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(super::encode_form(fields));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        for v in res.headers().get_all("set-cookie") {
            let Some((name, rest)) = v.to_str().unwrap_or("").split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or("").to_string();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_string(), value));
            }
        }
        let body = res.text().await?;
        Ok(Answer { status, body })
    }
}

/// Fields of a fresh account's sign-up form.
pub fn sign_up_fields<'a>(email: &'a str, password: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("account_name", "Acme"),
        ("name", "Test Owner"),
        ("email", email),
        ("password", password),
    ]
}

/// Scratch folder for one test's server data and logs.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("latchkey-tests").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Reads every log and fails if any secret shows up: passwords, setup keys and session ids
/// anywhere; 6-digit codes as whole numbers outside the timestamp that starts each line.
/// Returns the number of log bytes scanned.
pub fn assert_logs_free_of(logs: &[PathBuf], secrets: &[String]) -> usize {
    let mut scanned = 0;
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        scanned += text.len();
        for line in text.lines() {
            let body = line.split_once(' ').map(|(_, rest)| rest).unwrap_or(line);
            for s in secrets {
                let is_code = s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit());
                let found = if is_code {
                    body.match_indices(s.as_str()).any(|(i, _)| {
                        let before = body[..i].chars().next_back();
                        let after = body[i + s.len()..].chars().next();
                        let edge =
                            |c: Option<char>| c.is_none_or(|c| !c.is_ascii_digit() && c != '.');
                        edge(before) && edge(after)
                    })
                } else {
                    body.contains(s.as_str())
                };
                assert!(!found, "secret {s:?} in {}: {line}", log.display());
            }
        }
    }
    scanned
}
