//! Commands: the `{CommandUUID, Command:{RequestType, …}}` plist the server sends as the reply to
//! a command-channel request, and builders for the commands the device simulator answers (thin
//! wrappers over the typed builders in [`super::commands::builders`]).

use plist::{Dictionary, Value};

use super::bounded::parse_dict;
use super::commands::builders::{self, Command as _};
use super::error::{EncodeError, ParseError};
use super::fields::Fields;

/// The XML plist envelope for `command` (a Command dictionary holding `RequestType`).
pub fn command_envelope(command_uuid: &str, command: Dictionary) -> Result<Vec<u8>, EncodeError> {
    if command_uuid.is_empty() {
        return Err(EncodeError::EmptyCommandUuid);
    }
    if !matches!(command.get("RequestType"), Some(Value::String(_))) {
        return Err(EncodeError::MissingRequestType);
    }
    let mut envelope = Dictionary::new();
    envelope.insert("CommandUUID".into(), Value::String(command_uuid.to_owned()));
    envelope.insert("Command".into(), Value::Dictionary(command));
    let mut out = Vec::new();
    Value::Dictionary(envelope)
        .to_writer_xml(&mut out)
        .map_err(|e| EncodeError::Plist(e.to_string()))?;
    Ok(out)
}

/// Parses a command plist: a full envelope `{CommandUUID, Command:{RequestType, …}}` (the
/// CommandUUID is returned when present) or a bare Command dictionary `{RequestType, …}`.
/// Returns `(CommandUUID, RequestType, Command)`; the Command dictionary is returned whole,
/// `RequestType` included.
///
/// An envelope nested inside `Command` (`Command.Command.RequestType`, as in Apple's
/// declarativemanagement example) is reported as [`ParseError::NestedEnvelope`] rather than
/// unwrapped: a device answers that shape with CommandFormatError, so accepting it here would
/// queue a command no device can run.
pub fn parse_command(bytes: &[u8]) -> Result<(Option<String>, String, Dictionary), ParseError> {
    let mut top = parse_dict(bytes)?;
    if !top.contains_key("Command") {
        if top.contains_key("RequestType") {
            let request_type = request_type(&top, "RequestType")?;
            return Ok((None, request_type, top));
        }
        return Err(ParseError::missing("Command"));
    }
    let mut fields = Fields::top(&mut top);
    let command_uuid = fields.opt_string("CommandUUID")?;
    let command = match fields.opt_dict_value("Command")? {
        Some(Value::Dictionary(command)) => command,
        _ => return Err(ParseError::missing("Command")),
    };
    if !command.contains_key("RequestType") && command.contains_key("Command") {
        return Err(ParseError::NestedEnvelope);
    }
    let request_type = request_type(&command, "Command.RequestType")?;
    Ok((command_uuid, request_type, command))
}

fn request_type(command: &Dictionary, path: &str) -> Result<String, ParseError> {
    match command.get("RequestType") {
        Some(Value::String(rt)) => Ok(rt.clone()),
        Some(other) => Err(ParseError::wrong_type(path, "string", other)),
        None => Err(ParseError::missing(path)),
    }
}

/// A Command dictionary holding only its `RequestType`.
pub fn command(request_type: &str) -> Dictionary {
    let mut command = Dictionary::new();
    command.insert("RequestType".into(), Value::String(request_type.to_owned()));
    command
}

/// `DeviceInformation` for the named queries (`UDID`, `OSVersion`, `SerialNumber`, …).
pub fn device_information(queries: &[&str]) -> Dictionary {
    builders::DeviceInformation::new(queries).to_command()
}

pub fn security_info() -> Dictionary {
    builders::SecurityInfo.to_command()
}

pub fn profile_list() -> Dictionary {
    builders::ProfileList::default().to_command()
}

pub fn installed_application_list() -> Dictionary {
    builders::InstalledApplicationList::default().to_command()
}

