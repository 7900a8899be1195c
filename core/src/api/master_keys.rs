//! Master keys: the check at every start (the database must be given every key it still
//! needs), and the re-seal that moves every stored secret under the current key so that the
//! previous ones can be retired. The re-seal works in batches, each its own short write, and
//! replaces a value only where the row still holds what it read: the server keeps running.

use verifyd_runtime::Sid;

use crate::keys::{MadeBy, SealContext, SecretKind};
use crate::store::{Change, Decision, KeyCheck, Resealed, SealedKind, SealedValue, Store};
use crate::{Core, CoreError};

/// Rows read and replaced per batch.
const BATCH: u32 = 500;
/// Passes over everything at most: a pass finds what the server sealed under an older key
/// meanwhile (an instance not yet restarted with the new key).
const PASSES: usize = 3;

/// What a re-seal did, kind by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// (kind, values examined in the last pass, values re-sealed in all passes, values no key opens).
    pub kinds: Vec<(SealedKind, u64, u64, u64)>,
    /// Access tokens signed with a previous key: not re-sealed, they expire within five minutes.
    pub access_tokens_under_previous: u64,
    /// API keys (not revoked) whose digest a previous key made: re-made at their next use.
    pub api_keys_under_previous: Vec<Sid>,
    /// Whether the previous keys were retired: nothing stored needs them any more.
    pub retired: bool,
}

impl<S: Store> Core<S> {
    /// The start's key check: records the key in a new database, moves the database to a new
    /// current key given the recorded one as previous, or says which keys it still needs.
    pub async fn check_master_keys(&self) -> Result<KeyCheck, CoreError> {
        let current = self.keys.fingerprint().to_owned();
        let previous = self.keys.previous_fingerprints().to_vec();
        Ok(self
            .store
            .with_keyring(move |ring| {
                let (check, record) = ring.check(&current, &previous);
                Decision { changes: record.map(Change::SetKeyRing).into_iter().collect(), outcome: check }
            })
            .await?)
    }

    /// Re-seals every stored secret not sealed under the current master key (and seals those an
    /// older database kept in plaintext: `SealedValue::plain`), then retires the previous keys
    /// when nothing needs them.
    pub async fn reseal_all(&self) -> Result<ResealReport, CoreError> {
        let mut report = ResealReport::default();
        let mut totals: Vec<(SealedKind, u64, u64, u64)> =
            SealedKind::ALL.iter().filter(|k| **k != SealedKind::ApiKeyDigest).map(|k| (*k, 0, 0, 0)).collect();
        // Clean once a whole pass finds nothing to re-seal (what waits for its key aside).
        let mut clean = false;
        for _ in 0..PASSES {
            let mut stale = 0;
            report.access_tokens_under_previous = 0;
            for (kind, examined, resealed, unreadable) in &mut totals {
                let pass = self.reseal_kind(*kind).await?;
                (*examined, *unreadable) = (pass.examined, pass.unreadable);
                *resealed += pass.resealed;
                stale += pass.stale - pass.waiting;
                report.access_tokens_under_previous += pass.waiting;
            }
            if stale == 0 {
                clean = true;
                break;
            }
        }
        report.api_keys_under_previous = self.api_keys_under_previous().await?;
        let unreadable: u64 = totals.iter().map(|t| t.3).sum();
        report.kinds = totals;
        if clean
            && unreadable == 0
            && report.access_tokens_under_previous == 0
            && report.api_keys_under_previous.is_empty()
        {
            let current = self.keys.fingerprint().to_owned();
            report.retired = self
                .store
                .with_keyring(move |ring| match ring.retire_all_but(&current) {
                    Some(retired) => Decision::save(vec![Change::SetKeyRing(retired)], true),
                    None => Decision::nothing(false),
                })
                .await?;
        }
        Ok(report)
    }

