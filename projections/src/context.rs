//! What the projections read from one recorded event: its place in the log, its enrollment and
//! as much of its body as some projection needs.
//!
//! A rebuild's speed is mostly decoding, and most events of a log are Idle polls, pushes and the
//! steps of commands. So the body is decoded only where it is read: not at all for Idle polls
//! and pushes, only the CommandUUID (borrowed, not copied) for deliveries and answers, and with
//! `Event::decode` for everything else.

use std::borrow::Cow;
use std::cell::OnceCell;

use annal_schemas::catalog::EventData;
use annal_schemas::events::command::{CommandAcknowledged, CommandDelivered, CommandFormatError, CommandNotNow};
use annal_schemas::{Event, EventType, RecordedEvent};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::plist_json::answer_dictionary;
use crate::route::{route, Feeds, Read, Route};

const ENROLLMENT_STREAM: &str = "enrollment-";
/// Refused re-enrollments of an enrollment, kept apart from it (`refused-<enrollment>`).
const REFUSED_STREAM: &str = "refused-";
/// The streams of administrative actions the audit trail records (who created or revoked an
/// API key or enrollment token, who installed a push certificate); their key is the stream.
const ADMIN_STREAMS: [&str; 7] = [
    "api-keys",
    "push-certificates",
    "groups",
    "device-tags",
    "escrow-key-unlock",
    "declarations",
    "console-sessions",
];
/// Which devices a group meant for one command (`targets-<CommandUUID>`).
const TARGETS_STREAM: &str = "targets-";
/// Data declarations point devices at (`declaration-data-<sha256>`).
const DECLARATION_DATA_STREAM: &str = "declaration-data-";

/// Whether an event type belongs on an administrative stream.
fn administrative(event_type: EventType) -> bool {
    matches!(
        event_type,
        EventType::ApiKeyCreated
            | EventType::ApiKeyRevoked
            | EventType::PushCertificateInstalled
            | EventType::GroupDefined
            | EventType::GroupRemoved
            | EventType::DeviceTagged
            | EventType::DeviceUntagged
            | EventType::TargetsResolved
            | EventType::EscrowKeyUnlockRequested
            | EventType::EscrowKeyUnlockAnswered
            | EventType::DeclarationDefined
            | EventType::DeclarationRemoved
            | EventType::DeclarationAssigned
            | EventType::DeclarationUnassigned
            | EventType::ConsoleSessionStarted
            | EventType::ConsoleSessionEnded
    )
}

/// Where and when an event happened, and who caused it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// The enrollment key of the stream (UDID, EnrollmentID or `<device>:<user>`); for an
    /// administrative event, its stream (`api-keys`, `push-certificates`).
    pub key: &'a str,
    pub position: u64,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub raw: Option<&'a [u8]>,
    /// The projections this event's type feeds ([`route`]).
    pub feeds: Feeds,
}

/// The part of a command event's body the projections read.
#[derive(Debug, Deserialize)]
pub(crate) struct CommandRef<'a> {
    #[serde(borrow)]
    pub command_uuid: Cow<'a, str>,
    #[serde(borrow, default)]
    pub request_type: Cow<'a, str>,
    #[serde(default)]
    pub attempt: u32,
    /// The answer's dictionary, once a projection has read it ([`CommandRef::answer`]).
    #[serde(skip)]
    answer: OnceCell<Option<Map<String, Value>>>,
}

/// The answers whose raw plist the read models read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerKind {
    /// Its `QueryResponses`.
    DeviceInformation,
    /// Its `SecurityInfo`.
    SecurityInfo,
}

impl AnswerKind {
    pub fn of(request_type: &str) -> Option<Self> {
        match request_type {
            "DeviceInformation" => Some(AnswerKind::DeviceInformation),
            "SecurityInfo" => Some(AnswerKind::SecurityInfo),
            _ => None,
        }
    }

    fn dictionary(self) -> &'static str {
        match self {
            AnswerKind::DeviceInformation => "QueryResponses",
            AnswerKind::SecurityInfo => "SecurityInfo",
        }
    }
}

impl CommandRef<'_> {
    /// The dictionary of an answer of an [`AnswerKind`] in the device's raw plist, as JSON;
    /// `None` for other answers and for raw bodies without it. The raw plist is the costliest
    /// thing a rebuild reads: it is parsed once, however many projections read it.
    pub fn answer(&self, raw: Option<&[u8]>) -> Option<&Map<String, Value>> {
        self.answer
            .get_or_init(|| {
                let kind = AnswerKind::of(&self.request_type)?;
                answer_dictionary(raw?, kind.dictionary())
            })
            .as_ref()
    }
}

/// The device's answers that carry nothing but their status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Acknowledged,
    NotNow,
    CommandFormatError,
}

