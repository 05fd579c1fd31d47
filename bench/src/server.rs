//! The server under test: the release binary started on a free port, stopped when dropped, and
//! its memory as /proc shows it.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Server {
    child: Child,
    pub base: String,
    /// Where the load loops connect (and their `Host` header).
    pub addr: SocketAddr,
    pub pid: u32,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server and returns it with the time until `/healthz` answered.
pub async fn start(
    bin: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    key: &str,
    http: &reqwest::Client,
) -> (Server, Duration) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(data_dir.join(format!("server-{port}.log"))).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--public-url")
        .arg(&base)
        .env("LATCHKEY_SECRET_KEY", key)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    let started = Instant::now();
    let child = cmd.spawn().expect("start the server binary");
    let pid = child.id();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = Server {
        child,
        base,
        addr,
        pid,
    };
    loop {
        if let Ok(r) = http.get(format!("{}/healthz", server.base)).send().await {
            if r.status().is_success() {
                return (server, started.elapsed());
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

impl Server {
    /// The server's peak resident memory (VmHWM) so far, in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        proc_status_mb(self.pid, "VmHWM:")
    }

    /// Prints the server's memory after a phase of the run.
    pub fn print_memory(&self, phase: &str) {
        let pid = self.pid;
        eprintln!(
            "  after {phase}: RSS {:.1} MB (heap and stacks {:.1}, code and files {:.1}), peak {:.1} MB",
            proc_status_mb(pid, "VmRSS:"),
            proc_status_mb(pid, "RssAnon:"),
            proc_status_mb(pid, "RssFile:"),
            proc_status_mb(pid, "VmHWM:")
        )
    }
}

/// A memory line of /proc/<pid>/status, in MB.
fn proc_status_mb(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}
