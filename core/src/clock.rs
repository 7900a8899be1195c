//! Time, handed to the core: nothing in the core reads the system clock itself, so tests
//! move time instead of sleeping, and background work waits on the same clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use verifyd_runtime::Timestamp;

/// A wait on a clock.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// Resolves once the clock reads `deadline` or later.
    fn sleep_until(&self, deadline: Timestamp) -> Sleep;
}

fn epoch() -> Timestamp {
    Timestamp::from_unix(0).unwrap_or_else(|| unreachable!("the epoch is in range"))
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Timestamp::from_unix(seconds).unwrap_or_else(epoch)
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let wait = u64::try_from(deadline.unix().saturating_sub(self.now().unix())).unwrap_or(0);
        Box::pin(tokio::time::sleep(std::time::Duration::from_secs(wait)))
    }
}

/// A clock that only moves when told to (tests, and operators replaying a scenario). Waits
/// on it end when it is moved past their deadline.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<tokio::sync::watch::Sender<i64>>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(start.unix())))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.send_modify(|now| *now += seconds);
    }

    pub fn set(&self, t: Timestamp) {
        self.0.send_replace(t.unix());
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix(*self.0.borrow()).unwrap_or_else(epoch)
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let mut time = self.0.subscribe();
        Box::pin(async move {
            // The clock outlives its waits (the core holds it); should it not, wait forever.
            if time.wait_for(|now| *now >= deadline.unix()).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix(1_000).unwrap());
        let shared = clock.clone();
        assert_eq!(clock.now().unix(), 1_000);
        shared.advance(600);
        assert_eq!(clock.now().unix(), 1_600);
    }

    #[tokio::test]
    async fn a_wait_on_a_manual_clock_ends_when_it_is_moved_past_the_deadline() {
        let clock = ManualClock::new(Timestamp::from_unix(1_000).unwrap());
        let mut wait = tokio::spawn(clock.sleep_until(Timestamp::from_unix(1_030).unwrap()));
        clock.advance(29);
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), &mut wait).await.is_err());
        clock.advance(1);
        tokio::time::timeout(std::time::Duration::from_secs(5), wait).await.unwrap().unwrap();
    }
}
