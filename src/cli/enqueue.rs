//! `annal enqueue <ids…>`: queue one MDM command for one or more devices through
//! `POST /v1/commands`, and report per device whether it was queued.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ArgGroup;
use hyper::Method;
use serde_json::{Map, Value};

use super::client::{Api, ApiArgs, ApiRequest};
use super::enqueue_rails as rails;
use super::query::{parse_time, time_param, Time};
use super::{groups, table};

/// Most enrollments the server takes in one request; larger lists are sent in chunks that
/// share the first chunk's CommandUUID.
pub const FAN_OUT: usize = 10_000;

/// Queue an MDM command for one or more devices (admin API).
///
/// Give the command one of three ways:
///
///   --request-type DeviceLock --key Message="Call IT" --key PIN=123456
///   --json-command '{"RequestType":"DeviceInformation","Queries":["OSVersion"]}'  (or @file.json)
///   --plist-file command.plist   (a full command plist or a bare Command dictionary; - for stdin)
///
/// Key names are Apple's (developer.apple.com/documentation/devicemanagement). Values given
/// as `Name=Value` are strings; `Name:=<json>` sends JSON (numbers, booleans, arrays). Secrets
/// such as a PIN on the command line are visible to other local users: prefer a file.
///
/// A destructive command (EraseDevice, DeviceLock, ClearPasscode, RemoveProfile, …) needs
/// --reason; the devices are then looked up and listed, and you type their number to send it
/// (or pass --yes, after checking the list with --dry-run).
///
/// Prints one line per device (queued, duplicate, or why not) and exits 1 if any failed.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(group(ArgGroup::new("command").required(true).args(["request_type", "json_command", "plist_file"])))]
pub struct EnqueueArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Device keys; each may be a comma-separated list; `-` reads keys from stdin, one a line.
    #[arg(required_unless_present = "group", value_name = "ID")]
    pub ids: Vec<String>,
    /// Send to a device group (`annal groups`) instead: the server resolves it when it queues
    /// the command and records which devices it meant. The devices are shown first for a
    /// destructive command or with --dry-run.
    #[arg(long, conflicts_with = "ids")]
    pub group: Option<String>,
    /// The command's RequestType, with its keys given by --key.
    #[arg(long, short = 't')]
    pub request_type: Option<String>,
    /// A command key: `Name=Value` (a string) or `Name:=<json>`. Repeatable.
    #[arg(long = "key", short = 'k', value_name = "NAME=VALUE", conflicts_with_all = ["json_command", "plist_file"])]
    pub keys: Vec<String>,
    /// The Command dictionary as JSON with Apple's key names, or @file to read it from a file.
    #[arg(long, value_name = "JSON")]
    pub json_command: Option<String>,
    /// A command plist file (XML or binary); - reads stdin.
    #[arg(long, value_name = "FILE")]
    pub plist_file: Option<PathBuf>,
    /// Why the command is sent; recorded in the log and shown in the audit trail.
    #[arg(long)]
    pub reason: Option<String>,
    /// A key that makes retries safe: the same key for the same device queues once.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Drop the command if no device fetched it by then (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub expires_at: Option<Time>,
    /// Use this CommandUUID instead of one the server assigns.
    #[arg(long)]
    pub command_uuid: Option<String>,
    /// Queue without sending an APNs push; devices fetch it at their next check-in.
    #[arg(long)]
    pub no_push: bool,
    /// Validate the command against this platform's schema.
    #[arg(long, value_enum, ignore_case = true)]
    pub platform: Option<Platform>,
    /// Print the API's JSON answer.
    #[arg(long)]
    pub json: bool,
    /// Send a destructive command without asking: for scripts, after checking the list with
    /// --dry-run. The device count is still confirmed to the server.
    #[arg(long)]
    pub yes: bool,
    /// Check the command and look every device up, show what would be sent to which devices,
    /// and send nothing (exits 1 if an id names no enrollment).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    #[value(name = "iOS")]
    Ios,
    #[value(name = "macOS")]
    Macos,
    #[value(name = "tvOS")]
    Tvos,
    #[value(name = "visionOS")]
    Visionos,
    #[value(name = "watchOS")]
    Watchos,
}