    async fn reseal_kind(&self, kind: SealedKind) -> Result<Pass, CoreError> {
        let mut pass = Pass::default();
        let mut walk = Walk::new(kind);
        while let Some(batch) = walk.next(&*self.store).await? {
            let mut replacements = Vec::new();
            for value in &batch {
                pass.examined += 1;
                if !value.plain && self.keys.made_under_current(&value.value, MadeBy::Seal) {
                    continue;
                }
                pass.stale += 1;
                if kind == SealedKind::AccessToken && self.signed_by_previous_and_live(value) {
                    // Its signature is the previous key's whatever its stored copy is sealed
                    // with: it must expire (within minutes) before that key can go.
                    pass.waiting += 1;
                    continue;
                }
                match self.resealed(kind, value) {
                    Some(r) => replacements.push(r),
                    None => pass.unreadable += 1,
                }
            }
            if !replacements.is_empty() {
                pass.resealed += self.store.reseal(kind, replacements).await?;
            }
        }
        Ok(pass)
    }

    /// The value sealed again under the current key, with its digest made again where the
    /// row keeps one; `None` when no given key opens it.
    fn resealed(&self, kind: SealedKind, value: &SealedValue) -> Option<Resealed> {
        let sid = &value.sid;
        let context = match kind {
            SealedKind::AuthToken => SealContext::AuthToken(sid),
            SealedKind::Code => SealContext::Code(sid),
            SealedKind::TotpSecret => SealContext::TotpSecret(sid),
            SealedKind::MessageBody => SealContext::MessageBody(sid),
            SealedKind::MessageCode => SealContext::MessageCode(sid),
            SealedKind::AccessToken => SealContext::AccessToken(sid),
            SealedKind::WebhookDelivery => SealContext::WebhookDelivery(sid),
            SealedKind::WebhookUrl => SealContext::WebhookUrl(sid),
            SealedKind::HiddenDetails => SealContext::HiddenDetails(sid),
            SealedKind::AttemptPayload => SealContext::AttemptPayload(sid),
            SealedKind::ApiKeyDigest => return None,
        };
        // A value an older database kept in plaintext is sealed here for the first time.
        let plain = if value.plain { value.value.clone() } else { self.keys.open(context, &value.value).ok()? };
        let digest = match kind {
            SealedKind::AuthToken => {
                Some(self.keys.secret_digest(SecretKind::AuthToken, std::str::from_utf8(&plain).ok()?))
            }
            SealedKind::Code => Some(self.keys.code_hash(sid.as_str(), std::str::from_utf8(&plain).ok()?).to_vec()),
            _ => None,
        };
        Some(Resealed { sid: sid.clone(), old: value.value.clone(), new: self.keys.seal(context, &plain), digest })
    }

    /// Whether a stored access token is unexpired and signed with a previous key's token key.
    fn signed_by_previous_and_live(&self, value: &SealedValue) -> bool {
        let Ok(token) = self.keys.open_text(SealContext::AccessToken(&value.sid), &value.value) else { return false };
        let Ok(jwt) = crate::jwt::parse(&token) else { return false };
        if jwt.clone().verify_hs256(self.keys.token_signing_key()).is_ok() {
            return false;
        }
        // Signed with a previous key (the first is the current one): does it still live?
        self.keys
            .token_verifying_keys()
            .skip(1)
            .find_map(|key| jwt.clone().verify_hs256(key).ok())
            .and_then(|claims| crate::jwt::int_claim(&claims, "exp"))
            .is_some_and(|exp| exp > self.clock.now().unix())
    }

    async fn api_keys_under_previous(&self) -> Result<Vec<Sid>, CoreError> {
        let mut found = Vec::new();
        let mut walk = Walk::new(SealedKind::ApiKeyDigest);
        while let Some(batch) = walk.next(&*self.store).await? {
            found.extend(
                batch.into_iter().filter(|v| !self.keys.made_under_current(&v.value, MadeBy::Digest)).map(|v| v.sid),
            );
        }
        Ok(found)
    }
}

/// Every stored value of one kind, a batch at a time, in SID order.
struct Walk {
    kind: SealedKind,
    after: Option<Sid>,
}

impl Walk {
    fn new(kind: SealedKind) -> Self {
        Self { kind, after: None }
    }

    async fn next<S: Store>(&mut self, store: &S) -> Result<Option<Vec<SealedValue>>, CoreError> {
        let batch = store.sealed_values(self.kind, self.after.clone(), BATCH).await?;
        let Some(last) = batch.last() else { return Ok(None) };
        self.after = Some(last.sid.clone());
        Ok(Some(batch))
    }
}

#[derive(Default)]
struct Pass {
    examined: u64,
    stale: u64,
    waiting: u64,
    resealed: u64,
    unreadable: u64,
}
