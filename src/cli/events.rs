//! `annal events tail`: the event log as NDJSON on stdout, for analytics pipelines and `jq`.
//! (`export` and `import`, which work on the store itself, are in `events_export`/`events_import`.)
//! Without --follow it reads from a position to the end of the log (`GET /v1/events`, paged);
//! with --follow it stays connected (`GET /v1/events/stream`, Server-Sent Events) and resumes
//! with `Last-Event-ID` after a dropped connection, so no event is printed twice or skipped.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use http_body_util::BodyExt;
use serde::Deserialize;

use super::client::{Api, ApiArgs, ApiRequest, ClientError};
use super::query::with_query;
use super::sse::{LineBuffer, SseParser};

/// Retries of one page before a bulk read gives up.
const BULK_RETRIES: u32 = 5;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The event log as NDJSON: tail it (admin API), export or import it (on the store).
///
/// For analytics pipelines and jq: one JSON event a line, in log order.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// Print events as NDJSON (one JSON event per line: global_position, event_type, actor,
    /// data, hash, …). Reads to the end of the log and exits, or with --follow keeps printing
    /// new events as they are recorded, reconnecting after a dropped connection.
    Tail(TailArgs),
    /// Write every envelope of the log, as stored (data, raw as base64, hash; secrets stay
    /// sealed), as NDJSON in global order, straight from the store (`--store`, `--data-dir`).
    Export(super::events_export::ExportArgs),
    /// Load an export into an EMPTY store, verbatim (same ids, positions, hashes). The whole
    /// file's hash chain is verified first; a broken one is refused, naming the first bad event,
    /// and nothing is written.
    Import(super::events_import::ImportArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct TailArgs {
    /// First global position to print.
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// Only these event types (comma-separated or repeated), e.g. CommandQueued,CommandErrored.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// Keep the connection open and print new events as they are recorded.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Stop after printing this many events.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Include each event's original device plist as `raw` (never a sealed one).
    #[arg(long)]
    pub include_raw: bool,
}

/// A bulk page. The type filter is applied here, not by the server: a page the server
/// filtered to nothing could not be told apart from the end of the log.
pub fn bulk_request(from: u64, include_raw: bool) -> ApiRequest {
    ApiRequest::get(with_query(
        "/v1/events",
        &[
            ("from", Some(from.to_string())),
            ("include_raw", include_raw.then(|| "true".to_string())),
        ],
    ))
}

/// The SSE request; after a dropped connection `resume_after` is the last position printed.
pub fn stream_request(args: &TailArgs, resume_after: Option<u64>) -> ApiRequest {
    let types = (!args.types.is_empty()).then(|| args.types.join(","));
    let req = ApiRequest::get(with_query(
        "/v1/events/stream",
        &[
            ("from", Some(args.from.to_string())),
            ("types", types),
            ("include_raw", args.include_raw.then(|| "true".to_string())),
        ],
    ))
    .header("Accept", "text/event-stream".into());
    match resume_after {
        Some(p) => req.header("Last-Event-ID", p.to_string()),
        None => req,
    }
}

pub fn keeps(types: &[String], event_type: &str) -> bool {
    types.is_empty() || types.iter().any(|t| t == event_type)
}

/// How `--follow` waits after losing the server: from 1 s, doubling up to [`MAX_BACKOFF`].
const RETRY: annal::backoff::Backoff = annal::backoff::Backoff::new(Duration::from_secs(1), MAX_BACKOFF);

/// Doubles the wait up to [`MAX_BACKOFF`].
pub fn backoff(previous: Duration) -> Duration {
    RETRY.next(previous)
}

#[derive(Deserialize)]
struct Head {
    global_position: u64,
    event_type: String,
}

/// stdout closed by the reader (`| head`) ends the command quietly.
enum Stop {
    Closed,
    Failed(anyhow::Error),
}

macro_rules! stop_from {
    ($($t:ty),+) => {
        $(impl From<$t> for Stop {
            fn from(e: $t) -> Self {
                Stop::Failed(e.into())
            }
        })+
    };
}
stop_from!(std::io::Error, serde_json::Error, ClientError);

fn write_line(out: &mut impl Write, line: &[u8]) -> Result<(), Stop> {
    let written = out.write_all(line).and_then(|_| out.write_all(b"\n"));
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Stop::Closed),
        other => Ok(other?),
    }
}

pub async fn run(global: &super::Global, args: EventsArgs) -> anyhow::Result<ExitCode> {
    let tail = match args.command {
        EventsCommand::Tail(tail) => tail,
        EventsCommand::Export(export) => return super::events_export::run(global, export).await,
        EventsCommand::Import(import) => return super::events_import::run(global, import).await,
    };
    let api = Api::connect(&global.data_dir, &args.api)?;
    let mut out = std::io::stdout().lock();
    let result = if tail.follow {
        follow(&api, &tail, &mut out).await
    } else {
        bulk(&api, &tail, &mut out).await
    };
    match result {
        Ok(()) | Err(Stop::Closed) => Ok(ExitCode::SUCCESS),
        Err(Stop::Failed(e)) => Err(e),
    }
}

