//! Crash safety: the real binary under concurrent load (verification starts, wrong and right
//! checks, push enrolments, challenges and their approvals), killed with SIGKILL mid-load and
//! restarted on the same database, three times. After each restart every acknowledged write
//! is there: no verification, factor or challenge lost, no acknowledged approval lost, none
//! that can be repeated, no attempt count below the acknowledged wrong checks (nor above the
//! ones sent), and `PRAGMA integrity_check` is `ok`.
//!
//! Each worker keeps a ledger of what it sent and what was acknowledged; a request cut off by
//! the kill is sent but not acknowledged, so its write may or may not be there.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::Rng as _;
use verifyd_client::{Client, ClientError};
use verifyd_models::*;

use crate::common::{
    ACCOUNT, TOKEN, answer_challenge, check_to, create_service, fetch_challenge, fetch_factor, start, verify_factor,
    wrong,
};
use crate::device::{
    Device, JWT_LIFETIME, access_token_request, new_push, notification_token, push_challenge, signed_fields,
};

const BIN: &str = env!("CARGO_BIN_EXE_verifyd");
const CYCLES: usize = 3;
const VERIFICATION_WORKERS: usize = 14;
const PUSH_WORKERS: usize = 2;
/// Acknowledged starts and challenge approvals in a cycle before its kill may come: the
/// machine may be slow (debug build, shared cores), so the kill waits for real load rather
/// than a fixed time, then comes at a random moment up to [`KILL_JITTER_MS`] later.
const MIN_STARTS: usize = 30;
const MIN_APPROVALS: usize = 2;
const KILL_JITTER_MS: u64 = 400;
/// A cycle that gets no further than this is a failure, not a slow machine.
const CYCLE_DEADLINE: Duration = Duration::from_secs(20);

/// A `verifyd serve` child process on a free port.
struct Server {
    /// Taken by the kill, which may come while workers still use the server.
    child: Mutex<Option<Child>>,
    root: String,
    client: Client,
    http: reqwest::Client,
    log: PathBuf,
}

