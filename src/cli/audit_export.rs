//! `annal audit export`: the command audit trail (who queued what, for which device, why, and
//! what the device answered) from the admin API, as CSV, NDJSON or a JSON array.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use http_body_util::BodyExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::client::{Api, ApiArgs, ApiRequest};
use super::query::{parse_time, time_param, with_query, Time};

/// Export the audit trail: one entry per command and device (enrollment, udid, serial number,
/// command_uuid, request type and class, requester, reason, queued/pushed/delivered/result
/// times, status, error chain, the device's raw answer unless it was sealed, and the log
/// position of the result). Writes to stdout, or to --output with a progress bar; a file is
/// written under a `.partial` name and renamed only when complete.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// csv (a spreadsheet), ndjson (one JSON entry per line) or json (one array).
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    #[command(flatten)]
    pub filters: AuditFilters,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Ndjson,
    Json,
}

impl ExportFormat {
    fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Json => "json",
        }
    }
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuditFilters {
    /// Only this RequestType (e.g. EraseDevice).
    #[arg(long)]
    pub request_type: Option<String>,
    /// Only commands queued by this actor (e.g. api-key:helpdesk).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this device (enrollment id, UDID or serial number).
    #[arg(long)]
    pub device: Option<String>,
    /// Only commands queued at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<Time>,
    /// Only commands queued before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<Time>,
}

/// The export request; `after` pages the JSON format (CSV and NDJSON come whole).
pub fn export_request(filters: &AuditFilters, format: ExportFormat, after: Option<&str>) -> ApiRequest {
    ApiRequest::get(with_query(
        "/v1/audit",
        &[
            ("request_type", filters.request_type.clone()),
            ("actor", filters.actor.clone()),
            ("device", filters.device.clone()),
            ("since", time_param(filters.since.as_ref())),
            ("until", time_param(filters.until.as_ref())),
            ("after", after.map(str::to_string)),
            ("format", Some(format.as_str().to_string())),
        ],
    ))
}

/// Where a file is written until the export is complete.
pub fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    output.with_file_name(name)
}

/// `entries` and `next` of one JSON page.
pub fn json_page(page: &Value) -> (Vec<Value>, Option<String>) {
    let entries = page
        .get("entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let next = page
        .get("next")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    (entries, next)
}

pub async fn run(data_dir: &Path, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(data_dir, &args.api)?;
    let Some(output) = &args.output else {
        let mut out = std::io::stdout().lock();
        return match export(&api, &args, &mut out, &ProgressBar::hidden()).await {
            // The reader went away (`| head`): not a failure of the export.
            Err(e) if e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) == Some(ErrorKind::BrokenPipe) => {
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e),
            Ok(()) => Ok(ExitCode::SUCCESS),
        };
    };
    let partial = partial_path(output);
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} exporting: {bytes} ({bytes_per_sec}), {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_draw_target(ProgressDrawTarget::stderr());
    let result = async {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        export(&api, &args, &mut file, &bar).await?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&partial, output)?;
        anyhow::Ok(())
    }
    .await;
    bar.finish_and_clear();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    eprintln!(
        "exported the audit trail to {} ({} bytes)",
        output.display(),
        bar.position()
    );
    Ok(ExitCode::SUCCESS)
}

/// Copies the export to `out`, advancing `bar` by the bytes written.
async fn export(api: &Api, args: &ExportArgs, out: &mut impl Write, bar: &ProgressBar) -> anyhow::Result<()> {
    if args.format != ExportFormat::Json {
        let mut body = api
            .send(&export_request(&args.filters, args.format, None))
            .await?
            .into_body();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                out.write_all(&data)?;
                bar.inc(data.len() as u64);
            }
        }
        out.flush()?;
        return Ok(());
    }
    // JSON comes in pages; written out as one array, an entry a line, as they arrive.
    let mut after: Option<String> = None;
    let mut first = true;
    out.write_all(b"[")?;
    loop {
        let (_, page) = api
            .json(&export_request(&args.filters, args.format, after.as_deref()))
            .await?;
        let (entries, next) = json_page(&page);
        for entry in entries {
            let line = format!("{}\n{}", if first { "" } else { "," }, entry);
            out.write_all(line.as_bytes())?;
            bar.inc(line.len() as u64);
            first = false;
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    out.write_all(b"\n]\n")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use serde_json::json;

    fn parse(args: &[&str]) -> ExportArgs {
        let cli = Cli::try_parse_from(["annal", "audit", "export"].into_iter().chain(args.iter().copied())).unwrap();
        match cli.command {
            Command::Audit(super::super::audit::AuditCommand::Export(e)) => e,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn filters_and_format_map_to_the_audit_query() {
        let a = parse(&[
            "--format",
            "ndjson",
            "--request-type",
            "EraseDevice",
            "--actor",
            "api-key:help desk",
            "--since",
            "2024-01-01T00:00:00Z",
            "-o",
            "/tmp/x.ndjson",
        ]);
        assert_eq!(
            export_request(&a.filters, a.format, None).path,
            "/v1/audit?request_type=EraseDevice&actor=api-key%3Ahelp%20desk&since=2024-01-01T00%3A00%3A00Z&format=ndjson"
        );
        assert_eq!(a.output.as_deref(), Some(Path::new("/tmp/x.ndjson")));
        let a = parse(&["--device", "C02XYZ"]);
        assert_eq!(a.format, ExportFormat::Csv, "csv by default");
        assert_eq!(
            export_request(&a.filters, ExportFormat::Json, Some("p2")).path,
            "/v1/audit?device=C02XYZ&after=p2&format=json"
        );
    }

    #[test]
    fn files_are_written_beside_their_final_name() {
        assert_eq!(
            partial_path(Path::new("/a/audit.csv")),
            Path::new("/a/audit.csv.partial")
        );
        assert_eq!(partial_path(Path::new("audit")), Path::new("audit.partial"));
    }

    #[test]
    fn json_pages_yield_entries_and_the_next_key() {
        let (entries, next) = json_page(&json!({"entries": [{"a": 1}, {"a": 2}], "next": "k"}));
        assert_eq!(entries.len(), 2);
        assert_eq!(next.as_deref(), Some("k"));
        assert_eq!(json_page(&json!({"entries": [], "next": null})).1, None);
    }
}
