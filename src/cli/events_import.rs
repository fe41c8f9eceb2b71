//! `annal events import FILE`: an export into an empty store, verified whole first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use annal::readmodel::projector::persisted_position;
use annal::store::StoreUrl;
use annal::transfer::import_file;
use anyhow::Context;

#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// An NDJSON file written by `annal events export` (from position 1).
    pub file: PathBuf,
}

pub async fn run(global: &super::Global, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?
        .len();
    let store = global.open_or_create_store().await?;
    let checking = super::progress::bytes_bar(size, "verifying", false);
    let writing = super::progress::events_bar(0, "importing", false);
    let summary = import_file(
        store.as_ref(),
        &args.file,
        |bytes| checking.set_position(bytes),
        |n, total| {
            checking.finish_and_clear();
            writing.set_length(total);
            writing.set_position(n);
        },
    )
    .await;
    checking.finish_and_clear();
    writing.finish_and_clear();
    let summary = summary?;
    eprintln!("imported {summary}, the head the export ended with");
    eprintln!("{}", read_models_note(&global.store_url()?, &global.data_dir).await?);
    Ok(ExitCode::SUCCESS)
}

/// What happens to the read models of a store that was just filled: the server folds them from
/// the log when it starts, unless a stale set (from another log) sits where it looks for them.
pub async fn read_models_note(url: &StoreUrl, data_dir: &Path) -> anyhow::Result<String> {
    let db = annal::readmodel::open(url, data_dir).await?;
    Ok(match persisted_position(db.as_ref()).await? {
        None => "Read models: the server folds them from the log when it first starts on this store \
                 (or run `annal projections rebuild` now)."
            .into(),
        Some(position) => format!(
            "Read models: the ones beside this store were folded from another log (up to position \
             {position}): run `annal projections rebuild` before serving."
        ),
    })
}
