//! The machine the run is on: its description for the report, and where its CPU time went
//! (by process, and the time the hypervisor gave other guests), from /proc and sysfs.

use std::path::{Path, PathBuf};

/// The machine, with the CPU's family, model and caches: machines of one kind differ in CPU
/// generation (an EPYC of family 25 or 26 both say "AMD EPYC"), and a page's rate follows its
/// code's fit in the caches as much as its instruction count.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(name))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
    };
    let mut cpu = field("model name").unwrap_or_else(|| "unknown CPU".into());
    if let (Some(family), Some(model)) = (field("cpu family"), field("model")) {
        cpu.push_str(&format!(", family {family} model {model}"));
    }
    let caches = cpu0_caches();
    if !caches.is_empty() {
        cpu.push_str(&format!("; caches per core {caches}"));
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem} RAM; load generator on the same machine")
}

/// CPU 0's caches from sysfs, as "L1d 48K, L1i 32K, L2 1024K, L3 32768K (shared by 2)".
fn cpu0_caches() -> String {
    let read = |dir: &Path, file: &str| {
        std::fs::read_to_string(dir.join(file))
            .map(|s| s.trim().to_string())
            .ok()
    };
    let mut out = Vec::new();
    for i in 0.. {
        let dir = PathBuf::from(format!("/sys/devices/system/cpu/cpu0/cache/index{i}"));
        let (Some(level), Some(kind), Some(size)) =
            (read(&dir, "level"), read(&dir, "type"), read(&dir, "size"))
        else {
            break;
        };
        let name = match kind.as_str() {
            "Data" => format!("L{level}d"),
            "Instruction" => format!("L{level}i"),
            _ => format!("L{level}"),
        };
        let shared = read(&dir, "shared_cpu_list")
            .filter(|l| l.contains(['-', ',']))
            .map(|l| format!(" (shared by cpus {l})"))
            .unwrap_or_default();
        out.push(format!("{name} {size}{shared}"));
    }
    out.join(", ")
}

/// All CPU time and the part of it the hypervisor gave to other guests ("steal"), in ticks
/// since boot, from the first line of /proc/stat.
pub fn cpu_ticks() -> (u64, u64) {
    let ticks = machine_ticks();
    (ticks.iter().sum(), ticks[STEAL])
}

/// User + system CPU ticks of one process, from /proc/PID/stat (0 once it is gone).
fn process_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces:
    // state is the first, utime the 12th and stime the 13th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    tick(11) + tick(12)
}

/// The CPU ticks of every PostgreSQL process on this machine, by pid.
fn postgres_ticks() -> Vec<(u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "postgres")
        })
        .map(|pid| (pid, process_ticks(pid)))
        .collect()
}

/// Where the machine's CPU time went over one phase, by process, in ticks.
pub struct CpuUse {
    server: u64,
    postgres: u64,
    bench: u64,
    /// All busy time of the machine (not idle, not I/O wait, not stolen), every process
    /// included.
    busy: u64,
    /// Time the hypervisor gave to other guests.
    steal: u64,
    /// All time of every core, busy or not.
    all: u64,
}

/// Counts CPU ticks from now until [`CpuMark::used`].
pub struct CpuMark {
    server_pid: u32,
    server: u64,
    postgres: Vec<(u32, u64)>,
    bench: u64,
    machine: [u64; 8],
}

/// The machine's CPU ticks since boot by kind (user, nice, system, idle, iowait, irq, softirq,
/// steal), from the first line of /proc/stat; 0 for a kind it does not show.
pub fn machine_ticks() -> [u64; 8] {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut ticks = [0; 8];
    let fields = stat.lines().next().unwrap_or_default().split_whitespace();
    for (tick, field) in ticks.iter_mut().zip(fields.skip(1)) {
        *tick = field.parse().unwrap_or(0);
    }
    ticks
}

/// Kinds of [`machine_ticks`] by index.
const IDLE: usize = 3;
const IOWAIT: usize = 4;
pub const STEAL: usize = 7;

impl CpuMark {
    pub fn now(server_pid: u32) -> CpuMark {
        CpuMark {
            server_pid,
            server: process_ticks(server_pid),
            postgres: postgres_ticks(),
            bench: process_ticks(std::process::id()),
            machine: machine_ticks(),
        }
    }

    pub fn used(&self) -> CpuUse {
        let before = |pid: u32| {
            self.postgres
                .iter()
                .find(|(p, _)| *p == pid)
                .map_or(0, |(_, t)| *t)
        };
        let postgres = postgres_ticks()
            .into_iter()
            .map(|(pid, t)| t.saturating_sub(before(pid)))
            .sum();
        let now = machine_ticks();
        let machine: [u64; 8] = std::array::from_fn(|i| now[i].saturating_sub(self.machine[i]));
        let all: u64 = machine.iter().sum();
        let (idle, steal) = (machine[IDLE] + machine[IOWAIT], machine[STEAL]);
        CpuUse {
            server: process_ticks(self.server_pid).saturating_sub(self.server),
            postgres,
            bench: process_ticks(std::process::id()).saturating_sub(self.bench),
            busy: all.saturating_sub(idle + steal),
            steal,
            all,
        }
    }
}

impl CpuUse {
    /// "server 0.41, PostgreSQL 0.95, load generator 0.12, the rest 0.05 ms of CPU per request;
    /// cores 80 % busy, 120 ms stolen", with ticks of 10 ms (`CLK_TCK` is 100 on Linux).
    pub fn per_request(&self, requests: usize) -> String {
        let ms = |ticks: u64| ticks as f64 * 10.0 / requests.max(1) as f64;
        let rest = self
            .busy
            .saturating_sub(self.server + self.postgres + self.bench);
        format!(
            "server {:.2}, PostgreSQL {:.2}, load generator {:.2}, the rest {:.2} ms of CPU per request; cores {:.0} % busy, {} ms stolen",
            ms(self.server),
            ms(self.postgres),
            ms(self.bench),
            ms(rest),
            100.0 * self.busy as f64 / self.all.max(1) as f64,
            self.steal * 10
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_per_request_leaves_stolen_time_out_of_busy() {
        let used = CpuUse {
            server: 10,
            postgres: 20,
            bench: 5,
            busy: 40,
            steal: 12,
            all: 100,
        };
        assert_eq!(
            used.per_request(100),
            "server 1.00, PostgreSQL 2.00, load generator 0.50, the rest 0.50 ms of CPU per request; cores 40 % busy, 120 ms stolen"
        );
    }
}
