//! The rails `annal enqueue` puts on a destructive command (wipe, lock, management loss,
//! credentials): a reason before anything else, then the devices named one by one as the
//! server knows them, and a confirmation typed by a person (or `--yes`); `--dry-run` shows the
//! same list for any command and sends nothing.

use std::io::{BufRead, IsTerminal, Write};

use annal::domain::rails;
use annal_schemas::CommandClass;
use futures::StreamExt;
use serde_json::Value;

use super::client::{Api, ApiRequest, ClientError};
use super::enqueue::CommandBody;
use super::query::encode;
use super::table;

/// Device lookups in flight at once while the list is checked.
const LOOKUPS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum RailError {
    #[error("{request_type} is a destructive ({class}) command: give --reason (it is recorded in the audit trail)")]
    NoReason { request_type: String, class: &'static str },
    #[error("{request_type} is a destructive ({class}) command and no one can be asked here (stdin is not a terminal, or it held the ids): check the list with --dry-run, then pass --yes")]
    CannotAsk { request_type: String, class: &'static str },
    #[error("not confirmed: nothing was sent")]
    NotConfirmed,
    #[error("{0} of the ids are not enrollments the server knows: nothing was sent")]
    Unknown(usize),
}

/// The command's RequestType, wherever it was written (JSON, or a plist envelope or bare
/// Command dictionary); `None` when the server will have to say what is wrong with it.
pub fn request_type_of(command: &CommandBody) -> Option<String> {
    match command {
        CommandBody::Json(v) => v.get("RequestType").and_then(Value::as_str).map(str::to_string),
        CommandBody::Plist(xml) => {
            let value = plist::Value::from_reader_xml(xml.as_bytes()).ok()?;
            let dict = value.as_dictionary()?;
            let command = dict
                .get("Command")
                .and_then(plist::Value::as_dictionary)
                .unwrap_or(dict);
            command
                .get("RequestType")
                .and_then(plist::Value::as_string)
                .map(str::to_string)
        }
    }
}

/// A destructive command without a reason is refused here, before the server is asked.
pub fn check_reason(request_type: Option<&str>, reason: Option<&str>) -> Result<(), RailError> {
    let Some(request_type) = request_type.filter(|rt| rails::guarded(rt)) else {
        return Ok(());
    };
    if reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(RailError::NoReason {
            request_type: request_type.to_string(),
            class: CommandClass::of(request_type).as_str(),
        });
    }
    Ok(())
}

/// One id as the server knows it: `None` when it names no enrollment.
pub struct Target {
    pub id: String,
    pub device: Option<Value>,
}

/// Looks every id up (`GET /v1/devices/{id}`), in the order given.
pub async fn look_up(api: &Api, ids: &[String]) -> Result<Vec<Target>, ClientError> {
    let found: Vec<Result<Target, ClientError>> = futures::stream::iter(ids.iter().cloned())
        .map(|id| async move {
            match api.json(&ApiRequest::get(format!("/v1/devices/{}", encode(&id)))).await {
                Ok((_, device)) => Ok(Target {
                    id,
                    device: Some(device),
                }),
                Err(ClientError::Api { status, .. }) if status == hyper::StatusCode::NOT_FOUND => {
                    Ok(Target { id, device: None })
                }
                Err(e) => Err(e),
            }
        })
        .buffered(LOOKUPS)
        .collect()
        .await;
    found.into_iter().collect()
}

/// The plan as a table: each id with the device it names (serial, model, name, state).
pub fn plan_rows(targets: &[Target]) -> Vec<Vec<String>> {
    targets
        .iter()
        .map(|t| match &t.device {
            Some(d) => vec![
                table::clean(&t.id),
                table::field(d, "serial_number"),
                table::field(d, "model_name"),
                table::field(d, "device_name"),
                table::field(d, "state"),
            ],
            None => vec![
                table::clean(&t.id),
                String::new(),
                String::new(),
                String::new(),
                "UNKNOWN: no such enrollment".into(),
            ],
        })
        .collect()
}

/// Shows the plan on stderr-free stdout and returns how many ids named nothing.
pub fn show_plan(request_type: Option<&str>, reason: Option<&str>, targets: &[Target]) -> anyhow::Result<usize> {
    let header = ["ENROLLMENT", "SERIAL", "MODEL", "NAME", "STATE"];
    table::emit(&table::render(&header, &plan_rows(targets)))?;
    let unknown = targets.iter().filter(|t| t.device.is_none()).count();
    let class = request_type
        .map(|rt| CommandClass::of(rt).as_str())
        .unwrap_or("unknown");
    eprintln!(
        "{} ({class}) for {} devices ({unknown} unknown); reason: {}",
        request_type.unwrap_or("(the server will read the RequestType)"),
        targets.len(),
        reason.unwrap_or("none")
    );
    Ok(unknown)
}

/// Asks the person at the terminal to type the number of devices; anything else refuses.
pub fn confirm(
    request_type: &str,
    count: usize,
    input: &mut impl BufRead,
    prompt: &mut impl Write,
) -> Result<(), RailError> {
    let _ = write!(
        prompt,
        "Type the number of devices ({count}) to send {request_type} to them: "
    );
    let _ = prompt.flush();
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(_) if line.trim() == count.to_string() => Ok(()),
        _ => Err(RailError::NotConfirmed),
    }
}

