//! Who is calling. Every operation receives one and decides what it may do.

use verifyd_models::FactorType;
use verifyd_runtime::Sid;
use verifyd_runtime::server::Caller;
use verifyd_server::Role;

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

/// The spec's view of a principal: its kind, and the wire values it is bound to (the router
/// refuses a request that names others).
impl Caller for Principal {
    type Role = Role;

    fn role(&self) -> Role {
        match self {
            Principal::Account { .. } => Role::Account,
            Principal::ApiKey { .. } => Role::ApiKey,
            Principal::Device { .. } => Role::Device,
            Principal::Enrolment { .. } => Role::Enrolment,
        }
    }

    fn claim(&self, key: &str) -> Option<&str> {
        match (self, key) {
            (Principal::Device { service_sid, .. } | Principal::Enrolment { service_sid, .. }, "ServiceSid") => {
                Some(service_sid.as_str())
            }
            (Principal::Device { identity, .. } | Principal::Enrolment { identity, .. }, "Identity") => Some(identity),
            (Principal::Device { factor_sid, .. }, "FactorSid") => Some(factor_sid.as_str()),
            (Principal::Enrolment { factor_type, .. }, "FactorType") => Some(factor_type.as_str()),
            _ => None,
        }
    }
}
