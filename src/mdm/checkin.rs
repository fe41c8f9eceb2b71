//! Check-in messages (`PUT`, `Content-Type: application/x-apple-aspen-mdm-checkin`): one struct
//! per `MessageType` of Apple's `mdm/checkin/*.yaml` (18.1), with the schema's plist types.
//!
//! "Required" in the schema is conditional on OS, enrollment type and channel, so only the keys
//! required everywhere are required here (`Topic`, `Token`, `PushMagic`, `TokenServiceType`,
//! `Endpoint`); the others are optional. Every message must identify its enrollment (`UDID` or
//! `EnrollmentID`), since that names the event stream it is appended to. Unknown keys are
//! ignored: newer OS releases add keys.

use plist::Value;

use super::bounded::parse_dict;
use super::error::{excerpt, ParseError};
use super::fields::Fields;
use super::ids::EnrollmentIds;
use super::secret::Secret;

#[derive(Debug, Clone, PartialEq)]
pub enum CheckinMessage {
    Authenticate(Authenticate),
    TokenUpdate(TokenUpdate),
    CheckOut(CheckOut),
    UserAuthenticate(UserAuthenticate),
    SetBootstrapToken(SetBootstrapToken),
    GetBootstrapToken(GetBootstrapToken),
    GetToken(GetToken),
    DeclarativeManagement(DeclarativeManagement),
}

/// Enrollment starts; the server may refuse it. The domain decides on this value as parsed:
/// it carries no secret, so there is nothing to seal first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Authenticate {
    pub ids: EnrollmentIds,
    pub topic: String,
    pub serial_number: Option<String>,
    pub imei: Option<String>,
    pub meid: Option<String>,
    pub os_version: Option<String>,
    pub build_version: Option<String>,
    pub product_name: Option<String>,
    /// macOS only, like `model` and `model_name`.
    pub device_name: Option<String>,
    pub model: Option<String>,
    pub model_name: Option<String>,
}

/// The push token of a channel; the first one completes enrollment. Values may change later.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenUpdate {
    pub ids: EnrollmentIds,
    pub topic: String,
    /// The APNs device token (hex-encoded into the push URL).
    pub token: Vec<u8>,
    /// Goes into the push payload `{"mdm": PushMagic}`.
    pub push_magic: Secret<String>,
    /// iOS device channel only; needed later by ClearPasscode.
    pub unlock_token: Option<Secret<Vec<u8>>>,
    pub awaiting_configuration: Option<bool>,
    /// macOS user channel only.
    pub not_on_console: Option<bool>,
}

/// The enrollment profile was removed (sent only if `CheckOutWhenRemoved`).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOut {
    pub ids: EnrollmentIds,
    pub topic: String,
}

/// macOS network/mobile user login; the first request has no `DigestResponse`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserAuthenticate {
    pub ids: EnrollmentIds,
    pub digest_response: Option<Secret<String>>,
}

/// Bootstrap-token escrow (macOS); no token means the Mac cleared it.
#[derive(Debug, Clone, PartialEq)]
pub struct SetBootstrapToken {
    pub ids: EnrollmentIds,
    pub bootstrap_token: Option<Secret<Vec<u8>>>,
    pub awaiting_configuration: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GetBootstrapToken {
    pub ids: EnrollmentIds,
    pub awaiting_configuration: Option<bool>,
}

/// A token for a service (`com.apple.maid`, `com.apple.watch.pairing`).
#[derive(Debug, Clone, PartialEq)]
pub struct GetToken {
    pub ids: EnrollmentIds,
    pub token_service_type: String,
    /// A dictionary; holds `SecurityToken` for watch pairing, hence secret.
    pub token_parameters: Option<Secret<Value>>,
}

/// A DDM request; `endpoint` is `tokens`, `declaration-items`, `status` or
/// `declaration/<type>/<identifier>`, `data` its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclarativeManagement {
    pub ids: EnrollmentIds,
    pub endpoint: String,
    pub data: Option<Vec<u8>>,
}

