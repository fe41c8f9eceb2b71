//! The effective configuration: every key's value and where it came from, with secrets
//! redacted (they are shown as set or not, never their value; a password in a URL is cut out).

use clap::parser::ValueSource;
use clap::ArgMatches;
use serde::Serialize;
use serde_json::Value;

use super::file::FileValues;
use super::keys::{Key, Kind};
use annal::config::{redact_url, REDACTED};

#[derive(Debug, Serialize)]
pub struct Setting {
    pub key: String,
    /// Null when the option is unset.
    pub value: Value,
    /// `command line`, `environment`, `file`, `default`, or `unset`.
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

pub fn settings(keys: &[Key], matches: &ArgMatches, file: Option<&FileValues>) -> Vec<Setting> {
    keys.iter()
        .map(|key| {
            let raw: Vec<String> = matches
                .get_raw(&key.id)
                .map(|vals| vals.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let in_file = file.is_some_and(|f| f.values.iter().any(|(k, _)| k.id == key.id));
            let source = match matches.value_source(&key.id) {
                Some(ValueSource::CommandLine) => "command line",
                Some(ValueSource::EnvVariable) => "environment",
                Some(ValueSource::DefaultValue) if in_file => "file",
                Some(ValueSource::DefaultValue) => "default",
                _ => "unset",
            };
            Setting {
                key: key.path(),
                value: value(key, raw),
                source,
                env: key.env.clone(),
            }
        })
        .collect()
}

fn value(key: &Key, raw: Vec<String>) -> Value {
    if raw.is_empty() {
        return Value::Null;
    }
    if key.secret {
        return Value::String(REDACTED.into());
    }
    let one = |s: &String| match key.kind {
        Kind::Bool => s.parse().map(Value::Bool).unwrap_or(Value::String(s.clone())),
        Kind::Integer => s.parse::<i64>().map(Value::from).unwrap_or(Value::String(s.clone())),
        Kind::List | Kind::Text => Value::String(redact_url(s)),
    };
    match key.kind {
        Kind::List => Value::Array(raw.iter().map(one).collect()),
        _ => one(&raw[0]),
    }
}

/// As TOML, top-level keys first and then one table per group, each line with its source.
pub fn render_toml(settings: &[Setting]) -> String {
    let mut out = String::new();
    let mut table = None;
    let mut sorted: Vec<&Setting> = settings.iter().collect();
    sorted.sort_by_key(|s| s.key.contains('.'));
    for s in sorted {
        let (t, name) = match s.key.split_once('.') {
            Some((t, n)) => (Some(t), n),
            None => (None, s.key.as_str()),
        };
        if t != table {
            out.push_str(&format!("\n[{}]\n", t.unwrap_or_default()));
            table = t;
        }
        let shown = match &s.value {
            Value::Null => format!("# {name} (unset)"),
            v => format!("{name} = {}", toml_value(v)),
        };
        out.push_str(&format!("{shown:<60} # {}\n", s.source));
    }
    out
}

fn toml_value(v: &Value) -> String {
    match v {
        Value::Array(items) => format!("[{}]", items.iter().map(toml_value).collect::<Vec<_>>().join(", ")),
        Value::String(s) => toml::Value::String(s.clone()).to_string(),
        other => other.to_string(),
    }
}
