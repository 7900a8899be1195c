//! The load generator: `concurrency` workers on keep-alive connections, each sending the
//! request for the next index until the time is up or the scenario runs out of work.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::system::percentile;

/// The request for index `i`, or `None` when the scenario has no more work.
pub type MakeRequest = Arc<dyn Fn(u64) -> Option<reqwest::RequestBuilder> + Send + Sync>;
/// The answer every request of a row must get: this status, and for some rows this text in
/// the body (wrk checks the same, see [`crate::wrk`]).
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub status: u16,
    pub needle: Option<&'static str>,
}

impl Expect {
    pub fn accepts(&self, status: u16, body: &[u8]) -> bool {
        status == self.status
            && self.needle.is_none_or(|needle| body.windows(needle.len()).any(|w| w == needle.as_bytes()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub requests: u64,
    /// Answers that were not the expected one (or no answer at all).
    pub errors: u64,
    /// Answers whose status was not 2xx.
    pub non2xx: u64,
    /// Those answers by status, when the generator tells them apart (wrk, on rows that check bodies).
    pub statuses: Vec<(u16, u64)>,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The scenario ran out of prepared work before the time was up.
    pub exhausted: bool,
    /// Microseconds of the server's CPU per request while the row ran, and of its SQLite
    /// writer thread's (when known).
    pub server_cpu_us: Option<f64>,
    pub writer_cpu_us: Option<f64>,
}

impl Measured {
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 { self.requests as f64 / self.seconds } else { 0.0 }
    }
}

pub async fn drive(concurrency: usize, duration: Duration, make: MakeRequest, expect: Expect) -> Measured {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let non2xx = Arc::new(AtomicU64::new(0));
    let exhausted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (next, errors, non2xx, exhausted, make) =
            (Arc::clone(&next), Arc::clone(&errors), Arc::clone(&non2xx), Arc::clone(&exhausted), Arc::clone(&make));
        let worker: Pin<Box<dyn Future<Output = Vec<f64>> + Send>> = Box::pin(async move {
            let mut latencies = Vec::with_capacity(4096);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = make(i) else {
                    exhausted.store(true, Ordering::Relaxed);
                    break;
                };
                let t = Instant::now();
                let ok = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        if !(200..300).contains(&status) {
                            non2xx.fetch_add(1, Ordering::Relaxed);
                        }
                        match response.bytes().await {
                            Ok(body) => expect.accepts(status, &body),
                            Err(_) => false,
                        }
                    }
                    Err(_) => false,
                };
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        });
        workers.push(tokio::spawn(worker));
    }
    let mut all = Vec::new();
    for w in workers {
        if let Ok(l) = w.await {
            all.extend(l);
        }
    }
    let seconds = started.elapsed().as_secs_f64().min(duration.as_secs_f64().max(started.elapsed().as_secs_f64()));
    all.sort_by(f64::total_cmp);
    Measured {
        requests: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        non2xx: non2xx.load(Ordering::Relaxed),
        statuses: Vec::new(),
        seconds,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        exhausted: exhausted.load(Ordering::Relaxed),
        server_cpu_us: None,
        writer_cpu_us: None,
    }
}
