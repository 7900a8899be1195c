//! What each row measures, and the work it is given: every request does the whole job (a
//! fresh `To` per start; a code per check; a TOTP factor per challenge, so no time step is
//! reused).

use base64::Engine as _;
use serde_json::Value;
use std::sync::Arc;
use verifyd_core::totp::{Algorithm, Totp, base32_decode};

use crate::load::{Expect, MakeRequest, Measured, drive};
use crate::server::{ACCOUNT, Server, TOKEN, client};
use crate::system::{fsync_latency, machine, rss_mib};
use crate::{Args, Report, Row};

const CODE: &str = "482913";
const WRONG: &str = "111111";

fn basic() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}")))
}

fn status_is(expected: u16) -> Expect {
    Arc::new(move |status, _| status == expected)
}

fn body_has(expected: u16, needle: &'static str) -> Expect {
    Arc::new(move |status, body| status == expected && body.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

/// A phone number per index, unique within a run, spread over the range as real numbers are:
/// consecutive numbers would keep every by-`To` index write on the same page. (Multiplying by
/// a number prime to 10^7 permutes the seven digits.)
fn phone(offset: u64, i: u64) -> String {
    format!("+1555{:07}", ((offset + i) * 7_654_321) % 10_000_000)
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    auth: String,
    args: Args,
}

impl Ctx {
    fn post(&self, path: &str, form: Vec<(&'static str, String)>) -> reqwest::RequestBuilder {
        let mut body = String::new();
        for (i, (k, v)) in form.iter().enumerate() {
            if i > 0 {
                body.push('&');
            }
            body.push_str(k);
            body.push('=');
            body.push_str(&encode(v));
        }
        self.http
            .post(format!("{}/v2{path}", self.base))
            .header("authorization", &self.auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}/v2{path}", self.base)).header("authorization", &self.auth)
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }

    async fn row(&self, make: MakeRequest, expect: Expect) -> Measured {
        drive(self.args.concurrency, self.args.duration, make, expect).await
    }
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn sid(v: &Value) -> Result<String, String> {
    v["sid"].as_str().map(str::to_owned).ok_or_else(|| format!("no sid in {v}"))
}

pub async fn run_all(args: &Args) -> Result<Report, String> {
    let tmp = std::env::temp_dir().join(format!("verifyd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let fsync = fsync_latency(&tmp).map_err(|e| format!("fsync probe: {e}"))?;
    let mut runs: Vec<Vec<(String, Measured, f64)>> = Vec::new();
    let (mut peak, mut idle) = (0.0f64, 0.0f64);
    for run in 0..args.runs {
        eprintln!("run {} of {}", run + 1, args.runs);
        let mut rows = Vec::new();
        let dir = tmp.join(format!("run{run}-fresh"));
        let (fresh, p, i) = fresh_rows(args, &dir).await?;
        rows.extend(fresh);
        peak = peak.max(p);
        idle = if idle == 0.0 { i } else { idle.min(i) };
        let stored_sets: &[u64] = if args.fresh_only { &[] } else { &[10_000, args.large] };
        for &stored in stored_sets {
            let dir = tmp.join(format!("run{run}-stored{stored}"));
            let (with_stored, p, _) = stored_rows(args, &dir, stored).await?;
            rows.extend(with_stored);
            peak = peak.max(p);
        }
        runs.push(rows);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(Report {
        machine: machine(),
        concurrency: args.concurrency,
        seconds_per_row: args.duration.as_secs_f64(),
        runs: args.runs,
        rows: medians(&runs),
        peak_rss_mib: peak,
        idle_rss_mib: idle,
        fsync,
        regen_seconds: args.regen_seconds,
    })
}

/// For each row, the run with the median throughput.
fn medians(runs: &[Vec<(String, Measured, f64)>]) -> Vec<Row> {
    let Some(first) = runs.first() else { return Vec::new() };
    first
        .iter()
        .enumerate()
        .map(|(i, (name, _, _))| {
            let mut samples: Vec<&(String, Measured, f64)> = runs.iter().filter_map(|r| r.get(i)).collect();
            samples.sort_by(|a, b| a.1.rate().total_cmp(&b.1.rate()));
            let (_, m, trivial) = samples[samples.len() / 2];
            let name = if m.exhausted { format!("{name} (ran out of prepared work)") } else { name.clone() };
            Row {
                name,
                requests_per_second: m.rate(),
                p50_ms: m.p50_ms,
                p99_ms: m.p99_ms,
                ratio: if *trivial > 0.0 { m.rate() / trivial } else { 0.0 },
                requests: m.requests,
                errors: m.errors,
            }
        })
        .collect()
}

async fn context(args: &Args, server: &Server) -> Result<Ctx, String> {
    Ok(Ctx { http: client(args.concurrency)?, base: server.base.clone(), auth: basic(), args: args.clone() })
}

async fn healthz(ctx: &Ctx) -> Measured {
    let (http, base) = (ctx.http.clone(), ctx.base.clone());
    ctx.row(Arc::new(move |_| Some(http.get(format!("{base}/healthz")))), status_is(200)).await
}

/// A service whose codes the benchmark chooses (CustomCode), so that checks can be right.
async fn service(ctx: &Ctx) -> Result<String, String> {
    let v = ctx
        .json(ctx.post("/Services", vec![("FriendlyName", "Bench".into()), ("CustomCodeEnabled", "true".into())]))
        .await?;
    sid(&v)
}

/// Verifications the check rows may need: more than the fastest check rate seen here
/// (about 25 000/s on a quiet 2-core machine) can use in a row.
fn enough(ctx: &Ctx) -> u64 {
    (ctx.args.duration.as_secs_f64() * 40_000.0) as u64
}

/// Tops up the verifications of the check rows to `enough` (not measured).
async fn seed_starts(ctx: &Ctx, service: &str, have: u64) -> Result<u64, String> {
    let want = enough(ctx);
    if have >= want {
        return Ok(have);
    }
    let ctx2 = Ctx { http: ctx.http.clone(), base: ctx.base.clone(), auth: ctx.auth.clone(), args: ctx.args.clone() };
    let path = format!("/Services/{service}/Verifications");
    let make: MakeRequest = Arc::new(move |i| {
        (have + i < want).then(|| {
            ctx2.post(&path, vec![("To", phone(have, i)), ("Channel", "sms".into()), ("CustomCode", CODE.into())])
        })
    });
    let seeded = drive(ctx.args.concurrency, std::time::Duration::from_secs(600), make, status_is(201)).await;
    if seeded.errors > 0 {
        return Err(format!("seeding verifications: {} errors", seeded.errors));
    }
    Ok(have + seeded.requests)
}

/// Starts verifications to `+1555…` numbers from `offset`; returns the measurement and how
/// many were started (each with code [`CODE`]).
async fn starts(ctx: &Ctx, service: &str, offset: u64) -> Measured {
    let ctx2 = Ctx { http: ctx.http.clone(), base: ctx.base.clone(), auth: ctx.auth.clone(), args: ctx.args.clone() };
    let path = format!("/Services/{service}/Verifications");
    let make: MakeRequest = Arc::new(move |i| {
        Some(ctx2.post(&path, vec![("To", phone(offset, i)), ("Channel", "sms".into()), ("CustomCode", CODE.into())]))
    });
    ctx.row(make, status_is(201)).await
}

fn checks(
    ctx: &Ctx,
    service: &str,
    offset: u64,
    available: u64,
    per_verification: u64,
    code: &'static str,
) -> MakeRequest {
    let ctx2 = Ctx { http: ctx.http.clone(), base: ctx.base.clone(), auth: ctx.auth.clone(), args: ctx.args.clone() };
    let path = format!("/Services/{service}/VerificationCheck");
    Arc::new(move |i| {
        let v = i / per_verification;
        (v < available).then(|| ctx2.post(&path, vec![("To", phone(offset, v)), ("Code", code.into())]))
    })
}

async fn fresh_rows(args: &Args, dir: &std::path::Path) -> Result<(Vec<(String, Measured, f64)>, f64, f64), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let server = Server::start(&args.server, dir)?;
    let (idle, _) = rss_mib(server.pid());
    let ctx = context(args, &server).await?;
    let trivial = healthz(&ctx).await;
    let t = trivial.rate();
    let mut rows = vec![("GET /healthz (trivial)".to_owned(), trivial.clone(), t)];

    let va = service(&ctx).await?;
    let mut n = 0;
    if args.runs_row("start") || args.runs_row("check") {
        let started = starts(&ctx, &va, 0).await;
        if args.runs_row("check") {
            n = seed_starts(&ctx, &va, started.requests).await?;
        }
        if args.runs_row("start") {
            rows.push(("start verification".to_owned(), started, t));
        }
    }

    if args.runs_row("fetch") {
        // Fetch: any pending verification; every fetch reads and authenticates in full.
        let ctx2 =
            Ctx { http: ctx.http.clone(), base: ctx.base.clone(), auth: ctx.auth.clone(), args: ctx.args.clone() };
        let first = ctx
            .json(ctx.post(
                &format!("/Services/{va}/Verifications"),
                vec![("To", "+15559999999".into()), ("Channel", "sms".into())],
            ))
            .await?;
        let ve = sid(&first)?;
        let fetch_path = format!("/Services/{va}/Verifications/{ve}");
        let fetch = ctx.row(Arc::new(move |_| Some(ctx2.get(&fetch_path))), status_is(200)).await;
        rows.push(("fetch verification".to_owned(), fetch, t));
    }

    if args.runs_row("check") {
        // Wrong codes: at most 4 per verification, so that none closes (each does the full work).
        let wrong = ctx.row(checks(&ctx, &va, 0, n, 4, WRONG), body_has(200, "\"pending\"")).await;
        rows.push(("check, wrong code".to_owned(), wrong, t));
        let right = ctx.row(checks(&ctx, &va, 0, n, 1, CODE), body_has(200, "\"approved\"")).await;
        rows.push(("check, right code".to_owned(), right, t));
    }

    if args.runs_row("totp") {
        let totp = totp_rows(&ctx, &va).await?;
        rows.push(("TOTP challenge create".to_owned(), totp, t));
    }
    let (_, peak) = rss_mib(server.pid());
    server.stop();
    Ok((rows, peak, idle))
}

/// Enough verified TOTP factors for one approved challenge each, then the challenges.
async fn totp_rows(ctx: &Ctx, service: &str) -> Result<Measured, String> {
    // More than the fastest challenge rate seen here (about 14 000/s) can use in a row.
    let wanted = (ctx.args.duration.as_secs_f64() * 24_000.0) as u64;
    let prepared = Arc::new(std::sync::Mutex::new(Vec::<(String, String, Totp)>::new()));
    let ctx2 = Ctx { http: ctx.http.clone(), base: ctx.base.clone(), auth: ctx.auth.clone(), args: ctx.args.clone() };
    let service_owned = service.to_owned();
    let list = Arc::clone(&prepared);
    // Create and verify factors in parallel (not measured).
    let mut tasks = Vec::new();
    let per_worker = wanted.div_ceil(ctx.args.concurrency as u64);
    for w in 0..ctx.args.concurrency as u64 {
        let ctx3 =
            Ctx { http: ctx2.http.clone(), base: ctx2.base.clone(), auth: ctx2.auth.clone(), args: ctx2.args.clone() };
        let (service, list) = (service_owned.clone(), Arc::clone(&list));
        tasks.push(tokio::spawn(async move {
            for k in 0..per_worker {
                let identity = format!("bench-{w}-{k}");
                let created = ctx3
                    .json(ctx3.post(
                        &format!("/Services/{service}/Entities/{identity}/Factors"),
                        vec![("FriendlyName", "bench".into()), ("FactorType", "totp".into())],
                    ))
                    .await?;
                let factor = sid(&created)?;
                let secret = created["binding"]["secret"].as_str().and_then(base32_decode).ok_or("no secret")?;
                let totp = Totp::new(secret, Algorithm::Sha1, 6, 30).map_err(|e| e.to_string())?;
                let code = totp.code_at(now()).ok_or("clock")?;
                ctx3.json(ctx3.post(
                    &format!("/Services/{service}/Entities/{identity}/Factors/{factor}"),
                    vec![("AuthPayload", code)],
                ))
                .await?;
                if let Ok(mut l) = list.lock() {
                    l.push((identity, factor, totp));
                }
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    // Challenges go to the factors in an order unrelated to their creation, as users sign in:
    // in creation order, every factor and index write would land on the same few pages.
    let created = prepared.lock().map(|l| l.clone()).unwrap_or_default();
    let n = created.len();
    let factors: Arc<Vec<_>> = Arc::new((0..n).map(|j| created[(j * SHUFFLE_STEP) % n].clone()).collect());
    let service = service.to_owned();
    let make: MakeRequest = Arc::new(move |i| {
        let (identity, factor, totp) = factors.get(i as usize)?;
        // The next step's code: the verification used this step's, and a step is accepted once.
        let code = totp.code_at(now() + i64::from(totp.step()))?;
        Some(ctx2.post(
            &format!("/Services/{service}/Entities/{identity}/Challenges"),
            vec![("FactorSid", factor.clone()), ("AuthPayload", code)],
        ))
    });
    Ok(ctx.row(make, body_has(201, "\"approved\"")).await)
}

/// A prime: stepping by it modulo n visits every index of a list shorter than it once.
const SHUFFLE_STEP: usize = 1_000_003;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The check rows with `stored` verifications already in the database (written directly,
/// in bulk, while the server is stopped: the API would take minutes for a million).
async fn stored_rows(
    args: &Args,
    dir: &std::path::Path,
    stored: u64,
) -> Result<(Vec<(String, Measured, f64)>, f64, f64), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let server = Server::start(&args.server, dir)?;
    let ctx = context(args, &server).await?;
    let va = service(&ctx).await?;
    server.stop();
    fill(&Server::db_path(dir), &va, stored)?;
    let server = Server::start(&args.server, dir)?;
    let ctx = context(args, &server).await?;
    let trivial = healthz(&ctx).await;
    let t = trivial.rate();
    let started = starts(&ctx, &va, 0).await;
    let n = seed_starts(&ctx, &va, started.requests).await?;
    let label = if stored >= 1_000_000 { format!("{}M", stored / 1_000_000) } else { format!("{}k", stored / 1000) };
    let mut rows = vec![(format!("GET /healthz, {label} stored"), trivial, t)];
    let wrong = ctx.row(checks(&ctx, &va, 0, n, 4, WRONG), body_has(200, "\"pending\"")).await;
    rows.push((format!("check, wrong code, {label} stored"), wrong, t));
    let right = ctx.row(checks(&ctx, &va, 0, n, 1, CODE), body_has(200, "\"approved\"")).await;
    rows.push((format!("check, right code, {label} stored"), right, t));
    let (idle, peak) = rss_mib(server.pid());
    server.stop();
    Ok((rows, peak, idle))
}

/// Writes `count` ended verifications (other numbers) into the service, in one transaction.
/// Their columns follow the schema in store/sqlite/src/schema.rs.
fn fill(db: &std::path::Path, service: &str, count: u64) -> Result<(), String> {
    let mut conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO verifications (sid, account_sid, service_sid, to_addr, channel, status, code_hash, code_sealed, \
                 amount, payee, check_attempts, send_attempts, date_created, date_updated, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, 'sms', ?5, ?6, NULL, NULL, NULL, 0, '[]', ?7, ?7, ?8)",
            )
            .map_err(|e| e.to_string())?;
        let t = now() - 86_400;
        for i in 0..count {
            let status = if i % 3 == 0 { "approved" } else { "expired" };
            insert
                .execute(rusqlite::params![
                    format!("VE{:032x}", i + 1),
                    ACCOUNT,
                    service,
                    format!("+1666{:07}", i % 10_000_000),
                    status,
                    vec![0u8; 32],
                    t,
                    t + 600
                ])
                .map_err(|e| e.to_string())?;
        }
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(())
}
