//! Recording an Automated Device Enrollment request (the device's MachineInfo): one event in
//! the device's `machine-info-<UDID>` stream, appended before the profile is served.

use annal_schemas::events::ade::MachineInfoReceived;
use annal_schemas::NewEvent;

use crate::store::{EventStore, ExpectedVersion, StoreError};

pub fn stream(udid: &str) -> String {
    format!("machine-info-{udid}")
}

/// Appends the request, with the signed body as received (`raw`).
pub async fn record(
    store: &dyn EventStore,
    actor: &str,
    event: &MachineInfoReceived,
    raw: Vec<u8>,
) -> Result<(), StoreError> {
    let new = NewEvent::new(actor, event).with_raw(raw);
    store
        .append(&stream(&event.udid), ExpectedVersion::Any, vec![new])
        .await
        .map(|_| ())
}
