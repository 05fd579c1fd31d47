//! The load loops: connections opened before a run's clock starts, closed loops (each connection
//! sends its next request when the last one answered) and scheduled jobs (open loop), the
//! requests' latencies, and when the slow answers of a scheduled run were sent.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::{
    http1,
    machine::{machine_ticks, STEAL},
};

#[derive(Default)]
pub struct Run {
    latencies: Vec<Duration>,
    ok: usize,
    pub errors: usize,
    wall: Duration,
    /// When the run's clock started (scheduled runs).
    start: Option<Instant>,
    /// Scheduled runs only: the answers slower than [`SLOW`], in the order they were scheduled.
    slow: Vec<Slow>,
}

/// One answer slower than [`SLOW`] in a scheduled run.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Slow {
    /// Its scheduled moment, from the start of the run.
    at: Duration,
    /// The job's index: odd for the second request of a pair.
    job: usize,
}

/// The code check's p99 budget: an answer slower than this is listed in [`Run::slow`].
const SLOW: Duration = Duration::from_millis(5);

impl Run {
    fn merge(parts: Vec<(Vec<Duration>, usize, usize)>, wall: Duration) -> Run {
        let mut r = Run {
            wall,
            ..Default::default()
        };
        for (l, ok, err) in parts {
            r.latencies.extend(l);
            r.ok += ok;
            r.errors += err;
        }
        r.latencies.sort();
        r
    }
    /// One run from slices of the same scenario: their requests over their summed time.
    pub fn combine(runs: Vec<Run>) -> Run {
        let wall = runs.iter().map(|r| r.wall).sum();
        let mut all = Run {
            wall,
            ..Default::default()
        };
        for r in runs {
            all.latencies.extend(r.latencies);
            all.ok += r.ok;
            all.errors += r.errors;
        }
        all.latencies.sort();
        all
    }
    pub fn requests(&self) -> usize {
        self.latencies.len()
    }
    pub fn rps(&self) -> f64 {
        self.requests() as f64 / self.wall.as_secs_f64()
    }
    pub fn pct_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1].as_secs_f64() * 1000.0
    }
}

/// A scheduled run's length cut into one-second slices (at least one): how many, and how long
/// each is. A scenario and its floor take turns slice by slice.
pub fn slices(secs: Duration) -> (u32, Duration) {
    let slices = secs.as_secs().max(1) as u32;
    (slices, secs / slices)
}

/// `n` connections, opened before a run's clock starts (as `wrk` does); one that fails to open
/// tries again at its first request, which then counts the handshake (or the error).
async fn open_conns(addr: SocketAddr, n: usize) -> Vec<http1::Conn> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = http1::Conn::new(addr);
        let _ = c.open().await;
        conns.push(c);
    }
    conns
}

/// `conns` connections, each sending its next request as soon as the last one answered: worker
/// `w` sends `reqs[w]`, `reqs[w + conns]`, … (wrapping), and an answer with `ok` counts as one.
/// An answer with `ok` and an empty body (a page or health check that sent nothing) is an error.
pub async fn closed_for(
    addr: SocketAddr,
    conns: usize,
    dur: Duration,
    reqs: Arc<Vec<http1::Request>>,
    ok: u16,
) -> Run {
    let opened = open_conns(addr, conns).await;
    let start = Instant::now();
    let end = start + dur;
    let mut tasks = Vec::new();
    for (w, mut conn) in opened.into_iter().enumerate() {
        let reqs = reqs.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut good, mut err) = (Vec::new(), 0, 0);
            let mut i = w;
            while Instant::now() < end {
                let t = Instant::now();
                match conn.send(&reqs[i % reqs.len()]).await {
                    Ok(a) if a.status == ok && a.body_len > 0 => good += 1,
                    _ => err += 1,
                }
                lat.push(t.elapsed());
                i += conns;
            }
            (lat, good, err)
        }));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.unwrap());
    }
    Run::merge(parts, start.elapsed())
}