pub fn certificate_list() -> Dictionary {
    builders::CertificateList::default().to_command()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mdm::testutil::{body, dict, s, xml};

    #[test]
    fn envelope_round_trips() {
        let bytes = command_envelope(
            "9F09D114-BCFD-42AD-A974-371AA7D6256E",
            device_information(&["UDID", "OSVersion"]),
        )
        .expect("encodes");
        assert!(bytes.starts_with(b"<?xml"), "XML plist expected");
        let (uuid, request_type, command) = parse_command(&bytes).expect("parses back");
        assert_eq!(uuid.as_deref(), Some("9F09D114-BCFD-42AD-A974-371AA7D6256E"));
        assert_eq!(request_type, "DeviceInformation");
        assert_eq!(
            command.get("Queries"),
            Some(&Value::Array(vec![s("UDID"), s("OSVersion")]))
        );
    }

    #[test]
    fn envelope_shape() {
        let bytes = command_envelope("C1", security_info()).expect("encodes");
        let top = crate::mdm::parse_dict(&bytes).expect("plist");
        let keys: Vec<&str> = top.keys().map(String::as_str).collect();
        assert_eq!(keys, ["CommandUUID", "Command"]);
        assert_eq!(
            top.get("Command"),
            Some(&Value::Dictionary(dict(&[("RequestType", s("SecurityInfo"))])))
        );
    }

    #[test]
    fn envelope_refuses_incomplete_commands() {
        assert_eq!(command_envelope("", profile_list()), Err(EncodeError::EmptyCommandUuid));
        assert_eq!(
            command_envelope("C1", Dictionary::new()),
            Err(EncodeError::MissingRequestType)
        );
        let numeric = dict(&[("RequestType", Value::Integer(1.into()))]);
        assert_eq!(command_envelope("C1", numeric), Err(EncodeError::MissingRequestType));
    }

    #[test]
    fn builders_name_their_request_type() {
        for (command, rt) in [
            (security_info(), "SecurityInfo"),
            (profile_list(), "ProfileList"),
            (installed_application_list(), "InstalledApplicationList"),
            (certificate_list(), "CertificateList"),
            (device_information(&[]), "DeviceInformation"),
        ] {
            assert_eq!(command.get("RequestType"), Some(&s(rt)));
            assert_eq!(
                parse_command(&xml(command)).map(|(u, r, _)| (u, r)),
                Ok((None, rt.to_string()))
            );
        }
    }

    #[test]
    fn bare_command_has_no_uuid() {
        let bytes = body(&[("RequestType", s("DeviceLock")), ("Message", s("Lost"))]);
        let (uuid, rt, command) = parse_command(&bytes).expect("bare command");
        assert_eq!((uuid, rt.as_str()), (None, "DeviceLock"));
        assert_eq!(command.get("Message"), Some(&s("Lost")));
    }

    #[test]
    fn nested_envelope_is_detected() {
        let inner = dict(&[
            ("CommandUUID", s("C1")),
            ("Command", Value::Dictionary(security_info())),
        ]);
        let bytes = body(&[("Command", Value::Dictionary(inner))]);
        assert_eq!(parse_command(&bytes), Err(ParseError::NestedEnvelope));
    }

    #[test]
    fn command_errors() {
        assert_eq!(
            parse_command(&body(&[("CommandUUID", s("C1"))])),
            Err(ParseError::MissingKey { key: "Command".into() })
        );
        assert_eq!(
            parse_command(&body(&[("CommandUUID", s("C1")), ("Command", s("x"))])),
            Err(ParseError::WrongType {
                key: "Command".into(),
                expected: "dictionary",
                found: "string"
            })
        );
        assert_eq!(
            parse_command(&body(&[(
                "Command",
                Value::Dictionary(dict(&[("Queries", Value::Array(vec![]))]))
            )])),
            Err(ParseError::MissingKey {
                key: "Command.RequestType".into()
            })
        );
        assert_eq!(
            parse_command(&body(&[(
                "Command",
                Value::Dictionary(dict(&[("RequestType", Value::Boolean(true))]))
            )])),
            Err(ParseError::WrongType {
                key: "Command.RequestType".into(),
                expected: "string",
                found: "boolean"
            })
        );
        assert_eq!(
            parse_command(&body(&[
                ("CommandUUID", Value::Data(vec![])),
                ("Command", Value::Dictionary(profile_list()))
            ])),
            Err(ParseError::WrongType {
                key: "CommandUUID".into(),
                expected: "string",
                found: "data"
            })
        );
        assert!(matches!(
            parse_command(b"not a plist"),
            Err(ParseError::MalformedPlist { .. })
        ));
    }
}
