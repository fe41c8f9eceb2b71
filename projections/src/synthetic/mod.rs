//! Recorded events made up without a server: a log builder, a fake device that makes the event
//! bodies a real one causes, and a generated fleet log for rebuild benchmarks and tests.

mod answers;
mod ddm;
mod device;
mod enrolled;
mod fleet;

use std::collections::HashMap;

use annal_schemas::catalog::EventData;
use annal_schemas::RecordedEvent;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

pub use answers::{device_information_answer, IpadFacts};
pub use ddm::{enrolled_device_with_status, status_report};
pub use device::{push_accepted, push_attempted, push_failed, queued, FakeDevice};
pub use enrolled::{enrolled_device, enrolled_fleet, DEVICE_INFORMATION_QUERIES};
pub use fleet::{fleet, FleetSpec};

/// Appends events to an in-memory log: dense global positions from 1, per-stream versions, and a
/// clock that moves `tick` after each event.
#[derive(Debug, Clone)]
pub struct LogBuilder {
    events: Vec<RecordedEvent>,
    clock: DateTime<Utc>,
    tick: TimeDelta,
    versions: HashMap<String, u64>,
}

impl LogBuilder {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            events: Vec::new(),
            clock: start,
            tick: TimeDelta::seconds(1),
            versions: HashMap::new(),
        }
    }

    pub fn with_tick(mut self, tick: TimeDelta) -> Self {
        self.tick = tick;
        self
    }

    /// The time the next event is recorded at.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock
    }

    pub fn advance(&mut self, by: TimeDelta) {
        self.clock += by;
    }

    /// Records `body` on the stream of enrollment `enrollment`.
    pub fn record<E: EventData>(
        &mut self,
        enrollment: &str,
        actor: &str,
        body: &E,
        raw: Option<Vec<u8>>,
    ) -> &RecordedEvent {
        self.record_on(&format!("enrollment-{enrollment}"), actor, body, raw)
    }

    /// Records `body` on any stream (`api-keys`, `identity-<fingerprint>`).
    pub fn record_on<E: EventData>(
        &mut self,
        stream: &str,
        actor: &str,
        body: &E,
        raw: Option<Vec<u8>>,
    ) -> &RecordedEvent {
        let data = serde_json::to_vec(body).unwrap_or_default();
        self.record_raw(stream, actor, E::EVENT_TYPE, E::SCHEMA_VERSION, data, raw)
    }

    /// Records an event from its parts, whatever they hold (unknown types, bad bodies).
    pub fn record_raw(
        &mut self,
        stream: &str,
        actor: &str,
        event_type: &str,
        schema_version: u32,
        data: Vec<u8>,
        raw: Option<Vec<u8>>,
    ) -> &RecordedEvent {
        let version = self.versions.entry(stream.to_owned()).or_insert(0);
        *version += 1;
        let global_position = self.events.len() as u64 + 1;
        let event = RecordedEvent {
            event_id: Uuid::from_u128(u128::from(global_position)),
            stream: stream.to_owned(),
            stream_version: *version,
            global_position,
            recorded_at: annal_schemas::envelope::truncate_to_micros(self.clock),
            event_type: event_type.to_owned(),
            schema_version,
            actor: actor.to_owned(),
            correlation_id: None,
            causation_id: None,
            data,
            raw,
            hash: [0; 32],
        };
        self.clock += self.tick;
        self.events.push(event);
        &self.events[self.events.len() - 1]
    }

    pub fn events(&self) -> &[RecordedEvent] {
        &self.events
    }

    pub fn into_events(self) -> Vec<RecordedEvent> {
        self.events
    }
}
