//! The report: the Markdown table of every scenario, the lines under it (rounds, floors, CPU),
//! the first-load assets, the budgets with their verdicts, and the file it is written to, where
//! hand-written notes below [`NOTES_MARKER`] survive a new run.

use std::{path::Path, time::Duration};

use app::server::now;

use crate::{
    codes::CodeResult,
    first_load::FirstLoad,
    load::{slow_windows, Run},
    machine::{cpu_ticks, machine},
    pages::Pages,
    sign_in::SignIn,
    PAGE_CONNS,
};

const NOTES_MARKER: &str = "<!-- notes: kept across runs -->";

/// One line of the table.
pub struct Row {
    pub scenario: String,
    conns: String,
    pub run: Run,
    floor_rps: Option<f64>,
}

impl Row {
    pub fn new(scenario: impl Into<String>, conns: usize, run: Run, floor_rps: Option<f64>) -> Row {
        Row {
            scenario: scenario.into(),
            conns: conns.to_string(),
            run,
            floor_rps,
        }
    }
}

fn table(rows: &[&Row]) -> String {
    let mut s = String::from(
        "| scenario | conns | requests | req/s | p50 ms | p99 ms | errors | vs floor |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let ratio = r
            .floor_rps
            .map(|f| format!("{:.0} %", 100.0 * r.run.rps() / f))
            .unwrap_or_else(|| "–".into());
        s.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |\n",
            r.scenario,
            r.conns,
            r.run.requests(),
            r.run.rps(),
            r.run.pct_ms(0.5),
            r.run.pct_ms(0.99),
            r.run.errors,
            ratio
        ));
    }
    s
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

/// `--codes-only`: the code scenarios' table, and for each database its acceptances, tail
/// latencies, CPU per request and when its slow answers were sent.
pub fn print_codes_only(sqlite: &CodeResult, pg: Option<&CodeResult>) {
    let mut rows = vec![&sqlite.capacity, &sqlite.valid];
    if let Some(p) = pg {
        rows.push(&p.capacity);
        rows.push(&p.valid);
    }
    print!("{}", table(&rows));
    for c in std::iter::once(sqlite).chain(pg) {
        let r = &c.valid.run;
        println!(
            "{}: {} of {} codes accepted once, {} accepted twice; p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2} ms",
            c.valid.scenario,
            c.accepted,
            c.users,
            c.double_accepts,
            r.pct_ms(0.9),
            r.pct_ms(0.99),
            r.pct_ms(0.999),
            r.pct_ms(1.0)
        );
        println!(
            "  wrong codes: {}",
            c.capacity_cpu.per_request(c.capacity.run.requests())
        );
        println!("  valid codes: {}", c.valid_cpu.per_request(r.requests()));
        println!(
            "  the warm-up before it ({} pairs on a cold server): p99 {:.2} ms",
            crate::codes::WARM_UP_USERS,
            c.warm_up_p99_ms
        );
        println!(
            "  answers over 5 ms, by when they were sent: {}",
            slow_windows(r, &c.valid_steal)
        );
    }
}

/// Everything a full run measured.
pub struct Results {
    pub pages: Pages,
    pub sqlite_codes: CodeResult,
    pub pg_codes: Option<CodeResult>,
    pub sign_in: SignIn,
    pub first_load: FirstLoad,
    /// The server's peak RSS over the SQLite scenarios, in MB.
    pub peak_rss: f64,
    /// From starting the server on the existing database until it answered.
    pub restart: Duration,
    /// [`cpu_ticks`] when the run started.
    pub ticks_at_start: (u64, u64),
}

/// The rows of the pages and the password sign-in, with the floors they are judged against.
struct Rows {
    floor_rps: f64,
    argon_floor: f64,
    floor: Row,
    login: Row,
    login_rendered: Row,
    overview: Row,
    overview_rendered: Row,
    sign_in: Row,
    during: Row,
}

impl Rows {
    fn new(pages: Pages, sign_in: SignIn) -> Rows {
        let floor_rps = pages.floor.rps();
        let argon_floor = sign_in.argon_floor;
        let page = |scenario: &str, run: Run| Row::new(scenario, PAGE_CONNS, run, Some(floor_rps));
        Rows {
            floor_rps,
            argon_floor,
            floor: Row::new("floor: `GET /healthz`", PAGE_CONNS, pages.floor, None),
            login: page(
                "sign-in page, anonymous (SSR once, then copied with a fresh nonce)",
                pages.login,
            ),
            login_rendered: page(
                "sign-in page with a query string, rendered anew each time",
                pages.login_rendered,
            ),
            overview: page(
                "Overview, signed in (SSR once per member, then copied with a fresh nonce)",
                pages.overview,
            ),
            overview_rendered: page(
                "Overview with a query string, rendered anew each time",
                pages.overview_rendered,
            ),
            sign_in: Row::new(
                "password sign-in (Argon2id)",
                4,
                sign_in.sign_in,
                Some(argon_floor),
            ),
            during: Row::new(
                "Overview at 50/s during the sign-in burst",
                8,
                sign_in.overview_during,
                None,
            ),
        }
    }

