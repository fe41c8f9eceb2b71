//! `annal declarations list | show | put | rm | validate | assign | unassign | status | export`:
//! Declarative Device Management from the command line, a thin adapter over the admin API's
//! `/v1/declarations` (the catalog and its assignments), `/v1/devices/{id}/declarations` (one
//! device's set and what it reported) and `/v1/declarations/status` (the fleet). The server
//! checks everything; the CLI only reads files, builds requests and prints answers.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Map, Value};

use super::audit_export::partial_path;
use super::client::{Api, ApiArgs, ApiRequest};
use super::query::{encode, with_query};
use super::{groups, table};

/// Declarative Device Management (admin API): the declarations the server holds, whom each is
/// assigned to, and what the devices report of them.
///
/// A declaration is Apple's JSON {"Type", "Identifier", "Payload"}; the server checks it
/// against Apple's schema and derives its ServerToken from its content. An assignment gives a
/// declaration to one enrollment (--enrollment), to a named group (--group, followed as the
/// group changes) or to the devices matching an inventory filter (--filter-model,
/// --filter-os, --tag, followed as the inventory changes). Every device's set is the
/// declarations assigned to it; the server tells the device when its set changes.
///
/// Changing the catalog needs the admin role; reading it, any role. Scripts: --json prints
/// the API's answer as is. A refused change prints the server's reason and the key path it is
/// about (e.g. Payload.MinimumLength) and exits non-zero.
///
/// Examples:
///   annal declarations put com.example.passcode --file passcode.json --reason "CIS 5.2"
///   annal declarations assign com.example.passcode --filter-model iPhone --tag staff
///   annal declarations status
///   annal declarations export --format csv --not-in-force -o not-in-force.csv
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct DeclarationsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: DeclarationsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DeclarationsCommand {
    /// Every declaration: its category, type, ServerToken and number of assignments.
    List {
        /// The API's JSON answer instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// One declaration: its content, ServerToken and assignments.
    ///
    /// The assignments are listed with their ids, as `unassign` takes them.
    Show {
        /// The declaration's Identifier, e.g. com.example.passcode.
        identifier: String,
        /// The API's JSON answer instead of the details.
        #[arg(long)]
        json: bool,
    },
    /// Define a declaration, or replace its content (admin).
    ///
    /// From a declaration file as Apple writes it (--file), or from its Type and a file with
    /// its Payload (--type, --payload-file). The server checks it against Apple's schema and
    /// derives its ServerToken from its content; the devices it is assigned to are told at
    /// their next sync. The same content again changes nothing ("unchanged").
    Put(PutArgs),
    /// Remove a declaration and its assignments (admin).
    ///
    /// The devices that held it drop it at their next sync. An activation that still names it
    /// must be changed first.
    #[command(alias = "delete")]
    Rm {
        /// The declaration's Identifier.
        identifier: String,
        /// Why, kept in the log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Check a declaration file without recording anything (a dry run of `put`).
    ///
    /// Prints the Identifier and the ServerToken the declaration would have; or the server's
    /// reason and the key path it is about (e.g. Payload.MinimumLength), exiting non-zero.
    Validate {
        /// The declaration as Apple writes it: {"Type", "Identifier", "Payload"}; - reads
        /// standard input.
        #[arg(long, short = 'f', value_name = "FILE")]
        file: PathBuf,
        /// The API's JSON answer instead of a line.
        #[arg(long)]
        json: bool,
    },
    /// Assign a declaration to one enrollment, a group or an inventory filter (admin).
    ///
    /// Give --enrollment, or --group, or any of --filter-model, --filter-os and --tag (a
    /// device must match them all). A group or a filter is followed as it changes: devices
    /// that come to match get the declaration, devices that stop matching drop it. Assigning
    /// the same target twice is one assignment; its id is printed.
    Assign(AssignArgs),
    /// Remove one assignment (admin).
    ///
    /// `annal declarations show <IDENTIFIER>` lists the assignment ids.
    Unassign {
        /// The declaration's Identifier.
        identifier: String,
        /// As `show` lists it, e.g. com.example.passcode@group:lab.
        assignment_id: String,
        /// Why, kept in the log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// What the devices report of their declarations: the fleet, or one device (--device).
    ///
    /// The fleet view counts, per declaration the devices hold: pending (no report names it
    /// yet), stale (reported for older content), valid, invalid, unknown, active and inactive
    /// with the reasons devices gave; above it, what the devices report of their OS, software
    /// updates and passcode compliance. A declaration no device holds is not listed.
    ///
    /// With --device: the device's DeclarationsToken, the token it was last given (in sync
    /// when they are the same), and each declaration of its set with what it reported.
    Status {
        /// One device (enrollment id or UDID) instead of the fleet.
        #[arg(long, value_name = "ID")]
        device: Option<String>,
        /// The API's JSON answer instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// One row per device and declaration it holds, as CSV or NDJSON.
    ///
    /// Columns: enrollment, udid, serial_number, identifier, category, server_token,
    /// reported_server_token, state (pending, stale or reported), valid, active, reasons,
    /// reported_at. A file (-o) is written under a `.partial` name and renamed only when
    /// complete.
    Export(ExportArgs),
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("content").required(true).args(["file", "declaration_type"])))]
pub struct PutArgs {
    /// The declaration's Identifier, e.g. com.example.passcode.
    pub identifier: String,
    /// The declaration as Apple writes it: {"Type", "Identifier", "Payload"} (Identifier, if
    /// given, must be <IDENTIFIER>; a ServerToken is ignored: the server derives it);
    /// - reads standard input.
    #[arg(long, short = 'f', value_name = "FILE", conflicts_with_all = ["declaration_type", "payload_file"])]
    pub file: Option<PathBuf>,
    /// The declaration's Type, e.g. com.apple.configuration.passcode.settings (with
    /// --payload-file, instead of --file).
    #[arg(long = "type", value_name = "TYPE")]
    pub declaration_type: Option<String>,
    /// A JSON file with the Payload dictionary alone (default: an empty one); - reads
    /// standard input.
    #[arg(long, value_name = "FILE", requires = "declaration_type")]
    pub payload_file: Option<PathBuf>,
    /// Why, kept in the log.
    #[arg(long)]
    pub reason: Option<String>,
    /// The API's JSON answer instead of a line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(true)
    .args(["enrollment", "group", "filter_model", "filter_os", "tags"])))]
