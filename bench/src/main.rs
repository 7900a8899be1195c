//! `verifyd-bench`: starts the release server on a fresh SQLite database (or a fresh schema of
//! a PostgreSQL database, `--postgres URL`), drives it over
//! loopback with keep-alive connections, and prints one table (also written as JSON).
//! Run through `cargo xtask bench`, which builds everything in release mode first.

mod database;
mod load;
mod scenario;
mod server;
mod system;
mod wrk;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

/// Settings from the command line.
#[derive(Debug, Clone)]
pub struct Args {
    pub server: PathBuf,
    pub concurrency: usize,
    pub duration: Duration,
    pub runs: usize,
    pub out: PathBuf,
    /// Verifications stored before the "stored" check rows, besides 10 thousand.
    pub large: u64,
    pub regen_seconds: Option<f64>,
    /// Only the rows on a fresh database (no stored-verification rows): for quick checks.
    pub fresh_only: bool,
    /// When set, only these fresh-database rows run (besides /healthz): for profiling one
    /// path. Names: start, fetch, check, totp, passkey.
    pub only: Option<Vec<String>>,
    /// Run the rows on PostgreSQL at this URL (each server phase on a fresh schema of it,
    /// dropped after) instead of on SQLite.
    pub postgres: Option<String>,
    /// What sends the measured requests.
    pub generator: Generator,
}

/// The load generator of the measured rows (the work is prepared the same way for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    /// wrk (`-t1`), replaying the prepared requests: the default when wrk is on `PATH`.
    Wrk,
    /// This program's own reqwest workers: about half wrk's ceiling on two cores.
    Own,
}

impl Generator {
    pub fn name(self) -> &'static str {
        match self {
            Self::Wrk => "wrk",
            Self::Own => "own",
        }
    }
}

impl Args {
    /// Whether the fresh-database row named `name` runs.
    pub fn runs_row(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|o| o == name))
    }
}

const USAGE: &str = "usage: verifyd-bench --server PATH [--concurrency 32] [--seconds 5] [--runs 3] [--out bench/results.json] [--large 1000000] [--fresh-only] [--only start,fetch,check,totp,passkey] [--regen-seconds S] [--postgres URL] [--generator wrk|own]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        server: PathBuf::new(),
        concurrency: 32,
        duration: Duration::from_secs(5),
        runs: 3,
        out: PathBuf::new(),
        large: 1_000_000,
        regen_seconds: None,
        fresh_only: false,
        only: None,
        postgres: None,
        generator: if wrk::available() { Generator::Wrk } else { Generator::Own },
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--server" => args.server = PathBuf::from(value()?),
            "--concurrency" => args.concurrency = value()?.parse().map_err(|_| "--concurrency: a number".to_owned())?,
            "--seconds" => {
                args.duration = Duration::from_secs_f64(value()?.parse().map_err(|_| "--seconds: a number".to_owned())?)
            }
            "--runs" => args.runs = value()?.parse().map_err(|_| "--runs: a number".to_owned())?,
            "--out" => args.out = PathBuf::from(value()?),
            "--large" => args.large = value()?.parse().map_err(|_| "--large: a number".to_owned())?,
            "--fresh-only" => args.fresh_only = true,
            "--only" => {
                let names: Vec<String> = value()?.split(',').map(str::to_owned).collect();
                if let Some(bad) =
                    names.iter().find(|n| !["start", "fetch", "check", "totp", "passkey"].contains(&n.as_str()))
                {
                    return Err(format!("--only: unknown row {bad}\n{USAGE}"));
                }
                // Rows on stored verifications are check rows: skipped unless asked for.
                args.fresh_only |= !names.iter().any(|n| n == "check");
                args.only = Some(names);
            }
            "--postgres" => args.postgres = Some(value()?),
            "--generator" => {
                args.generator = match value()?.as_str() {
                    "wrk" if wrk::available() => Generator::Wrk,
                    "wrk" => return Err("--generator wrk: wrk is not on PATH (apt-get install wrk)".to_owned()),
                    "own" => Generator::Own,
                    other => return Err(format!("--generator: wrk or own, not {other}\n{USAGE}")),
                }
            }
            "--regen-seconds" => {
                args.regen_seconds = Some(value()?.parse().map_err(|_| "--regen-seconds: a number".to_owned())?)
            }
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    if args.server.as_os_str().is_empty() {
        return Err(USAGE.to_owned());
    }
    if args.out.as_os_str().is_empty() {
        let file = if args.postgres.is_some() { "results-postgres.json" } else { "results.json" };
        args.out = PathBuf::from("bench").join(file);
    }
    Ok(args)
}

