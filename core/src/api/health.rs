//! Readiness: whether the store answers, for `/readyz`.

use crate::store::Store;
use crate::{Core, CoreError};

impl<S: Store> Core<S> {
    /// Ok when the store commits a write and answers a read; the cause of a failure goes to the
    /// log, the caller learns only that the service is unavailable.
    pub async fn ready(&self) -> Result<(), CoreError> {
        self.store.probe().await.map_err(|error| {
            tracing::warn!(%error, "not ready: the store does not answer");
            CoreError::Unavailable
        })
    }
}