impl Platform {
    fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "iOS",
            Platform::Macos => "macOS",
            Platform::Tvos => "tvOS",
            Platform::Visionos => "visionOS",
            Platform::Watchos => "watchOS",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("--key {0}: expected NAME=VALUE or NAME:=<json>")]
    KeySyntax(String),
    #[error("--key {name}: the value is not JSON: {detail}")]
    KeyJson { name: String, detail: String },
    #[error("--key {0} given twice")]
    DuplicateKey(String),
    #[error("--key RequestType: give it with --request-type")]
    RequestTypeKey,
    #[error("--json-command: {0}")]
    JsonCommand(String),
    #[error("--plist-file: {0}")]
    Plist(String),
    #[error("no device ids given")]
    NoIds,
}

/// The command as the request body carries it: JSON with Apple's keys, or plist text.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandBody {
    Json(Value),
    Plist(String),
}

/// `Name=Value` → string, `Name:=<json>` → that JSON value.
pub fn parse_key(arg: &str) -> Result<(String, Value), EnqueueError> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| EnqueueError::KeySyntax(arg.to_string()))?;
    let (name, value) = match name.strip_suffix(':') {
        Some(name) => {
            let json = serde_json::from_str(value).map_err(|e| EnqueueError::KeyJson {
                name: name.to_string(),
                detail: e.to_string(),
            })?;
            (name, json)
        }
        None => (name, Value::String(value.to_string())),
    };
    if name.is_empty() {
        return Err(EnqueueError::KeySyntax(arg.to_string()));
    }
    Ok((name.to_string(), value))
}

/// The Command dictionary from `--request-type` and its `--key`s.
pub fn command_from_keys(request_type: &str, keys: &[String]) -> Result<Value, EnqueueError> {
    let mut command = Map::new();
    command.insert("RequestType".into(), Value::String(request_type.to_string()));
    for arg in keys {
        let (name, value) = parse_key(arg)?;
        if name == "RequestType" {
            return Err(EnqueueError::RequestTypeKey);
        }
        if command.insert(name.clone(), value).is_some() {
            return Err(EnqueueError::DuplicateKey(name));
        }
    }
    Ok(Value::Object(command))
}

/// `--json-command` text: must be an object; the server checks the rest and names the path.
pub fn command_from_json(text: &str) -> Result<Value, EnqueueError> {
    match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(EnqueueError::JsonCommand("expected a JSON object".into())),
        Err(e) => Err(EnqueueError::JsonCommand(e.to_string())),
    }
}

/// A plist file (XML or binary) as XML text, checked for syntax before it is sent.
pub fn plist_xml(bytes: &[u8]) -> Result<String, EnqueueError> {
    let value =
        plist::Value::from_reader(std::io::Cursor::new(bytes)).map_err(|e| EnqueueError::Plist(e.to_string()))?;
    let mut out = Vec::new();
    value
        .to_writer_xml(&mut out)
        .map_err(|e| EnqueueError::Plist(e.to_string()))?;
    String::from_utf8(out).map_err(|e| EnqueueError::Plist(e.to_string()))
}

/// Splits comma-separated ids, reads `-` from `stdin`, drops blanks and repeats (first kept).
pub fn expand_ids(args: &[String], stdin: impl BufRead) -> Result<Vec<String>, EnqueueError> {
    let mut raw: Vec<String> = Vec::new();
    let mut stdin = Some(stdin);
    for arg in args {
        if arg == "-" {
            if let Some(reader) = stdin.take() {
                raw.extend(reader.lines().map_while(Result::ok));
            }
        } else {
            raw.push(arg.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<String> = raw
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty() && seen.insert(s.to_string()))
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(EnqueueError::NoIds);
    }
    Ok(ids)
}

/// The `POST /v1/commands` request for one chunk of ids.
pub fn build_request(
    args: &EnqueueArgs,
    ids: &[String],
    command: &CommandBody,
    command_uuid: Option<&str>,
) -> ApiRequest {
    let mut body = Map::new();
    body.insert("enrollments".into(), ids.iter().cloned().map(Value::String).collect());
    match command {
        CommandBody::Json(c) => body.insert("command".into(), c.clone()),
        CommandBody::Plist(p) => body.insert("plist".into(), Value::String(p.clone())),
    };
    let optional = [
        ("command_uuid", command_uuid.map(str::to_string)),
        ("idempotency_key", args.idempotency_key.clone()),
        ("reason", args.reason.clone()),
        ("expires_at", time_param(args.expires_at.as_ref())),
        ("platform", args.platform.map(|p| p.as_str().to_string())),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            body.insert(k.into(), Value::String(v));
        }
    }
    if args.no_push {
        body.insert("push".into(), Value::Bool(false));
    }
    ApiRequest {
        method: Method::POST,
        body: Some(Value::Object(body)),
        ..ApiRequest::get("/v1/commands".into())
    }
}

