//! The log's outbound streams: webhooks and the NATS sink, each from its own checkpoint.

use std::sync::Arc;

use crate::config::ServerConfig;
use crate::readmodel::ReadModelDb;
use crate::secrets::DataKey;
use crate::store::EventStore;
use crate::stream::sink::SinkHandle;

use super::ServerError;

#[derive(Default)]
pub struct Sinks {
    webhook: Option<SinkHandle>,
    nats: Option<SinkHandle>,
}

impl Sinks {
    pub fn start(
        config: &ServerConfig,
        store: &Arc<dyn EventStore>,
        readmodels: &Arc<dyn ReadModelDb>,
        data_key: &Arc<DataKey>,
    ) -> Result<Self, ServerError> {
        let webhook = match config.webhook.config()? {
            Some(webhook) => Some(
                crate::stream::webhook::spawn(store.clone(), readmodels.clone(), data_key.clone(), webhook)
                    .map_err(ServerError::Webhook)?,
            ),
            None => None,
        };
        let nats = match config.nats.config()? {
            Some(nats) => {
                Some(crate::stream::nats::spawn(store.clone(), readmodels.clone(), nats).map_err(ServerError::Nats)?)
            }
            None => None,
        };
        Ok(Self { webhook, nats })
    }

    /// Finishes what each has in flight and saves its checkpoint.
    pub async fn shutdown(self) {
        if let Some(webhook) = self.webhook {
            // Finishes the delivery in flight and saves the checkpoint.
            webhook.shutdown().await;
        }
        if let Some(nats) = self.nats {
            // Waits for the publish in flight to be acknowledged and saves the checkpoint.
            nats.shutdown().await;
        }
    }
}
