//! The effective configuration: every key's value and where it came from, with secrets
//! redacted (they are shown as set or not, never their value; a password in a URL is cut out).

use clap::parser::ValueSource;
use clap::ArgMatches;
use serde::Serialize;
use serde_json::Value;

use super::file::FileValues;
use super::keys::{Key, Kind};

pub const REDACTED: &str = "<redacted>";

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

/// `postgres://user:secret@host/db?password=x` → `postgres://user:<redacted>@host/db?password=<redacted>`.
pub fn redact_url(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_owned();
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut out = text[..scheme_end + 3].to_owned();
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => out.push_str(&format!("{}:{REDACTED}", &userinfo[..colon])),
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[authority_end..];
    match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={REDACTED}"),
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&format!("{path}?{}", query.join("&")));
        }
        None => out.push_str(tail),
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_cut_out() {
        assert_eq!(
            redact_url("postgres://annal:s3cret@db:5432/annal?sslmode=require&password=x"),
            "postgres://annal:<redacted>@db:5432/annal?sslmode=require&password=<redacted>"
        );
        assert_eq!(redact_url("postgres://annal@db/annal"), "postgres://annal@db/annal");
        assert_eq!(redact_url("sqlite:./data/annal.db"), "sqlite:./data/annal.db");
        assert_eq!(redact_url("https://u:p@h"), "https://u:<redacted>@h");
    }
}
