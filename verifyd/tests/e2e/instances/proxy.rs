//! A TCP proxy between a verifyd and PostgreSQL that the test turns off and on: off, it cuts
//! every connection it carries and closes each new one as soon as it is accepted (to the
//! client, the database went away); stalled, it keeps every connection open and accepts new
//! ones but passes no byte either way (to the client, the database went silent: a partition,
//! a hung server); on, it forwards again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    pub port: u16,
    forwarding: watch::Sender<bool>,
    /// Whether bytes pass (while forwarding).
    flowing: watch::Sender<bool>,
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
        let (flowing, _) = watch::channel(true);
        let pumps = Arc::new(std::sync::Mutex::new(Vec::new()));
        let forwarded = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn({
            let (switch, pumps, forwarded) = (forwarding.subscribe(), Arc::clone(&pumps), Arc::clone(&forwarded));
            let flow = flowing.subscribe();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if !*switch.borrow() {
                        // Refused: closed before a byte is read.
                        continue;
                    }
                    forwarded.fetch_add(1, Ordering::SeqCst);
                    let pump = tokio::spawn(pump(client, upstream.clone(), switch.clone(), flow.clone()));
                    pumps.lock().expect("pumps").push(pump);
                }
            }
        });
        Self { port, forwarding, flowing, pumps, forwarded, accept }
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

    /// Forwards new connections again, and lets bytes pass.
    pub fn restore(&self) {
        self.forwarding.send_replace(true);
        self.flowing.send_replace(true);
    }

    /// Keeps every connection open but passes no byte either way.
    pub fn stall(&self) {
        self.flowing.send_replace(false);
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

/// Copies both ways until either side closes or the proxy is switched off or stalled; both
/// sockets are dropped (closed) when it returns. A stalled connection stays open, passing
/// nothing, until the proxy is restored or switched off, and then closes: as a connection
/// does whose peer stayed silent past the operating system's patience.
async fn pump(
    mut client: TcpStream,
    upstream: String,
    mut switch: watch::Receiver<bool>,
    mut flow: watch::Receiver<bool>,
) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    if !*flow.borrow() {
        // Accepted while stalled: open, silent.
        let _ = flow.wait_for(|on| *on).await;
        return;
    }
    // Biased: woken by bytes after a stall or a cut, it sees the switch before copying them.
    let stalled = tokio::select! {
        biased;
        _ = switch.wait_for(|on| !*on) => false,
        _ = flow.wait_for(|on| !*on) => true,
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
    };
    if stalled {
        // Silent, the sockets open, until restored or switched off; then closed.
        tokio::select! {
            _ = switch.wait_for(|on| !*on) => {}
            _ = flow.wait_for(|on| *on) => {}
        }
    }
}
