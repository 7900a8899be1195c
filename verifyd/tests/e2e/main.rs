//! End-to-end tests: a verifyd on 127.0.0.1:0 with a fresh database and a test clock,
//! driven through the generated client (and, where the wire itself is the subject, raw HTTP).
//! One binary, one module per area; they assert through the API or the store trait only.

mod common;
mod device;
mod receiver;
mod transport;

mod access;
mod attacks;
mod attempts;
mod background;
mod bad_input;
mod challenges;
mod cli;
mod concurrency;
mod console;
mod crash;
mod credentials;
mod delivery;
mod entities;
mod faults;
mod fraud;
mod guessing;
mod instances;
mod logs;
mod maintenance;
mod messages;
mod metrics;
mod migrate;
mod observe;
mod passkeys;
mod passkeys_page;
mod push;
mod push_bad_input;
mod push_rejections;
mod rate_limits;
mod rotation;
mod safe_list;
mod secrets;
mod services;
mod services_kept;
mod smoke;
mod sna;
mod storage;
mod template_choice;
mod templates;
mod tenancy;
mod totp;
mod upgrade;
mod verifications;
mod webhooks;