type Parser = fn(EnrollmentIds, &mut Fields<'_>) -> Result<CheckinMessage, ParseError>;

/// Parses a check-in request body (XML or binary plist).
pub fn parse_checkin(body: &[u8]) -> Result<CheckinMessage, ParseError> {
    let mut dict = parse_dict(body)?;
    let mut fields = Fields::top(&mut dict);
    let message_type = fields.string("MessageType")?;
    let parse: Parser = match message_type.as_str() {
        "Authenticate" => authenticate,
        "TokenUpdate" => token_update,
        "CheckOut" => check_out,
        "UserAuthenticate" => user_authenticate,
        "SetBootstrapToken" => set_bootstrap_token,
        "GetBootstrapToken" => get_bootstrap_token,
        "GetToken" => get_token,
        "DeclarativeManagement" => declarative_management,
        other => return Err(ParseError::UnknownMessageType(excerpt(other))),
    };
    let ids = EnrollmentIds::take(&mut fields)?;
    ids.enrollment_key()?;
    parse(ids, &mut fields)
}

impl CheckinMessage {
    pub fn ids(&self) -> &EnrollmentIds {
        match self {
            CheckinMessage::Authenticate(m) => &m.ids,
            CheckinMessage::TokenUpdate(m) => &m.ids,
            CheckinMessage::CheckOut(m) => &m.ids,
            CheckinMessage::UserAuthenticate(m) => &m.ids,
            CheckinMessage::SetBootstrapToken(m) => &m.ids,
            CheckinMessage::GetBootstrapToken(m) => &m.ids,
            CheckinMessage::GetToken(m) => &m.ids,
            CheckinMessage::DeclarativeManagement(m) => &m.ids,
        }
    }

    /// The `MessageType` value, as Apple spells it.
    pub fn message_type(&self) -> &'static str {
        match self {
            CheckinMessage::Authenticate(_) => "Authenticate",
            CheckinMessage::TokenUpdate(_) => "TokenUpdate",
            CheckinMessage::CheckOut(_) => "CheckOut",
            CheckinMessage::UserAuthenticate(_) => "UserAuthenticate",
            CheckinMessage::SetBootstrapToken(_) => "SetBootstrapToken",
            CheckinMessage::GetBootstrapToken(_) => "GetBootstrapToken",
            CheckinMessage::GetToken(_) => "GetToken",
            CheckinMessage::DeclarativeManagement(_) => "DeclarativeManagement",
        }
    }
}

fn authenticate(ids: EnrollmentIds, f: &mut Fields<'_>) -> Result<CheckinMessage, ParseError> {
    Ok(CheckinMessage::Authenticate(Authenticate {
        ids,
        topic: f.string("Topic")?,
        serial_number: f.opt_string("SerialNumber")?,
        imei: f.opt_string("IMEI")?,
        meid: f.opt_string("MEID")?,
        os_version: f.opt_string("OSVersion")?,
        build_version: f.opt_string("BuildVersion")?,
        product_name: f.opt_string("ProductName")?,
        device_name: f.opt_string("DeviceName")?,
        model: f.opt_string("Model")?,
        model_name: f.opt_string("ModelName")?,
    }))
}

fn token_update(ids: EnrollmentIds, f: &mut Fields<'_>) -> Result<CheckinMessage, ParseError> {
    Ok(CheckinMessage::TokenUpdate(TokenUpdate {
        ids,
        topic: f.string("Topic")?,
        token: f.data("Token")?,
        push_magic: Secret::new(f.string("PushMagic")?),
        unlock_token: f.opt_data("UnlockToken")?.map(Secret::new),
        awaiting_configuration: f.opt_bool("AwaitingConfiguration")?,
        not_on_console: f.opt_bool("NotOnConsole")?,
    }))
}

fn check_out(ids: EnrollmentIds, f: &mut Fields<'_>) -> Result<CheckinMessage, ParseError> {
    Ok(CheckinMessage::CheckOut(CheckOut {
        ids,
        topic: f.string("Topic")?,
    }))
}

fn user_authenticate(ids: EnrollmentIds, f: &mut Fields<'_>) -> Result<CheckinMessage, ParseError> {
    let digest_response = f.opt_string("DigestResponse")?.map(Secret::new);
    Ok(CheckinMessage::UserAuthenticate(UserAuthenticate {
        ids,
        digest_response,
    }))
}

fn set_bootstrap_token(ids: EnrollmentIds, f: &mut Fields<'_>) -> Result<CheckinMessage, ParseError> {
    Ok(CheckinMessage::SetBootstrapToken(SetBootstrapToken {
        ids,
        bootstrap_token: f.opt_data("BootstrapToken")?.map(Secret::new),
        awaiting_configuration: f.opt_bool("AwaitingConfiguration")?,
    }))
}

fn get_bootstrap_token(ids: EnrollmentIds, f: &mut Fields<'_>) -> Result<CheckinMessage, ParseError> {
    let awaiting_configuration = f.opt_bool("AwaitingConfiguration")?;
    Ok(CheckinMessage::GetBootstrapToken(GetBootstrapToken {
        ids,
        awaiting_configuration,
    }))
}

fn get_token(ids: EnrollmentIds, f: &mut Fields<'_>) -> Result<CheckinMessage, ParseError> {
    Ok(CheckinMessage::GetToken(GetToken {
        ids,
        token_service_type: f.string("TokenServiceType")?,
        token_parameters: f.opt_dict_value("TokenParameters")?.map(Secret::new),
    }))
}

fn declarative_management(ids: EnrollmentIds, f: &mut Fields<'_>) -> Result<CheckinMessage, ParseError> {
    Ok(CheckinMessage::DeclarativeManagement(DeclarativeManagement {
        ids,
        endpoint: f.string("Endpoint")?,
        data: f.opt_data("Data")?,
    }))
}

#[cfg(test)]
#[path = "checkin_tests.rs"]
mod tests;