pub struct AssignArgs {
    /// The declaration's Identifier.
    pub identifier: String,
    /// One enrollment: a device's UDID (or enrollment id), or a user channel's <device>:<user>.
    #[arg(long, value_name = "ID", conflicts_with_all = ["group", "filter_model", "filter_os", "tags"])]
    pub enrollment: Option<String>,
    /// A named group (`annal groups`), followed as its definition changes.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["filter_model", "filter_os", "tags"])]
    pub group: Option<String>,
    /// Filter: model, model name or product name containing this text (any case).
    #[arg(long, value_name = "MODEL")]
    pub filter_model: Option<String>,
    /// Filter: OS version starting with this (17 matches 17.4.1).
    #[arg(long, value_name = "VERSION")]
    pub filter_os: Option<String>,
    /// Filter: a tag the devices carry (comma-separated, repeatable: all of them).
    #[arg(long = "tag", value_name = "TAG", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Why, kept in the log.
    #[arg(long)]
    pub reason: Option<String>,
    /// The API's JSON answer instead of a line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// csv (a spreadsheet) or ndjson (one JSON row per line).
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// Only the rows of this declaration.
    #[arg(long)]
    pub identifier: Option<String>,
    /// Only the rows not in force: pending, stale, invalid or inactive.
    #[arg(long)]
    pub not_in_force: bool,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

impl ExportFormat {
    fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
        }
    }
}

