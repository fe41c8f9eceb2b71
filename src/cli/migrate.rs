//! `annal migrate --from <store> --to <store>`: the whole log into another, empty store (e.g.
//! from the embedded SQLite file to PostgreSQL), verbatim and verified at both ends.

use std::process::ExitCode;

use annal::store::StoreUrl;
use annal::transfer::{migrate, MigrateProgress};
use anyhow::Context;
use indicatif::ProgressBar;

/// Copy the event log into another, empty store, verbatim (same ids, positions, hashes).
///
/// Stop the servers writing to the source first: the copy ends at the head the source had when
/// it started. The source is verified before anything is written and the target after.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The store to copy from, e.g. `sqlite:data/annal.db`.
    #[arg(long)]
    pub from: StoreUrl,
    /// The empty store to copy into, e.g. `postgres://annal@db.example.com/annal`.
    #[arg(long)]
    pub to: StoreUrl,
}

struct Bars {
    source: ProgressBar,
    copy: ProgressBar,
    target: ProgressBar,
}

impl MigrateProgress for Bars {
    fn verifying_source(&mut self, events: u64) {
        self.source.set_position(events);
    }
    fn copying(&mut self, events: u64) {
        self.source.finish_and_clear();
        self.copy.set_position(events);
    }
    fn verifying_target(&mut self, events: u64) {
        self.copy.finish_and_clear();
        self.target.set_position(events);
    }
}

pub async fn run(global: &super::Global, args: MigrateArgs) -> anyhow::Result<ExitCode> {
    if let StoreUrl::Sqlite(path) = &args.from {
        // Opening a SQLite store creates the file: a mistyped source would migrate nothing.
        anyhow::ensure!(path.exists(), "the source {} does not exist", args.from);
    }
    let source = annal::store::open(&args.from)
        .await
        .with_context(|| format!("opening the source {}", args.from))?;
    let target = annal::store::open(&args.to)
        .await
        .with_context(|| format!("opening the target {}", args.to))?;
    let total = source.head().await?.position;
    let bar = |doing| super::progress::events_bar(total, doing, false);
    let mut bars = Bars {
        source: bar("verifying source"),
        copy: bar("copying"),
        target: bar("verifying target"),
    };
    let result = migrate(source.as_ref(), target.as_ref(), &mut bars).await;
    for b in [&bars.source, &bars.copy, &bars.target] {
        b.finish_and_clear();
    }
    let summary = result?;
    eprintln!(
        "migrated {summary} from {} to {}; both verify to the same head",
        args.from, args.to
    );
    eprintln!(
        "{}",
        super::events_import::read_models_note(&args.to, &global.data_dir).await?
    );
    Ok(ExitCode::SUCCESS)
}
