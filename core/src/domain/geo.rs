//! Geo permissions: per account and phone channel, the countries verifications may be sent
//! to. A row names a country (or `all`, every country without a row of its own) as allowed
//! or denied; with no row, every country is allowed. Managed from the command line.

/// The channels geo permissions apply to (e-mail has no country).
pub const CHANNELS: [&str; 3] = ["sms", "call", "whatsapp"];

/// One row of an account's geo permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoPermission {
    /// `sms`, `call` or `whatsapp`.
    pub channel: String,
    /// ISO 3166-1 alpha-2 in capitals, or `all`.
    pub country: String,
    pub allowed: bool,
}