fn declaration_path(identifier: &str) -> String {
    format!("/v1/declarations/{}", encode(identifier))
}

pub fn show_request(identifier: &str) -> ApiRequest {
    ApiRequest::get(declaration_path(identifier))
}

/// The PUT body: the declaration file as is, or `Type` and `Payload`; `reason` added.
/// `read` parses a JSON file (a parameter so the mapping is tested without files).
pub fn put_body(args: &PutArgs, read: impl Fn(&Path) -> anyhow::Result<Value>) -> anyhow::Result<Value> {
    let mut body = match (&args.file, &args.declaration_type) {
        (Some(file), _) => match read(file)? {
            Value::Object(map) => map,
            _ => anyhow::bail!(
                "{}: a declaration is a JSON object {{\"Type\", \"Identifier\", \"Payload\"}}",
                file.display()
            ),
        },
        (None, Some(declaration_type)) => {
            let mut map = Map::new();
            map.insert("Type".into(), Value::String(declaration_type.clone()));
            if let Some(payload) = &args.payload_file {
                map.insert("Payload".into(), read(payload)?);
            }
            map
        }
        (None, None) => anyhow::bail!("give --file, or --type (with --payload-file)"),
    };
    if let Some(reason) = &args.reason {
        body.insert("reason".into(), Value::String(reason.clone()));
    }
    Ok(Value::Object(body))
}

pub fn put_request(identifier: &str, body: Value) -> ApiRequest {
    ApiRequest {
        method: Method::PUT,
        body: Some(body),
        ..ApiRequest::get(declaration_path(identifier))
    }
}

pub fn delete_request(identifier: &str, reason: Option<&str>) -> ApiRequest {
    with_reason(
        ApiRequest {
            method: Method::DELETE,
            ..ApiRequest::get(declaration_path(identifier))
        },
        reason,
    )
}

pub fn validate_request(declaration: Value) -> ApiRequest {
    ApiRequest {
        method: Method::POST,
        body: Some(declaration),
        ..ApiRequest::get("/v1/declarations/validate".into())
    }
}

/// The POST body: exactly one of `enrollment`, `group` or `filter` (the fields given).
pub fn assign_request(args: &AssignArgs) -> ApiRequest {
    let mut body = Map::new();
    if let Some(enrollment) = &args.enrollment {
        body.insert("enrollment".into(), Value::String(enrollment.clone()));
    } else if let Some(group) = &args.group {
        body.insert("group".into(), Value::String(group.clone()));
    } else {
        let mut filter = Map::new();
        if let Some(model) = &args.filter_model {
            filter.insert("model".into(), Value::String(model.clone()));
        }
        if let Some(os) = &args.filter_os {
            filter.insert("os_version".into(), Value::String(os.clone()));
        }
        if !args.tags.is_empty() {
            filter.insert("tags".into(), json!(args.tags));
        }
        body.insert("filter".into(), Value::Object(filter));
    }
    if let Some(reason) = &args.reason {
        body.insert("reason".into(), Value::String(reason.clone()));
    }
    ApiRequest {
        method: Method::POST,
        body: Some(Value::Object(body)),
        ..ApiRequest::get(format!("{}/assignments", declaration_path(&args.identifier)))
    }
}

/// The assignment id is encoded whole: it holds `@`, `:` and whatever a group name holds.
pub fn unassign_request(identifier: &str, assignment_id: &str, reason: Option<&str>) -> ApiRequest {
    with_reason(
        ApiRequest {
            method: Method::DELETE,
            ..ApiRequest::get(format!(
                "{}/assignments/{}",
                declaration_path(identifier),
                encode(assignment_id)
            ))
        },
        reason,
    )
}

pub fn status_request(device: Option<&str>) -> ApiRequest {
    match device {
        Some(id) => ApiRequest::get(format!("/v1/devices/{}/declarations", encode(id))),
        None => ApiRequest::get("/v1/declarations/status".into()),
    }
}