/// Sends every job's request once over `conns` connections; `check` judges each answer's
/// status (0: no answer). With `rate` (requests/s) the jobs are sent on a fixed schedule (open
/// loop) and latency counts from the scheduled moment, so a slow answer cannot hide the queue
/// behind it; without, as fast as the connections allow.
pub async fn jobs<M, C>(
    addr: SocketAddr,
    conns: usize,
    rate: Option<f64>,
    jobs: Vec<(http1::Request, M)>,
    check: C,
) -> Run
where
    M: Send + Sync + 'static,
    C: Fn(&M, u16) -> bool + Clone + Send + Sync + 'static,
{
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let opened = open_conns(addr, conns).await;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in opened {
        let (jobs, next, check) = (jobs.clone(), next.clone(), check.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut ok, mut err) = (Vec::new(), 0, 0);
            let mut slow = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((req, meta)) = jobs.get(i) else {
                    break;
                };
                let t = match rate {
                    Some(r) => {
                        let at = start + Duration::from_secs_f64(i as f64 / r);
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    None => Instant::now(),
                };
                let status = conn.send(req).await.map(|a| a.status).unwrap_or(0);
                if check(meta, status) {
                    ok += 1
                } else {
                    err += 1
                }
                let took = t.elapsed();
                if rate.is_some() && took > SLOW {
                    slow.push(Slow {
                        at: t - start,
                        job: i,
                    });
                }
                lat.push(took);
            }
            ((lat, ok, err), slow)
        }));
    }
    let (mut parts, mut slow) = (Vec::new(), Vec::new());
    for t in tasks {
        let (part, s) = t.await.unwrap();
        parts.push(part);
        slow.extend(s);
    }
    let mut run = Run::merge(parts, start.elapsed());
    slow.sort();
    run.slow = slow;
    run.start = Some(start);
    run
}

/// When the answers over [`SLOW`] of a scheduled run were sent: "none", or each 100 ms window
/// of the run that holds any, as "+1.3 s: 4 (2nd of a pair 2, 20 ms stolen)", where the stolen
/// time is what the hypervisor gave other guests over that window, on all cores. Answers slow all
/// at once point at a stall of the machine or the database; with time stolen, at the host.
pub fn slow_windows(run: &Run, steal: &StealSamples) -> String {
    if run.slow.is_empty() {
        return "none".into();
    }
    const WINDOW: Duration = Duration::from_millis(100);
    // (window, answers, second of a pair)
    let mut windows: Vec<(u32, usize, usize)> = Vec::new();
    for slow in &run.slow {
        let w = (slow.at.as_millis() / WINDOW.as_millis()) as u32;
        let twin = slow.job % 2;
        match windows.last_mut() {
            Some((last, n, twins)) if *last == w => {
                *n += 1;
                *twins += twin;
            }
            _ => windows.push((w, 1, twin)),
        }
    }
    windows
        .iter()
        .map(|&(w, n, twins)| {
            let stolen = run.start.map_or(0, |start| {
                let from = start + WINDOW * w;
                steal.between(from, from + WINDOW)
            });
            format!(
                "+{:.1} s: {n} (2nd of a pair {twins}, {} ms stolen)",
                w as f64 / 10.0,
                stolen * 10
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The machine's stolen CPU ticks (/proc/stat), read every 10 ms by a thread of its own.
pub struct StealSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<StealSamples>,
}

/// (when, stolen ticks since boot), in time order.
#[derive(Default)]
pub struct StealSamples(Vec<(Instant, u64)>);

impl StealSampler {
    pub fn start() -> StealSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    samples.push((Instant::now(), machine_ticks()[STEAL]));
                    std::thread::sleep(Duration::from_millis(10));
                }
                samples.push((Instant::now(), machine_ticks()[STEAL]));
                StealSamples(samples)
            }
        });
        StealSampler { stop, thread }
    }

    pub fn finish(self) -> StealSamples {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

impl StealSamples {
    /// Ticks stolen from the last sample at or before `from` to the first at or after `to`:
    /// at least what was stolen over that span (0 outside the samples).
    fn between(&self, from: Instant, to: Instant) -> u64 {
        let first = self.0.iter().rev().find(|(t, _)| *t <= from);
        let last = self.0.iter().find(|(t, _)| *t >= to);
        match (first, last) {
            (Some((_, a)), Some((_, b))) => b.saturating_sub(*a),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_answers_are_grouped_by_100_ms_window_with_the_time_stolen_over_it() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let run = Run {
            start: Some(start),
            slow: vec![
                Slow {
                    at: ms(120),
                    job: 4,
                },
                Slow {
                    at: ms(150),
                    job: 5,
                },
                Slow {
                    at: ms(1310),
                    job: 40,
                },
            ],
            ..Default::default()
        };
        // 3 ticks stolen between 100 and 200 ms, none later.
        let steal = StealSamples(vec![
            (start, 10),
            (start + ms(100), 10),
            (start + ms(200), 13),
            (start + ms(1300), 13),
            (start + ms(1400), 13),
        ]);
        assert_eq!(
            slow_windows(&run, &steal),
            "+0.1 s: 2 (2nd of a pair 1, 30 ms stolen), +1.3 s: 1 (2nd of a pair 0, 0 ms stolen)"
        );
        assert_eq!(slow_windows(&Run::default(), &steal), "none");
    }
}
