//! Accounts and their credentials: auth tokens (sealed, since webhooks are signed with
//! them, plus an HMAC for checking) and API keys (an HMAC of the secret only).

use verifyd_runtime::Sid;

use crate::credentials::Credential;
use crate::domain::account::{Account, ApiKey};
use crate::ids::{new_sid, prefix};
use crate::keys::{SealContext, SecretKind, SecretMatch, random_hex, random_token};
use crate::store::{Change, Decision, Store};
use crate::{Core, CoreError, Principal};

/// A SID and its secret, shown once to whoever created them.
pub struct Credentials {
    pub sid: Sid,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("sid", &self.sid).finish_non_exhaustive()
    }
}

fn account_path(sid: &Sid) -> String {
    format!("/Accounts/{sid}")
}

impl<S: Store> Core<S> {
    fn with_token(&self, mut account: Account, token: &str) -> Account {
        account.auth_token_hash = self.keys.secret_digest(SecretKind::AuthToken, token);
        account.auth_token_sealed = self.keys.seal(SealContext::AuthToken(&account.sid), token.as_bytes());
        account
    }

    fn new_account(&self, sid: Sid, friendly_name: &str, token: &str) -> Account {
        let now = self.clock.now();
        let account = Account {
            sid,
            friendly_name: friendly_name.to_owned(),
            auth_token_hash: Vec::new(),
            auth_token_sealed: Vec::new(),
            token_from_config: false,
            date_created: now,
            date_updated: now,
        };
        self.with_token(account, token)
    }

    /// A new account with a fresh auth token (32 hex digits, as Twilio's).
    pub async fn create_account(&self, friendly_name: &str) -> Result<Credentials, CoreError> {
        let sid = new_sid(prefix::ACCOUNT);
        let token = random_hex(16);
        self.store.save(vec![Change::InsertAccount(self.new_account(sid.clone(), friendly_name, &token))]).await?;
        Ok(Credentials { sid, secret: token })
    }

    /// Applies the configuration's account (VERIFYD_ACCOUNT_SID / VERIFYD_AUTH_TOKEN) at a
    /// start: creates it when missing, sets its token when the configuration changed it, and
    /// marks it as the one account whose token the configuration owns (no other's is, so an
    /// account the configuration no longer names becomes the command line's to rotate). Other
    /// accounts are left as they are. `None` releases every account. Returns whether the
    /// account was created. Idempotent, so instances starting together on one database agree.
    pub async fn apply_config_account(&self, account: Option<(&Sid, &str)>) -> Result<bool, CoreError> {
        let Some((sid, token)) = account else {
            self.store.save(vec![Change::ConfigAccount(None)]).await?;
            return Ok(false);
        };
        let mut created = self.new_account(sid.clone(), "verifyd", token);
        created.token_from_config = true;
        let keys = std::sync::Arc::clone(&self.keys);
        let (token, now) = (token.to_owned(), self.clock.now());
        let mark = Change::ConfigAccount(Some(sid.clone()));
        let changed = self
            .store
            .with_account(sid, move |found| match found {
                None => Decision::save(vec![Change::InsertAccount(created), mark], true),
                Some(existing) if keys.secret_matches(SecretKind::AuthToken, &token, &existing.auth_token_hash) => {
                    Decision::save(vec![mark], false)
                }
                Some(mut existing) => {
                    existing.auth_token_hash = created.auth_token_hash;
                    existing.auth_token_sealed = created.auth_token_sealed;
                    existing.date_updated = now;
                    Decision::save(vec![Change::UpdateAccount(existing), mark], false)
                }
            })
            .await?;
        self.credentials.forget(sid);
        Ok(changed)
    }

    pub async fn count_accounts(&self) -> Result<u64, CoreError> {
        Ok(self.store.count_accounts().await?)
    }

    /// Replaces the account's auth token; the old one stops working at once. Refused for the
    /// account whose token the configuration gives: the next start would put that one back.
    pub async fn rotate_auth_token(&self, sid: &Sid) -> Result<String, CoreError> {
        let token = random_hex(16);
        let replaced = self.new_account(sid.clone(), "", &token);
        let now = self.clock.now();
        let rotated = self
            .store
            .with_account(sid, move |found| match found {
                None => Decision::nothing(Err(CoreError::not_found(account_path(&replaced.sid)))),
                Some(account) if account.token_from_config => {
                    Decision::nothing(Err(CoreError::TokenFromConfiguration { sid: account.sid }))
                }
                Some(mut account) => {
                    account.auth_token_hash = replaced.auth_token_hash;
                    account.auth_token_sealed = replaced.auth_token_sealed;
                    account.date_updated = now;
                    Decision::save(vec![Change::UpdateAccount(account)], Ok(()))
                }
            })
            .await?;
        self.credentials.forget(sid);
        rotated.map(|()| token)
    }

    /// The account's current auth token (webhooks are signed with it).
    pub async fn auth_token(&self, sid: &Sid) -> Result<String, CoreError> {
        let account = self.store.account(sid).await?.ok_or_else(|| CoreError::not_found(account_path(sid)))?;
        Ok(self.keys.open_text(SealContext::AuthToken(sid), &account.auth_token_sealed)?)
    }

