//! Real delivery (issue 16): verification messages carried by a provider (the gateway, Twilio,
//! SMTP) instead of the outbox, against stand-ins of those services (a real SMTP server for
//! e-mail). A start's first attempt is tried within the start's wait; what is still in flight
//! then is saved when it ends, and rounds (`deliver_sends`, run here by hand on the test clock)
//! retry with backoff until the verification expires. Decisions: "a delivery that fails".
//!
//! Nothing here measures time: outcomes are read from the stand-ins' records and the store,
//! and a call that must still be in flight when the wait ends is held by its stand-in until
//! the test releases it.

mod gateway;
mod messaging_configurations;
mod phone_numbers;
mod restart;
mod smtp;
pub mod stand_in;
mod twilio;

use verifyd_core::domain::sending::Attempt;
use verifyd_core::store::Store as _;
use verifyd_models::*;
use verifyd_runtime::Sid;

use crate::common::*;

/// The gateway's signing secret, spaces kept: it is used exactly as configured.
pub const GATEWAY_SECRET: &str = " a gateway secret, spaces kept ";

/// The settings that send SMS through the gateway at `url`, with `extra` added.
pub fn gateway_env(url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("VERIFYD_SMS_PROVIDER".to_owned(), "gateway".to_owned()),
        ("VERIFYD_GATEWAY_URL".to_owned(), url.to_owned()),
        ("VERIFYD_GATEWAY_SECRET".to_owned(), GATEWAY_SECRET.to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env
}

/// `env` as [`TestServer::start_with`] takes it.
pub fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

impl TestServer {
    /// A start, whatever it answers.
    pub async fn try_send(
        &self,
        service: &Sid,
        to: &str,
        channel: VerificationChannel,
    ) -> Result<Verification, verifyd_client::ClientError> {
        self.client.create_verification(&start(service, to, channel)).await
    }

    /// The send attempts of a verification, as the store keeps them.
    pub async fn attempts_of(&self, verification: &Sid) -> Vec<Attempt> {
        self.core.store().attempts_of(&self.account, verification).await.expect("read the attempts")
    }

    /// One send attempt, which must exist.
    pub async fn attempt(&self, sid: &Sid) -> Attempt {
        self.core.store().attempt(&self.account, sid).await.expect("read the attempt").expect("the attempt is kept")
    }

    /// One round of sends, which must not fail.
    pub async fn round(&self) -> verifyd_core::background::SendRound {
        self.core.deliver_sends().await.expect("a round of sends")
    }
}

/// The SID of a verification's `n`th send attempt, as the API answered it.
pub fn attempt_sid(v: &Verification, n: usize) -> Sid {
    v.send_code_attempts.as_ref().expect("send_code_attempts")[n].attempt_sid.clone()
}
