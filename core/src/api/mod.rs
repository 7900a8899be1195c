//! The generated server traits, implemented by the core: authentication here, each tag's
//! operations in the module of its resource.
//!
//! Who may call what is the spec's (`x-verifyd-access`), enforced by the generated router
//! before a method runs: the account and its API keys call everything; a device only its own
//! service, factor and challenges; an enrolment only the creation of its factor. What the
//! router cannot see from the request (which factor a challenge belongs to) the challenge
//! operations check.

use verifyd_runtime::Timestamp;
use verifyd_server::{Authenticate, Credentials, Role};

pub(crate) mod access_tokens;
pub mod accounts;
mod attempts;
mod challenges;
mod controls;
mod entities;
mod factors;
mod forms;
mod health;
pub mod master_keys;
mod messaging_configurations;
mod outbox;
mod passkeys;
mod push;
mod rate_limits;
pub mod recent;
mod safe_list;
mod services;
mod templates;
mod verifications;
pub(crate) mod webhooks;

use crate::store::Store;
use crate::{Core, CoreError, Principal};

/// A private value (a webhook's URL, a challenge's hidden details) sealed for `context`, as
/// the store keeps it.
pub(crate) fn seal_private(
    keys: &crate::keys::Keys,
    context: crate::keys::SealContext<'_>,
    plaintext: &str,
) -> crate::domain::private::Private {
    crate::domain::private::Private::Sealed(keys.seal(context, plaintext.as_bytes()))
}

/// A private value's plaintext: opened, or as a row of an older database kept it.
pub(crate) fn open_private(
    keys: &crate::keys::Keys,
    context: crate::keys::SealContext<'_>,
    value: &crate::domain::private::Private,
) -> Result<String, CoreError> {
    match value {
        crate::domain::private::Private::Sealed(sealed) => Ok(keys.open_text(context, sealed)?),
        crate::domain::private::Private::Plain(text) => Ok(text.clone()),
    }
}

impl<S: Store> Authenticate for Core<S> {
    type Principal = Principal;
    type Role = Role;
    type Error = CoreError;

    async fn authenticate(&self, credentials: Credentials) -> Result<Principal, CoreError> {
        self.authenticate_basic(&credentials.username, &credentials.password).await
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
