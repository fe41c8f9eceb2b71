//! What identifies a device to a person reading a record of it: its UDID and serial number, as
//! its check-ins and its DeviceInformation answers report them. The inventory keeps them with
//! the rest of the device; the audit trail keeps them alone, to record them with each entry as
//! they were when the command was queued. Both follow the events through these rules, so the
//! two never tell a device's identifiers differently.

use annal_schemas::events::checkin::{Authenticate, TokenUpdate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The DeviceInformation query whose answer is the serial number.
const SERIAL_NUMBER_QUERY: &str = "SerialNumber";

/// The UDID: usually the enrollment key itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Udid {
    #[default]
    None,
    Key,
    Other(Box<str>),
}

/// A device's UDID and serial number, as memory keeps them: the enrollment key is not stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeviceIds {
    udid: Udid,
    serial_number: Option<Box<str>>,
}

/// [`DeviceIds`] in the form it is persisted and served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeviceIdentifiers {
    pub udid: Option<String>,
    pub serial_number: Option<String>,
}

impl DeviceIds {
    pub fn udid<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        match &self.udid {
            Udid::None => None,
            Udid::Key => Some(key),
            Udid::Other(u) => Some(u),
        }
    }

    pub fn serial_number(&self) -> Option<&str> {
        self.serial_number.as_deref()
    }

    pub fn authenticated(&mut self, key: &str, e: &Authenticate) {
        self.checked_in(key, e.device.udid.as_deref(), e.serial_number.as_deref());
    }

    /// A TokenUpdate names the UDID, never the serial number.
    pub fn token_updated(&mut self, key: &str, e: &TokenUpdate) {
        self.checked_in(key, e.device.udid.as_deref(), None);
    }

    /// What a check-in message says of the device: what it leaves out stays as last known.
    fn checked_in(&mut self, key: &str, udid: Option<&str>, serial_number: Option<&str>) {
        if let Some(udid) = udid {
            self.udid = if udid == key {
                Udid::Key
            } else {
                Udid::Other(udid.into())
            };
        }
        if let Some(serial) = serial_number {
            self.serial_number = Some(serial.into());
        }
    }

    /// The `QueryResponses` of a DeviceInformation answer: a later answer asking for fewer keys
    /// keeps the serial number it does not repeat.
    pub fn answered(&mut self, query_responses: &Map<String, Value>) {
        if let Some(serial) = query_responses.get(SERIAL_NUMBER_QUERY).and_then(Value::as_str) {
            self.serial_number = Some(serial.into());
        }
    }

    pub fn to_identifiers(&self, key: &str) -> DeviceIdentifiers {
        DeviceIdentifiers {
            udid: self.udid(key).map(str::to_owned),
            serial_number: self.serial_number().map(str::to_owned),
        }
    }

    pub fn from_identifiers(key: &str, ids: &DeviceIdentifiers) -> Self {
        Self::restored(key, ids.udid.as_deref(), ids.serial_number.as_deref())
    }

    /// As persisted: `None` is unknown.
    pub fn restored(key: &str, udid: Option<&str>, serial_number: Option<&str>) -> Self {
        let mut out = Self::default();
        out.checked_in(key, udid, serial_number);
        out
    }
}

// The audit trail persists them, one document per enrollment, to know them again after a
// restart; they change with every device and are never settled.
impl crate::docs::Document for DeviceIds {
    fn to_json(&self, key: &str) -> serde_json::Result<Value> {
        serde_json::to_value(self.to_identifiers(key))
    }

    fn from_json(key: &str, value: &Value) -> serde_json::Result<Self> {
        let ids = <DeviceIdentifiers as Deserialize>::deserialize(value)?;
        Ok(Self::from_identifiers(key, &ids))
    }
}
