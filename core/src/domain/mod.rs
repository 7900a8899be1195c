//! The rules of Verify as values and pure transitions: no I/O, no clock of their own (the
//! time is passed in), no keys (a caller that needs a code compared or a secret opened does
//! that and passes the answer in). The store keeps these values; the API layer loads them
//! through the store, applies a transition from here, and hands back what to save.
//!
//! A new rule goes here, with a unit test that needs no database.

pub mod access_token;
pub mod account;
pub mod challenge;
pub mod factor;
pub mod fraud;
pub mod geo;
pub mod guessing;
pub mod keyring;
pub mod messaging;
pub mod outbox;
pub mod passkey;
pub mod phone;
pub mod private;
pub mod rate_limit;
pub mod safe_list;
pub mod sending;
pub mod service;
pub mod template;
pub mod verification;
pub mod webhook;

/// Seconds in a day, for the daily limits.
pub const DAY: i64 = 86_400;
