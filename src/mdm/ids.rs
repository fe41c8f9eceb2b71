//! Who a message is from: the identity keys every check-in message and command report carries,
//! and the enrollment key that names the enrollment's event stream.

use annal_schemas::events::DeviceRef;
use plist::Dictionary;

use super::error::ParseError;
use super::fields::Fields;

/// The identity keys of a message. A device enrollment sends `UDID`; a user enrollment sends
/// `EnrollmentID` instead; a user channel (macOS user, Shared iPad user) adds `UserID` or
/// `EnrollmentUserID` plus the user's names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnrollmentIds {
    pub udid: Option<String>,
    pub enrollment_id: Option<String>,
    pub user_id: Option<String>,
    pub enrollment_user_id: Option<String>,
    pub user_short_name: Option<String>,
    pub user_long_name: Option<String>,
}

/// The identity keys, as Apple spells them.
pub const ID_KEYS: [&str; 6] = [
    "UDID",
    "EnrollmentID",
    "UserID",
    "EnrollmentUserID",
    "UserShortName",
    "UserLongName",
];

/// Longest identifier accepted in an enrollment key (UDIDs are 25 or 40 characters, the others
/// UUIDs); bounds stream names.
const MAX_ID_LEN: usize = 128;

impl EnrollmentIds {
    /// Reads the identity keys of `dict`; absent keys are `None`, keys of the wrong type are errors.
    pub fn from_dict(dict: &Dictionary) -> Result<Self, ParseError> {
        let mut ids: Dictionary = ID_KEYS
            .iter()
            .filter_map(|k| dict.get(k).map(|v| (k.to_string(), v.clone())))
            .collect();
        Self::take(&mut Fields::top(&mut ids))
    }

    /// Moves the identity keys out of a message's top level.
    pub(crate) fn take(fields: &mut Fields<'_>) -> Result<Self, ParseError> {
        Ok(EnrollmentIds {
            udid: fields.opt_string("UDID")?,
            enrollment_id: fields.opt_string("EnrollmentID")?,
            user_id: fields.opt_string("UserID")?,
            enrollment_user_id: fields.opt_string("EnrollmentUserID")?,
            user_short_name: fields.opt_string("UserShortName")?,
            user_long_name: fields.opt_string("UserLongName")?,
        })
    }

    /// A user-channel message names a user (`UserID` or `EnrollmentUserID`); the device channel
    /// does not.
    pub fn is_user_channel(&self) -> bool {
        self.user_id.is_some() || self.enrollment_user_id.is_some()
    }

    /// The enrollment's key: `UDID` (device enrollment) or `EnrollmentID` (user enrollment) on
    /// the device channel; `<device>:<UserID or EnrollmentUserID>` on a user channel, which has
    /// its own push token and command queue.
    pub fn enrollment_key(&self) -> Result<String, ParseError> {
        let device = match (&self.udid, &self.enrollment_id) {
            (Some(udid), _) => checked("UDID", udid)?,
            (None, Some(id)) => checked("EnrollmentID", id)?,
            (None, None) => return Err(ParseError::NoEnrollmentId),
        };
        let user = match (&self.user_id, &self.enrollment_user_id) {
            (Some(id), _) => Some(checked("UserID", id)?),
            (None, Some(id)) => Some(checked("EnrollmentUserID", id)?),
            (None, None) => None,
        };
        Ok(match user {
            Some(user) => format!("{device}:{user}"),
            None => device.to_owned(),
        })
    }

    pub fn to_device_ref(&self) -> DeviceRef {
        DeviceRef {
            udid: self.udid.clone(),
            enrollment_id: self.enrollment_id.clone(),
            user_id: self.user_id.clone(),
            enrollment_user_id: self.enrollment_user_id.clone(),
        }
    }
}

/// `:` separates device and user in the key, so an identifier containing it could name another
/// enrollment's user channel; `/`, whitespace and control characters have no place in Apple's
/// identifiers (hex, UUIDs) and would make stream names ambiguous in logs and URLs.
pub(crate) fn checked<'a>(key: &'static str, id: &'a str) -> Result<&'a str, ParseError> {
    let bad = |c: char| c == ':' || c == '/' || c.is_whitespace() || c.is_control();
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(bad) {
        return Err(ParseError::InvalidIdentifier { key });
    }
    Ok(id)
}

