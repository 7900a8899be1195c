//! Which master keys a database needs. The database records the fingerprint of the current
//! key and of every key that may still have sealed something in it ("in use"). A start must
//! be given all of them; a rotation adds the new current key, and a finished re-seal retires
//! the others. Fingerprints only: the store never sees a key.

/// What the database records about master keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    /// The key new values are sealed under; `None` for a new database.
    pub current: Option<String>,
    /// Keys that may still have sealed values here, the current one included. A database
    /// written before rotation existed records only `current`; it counts as in use.
    pub in_use: Vec<String>,
}

/// The outcome of a start's key check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// A new database: the key is recorded.
    Recorded,
    /// The recorded current key is this start's current key.
    Matches,
    /// This start's current key replaces the recorded one, which it was given as a previous
    /// key: new values are sealed under the new key; older ones open with the previous.
    Rotated { from: String },
    /// Keys the database needs and this start was not given (fingerprints). Nothing changes.
    Missing { fingerprints: Vec<String> },
}

impl KeyRing {
    /// Every key that may have sealed something here.
    fn needed(&self) -> Vec<String> {
        let mut needed = self.in_use.clone();
        if let Some(current) = &self.current
            && !needed.contains(current)
        {
            needed.push(current.clone());
        }
        needed
    }

    /// The check of a start given `current` and `previous` keys, and the ring to record (if
    /// it changes).
    pub fn check(&self, current: &str, previous: &[String]) -> (KeyCheck, Option<KeyRing>) {
        let Some(recorded) = &self.current else {
            let ring = KeyRing { current: Some(current.to_owned()), in_use: vec![current.to_owned()] };
            return (KeyCheck::Recorded, Some(ring));
        };
        let given = |fp: &String| fp == current || previous.contains(fp);
        let missing: Vec<String> = self.needed().into_iter().filter(|fp| !given(fp)).collect();
        if !missing.is_empty() {
            return (KeyCheck::Missing { fingerprints: missing }, None);
        }
        if recorded == current {
            return (KeyCheck::Matches, None);
        }
        let mut in_use = self.needed();
        in_use.push(current.to_owned());
        let ring = KeyRing { current: Some(current.to_owned()), in_use };
        (KeyCheck::Rotated { from: recorded.clone() }, Some(ring))
    }

    /// After every sealed value was found under the current key: only it is in use. `None`
    /// when the ring has moved on to another current key meanwhile (another rotation began).
    pub fn retire_all_but(&self, current: &str) -> Option<KeyRing> {
        (self.current.as_deref() == Some(current))
            .then(|| KeyRing { current: Some(current.to_owned()), in_use: vec![current.to_owned()] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(current: &str, in_use: &[&str]) -> KeyRing {
        KeyRing { current: Some(current.into()), in_use: in_use.iter().map(|s| (*s).to_owned()).collect() }
    }

    fn given(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_new_database_records_the_key() {
        let (check, new) = KeyRing::default().check("a", &[]);
        assert_eq!(check, KeyCheck::Recorded);
        assert_eq!(new, Some(ring("a", &["a"])));
    }

    #[test]
    fn the_same_key_matches_and_changes_nothing() {
        assert_eq!(ring("a", &["a"]).check("a", &[]), (KeyCheck::Matches, None));
        // A database from before rotation existed records no keys in use: its current counts.
        assert_eq!(ring("a", &[]).check("a", &[]), (KeyCheck::Matches, None));
    }

    #[test]
    fn another_key_without_the_recorded_one_is_refused() {
        let (check, new) = ring("a", &["a"]).check("b", &[]);
        assert_eq!(check, KeyCheck::Missing { fingerprints: given(&["a"]) });
        assert_eq!(new, None);
        let (check, _) = ring("a", &[]).check("b", &given(&["c"]));
        assert_eq!(check, KeyCheck::Missing { fingerprints: given(&["a"]) });
    }

    #[test]
    fn a_new_key_given_the_recorded_one_as_previous_rotates() {
        let (check, new) = ring("a", &["a"]).check("b", &given(&["a"]));
        assert_eq!(check, KeyCheck::Rotated { from: "a".into() });
        assert_eq!(new, Some(ring("b", &["a", "b"])));
        // Every instance restarting with the same keys then matches.
        assert_eq!(ring("b", &["a", "b"]).check("b", &given(&["a"])), (KeyCheck::Matches, None));
    }

    #[test]
    fn a_key_still_in_use_must_be_given_until_retired() {
        let mid_rotation = ring("b", &["a", "b"]);
        let (check, _) = mid_rotation.check("b", &[]);
        assert_eq!(check, KeyCheck::Missing { fingerprints: given(&["a"]) });
        let retired = mid_rotation.retire_all_but("b").unwrap();
        assert_eq!(retired, ring("b", &["b"]));
        assert_eq!(retired.check("b", &[]), (KeyCheck::Matches, None));
        assert_eq!(mid_rotation.retire_all_but("a"), None, "only the current key retires the others");
    }

    #[test]
    fn a_rotation_during_a_rotation_keeps_every_older_key_in_use() {
        let (_, new) = ring("b", &["a", "b"]).check("c", &given(&["b", "a"]));
        assert_eq!(new, Some(ring("c", &["a", "b", "c"])));
    }
}
