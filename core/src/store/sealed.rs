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
    /// A webhook's target URL.
    WebhookUrl,
    /// A challenge's hidden details.
    HiddenDetails,
    /// A queued send attempt's message and code.
    AttemptPayload,
    /// An API key's secret digest: listed only; it cannot be re-made without the secret,
    /// so it is re-made when the key is next used.
    ApiKeyDigest,
}

impl SealedKind {
    pub const ALL: [SealedKind; 11] = [
        SealedKind::AuthToken,
        SealedKind::Code,
        SealedKind::TotpSecret,
        SealedKind::MessageBody,
        SealedKind::MessageCode,
        SealedKind::AccessToken,
        SealedKind::WebhookDelivery,
        SealedKind::WebhookUrl,
        SealedKind::HiddenDetails,
        SealedKind::AttemptPayload,
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
            SealedKind::WebhookUrl => "webhook URLs",
            SealedKind::HiddenDetails => "challenges' hidden details",
            SealedKind::AttemptPayload => "queued send attempts",
            SealedKind::ApiKeyDigest => "API key digests",
        }
    }
}

/// One stored value of a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub sid: Sid,
    /// The sealed bytes; for a `plain` value, its plaintext.
    pub value: Vec<u8>,
    /// A value a row of an older database keeps in plaintext, from before its kind was sealed
    /// ([`Private::Plain`](crate::domain::private::Private)): a re-seal seals it (its `old` is
    /// this plaintext), so that no plaintext is left once a rotation is done. Only
    /// [`SealedKind::WebhookUrl`] and [`SealedKind::HiddenDetails`] have such rows; a store that
    /// never held them (PostgreSQL) lists none.
    pub plain: bool,
}

/// A replacement: `new` (and for auth tokens and codes, the digest made under the same key)
/// where the row still holds `old` (sealed, or for a `plain` value, in plaintext: the row then
/// keeps `new` sealed and its plaintext no more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resealed {
    pub sid: Sid,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
    pub digest: Option<Vec<u8>>,
}