pub fn export_request(args: &ExportArgs) -> ApiRequest {
    ApiRequest::get(with_query(
        "/v1/declarations/status/export",
        &[
            ("format", Some(args.format.as_str().to_string())),
            ("identifier", args.identifier.clone()),
            ("not_in_force", args.not_in_force.then(|| "true".to_string())),
        ],
    ))
}

fn with_reason(request: ApiRequest, reason: Option<&str>) -> ApiRequest {
    match reason {
        Some(r) => request.header("X-Annal-Reason", r.to_string()),
        None => request,
    }
}

/// An assignment's target in one line: `enrollment UDID`, `group NAME`, `filter model=…`.
pub fn describe_target(target: &Value) -> String {
    if let Some(key) = target.get("enrollment") {
        return format!("enrollment {}", table::text(Some(key)));
    }
    if let Some(name) = target.get("group") {
        return format!("group {}", table::text(Some(name)));
    }
    if target.get("filter").is_some() {
        return format!("filter {}", groups::describe(target));
    }
    table::text(Some(target))
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// `a,b` for an array of strings (a device's reasons), `-` when empty.
fn joined(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|i| table::text(Some(i))).collect::<Vec<_>>().join(",")
        }
        Some(Value::Array(_)) => "-".into(),
        v => table::text(v),
    }
}

/// `k: n, …` (or `k=n,…` in a table cell) for a map of counts, `-` when empty.
fn counts(v: Option<&Value>, cell: bool) -> String {
    let (pair, between) = if cell { ("=", ",") } else { (": ", ", ") };
    match v {
        Some(Value::Object(map)) if !map.is_empty() => map
            .iter()
            .map(|(k, n)| format!("{}{pair}{}", table::clean(k), table::text(Some(n))))
            .collect::<Vec<_>>()
            .join(between),
        Some(Value::Object(_)) => "-".into(),
        v => table::text(v),
    }
}

pub fn list_table(answer: &Value) -> String {
    let rows: Vec<Vec<String>> = array(answer, "declarations")
        .iter()
        .map(|d| {
            vec![
                table::field(d, "identifier"),
                table::field(d, "category"),
                table::field(d, "type"),
                table::field(d, "server_token"),
                array(d, "assignments").len().to_string(),
            ]
        })
        .collect();
    table::render(
        &["IDENTIFIER", "CATEGORY", "TYPE", "SERVER TOKEN", "ASSIGNMENTS"],
        &rows,
    )
}