/// Whether a person can be asked: stdin is a terminal and did not carry the ids.
pub fn can_ask(ids_from_stdin: bool) -> bool {
    !ids_from_stdin && std::io::stdin().is_terminal()
}

/// The refusal when nobody can be asked.
pub fn cannot_ask(request_type: &str) -> RailError {
    RailError::CannotAsk {
        request_type: request_type.to_string(),
        class: CommandClass::of(request_type).as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_request_type_is_read_from_every_form() {
        assert_eq!(
            request_type_of(&CommandBody::Json(json!({"RequestType": "EraseDevice"}))).as_deref(),
            Some("EraseDevice")
        );
        let envelope = r#"<?xml version="1.0"?><plist version="1.0"><dict><key>CommandUUID</key><string>X</string><key>Command</key><dict><key>RequestType</key><string>DeviceLock</string></dict></dict></plist>"#;
        assert_eq!(
            request_type_of(&CommandBody::Plist(envelope.into())).as_deref(),
            Some("DeviceLock")
        );
        let bare = r#"<?xml version="1.0"?><plist version="1.0"><dict><key>RequestType</key><string>ClearPasscode</string></dict></plist>"#;
        assert_eq!(
            request_type_of(&CommandBody::Plist(bare.into())).as_deref(),
            Some("ClearPasscode")
        );
        assert_eq!(request_type_of(&CommandBody::Plist("not a plist".into())), None);
    }

    #[test]
    fn destructive_commands_need_a_reason_before_anything_is_sent() {
        assert!(matches!(
            check_reason(Some("EraseDevice"), None),
            Err(RailError::NoReason { class: "data_loss", .. })
        ));
        assert!(check_reason(Some("DeviceLock"), Some(" ")).is_err());
        assert!(check_reason(Some("DeviceLock"), Some("INC-9")).is_ok());
        assert!(check_reason(Some("DeviceInformation"), None).is_ok());
        assert!(check_reason(None, None).is_ok());
    }

    #[test]
    fn only_the_exact_count_confirms() {
        let mut prompt = Vec::new();
        assert!(confirm("EraseDevice", 3, &mut "3\n".as_bytes(), &mut prompt).is_ok());
        assert!(String::from_utf8(prompt).unwrap().contains("(3) to send EraseDevice"));
        for answer in ["y\n", "yes\n", "4\n", "", "\n"] {
            assert!(
                matches!(
                    confirm("EraseDevice", 3, &mut answer.as_bytes(), &mut Vec::new()),
                    Err(RailError::NotConfirmed)
                ),
                "{answer:?}"
            );
        }
    }

    #[test]
    fn the_plan_names_each_device_and_flags_unknown_ids() {
        let targets = vec![
            Target {
                id: "UDID-1".into(),
                device: Some(
                    json!({"serial_number": "C02X", "model_name": "MacBook Pro", "device_name": "Ana's Mac", "state": "enrolled"}),
                ),
            },
            Target {
                id: "UDID-TYPO".into(),
                device: None,
            },
        ];
        let rows = plan_rows(&targets);
        assert_eq!(rows[0], vec!["UDID-1", "C02X", "MacBook Pro", "Ana's Mac", "enrolled"]);
        assert_eq!(rows[1][0], "UDID-TYPO");
        assert!(rows[1][4].starts_with("UNKNOWN"));
    }
}
