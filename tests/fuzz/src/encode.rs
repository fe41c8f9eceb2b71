//! The oracles' encoders: a parsed check-in or command report written back as the plist
//! dictionary a device would send. Annal itself never writes these messages (devices do), so
//! the round trip `parse(encode(parse(bytes))) == parse(bytes)` is checked against this
//! independent writer.

use annal::mdm::checkin::CheckinMessage;
use annal::mdm::{CommandReport, EnrollmentIds};
use plist::{Dictionary, Value};

/// A dictionary in binary plist form. Binary, not XML: XML 1.0 cannot hold every string a
/// binary plist can (control characters), and the parsers read both.
pub fn binary(dict: Dictionary) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing plain values to a Vec cannot fail; an empty result fails the round trip loudly.
    let _ = Value::Dictionary(dict).to_writer_binary(&mut out);
    out
}

/// The same values compare equal, NaN included (`Value::Real(NaN) != itself`): compared as
/// their binary plist encodings, which are deterministic for one dictionary order.
pub fn same(a: &Dictionary, b: &Dictionary) -> bool {
    binary(a.clone()) == binary(b.clone())
}

struct Writer(Dictionary);

impl Writer {
    fn string(&mut self, key: &str, value: &str) {
        self.0.insert(key.into(), Value::String(value.to_owned()));
    }

    fn opt_string(&mut self, key: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.string(key, v);
        }
    }

    fn data(&mut self, key: &str, value: &[u8]) {
        self.0.insert(key.into(), Value::Data(value.to_vec()));
    }

    fn opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.0.insert(key.into(), Value::Boolean(v));
        }
    }

    fn ids(&mut self, ids: &EnrollmentIds) {
        self.opt_string("UDID", &ids.udid);
        self.opt_string("EnrollmentID", &ids.enrollment_id);
        self.opt_string("UserID", &ids.user_id);
        self.opt_string("EnrollmentUserID", &ids.enrollment_user_id);
        self.opt_string("UserShortName", &ids.user_short_name);
        self.opt_string("UserLongName", &ids.user_long_name);
    }
}

/// A check-in message as its plist dictionary.
pub fn checkin(message: &CheckinMessage) -> Dictionary {
    let mut w = Writer(Dictionary::new());
    w.string("MessageType", message.message_type());
    w.ids(message.ids());
    match message {
        CheckinMessage::Authenticate(m) => {
            w.string("Topic", &m.topic);
            w.opt_string("SerialNumber", &m.serial_number);
            w.opt_string("IMEI", &m.imei);
            w.opt_string("MEID", &m.meid);
            w.opt_string("OSVersion", &m.os_version);
            w.opt_string("BuildVersion", &m.build_version);
            w.opt_string("ProductName", &m.product_name);
            w.opt_string("DeviceName", &m.device_name);
            w.opt_string("Model", &m.model);
            w.opt_string("ModelName", &m.model_name);
        }
        CheckinMessage::TokenUpdate(m) => {
            w.string("Topic", &m.topic);
            w.data("Token", &m.token);
            w.string("PushMagic", m.push_magic.expose());
            if let Some(t) = &m.unlock_token {
                w.data("UnlockToken", t.expose());
            }
            w.opt_bool("AwaitingConfiguration", m.awaiting_configuration);
            w.opt_bool("NotOnConsole", m.not_on_console);
        }
        CheckinMessage::CheckOut(m) => w.string("Topic", &m.topic),
        CheckinMessage::UserAuthenticate(m) => {
            if let Some(d) = &m.digest_response {
                w.string("DigestResponse", d.expose());
            }
        }
        CheckinMessage::SetBootstrapToken(m) => {
            if let Some(t) = &m.bootstrap_token {
                w.data("BootstrapToken", t.expose());
            }
            w.opt_bool("AwaitingConfiguration", m.awaiting_configuration);
        }
        CheckinMessage::GetBootstrapToken(m) => w.opt_bool("AwaitingConfiguration", m.awaiting_configuration),
        CheckinMessage::GetToken(m) => {
            w.string("TokenServiceType", &m.token_service_type);
            if let Some(p) = &m.token_parameters {
                w.0.insert("TokenParameters".into(), p.expose().clone());
            }
        }
        CheckinMessage::DeclarativeManagement(m) => {
            w.string("Endpoint", &m.endpoint);
            if let Some(d) = &m.data {
                w.data("Data", d);
            }
        }
    }
    w.0
}

/// A command-channel report with its response keys, as its plist dictionary.
pub fn report(report: &CommandReport, response: &Dictionary) -> Dictionary {
    let mut w = Writer(response.clone());
    w.string("Status", report.status.as_str());
    w.ids(&report.ids);
    w.opt_string("CommandUUID", &report.command_uuid);
    w.opt_string("RequestType", &report.request_type);
    if !report.error_chain.is_empty() {
        let items = report.error_chain.iter().map(|e| {
            let mut item = Writer(Dictionary::new());
            item.0.insert("ErrorCode".into(), Value::Integer(e.error_code.into()));
            item.string("ErrorDomain", &e.error_domain);
            item.opt_string("LocalizedDescription", &e.localized_description);
            item.opt_string("USEnglishDescription", &e.us_english_description);
            Value::Dictionary(item.0)
        });
        w.0.insert("ErrorChain".into(), Value::Array(items.collect()));
    }
    w.0
}
