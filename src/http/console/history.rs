//! One event as a device's history shows it, built once for both the device page (rendered as
//! a table row) and its live stream (sent as JSON that `live.js` puts in the same table with
//! `textContent`): so the two can never disagree on what a role may see. The event goes
//! through the admin API's `event_json` with the role's `RawView`, which redacts the raw plist
//! exactly as `GET /v1/devices/{id}/history` does.

use annal_schemas::RecordedEvent;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::render::{html, Html};
use crate::http::admin::render::{event_json, RawView};

/// A raw plist or an event's data longer than this is cut on the page (the API has it whole).
pub const SHOWN_CHARS: usize = 64 << 10;

/// What a history row shows of one event.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub position: u64,
    pub recorded_at: DateTime<Utc>,
    pub event_type: String,
    pub version: u64,
    pub actor: String,
    /// The event's data, pretty-printed JSON, cut at [`SHOWN_CHARS`].
    pub data: String,
    pub data_cut: bool,
    /// The raw plist as the role may see it (masked for all but admins); `None` when there is
    /// none to show.
    pub raw: Option<String>,
    pub raw_cut: bool,
    /// Why a raw body is not shown (sealed, not a plist), when it is not.
    pub raw_note: Option<&'static str>,
}

/// `text`, cut to what a page shows.
fn shown(text: &str) -> (String, bool) {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => (text[..at].to_string(), true),
        None => (text.to_string(), false),
    }
}

impl Row {
    pub fn of(e: &RecordedEvent, view: RawView) -> Row {
        let json = event_json(e, view);
        let (data, data_cut) = shown(&serde_json::to_string_pretty(&json["data"]).unwrap_or_default());
        let (mut raw, mut raw_cut, mut raw_note) = (None, false, None);
        if json["raw_sealed"] == Value::Bool(true) {
            raw_note = Some("Raw plist sealed (it holds a secret).");
        } else if json["raw_withheld"] == Value::Bool(true) {
            raw_note = Some("Raw body withheld (not a plist, so its secrets cannot be masked).");
        } else if let Some(value) = json.get("raw") {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let (text, cut) = shown(&text);
            raw = Some(text);
            raw_cut = cut;
        }
        Row {
            position: e.global_position,
            recorded_at: e.recorded_at,
            event_type: e.event_type.clone(),
            version: e.stream_version,
            actor: e.actor.clone(),
            data,
            data_cut,
            raw,
            raw_cut,
            raw_note,
        }
    }

    /// The row as the page's history table has it (`live.js` builds the same cells).
    pub fn render(&self, out: &mut Html) {
        html!(
            out,
            "<tr data-position=\"{}\"><td class=\"num\">{}</td><td class=\"time\">{}</td><td>{} <span class=\"hint\">v{}</span></td>\
             <td class=\"actor\" title=\"{}\">{}</td><td>",
            self.position,
            self.position,
            self.recorded_at,
            self.event_type,
            self.version,
            self.actor,
            self.actor
        );
        html!(out, "<details><summary>Data</summary><pre>{}</pre>", self.data);
        if self.data_cut {
            html!(out, "<p class=\"hint\">Cut here; the API has it whole.</p>");
        }
        html!(out, "</details>");
        if let Some(note) = self.raw_note {
            html!(out, "<p class=\"hint\">{}</p>", note);
        } else if let Some(raw) = &self.raw {
            html!(out, "<details><summary>Raw plist</summary><pre>{}</pre>", raw);
            if self.raw_cut {
                html!(out, "<p class=\"hint\">Cut here; the API has it whole.</p>");
            }
            html!(out, "</details>");
        }
        html!(out, "</td></tr>");
    }
}
