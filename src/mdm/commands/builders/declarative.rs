//! `DeclarativeManagement`: tells the device its declaration set changed, carrying the new
//! SyncTokens so it can skip fetching `tokens`.

use plist::{Dictionary, Value};

use super::{Command, Keys};

#[derive(Debug, Clone)]
pub struct DeclarativeManagement {
    pub declarations_token: String,
    /// RFC 3339, seconds, `Z`.
    pub timestamp: String,
}

impl Command for DeclarativeManagement {
    fn request_type(&self) -> &'static str {
        "DeclarativeManagement"
    }

    fn to_command(&self) -> Dictionary {
        let tokens = serde_json::json!({
            "SyncTokens": {
                "DeclarationsToken": self.declarations_token,
                "Timestamp": self.timestamp,
            }
        });
        Keys::new(self.request_type())
            .set("Data", Value::Data(tokens.to_string().into_bytes()))
            .done()
    }
}
