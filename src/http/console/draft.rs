//! A send form lifted into what the commands use case takes: the RequestType, the devices, the
//! command's keys typed by Apple's schema (`mdm::commands::form`), the reason and the options.
//! Lifting only turns text into JSON values (a number field into a number, a list into an
//! array); whether the command is valid is decided by the use case's own check
//! (`service::commands::check_listed`, then the enqueue), so the console can never accept what
//! the API refuses.
//!
//! Each key of the command is the form field `k.<Key>` (`k.Message`, `k.Queries`): apart from
//! the form's own fields, and never colliding with them.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::csrf::Form;
use crate::mdm::commands::form::{describe, CommandForm, FieldKind, FormField};
use crate::service::commands::{CheckedCommand, CommandSource, EnqueueRequest};

/// The prefix of a command key's field.
pub const KEY_PREFIX: &str = "k.";

/// Devices one console send names at most: a confirmation page lists each of them; more is the
/// API's job (a group or filter).
pub const MAX_SELECTED: usize = 1000;

/// Why a form could not be read as a command. Values are never quoted: a PIN or password typed
/// in the wrong field must not reach a page or a log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("choose a command")]
    NoCommand,
    #[error("{0:?} is not a command in Apple's schema")]
    UnknownCommand(String),
    #[error("`{key}`: {problem}")]
    Field { key: String, problem: &'static str },
    #[error("{0:?} is not a key of this command")]
    UnknownKey(String),
    #[error("{0} devices in one send; at most {MAX_SELECTED} (use the API with a group for more)")]
    TooMany(usize),
    #[error("the confirmed count is a number of devices")]
    BadCount,
}