/// An event as the projections see it.
// One lives on the stack per event and is never moved or stored: boxing the large variant
// would cost an allocation per event to save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Input<'a> {
    /// A device message whose body no projection reads (Idle, GetToken, …).
    Seen,
    /// PushAttempted (`accepted` false) or PushAccepted.
    Push {
        accepted: bool,
    },
    /// CommandDelivered.
    Delivered(CommandRef<'a>),
    Answered(Answer, CommandRef<'a>),
    /// Every other event, decoded whole.
    Event(Event),
}

impl Input<'_> {
    /// Whether the event records a message the device sent (so the device was seen then).
    pub fn is_device_message(&self) -> bool {
        match self {
            Input::Seen | Input::Answered(..) => true,
            Input::Push { .. } | Input::Delivered(_) => false,
            Input::Event(e) => matches!(
                e,
                Event::Authenticate(_)
                    | Event::TokenUpdate(_)
                    | Event::CheckOut(_)
                    | Event::CommandErrored(_)
                    | Event::DeclarationStatusReported(_)
            ),
        }
    }
}

/// The context and input of an event on an enrollment stream, or `None` for events no
/// projection reads (other streams, types this build does not know, types routed nowhere,
/// bodies that do not decode). Which projections read which type is decided in one place,
/// [`route`].
pub(crate) fn read(event: &RecordedEvent) -> Option<(Context<'_>, Input<'_>)> {
    let event_type = EventType::from_name(&event.event_type)?;
    let key = match event.stream.strip_prefix(ENROLLMENT_STREAM) {
        Some(key) if !administrative(event_type) && event_type != EventType::EnrollmentRefused => key,
        Some(_) => return None,
        // A refused stream holds the refusal only; the enrollment's own events are on its stream.
        None => match event.stream.strip_prefix(REFUSED_STREAM) {
            Some(key) if event_type == EventType::EnrollmentRefused => key,
            Some(_) => return None,
            None if event_type == EventType::TargetsResolved => event
                .stream
                .starts_with(TARGETS_STREAM)
                .then_some(event.stream.as_str())?,
            None if event_type == EventType::DeclarationDataStored => event
                .stream
                .starts_with(DECLARATION_DATA_STREAM)
                .then_some(event.stream.as_str())?,
            None if ADMIN_STREAMS.contains(&event.stream.as_str()) && administrative(event_type) => {
                event.stream.as_str()
            }
            None => return None,
        },
    };
    let Route { read, feeds } = route(event_type);
    let (version, data) = (event.schema_version, event.data.as_slice());
    let input = match read {
        Read::Skip => return None,
        Read::Seen => Input::Seen,
        Read::Push { accepted } => Input::Push { accepted },
        Read::Delivered => Input::Delivered(command_ref::<CommandDelivered>(version, data)?),
        Read::Answered(answer) => {
            let command = match answer {
                Answer::Acknowledged => command_ref::<CommandAcknowledged>(version, data)?,
                Answer::NotNow => command_ref::<CommandNotNow>(version, data)?,
                Answer::CommandFormatError => command_ref::<CommandFormatError>(version, data)?,
            };
            Input::Answered(answer, command)
        }
        Read::Decode => Input::Event(event.decode().ok()?),
    };
    let context = Context {
        key,
        position: event.global_position,
        at: event.recorded_at,
        actor: &event.actor,
        raw: event.raw.as_deref(),
        feeds,
    };
    Some((context, input))
}

/// The CommandUUID, RequestType and attempt of a command event at its current schema version.
/// Any other version goes through `Event::decode` (which upcasts it, or refuses a version from
/// the future), so the shortcut never reads a body differently from the full decoder.
fn command_ref<E: EventData>(version: u32, data: &[u8]) -> Option<CommandRef<'_>> {
    if version == E::SCHEMA_VERSION {
        return serde_json::from_slice(data).ok();
    }
    let owned = |uuid: &str, request_type: &str, attempt: u32| CommandRef {
        command_uuid: Cow::Owned(uuid.to_owned()),
        request_type: Cow::Owned(request_type.to_owned()),
        attempt,
        answer: OnceCell::new(),
    };
    match Event::decode(E::EVENT_TYPE, version, data).ok()? {
        Event::CommandDelivered(e) => Some(owned(&e.command_uuid, &e.request_type, e.attempt)),
        Event::CommandAcknowledged(e) => Some(owned(&e.command_uuid, &e.request_type, 0)),
        Event::CommandNotNow(e) => Some(owned(&e.command_uuid, &e.request_type, 0)),
        Event::CommandFormatError(e) => Some(owned(&e.command_uuid, &e.request_type, 0)),
        _ => None,
    }
}
