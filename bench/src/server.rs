//! The server under test: a `verifyd serve` child process on a free loopback port.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "AC0000000000000000000000000000beef";
pub const TOKEN: &str = "bench-auth-token-0123456789abcdef";
/// Fixed so that the benchmark can compute what the server stores (TOTP secrets are
/// returned to it anyway; this only keeps runs reproducible).
pub const MASTER_KEY: &str = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts `binary serve` on the database at `database_url` (`VERIFYD_DATABASE_URL`).
    pub fn start(binary: &Path, database_url: &str) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let child = Command::new(binary)
            .arg("serve")
            .env("VERIFYD_LISTEN", format!("127.0.0.1:{port}"))
            .env("VERIFYD_DATABASE_URL", database_url)
            .env("VERIFYD_ACCOUNT_SID", ACCOUNT)
            .env("VERIFYD_AUTH_TOKEN", TOKEN)
            .env("VERIFYD_MASTER_KEY", MASTER_KEY)
            // Request logs off: the benchmark measures the service, not the terminal.
            .env("VERIFYD_LOG", "warn")
            .env_remove("VERIFYD_CONFIG")
            .env_remove("VERIFYD_PUBLIC_URL")
            .env_remove("VERIFYD_DEV")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = Self { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("the server exited at start ({status})"));
            }
            if healthy(port) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("the server did not answer /healthz within 30 s".to_owned())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(self) {
        drop(self);
    }
}

/// Stopped however the phase ends (an error too: its database is removed after).
impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM would let it finish gracefully; kill is enough between benchmark phases
        // since every acknowledged write is already durable.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 32];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1.1 200"))
}

pub fn client(concurrency: usize) -> Result<reqwest::Client, String> {
    // reqwest is built without a TLS provider of its own (only plain HTTP is used here).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .http1_only()
        .tcp_nodelay(true)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())
}
