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
    /// The head `annal events export` printed (`<position>:<hash>`): the file must end there.
    /// The file alone cannot show that it was cut short at the end of a line; this can, and
    /// then nothing is written.
    #[arg(long, value_name = "POSITION:HASH")]
    pub expect_head: Option<String>,
}

pub async fn run(global: &super::Global, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?
        .len();
    if let Some(expected) = &args.expect_head {
        let verified = annal::transfer::verify_file(&args.file, |_| {})?;
        anyhow::ensure!(
            verified.head_text().eq_ignore_ascii_case(expected.trim()),
            "{} ends at {} ({} events), not at the expected head {expected}: the file is not the \
             whole export (cut short, or another one); nothing was imported",
            args.file.display(),
            verified.head_text(),
            verified.events
        );
    }
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
    eprintln!("{}", describe(&summary, args.expect_head.is_some()));
    eprintln!("{}", read_models_note(&global.store_url()?, &global.data_dir).await?);
    Ok(ExitCode::SUCCESS)
}

/// The import's head, and how to know it is the whole export: a file cut at a line's end
/// verifies as a shorter log.
fn describe(summary: &annal::transfer::Summary, head_checked: bool) -> String {
    if head_checked {
        return format!("imported {summary}: the head the export printed");
    }
    format!(
        "imported {summary}\nCompare this head with the one `annal events export` printed (or `annal \
         integrity head` on the source): a file cut short at the end of a line imports as a shorter \
         log. `--expect-head` makes the import check it."
    )
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
