//! Private values kept in rows that are otherwise in the open: a webhook's target URL (it may
//! carry credentials) and a challenge's hidden details. Core seals them before a store sees
//! them and opens them where they are shown or sent (the API's responses, a delivery's form);
//! the domain holds no key, so a rule that needs one is handed it opened (see
//! [`webhook::deliveries`](super::webhook::deliveries)).

/// A private value as a store keeps it.
#[derive(Clone, PartialEq, Eq)]
pub enum Private {
    /// Sealed by core under the SID of its row (`SealContext::WebhookUrl`, `HiddenDetails`).
    Sealed(Vec<u8>),
    /// Kept in plaintext by a verifyd from before these values were sealed; never written now.
    /// An older database may still hold such rows: core reads them as they are, and a
    /// master-key re-seal (`verifyd keys rotate-master`) seals them (the store lists them as
    /// `SealedValue { plain: true, .. }`). A hidden details' plaintext is its JSON.
    Plain(String),
}

impl std::fmt::Debug for Private {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sealed(sealed) => write!(f, "Sealed({} bytes)", sealed.len()),
            Self::Plain(_) => f.write_str("Plain(..)"),
        }
    }
}
