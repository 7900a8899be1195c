//! The outbox as developers read it: messages opened with the master key.

use verifyd_runtime::Sid;

use crate::domain::outbox::{OutboxMessage, SealedMessage};
use crate::keys::SealContext;
use crate::store::Store;
use crate::{Core, CoreError};

impl<S: Store> Core<S> {
    fn open_message(&self, m: SealedMessage) -> Result<OutboxMessage, CoreError> {
        Ok(OutboxMessage {
            body: self.keys.open_text(SealContext::MessageBody(&m.sid), &m.body_sealed)?,
            code: m.code_sealed.map(|c| self.keys.open_text(SealContext::MessageCode(&m.sid), &c)).transpose()?,
            sid: m.sid,
            account_sid: m.account_sid,
            service_sid: m.service_sid,
            verification_sid: m.verification_sid,
            to: m.to,
            channel: m.channel,
            locale: m.locale,
            date_created: m.date_created,
        })
    }

    /// The newest outbox messages of an account (or of all accounts), for developers.
    pub async fn outbox(&self, account: Option<&Sid>, limit: u32) -> Result<Vec<OutboxMessage>, CoreError> {
        self.store.outbox(account, limit).await?.into_iter().map(|m| self.open_message(m)).collect()
    }
}
