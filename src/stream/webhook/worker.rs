//! The webhook sink: turns each event into a webhook and delivers it, retrying until the
//! receiver accepts. The checkpointed subscription around it is `stream::sink`.

use annal_schemas::RecordedEvent;
use tokio::sync::watch;

use super::deliver::{Deliverer, EventLabel, Outcome};
use super::format::{format, FormatOptions};
use crate::backoff::Backoff;
use crate::secrets::DataKey;
use crate::stream::retry::{millis, until_ok};
use crate::stream::sink::{Sink, Step};
use std::sync::Arc;

pub(super) struct WebhookSink {
    pub data_key: Arc<DataKey>,
    pub deliverer: Deliverer,
    pub options: FormatOptions,
    pub backoff: Backoff,
}

impl Sink for WebhookSink {
    const KIND: &'static str = "webhook";

    fn target(&self) -> String {
        self.deliverer.host().to_string()
    }

    /// Formats and delivers one event; events that are not webhooks are done at once.
    async fn deliver(&self, event: &RecordedEvent, stop: &mut watch::Receiver<bool>) -> Step {
        let (id, position) = (event.event_id, event.global_position);
        let formatted = until_ok(
            self.backoff,
            stop,
            || std::future::ready(format(event, &self.data_key, self.options)),
            |attempt, wait, e| {
                // Formatting is deterministic, so this only clears with a newer Annal; the
                // event is still not skipped.
                tracing::error!(%id, position, event_type = %event.event_type, attempt, wait_ms = millis(wait),
                    error = %e, "cannot build the webhook for this event; retrying");
            },
        )
        .await;
        let hook = match formatted {
            None => return Step::Stopped,
            Some(None) => return Step::Done,
            Some(Some(hook)) => hook,
        };
        if let Some(reason) = &hook.raw_withheld {
            tracing::error!(%id, position, topic = hook.topic, error = %reason,
                "raw payload withheld: it could not be checked for secrets");
        }
        let label = EventLabel {
            event_id: id,
            position,
            topic: hook.topic,
        };
        match self
            .deliverer
            .post_until_accepted(&hook.body, &label, self.backoff, stop)
            .await
        {
            Outcome::Accepted { attempts } => {
                tracing::debug!(%id, position, topic = hook.topic, attempts, "webhook delivered");
                Step::Done
            }
            Outcome::Stopped => Step::Stopped,
        }
    }
}
