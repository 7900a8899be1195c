//! What each row measures, and the work it is given: every request does the whole job (a
//! fresh `To` per start; a code per check; a TOTP factor per challenge, so no time step is
//! reused).

use base64::Engine as _;
use serde_json::Value;
use std::sync::Arc;
use verifyd_core::totp::{Algorithm, Totp, base32_decode};

use crate::database::Database;
use crate::load::{Expect, MakeRequest, Measured, drive};
use crate::server::{ACCOUNT, Server, TOKEN, client};
use crate::system::{fsync_latency, machine, rss_mib};
use crate::wrk::Work;
use crate::{Args, Generator, Report, Row};

const CODE: &str = "482913";
const WRONG: &str = "111111";

fn basic() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}")))
}

fn status_is(status: u16) -> Expect {
    Expect { status, needle: None }
}

fn body_has(status: u16, needle: &'static str) -> Expect {
    Expect { status, needle: Some(needle) }
}

/// A phone number per index, unique within a run, spread over the range as real numbers are:
/// consecutive numbers would keep every by-`To` index write on the same page. (Multiplying by
/// a number prime to 10^7 permutes the seven digits.)
fn phone(offset: u64, i: u64) -> String {
    format!("+1555{:07}", ((offset + i) * 7_654_321) % 10_000_000)
}

#[derive(Clone)]
struct Ctx {
    http: reqwest::Client,
    base: String,
    auth: String,
    args: Args,
    /// The server's process, whose CPU each row reads before and after.
    server_pid: u32,
    /// The server's first `/healthz` rate (0 until measured): how much work a row prepares
    /// scales with it (see [`enough`]).
    healthz: f64,
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

