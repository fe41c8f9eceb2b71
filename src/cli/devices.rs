//! `annal devices list | show | queue`: the inventory and a device's pending commands, from the
//! admin API; `tag | untag | tags` the admin tags group filters match on; `forget` and `revoke-identity` (admin role) end a device's enrollment or its
//! identity certificate.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value};

use super::client::{Api, ApiArgs, ApiRequest};
use super::query::{encode, parse_time, time_param, with_query, AsOf, Time};
use super::{commands, table, tags};

/// Devices (admin API): list, show one, or its pending commands.
///
/// `show` can read a device as the log knew it at a past position or time.
/// Connects to --server (ANNAL_SERVER) with --api-key (ANNAL_API_KEY, else
/// <data-dir>/admin-api-key), trusting Annal's CA (<data-dir>/ca/ca.pem) or --ca-file.
#[derive(Debug, clap::Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: DevicesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DevicesCommand {
    /// List devices, with optional filters. Shows one page (see --limit) unless --all is
    /// given; the next page's key is printed on stderr.
    List(ListArgs),
    /// One device's inventory: identifiers, model, OS, state, last contact, pending commands
    /// and the answers to its latest queries; optionally as the log knew it at a past point.
    Show {
        /// The device's key (enrollment id or UDID, as `devices list` shows it).
        id: String,
        #[command(flatten)]
        as_of: AsOf,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// A device's pending commands, oldest first (the order the device receives them).
    Queue {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// End a device's enrollment (the device is gone, wiped or re-imaged): its identity stops
    /// working, its queue is cancelled, and a new identity may enroll for it. Admin role.
    Forget {
        id: String,
        /// Why, kept in the log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Put admin tags on a device (group filters match on them). Admin or operator role.
    Tag {
        id: String,
        /// One or more tags (comma-separated or repeated).
        #[arg(required = true, value_delimiter = ',')]
        tags: Vec<String>,
        /// Why, kept in the log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Take admin tags off a device. Admin or operator role.
    Untag {
        id: String,
        #[arg(required = true, value_delimiter = ',')]
        tags: Vec<String>,
        /// Why, kept in the log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// The admin tags a device carries.
    Tags {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device identity certificate by its SHA-256 fingerprint: every request with it
    /// is refused (403) from then on, and it cannot renew or enroll. Admin role.
    RevokeIdentity {
        fingerprint: String,
        /// Why, kept in the log.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateArg {
    Authenticated,
    Enrolled,
    #[value(alias = "checked_out")]
    CheckedOut,
}

impl StateArg {
    fn as_str(self) -> &'static str {
        match self {
            StateArg::Authenticated => "authenticated",
            StateArg::Enrolled => "enrolled",
            StateArg::CheckedOut => "checked_out",
        }
    }
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct DeviceFilters {
    /// Only devices in this enrollment state.
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
    /// Only this hardware model (e.g. iPhone16,1).
    #[arg(long)]
    pub model: Option<String>,
    /// Only this OS version (e.g. 17.4.1).
    #[arg(long)]
    pub os_version: Option<String>,
    /// Only the device with this serial number.
    #[arg(long)]
    pub serial: Option<String>,
    /// Only devices enrolled with this push topic.
    #[arg(long)]
    pub topic: Option<String>,
    /// Only devices last seen before this time (RFC 3339): finds devices gone quiet.
    #[arg(long, value_parser = parse_time)]
    pub last_seen_before: Option<Time>,
    /// Only devices last seen after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub last_seen_after: Option<Time>,
    /// Only devices whose identity certificate's issuer name contains this (e.g. the old CA's
    /// name during a CA rotation: none left means every device moved).
    #[arg(long)]
    pub identity_issuer: Option<String>,
    /// Only devices whose identity certificate expires before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub identity_expires_before: Option<Time>,
    /// Only devices carrying this admin tag (repeatable: all of them).
    #[arg(long = "tag", value_delimiter = ',')]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: DeviceFilters,
    /// Devices per page (the server caps it).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Start after this device key (the `next` of a previous page).
    #[arg(long)]
    pub after: Option<String>,
    /// Follow `next` through every page.
    #[arg(long)]
    pub all: bool,
    /// Print JSON (`{"devices": [...], "next": ...}`; with --all, every page in one document).
    #[arg(long)]
    pub json: bool,
}

pub fn list_request(filters: &DeviceFilters, limit: Option<u32>, after: Option<&str>) -> ApiRequest {
    let f = filters;
    ApiRequest::get(with_query(
        "/v1/devices",
        &[
            ("state", f.state.map(|s| s.as_str().to_string())),
            ("model", f.model.clone()),
            ("os_version", f.os_version.clone()),
            ("serial", f.serial.clone()),
            ("topic", f.topic.clone()),
            ("last_seen_before", time_param(f.last_seen_before.as_ref())),
            ("last_seen_after", time_param(f.last_seen_after.as_ref())),
            ("identity_issuer", f.identity_issuer.clone()),
            (
                "identity_expires_before",
                time_param(f.identity_expires_before.as_ref()),
            ),
            ("tag", (!f.tags.is_empty()).then(|| f.tags.join(","))),
            ("after", after.map(str::to_string)),
            ("limit", limit.map(|l| l.to_string())),
        ],
    ))
}

pub fn show_request(id: &str, as_of: &AsOf) -> ApiRequest {
    ApiRequest::get(with_query(&format!("/v1/devices/{}", encode(id)), &as_of.params()))
}

pub fn forget_request(id: &str, reason: Option<String>) -> ApiRequest {
    ApiRequest {
        body: Some(json!({ "reason": reason })),
        method: hyper::Method::POST,
        ..ApiRequest::get(format!("/v1/devices/{}/forget", encode(id)))
    }
}

pub fn revoke_identity_request(fingerprint: &str, reason: Option<String>) -> ApiRequest {
    ApiRequest {
        body: Some(json!({ "reason": reason })),
        method: hyper::Method::POST,
        ..ApiRequest::get(format!(
            "/v1/identities/{}/revoke",
            encode(&fingerprint.to_ascii_lowercase())
        ))
    }
}

pub fn queue_request(id: &str) -> ApiRequest {
    ApiRequest::get(format!("/v1/devices/{}/queue", encode(id)))
}

/// The page's `next` key, if any.
pub fn next_key(page: &Value) -> Option<String> {
    match page.get("next") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

pub fn devices_table(devices: &[Value]) -> String {
    let rows: Vec<Vec<String>> = devices
        .iter()
        .map(|d| {
            let model = ["model_name", "product_name", "model"]
                .iter()
                .map(|k| table::field(d, k))
                .find(|s| s != "-")
                .unwrap_or_else(|| "-".into());
            let mut state = table::field(d, "state");
            if d.get("token_dead").and_then(Value::as_bool) == Some(true) {
                // APNs said the token is gone: pushes cannot reach this device.
                state.push_str(" (token dead)");
            }
            vec![
                table::field(d, "enrollment"),
                table::field(d, "serial_number"),
                model,
                os(d),
                state,
                table::time(d.get("last_seen_at")),
                table::field(d, "pending_commands"),
            ]
        })
        .collect();
    table::render(
        &["KEY", "SERIAL", "MODEL", "OS", "STATE", "LAST SEEN", "PENDING"],
        &rows,
    )
}

fn os(d: &Value) -> String {
    match (table::field(d, "os_version"), table::field(d, "build_version")) {
        (v, b) if b == "-" => v,
        (v, b) => format!("{v} ({b})"),
    }
}

/// One device as aligned `name value` lines, then its query responses sorted by key.
pub fn device_details(d: &Value) -> String {
    const FIELDS: [&str; 18] = [
        "enrollment",
        "udid",
        "enrollment_id",
        "user_id",
        "channel",
        "serial_number",
        "model",
        "model_name",
        "product_name",
        "device_name",
        "os_version",
        "topic",
        "state",
        "generation",
        "enrolled_at",
        "last_seen_at",
        "pending_commands",
        "token_dead",
    ];
    let pairs: Vec<(&str, String)> = FIELDS
        .iter()
        .filter(|k| d.get(**k).is_some_and(|v| !v.is_null()))
        .map(|k| {
            let v = match *k {
                "os_version" => os(d),
                k if k.ends_with("_at") => table::time(d.get(k)),
                k => table::field(d, k),
            };
            (*k, v)
        })
        .collect();
    let mut pairs = pairs;
    if let Some(fingerprint) = d.get("identity_fingerprint").and_then(Value::as_str) {
        pairs.push(("identity", table::clean(fingerprint)));
    }
    if let Some(cert) = d.get("identity_certificate").filter(|c| c.is_object()) {
        pairs.push(("identity_issuer", table::field(cert, "issuer")));
        pairs.push(("identity_serial", table::field(cert, "serial_hex")));
        pairs.push(("identity_expires", table::time(cert.get("not_after"))));
    }
    let mut out = table::details(&pairs);
    if let Some(Value::Object(answers)) = d.get("query_responses") {
        if !answers.is_empty() {
            out.push_str("query_responses:\n");
            let width = answers.keys().map(String::len).max().unwrap_or(0);
            for (k, v) in answers {
                let k = table::clean(k);
                out.push_str(&format!(
                    "  {k:<width$}  {}\n",
                    table::truncate(&table::text(Some(v)), 100)
                ));
            }
        }
    }
    out
}

pub async fn run(data_dir: &Path, args: DevicesArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(data_dir, &args.api)?;
    match args.command {
        DevicesCommand::List(list) => run_list(&api, list).await,
        DevicesCommand::Show { id, as_of, json } => {
            let (_, device) = api.json(&show_request(&id, &as_of)).await?;
            if json {
                table::emit_json(&device)?;
            } else {
                table::emit(&device_details(&device))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DevicesCommand::Forget { id, reason } => {
            let (_, answer) = api.json(&forget_request(&id, reason)).await?;
            table::emit_json(&answer)?;
            Ok(ExitCode::SUCCESS)
        }
        DevicesCommand::RevokeIdentity { fingerprint, reason } => {
            let (_, answer) = api.json(&revoke_identity_request(&fingerprint, reason)).await?;
            table::emit_json(&answer)?;
            Ok(ExitCode::SUCCESS)
        }
        DevicesCommand::Tag { id, tags, reason } => tags::tag(&api, &id, &tags, reason.as_deref()).await,
        DevicesCommand::Untag { id, tags, reason } => tags::untag(&api, &id, &tags, reason.as_deref()).await,
        DevicesCommand::Tags { id, json } => tags::show(&api, &id, json).await,
        DevicesCommand::Queue { id, json } => {
            let (_, queue) = api.json(&queue_request(&id)).await?;
            if json {
                table::emit_json(&queue)?;
            } else {
                let commands = queue
                    .get("commands")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                table::emit(&commands::status_table(&commands))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_list(api: &Api, args: ListArgs) -> anyhow::Result<ExitCode> {
    let mut devices = Vec::new();
    let mut after = args.after.clone();
    let next = loop {
        let (_, page) = api
            .json(&list_request(&args.filters, args.limit, after.as_deref()))
            .await?;
        if let Some(Value::Array(items)) = page.get("devices") {
            devices.extend(items.iter().cloned());
        }
        match next_key(&page) {
            Some(next) if args.all => after = Some(next),
            next => break next,
        }
    };
    if args.json {
        table::emit_json(&json!({"devices": devices, "next": next}))?;
    } else {
        table::emit(&devices_table(&devices))?;
        if let Some(next) = next {
            eprintln!("more devices: --after {next} (or --all)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;
