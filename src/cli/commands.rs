//! `annal commands show | cancel`: where one command stands on every device it was queued for,
//! and withdrawing it from one device before the device fetched it.

use std::path::Path;
use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::client::{Api, ApiArgs, ApiRequest};
use super::query::encode;
use super::table;

/// A queued command's status on every device (admin API), or cancel it for one device.
#[derive(Debug, clap::Args)]
pub struct CommandsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: CommandsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CommandsCommand {
    /// A command's status on every device it was queued for, with a count per status
    /// (queued, delivered, not_now, acknowledged, error, command_format_error, cancelled,
    /// expired).
    Show {
        /// The CommandUUID that `annal enqueue` printed.
        command_uuid: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a pending command for one device. A command the device already fetched cannot be
    /// taken back; the API answers 404 or 409 then.
    Cancel {
        /// The device's key.
        id: String,
        command_uuid: String,
        /// Why: recorded with the cancellation and shown in the audit trail beside who asked.
        #[arg(long)]
        reason: Option<String>,
    },
}

pub fn show_request(command_uuid: &str) -> ApiRequest {
    ApiRequest::get(format!("/v1/commands/{}", encode(command_uuid)))
}

pub fn cancel_request(id: &str, command_uuid: &str, reason: Option<&str>) -> ApiRequest {
    ApiRequest {
        method: Method::DELETE,
        headers: reason.map(|r| ("X-Annal-Reason", r.to_string())).into_iter().collect(),
        ..ApiRequest::get(format!("/v1/devices/{}/commands/{}", encode(id), encode(command_uuid)))
    }
}

/// Per-device command status rows (the queue, or one command's fan-out).
pub fn status_table(commands: &[Value]) -> String {
    let rows: Vec<Vec<String>> = commands
        .iter()
        .map(|c| {
            vec![
                table::field(c, "enrollment"),
                table::field(c, "command_uuid"),
                table::field(c, "request_type"),
                status_text(c),
                table::time(c.get("queued_at")),
                table::field(c, "deliveries"),
                table::field(c, "requester"),
            ]
        })
        .collect();
    table::render(
        &[
            "ENROLLMENT",
            "COMMAND UUID",
            "REQUEST TYPE",
            "STATUS",
            "QUEUED",
            "DELIVERIES",
            "REQUESTER",
        ],
        &rows,
    )
}

/// The status, with NotNow count and the first error of the device's ErrorChain if any.
pub fn status_text(c: &Value) -> String {
    let mut s = table::field(c, "status");
    if let Some(n) = c.get("not_now_count").and_then(Value::as_u64).filter(|n| *n > 0) {
        s.push_str(&format!(" ({n}× NotNow)"));
    }
    if let Some(first) = c.get("error_chain").and_then(Value::as_array).and_then(|e| e.first()) {
        let description = ["us_english_description", "localized_description"]
            .iter()
            .map(|k| table::field(first, k))
            .find(|d| d != "-")
            .unwrap_or_default();
        s.push_str(&format!(
            ": {} {} {}",
            table::field(first, "error_domain"),
            table::field(first, "error_code"),
            table::truncate(&description, 60)
        ));
    }
    s.trim_end().to_string()
}

/// `acknowledged 3, queued 2` from the `summary` object, largest first.
pub fn summary_line(summary: &Value) -> String {
    let mut counts: Vec<(String, u64)> = summary
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (table::clean(k), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(data_dir: &Path, args: CommandsArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(data_dir, &args.api)?;
    match args.command {
        CommandsCommand::Show { command_uuid, json } => {
            let (_, answer) = api.json(&show_request(&command_uuid)).await?;
            if json {
                table::emit_json(&answer)?;
            } else {
                table::emit(&format!(
                    "{}\n",
                    summary_line(answer.get("summary").unwrap_or(&Value::Null))
                ))?;
                let devices = answer
                    .get("devices")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                table::emit(&status_table(&devices))?;
            }
        }
        CommandsCommand::Cancel {
            id,
            command_uuid,
            reason,
        } => {
            api.json(&cancel_request(&id, &command_uuid, reason.as_deref())).await?;
            eprintln!("cancelled {command_uuid} for {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_encode_ids_into_the_path() {
        assert_eq!(show_request("AB-1").path, "/v1/commands/AB-1");
        let cancel = cancel_request("dev/1", "C 1", Some("wrong device"));
        assert_eq!(cancel.method, Method::DELETE);
        assert_eq!(cancel.path, "/v1/devices/dev%2F1/commands/C%201");
        assert_eq!(cancel.headers, vec![("X-Annal-Reason", "wrong device".to_string())]);
        assert!(cancel_request("d", "c", None).headers.is_empty());
    }

    #[test]
    fn status_shows_not_now_and_the_first_error() {
        let c = json!({
            "status": "error",
            "not_now_count": 2,
            "error_chain": [
                {"error_code": 12021, "error_domain": "MCMDMErrorDomain", "us_english_description": "Bad PIN"},
                {"error_code": 1, "error_domain": "Other"}
            ]
        });
        assert_eq!(status_text(&c), "error (2× NotNow): MCMDMErrorDomain 12021 Bad PIN");
        assert_eq!(status_text(&json!({"status": "queued", "not_now_count": 0})), "queued");
    }

    #[test]
    fn summary_is_largest_first() {
        let s = json!({"queued": 2, "acknowledged": 3, "error": 0});
        assert_eq!(summary_line(&s), "acknowledged 3, queued 2, error 0");
    }

    #[test]
    fn status_table_has_one_row_per_device() {
        let rows = [
            json!({"enrollment": "e1", "command_uuid": "u", "request_type": "DeviceLock", "status": "queued",
                   "queued_at": "2024-05-01T12:00:00Z", "deliveries": 0, "requester": "api-key:ops"}),
            json!({"enrollment": "e2", "command_uuid": "u", "request_type": "DeviceLock", "status": "acknowledged",
                   "queued_at": "2024-05-01T12:00:00Z", "deliveries": 1, "requester": "api-key:ops"}),
        ];
        let out = status_table(&rows);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ENROLLMENT  COMMAND UUID"));
        assert!(lines[2].contains("acknowledged") && lines[2].contains("2024-05-01 12:00:00Z"));
        assert!(lines[2].ends_with("api-key:ops"));
    }
}
