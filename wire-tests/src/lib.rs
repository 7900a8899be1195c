//! No library: this crate holds the client ↔ server tests in `tests/`.