impl From<&EnrollmentIds> for DeviceRef {
    fn from(ids: &EnrollmentIds) -> Self {
        ids.to_device_ref()
    }
}

/// Used by tests across the module to build messages.
#[cfg(test)]
pub(crate) fn ids_dict(pairs: &[(&str, &str)]) -> Dictionary {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), plist::Value::String(v.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use plist::Value;

    use super::*;

    const UDID: &str = "00008020-000915083C80012E";
    const EID: &str = "8DB29EAB-A5BB-4B60-8DDA-F75517766FAC";

    fn ids(pairs: &[(&str, &str)]) -> EnrollmentIds {
        EnrollmentIds::from_dict(&ids_dict(pairs)).expect("valid ids")
    }

    #[test]
    fn device_channel_keys() {
        assert_eq!(ids(&[("UDID", UDID)]).enrollment_key(), Ok(UDID.to_string()));
        assert_eq!(ids(&[("EnrollmentID", EID)]).enrollment_key(), Ok(EID.to_string()));
        // Both present does not happen per the schema (user enrollment forbids UDID); UDID wins.
        assert_eq!(
            ids(&[("UDID", UDID), ("EnrollmentID", EID)]).enrollment_key(),
            Ok(UDID.to_string())
        );
    }

    #[test]
    fn user_channel_keys() {
        let mac_user = ids(&[
            ("UDID", UDID),
            ("UserID", "U1"),
            ("UserShortName", "ann"),
            ("UserLongName", "Ann"),
        ]);
        assert!(mac_user.is_user_channel());
        assert_eq!(mac_user.enrollment_key(), Ok(format!("{UDID}:U1")));
        assert_eq!(mac_user.user_short_name.as_deref(), Some("ann"));
        let user_enrollment = ids(&[("EnrollmentID", EID), ("EnrollmentUserID", "EU1")]);
        assert_eq!(user_enrollment.enrollment_key(), Ok(format!("{EID}:EU1")));
        let both = ids(&[("UDID", UDID), ("UserID", "U1"), ("EnrollmentUserID", "EU1")]);
        assert_eq!(both.enrollment_key(), Ok(format!("{UDID}:U1")));
    }

    #[test]
    fn no_device_identifier() {
        assert_eq!(ids(&[]).enrollment_key(), Err(ParseError::NoEnrollmentId));
        assert_eq!(
            ids(&[("UserID", "U1")]).enrollment_key(),
            Err(ParseError::NoEnrollmentId)
        );
    }

    #[test]
    fn ambiguous_identifiers_are_refused() {
        let colon = ids(&[("UDID", "A:B")]);
        assert_eq!(
            colon.enrollment_key(),
            Err(ParseError::InvalidIdentifier { key: "UDID" })
        );
        assert_eq!(
            ids(&[("EnrollmentID", "")]).enrollment_key(),
            Err(ParseError::InvalidIdentifier { key: "EnrollmentID" })
        );
        let user = ids(&[("UDID", UDID), ("UserID", "a b")]);
        assert_eq!(
            user.enrollment_key(),
            Err(ParseError::InvalidIdentifier { key: "UserID" })
        );
        let long = "A".repeat(MAX_ID_LEN + 1);
        assert!(ids(&[("UDID", &long)]).enrollment_key().is_err());
    }

    #[test]
    fn wrong_types_are_errors() {
        let mut dict = ids_dict(&[]);
        dict.insert("UDID".into(), Value::Data(vec![1]));
        assert_eq!(
            EnrollmentIds::from_dict(&dict),
            Err(ParseError::WrongType {
                key: "UDID".into(),
                expected: "string",
                found: "data"
            })
        );
    }

    #[test]
    fn device_ref_carries_the_routing_ids() {
        let r = ids(&[
            ("EnrollmentID", EID),
            ("EnrollmentUserID", "EU1"),
            ("UserShortName", "ann"),
        ])
        .to_device_ref();
        assert_eq!(r.udid, None);
        assert_eq!(r.enrollment_id.as_deref(), Some(EID));
        assert_eq!(r.enrollment_user_id.as_deref(), Some("EU1"));
        assert_eq!(r.user_id, None);
    }
}
