//! What a request read from the store, kept a few seconds for the requests that follow (the
//! credentials requests authenticate against, the services verification starts name), so that
//! a busy client's requests do not each read it again.
//!
//! Only what exists is kept, so a flood of made-up SIDs cannot grow it. The instance that
//! changes a kept row forgets it at once, and a read that began before the change is not kept
//! after it (see [`Ticket`]): on this instance a change shows in the next request. Another
//! instance sees it within the configured seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use verifyd_runtime::{Sid, Timestamp};

/// At most this many rows are kept: past it the expired ones go, then all of them.
const CAPACITY: usize = 4096;

pub struct Kept<V> {
    /// How long a row is kept; 0 keeps none.
    seconds: i64,
    state: Mutex<State<V>>,
}

struct State<V> {
    rows: HashMap<Sid, Row<V>>,
    /// How many times a row was forgotten: a read that saw another count may be stale.
    forgotten: u64,
}

struct Row<V> {
    value: Arc<V>,
    read: Timestamp,
}

/// Taken before reading the store: a row read after it is kept only if nothing was forgotten
/// meanwhile (else the read may have raced a change and be older than it).
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl<V> Kept<V> {
    pub fn new(seconds: i64) -> Self {
        Self { seconds, state: Mutex::new(State { rows: HashMap::new(), forgotten: 0 }) }
    }

    /// The row of `sid` read less than the configured seconds before `now` (a clock set back
    /// counts as expired).
    pub fn get(&self, sid: &Sid, now: Timestamp) -> Option<Arc<V>> {
        if self.seconds <= 0 {
            return None;
        }
        let state = self.lock();
        state.rows.get(sid).filter(|row| self.fresh(row, now)).map(|row| Arc::clone(&row.value))
    }

    /// What to hand [`keep`](Self::keep) for a read that starts now.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().forgotten)
    }

    /// Keeps `value`, read from the store at `now` after `ticket` was taken, for `sid`; unless
    /// a row was forgotten since.
    pub fn keep(&self, sid: &Sid, value: V, now: Timestamp, ticket: Ticket) -> Arc<V> {
        let value = Arc::new(value);
        if self.seconds <= 0 {
            return value;
        }
        let mut state = self.lock();
        if state.forgotten != ticket.0 {
            return value;
        }
        if state.rows.len() >= CAPACITY && !state.rows.contains_key(sid) {
            state.rows.retain(|_, row| self.fresh(row, now));
            if state.rows.len() >= CAPACITY {
                state.rows.clear();
            }
        }
        state.rows.insert(sid.clone(), Row { value: Arc::clone(&value), read: now });
        value
    }

    /// Forgets the row of `sid`: this instance changed it (call once the change is saved).
    pub fn forget(&self, sid: &Sid) {
        let mut state = self.lock();
        state.forgotten = state.forgotten.wrapping_add(1);
        state.rows.remove(sid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh(&self, row: &Row<V>, now: Timestamp) -> bool {
        now >= row.read && now < row.read.plus_seconds(self.seconds)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(n: u32) -> Sid {
        Sid::parse(&format!("VA{n:032x}")).unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix(1_000_000 + seconds).unwrap()
    }

    fn kept(cache: &Kept<u32>, n: u32, now: Timestamp) -> Option<u32> {
        cache.get(&sid(n), now).map(|v| *v)
    }

    #[test]
    fn a_row_is_kept_for_its_seconds_and_no_longer() {
        let cache = Kept::new(5);
        assert_eq!(kept(&cache, 7, at(0)), None, "nothing kept yet");
        cache.keep(&sid(7), 70, at(0), cache.ticket());
        assert_eq!(kept(&cache, 7, at(0)), Some(70));
        assert_eq!(kept(&cache, 7, at(4)), Some(70), "within its seconds");
        assert_eq!(kept(&cache, 7, at(5)), None, "expired after 5 seconds");
        assert_eq!(kept(&cache, 7, at(-1)), None, "a clock set back does not extend it");
        assert_eq!(kept(&cache, 8, at(1)), None, "another SID's is not this one's");
    }

    #[test]
    fn a_forgotten_row_is_read_again() {
        let cache = Kept::new(5);
        cache.keep(&sid(7), 70, at(0), cache.ticket());
        cache.forget(&sid(7));
        assert_eq!(kept(&cache, 7, at(1)), None);
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_kept() {
        let cache = Kept::new(5);
        // A request takes its ticket and reads the old row; meanwhile another saves a change
        // and forgets the row; the old row must not be kept after that.
        let ticket = cache.ticket();
        cache.forget(&sid(7));
        let handed = cache.keep(&sid(7), 70, at(0), ticket);
        assert_eq!(*handed, 70, "the row read is still answered");
        assert_eq!(kept(&cache, 7, at(0)), None);
        // A read that began after the change is kept.
        cache.keep(&sid(7), 71, at(0), cache.ticket());
        assert_eq!(kept(&cache, 7, at(0)), Some(71));
    }

    #[test]
    fn zero_seconds_keeps_nothing() {
        let cache = Kept::new(0);
        let handed = cache.keep(&sid(7), 70, at(0), cache.ticket());
        assert_eq!(*handed, 70, "the row read is still answered");
        assert_eq!(kept(&cache, 7, at(0)), None);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_full_cache_drops_the_expired_then_everything() {
        let cache = Kept::new(5);
        for n in 0..CAPACITY as u32 {
            cache.keep(&sid(n), n, at(if n < 10 { 0 } else { 3 }), cache.ticket());
        }
        assert_eq!(cache.len(), CAPACITY);
        // At 6 the ten kept at 0 have expired: they make room.
        cache.keep(&sid(CAPACITY as u32), 0, at(6), cache.ticket());
        assert_eq!(cache.len(), CAPACITY - 10 + 1);
        for n in CAPACITY as u32 + 1..CAPACITY as u32 + 10 {
            cache.keep(&sid(n), n, at(6), cache.ticket());
        }
        assert_eq!(cache.len(), CAPACITY);
        // None has expired at 7: all go, and the new one is kept.
        cache.keep(&sid(2 * CAPACITY as u32), 1, at(7), cache.ticket());
        assert_eq!(cache.len(), 1);
        assert_eq!(kept(&cache, 2 * CAPACITY as u32, at(7)), Some(1));
    }
}
