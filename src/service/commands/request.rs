//! What an admin asks to queue, lifted out of HTTP: the targets, the command in one of its
//! two written forms, and the options. `command` turns it into the Command dictionary after
//! the same checks, in the same order, the API has always made.

use chrono::{DateTime, Utc};
use plist::{Dictionary, Value as Plist};

use crate::mdm::commands::{from_json, validate, CommandError, Platform};
use crate::mdm::parse_command;
use crate::service::admin::AdminError;
use crate::service::groups::Selection;

/// Most enrollments one request may name; a bigger fan-out is split by the client.
pub const MAX_FAN_OUT: usize = 10_000;

/// One command for many enrollments.
#[derive(Debug, Clone)]
pub struct EnqueueRequest {
    /// Enrollment ids; each entry may itself be a comma-separated list (NanoMDM's path form).
    pub targets: Vec<String>,
    /// A group or filter instead of `targets`, resolved when the command is queued.
    pub selection: Option<Selection>,
    pub command: CommandSource,
    pub idempotency_key: Option<String>,
    pub reason: Option<String>,
    /// How many devices the caller means: required for a destructive command to many
    /// devices (`domain::rails`), and checked against the list whenever given.
    pub confirm_count: Option<usize>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Queue without waking the devices with an APNs push.
    pub no_push: bool,
}

/// How the command was written.
#[derive(Debug, Clone)]
pub enum CommandSource {
    /// NanoMDM's raw form: a command plist (a full envelope or a bare Command dictionary),
    /// queued as given so its tools work unchanged.
    Raw(bytes::Bytes),
    /// Annal's form, checked against Apple's schema first.
    Checked(CheckedCommand),
}

/// Exactly one of `json` (Apple's key names) or `plist` (XML text).
#[derive(Debug, Clone, Default)]
pub struct CheckedCommand {
    pub json: Option<serde_json::Value>,
    pub plist: Option<String>,
    pub command_uuid: Option<String>,
    /// Check platform support too (iOS, macOS, tvOS, visionOS, watchOS).
    pub platform: Option<String>,
}

/// The command as it will be queued, before any per-enrollment part.
#[derive(Debug, Clone)]
pub struct Command {
    pub command_uuid: Option<String>,
    pub request_type: String,
    pub body: Dictionary,
    /// ClearPasscode without an UnlockToken: each enrollment's escrowed one is put in.
    pub needs_unlock_token: bool,
}

/// Splits `a,b,c` (NanoMDM's path form), refusing an empty or oversized list.
pub fn targets<S: AsRef<str>>(ids: &[S]) -> Result<Vec<String>, AdminError> {
    let ids: Vec<String> = ids
        .iter()
        .flat_map(|s| s.as_ref().split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(AdminError::invalid("no enrollment ids given"));
    }
    if ids.len() > MAX_FAN_OUT {
        return Err(AdminError::invalid(format!(
            "{} enrollments in one request; at most {MAX_FAN_OUT}",
            ids.len()
        )));
    }
    Ok(ids)
}

/// A CommandUUID names the command in the device's answers, the read models' keys and every
/// export: 1–128 letters, digits, `-`, `_` or `.` (UUIDs and Apple's example names fit).
pub fn check_command_uuid(uuid: &str) -> Result<(), AdminError> {
    let ok = (1..=128).contains(&uuid.len())
        && uuid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AdminError::invalid_at(
            "a CommandUUID is 1–128 letters, digits, '-', '_' or '.'",
            "command_uuid",
        ))
    }
}

/// Apple's RequestTypes, exactly spelled (from the embedded schema).
fn known_request_types() -> &'static [&'static str] {
    static KNOWN: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(crate::mdm::commands::request_types)
}

/// Refuses a RequestType that is a case or whitespace variant of one of Apple's (`"EraseDevice "`)
/// or no name at all, whoever queues it: a 400 that names the intended type, not a command that
/// slips past the gates and the sealing rules keyed on the exact name.
pub fn check_request_type(request_type: &str) -> Result<(), AdminError> {
    crate::domain::access::check_spelling(request_type, known_request_types())
        .map_err(|e| AdminError::invalid_at(e.to_string(), "RequestType"))
}

/// Whether a command is stored sealed: when its RequestType carries a secret, and when Annal
/// does not know the RequestType (so cannot tell that it carries none).
pub fn sealed(request_type: &str) -> bool {
    annal_schemas::carries_secret(request_type) || !known_request_types().contains(&request_type)
}

impl CommandSource {
    /// The Command dictionary this source describes (a checked one against Apple's schema).
    pub fn command(&self) -> Result<Command, AdminError> {
        match self {
            CommandSource::Raw(bytes) => {
                let (command_uuid, request_type, body) =
                    parse_command(bytes).map_err(|e| AdminError::invalid(format!("invalid command: {e}")))?;
                Ok(Command {
                    command_uuid,
                    request_type,
                    body,
                    needs_unlock_token: false,
                })
            }
            CommandSource::Checked(checked) => {
                let (command_uuid, request_type, body) = checked.command()?;
                let needs_unlock_token = request_type == "ClearPasscode" && !body.contains_key("UnlockToken");
                Ok(Command {
                    command_uuid,
                    request_type,
                    body,
                    needs_unlock_token,
                })
            }
        }
    }
}

fn schema_error(e: CommandError, prefix: &str) -> AdminError {
    let path = if prefix.is_empty() {
        e.path.clone()
    } else {
        format!("{prefix}.{}", e.path)
    };
    AdminError::Invalid {
        message: format!("invalid command: `{path}`: {}", e.reason),
        path: Some(path),
    }
}

impl CheckedCommand {
    /// The Command dictionary, checked against Apple's schema.
    fn command(&self) -> Result<(Option<String>, String, Dictionary), AdminError> {
        let platform = self
            .platform
            .as_deref()
            .map(|p| {
                p.parse::<Platform>()
                    .map_err(|e| AdminError::invalid_at(e.to_string(), "platform"))
            })
            .transpose()?;
        let mut parsed = match (&self.json, &self.plist) {
            (Some(json), None) => {
                let mut json = json.clone();
                // The UnlockToken is filled in per device: check the rest now.
                let fill_token = json.get("RequestType").and_then(|v| v.as_str()) == Some("ClearPasscode")
                    && json.get("UnlockToken").is_none();
                if fill_token {
                    if let Some(obj) = json.as_object_mut() {
                        obj.insert("UnlockToken".into(), "AA==".into());
                    }
                }
                let mut command = from_json(&json, platform).map_err(|e| schema_error(e, "command"))?;
                if fill_token {
                    command.remove("UnlockToken");
                }
                let request_type = request_type_of(&command);
                (self.command_uuid.clone(), request_type, command)
            }
            (None, Some(text)) => {
                let (uuid, _, command) = parse_command(text.as_bytes())
                    .map_err(|e| AdminError::invalid_at(format!("invalid command plist: {e}"), "plist"))?;
                let request_type = validate(&command, platform).map_err(|e| schema_error(e, "plist"))?;
                (self.command_uuid.clone().or(uuid), request_type, command)
            }
            _ => return Err(AdminError::invalid("give exactly one of `command` (JSON) or `plist`")),
        };
        if parsed.0.as_deref().is_some_and(str::is_empty) {
            parsed.0 = None;
        }
        Ok(parsed)
    }
}

fn request_type_of(command: &Dictionary) -> String {
    command
        .get("RequestType")
        .and_then(Plist::as_string)
        .unwrap_or_default()
        .to_string()
}
