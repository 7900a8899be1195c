//! Who is calling. Every operation receives one and decides what it may do.

use verifyd_runtime::Sid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The account's own credentials (AccountSid:AuthToken).
    Account { account_sid: Sid },
    /// One of the account's API keys (SK…:secret): the same rights as the account here.
    ApiKey { account_sid: Sid, key_sid: Sid },
}

impl Principal {
    /// The account whose data this principal may reach; every store call filters by it.
    pub fn account_sid(&self) -> &Sid {
        match self {
            Principal::Account { account_sid } | Principal::ApiKey { account_sid, .. } => account_sid,
        }
    }
}
