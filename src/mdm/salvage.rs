//! The string values of a few top-level keys of an XML plist that does not parse.
//!
//! A device's answer may be unreadable in its payload (a malformed value deep in
//! `QueryResponses`) while its `Status`, `CommandUUID` and identifiers are intact. Refusing such
//! an answer makes the device send it again forever, so the command channel reads those keys
//! here and ends the command as an error instead. The scan is linear and allocates only the
//! values it returns; it tracks `<dict>`/`<array>` nesting and skips comments, CDATA,
//! processing instructions and the DOCTYPE, and it gives up (returns `None`) as soon as a wanted
//! key is ambiguous: present twice at the top level, holding something other than a string, or
//! holding text it cannot read. A wanted key it does not find is simply absent; the caller then
//! refuses the message if that key was required. Binary plists are not scanned.

use plist::{Dictionary, Value};

/// The top-level `<string>` values of `wanted` keys in the XML plist `body`, or `None` if the
/// body is not XML with a dictionary at the top or a wanted key cannot be read unambiguously.
pub(crate) fn top_level_strings(body: &[u8], wanted: &[&str]) -> Option<Dictionary> {
    if body.starts_with(b"bplist") {
        return None;
    }
    let mut found = Dictionary::new();
    let mut depth = 0usize;
    let mut root_is_dict = false;
    // The wanted key whose value comes next (at depth 1).
    let mut pending: Option<&str> = None;
    let mut at = 0;
    while let Some(lt) = find(body, at, b"<") {
        let rest = &body[lt..];
        if rest.starts_with(b"<!--") {
            at = find(body, lt, b"-->")? + 3;
            continue;
        }
        if rest.starts_with(b"<![CDATA[") {
            at = find(body, lt, b"]]>")? + 3;
            continue;
        }
        if rest.starts_with(b"<?") || rest.starts_with(b"<!") {
            at = find(body, lt, b">")? + 1;
            continue;
        }
        let gt = find(body, lt, b">")?;
        let tag = &body[lt + 1..gt];
        at = gt + 1;
        let closing = tag.starts_with(b"/");
        let self_closing = tag.ends_with(b"/");
        let name_start = usize::from(closing);
        let name_len = tag[name_start..]
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'/')
            .unwrap_or(tag.len() - name_start);
        let name = &tag[name_start..name_start + name_len];
        let top = depth == 1 && root_is_dict;
        match (name, closing) {
            (b"plist", _) => {}
            (b"dict" | b"array", true) => depth = depth.checked_sub(1)?,
            (b"dict" | b"array", false) => {
                if top && pending.take().is_some() {
                    return None;
                }
                if depth == 0 && !self_closing {
                    root_is_dict = name == b"dict";
                }
                if !self_closing {
                    depth += 1;
                }
            }
            (b"key", false) if top && !self_closing => {
                let (text, next) = text_until(body, at, b"</key")?;
                at = next;
                pending = unescape(text).and_then(|key| wanted.iter().copied().find(|w| *w == key));
            }
            (b"string", false) if top => {
                let value = if self_closing {
                    String::new()
                } else {
                    let (text, next) = text_until(body, at, b"</string")?;
                    at = next;
                    match pending {
                        Some(_) => unescape(text)?,
                        None => String::new(),
                    }
                };
                if let Some(key) = pending.take() {
                    if found.insert(key.to_owned(), Value::String(value)).is_some() {
                        return None;
                    }
                }
            }
            // Any other value at the top level: a wanted key holding it has the wrong type.
            (_, false) if top && pending.take().is_some() => return None,
            _ => {}
        }
    }
    root_is_dict.then_some(found)
}

fn find(body: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(body.get(from..)?, needle).map(|i| from + i)
}

/// The text from `at` to the next `<`, which must open `close` (`</key`); and where scanning
/// resumes (after that tag's `>`).
fn text_until<'a>(body: &'a [u8], at: usize, close: &[u8]) -> Option<(&'a [u8], usize)> {
    let lt = find(body, at, b"<")?;
    if !body[lt..].starts_with(close) {
        return None;
    }
    let gt = find(body, lt, b">")?;
    Some((&body[at..lt], gt + 1))
}

/// XML text with its five predefined entities and character references resolved; `None` if
/// it is not UTF-8 or holds another reference.
fn unescape(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    if !text.contains('&') {
        return Some(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';')? + amp;
        let entity = &rest[amp + 1..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => entity.strip_prefix('#')?.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANTED: &[&str] = &["Status", "CommandUUID", "UDID", "UserID"];

    fn scan(body: &str) -> Option<Vec<(String, String)>> {
        let found = top_level_strings(body.as_bytes(), WANTED)?;
        Some(
            found
                .into_iter()
                .map(|(k, v)| (k, v.into_string().unwrap_or_default()))
                .collect(),
        )
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn finds_top_level_strings_around_a_broken_payload() {
        let body = r#"<?xml version="1.0"?><!DOCTYPE plist><plist version="1.0"><dict>
            <key>CommandUUID</key><string>c&amp;1</string>
            <key>QueryResponses</key><dict><key>UDID</key><string>inner</string>
                <key>ProductName</key><integer>iPad</integer><!-- <key>Status</key> -->
                <key>Token</key><data>***</data></dict>
            <key>Status</key><string>Acknowledged</string>
            <key>UDID</key><string>U1</string></dict></plist>"#;
        assert_eq!(
            scan(body),
            Some(pairs(&[
                ("CommandUUID", "c&1"),
                ("Status", "Acknowledged"),
                ("UDID", "U1")
            ]))
        );
    }

    #[test]
    fn a_truncated_body_yields_what_came_before() {
        let body = "<plist><dict><key>Status</key><string>Error</string><key>X</key><dict><key>A</key>";
        assert_eq!(scan(body), Some(pairs(&[("Status", "Error")])));
    }

    #[test]
    fn ambiguity_gives_up() {
        for body in [
            "<plist><dict><key>Status</key><string>A</string><key>Status</key><string>B</string></dict></plist>",
            "<plist><dict><key>UserID</key><integer>3</integer></dict></plist>",
            "<plist><dict><key>UserID</key><dict/></dict></plist>",
            "<plist><dict><key>Status</key><string>A<!-- x --></string></dict></plist>",
            "<plist><array><string>x</string></array></plist>",
        ] {
            assert_eq!(scan(body), None, "{body}");
        }
        assert_eq!(top_level_strings(b"bplist00", WANTED), None);
    }

    #[test]
    fn entities_resolve() {
        assert_eq!(unescape(b"a&lt;&#65;&#x42;"), Some("a<AB".into()));
        assert_eq!(unescape(b"&nope;"), None);
        assert_eq!(unescape(b"&#xD800;"), None);
    }
}
