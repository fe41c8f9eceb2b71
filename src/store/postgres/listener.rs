//! LISTEN for commits made by other processes, so this process's subscriptions wake up.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Config, NoTls};

pub fn spawn(config: Config, channel: String, head_tx: watch::Sender<u64>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                result = listen(&config, &channel, &head_tx) => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "PostgreSQL LISTEN connection lost; reconnecting");
                    }
                }
                // Every store handle and subscription is gone: nobody needs the wake-ups.
                _ = head_tx.closed() => return,
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

async fn listen(config: &Config, channel: &str, head_tx: &watch::Sender<u64>) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (payloads, mut received) = mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                if payloads.send(n.payload().to_string()).is_err() {
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN \"{channel}\"")).await?;
    // Commits made before LISTEN took effect sent no notification we could see: read the head.
    let position: i64 = client
        .query_one("SELECT position FROM annal_head WHERE id = 1", &[])
        .await?
        .try_get(0)?;
    bump(head_tx, position as u64);
    while let Some(payload) = received.recv().await {
        if let Ok(position) = payload.parse::<u64>() {
            bump(head_tx, position);
        }
    }
    driver.abort();
    Ok(())
}

fn bump(head_tx: &watch::Sender<u64>, position: u64) {
    head_tx.send_if_modified(|h| (position > *h).then(|| *h = position).is_some());
}