impl DraftError {
    /// The field the message is about, to show it there.
    pub fn key(&self) -> Option<&str> {
        match self {
            DraftError::Field { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A send form, read.
#[derive(Debug, Clone)]
pub struct Draft {
    pub form: CommandForm,
    /// `RequestType` and every key given, as JSON in Apple's key names.
    pub command: Map<String, Value>,
    /// The values as they will be sent again (hidden fields of the confirmation page), one
    /// line each: `(key, value)`, a list's items one pair each.
    pub values: Vec<(String, String)>,
    pub devices: Vec<String>,
    pub reason: Option<String>,
    /// The number of devices the person typed on the confirmation page.
    pub confirm_count: Option<usize>,
    pub idempotency_key: Option<String>,
}

impl Draft {
    /// The command's form (`request_type` in Apple's schema), or why not.
    pub fn schema(request_type: Option<&str>) -> Result<CommandForm, DraftError> {
        let request_type = request_type.ok_or(DraftError::NoCommand)?;
        describe(request_type).ok_or_else(|| DraftError::UnknownCommand(request_type.to_string()))
    }

    /// Reads `form`: `request_type`, the `k.<Key>` fields, `device` (repeated) and
    /// `device_list` (one per line), `reason`, `confirm_count`, `idempotency_key`.
    pub fn lift(form: &Form) -> Result<Draft, DraftError> {
        let schema = Draft::schema(form.get("request_type"))?;
        let mut draft = Draft {
            command: Map::new(),
            values: Vec::new(),
            devices: devices(form),
            reason: form.get("reason").map(str::to_string),
            confirm_count: form
                .get("confirm_count")
                .map(|n| n.parse::<usize>().map_err(|_| DraftError::BadCount))
                .transpose()?,
            idempotency_key: form.get("idempotency_key").map(str::to_string),
            form: schema,
        };
        draft
            .command
            .insert("RequestType".into(), Value::String(draft.form.request_type.clone()));
        let known: BTreeSet<&str> = draft.form.fields.iter().map(|f| f.name.as_str()).collect();
        if let Some(unknown) = form
            .names()
            .filter_map(|n| n.strip_prefix(KEY_PREFIX))
            .find(|k| !known.contains(k))
        {
            return Err(DraftError::UnknownKey(unknown.to_string()));
        }
        for field in draft.form.fields.clone() {
            let raw: Vec<&str> = form.all(&field_name(&field.name));
            draft.set(&field, &raw)?;
        }
        if draft.devices.len() > MAX_SELECTED {
            return Err(DraftError::TooMany(draft.devices.len()));
        }
        Ok(draft)
    }

    /// Fills key `name` from `raw` when the form left it out (the device page's short form:
    /// its lock message, DeviceInformation's usual queries).
    pub fn default_value(&mut self, name: &str, raw: &[&str]) -> Result<(), DraftError> {
        if self.command.contains_key(name) {
            return Ok(());
        }
        match self.form.fields.iter().find(|f| f.name == name).cloned() {
            Some(field) => self.set(&field, raw),
            None => Err(DraftError::UnknownKey(name.to_string())),
        }
    }

    /// Types `raw` (the field's values as sent) by the schema; nothing when it is blank.
    fn set(&mut self, field: &FormField, raw: &[&str]) -> Result<(), DraftError> {
        let bad = |problem| DraftError::Field {
            key: field.name.clone(),
            problem,
        };
        let first = raw.first().copied();
        let (value, shown): (Value, Vec<String>) = match (field.kind, first) {
            (FieldKind::StringList, _) => {
                // Checkboxes send one value each; a textarea one item per line.
                let items: Vec<String> = raw
                    .iter()
                    .flat_map(|v| v.lines())
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect();
                if items.is_empty() {
                    return Ok(());
                }
                (Value::Array(items.iter().cloned().map(Value::String).collect()), items)
            }
            (_, None) => return Ok(()),
            (_, Some(_)) if raw.len() > 1 => return Err(bad("give one value")),
            (FieldKind::Text | FieldKind::Date, Some(text)) => {
                (Value::String(text.to_string()), vec![text.to_string()])
            }
            (FieldKind::Data, Some(text)) => {
                // Base64 as pasted, line breaks and all; sent on as one line.
                let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                (Value::String(compact.clone()), vec![compact])
            }
            (FieldKind::Integer, Some(text)) => {
                let n = text.parse::<i64>().map_err(|_| bad("not a whole number"))?;
                (Value::from(n), vec![n.to_string()])
            }
            (FieldKind::Real, Some(text)) => {
                let n = text
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .ok_or_else(|| bad("not a number"))?;
                (Value::Number(n), vec![text.to_string()])
            }
            (FieldKind::Boolean, Some(text)) => match text {
                "true" => (Value::Bool(true), vec!["true".into()]),
                "false" => (Value::Bool(false), vec!["false".into()]),
                _ => return Err(bad("choose true or false")),
            },
            (FieldKind::Json, Some(text)) => {
                let value: Value = serde_json::from_str(text).map_err(|_| bad("not valid JSON"))?;
                // Compact, so it travels as one hidden field.
                let line = value.to_string();
                (value, vec![line])
            }
        };
        self.command.insert(field.name.clone(), value);
        self.values.extend(shown.into_iter().map(|v| (field.name.clone(), v)));
        Ok(())
    }

    /// The values given for key `name`, as sent.
    pub fn values_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.values
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn request_type(&self) -> &str {
        &self.form.request_type
    }

    /// What `POST /v1/commands` would make of the same request: the command as JSON in Apple's
    /// key names, to a list of enrollments.
    pub fn request(&self) -> EnqueueRequest {
        EnqueueRequest {
            targets: self.devices.clone(),
            selection: None,
            command: CommandSource::Checked(CheckedCommand {
                json: Some(Value::Object(self.command.clone())),
                ..CheckedCommand::default()
            }),
            idempotency_key: self.idempotency_key.clone(),
            reason: self.reason.clone(),
            confirm_count: self.confirm_count,
            expires_at: None,
            no_push: false,
        }
    }
}

/// The field of key `name`.
pub fn field_name(name: &str) -> String {
    format!("{KEY_PREFIX}{name}")
}

/// `device` fields and `device_list` lines (commas and spaces separate too), each once, in
/// the order given.
pub fn devices(form: &Form) -> Vec<String> {
    let mut seen = BTreeSet::new();
    form.all("device")
        .into_iter()
        .chain(form.all("device_list"))
        .flat_map(|v| v.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|id| !id.is_empty())
        .filter(|id| seen.insert(id.to_string()))
        .map(str::to_string)
        .collect()
}

/// Whether a key's value is a secret a page shows only as "given" (a PIN, a password, a token):
/// the log seals the whole command (`service::commands::sealed`); the confirmation page does
/// not repeat it in clear either.
pub fn secret_key(name: &str) -> bool {
    ["PIN", "Password", "Passcode", "Token", "Secret"]
        .iter()
        .any(|s| name.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::parse(serde_urlencoded::to_string(pairs).unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn fields_are_typed_by_the_schema() {
        let draft = Draft::lift(&form(&[
            ("request_type", "DeviceLock"),
            ("k.Message", "Call 555"),
            ("k.PIN", "123456"),
            ("device", "A"),
            ("device_list", "B\nA, C"),
            ("reason", "lost"),
        ]))
        .unwrap();
        assert_eq!(
            Value::Object(draft.command.clone()),
            serde_json::json!({"RequestType": "DeviceLock", "Message": "Call 555", "PIN": "123456"})
        );
        assert_eq!(draft.devices, ["A", "B", "C"]);
        assert_eq!(draft.reason.as_deref(), Some("lost"));

        let info = Draft::lift(&form(&[
            ("request_type", "DeviceInformation"),
            ("k.Queries", "UDID"),
            ("k.Queries", "SerialNumber\nModel"),
        ]))
        .unwrap();
        assert_eq!(
            info.command["Queries"],
            serde_json::json!(["UDID", "SerialNumber", "Model"])
        );
        assert_eq!(info.values_of("Queries").count(), 3);
    }

    #[test]
    fn what_cannot_be_typed_is_refused_without_its_value() {
        let refused = |pairs: &[(&str, &str)]| Draft::lift(&form(pairs)).unwrap_err();
        assert_eq!(refused(&[]), DraftError::NoCommand);
        assert_eq!(
            refused(&[("request_type", "Nope")]),
            DraftError::UnknownCommand("Nope".into())
        );
        assert_eq!(
            refused(&[("request_type", "DeviceLock"), ("k.Nope", "1")]),
            DraftError::UnknownKey("Nope".into())
        );
        let e = refused(&[("request_type", "DeviceLock"), ("k.PIN", "1"), ("k.PIN", "2")]);
        assert_eq!(e.key(), Some("PIN"));
        assert_eq!(
            refused(&[("request_type", "DeviceLock"), ("confirm_count", "x")]),
            DraftError::BadCount
        );
        // Every integer, boolean and JSON field refuses text that is not one.
        for (request_type, kind, problem) in [
            (FieldKind::Integer, "not a whole number"),
            (FieldKind::Boolean, "choose true or false"),
            (FieldKind::Json, "not valid JSON"),
        ]
        .iter()
        .filter_map(|(kind, problem)| {
            crate::mdm::commands::form::catalog()
                .into_iter()
                .find(|(rt, _)| describe(rt).is_some_and(|f| f.fields.iter().any(|k| k.kind == *kind)))
                .map(|(rt, _)| (rt, *kind, *problem))
        }) {
            let schema = describe(request_type).unwrap();
            let field = schema.fields.iter().find(|f| f.kind == kind).unwrap();
            let name = field_name(&field.name);
            let e = refused(&[("request_type", request_type), (name.as_str(), "secret-123{")]);
            assert_eq!(e.to_string(), format!("`{}`: {problem}", field.name));
            assert!(!e.to_string().contains("secret-123"));
        }
    }

    #[test]
    fn secrets_are_recognised_by_name() {
        assert!(secret_key("PIN") && secret_key("NewPassword") && secret_key("UnlockToken"));
        assert!(!secret_key("Message") && !secret_key("Queries"));
    }
}
