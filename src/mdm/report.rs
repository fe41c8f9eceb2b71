//! The command channel (`PUT`, `Content-Type: application/x-apple-aspen-mdm`): the device
//! reports the result of the last command (or `Idle`) and the reply carries the next command.

use std::fmt;
use std::str::FromStr;

use annal_schemas::events::command::ErrorChainItem;
use plist::{Dictionary, Value};

use super::bounded::parse_dict;
use super::error::{excerpt, ParseError};
use super::fields::Fields;
use super::ids::{EnrollmentIds, ID_KEYS};
use super::salvage::top_level_strings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Nothing to report (start of a session): send the next command or an empty body.
    Idle,
    /// Done; the response keys are at the top level of the report.
    Acknowledged,
    /// Failed; see the error chain.
    Error,
    /// The device could not parse the command (a server bug).
    CommandFormatError,
    /// Cannot run now (locked, Setup Assistant); stays queued, the device polls again.
    NotNow,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Idle => "Idle",
            Status::Acknowledged => "Acknowledged",
            Status::Error => "Error",
            Status::CommandFormatError => "CommandFormatError",
            Status::NotNow => "NotNow",
        }
    }

    /// Every status but `Idle` answers a specific command, named by its CommandUUID.
    pub fn requires_command_uuid(self) -> bool {
        self != Status::Idle
    }
}

impl FromStr for Status {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(match s {
            "Idle" => Status::Idle,
            "Acknowledged" => Status::Acknowledged,
            "Error" => Status::Error,
            "CommandFormatError" => Status::CommandFormatError,
            "NotNow" => Status::NotNow,
            other => return Err(ParseError::UnknownStatus(excerpt(other))),
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command-channel request, without the command-specific response keys.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandReport {
    pub ids: EnrollmentIds,
    pub status: Status,
    /// Always present unless `status` is `Idle` (an Idle report may still carry one; kept).
    pub command_uuid: Option<String>,
    /// First item is the top-level error. Empty when absent, whatever the status.
    pub error_chain: Vec<ErrorChainItem>,
    /// Echoed by macOS 10.11/10.12 only.
    pub request_type: Option<String>,
}

/// Parses a command-channel request body (XML or binary plist).
pub fn parse_report(body: &[u8]) -> Result<CommandReport, ParseError> {
    parse_report_with_response(body).map(|(report, _)| report)
}

/// Like [`parse_report`], and also returns the command's response keys (`QueryResponses`,
/// `ProfileList`, …): the top-level keys left once the report keys (`Status`, `CommandUUID`,
/// `ErrorChain`, `RequestType`, `NotOnConsole`) and the identity keys are removed.
pub fn parse_report_with_response(body: &[u8]) -> Result<(CommandReport, Dictionary), ParseError> {
    let mut dict = parse_dict(body)?;
    let mut fields = Fields::top(&mut dict);
    let header = header(&mut fields)?;
    let report = rest(&mut fields, header)?;
    Ok((report, dict))
}

/// A report read as far as it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadReport {
    /// Every key read: the report and its response keys, as [`parse_report_with_response`].
    Whole(CommandReport, Dictionary),
    /// The device answered a command but the rest of its report cannot be read.
    Unreadable(UnreadableReport),
}

/// What is known of a report whose `Status` (not Idle), `CommandUUID` and identifiers were read
/// but whose other keys were not (a malformed value in the answer, a wrong type, a body that is
/// not a whole plist).
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadableReport {
    pub ids: EnrollmentIds,
    pub status: Status,
    pub command_uuid: String,
    /// Why the rest could not be read; quotable like any [`ParseError`].
    pub error: ParseError,
}

/// Keys read to salvage a report whose body does not parse.
const HEADER_KEYS: [&str; 2] = ["Status", "CommandUUID"];

/// Reads a command-channel body for the HTTP edge: [`ReadReport::Whole`] when it parses, else
/// [`ReadReport::Unreadable`] when its `Status` (other than Idle), `CommandUUID` and identifiers
/// can still be read, from the parsed dictionary or (for an XML body that does not parse) by a
/// scan of its top level. A body where even those cannot be read is refused with the error of
/// the strict parse, as [`parse_report_with_response`] refuses it.
pub fn read_report(body: &[u8]) -> Result<ReadReport, ParseError> {
    let (header, error) = match parse_dict(body) {
        Ok(mut dict) => {
            let mut fields = Fields::top(&mut dict);
            let header = header(&mut fields)?;
            match rest(&mut fields, header.clone()) {
                Ok(report) => return Ok(ReadReport::Whole(report, dict)),
                Err(error) => (header, error),
            }
        }
        Err(error) => {
            let wanted: Vec<&str> = HEADER_KEYS.iter().chain(&ID_KEYS).copied().collect();
            let Some(mut found) = top_level_strings(body, &wanted) else {
                return Err(error);
            };
            match header(&mut Fields::top(&mut found)) {
                Ok(header) => (header, error),
                Err(_) => return Err(error),
            }
        }
    };
    match header {
        Header {
            status,
            command_uuid: Some(command_uuid),
            ids,
        } if status != Status::Idle => Ok(ReadReport::Unreadable(UnreadableReport {
            ids,
            status,
            command_uuid,
            error,
        })),
        // An Idle answers no command: refusing it loops nothing.
        _ => Err(error),
    }
}

/// The keys that say who answered what.
#[derive(Clone)]
struct Header {
    status: Status,
    ids: EnrollmentIds,
    command_uuid: Option<String>,
}

fn header(fields: &mut Fields<'_>) -> Result<Header, ParseError> {
    let status: Status = fields.string("Status")?.parse()?;
    let ids = EnrollmentIds::take(fields)?;
    ids.enrollment_key()?;
    let command_uuid = fields.opt_string("CommandUUID")?;
    if status.requires_command_uuid() && command_uuid.is_none() {
        return Err(ParseError::MissingCommandUuid {
            status: status.as_str(),
        });
    }
    Ok(Header {
        status,
        ids,
        command_uuid,
    })
}

fn rest(fields: &mut Fields<'_>, header: Header) -> Result<CommandReport, ParseError> {
    let error_chain = match fields.opt_array("ErrorChain")? {
        Some(items) => error_chain(items)?,
        None => Vec::new(),
    };
    let request_type = fields.opt_string("RequestType")?;
    // Read for its type only: a user-channel flag, not part of the response.
    fields.opt_bool("NotOnConsole")?;
    Ok(CommandReport {
        ids: header.ids,
        status: header.status,
        command_uuid: header.command_uuid,
        error_chain,
        request_type,
    })
}

/// `ErrorCode` and `ErrorDomain` identify the error and are required; the descriptions are
/// optional (`USEnglishDescription` is absent when the device's language is English).
fn error_chain(items: Vec<Value>) -> Result<Vec<ErrorChainItem>, ParseError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("ErrorChain[{i}]");
            let mut item = match item {
                Value::Dictionary(d) => d,
                other => return Err(ParseError::wrong_type(at, "dictionary", &other)),
            };
            let mut f = Fields::at(&mut item, at);
            Ok(ErrorChainItem {
                error_code: f.i64("ErrorCode")?,
                error_domain: f.string("ErrorDomain")?,
                localized_description: f.opt_string("LocalizedDescription")?,
                us_english_description: f.opt_string("USEnglishDescription")?,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
