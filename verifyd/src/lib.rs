//! The verifyd server: configuration, start-up (keys, store, accounts), the HTTP app, and
//! serving with graceful shutdown. `main.rs` is the command line on top of it; the
//! end-to-end tests drive the same functions on 127.0.0.1:0 with a test clock.

pub mod app;
pub mod config;
pub mod start;

pub use app::{AppState, app, serve};
pub use start::{StartError, Started, open_core};
