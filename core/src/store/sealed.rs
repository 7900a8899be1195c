//! Sealed values and secret digests as a master-key rotation walks them: the store lists
//! them kind by kind and replaces one only while it still holds what was read, so a value
//! the server changed meanwhile is left to the server.

use verifyd_runtime::Sid;

/// Where a sealed value (or a digest made with a master key) is kept. Each is named by the SID
/// of its row, which is also its sealing context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealedKind {
    /// An account's auth token, with its digest.
    AuthToken,
    /// A pending verification's code (kept for re-sends), with the code's digest.
    Code,
    /// A TOTP factor's secret.
    TotpSecret,
    /// An outbox message's text.
    MessageBody,
    /// The code an outbox message carries.
    MessageCode,
    /// An enrolment access token.
    AccessToken,
    /// A webhook delivery's target URL and form.
    WebhookDelivery,
    /// An API key's secret digest: listed only; it cannot be re-made without the secret,
    /// so it is re-made when the key is next used.
    ApiKeyDigest,
}

impl SealedKind {
    pub const ALL: [SealedKind; 8] = [
        SealedKind::AuthToken,
        SealedKind::Code,
        SealedKind::TotpSecret,
        SealedKind::MessageBody,
        SealedKind::MessageCode,
        SealedKind::AccessToken,
        SealedKind::WebhookDelivery,
        SealedKind::ApiKeyDigest,
    ];

    /// For reports.
    pub fn describe(self) -> &'static str {
        match self {
            SealedKind::AuthToken => "auth tokens",
            SealedKind::Code => "codes of pending verifications",
            SealedKind::TotpSecret => "TOTP secrets",
            SealedKind::MessageBody => "outbox messages",
            SealedKind::MessageCode => "outbox codes",
            SealedKind::AccessToken => "access tokens",
            SealedKind::WebhookDelivery => "webhook deliveries",
            SealedKind::ApiKeyDigest => "API key digests",
        }
    }
}

/// One stored value of a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub sid: Sid,
    pub value: Vec<u8>,
}

/// A replacement: `new` (and for auth tokens and codes, the digest made under the same key)
/// where the row still holds `old`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resealed {
    pub sid: Sid,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
    pub digest: Option<Vec<u8>>,
}
