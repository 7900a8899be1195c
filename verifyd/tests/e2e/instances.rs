//! Several `verifyd serve` processes on one PostgreSQL schema, as a deployment behind a load
//! balancer runs them: the limits hold across instances under concurrent requests
//! ([`together`]), and an instance rides out its database going away and coming back
//! ([`outage`]). Every test skips where `VERIFYD_TEST_POSTGRES_URL` is not set.

mod outage;
mod proxy;
mod together;

use std::fs::File;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use verifyd_client::{Client, ClientError};

use crate::common::{ACCOUNT, TOKEN};

const BIN: &str = env!("CARGO_BIN_EXE_verifyd");
/// Every instance of a deployment on PostgreSQL is given the same master key.
const MASTER_KEY: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// How long a start may take (a debug build on shared cores) before it is a failure.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// The test's scratch schema, or a `skipped:` line and a return from the test.
macro_rules! scratch {
    () => {
        match verifyd_store_postgres::ScratchSchema::new().await {
            Some(schema) => schema,
            None => {
                eprintln!("skipped: {} is not set", verifyd_store_postgres::TEST_URL_VARIABLE);
                return;
            }
        }
    };
}
pub(crate) use scratch;

/// A `verifyd serve` child process on a free port, killed when dropped.
pub struct Instance {
    child: Child,
    pub root: String,
    pub client: Client,
    pub http: reqwest::Client,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Instance {
    /// Starts the binary on the PostgreSQL database at `url` with the test account, in
    /// development mode (the outbox route), and waits until it answers `/healthz`. `env` adds
    /// or overrides settings.
    pub async fn launch(url: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = dir.path().join("verifyd.log");
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .current_dir(dir.path())
            .env("VERIFYD_DATABASE_URL", url)
            .env("VERIFYD_MASTER_KEY", MASTER_KEY)
            .env("VERIFYD_LISTEN", format!("127.0.0.1:{port}"))
            .env("VERIFYD_ACCOUNT_SID", ACCOUNT)
            .env("VERIFYD_AUTH_TOKEN", TOKEN)
            .env("VERIFYD_DEV", "1")
            .env("VERIFYD_LOG", "warn")
            // Small pools: several instances of several tests share one test server.
            .env("VERIFYD_DATABASE_POOL_SIZE", "4")
            .env_remove("VERIFYD_CONFIG")
            .env_remove("VERIFYD_PUBLIC_URL")
            .env_remove("VERIFYD_PREVIOUS_MASTER_KEYS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("a log file"));
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("start verifyd");
        let root = format!("http://127.0.0.1:{port}");
        let mut instance = Self {
            child,
            client: Client::new(format!("{root}/v2"), ACCOUNT, TOKEN).expect("client"),
            http: reqwest::Client::new(),
            root,
            log,
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            let answer = instance.http.get(format!("{}/healthz", instance.root)).send().await;
            if answer.is_ok_and(|a| a.status().is_success()) {
                return instance;
            }
            if let Ok(Some(status)) = instance.child.try_wait() {
                panic!("verifyd exited ({status}) while starting: {}", instance.log_text());
            }
            assert!(started.elapsed() < START_DEADLINE, "verifyd did not start: {}", instance.log_text());
            // Polling for the port to open; no assertion rests on this pause.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The messages to `to`, newest first, from the development outbox.
    pub async fn outbox(&self, to: &str) -> Vec<serde_json::Value> {
        let response = self
            .http
            .get(format!("{}/dev/outbox", self.root))
            .query(&[("to", to)])
            .basic_auth(ACCOUNT, Some(TOKEN))
            .send()
            .await
            .expect("outbox");
        let (status, body) = crate::common::read_json(response).await;
        assert_eq!(status, 200, "{body}");
        body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// The code of the newest message to `to`.
    pub async fn code_for(&self, to: &str) -> String {
        let messages = self.outbox(to).await;
        messages.first().and_then(|m| m["code"].as_str()).map(str::to_owned).expect("a message with a code")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a call answered: its value, or Twilio's (HTTP status, code).
pub type Answer<T> = Result<T, (i64, i64)>;

/// A call's answer; anything but a value or a Twilio error fails the test.
pub fn answer<T>(result: Result<T, ClientError>) -> Answer<T> {
    match result {
        Ok(value) => Ok(value),
        Err(ClientError::Api(e)) => Err((e.status, e.code)),
        Err(other) => panic!("neither an answer nor a Twilio error: {other}"),
    }
}

/// Runs every call at once: each is spawned and waits on one barrier, so that none is sent
/// before all are ready. The answers come back in the calls' order.
pub async fn at_once<T, F>(calls: Vec<F>) -> Vec<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(calls.len()));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|call| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                call.await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.expect("a call's task"));
    }
    answers
}

/// How many answers are `want`.
pub fn count<T: PartialEq>(answers: &[T], want: &T) -> usize {
    answers.iter().filter(|a| *a == want).count()
}
