//! `annal history <id>`: every event of one enrollment, oldest first, from the admin API.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value};

use super::client::{Api, ApiArgs, ApiRequest};
use super::query::{encode, with_query, AsOf};
use super::table;

/// One device's event history from the admin API, oldest first.
///
/// Everything the log recorded for one enrollment: check-ins, commands queued, delivered and
/// answered, pushes, identity changes. Table columns: POS (global log position), TIME, EVENT,
/// ACTOR (device, api-key:<name>, cli:<person>@<host>) and a summary of the event's data.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The device's key (enrollment id or UDID).
    pub id: String,
    /// Events per page (the server caps it at 1000).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Start after this stream version (the `next` of a previous page).
    #[arg(long)]
    pub after: Option<u64>,
    /// Follow `next` through every page.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub as_of: AsOf,
    /// Include the device's original plist as `raw` in --json output (never a sealed one,
    /// i.e. never one that carried a secret).
    #[arg(long)]
    pub include_raw: bool,
    /// Print JSON (`{"enrollment", "events", "next"}`; with --all, every page in one document).
    #[arg(long)]
    pub json: bool,
}

pub fn history_request(args: &HistoryArgs, after: Option<u64>) -> ApiRequest {
    let mut params = vec![
        ("after", after.map(|a| a.to_string())),
        ("limit", args.limit.map(|l| l.to_string())),
    ];
    params.extend(args.as_of.params());
    params.push(("include_raw", args.include_raw.then(|| "true".to_string())));
    ApiRequest::get(with_query(
        &format!("/v1/devices/{}/history", encode(&args.id)),
        &params,
    ))
}

/// Keys of an event's `data` worth a glance, in the order shown.
const SUMMARY_KEYS: [&str; 12] = [
    "request_type",
    "command_uuid",
    "status",
    "reason",
    "outcome",
    "topic",
    "trigger",
    "attempt",
    "os_version",
    "endpoint",
    "http_status",
    "expired_at",
];

/// `request_type=DeviceLock command_uuid=… reason=…`, plus the first ErrorChain entry and
/// whether the raw plist is sealed. Secrets are `Sealed` ciphertext in `data` and are not
/// among the keys shown.
pub fn event_summary(event: &Value) -> String {
    let data = event.get("data").unwrap_or(&Value::Null);
    let mut parts: Vec<String> = SUMMARY_KEYS
        .iter()
        .filter_map(|k| {
            let v = data.get(*k)?;
            match v {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                    Some(format!("{k}={}", table::truncate(&table::text(Some(v)), 40)))
                }
                _ => None,
            }
        })
        .collect();
    if let Some(first) = data
        .get("error_chain")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    {
        parts.push(format!(
            "error={}/{}",
            table::field(first, "error_domain"),
            table::field(first, "error_code")
        ));
    }
    if event.get("raw_sealed").and_then(Value::as_bool) == Some(true) {
        parts.push("raw=sealed".into());
    }
    parts.join(" ")
}

pub fn history_table(events: &[Value]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                table::field(e, "global_position"),
                table::time(e.get("recorded_at")),
                table::field(e, "event_type"),
                // A device's actor is its certificate's 64-hex fingerprint; a prefix identifies it.
                table::truncate(&table::field(e, "actor"), 24),
                event_summary(e),
            ]
        })
        .collect();
    table::render(&["POS", "TIME", "EVENT", "ACTOR", "SUMMARY"], &rows)
}

pub async fn run(data_dir: &Path, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(data_dir, &args.api)?;
    let mut events = Vec::new();
    let mut after = args.after;
    let mut enrollment = Value::String(args.id.clone());
    let next = loop {
        let (_, page) = api.json(&history_request(&args, after)).await?;
        if let Some(e) = page.get("enrollment") {
            enrollment = e.clone();
        }
        if let Some(Value::Array(items)) = page.get("events") {
            events.extend(items.iter().cloned());
        }
        match page.get("next").and_then(Value::as_u64) {
            Some(next) if args.all => after = Some(next),
            next => break next,
        }
    };
    if args.json {
        let doc = json!({"enrollment": enrollment, "events": events, "next": next});
        table::emit_json(&doc)?;
    } else {
        table::emit(&history_table(&events))?;
        if let Some(next) = next {
            eprintln!("more events: --after {next} (or --all)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> HistoryArgs {
        let cli = Cli::try_parse_from(std::iter::once("annal").chain(args.iter().copied())).unwrap();
        match cli.command {
            Command::History(h) => h,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn arguments_map_to_the_history_query() {
        let args = parse(&[
            "history",
            "ABC/1",
            "--limit",
            "50",
            "--as-of-position",
            "900",
            "--include-raw",
        ]);
        assert_eq!(
            history_request(&args, Some(7)).path,
            "/v1/devices/ABC%2F1/history?after=7&limit=50&as_of_position=900&include_raw=true"
        );
        let args = parse(&["history", "e1", "--as-of-time", "2024-05-01T12:00:00Z"]);
        assert_eq!(
            history_request(&args, None).path,
            "/v1/devices/e1/history?as_of_time=2024-05-01T12%3A00%3A00Z"
        );
    }

    #[test]
    fn as_of_position_and_time_exclude_each_other() {
        let cli = Cli::try_parse_from([
            "annal",
            "history",
            "e1",
            "--as-of-position",
            "1",
            "--as-of-time",
            "2024-05-01T12:00:00Z",
        ]);
        assert!(cli.is_err());
    }

    #[test]
    fn summary_picks_known_keys_errors_and_sealing() {
        let e = json!({
            "event_type": "CommandErrored",
            "raw_sealed": true,
            "data": {
                "command_uuid": "U1", "request_type": "DeviceLock",
                "device": {"udid": "X"},
                "error_chain": [{"error_code": 12021, "error_domain": "MCMDMErrorDomain"}]
            }
        });
        assert_eq!(
            event_summary(&e),
            "request_type=DeviceLock command_uuid=U1 error=MCMDMErrorDomain/12021 raw=sealed"
        );
        assert_eq!(event_summary(&json!({"data": {"push_magic": {"ciphertext": "x"}}})), "");
    }

    #[test]
    fn table_has_position_time_type_actor_summary() {
        let events = [json!({
            "global_position": 12, "recorded_at": "2024-05-01T12:00:00.5Z", "event_type": "CommandQueued",
            "actor": "api-key:ops", "data": {"request_type": "DeviceInformation", "command_uuid": "C"}
        })];
        let out = history_table(&events);
        let row = out.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "12   2024-05-01 12:00:00Z  CommandQueued  api-key:ops  request_type=DeviceInformation command_uuid=C"
        );
        let device = [json!({"global_position": 3, "event_type": "Idle", "actor": "a".repeat(64), "data": {}})];
        let out = history_table(&device);
        let row = out.lines().nth(1).unwrap();
        assert_eq!(row, format!("3    -     Idle   {}…", "a".repeat(23)));
    }
}
