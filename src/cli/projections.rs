//! `annal projections rebuild | status`: the read models (inventory, command status, audit
//! trail, push health) are folds of the log; a rebuild refolds them from position 0.

use std::process::ExitCode;

use annal::readmodel::projector::{persisted_position, rebuild};

#[derive(Debug, clap::Subcommand)]
pub enum ProjectionsCommand {
    /// Refold every read model from the whole log and replace the stored ones. Stop the
    /// servers that use this store first: only one process writes the read models, and the
    /// rebuild refuses to start while a server holds them.
    Rebuild {
        #[arg(long)]
        json: bool,
    },
    /// Show the read models' checkpoint against the log's head.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(global: &super::Global, cmd: ProjectionsCommand) -> anyhow::Result<ExitCode> {
    let url = global.store_url()?;
    let store = global.open_store().await?;
    let db = annal::readmodel::open(&url, &global.data_dir).await?;
    let head = store.head().await?.position;
    match cmd {
        ProjectionsCommand::Rebuild { json } => {
            let bar = super::progress::events_bar(head, "folding", json);
            let report = rebuild(store, db.as_ref(), |n| bar.set_position(n)).await?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let rate = report.events as f64 / report.read_and_fold_seconds.max(1e-9);
                println!(
                    "rebuilt {} documents from {} events in {:.2} s ({rate:.0} events/s) + {:.2} s writing",
                    report.documents, report.events, report.read_and_fold_seconds, report.write_seconds
                );
            }
        }
        ProjectionsCommand::Status { json } => {
            let checkpoint = persisted_position(db.as_ref()).await?.unwrap_or(0);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"checkpoint": checkpoint, "head": head, "lag": head.saturating_sub(checkpoint)})
                );
            } else {
                println!(
                    "read models at position {checkpoint} of {head} ({} behind)",
                    head.saturating_sub(checkpoint)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
