//! Who is calling. Every operation receives one and decides what it may do.

use verifyd_models::FactorType;
use verifyd_runtime::Sid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The account's own credentials (AccountSid:AuthToken).
    Account { account_sid: Sid },
    /// One of the account's API keys (SK…:secret): the same rights as the account here.
    ApiKey { account_sid: Sid, key_sid: Sid },
    /// A push device, by the JWT its factor's key signed: its own factor and challenges only.
    Device { account_sid: Sid, service_sid: Sid, identity: String, factor_sid: Sid },
    /// An app enrolling a factor with an access token: one factor creation only.
    Enrolment {
        account_sid: Sid,
        service_sid: Sid,
        identity: String,
        factor_type: FactorType,
        factor_friendly_name: Option<String>,
        token_sid: Sid,
    },
}

impl Principal {
    /// The account whose data this principal may reach; every store call filters by it.
    pub fn account_sid(&self) -> &Sid {
        match self {
            Principal::Account { account_sid }
            | Principal::ApiKey { account_sid, .. }
            | Principal::Device { account_sid, .. }
            | Principal::Enrolment { account_sid, .. } => account_sid,
        }
    }

    /// The account's own credentials or an API key: every operation is open to them.
    pub fn is_backend(&self) -> bool {
        matches!(self, Principal::Account { .. } | Principal::ApiKey { .. })
    }
}
