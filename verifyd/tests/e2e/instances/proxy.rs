//! A TCP proxy between a verifyd and PostgreSQL that the test turns off and on: off, it cuts
//! every connection it carries and closes each new one as soon as it is accepted (to the
//! client, the database went away); on, it forwards again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    pub port: u16,
    forwarding: watch::Sender<bool>,
    pumps: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    forwarded: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// A proxy on a free local port to `upstream` (`host:port`), forwarding.
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let (forwarding, _) = watch::channel(true);
        let pumps = Arc::new(std::sync::Mutex::new(Vec::new()));
        let forwarded = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn({
            let (switch, pumps, forwarded) = (forwarding.subscribe(), Arc::clone(&pumps), Arc::clone(&forwarded));
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if !*switch.borrow() {
                        // Refused: closed before a byte is read.
                        continue;
                    }
                    forwarded.fetch_add(1, Ordering::SeqCst);
                    let pump = tokio::spawn(pump(client, upstream.clone(), switch.clone()));
                    pumps.lock().expect("pumps").push(pump);
                }
            }
        });
        Self { port, forwarding, pumps, forwarded, accept }
    }

    /// Cuts every connection and refuses new ones; returns once every connection it carried
    /// is closed on its side.
    pub async fn cut(&self) {
        self.forwarding.send_replace(false);
        let pumps: Vec<_> = std::mem::take(&mut *self.pumps.lock().expect("pumps"));
        for pump in pumps {
            // Each pump ends on the switch; one still connecting upstream is aborted.
            pump.abort();
            let _ = pump.await;
        }
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.forwarding.send_replace(true);
    }

    /// Connections forwarded so far.
    pub fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for pump in self.pumps.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default() {
            pump.abort();
        }
    }
}

/// Copies both ways until either side closes or the proxy is switched off; both sockets are
/// dropped (closed) when it returns.
async fn pump(mut client: TcpStream, upstream: String, mut switch: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = switch.wait_for(|on| !*on) => {}
    }
}
