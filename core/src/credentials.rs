//! The stored credentials that requests authenticated against (an account's token digest, an
//! API key's secret digest), kept a few seconds so that a busy client's requests do not each
//! read them from the store again (measured: that read was a ninth of a start's CPU outside
//! the writer).
//!
//! Only what the store holds is kept, never a secret a client sent: every request's secret is
//! still compared, in constant time, with the kept digest. A kept digest that does not match
//! is read again before the request is refused, so a new token works at once everywhere. An
//! old one (a rotated token, a revoked key) keeps working on an instance that did not make the
//! change for at most the configured seconds; the instance that makes it forgets its copy at
//! once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use verifyd_runtime::{Sid, Timestamp};

use crate::domain::account::{Account, ApiKey};

/// What a request's secret is checked against.
pub enum Credential {
    Account(Account),
    ApiKey(ApiKey),
}

/// At most this many credentials are kept: past it the expired ones go, then all of them.
/// Only credentials that exist are kept, so a flood of made-up SIDs cannot grow it.
const CAPACITY: usize = 4096;

pub struct CredentialCache {
    /// How long a credential is kept; 0 keeps none.
    seconds: i64,
    kept: Mutex<HashMap<Sid, Kept>>,
}

struct Kept {
    credential: Arc<Credential>,
    read: Timestamp,
}

impl CredentialCache {
    pub fn new(seconds: i64) -> Self {
        Self { seconds, kept: Mutex::default() }
    }

    /// The credential of `sid` read from the store less than the configured seconds before
    /// `now` (a clock set back counts as expired).
    pub fn get(&self, sid: &Sid, now: Timestamp) -> Option<Arc<Credential>> {
        if self.seconds <= 0 {
            return None;
        }
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.get(sid).filter(|k| self.fresh(k, now)).map(|k| Arc::clone(&k.credential))
    }

    /// Keeps `credential`, just read from the store at `now`, for `sid`.
    pub fn keep(&self, sid: &Sid, credential: Credential, now: Timestamp) -> Arc<Credential> {
        let credential = Arc::new(credential);
        if self.seconds <= 0 {
            return credential;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= CAPACITY && !kept.contains_key(sid) {
            kept.retain(|_, k| self.fresh(k, now));
            if kept.len() >= CAPACITY {
                kept.clear();
            }
        }
        kept.insert(sid.clone(), Kept { credential: Arc::clone(&credential), read: now });
        credential
    }

    /// Forgets the credential of `sid`: this instance changed it.
    pub fn forget(&self, sid: &Sid) {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner).remove(sid);
    }

    fn fresh(&self, kept: &Kept, now: Timestamp) -> bool {
        now >= kept.read && now < kept.read.plus_seconds(self.seconds)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> (Sid, Credential) {
        let sid = Sid::parse(&format!("SK{n:032x}")).unwrap();
        let key = ApiKey {
            sid: sid.clone(),
            account_sid: Sid::parse(&format!("AC{:032x}", 1)).unwrap(),
            friendly_name: String::new(),
            secret_hash: vec![n as u8],
            revoked: false,
            date_created: Timestamp::from_unix(0).unwrap(),
        };
        (sid, Credential::ApiKey(key))
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix(1_000_000 + seconds).unwrap()
    }

    fn digest(c: &Credential) -> &[u8] {
        match c {
            Credential::ApiKey(k) => &k.secret_hash,
            Credential::Account(a) => &a.auth_token_hash,
        }
    }

    #[test]
    fn a_credential_is_kept_for_its_seconds_and_no_longer() {
        let cache = CredentialCache::new(5);
        let (sid, credential) = key(7);
        assert!(cache.get(&sid, at(0)).is_none(), "nothing kept yet");
        cache.keep(&sid, credential, at(0));
        assert_eq!(cache.get(&sid, at(0)).map(|c| digest(&c).to_vec()), Some(vec![7]));
        assert!(cache.get(&sid, at(4)).is_some(), "within its seconds");
        assert!(cache.get(&sid, at(5)).is_none(), "expired after 5 seconds");
        assert!(cache.get(&sid, at(-1)).is_none(), "a clock set back does not extend it");
        assert!(cache.get(&key(8).0, at(1)).is_none(), "another SID's is not this one's");
    }

    #[test]
    fn a_forgotten_credential_is_read_again() {
        let cache = CredentialCache::new(5);
        let (sid, credential) = key(7);
        cache.keep(&sid, credential, at(0));
        cache.forget(&sid);
        assert!(cache.get(&sid, at(1)).is_none());
    }

    #[test]
    fn zero_seconds_keeps_nothing() {
        let cache = CredentialCache::new(0);
        let (sid, credential) = key(7);
        let handed = cache.keep(&sid, credential, at(0));
        assert_eq!(digest(&handed), [7], "the credential read is still answered");
        assert!(cache.get(&sid, at(0)).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_full_cache_drops_the_expired_then_everything() {
        let cache = CredentialCache::new(5);
        for n in 0..CAPACITY as u32 {
            let (sid, credential) = key(n);
            cache.keep(&sid, credential, at(if n < 10 { 0 } else { 3 }));
        }
        assert_eq!(cache.len(), CAPACITY);
        // At 6 the ten kept at 0 have expired: they make room.
        let (sid, credential) = key(CAPACITY as u32);
        cache.keep(&sid, credential, at(6));
        assert_eq!(cache.len(), CAPACITY - 10 + 1);
        for n in CAPACITY as u32 + 1..CAPACITY as u32 + 10 {
            let (sid, credential) = key(n);
            cache.keep(&sid, credential, at(6));
        }
        assert_eq!(cache.len(), CAPACITY);
        // None has expired at 7: all go, and the new one is kept.
        let (sid, credential) = key(2 * CAPACITY as u32);
        cache.keep(&sid, credential, at(7));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&sid, at(7)).is_some());
    }
}
