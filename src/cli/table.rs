//! Plain-text tables for the admin CLI's human output, and cell text from the API's JSON.
//! Cells come from devices (device names, error descriptions), so control characters are
//! replaced: a device must not be able to move the cursor or recolour an admin's terminal.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Columns separated by two spaces, each as wide as its widest cell; the last is not padded.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            if i + 1 == widths.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Replaces control characters (escape sequences, newlines) with `?`.
pub fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// A JSON value as cell text: strings unquoted, absent or null as `-`, others compact JSON.
pub fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => clean(s),
        Some(other) => clean(&other.to_string()),
    }
}

/// `obj[key]` as cell text.
pub fn field(obj: &Value, key: &str) -> String {
    text(obj.get(key))
}

/// An RFC 3339 time as `2024-05-01 12:00:00Z` (UTC, whole seconds); anything else as given.
pub fn time(v: Option<&Value>) -> String {
    match v.and_then(Value::as_str).map(DateTime::parse_from_rfc3339) {
        Some(Ok(t)) => t
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
            .replacen('T', " ", 1),
        _ => text(v),
    }
}

/// At most `max` characters, with `…` marking a cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Writes to stdout; a reader that went away (`annal … | head`) is not an error.
pub fn emit(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// `v` as pretty JSON on stdout (the `--json` output).
pub fn emit_json(v: &Value) -> anyhow::Result<()> {
    Ok(emit(&format!("{}\n", serde_json::to_string_pretty(v)?))?)
}

/// Key/value lines (`name: value`) with names aligned, for one object's details.
pub fn details(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_align_to_the_widest_cell() {
        let out = render(
            &["KEY", "STATE"],
            &[
                vec!["a".into(), "enrolled".into()],
                vec!["longer-key".into(), "-".into()],
            ],
        );
        assert_eq!(out, "KEY         STATE\na           enrolled\nlonger-key  -\n");
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let out = render(&["N", "X"], &[vec!["Jürgen’s".into(), "1".into()]]);
        assert_eq!(out.lines().nth(1).unwrap(), "Jürgen’s  1");
        assert_eq!(out.lines().next().unwrap(), "N         X");
    }

    #[test]
    fn cells_never_carry_control_characters() {
        assert_eq!(text(Some(&json!("evil\u{1b}[31m\nname"))), "evil?[31m?name");
        assert_eq!(text(None), "-");
        assert_eq!(text(Some(&Value::Null)), "-");
        assert_eq!(text(Some(&json!(3))), "3");
        assert_eq!(text(Some(&json!(""))), "-");
    }

    #[test]
    fn times_are_shown_in_utc_to_the_second() {
        assert_eq!(
            time(Some(&json!("2024-05-01T14:00:00.123456+02:00"))),
            "2024-05-01 12:00:00Z"
        );
        assert_eq!(time(Some(&json!("not a time"))), "not a time");
        assert_eq!(time(None), "-");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcd", 4), "abcd");
    }

    #[test]
    fn details_align_names() {
        assert_eq!(
            details(&[("a", "1".into()), ("long", "2".into())]),
            "a     1\nlong  2\n"
        );
    }
}