/// One row per device (`queued`, `duplicate`, or the error) and how many failed.
pub fn result_rows(status: &Map<String, Value>) -> (Vec<Vec<String>>, usize) {
    let mut failed = 0;
    let rows = status
        .iter()
        .map(|(id, r)| {
            let result = if r.get("queued").and_then(Value::as_bool) == Some(true) {
                if r.get("duplicate").and_then(Value::as_bool) == Some(true) {
                    "duplicate (already queued)".to_string()
                } else {
                    "queued".to_string()
                }
            } else {
                failed += 1;
                let e = r.get("error").unwrap_or(&Value::Null);
                let mut s = format!("failed: {}: {}", table::field(e, "code"), table::field(e, "message"));
                if let Some(path) = e.get("path").and_then(Value::as_str) {
                    s.push_str(&format!(" (at {})", table::clean(path)));
                }
                s
            };
            vec![table::clean(id), result]
        })
        .collect();
    (rows, failed)
}

fn command_body(args: &EnqueueArgs) -> anyhow::Result<CommandBody> {
    if let Some(rt) = &args.request_type {
        return Ok(CommandBody::Json(command_from_keys(rt, &args.keys)?));
    }
    if let Some(text) = &args.json_command {
        let text = match text.strip_prefix('@') {
            Some(file) => {
                std::fs::read_to_string(file).map_err(|e| EnqueueError::JsonCommand(format!("{file}: {e}")))?
            }
            None => text.clone(),
        };
        return Ok(CommandBody::Json(command_from_json(&text)?));
    }
    let path = args.plist_file.as_deref().unwrap_or(Path::new("-"));
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        buf
    } else {
        std::fs::read(path).map_err(|e| EnqueueError::Plist(format!("{}: {e}", path.display())))?
    };
    Ok(CommandBody::Plist(plist_xml(&bytes)?))
}

/// The `POST /v1/commands` request for a group: the server resolves it.
pub fn build_group_request(args: &EnqueueArgs, group: &str, command: &CommandBody) -> ApiRequest {
    let mut request = build_request(args, &[], command, args.command_uuid.as_deref());
    if let Some(Value::Object(body)) = request.body.as_mut() {
        body.remove("enrollments");
        body.insert("group".into(), Value::String(group.to_string()));
    }
    request
}

/// Shows the devices and, for a destructive command without --yes, asks for their number.
/// `Some` is the exit code of a dry run: nothing is to be sent.
async fn plan(
    api: &Api,
    args: &EnqueueArgs,
    ids: &[String],
    request_type: Option<&str>,
    stdin_busy: bool,
) -> anyhow::Result<Option<ExitCode>> {
    let targets = rails::look_up(api, ids).await?;
    let unknown = rails::show_plan(request_type, args.reason.as_deref(), &targets)?;
    if args.dry_run {
        return Ok(Some(if unknown == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }));
    }
    // Only a destructive command without --yes gets here.
    let request_type = request_type.unwrap_or_default();
    if unknown > 0 {
        return Err(rails::RailError::Unknown(unknown).into());
    }
    if !rails::can_ask(stdin_busy) {
        return Err(rails::cannot_ask(request_type).into());
    }
    rails::confirm(
        request_type,
        ids.len(),
        &mut std::io::stdin().lock(),
        &mut std::io::stderr(),
    )?;
    Ok(None)
}