    fn post_json(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/v2{path}", self.base))
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .body(body.to_string())
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

    /// One measured row: `make`'s requests (as `work` says) through the chosen load generator,
    /// with the server's CPU per request meanwhile.
    async fn row(&self, make: MakeRequest, work: Work, expect: Expect) -> Result<Measured, String> {
        let before = crate::system::cpu_ticks(self.server_pid);
        let mut measured = self.drive(make, work, expect).await?;
        if let (Some(before), Some(after)) = (before, crate::system::cpu_ticks(self.server_pid)) {
            (measured.server_cpu_us, measured.writer_cpu_us) =
                crate::system::cpu_per_request(&before, &after, measured.requests);
        }
        Ok(measured)
    }

    async fn drive(&self, make: MakeRequest, work: Work, expect: Expect) -> Result<Measured, String> {
        match self.args.generator {
            Generator::Own => Ok(drive(self.args.concurrency, self.args.duration, make, expect).await),
            Generator::Wrk => {
                let (base, auth, concurrency, duration) =
                    (self.base.clone(), self.auth.clone(), self.args.concurrency, self.args.duration);
                tokio::task::spawn_blocking(move || {
                    crate::wrk::drive(&base, &auth, concurrency, duration, &make, work, &expect)
                })
                .await
                .map_err(|e| e.to_string())?
            }
        }
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
        let db = Database::fresh(args.postgres.as_deref(), &tmp.join(format!("run{run}-fresh"))).await?;
        let fresh = fresh_rows(args, &db).await;
        db.remove().await?;
        let (fresh, p, i) = fresh?;
        rows.extend(fresh);
        peak = peak.max(p);
        idle = if idle == 0.0 { i } else { idle.min(i) };
        let stored_sets: &[u64] = if args.fresh_only { &[] } else { &[10_000, args.large] };
        for &stored in stored_sets {
            let dir = tmp.join(format!("run{run}-stored{stored}"));
            let db = Database::fresh(args.postgres.as_deref(), &dir).await?;
            let with_stored = stored_rows(args, &db, stored).await;
            db.remove().await?;
            let (with_stored, p, _) = with_stored?;
            rows.extend(with_stored);
            peak = peak.max(p);
        }
        runs.push(rows);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(Report {
        store: store_name(args).to_owned(),
        generator: args.generator.name().to_owned(),
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

/// The store the rows ran on, as named in the report.
fn store_name(args: &Args) -> &'static str {
    if args.postgres.is_some() { "postgres" } else { "sqlite" }
}

/// A row's name: PostgreSQL rows are marked, so that the two stores' tables and JSON files
/// are not mistaken for each other (SQLite rows keep their names).
fn named(args: &Args, name: &str) -> String {
    if args.postgres.is_some() { format!("{name} [PostgreSQL]") } else { name.to_owned() }
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
            // A row that ran out of work, or whose answers were not all the expected ones, measured
            // something else than it says: it is marked invalid, not fast.
            let name = match (m.exhausted, m.errors) {
                (true, _) => format!("{name} (INVALID: ran out of prepared work)"),
                (false, 0) => name.clone(),
                (false, n) if m.statuses.is_empty() => format!("{name} (INVALID: {n} unexpected answers)"),
                (false, n) => {
                    let statuses: Vec<String> = m.statuses.iter().map(|(s, c)| format!("{c}× {s}")).collect();
                    format!("{name} (INVALID: {n} unexpected answers: {})", statuses.join(", "))
                }
            };
            Row {
                name,
                requests_per_second: m.rate(),
                p50_ms: m.p50_ms,
                p99_ms: m.p99_ms,
                ratio: if *trivial > 0.0 { m.rate() / trivial } else { 0.0 },
                healthz_rps: *trivial,
                requests: m.requests,
                errors: m.errors,
                non2xx: m.non2xx,
                server_cpu_us: m.server_cpu_us,
                writer_cpu_us: m.writer_cpu_us,
            }
        })
        .collect()
}

async fn context(args: &Args, server: &Server) -> Result<Ctx, String> {
    Ok(Ctx {
        http: client(args.concurrency)?,
        base: server.base.clone(),
        auth: basic(),
        args: args.clone(),
        server_pid: server.pid(),
        healthz: 0.0,
    })
}

fn healthz_request(ctx: &Ctx) -> MakeRequest {
    let (http, base) = (ctx.http.clone(), ctx.base.clone());
    Arc::new(move |_| Some(http.get(format!("{base}/healthz"))))
}

async fn healthz(ctx: &Ctx) -> Result<Measured, String> {
    ctx.row(healthz_request(ctx), Work::Repeat(1), status_is(200)).await
}

/// A row's own ceiling: `/healthz` just before it, after a second's pause (the server's
/// background work, such as copying back the log of a seeding, settles first). A run takes
/// minutes, and a shared VM's speed drifts over minutes (seen here: `/healthz` twofold within
/// a session): a row's ratio is to the ceiling measured next to it, so that the drift moves
/// both together. The run's first `/healthz` stays in the table as its own row.
async fn ceiling(ctx: &Ctx) -> Result<f64, String> {
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    Ok(healthz(ctx).await?.rate())
}

/// `/healthz` through the benchmark's own generator, printed beside wrk's: how far the
/// generator itself would cap the ratios.
async fn healthz_own(ctx: &Ctx) -> Measured {
    drive(ctx.args.concurrency, ctx.args.duration, healthz_request(ctx), status_is(200)).await
}

/// A service whose codes the benchmark chooses (CustomCode), so that checks can be right.
async fn service(ctx: &Ctx) -> Result<String, String> {
    let v = ctx
        .json(ctx.post("/Services", vec![("FriendlyName", "Bench".into()), ("CustomCodeEnabled", "true".into())]))
        .await?;
    sid(&v)
}

/// Prepared work a row may need: more than the row can use in its time. The row's rate is at
/// most `share` of the server's `/healthz` (no write reaches half the rate of `/healthz` here:
/// at most 0.45 for checks, 0.25 for TOTP challenges), and at least `fastest` per second (the
/// rate seen on a quiet 2-core machine with SQLite), so that a faster machine prepares more
/// (an Intel Xeon VM drove `/healthz` at 150k/s and right-code checks at 49k/s, past the
/// fixed amount). On PostgreSQL, where every request waits for a commit on another process,
/// four times what the start row did is plenty (a row that runs out is marked in the table),
/// and seeding SQLite's amounts would take minutes.
fn enough(ctx: &Ctx, fastest: f64, share: f64, started: Option<u64>) -> u64 {
    let most = (ctx.args.duration.as_secs_f64() * fastest.max(share * ctx.healthz)) as u64;
    match started {
        Some(started) if ctx.args.postgres.is_some() => most.min((started * 4).max(1000)),
        _ => most,
    }
}

/// The start row's numbers below which every start was answered. wrk stops with requests in
/// flight, answered or not, and they are not among the first `requests` lines it sent: the
/// last `concurrency` numbers are sent again (a send again keeps the verification and its
/// code), so that every number a check row uses has its verification.
fn started_below(ctx: &Ctx, started: &Measured) -> u64 {
    started.requests.saturating_sub(ctx.args.concurrency as u64)
}

/// Tops up the verifications of the check rows to [`enough`] (not measured).
async fn seed_starts(ctx: &Ctx, service: &str, have: u64) -> Result<u64, String> {
    let want = enough(ctx, 40_000.0, 0.6, Some(have));
    if have >= want {
        return Ok(have);
    }
    let ctx2 = ctx.clone();
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
async fn starts(ctx: &Ctx, service: &str, offset: u64) -> Result<Measured, String> {
    let ctx2 = ctx.clone();
    let path = format!("/Services/{service}/Verifications");
    let make: MakeRequest = Arc::new(move |i| {
        Some(ctx2.post(&path, vec![("To", phone(offset, i)), ("Channel", "sms".into()), ("CustomCode", CODE.into())]))
    });
    // More new numbers than the fastest start rate seen here can use in a row.
    ctx.row(make, Work::Once(enough(ctx, 60_000.0, 0.5, None)), status_is(201)).await
}

/// `GET /v2/Attempts`: the first page of the account's attempts, or (with the count of
/// stored attempts) those of a stored number, a different one each request.
fn list_attempts(ctx: &Ctx, stored: Option<u64>) -> MakeRequest {
    let ctx2 = ctx.clone();
    Arc::new(move |i| {
        let path = match stored {
            None => "/Attempts".to_owned(),
            Some(stored) => {
                let n = (i * 7_654_321) % stored.clamp(1, 10_000_000);
                format!("/Attempts?ChannelData.To=%2B1666{n:07}")
            }
        };
        Some(ctx2.get(&path))
    })
}

fn checks(
    ctx: &Ctx,
    service: &str,
    offset: u64,
    available: u64,
    per_verification: u64,
    code: &'static str,
) -> MakeRequest {
    let ctx2 = ctx.clone();
    let path = format!("/Services/{service}/VerificationCheck");
    Arc::new(move |i| {
        let v = i / per_verification;
        (v < available).then(|| ctx2.post(&path, vec![("To", phone(offset, v)), ("Code", code.into())]))
    })
}

async fn fresh_rows(args: &Args, db: &Database) -> Result<(Vec<(String, Measured, f64)>, f64, f64), String> {
    let server = Server::start(&args.server, &db.url())?;
    let (idle, _) = rss_mib(server.pid());
    let mut ctx = context(args, &server).await?;
    let trivial = healthz(&ctx).await?;
    let t = trivial.rate();
    ctx.healthz = t;
    let mut rows =
        vec![(named(args, &format!("GET /healthz (trivial, {})", args.generator.name())), trivial.clone(), t)];
    if args.generator == Generator::Wrk {
        let own = healthz_own(&ctx).await;
        rows.push((named(args, "GET /healthz (trivial, verifyd-bench's own generator)"), own, t));
    }

    let va = service(&ctx).await?;
    let mut n = 0;
    let mut started_count = None;
    if args.runs_row("start") || args.runs_row("check") {
        let t = if args.runs_row("start") { ceiling(&ctx).await? } else { t };
        let started = starts(&ctx, &va, 0).await?;
        started_count = Some(started.requests);
        if args.runs_row("check") {
            n = seed_starts(&ctx, &va, started_below(&ctx, &started)).await?;
            db.analyze().await?;
        }
        if args.runs_row("start") {
            rows.push((named(args, "start verification"), started, t));
        }
    }

    if args.runs_row("fetch") {
        // Fetch: any pending verification; every fetch reads and authenticates in full.
        let ctx2 = ctx.clone();
        let first = ctx
            .json(ctx.post(
                &format!("/Services/{va}/Verifications"),
                vec![("To", "+15559999999".into()), ("Channel", "sms".into())],
            ))
            .await?;
        let ve = sid(&first)?;
        let fetch_path = format!("/Services/{va}/Verifications/{ve}");
        let t = ceiling(&ctx).await?;
        let fetch = ctx.row(Arc::new(move |_| Some(ctx2.get(&fetch_path))), Work::Repeat(1), status_is(200)).await?;
        rows.push((named(args, "fetch verification"), fetch, t));
    }

    if args.runs_row("check") {
        // Wrong codes: at most 4 per verification, so that none closes (each does the full work).
        let t = ceiling(&ctx).await?;
        let wrong = ctx.row(checks(&ctx, &va, 0, n, 4, WRONG), Work::Once(n * 4), body_has(200, "\"pending\"")).await?;
        rows.push((named(args, "check, wrong code"), wrong, t));
        let t = ceiling(&ctx).await?;
        let right = ctx.row(checks(&ctx, &va, 0, n, 1, CODE), Work::Once(n), body_has(200, "\"approved\"")).await?;
        rows.push((named(args, "check, right code"), right, t));
    }

    if args.runs_row("totp") {
        let (totp, t) = totp_rows(&ctx, &va, started_count).await?;
        rows.push((named(args, "TOTP challenge create"), totp, t));
    }
    if args.runs_row("passkey") {
        let (passkey, t) = passkey_rows(&ctx, started_count).await?;
        rows.push((named(args, "passkey approve"), passkey, t));
    }
    let (_, peak) = rss_mib(server.pid());
    server.stop();
    Ok((rows, peak, idle))
}

/// One verified passkey (ES256) per approval, each with a pending challenge for its identity
/// and the assertion its authenticator signed (not measured); then the approvals, each a
/// signature check, the counter saved, the challenge stored and the ceremony closed. One
/// passkey each: a user does not sign in twice at once, and assertions of one passkey
/// approved out of order would have counters that go back. With the row's [`ceiling`].
async fn passkey_rows(ctx: &Ctx, started: Option<u64>) -> Result<(Measured, f64), String> {
    use verifyd_authenticator::{Algorithm, Authenticator};
    const ORIGIN: &str = "https://example.com";
    let mut wanted = enough(ctx, 12_000.0, 0.1, started);
    if ctx.args.postgres.is_some() {
        wanted = wanted.min(started.map_or(500, |s| s / 4).max(500));
    }
    let created = ctx
        .json(ctx.post(
            "/Services",
            vec![("FriendlyName", "passkeys".into()), ("Passkeys.RelyingParty.Id", "example.com".into())],
        ))
        .await?;
    let service = sid(&created)?;
    let prepared = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let per_worker = wanted.div_ceil(ctx.args.concurrency as u64);
    let mut tasks = Vec::new();
    for w in 0..ctx.args.concurrency as u64 {
        let ctx = ctx.clone();
        let (service, list) = (service.clone(), Arc::clone(&prepared));
        tasks.push(tokio::spawn(async move {
            for k in 0..per_worker {
                let identity = format!("bench-{w}-{k}");
                let mut authenticator = Authenticator::new(Algorithm::Es256);
                let body = serde_json::json!({"friendly_name": "bench", "identity": identity});
                let factor = ctx.json(ctx.post_json(&format!("/Services/{service}/Passkeys/Factors"), &body)).await?;
                let options = &factor["options"]["publicKey"];
                let credential = authenticator.create(options, ORIGIN).map_err(|e| e.to_string())?;
                ctx.json(ctx.post_json(&format!("/Services/{service}/Passkeys/VerifyFactor"), &credential)).await?;
                let body = serde_json::json!({"identity": identity});
                let challenge =
                    ctx.json(ctx.post_json(&format!("/Services/{service}/Passkeys/Challenges"), &body)).await?;
                let assertion =
                    authenticator.get(&challenge["options"]["publicKey"], ORIGIN).map_err(|e| e.to_string())?;
                if let Ok(mut l) = list.lock() {
                    l.push(assertion);
                }
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let assertions = Arc::new(prepared.lock().map(|l| l.clone()).unwrap_or_default());
    let ctx2 = ctx.clone();
    let path = format!("/Services/{service}/Passkeys/ApproveChallenge");
    let count = assertions.len() as u64;
    let make: MakeRequest = Arc::new(move |i| Some(ctx2.post_json(&path, assertions.get(i as usize)?)));
    let t = ceiling(ctx).await?;
    Ok((ctx.row(make, Work::Once(count), body_has(200, "\"approved\"")).await?, t))
}

/// Enough verified TOTP factors for one approved challenge each, then the challenges; with
/// the row's [`ceiling`].
async fn totp_rows(ctx: &Ctx, service: &str, started: Option<u64>) -> Result<(Measured, f64), String> {
    let mut wanted = enough(ctx, 24_000.0, 0.4, started);
    if ctx.args.postgres.is_some() {
        // Creating and verifying factors on PostgreSQL runs at tens to a few hundred a second
        // (the entity lookup scans the service's entities: see bench/results-postgres.md), so
        // fewer are prepared; a row that runs out before its time is marked in the table, and
        // its rate is over the time it ran.
        wanted = wanted.min(started.map_or(500, |s| s / 4).max(500));
    }
    let prepared = Arc::new(std::sync::Mutex::new(Vec::<(String, String, Totp)>::new()));
    let ctx2 = ctx.clone();
    let service_owned = service.to_owned();
    let list = Arc::clone(&prepared);
    // Create and verify factors in parallel (not measured).
    let mut tasks = Vec::new();
    let per_worker = wanted.div_ceil(ctx.args.concurrency as u64);
    for w in 0..ctx.args.concurrency as u64 {
        let ctx3 = ctx2.clone();
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
    let t = ceiling(ctx).await?;
    Ok((ctx.row(make, Work::Once(n as u64), body_has(201, "\"approved\"")).await?, t))
}

/// A prime: stepping by it modulo n visits every index of a list shorter than it once.
const SHUFFLE_STEP: usize = 1_000_003;

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The check rows with `stored` verifications already in the database (written directly,
/// in bulk, while the server is stopped: the API would take minutes for a million).
async fn stored_rows(
    args: &Args,
    db: &Database,
    stored: u64,
) -> Result<(Vec<(String, Measured, f64)>, f64, f64), String> {
    let server = Server::start(&args.server, &db.url())?;
    let ctx = context(args, &server).await?;
    let va = service(&ctx).await?;
    server.stop();
    db.fill(&va, stored).await?;
    let server = Server::start(&args.server, &db.url())?;
    let mut ctx = context(args, &server).await?;
    let trivial = healthz(&ctx).await?;
    let t = trivial.rate();
    ctx.healthz = t;
    let started = starts(&ctx, &va, 0).await?;
    let n = seed_starts(&ctx, &va, started_below(&ctx, &started)).await?;
    db.analyze().await?;
    let label = if stored >= 1_000_000 { format!("{}M", stored / 1_000_000) } else { format!("{}k", stored / 1000) };
    let mut rows = vec![(named(args, &format!("GET /healthz, {label} stored")), trivial, t)];
    let t = ceiling(&ctx).await?;
    let wrong = ctx.row(checks(&ctx, &va, 0, n, 4, WRONG), Work::Once(n * 4), body_has(200, "\"pending\"")).await?;
    rows.push((named(args, &format!("check, wrong code, {label} stored")), wrong, t));
    let t = ceiling(&ctx).await?;
    let right = ctx.row(checks(&ctx, &va, 0, n, 1, CODE), Work::Once(n), body_has(200, "\"approved\"")).await?;
    rows.push((named(args, &format!("check, right code, {label} stored")), right, t));
    // The account's newest attempts (a page of 50), and one number's, among the stored ones.
    let t = ceiling(&ctx).await?;
    let newest = ctx.row(list_attempts(&ctx, None), Work::Repeat(1), body_has(200, "\"attempts\"")).await?;
    rows.push((named(args, &format!("list attempts, {label} stored")), newest, t));
    let t = ceiling(&ctx).await?;
    let by_to = ctx
        .row(list_attempts(&ctx, Some(stored)), Work::Repeat(100_000), body_has(200, "\"conversion_status\""))
        .await?;
    rows.push((named(args, &format!("list attempts by To, {label} stored")), by_to, t));
    let (idle, peak) = rss_mib(server.pid());
    server.stop();
    Ok((rows, peak, idle))
}