/// One row of the table: the median run of a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Throughput over the trivial endpoint's: its [`Row::healthz_rps`].
    pub ratio: f64,
    /// The `/healthz` rate the ratio is to: measured just before the row, in the same run on
    /// the same server (a `/healthz` row's own rate; for the own generator's row, wrk's).
    pub healthz_rps: f64,
    pub requests: u64,
    /// Answers that were not the expected one: any makes the row invalid.
    pub errors: u64,
    /// Answers whose status was not 2xx (no row expects one).
    pub non2xx: u64,
    /// Microseconds of the server's CPU per request while the row ran (its run's), and of the
    /// SQLite writer thread's; they vary less between runs than the rates do.
    pub server_cpu_us: Option<f64>,
    pub writer_cpu_us: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The store the rows ran on: `sqlite` or `postgres`.
    pub store: String,
    /// The load generator of the measured rows: `wrk` or `own`.
    pub generator: String,
    pub machine: system::Machine,
    pub concurrency: usize,
    pub seconds_per_row: f64,
    pub runs: usize,
    pub rows: Vec<Row>,
    pub peak_rss_mib: f64,
    pub idle_rss_mib: f64,
    pub fsync: system::FsyncLatency,
    pub regen_seconds: Option<f64>,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("verifyd-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(scenario::run_all(&args)) {
        Ok(report) => {
            print!("{}", render(&report));
            if let Some(dir) = args.out.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match serde_json::to_string_pretty(&report) {
                Ok(json) => {
                    if let Err(e) = std::fs::write(&args.out, json + "\n") {
                        eprintln!("verifyd-bench: cannot write {}: {e}", args.out.display());
                        return ExitCode::FAILURE;
                    }
                    println!("written to {}", args.out.display());
                }
                Err(e) => eprintln!("verifyd-bench: {e}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("verifyd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "verifyd benchmark on {}: {} ({} cores), load generator {}, {} connections, {} s per row, median of {} runs\n",
        if r.store == "postgres" { "PostgreSQL" } else { "SQLite" },
        r.machine.cpu,
        r.machine.cores,
        if r.generator == "wrk" { "wrk -t1" } else { "verifyd-bench's own (reqwest)" },
        r.concurrency,
        r.seconds_per_row,
        r.runs
    ));
    out.push_str(&format!(
        "fsync (4 KiB write + fdatasync) on the database's disk: p50 {:.3} ms, p99 {:.3} ms\n\n",
        r.fsync.p50_ms, r.fsync.p99_ms
    ));
    out.push_str(
        "| row | requests/s | p50 ms | p99 ms | ratio to /healthz | its /healthz | non-2xx | unexpected | server CPU µs/req | writer CPU µs/req |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let micros = |us: Option<f64>| us.map_or_else(|| "–".to_owned(), |us| format!("{us:.1}"));
    for row in &r.rows {
        out.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {} | {} | {} | {} |\n",
            row.name,
            row.requests_per_second,
            row.p50_ms,
            row.p99_ms,
            row.ratio,
            row.healthz_rps,
            row.non2xx,
            row.errors,
            micros(row.server_cpu_us),
            micros(row.writer_cpu_us)
        ));
    }
    out.push_str(&format!(
        "\npeak resident memory during the runs: {:.1} MiB; idle after start: {:.1} MiB\n",
        r.peak_rss_mib, r.idle_rss_mib
    ));
    if let Some(s) = r.regen_seconds {
        out.push_str(&format!("cargo xtask regen (already built): {s:.3} s\n"));
    }
    out
}
