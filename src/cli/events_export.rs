//! `annal events export`: the log as NDJSON straight from the store (`--store`, `--data-dir`),
//! every envelope as stored, for backups and for `annal events import`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use annal::transfer::{export, Summary};
use anyhow::Context;

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Write to this file instead of stdout. It is written as `<FILE>.partial` and renamed
    /// when complete, so a file with the name is always a whole export.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// First global position to export (an export to import must start at 1).
    #[arg(long, default_value_t = 1)]
    pub from: u64,
}

pub async fn run(global: &super::Global, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store().await?;
    let total = store.head().await?.position.saturating_sub(args.from.max(1) - 1);
    let bar = super::progress::events_bar(total, "exporting", false);
    let summary = match &args.out {
        Some(path) => {
            let partial = partial_path(path);
            let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let summary = export(store.as_ref(), args.from, &mut out, &partial, |n| bar.set_position(n)).await?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            // Durable before it takes the final name: a backup that is not on disk is no backup.
            file.sync_all()?;
            std::fs::rename(&partial, path).with_context(|| format!("renaming {}", partial.display()))?;
            summary
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
            let summary = export(store.as_ref(), args.from, &mut out, Path::new("stdout"), |n| {
                bar.set_position(n)
            })
            .await?;
            out.flush()?;
            summary
        }
    };
    bar.finish_and_clear();
    eprintln!("{}", describe(&summary, &global.data_dir));
    Ok(ExitCode::SUCCESS)
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn describe(summary: &Summary, data_dir: &Path) -> String {
    if summary.events == 0 {
        return "exported 0 events: nothing at or after that position".into();
    }
    format!(
        "exported {summary}\n\
         Secrets are exported as the log stores them: sealed under the data key ({}). Keep that key \
         file with the export: a server on the imported log needs it to open them.",
        data_dir.join("secrets.key").display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partial_file_sits_beside_the_export() {
        assert_eq!(
            partial_path(Path::new("/backup/log.ndjson")),
            Path::new("/backup/log.ndjson.partial")
        );
    }
}
