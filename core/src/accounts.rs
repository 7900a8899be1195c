//! Accounts and their credentials: auth tokens (sealed, since webhooks are signed with
//! them, plus an HMAC for checking) and API keys (an HMAC of the secret only).

use verifyd_runtime::Sid;

use crate::ids::{new_sid, prefix};
use crate::keys::{random_hex, random_token};
use crate::store::{AccountRecord, ApiKeyRecord, Store};
use crate::{Core, CoreError, Principal};

const AUTH_TOKEN: &str = "auth-token";
const API_KEY: &str = "api-key";

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

fn token_context(account: &Sid) -> String {
    format!("auth-token:{account}")
}

impl<S: Store> Core<S> {
    fn account_record(&self, sid: Sid, friendly_name: &str, token: &str) -> AccountRecord {
        let now = self.clock.now();
        AccountRecord {
            auth_token_hash: self.keys.secret_hash(AUTH_TOKEN, token).to_vec(),
            auth_token_sealed: self.keys.seal(token_context(&sid).as_bytes(), token.as_bytes()),
            sid,
            friendly_name: friendly_name.to_owned(),
            date_created: now,
            date_updated: now,
        }
    }

    /// A new account with a fresh auth token (32 hex digits, as Twilio's).
    pub async fn create_account(&self, friendly_name: &str) -> Result<Credentials, CoreError> {
        let sid = new_sid(prefix::ACCOUNT);
        let token = random_hex(16);
        self.store.create_account(self.account_record(sid.clone(), friendly_name, &token)).await?;
        Ok(Credentials { sid, secret: token })
    }

    /// Makes sure `sid` exists with `token` (VERIFYD_ACCOUNT_SID / VERIFYD_AUTH_TOKEN): creates
    /// it, or sets its token. Returns whether it was created.
    pub async fn ensure_account(&self, sid: &Sid, token: &str) -> Result<bool, CoreError> {
        match self.store.account(sid).await? {
            Some(existing) if self.keys.secret_matches(AUTH_TOKEN, token, &existing.auth_token_hash) => Ok(false),
            Some(_) => {
                self.set_token(sid, token).await?;
                Ok(false)
            }
            None => {
                self.store.create_account(self.account_record(sid.clone(), "verifyd", token)).await?;
                Ok(true)
            }
        }
    }

    pub async fn count_accounts(&self) -> Result<u64, CoreError> {
        Ok(self.store.count_accounts().await?)
    }

    async fn set_token(&self, sid: &Sid, token: &str) -> Result<(), CoreError> {
        let hash = self.keys.secret_hash(AUTH_TOKEN, token).to_vec();
        let sealed = self.keys.seal(token_context(sid).as_bytes(), token.as_bytes());
        if self.store.set_auth_token(sid, hash, sealed, self.clock.now()).await? {
            Ok(())
        } else {
            Err(CoreError::not_found(format!("/Accounts/{sid}")))
        }
    }

    /// Replaces the account's auth token; the old one stops working at once.
    pub async fn rotate_auth_token(&self, sid: &Sid) -> Result<String, CoreError> {
        let token = random_hex(16);
        self.set_token(sid, &token).await?;
        Ok(token)
    }

    /// The account's current auth token (webhooks are signed with it).
    pub async fn auth_token(&self, sid: &Sid) -> Result<String, CoreError> {
        let account = self.store.account(sid).await?.ok_or_else(|| CoreError::not_found(format!("/Accounts/{sid}")))?;
        let token = self.keys.open(token_context(sid).as_bytes(), &account.auth_token_sealed)?;
        String::from_utf8(token).map_err(|_| CoreError::Internal("a stored auth token is not text".into()))
    }

    /// A new API key (`SK…`) and its secret.
    pub async fn create_api_key(&self, account: &Sid, friendly_name: &str) -> Result<Credentials, CoreError> {
        if self.store.account(account).await?.is_none() {
            return Err(CoreError::not_found(format!("/Accounts/{account}")));
        }
        let sid = new_sid(prefix::API_KEY);
        let secret = random_token(32);
        self.store
            .create_api_key(ApiKeyRecord {
                sid: sid.clone(),
                account_sid: account.clone(),
                friendly_name: friendly_name.to_owned(),
                secret_hash: self.keys.secret_hash(API_KEY, &secret).to_vec(),
                revoked: false,
                date_created: self.clock.now(),
            })
            .await?;
        Ok(Credentials { sid, secret })
    }

    pub async fn revoke_api_key(&self, account: &Sid, key: &Sid) -> Result<(), CoreError> {
        if self.store.revoke_api_key(account, key, self.clock.now()).await? {
            Ok(())
        } else {
            Err(CoreError::not_found(format!("/Accounts/{account}/Keys/{key}")))
        }
    }

    /// HTTP Basic credentials → the principal. Every failure is the same 401: nothing tells
    /// an unknown SID from a wrong secret.
    pub async fn authenticate_basic(&self, username: &str, password: &str) -> Result<Principal, CoreError> {
        if username == "token" {
            // A device's JWT (ES256, signed by its factor's key) or an enrolment access token
            // (HS256, signed by this server).
            let token = crate::jwt::parse(password).map_err(|_| self.unauthenticated())?;
            return match token.algorithm() {
                Some("ES256") => self.device(&token).await,
                Some("HS256") => self.enrolment(&token).await,
                _ => Err(self.unauthenticated()),
            };
        }
        let Ok(sid) = Sid::parse(username) else { return Err(self.unauthenticated()) };
        match sid.prefix() {
            prefix::ACCOUNT => {
                let account = self.store.account(&sid).await?.ok_or_else(|| self.unauthenticated())?;
                if self.keys.secret_matches(AUTH_TOKEN, password, &account.auth_token_hash) {
                    Ok(Principal::Account { account_sid: account.sid })
                } else {
                    Err(self.unauthenticated())
                }
            }
            prefix::API_KEY => {
                let key = self.store.api_key(&sid).await?.ok_or_else(|| self.unauthenticated())?;
                if !key.revoked && self.keys.secret_matches(API_KEY, password, &key.secret_hash) {
                    Ok(Principal::ApiKey { account_sid: key.account_sid, key_sid: key.sid })
                } else {
                    Err(self.unauthenticated())
                }
            }
            _ => Err(self.unauthenticated()),
        }
    }
}