async fn bulk(api: &Api, args: &TailArgs, out: &mut impl Write) -> Result<(), Stop> {
    let mut next = args.from.max(1);
    let mut printed = 0u64;
    let mut failures = 0u32;
    let mut wait = RETRY.initial;
    loop {
        let mut lines = LineBuffer::default();
        let mut seen = 0usize;
        let mut dropped: Option<String> = None;
        match api.send(&bulk_request(next, args.include_raw)).await {
            Ok(response) => {
                let mut body = response.into_body();
                while let Some(frame) = body.frame().await {
                    let chunk = match frame {
                        Ok(f) => f.into_data().unwrap_or_default(),
                        Err(e) => {
                            dropped = Some(e.to_string());
                            break;
                        }
                    };
                    for line in lines.push(&chunk) {
                        let head: Head = serde_json::from_slice(&line)?;
                        seen += 1;
                        next = head.global_position + 1;
                        if keeps(&args.types, &head.event_type) {
                            write_line(out, &line)?;
                            printed += 1;
                            if args.limit.is_some_and(|l| printed >= l) {
                                return Ok(out.flush()?);
                            }
                        }
                    }
                }
                out.flush()?;
            }
            Err(e) if e.is_transient() => dropped = Some(e.to_string()),
            Err(e) => return Err(e.into()),
        }
        match dropped {
            // A page with no events: the end of the log.
            None if seen == 0 => return Ok(()),
            None => failures = 0,
            Some(why) => {
                failures += 1;
                if failures > BULK_RETRIES {
                    return Err(Stop::Failed(anyhow::anyhow!("reading events from {next}: {why}")));
                }
                eprintln!(
                    "annal: reading events from {next}: {why}; retrying in {} s",
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
                wait = backoff(wait);
            }
        }
    }
}

async fn follow(api: &Api, args: &TailArgs, out: &mut impl Write) -> Result<(), Stop> {
    let mut last: Option<u64> = None;
    let mut printed = 0u64;
    let mut wait = RETRY.initial;
    loop {
        let why = match api.send(&stream_request(args, last)).await {
            Ok(response) => {
                let mut parser = SseParser::default();
                let mut body = response.into_body();
                loop {
                    let chunk = match body.frame().await {
                        None => break "the server closed the stream".to_string(),
                        Some(Err(e)) => break e.to_string(),
                        Some(Ok(f)) => f.into_data().unwrap_or_default(),
                    };
                    for frame in parser.push(&chunk) {
                        if frame.event == "error" {
                            eprintln!("annal: the server reported: {}", frame.data);
                            continue;
                        }
                        write_line(out, frame.data.as_bytes())?;
                        out.flush()?;
                        if let Some(id) = frame.id.and_then(|i| i.parse().ok()) {
                            last = Some(id);
                        }
                        wait = RETRY.initial;
                        printed += 1;
                        if args.limit.is_some_and(|l| printed >= l) {
                            return Ok(());
                        }
                    }
                }
            }
            Err(e) if e.is_transient() => e.to_string(),
            Err(e) => return Err(e.into()),
        };
        let resume = last.map_or(format!("from {}", args.from), |p| format!("after {p}"));
        eprintln!("annal: {why}; resuming {resume} in {} s", wait.as_secs());
        tokio::time::sleep(wait).await;
        wait = backoff(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn tail(args: &[&str]) -> TailArgs {
        let cli = Cli::try_parse_from(["annal", "events", "tail"].into_iter().chain(args.iter().copied())).unwrap();
        let Command::Events(e) = cli.command else { panic!() };
        let EventsCommand::Tail(t) = e.command else { panic!() };
        t
    }

    #[test]
    fn bulk_pages_start_at_the_next_position_and_leave_filtering_to_the_client() {
        let t = tail(&[
            "--from",
            "5",
            "--types",
            "CommandQueued,CommandErrored",
            "--include-raw",
        ]);
        assert_eq!(t.types, ["CommandQueued", "CommandErrored"]);
        assert_eq!(
            bulk_request(t.from, t.include_raw).path,
            "/v1/events?from=5&include_raw=true"
        );
        assert!(keeps(&t.types, "CommandErrored"));
        assert!(!keeps(&t.types, "Idle"));
        assert!(keeps(&[], "Idle"));
    }

    #[test]
    fn the_stream_resumes_with_last_event_id() {
        let t = tail(&["--follow", "--types", "Idle", "--types", "CheckOut"]);
        let first = stream_request(&t, None);
        assert_eq!(first.path, "/v1/events/stream?from=1&types=Idle%2CCheckOut");
        assert_eq!(first.headers, vec![("Accept", "text/event-stream".to_string())]);
        let again = stream_request(&t, Some(41));
        assert!(again.headers.contains(&("Last-Event-ID", "41".to_string())));
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(Duration::from_secs(1)), Duration::from_secs(2));
        assert_eq!(backoff(Duration::from_secs(20)), MAX_BACKOFF);
    }

    #[test]
    fn a_closed_stdout_stops_quietly() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        assert!(matches!(write_line(&mut Closed, b"x"), Err(Stop::Closed)));
        let mut buf = Vec::new();
        assert!(write_line(&mut buf, b"{}").is_ok());
        assert_eq!(buf, b"{}\n");
    }
}
