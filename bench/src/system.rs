//! Facts about the machine: CPU, memory of a process, raw fsync latency.

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "unknown CPU".to_owned(), |s| s.trim().to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    Machine { cpu, cores: std::thread::available_parallelism().map_or(1, |n| n.get()), kernel }
}

/// (current, peak) resident memory of a process in MiB, from /proc.
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system, in clock ticks) a process has used: in all, and by each of its
/// SQLite store threads (`verifyd-sqlite-…`: the writer and the checkpointer), by thread id.
#[derive(Debug, Clone, Default)]
pub struct CpuTicks {
    process: u64,
    store_threads: Vec<(u32, u64)>,
}

/// utime + stime of a `/proc/…/stat` file.
fn stat_ticks(path: &str) -> Option<u64> {
    ticks_of(&std::fs::read_to_string(path).ok()?)
}

/// utime + stime of a `/proc/…/stat` line: fields 14 and 15, counted after the command's
/// parenthesised name, which may hold spaces and parentheses of its own.
fn ticks_of(stat: &str) -> Option<u64> {
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
}

/// The CPU a process has used so far, from /proc (`None` when it cannot be read).
pub fn cpu_ticks(pid: u32) -> Option<CpuTicks> {
    let process = stat_ticks(&format!("/proc/{pid}/stat"))?;
    let mut store_threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with("verifyd-sqlite")
            && let Some(ticks) = stat_ticks(&format!("/proc/{pid}/task/{tid}/stat"))
        {
            store_threads.push((tid, ticks));
        }
    }
    Some(CpuTicks { process, store_threads })
}

/// Microseconds of CPU per request between two readings: the whole server's, and the SQLite
/// writer thread's (the busier store thread: the writer is the serial part of every write;
/// `None` on PostgreSQL, which has none).
pub fn cpu_per_request(before: &CpuTicks, after: &CpuTicks, requests: u64) -> (Option<f64>, Option<f64>) {
    if requests == 0 {
        return (None, None);
    }
    // /proc counts in USER_HZ, which Linux fixes at 100 ticks a second for user space.
    let micros = |ticks: u64| ticks as f64 * 10_000.0 / requests as f64;
    let writer = after
        .store_threads
        .iter()
        .filter_map(|(tid, t)| before.store_threads.iter().find(|(b, _)| b == tid).map(|(_, b)| t.saturating_sub(*b)))
        .max()
        .map(micros);
    (Some(micros(after.process.saturating_sub(before.process))), writer)
}

#[derive(Debug, Clone, Serialize)]
pub struct FsyncLatency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub samples: usize,
}

/// 4 KiB appended and `fdatasync`ed 200 times in `dir`: what one durable commit costs at
/// least on this disk.
pub fn fsync_latency(dir: &Path) -> std::io::Result<FsyncLatency> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
    let block = [0x5au8; 4096];
    let mut samples = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    samples.sort_by(f64::total_cmp);
    Ok(FsyncLatency { p50_ms: percentile(&samples, 0.50), p99_ms: percentile(&samples, 0.99), samples: samples.len() })
}

/// The value at quantile `q` of sorted samples.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_read_after_the_name_whatever_it_holds() {
        let stat = "4242 (verifyd (x) y) S 1 4242 4242 0 -1 4194560 931 0 0 0 250 75 0 0 20 0 5 0";
        assert_eq!(ticks_of(stat), Some(325));
        assert_eq!(ticks_of("4242 (short) S 1"), None);
    }

    #[test]
    fn the_writer_is_the_busier_store_thread_and_counts_per_request() {
        let before = CpuTicks { process: 1_000, store_threads: vec![(7, 100), (8, 40)] };
        let after = CpuTicks { process: 1_300, store_threads: vec![(7, 250), (8, 60), (9, 500)] };
        // 300 ticks of 10 ms over 1000 requests: 3 ms each; thread 7 used 150 ticks (thread 9
        // was not there before, so it is not compared).
        assert_eq!(cpu_per_request(&before, &after, 1_000), (Some(3_000.0), Some(1_500.0)));
        let postgres = CpuTicks { process: 1_300, store_threads: Vec::new() };
        assert_eq!(cpu_per_request(&before, &postgres, 1_000), (Some(3_000.0), None));
        assert_eq!(cpu_per_request(&before, &after, 0), (None, None));
    }
}