impl Server {
    /// Starts the binary on the database in `dir` and waits until it answers `/healthz`.
    async fn launch(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = dir.join(format!("server-{port}.log"));
        let child = Command::new(BIN)
            .arg("serve")
            .env("VERIFYD_DATABASE_URL", format!("sqlite:{}", dir.join("v.db").display()))
            .env("VERIFYD_LISTEN", format!("127.0.0.1:{port}"))
            .env("VERIFYD_ACCOUNT_SID", ACCOUNT)
            .env("VERIFYD_AUTH_TOKEN", TOKEN)
            .env("VERIFYD_DEV", "1")
            .env("VERIFYD_LOG", "warn")
            .env_remove("VERIFYD_CONFIG")
            .env_remove("VERIFYD_PUBLIC_URL")
            .env_remove("VERIFYD_MASTER_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("a log file"))
            .spawn()
            .expect("start verifyd");
        let root = format!("http://127.0.0.1:{port}");
        let server = Self {
            child: Mutex::new(Some(child)),
            client: Client::new(format!("{root}/v2"), ACCOUNT, TOKEN).expect("client"),
            http: reqwest::Client::new(),
            root,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = server.http.get(format!("{}/healthz", server.root)).send().await;
            if answer.is_ok_and(|a| a.status().is_success()) {
                return server;
            }
            assert!(Instant::now() < deadline, "verifyd did not start: {}", server.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown of any kind.
    fn kill(&self) {
        let child = self.child.lock().ok().and_then(|mut c| c.take());
        if let Some(mut child) = child {
            child.kill().expect("SIGKILL verifyd");
            child.wait().expect("reap verifyd");
        }
    }

    /// The code sent to `to`, from the development outbox.
    async fn code_for(&self, to: &str) -> Result<String, Stop> {
        let response = self
            .http
            .get(format!("{}/dev/outbox", self.root))
            .query(&[("to", to), ("limit", "1")])
            .basic_auth(ACCOUNT, Some(TOKEN))
            .send()
            .await
            .map_err(|_| Stop::Killed)?;
        let body = json(response).await?;
        body["messages"][0]["code"].as_str().map(str::to_owned).ok_or_else(|| Stop::Unexpected(format!("{body}")))
    }

    /// A pending challenge as the device fetches it: the body and the fields it must sign.
    async fn device_fetch(&self, jwt: &str, path: &str) -> Result<(serde_json::Value, String), Stop> {
        let response = self
            .http
            .get(format!("{}{path}", self.root))
            .basic_auth("token", Some(jwt))
            .send()
            .await
            .map_err(|_| Stop::Killed)?;
        let fields = response.headers().get("Twilio-Verify-Signature-Fields").and_then(|v| v.to_str().ok());
        let fields = fields.map(str::to_owned);
        let body = json(response).await?;
        Ok((body.clone(), fields.ok_or_else(|| Stop::Unexpected(format!("no signature fields: {body}")))?))
    }
}

/// A JSON answer; a body cut off by the kill is the kill.
async fn json(response: reqwest::Response) -> Result<serde_json::Value, Stop> {
    let bytes = response.bytes().await.map_err(|_| Stop::Killed)?;
    serde_json::from_slice(&bytes).map_err(|e| Stop::Unexpected(format!("not JSON: {e}")))
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why a worker stopped: the server went away under it (expected), or it got an answer
/// that must not happen under load.
#[derive(Debug)]
enum Stop {
    Killed,
    Unexpected(String),
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Http(_) => Stop::Killed,
            other => Stop::Unexpected(other.to_string()),
        }
    }
}

/// One verification as its worker saw it.
#[derive(Debug)]
struct Sent {
    sid: Sid,
    to: String,
    code: Option<String>,
    wrong_sent: u32,
    wrong_acked: u32,
    approval_sent: bool,
    approved: bool,
}

/// A push factor enrolled and verified (acknowledged), with its device.
struct Enrolled {
    identity: String,
    sid: Sid,
    credential: Sid,
    device: Device,
}

impl Enrolled {
    fn jwt(&self) -> String {
        let now = unix_now();
        self.device.auth_jwt(self.credential.as_str(), ACCOUNT, now, now + JWT_LIFETIME)
    }
}

/// One challenge (its creation acknowledged) as its worker saw it.
#[derive(Debug)]
struct Asked {
    sid: Sid,
    /// The device's signed approval, once sent.
    approval: Option<String>,
    approved: bool,
}

/// What a push worker did: its factor once enrolled and verified, and its challenges.
#[derive(Default)]
struct Push {
    factor: Option<Enrolled>,
    challenges: Vec<Asked>,
}

/// Everything acknowledged (and sent) so far, over every cycle.
#[derive(Default)]
struct Ledger {
    verifications: Vec<Sent>,
    pushes: Vec<Push>,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Acknowledged work so far in a cycle.
#[derive(Default)]
struct Progress {
    starts: AtomicUsize,
    approvals: AtomicUsize,
}

impl Progress {
    fn enough(&self) -> bool {
        self.starts.load(Ordering::SeqCst) >= MIN_STARTS && self.approvals.load(Ordering::SeqCst) >= MIN_APPROVALS
    }
}

/// Starts, wrong checks (0–2) and a right check every other time, each with a new `To`,
/// until the server dies.
async fn verification_worker(
    server: &Server,
    service: &Sid,
    prefix: &str,
    progress: &Progress,
    sent: &mut Vec<Sent>,
) -> Stop {
    for i in 0..10_000 {
        let to = format!("{prefix}{i:04}");
        let started = match server.client.create_verification(&start(service, &to, VerificationChannel::Sms)).await {
            Ok(v) => v,
            Err(e) => return e.into(),
        };
        progress.starts.fetch_add(1, Ordering::SeqCst);
        sent.push(Sent {
            sid: started.sid,
            to: to.clone(),
            code: None,
            wrong_sent: 0,
            wrong_acked: 0,
            approval_sent: false,
            approved: false,
        });
        let Some(this) = sent.last_mut() else { unreachable!() };
        let code = match server.code_for(&to).await {
            Ok(code) => code,
            Err(stop) => return stop,
        };
        this.code = Some(code.clone());
        for _ in 0..i % 3 {
            this.wrong_sent += 1;
            match server.client.create_verification_check(&check_to(service, &to, &wrong(&code))).await {
                Ok(a) if a.status == Some(VerificationStatus::Pending.into()) => this.wrong_acked += 1,
                Ok(a) => return Stop::Unexpected(format!("a wrong check answered {:?}", a.status)),
                Err(e) => return e.into(),
            }
        }
        if i % 2 == 0 {
            this.approval_sent = true;
            match server.client.create_verification_check(&check_to(service, &to, &code)).await {
                Ok(a) if a.status == Some(VerificationStatus::Approved.into()) => this.approved = true,
                Ok(a) => return Stop::Unexpected(format!("a right check answered {:?}", a.status)),
                Err(e) => return e.into(),
            }
        }
    }
    Stop::Unexpected("ran out of numbers".to_owned())
}

/// Enrols a push factor, then creates and approves challenges, until the server dies.
async fn push_worker(
    server: &Server,
    service: &Sid,
    identity: &str,
    n: u32,
    progress: &Progress,
    push: &mut Push,
) -> Stop {
    let token = match server.client.create_access_token(&access_token_request(service, identity, None)).await {
        Ok(t) => t.token.unwrap_or_default(),
        Err(e) => return e.into(),
    };
    let device = Device::new();
    let request = new_push(service, identity, &device, &notification_token(n));
    let created = match server.client.with_credentials("token", &token).create_factor(&request).await {
        Ok(f) => f,
        Err(e) => return e.into(),
    };
    let Some(credential) = created.config.and_then(|c| c.credential_sid) else {
        return Stop::Unexpected("no credential SID".to_owned());
    };
    let enrolled = Enrolled { identity: identity.to_owned(), sid: created.sid, credential, device };
    let signature = enrolled.device.sign_factor_sid(enrolled.sid.as_str());
    let as_device = server.client.with_credentials("token", enrolled.jwt());
    match as_device.update_factor(&verify_factor(service, identity, &enrolled.sid, &signature)).await {
        Ok(f) if f.status == FactorStatus::Verified => {}
        Ok(f) => return Stop::Unexpected(format!("the factor is {:?}", f.status)),
        Err(e) => return e.into(),
    }
    let (jwt, factor) = (enrolled.jwt(), enrolled.sid.clone());
    let enrolled = push.factor.insert(enrolled);
    loop {
        let request = push_challenge(service, identity, &factor, "Sign in?");
        let challenge = match server.client.create_challenge(&request).await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        push.challenges.push(Asked { sid: challenge.sid.clone(), approval: None, approved: false });
        let Some(asked) = push.challenges.last_mut() else { unreachable!() };
        let path = format!("/v2/Services/{service}/Entities/{identity}/Challenges/{}", challenge.sid);
        let (body, fields) = match server.device_fetch(&jwt, &path).await {
            Ok(fetched) => fetched,
            Err(stop) => return stop,
        };
        let payload = enrolled.device.answer_jwt(signed_fields(&body, &fields), "approved");
        asked.approval = Some(payload.clone());
        match as_device.update_challenge(&answer_challenge(service, identity, &asked.sid, &payload)).await {
            Ok(c) if c.status == ChallengeStatus::Approved => {
                asked.approved = true;
                progress.approvals.fetch_add(1, Ordering::SeqCst);
            }
            Ok(c) => return Stop::Unexpected(format!("an approval answered {:?}", c.status)),
            Err(e) => return e.into(),
        }
    }
}

/// Load from every worker until the server is killed: once the cycle has seen enough
/// acknowledged work, at a random moment up to [`KILL_JITTER_MS`] later.
async fn load_and_kill(server: &Server, service: &Sid, cycle: usize, ledger: &mut Ledger) {
    let progress = Progress::default();
    let mut verifications: Vec<Vec<Sent>> = (0..VERIFICATION_WORKERS).map(|_| Vec::new()).collect();
    let mut pushes: Vec<Push> = (0..PUSH_WORKERS).map(|_| Push::default()).collect();
    let load = async {
        let progress = &progress;
        let v = verifications.iter_mut().enumerate().map(|(w, sent)| {
            let prefix = format!("+1555{cycle}{w:02}");
            async move { verification_worker(server, service, &prefix, progress, sent).await }
        });
        let p = pushes.iter_mut().enumerate().map(|(w, push)| {
            let identity = format!("crash-{cycle}-{w:04}");
            let n = u32::try_from(w).unwrap_or(0);
            async move { push_worker(server, service, &identity, n, progress, push).await }
        });
        let (v, p) = tokio::join!(futures_util::future::join_all(v), futures_util::future::join_all(p));
        v.into_iter().chain(p).collect::<Vec<Stop>>()
    };
    let started = Instant::now();
    let killer = async {
        while !progress.enough() && started.elapsed() < CYCLE_DEADLINE {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(rand::thread_rng().gen_range(0..KILL_JITTER_MS))).await;
        server.kill();
    };
    let (stops, ()) = tokio::join!(load, killer);
    let unexpected: Vec<_> = stops
        .into_iter()
        .filter_map(|s| match s {
            Stop::Killed => None,
            Stop::Unexpected(why) => Some(why),
        })
        .collect();
    assert!(unexpected.is_empty(), "cycle {cycle}: {unexpected:?}\n{}", server.log_text());
    let (starts, approvals) = (progress.starts.into_inner(), progress.approvals.into_inner());
    eprintln!(
        "cycle {cycle}: killed after {:?}, {starts} starts and {approvals} approvals acknowledged",
        started.elapsed()
    );
    assert!(starts >= MIN_STARTS && approvals >= MIN_APPROVALS, "cycle {cycle}: no progress within {CYCLE_DEADLINE:?}");
    ledger.verifications.extend(verifications.into_iter().flatten());
    ledger.pushes.extend(pushes);
}

/// Every acknowledged write of the ledger, checked through the API and (for what the API
/// does not show: attempt counts, approved verifications) read-only SQL.
async fn audit(server: &Server, service: &Sid, db: &Path, ledger: &Ledger) {
    let sql = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    let integrity: String = sql.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    assert_eq!(integrity, "ok");

    for v in &ledger.verifications {
        let (status, attempts): (String, u32) = sql
            .query_row("SELECT status, check_attempts FROM verifications WHERE sid = ?1", [v.sid.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap_or_else(|e| panic!("an acknowledged verification is missing: {v:?}: {e}"));
        let same_to: u32 = sql
            .query_row("SELECT COUNT(*) FROM verifications WHERE to_addr = ?1", [v.to.as_str()], |r| r.get(0))
            .expect("count");
        assert_eq!(same_to, 1, "one start, one verification: {v:?}");
        assert!(
            (v.wrong_acked..=v.wrong_sent).contains(&attempts),
            "{attempts} attempts stored, {} acknowledged, {} sent: {v:?}",
            v.wrong_acked,
            v.wrong_sent
        );
        let possible: &[&str] = match (v.approved, v.approval_sent) {
            (true, _) => &["approved"],
            (false, true) => &["pending", "approved"],
            (false, false) => &["pending"],
        };
        assert!(possible.contains(&status.as_str()), "status {status}: {v:?}");
        if status == "approved" {
            // Approved once: the right code again finds nothing to approve.
            let code = v.code.as_deref().expect("a code was read before approving");
            let again = server.client.create_verification_check(&check_to(service, &v.to, code)).await;
            match again {
                Err(ClientError::Api(e)) => assert_eq!((e.status, e.code), (404, 20404), "{v:?}"),
                other => panic!("a second approval of {v:?}: {other:?}"),
            }
        }
    }

    for push in &ledger.pushes {
        let Some(factor) = &push.factor else {
            assert!(push.challenges.is_empty());
            continue;
        };
        let fetched = server.client.fetch_factor(&fetch_factor(service, &factor.identity, &factor.sid)).await;
        assert_eq!(fetched.map(|f| f.status).ok(), Some(FactorStatus::Verified.into()), "{}", factor.sid);
        let as_device = server.client.with_credentials("token", factor.jwt());
        for c in &push.challenges {
            let fetched = server.client.fetch_challenge(&fetch_challenge(service, &factor.identity, &c.sid)).await;
            let status = fetched.unwrap_or_else(|e| panic!("an acknowledged challenge is missing: {c:?}: {e}")).status;
            let possible: &[ChallengeStatus] = match (c.approved, c.approval.is_some()) {
                (true, _) => &[ChallengeStatus::Approved],
                (false, true) => &[ChallengeStatus::Pending, ChallengeStatus::Approved],
                (false, false) => &[ChallengeStatus::Pending],
            };
            assert!(status.known().is_some_and(|s| possible.contains(&s)), "status {status:?}: {c:?}");
            if status == ChallengeStatus::Approved {
                // The same approval again is refused: the challenge was answered.
                let payload = c.approval.as_deref().expect("an approval was sent");
                let again =
                    as_device.update_challenge(&answer_challenge(service, &factor.identity, &c.sid, payload)).await;
                match again {
                    Err(ClientError::Api(e)) => assert_eq!((e.status, e.code), (403, 60322), "{c:?}"),
                    other => panic!("a second approval of {c:?}: {other:?}"),
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_mid_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("v.db");
    let mut server = Server::launch(dir.path()).await;
    let service = server.client.create_service(&create_service("Crash")).await.expect("a service").sid;
    let mut ledger = Ledger::default();
    for cycle in 0..CYCLES {
        load_and_kill(&server, &service, cycle, &mut ledger).await;
        // Restarted on the same database: recovery from the log, then everything is there.
        server = Server::launch(dir.path()).await;
        audit(&server, &service, &db, &ledger).await;
    }
    server.kill();
}