    /// Every row of the table, in order.
    fn with_codes<'a>(&'a self, codes: &[&'a CodeResult]) -> Vec<&'a Row> {
        let mut rows = vec![
            &self.floor,
            &self.login,
            &self.login_rendered,
            &self.overview,
            &self.overview_rendered,
        ];
        for c in codes {
            rows.push(&c.capacity);
            rows.push(&c.valid);
        }
        rows.push(&self.sign_in);
        rows.push(&self.during);
        rows
    }
}

/// The whole report, as printed and written.
pub fn render(results: Results) -> String {
    let Results {
        pages,
        sqlite_codes,
        pg_codes,
        sign_in,
        first_load,
        peak_rss,
        restart,
        ticks_at_start,
    } = results;
    let codes: Vec<&CodeResult> = std::iter::once(&sqlite_codes)
        .chain(pg_codes.as_ref())
        .collect();
    let spread = |ratios: &[f64]| {
        ratios
            .iter()
            .map(|r| format!("{:.0} %", r * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rounds = format!(
        "\nEach round over its own floor ({} rounds): sign-in page {}; Overview {}; Overview rendered anew {}; password sign-in {}.\n",
        pages.login_rounds.len(),
        spread(&pages.login_rounds),
        spread(&pages.overview_rounds),
        spread(&pages.overview_rendered_rounds),
        spread(&sign_in.rounds)
    );
    let rows = Rows::new(pages, sign_in);

    let mut out = String::new();
    out.push_str(&table(&rows.with_codes(&codes)));
    out.push_str(&rounds);
    out.push_str(&format!(
        "\nSecond floor: raw Argon2id (the server's parameters) on every core in this process: {:.1} verifications/s.\n",
        rows.argon_floor
    ));
    out.push_str(&cpu_lines(ticks_at_start, &codes));
    out.push_str(&assets_table(&first_load));
    let (qr_len, qr_status) = (first_load.qr_len, first_load.qr_status);
    out.push_str(&format!(
        "Enrollment QR SVG: {qr_len} bytes (HTTP {qr_status}). Server peak RSS (VmHWM) over the SQLite scenarios: {peak_rss:.1} MB. Ready to serve on the existing database: {:.0} ms after start.\n\n",
        restart.as_secs_f64() * 1000.0
    ));
    out.push_str("| budget | result |\n|---|---|\n");
    for (text, ok) in &budgets(&rows, &codes, &first_load, peak_rss, restart) {
        out.push_str(&format!("| {text} | {} |\n", verdict(*ok)));
    }
    out
}

/// How much of the cores the host's other guests took over the run, and where the cores went
/// in each code check.
fn cpu_lines(ticks_at_start: (u64, u64), codes: &[&CodeResult]) -> String {
    // How much of the cores the host's other guests took meanwhile (a shared machine's noise).
    let ticks = cpu_ticks();
    let (all, stolen) = (ticks.0 - ticks_at_start.0, ticks.1 - ticks_at_start.1);
    let mut out = format!(
        "\nCPU time stolen by the hypervisor during the run (/proc/stat): {:.1} %.\n\n",
        100.0 * stolen as f64 / all.max(1) as f64
    );
    // Where the cores went in the code checks: the server, PostgreSQL and this load generator
    // share them, so a tail that grows with the cores' load shows here.
    out.push_str("CPU per code check (/proc, 10 ms ticks):\n");
    for c in codes {
        out.push_str(&format!(
            "- {}: {}.\n- {}: {}; the warm-up before it ({} pairs on a cold server) had a p99 of {:.2} ms.\n",
            c.capacity.scenario,
            c.capacity_cpu.per_request(c.capacity.run.requests()),
            c.valid.scenario,
            c.valid_cpu.per_request(c.valid.run.requests()),
            crate::codes::WARM_UP_USERS,
            c.warm_up_p99_ms
        ));
    }
    out.push('\n');
    out
}

/// Bytes of each encoding over all first-load assets: brotli, gzip, identity.
fn asset_totals(first_load: &FirstLoad) -> [usize; 3] {
    let mut totals = [0; 3];
    for (_, sizes, _) in &first_load.assets {
        for (total, size) in totals.iter_mut().zip(sizes) {
            *total += size;
        }
    }
    totals
}

fn assets_table(first_load: &FirstLoad) -> String {
    let mut out = String::from(
        "| first-load asset | brotli | gzip | identity | Cache-Control |\n|---|---:|---:|---:|---|\n",
    );
    for (a, s, cache) in &first_load.assets {
        out.push_str(&format!(
            "| `{a}` | {} | {} | {} | {cache} |\n",
            kb(s[0]),
            kb(s[1]),
            kb(s[2])
        ));
    }
    let [br, gz, id] = asset_totals(first_load);
    out.push_str(&format!(
        "| **total** | **{}** | **{}** | **{}** | |\n\n",
        kb(br),
        kb(gz),
        kb(id)
    ));
    out
}

/// Each budget as its line of the table, and whether it was met.
fn budgets(
    rows: &Rows,
    codes: &[&CodeResult],
    first_load: &FirstLoad,
    rss: f64,
    restart: Duration,
) -> Vec<(String, bool)> {
    let floor_rps = rows.floor_rps;
    let login_ratio = rows.login.run.rps() / floor_rps;
    let overview_ratio = rows.overview.run.rps() / floor_rps;
    let sign_in_ratio = rows.sign_in.run.rps() / rows.argon_floor;
    let mut budgets = vec![
        (
            format!(
                "sign-in page SSR ≥ 30 % of floor, no errors: {:.1} %",
                login_ratio * 100.0
            ),
            login_ratio >= 0.30 && rows.login.run.errors == 0,
        ),
        (
            format!(
                "Overview SSR ≥ 20 % of floor, no errors: {:.1} % (rendered anew each time: {:.1} %)",
                overview_ratio * 100.0,
                rows.overview_rendered.run.rps() / floor_rps * 100.0
            ),
            overview_ratio >= 0.20
                && rows.overview.run.errors == 0
                && rows.overview_rendered.run.errors == 0,
        ),
    ];
    for c in codes {
        budgets.push((
            format!(
                "{}: p99 ≤ 5 ms, no errors, one acceptance per code: p99 {:.2} ms, {} errors, {} of {} codes accepted once, {} accepted twice",
                c.valid.scenario,
                c.valid.run.pct_ms(0.99),
                c.valid.run.errors + c.capacity.run.errors,
                c.accepted,
                c.users,
                c.double_accepts
            ),
            c.ok(),
        ));
    }
    let br = asset_totals(first_load)[0];
    let (qr_len, qr_status) = (first_load.qr_len, first_load.qr_status);
    budgets.extend([
        (
            format!(
                "password sign-in ≥ 90 % of raw Argon2id: {:.1} % (Overview p99 during the burst {:.1} ms)",
                sign_in_ratio * 100.0,
                rows.during.run.pct_ms(0.99)
            ),
            sign_in_ratio >= 0.90 && rows.sign_in.run.errors == 0,
        ),
        (
            format!("first load ≤ 200 KB brotli: {}", kb(br)),
            // A site that did not load (no wasm, script or stylesheet served) is not a small one.
            br <= 200 * 1024 && [".wasm", ".js", ".css"].iter().all(|ext| {
                first_load
                    .assets
                    .iter()
                    .any(|(a, s, _)| a.ends_with(ext) && s.iter().all(|&n| n > 0))
            }),
        ),
        (format!("QR SVG ≤ 5 KB: {qr_len} bytes"), qr_status == 200 && qr_len <= 5 * 1024),
        (format!("peak RSS ≤ 60 MB: {rss:.1} MB"), rss <= 60.0),
        (
            format!("ready ≤ 1 s on an existing database: {:.0} ms", restart.as_secs_f64() * 1000.0),
            restart <= Duration::from_secs(1),
        ),
    ]);
    budgets
}

/// Writes the report to `path` as Markdown, under a heading with the date and the machine;
/// hand-written analysis below [`NOTES_MARKER`] in the file it replaces survives.
pub fn write(path: &Path, report: &str) {
    let doc = format!(
        "# Benchmarks\n\nWritten by `scripts/bench.sh` (which runs `latchkey-bench`, `bench/src/main.rs`) on {}.\n\nMachine: {}.\n\n{report}",
        chrono_like_now(),
        machine()
    );
    // Hand-written analysis below the marker survives a new run.
    let notes = std::fs::read_to_string(path)
        .ok()
        .and_then(|old| old.find(NOTES_MARKER).map(|i| old[i..].to_string()))
        .unwrap_or_else(|| format!("{NOTES_MARKER}\n"));
    std::fs::write(path, format!("{doc}\n{notes}")).unwrap();
    eprintln!("wrote {}", path.display());
}

/// `YYYY-MM-DD HH:MM UTC` without a date crate.
fn chrono_like_now() -> String {
    let t = now();
    let (days, rem) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_report_keeps_the_notes_below_the_marker() {
        let dir =
            std::env::temp_dir().join(format!("latchkey-bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("BENCHMARKS.md");
        // A first report: nothing to keep, so an empty notes section under the marker.
        write(&path, "| first |\n");
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(first.starts_with("# Benchmarks\n\nWritten by `scripts/bench.sh`"));
        assert!(first.ends_with(&format!("| first |\n\n{NOTES_MARKER}\n")));
        // Notes written by hand below the marker survive the next report; the old table goes.
        std::fs::write(&path, format!("{first}## Why\n\nBecause.\n")).unwrap();
        write(&path, "| second |\n");
        let second = std::fs::read_to_string(&path).unwrap();
        assert!(!second.contains("| first |"));
        assert!(second.ends_with(&format!(
            "| second |\n\n{NOTES_MARKER}\n## Why\n\nBecause.\n"
        )));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
