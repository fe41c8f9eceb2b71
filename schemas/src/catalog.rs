//! The catalog of event types: one enum over every current event body, decoding (with
//! upcasting of older schema versions) and the JSON Schema of each type.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{de::DeserializeOwned, Serialize};

use crate::events::{
    ade::*, apikey::*, checkin::*, command::*, console::*, declaration::*, escrow::*, group::*, identity::*, push::*,
    scep::*,
};

/// A typed event body with its stable name and schema version.
pub trait EventData: Serialize + DeserializeOwned + JsonSchema {
    const EVENT_TYPE: &'static str;
    const SCHEMA_VERSION: u32;
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("{event_type} schema version {version} is newer than this build reads ({current})")]
    FutureVersion {
        event_type: String,
        version: u32,
        current: u32,
    },
    #[error("{event_type} v{version}: no upcaster from this version")]
    NoUpcaster { event_type: String, version: u32 },
    #[error("{event_type} v{version}: invalid body: {source}")]
    Body {
        event_type: String,
        version: u32,
        source: serde_json::Error,
    },
}

macro_rules! catalog {
    ($($variant:ident),+ $(,)?) => {
        /// Every event body, at its current schema version.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event { $($variant($variant)),+ }

        impl Event {
            pub fn event_type(&self) -> &'static str {
                match self { $(Event::$variant(_) => $variant::EVENT_TYPE),+ }
            }

            pub fn schema_version(&self) -> u32 {
                match self { $(Event::$variant(_) => $variant::SCHEMA_VERSION),+ }
            }

            /// The body as JSON bytes, as it is stored.
            pub fn to_data(&self) -> Vec<u8> {
                // Plain data structs with string keys always serialise.
                match self { $(Event::$variant(e) => serde_json::to_vec(e).unwrap_or_default()),+ }
            }

            /// Decodes a stored body, upcasting it first when it was written at an older version.
            pub fn decode(event_type: &str, version: u32, data: &[u8]) -> Result<Event, DecodeError> {
                match event_type {
                    $($variant::EVENT_TYPE => {
                        let current = $variant::SCHEMA_VERSION;
                        let body_error = |source| DecodeError::Body {
                            event_type: event_type.to_string(), version, source,
                        };
                        if version > current {
                            return Err(DecodeError::FutureVersion {
                                event_type: event_type.to_string(), version, current,
                            });
                        }
                        if version == current {
                            return serde_json::from_slice(data).map(Event::$variant).map_err(body_error);
                        }
                        let value = serde_json::from_slice(data).map_err(body_error)?;
                        let value = crate::upcast::upcast(event_type, version, current, value)?;
                        serde_json::from_value(value).map(Event::$variant).map_err(body_error)
                    })+
                    other => Err(DecodeError::UnknownType(other.to_string())),
                }
            }

            /// `(event type, schema version)` of every current type.
            pub fn types() -> Vec<(&'static str, u32)> {
                vec![$(($variant::EVENT_TYPE, $variant::SCHEMA_VERSION)),+]
            }
        }

        /// Every event type, without its body: what code that must decide something for each
        /// type matches on (no wildcard arm), so a new type does not compile until it is decided.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $($variant),+ }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            /// The stable name the log stores.
            pub fn name(self) -> &'static str {
                match self { $(EventType::$variant => $variant::EVENT_TYPE),+ }
            }

            /// The type stored under `name`; `None` for a name this build does not know.
            pub fn from_name(name: &str) -> Option<EventType> {
                match name {
                    $($variant::EVENT_TYPE => Some(EventType::$variant),)+
                    _ => None,
                }
            }
        }

        $(impl From<$variant> for Event {
            fn from(e: $variant) -> Self { Event::$variant(e) }
        })+

        /// The JSON Schema of every event type at every version this build reads, keyed by the
        /// file name they are committed under (`<EventType>.v<N>.json`).
        pub fn json_schemas() -> BTreeMap<String, serde_json::Value> {
            let mut out = BTreeMap::new();
            $(out.insert(
                format!("{}.v{}.json", $variant::EVENT_TYPE, $variant::SCHEMA_VERSION),
                schema_value::<$variant>($variant::EVENT_TYPE, $variant::SCHEMA_VERSION),
            );)+
            for (name, version, schema) in crate::upcast::retired_schemas() {
                out.insert(format!("{name}.v{version}.json"), with_id(schema, name, version));
            }
            out
        }
    };
}

catalog! {
    Authenticate, TokenUpdate, CheckOut, UserAuthenticate, SetBootstrapToken, GetBootstrapToken,
    GetToken, DeclarativeManagement, Idle,
    CommandQueued, CommandDelivered, CommandAcknowledged, CommandErrored, CommandFormatError,
    CommandNotNow, CommandCancelled, CommandExpired,
    PushAttempted, PushAccepted, PushFailed, PushCertificateInstalled,
    IdentityClaimed, IdentityBound, IdentityRotated, CertificateIssued, IdentityRevoked,
    DeviceForgotten, EnrollmentRefused, IdentityImported,
    ApiKeyCreated, ApiKeyRevoked,
    ScepChallengeIssued, ScepChallengeConsumed,
    MachineInfoReceived,
    GroupDefined, GroupRemoved, DeviceTagged, DeviceUntagged, TargetsResolved,
    EscrowKeyUnlockRequested, EscrowKeyUnlockAnswered,
    DeclarationDefined, DeclarationRemoved, DeclarationAssigned, DeclarationUnassigned,
    DeclarationStatusReported, DeclarationDataStored,
    ConsoleSessionStarted, ConsoleSessionEnded,
}

pub(crate) fn schema_value<T: JsonSchema>(name: &str, version: u32) -> serde_json::Value {
    with_id(
        serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default(),
        name,
        version,
    )
}

fn with_id(mut schema: serde_json::Value, name: &str, version: u32) -> serde_json::Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            format!("https://annal.dev/schemas/events/{name}.v{version}.json").into(),
        );
        obj.insert("x-annal-event-type".into(), name.into());
        obj.insert("x-annal-schema-version".into(), version.into());
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_current_version() {
        let e = Event::from(CommandCancelled {
            command_uuid: "0001_EraseDevice".into(),
            reason: CancelReason::Reenrolled,
            note: None,
        });
        let back = Event::decode(e.event_type(), e.schema_version(), &e.to_data()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn refuses_unknown_and_future() {
        assert!(matches!(
            Event::decode("Nope", 1, b"{}"),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            Event::decode("Idle", 9, b"{}"),
            Err(DecodeError::FutureVersion {
                version: 9,
                current: 1,
                ..
            })
        ));
        assert!(matches!(
            Event::decode("Idle", 1, b"{\"device\":1}"),
            Err(DecodeError::Body { .. })
        ));
    }

    #[test]
    fn event_types_round_trip_their_names() {
        assert_eq!(EventType::ALL.len(), Event::types().len());
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.name()), Some(*t));
        }
        assert_eq!(EventType::from_name("Nope"), None);
    }

    #[test]
    fn every_type_name_is_unique() {
        let types = Event::types();
        let names: std::collections::BTreeSet<_> = types.iter().map(|t| t.0).collect();
        assert_eq!(names.len(), types.len());
    }
}
