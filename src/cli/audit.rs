//! `annal integrity verify|head` (the log's hash chain, on the store directly; `annal audit
//! verify|head` are the same commands under their first name) and `annal audit export` (the
//! command audit trail, through the admin API, see `audit_export`).

use std::process::ExitCode;

use annal::integrity::{verify, Checkpoint};

/// The log's integrity: its hash chain, checked on the store.
#[derive(Debug, clap::Subcommand)]
pub enum IntegrityCommand {
    /// Recompute the hash chain over the whole log. Exits 1 and names the first event that was
    /// modified, removed or reordered.
    Verify {
        /// A checkpoint exported earlier with `annal integrity head` (`<position>:<hash>`); also
        /// catches events removed from the end of the log.
        #[arg(long)]
        checkpoint: Option<Checkpoint>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the log's head (position and hash), to keep as a checkpoint outside the log.
    Head {
        #[arg(long)]
        json: bool,
    },
}

/// `annal audit …`: the integrity commands under their first name, and the audit trail export.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    #[command(flatten)]
    Integrity(IntegrityCommand),
    /// Export the command audit trail from a running server's admin API (CSV, NDJSON, JSON).
    Export(super::audit_export::ExportArgs),
}

pub async fn run(global: &super::Global, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        // Export talks to the server, not the store: it works from any machine.
        AuditCommand::Export(args) => super::audit_export::run(&global.data_dir, args).await,
        AuditCommand::Integrity(cmd) => run_integrity(global, cmd).await,
    }
}

pub async fn run_integrity(global: &super::Global, cmd: IntegrityCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        IntegrityCommand::Head { json } => {
            let store = global.open_store().await?;
            let head = store.head().await?;
            let hash = hex::encode(head.hash);
            if json {
                println!("{}", serde_json::json!({ "position": head.position, "hash": hash }));
            } else {
                println!("{}:{hash}", head.position);
            }
            Ok(ExitCode::SUCCESS)
        }
        IntegrityCommand::Verify { checkpoint, json } => {
            let store = global.open_store().await?;
            let total = store.head().await?.position;
            let bar = super::progress::events_bar(total, "verifying", json);
            let report = verify(store.as_ref(), checkpoint, |n| bar.set_position(n)).await?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if let Some(problem) = &report.first_problem {
                println!("FAILED after {} intact events: {problem}", report.events_checked);
            } else {
                println!(
                    "OK: {} events, chain intact; head {}:{}",
                    report.events_checked, report.head_position, report.head_hash
                );
            }
            Ok(if report.first_problem.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