/// One declaration's details, then its assignments.
pub fn declaration_details(d: &Value) -> String {
    let mut out = table::details(&[
        ("identifier", table::field(d, "identifier")),
        ("type", table::field(d, "type")),
        ("category", table::field(d, "category")),
        ("server_token", table::field(d, "server_token")),
        ("payload", table::text(d.get("payload"))),
    ]);
    let assignments = array(d, "assignments");
    if assignments.is_empty() {
        out.push_str("\nnot assigned: `annal declarations assign` gives it to devices\n");
    } else {
        let rows: Vec<Vec<String>> = assignments
            .iter()
            .map(|a| {
                vec![
                    table::field(a, "assignment_id"),
                    describe_target(a.get("target").unwrap_or(&Value::Null)),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table::render(&["ASSIGNMENT ID", "TARGET"], &rows));
    }
    out
}

/// The fleet view: devices and what they report, then one row per declaration.
pub fn fleet_table(answer: &Value) -> String {
    let mut out = table::details(&[
        (
            "devices",
            format!(
                "{} enrolled, {} reporting",
                table::field(answer, "devices"),
                table::field(answer, "reporting")
            ),
        ),
        ("os_versions", counts(answer.get("os_versions"), false)),
        (
            "softwareupdate_install_states",
            counts(answer.get("softwareupdate_install_states"), false),
        ),
        (
            "softwareupdate_pending_versions",
            counts(answer.get("softwareupdate_pending_versions"), false),
        ),
        ("passcode_compliant", counts(answer.get("passcode_compliant"), false)),
    ]);
    const COUNTS: [&str; 9] = [
        "devices", "pending", "stale", "valid", "invalid", "unknown", "active", "inactive", "reasons",
    ];
    let rows: Vec<Vec<String>> = array(answer, "declarations")
        .iter()
        .map(|d| {
            let mut row = vec![table::field(d, "identifier"), table::field(d, "category")];
            row.extend(COUNTS.iter().map(|k| match *k {
                "reasons" => counts(d.get(k), true),
                k => table::field(d, k),
            }));
            row
        })
        .collect();
    out.push('\n');
    out.push_str(&table::render(
        &[
            "IDENTIFIER",
            "CATEGORY",
            "DEVICES",
            "PENDING",
            "STALE",
            "VALID",
            "INVALID",
            "UNKNOWN",
            "ACTIVE",
            "INACTIVE",
            "REASONS",
        ],
        &rows,
    ));
    out
}

/// One device's view: its tokens, then one row per declaration of its set.
pub fn device_table(answer: &Value) -> String {
    let mut out = table::details(&[
        ("enrollment", table::field(answer, "enrollment")),
        ("declarations_token", table::field(answer, "declarations_token")),
        ("given_token", table::field(answer, "given_token")),
        ("in_sync", table::field(answer, "in_sync")),
        ("reported_at", table::time(answer.get("reported_at"))),
    ]);
    let rows: Vec<Vec<String>> = array(answer, "declarations")
        .iter()
        .map(|d| {
            vec![
                table::field(d, "identifier"),
                table::field(d, "category"),
                table::field(d, "server_token"),
                table::field(d, "state"),
                table::field(d, "valid"),
                table::field(d, "active"),
                joined(d.get("reasons")),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table::render(
        &[
            "IDENTIFIER",
            "CATEGORY",
            "SERVER TOKEN",
            "STATE",
            "VALID",
            "ACTIVE",
            "REASONS",
        ],
        &rows,
    ));
    out
}

/// A JSON file, or standard input for `-`.
fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))
}

pub async fn run(data_dir: &Path, args: DeclarationsArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(data_dir, &args.api)?;
    match args.command {
        DeclarationsCommand::List { json } => {
            let (_, answer) = api.json(&ApiRequest::get("/v1/declarations".into())).await?;
            if json {
                table::emit_json(&answer)?;
            } else {
                table::emit(&list_table(&answer))?;
            }
        }
        DeclarationsCommand::Show { identifier, json } => {
            let (_, answer) = api.json(&show_request(&identifier)).await?;
            // `status` and `validate` are other paths of the API, not declarations.
            anyhow::ensure!(
                answer.get("identifier").and_then(Value::as_str) == Some(identifier.as_str()),
                "the server's answer for {identifier:?} is not that declaration"
            );
            if json {
                table::emit_json(&answer)?;
            } else {
                table::emit(&declaration_details(&answer))?;
            }
        }
        DeclarationsCommand::Put(put) => {
            let body = put_body(&put, read_json)?;
            let (_, answer) = api.json(&put_request(&put.identifier, body)).await?;
            if put.json {
                table::emit_json(&answer)?;
            } else {
                let changed = answer.get("changed").and_then(Value::as_bool) == Some(true);
                table::emit(&format!(
                    "{}  {}  {}\n",
                    table::field(&answer, "identifier"),
                    table::field(&answer, "server_token"),
                    if changed {
                        "changed"
                    } else {
                        "unchanged: the same content"
                    }
                ))?;
            }
        }
        DeclarationsCommand::Rm { identifier, reason } => {
            api.send(&delete_request(&identifier, reason.as_deref())).await?;
            eprintln!("declaration {} removed", table::clean(&identifier));
        }
        DeclarationsCommand::Validate { file, json } => {
            let declaration = read_json(&file)?;
            let (_, answer) = api.json(&validate_request(declaration)).await?;
            if json {
                table::emit_json(&answer)?;
            } else {
                table::emit(&format!(
                    "{}  {}  valid (nothing recorded)\n",
                    table::field(&answer, "identifier"),
                    table::field(&answer, "server_token"),
                ))?;
            }
        }
        DeclarationsCommand::Assign(assign) => {
            let (_, answer) = api.json(&assign_request(&assign)).await?;
            if assign.json {
                table::emit_json(&answer)?;
            } else {
                let changed = answer.get("changed").and_then(Value::as_bool) == Some(true);
                table::emit(&format!(
                    "{}  {}\n",
                    table::field(&answer, "assignment_id"),
                    if changed {
                        "assigned"
                    } else {
                        "unchanged: already assigned"
                    }
                ))?;
            }
        }
        DeclarationsCommand::Unassign {
            identifier,
            assignment_id,
            reason,
        } => {
            api.send(&unassign_request(&identifier, &assignment_id, reason.as_deref()))
                .await?;
            eprintln!(
                "assignment {} of {} removed",
                table::clean(&assignment_id),
                table::clean(&identifier)
            );
        }
        DeclarationsCommand::Status { device, json } => {
            let (_, answer) = api.json(&status_request(device.as_deref())).await?;
            if json {
                table::emit_json(&answer)?;
            } else if device.is_some() {
                table::emit(&device_table(&answer))?;
            } else {
                table::emit(&fleet_table(&answer))?;
            }
        }
        DeclarationsCommand::Export(export_args) => return export(&api, &export_args).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// Streams the export to stdout, or to a `.partial` file renamed when complete.
async fn export(api: &Api, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let request = export_request(args);
    let Some(output) = &args.output else {
        let mut out = std::io::stdout().lock();
        return match copy(api, &request, &mut out).await {
            // The reader went away (`| head`): not a failure of the export.
            Err(e) if e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) == Some(ErrorKind::BrokenPipe) => {
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e),
            Ok(_) => Ok(ExitCode::SUCCESS),
        };
    };
    let partial = partial_path(output);
    let result = async {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?,
        );
        let bytes = copy(api, &request, &mut file).await?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&partial, output).with_context(|| format!("renaming {}", partial.display()))?;
        anyhow::Ok(bytes)
    }
    .await;
    match result {
        Ok(bytes) => {
            eprintln!(
                "exported the declaration status to {} ({bytes} bytes)",
                output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Copies the answer's body to `out`; returns the bytes written.
async fn copy(api: &Api, request: &ApiRequest, out: &mut impl Write) -> anyhow::Result<u64> {
    let mut body = api.send(request).await?.into_body();
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            out.write_all(&data)?;
            written += data.len() as u64;
        }
    }
    out.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(subcommand)]
        command: DeclarationsCommand,
    }

    fn parse(args: &[&str]) -> Result<DeclarationsCommand, clap::Error> {
        Wrap::try_parse_from(["declarations"].iter().chain(args.iter()).copied()).map(|w| w.command)
    }

    fn put(args: &[&str]) -> Result<PutArgs, clap::Error> {
        match parse(&[&["put"], args].concat())? {
            DeclarationsCommand::Put(p) => Ok(p),
            other => panic!("{other:?}"),
        }
    }

    fn assign(args: &[&str]) -> Result<AssignArgs, clap::Error> {
        match parse(&[&["assign"], args].concat())? {
            DeclarationsCommand::Assign(a) => Ok(a),
            other => panic!("{other:?}"),
        }
    }

    /// Reads no file: `p.json` is a payload, anything else a whole declaration.
    fn fake_read(path: &Path) -> anyhow::Result<Value> {
        Ok(match path.to_str() {
            Some("p.json") => json!({"MinimumLength": 6}),
            Some("list.json") => json!([1]),
            _ => json!({"Type": "T", "Identifier": "a", "Payload": {}}),
        })
    }

    #[test]
    fn put_sends_the_file_as_is_or_type_and_payload_with_the_reason() {
        let p = put(&["com.x/y", "--file", "d.json", "--reason", "CIS"]).unwrap();
        let req = put_request(&p.identifier, put_body(&p, fake_read).unwrap());
        assert_eq!(req.method, Method::PUT);
        assert_eq!(req.path, "/v1/declarations/com.x%2Fy");
        assert_eq!(
            req.body.unwrap(),
            json!({"Type": "T", "Identifier": "a", "Payload": {}, "reason": "CIS"})
        );
        let p = put(&[
            "a",
            "--type",
            "com.apple.configuration.passcode.settings",
            "--payload-file",
            "p.json",
        ])
        .unwrap();
        assert_eq!(
            put_body(&p, fake_read).unwrap(),
            json!({"Type": "com.apple.configuration.passcode.settings", "Payload": {"MinimumLength": 6}})
        );
        let p = put(&["a", "--type", "T"]).unwrap();
        assert_eq!(put_body(&p, fake_read).unwrap(), json!({"Type": "T"}));
        let p = put(&["a", "--file", "list.json"]).unwrap();
        assert!(put_body(&p, fake_read).is_err(), "a declaration is an object");
    }

    #[test]
    fn put_takes_a_file_or_a_type_never_both_nor_neither() {
        assert!(put(&["a"]).is_err());
        assert!(put(&["a", "--file", "d.json", "--type", "T"]).is_err());
        assert!(put(&["a", "--file", "d.json", "--payload-file", "p.json"]).is_err());
        assert!(
            put(&["a", "--payload-file", "p.json"]).is_err(),
            "a payload needs its type"
        );
    }

    #[test]
    fn assign_sends_exactly_one_target() {
        let req = assign_request(&assign(&["a", "--enrollment", "UDID-1", "--reason", "r"]).unwrap());
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.path, "/v1/declarations/a/assignments");
        assert_eq!(req.body.unwrap(), json!({"enrollment": "UDID-1", "reason": "r"}));
        let req = assign_request(&assign(&["a", "--group", "lab"]).unwrap());
        assert_eq!(req.body.unwrap(), json!({"group": "lab"}));
        let req = assign_request(
            &assign(&["a", "--filter-model", "iPhone", "--filter-os", "17", "--tag", "lab,b2"]).unwrap(),
        );
        assert_eq!(
            req.body.unwrap(),
            json!({"filter": {"model": "iPhone", "os_version": "17", "tags": ["lab", "b2"]}})
        );
        let req = assign_request(&assign(&["a", "--tag", "lab"]).unwrap());
        assert_eq!(req.body.unwrap(), json!({"filter": {"tags": ["lab"]}}));
        assert!(assign(&["a"]).is_err(), "a target is needed");
        assert!(assign(&["a", "--enrollment", "U", "--group", "g"]).is_err());
        assert!(assign(&["a", "--group", "g", "--filter-model", "iPad"]).is_err());
        assert!(assign(&["a", "--enrollment", "U", "--tag", "t"]).is_err());
    }

    #[test]
    fn ids_are_encoded_and_removals_carry_their_reason() {
        let req = unassign_request("com.x", "com.x@enrollment:A:u", Some("gone"));
        assert_eq!(req.method, Method::DELETE);
        assert_eq!(
            req.path,
            "/v1/declarations/com.x/assignments/com.x%40enrollment%3AA%3Au"
        );
        assert_eq!(req.headers, vec![("X-Annal-Reason", "gone".to_string())]);
        let req = delete_request("com.x", None);
        assert_eq!(
            (req.method, req.path.as_str()),
            (Method::DELETE, "/v1/declarations/com.x")
        );
        assert!(req.headers.is_empty());
        assert_eq!(validate_request(json!({})).path, "/v1/declarations/validate");
        assert_eq!(status_request(None).path, "/v1/declarations/status");
        assert_eq!(status_request(Some("A B")).path, "/v1/devices/A%20B/declarations");
    }

    #[test]
    fn export_maps_to_the_status_export_query() {
        let DeclarationsCommand::Export(e) = parse(&["export"]).unwrap() else {
            panic!()
        };
        assert_eq!(e.format, ExportFormat::Csv, "csv by default");
        assert_eq!(export_request(&e).path, "/v1/declarations/status/export?format=csv");
        let DeclarationsCommand::Export(e) = parse(&[
            "export",
            "--format",
            "ndjson",
            "--identifier",
            "a b",
            "--not-in-force",
            "-o",
            "x",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            export_request(&e).path,
            "/v1/declarations/status/export?format=ndjson&identifier=a%20b&not_in_force=true"
        );
        assert_eq!(e.output.as_deref(), Some(Path::new("x")));
        assert!(parse(&["export", "--format", "json"]).is_err());
    }

    #[test]
    fn tables_show_tokens_targets_and_counts() {
        let decl = json!({
            "identifier": "com.x", "category": "configuration", "type": "com.apple.configuration.passcode.settings",
            "server_token": "abc123", "payload": {"MinimumLength": 6},
            "assignments": [
                {"assignment_id": "com.x@filter:d1", "identifier": "com.x", "target": {"filter": {"model": "iPhone", "tags": ["lab"]}}},
                {"assignment_id": "com.x@group:lab", "identifier": "com.x", "target": {"group": "lab"}},
                {"assignment_id": "com.x@enrollment:U", "identifier": "com.x", "target": {"enrollment": "U\u{1b}"}},
            ]
        });
        let list = list_table(&json!({"declarations": [decl]}));
        assert_eq!(
            list.lines().nth(1).unwrap().split_whitespace().collect::<Vec<_>>(),
            [
                "com.x",
                "configuration",
                "com.apple.configuration.passcode.settings",
                "abc123",
                "3"
            ]
        );
        let details = declaration_details(&decl);
        assert!(details.contains("server_token  abc123"), "{details}");
        assert!(details.contains(r#"{"MinimumLength":6}"#), "{details}");
        assert!(
            details.contains("com.x@filter:d1     filter model=iPhone tags=lab"),
            "{details}"
        );
        assert!(
            details.contains("group lab") && details.contains("enrollment U?"),
            "{details}"
        );

        let fleet = fleet_table(&json!({
            "devices": 3, "reporting": 2, "os_versions": {"17.4": 2, "17.5": 1},
            "softwareupdate_install_states": {}, "passcode_compliant": {"true": 2, "unknown": 1},
            "declarations": [{"identifier": "com.x", "category": "configuration", "devices": 3, "pending": 1,
                "stale": 0, "valid": 2, "invalid": 0, "unknown": 0, "active": 1, "inactive": 1,
                "reasons": {"Error.X": 1}}]
        }));
        assert!(fleet.contains("3 enrolled, 2 reporting"), "{fleet}");
        assert!(
            fleet.contains("17.4: 2, 17.5: 1") && fleet.contains("true: 2, unknown: 1"),
            "{fleet}"
        );
        let row = fleet.lines().last().unwrap().split_whitespace().collect::<Vec<_>>();
        assert_eq!(
            row,
            [
                "com.x",
                "configuration",
                "3",
                "1",
                "0",
                "2",
                "0",
                "0",
                "1",
                "1",
                "Error.X=1"
            ]
        );

        let device = device_table(&json!({
            "enrollment": "U", "declarations_token": "t1", "given_token": null, "in_sync": false,
            "declarations": [{"identifier": "com.x", "category": "configuration", "server_token": "abc",
                "state": "reported", "valid": "valid", "active": false, "reasons": ["Error.A", "Error.B"]}]
        }));
        assert!(device.contains("given_token         -"), "{device}");
        assert!(
            device
                .lines()
                .last()
                .unwrap()
                .ends_with("valid  false   Error.A,Error.B"),
            "{device}"
        );
    }
}
