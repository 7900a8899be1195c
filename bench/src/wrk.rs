//! wrk as the load generator: the rows' requests are prepared by the scenario as for the
//! benchmark's own generator ([`crate::load`]), written to a file, and replayed by wrk
//! (`-t1`, keep-alive, the row's connections) through `bench/wrk/replay.lua`. On two cores wrk
//! drives `/healthz` about twice as fast as a reqwest generator, so the ratios to `/healthz`
//! are not capped by the generator.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::load::{Expect, MakeRequest, Measured};

/// The replay script, written beside the requests of each row.
const REPLAY: &str = include_str!("../wrk/replay.lua");

/// The wrk on `PATH`, when it runs.
pub fn available() -> bool {
    Command::new("wrk").arg("--version").output().is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// How a row's prepared requests are used.
#[derive(Debug, Clone, Copy)]
pub enum Work {
    /// Each once, in order; the file holds at most this many (the row ends, invalid, when wrk
    /// wants more).
    Once(u64),
    /// The first `n` over and over (a fetch, a list: the same work each time).
    Repeat(u64),
}

/// One request as a line of the replay file: method, path and query, content type, body.
fn line(request: &reqwest::Request) -> Result<String, String> {
    let url = request.url();
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let content_type =
        request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = request.body().and_then(reqwest::Body::as_bytes).unwrap_or_default();
    let body = std::str::from_utf8(body).map_err(|_| "a request body is not text".to_owned())?;
    if [&path, &content_type, body].iter().any(|s| s.contains(['\t', '\n'])) {
        return Err(format!("a request of {path} has a tab or a newline"));
    }
    Ok(format!("{}\t{path}\t{content_type}\t{body}\n", request.method()))
}

/// Writes the row's requests to `file`; how many there are.
fn prepare(file: &Path, make: &MakeRequest, work: Work) -> Result<u64, String> {
    let n = match work {
        Work::Once(n) | Work::Repeat(n) => n,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).map_err(|e| e.to_string())?);
    let mut written = 0;
    for i in 0..n {
        let Some(builder) = make(i) else { break };
        let request = builder.build().map_err(|e| e.to_string())?;
        out.write_all(line(&request)?.as_bytes()).map_err(|e| e.to_string())?;
        written += 1;
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(written)
}

/// The value of the line `key N` of wrk's output.
fn value(output: &str, key: &str) -> Result<f64, String> {
    output
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
        .ok_or_else(|| format!("wrk printed no {key}: {output}"))
}

/// The `bench_status CODE COUNT` lines: the non-2xx answers by status.
fn statuses(output: &str) -> Vec<(u16, u64)> {
    let mut found: Vec<(u16, u64)> = output
        .lines()
        .filter_map(|l| {
            let mut parts = l.strip_prefix("bench_status ")?.split_whitespace();
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect();
    found.sort_unstable();
    found
}

/// Runs one row under wrk against `base` (`http://127.0.0.1:PORT`).
pub fn drive(
    base: &str,
    auth: &str,
    concurrency: usize,
    duration: Duration,
    make: &MakeRequest,
    work: Work,
    expect: &Expect,
) -> Result<Measured, String> {
    let dir = std::env::temp_dir().join(format!("verifyd-bench-wrk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let requests = dir.join("requests.tsv");
    let script = dir.join("replay.lua");
    std::fs::write(&script, REPLAY).map_err(|e| e.to_string())?;
    let prepared = prepare(&requests, make, work)?;
    if prepared == 0 {
        return Err("the row prepared no request".to_owned());
    }
    let output = run_wrk(base, auth, concurrency, duration, &script, &requests, work, expect)?;
    let _ = std::fs::remove_file(&requests);
    let micros = |key| value(&output, key);
    Ok(Measured {
        requests: micros("bench_requests")? as u64,
        errors: micros("bench_unexpected")? as u64,
        non2xx: micros("bench_non2xx")? as u64,
        statuses: statuses(&output),
        seconds: micros("bench_duration_us")? / 1e6,
        p50_ms: micros("bench_p50_us")? / 1000.0,
        p99_ms: micros("bench_p99_us")? / 1000.0,
        exhausted: micros("bench_exhausted")? > 0.0,
        server_cpu_us: None,
        writer_cpu_us: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn run_wrk(
    base: &str,
    auth: &str,
    concurrency: usize,
    duration: Duration,
    script: &PathBuf,
    requests: &PathBuf,
    work: Work,
    expect: &Expect,
) -> Result<String, String> {
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{concurrency}"), &format!("-d{}s", duration.as_secs().max(1)), "--timeout", "10s"])
        .arg("-s")
        .arg(script)
        .arg(base)
        .env("BENCH_REQUESTS", requests)
        .env("BENCH_REPEAT", if matches!(work, Work::Repeat(_)) { "1" } else { "0" })
        .env("BENCH_STATUS", expect.status.to_string())
        .env("BENCH_NEEDLE", expect.needle.unwrap_or_default())
        .env("BENCH_AUTH", auth)
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!("wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_one_tab_separated_line() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let mut request = reqwest::Request::new(
            reqwest::Method::POST,
            url("http://127.0.0.1:1/v2/Services/VA1/VerificationCheck?x=1"),
        );
        request.headers_mut().insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
        *request.body_mut() = Some("To=%2B15551234567&Code=123456".into());
        assert_eq!(
            line(&request).unwrap(),
            "POST\t/v2/Services/VA1/VerificationCheck?x=1\tapplication/x-www-form-urlencoded\tTo=%2B15551234567&Code=123456\n"
        );
        let get = reqwest::Request::new(reqwest::Method::GET, url("http://127.0.0.1:1/healthz"));
        assert_eq!(line(&get).unwrap(), "GET\t/healthz\t\t\n");
    }

    #[test]
    fn wrks_lines_are_read_by_key() {
        let output = "Running 5s test\nbench_requests 1200\nbench_p99_us 3100\n";
        assert_eq!(value(output, "bench_requests").unwrap(), 1200.0);
        assert_eq!(value(output, "bench_p99_us").unwrap(), 3100.0);
        assert!(value(output, "bench_exhausted").is_err());
        assert_eq!(statuses("bench_status 429 3\nbench_status 404 1\n"), [(404, 1), (429, 3)]);
    }
}
