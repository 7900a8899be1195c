//! Accounts and their API keys. Secrets appear here only hashed or sealed.

use verifyd_runtime::{Sid, Timestamp};

#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub sid: Sid,
    pub friendly_name: String,
    /// HMAC of the auth token, for authentication.
    pub auth_token_hash: Vec<u8>,
    /// The auth token sealed with the master key: webhooks are signed with it.
    pub auth_token_sealed: Vec<u8>,
    /// The token comes from the server's configuration (`VERIFYD_AUTH_TOKEN` or `auth_token`),
    /// which every start applies: the command line must not rotate it, or the next start would
    /// silently undo the rotation.
    pub token_from_config: bool,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("sid", &self.sid)
            .field("friendly_name", &self.friendly_name)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub sid: Sid,
    pub account_sid: Sid,
    pub friendly_name: String,
    /// HMAC of the secret.
    pub secret_hash: Vec<u8>,
    pub revoked: bool,
    pub date_created: Timestamp,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("sid", &self.sid)
            .field("account_sid", &self.account_sid)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}