/// `--group`: the devices the group means now are shown (and confirmed) as a list would be;
/// the count confirmed is the one the server checks its own resolution against.
async fn run_group(api: &Api, args: &EnqueueArgs, group: &str, command: CommandBody) -> anyhow::Result<ExitCode> {
    let request_type = rails::request_type_of(&command);
    let guarded = request_type.as_deref().is_some_and(annal::domain::rails::guarded);
    let (_, answer) = api.json(&groups::show_request(group)).await?;
    let ids = groups::resolved(&answer);
    eprintln!(
        "group {}: {}; {} devices now",
        table::clean(group),
        groups::describe(answer.get("definition").unwrap_or(&Value::Null)),
        ids.len()
    );
    if ids.is_empty() {
        anyhow::bail!(
            "group {} means no enrolled device now: nothing was sent",
            table::clean(group)
        );
    }
    let stdin_busy = args.plist_file.as_deref() == Some(Path::new("-"));
    if args.dry_run || (guarded && !args.yes) {
        if let Some(exit) = plan(api, args, &ids, request_type.as_deref(), stdin_busy).await? {
            return Ok(exit);
        }
    }
    let mut request = build_group_request(args, group, &command);
    if guarded {
        if let Some(Value::Object(body)) = request.body.as_mut() {
            body.insert("confirm_count".into(), Value::from(ids.len()));
        }
    }
    let (_, answer) = api.json(&request).await?;
    let status = match answer.get("status") {
        Some(Value::Object(s)) => s.clone(),
        _ => Map::new(),
    };
    let merged = match answer {
        Value::Object(a) => a,
        _ => Map::new(),
    };
    let failed = print_results(args, &merged, &status)?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn run(data_dir: &Path, args: EnqueueArgs) -> anyhow::Result<ExitCode> {
    let reads_stdin = args.plist_file.as_deref() == Some(Path::new("-"));
    if reads_stdin && args.ids.iter().any(|i| i == "-") {
        anyhow::bail!("stdin cannot hold both the ids and the plist");
    }
    if let Some(group) = &args.group {
        let command = command_body(&args)?;
        rails::check_reason(rails::request_type_of(&command).as_deref(), args.reason.as_deref())?;
        let api = Api::connect(data_dir, &args.api)?;
        return run_group(&api, &args, group, command).await;
    }
    let ids = expand_ids(&args.ids, std::io::stdin().lock())?;
    let command = command_body(&args)?;
    let request_type = rails::request_type_of(&command);
    rails::check_reason(request_type.as_deref(), args.reason.as_deref())?;
    let guarded = request_type.as_deref().is_some_and(annal::domain::rails::guarded);
    let api = Api::connect(data_dir, &args.api)?;
    if args.dry_run || (guarded && !args.yes) {
        let stdin_busy = args.ids.iter().any(|i| i == "-") || reads_stdin;
        if let Some(exit) = plan(&api, &args, &ids, request_type.as_deref(), stdin_busy).await? {
            return Ok(exit);
        }
    }
    let mut uuid = args.command_uuid.clone();
    let mut merged = Map::new();
    let mut status = Map::new();
    for chunk in ids.chunks(FAN_OUT) {
        let mut request = build_request(&args, chunk, &command, uuid.as_deref());
        if guarded {
            // Confirmed above (typed, or --yes): the server checks the list has this length.
            if let Some(Value::Object(body)) = request.body.as_mut() {
                body.insert("confirm_count".into(), Value::from(chunk.len()));
            }
        }
        let answer = match api.json(&request).await {
            Ok((_, answer)) => answer,
            Err(e) if !status.is_empty() => {
                print_results(&args, &merged, &status)?;
                return Err(anyhow::Error::new(e).context(format!("{} devices were queued before", status.len())));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(Value::Object(s)) = answer.get("status") {
            status.extend(s.clone());
        }
        if let Value::Object(a) = answer {
            merged = a;
        }
        uuid = merged.get("command_uuid").and_then(Value::as_str).map(str::to_string);
    }
    let failed = print_results(&args, &merged, &status)?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_results(
    args: &EnqueueArgs,
    merged: &Map<String, Value>,
    status: &Map<String, Value>,
) -> anyhow::Result<usize> {
    let (rows, failed) = result_rows(status);
    if args.json {
        let mut doc = merged.clone();
        doc.insert("status".into(), Value::Object(status.clone()));
        table::emit_json(&Value::Object(doc))?;
    } else {
        table::emit(&table::render(&["ENROLLMENT", "RESULT"], &rows))?;
        eprintln!(
            "{} {}: {} devices, {} failed",
            table::text(merged.get("request_type")),
            table::text(merged.get("command_uuid")),
            rows.len(),
            failed
        );
    }
    Ok(failed)
}

#[cfg(test)]
#[path = "enqueue_tests.rs"]
mod tests;
