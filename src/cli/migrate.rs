//! `annal migrate --from <store> --to <store>`: the whole log into another, empty store (e.g.
//! from the embedded SQLite file to PostgreSQL), verbatim and verified at both ends.
//! `annal migrate from-nanomdm`: another server's state into the log (migrate/nanomdm.rs).

mod nanomdm;

use std::process::ExitCode;

use annal::store::StoreUrl;
use annal::transfer::{migrate, MigrateProgress};
use anyhow::Context;
use indicatif::ProgressBar;

/// Copy the event log into another, empty store, verbatim (same ids, positions, hashes).
///
/// Stop the servers writing to the source first: the copy ends at the head the source had when
/// it started. The source is verified before anything is written and the target after.
///
/// `annal migrate from-nanomdm` imports a NanoMDM deployment instead (see its --help).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct MigrateArgs {
    /// The store to copy from, e.g. `sqlite:data/annal.db`.
    #[arg(long, required = true)]
    pub from: Option<StoreUrl>,
    /// The empty store to copy into, e.g. `postgres://annal@db.example.com/annal`.
    #[arg(long, required = true)]
    pub to: Option<StoreUrl>,
    #[command(subcommand)]
    pub source: Option<MigrateSource>,
}

#[derive(Debug, clap::Subcommand)]
pub enum MigrateSource {
    FromNanomdm(nanomdm::FromNanoMdmArgs),
}

/// The two stores of a log copy.
struct LogCopy {
    from: StoreUrl,
    to: StoreUrl,
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
    let (from, to) = match args {
        MigrateArgs {
            source: Some(MigrateSource::FromNanomdm(nano)),
            ..
        } => return nanomdm::run(global, nano).await,
        MigrateArgs {
            from: Some(from),
            to: Some(to),
            ..
        } => (from, to),
        // clap requires both without a subcommand.
        _ => anyhow::bail!("give --from and --to, or a subcommand (from-nanomdm)"),
    };
    let args = LogCopy { from, to };
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
