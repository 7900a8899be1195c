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

use crate::domain::account::{Account, ApiKey};
use crate::kept::Kept;

/// What a request's secret is checked against.
pub enum Credential {
    Account(Account),
    ApiKey(ApiKey),
}

/// The credentials kept, by account or API key SID (see [`Kept`]).
pub type CredentialCache = Kept<Credential>;