    /// A new API key (`SK…`) and its secret.
    pub async fn create_api_key(&self, account: &Sid, friendly_name: &str) -> Result<Credentials, CoreError> {
        if self.store.account(account).await?.is_none() {
            return Err(CoreError::not_found(account_path(account)));
        }
        let sid = new_sid(prefix::API_KEY);
        let secret = random_token(32);
        let key = ApiKey {
            sid: sid.clone(),
            account_sid: account.clone(),
            friendly_name: friendly_name.to_owned(),
            secret_hash: self.keys.secret_digest(SecretKind::ApiKey, &secret),
            revoked: false,
            date_created: self.clock.now(),
        };
        self.store.save(vec![Change::InsertApiKey(key)]).await?;
        Ok(Credentials { sid, secret })
    }

    pub async fn revoke_api_key(&self, account: &Sid, key: &Sid) -> Result<(), CoreError> {
        let now = self.clock.now();
        let revoked = self
            .store
            .with_api_key(account, key, move |found| match found {
                None => Decision::nothing(false),
                Some(k) => {
                    Decision::save(vec![Change::RevokeApiKey { account: k.account_sid, sid: k.sid, at: now }], true)
                }
            })
            .await?;
        self.credentials.forget(key);
        if revoked { Ok(()) } else { Err(CoreError::not_found(format!("/Accounts/{account}/Keys/{key}"))) }
    }

    /// An API key's digest was made under a previous master key: its secret, just checked, is
    /// here, so make it again under the current key. Once every key has been used (or revoked)
    /// after a rotation, no digest needs the previous key any more.
    async fn remake_api_key_digest(&self, key: &ApiKey, secret: &str) -> Result<(), CoreError> {
        let (old, new) = (key.secret_hash.clone(), self.keys.secret_digest(SecretKind::ApiKey, secret));
        self.store
            .with_api_key(&key.account_sid, &key.sid, move |found| match found {
                // Unless it changed meanwhile (revoked, or re-made by another request).
                Some(key) if key.secret_hash == old => Decision::save(
                    vec![Change::ApiKeyDigest { account: key.account_sid, sid: key.sid, digest: new }],
                    (),
                ),
                _ => Decision::nothing(()),
            })
            .await?;
        self.credentials.forget(&key.sid);
        Ok(())
    }

    /// HTTP Basic credentials → the principal. Every failure is the same 401: nothing tells
    /// an unknown SID from a wrong secret.
    pub async fn authenticate_basic(&self, username: &str, password: &str) -> Result<Principal, CoreError> {
        if username == "token" {
            // A device's JWT (ES256, signed by its factor's key) or an enrolment access token
            // (HS256, signed by this server).
            let token = crate::jwt::parse(password).map_err(|_| CoreError::Unauthenticated)?;
            return match token.algorithm() {
                Some("ES256") => self.device(&token).await,
                Some("HS256") => self.enrolment(&token).await,
                _ => Err(CoreError::Unauthenticated),
            };
        }
        let Ok(sid) = Sid::parse(username) else { return Err(CoreError::Unauthenticated) };
        if ![prefix::ACCOUNT, prefix::API_KEY].contains(&sid.prefix()) {
            return Err(CoreError::Unauthenticated);
        }
        let now = self.clock.now();
        if let Some(kept) = self.credentials.get(&sid, now)
            && let Some(principal) = self.principal_of(&kept, password).await?
        {
            return Ok(principal);
        }
        // Not kept, or kept and not matching: the store may hold a newer secret.
        let ticket = self.credentials.ticket();
        let found = match sid.prefix() {
            prefix::ACCOUNT => self.store.account(&sid).await?.map(Credential::Account),
            _ => self.store.api_key(&sid).await?.map(Credential::ApiKey),
        };
        let credential = self.credentials.keep(&sid, found.ok_or(CoreError::Unauthenticated)?, now, ticket);
        self.principal_of(&credential, password).await?.ok_or(CoreError::Unauthenticated)
    }

    /// Whom `password` authenticates as, checked against `credential`; `None` when it does
    /// not match (or the key is revoked).
    async fn principal_of(&self, credential: &Credential, password: &str) -> Result<Option<Principal>, CoreError> {
        Ok(match credential {
            Credential::Account(account) => self
                .keys
                .secret_matches(SecretKind::AuthToken, password, &account.auth_token_hash)
                .then(|| Principal::Account { account_sid: account.sid.clone() }),
            Credential::ApiKey(key) if key.revoked => None,
            Credential::ApiKey(key) => {
                let principal = Principal::ApiKey { account_sid: key.account_sid.clone(), key_sid: key.sid.clone() };
                match self.keys.secret_match(SecretKind::ApiKey, password, &key.secret_hash) {
                    SecretMatch::No => None,
                    SecretMatch::Current => Some(principal),
                    SecretMatch::Previous => {
                        self.remake_api_key_digest(key, password).await?;
                        Some(principal)
                    }
                }
            }
        })
    }
}
