//! HTML without a template engine, escaped by construction. Markup is written only as string
//! literals (`html!(out, "<td>{}</td>", value)`): every `{}` is filled with a value through
//! [`Render`], which escapes text (`&`, `<`, `>`, `"`, `'`) whatever it is. Names, serials and
//! answers come from devices and are hostile; a fragment already built ([`Html`]) is the only
//! thing inserted as it is.
//!
//! The template is split at `{}` at run time rather than handed to `format!`, so a `{name}` in
//! a template (which `format!` would fill, unescaped, from a variable in scope) is just text.

use std::fmt::Write as _;

/// Built markup: literals from templates, and values escaped on the way in.
#[derive(Debug, Default, Clone)]
pub struct Html(String);

impl Html {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn into_string(self) -> String {
        self.0
    }

    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Appends `template` with each `{}` replaced by the next of `args`, escaped.
    pub fn fill(&mut self, template: &'static str, args: &[&dyn Render]) {
        let mut parts = template.split("{}");
        self.0.push_str(parts.next().unwrap_or_default());
        let mut args = args.iter();
        for part in parts {
            match args.next() {
                Some(arg) => arg.render(&mut self.0),
                None => debug_assert!(false, "template {template:?} has more {{}} than values"),
            }
            self.0.push_str(part);
        }
        debug_assert!(
            args.next().is_none(),
            "template {template:?} has fewer {{}} than values"
        );
    }
}

/// `html!(out, "<p>{}</p>", value, …)`: appends the literal template to `out` (an `Html`),
/// each `{}` filled with the next value through [`Render`].
macro_rules! html {
    ($out:expr, $template:literal $(, $arg:expr)* $(,)?) => {
        $out.fill($template, &[$(&$arg as &dyn $crate::http::console::render::Render),*])
    };
}
pub(crate) use html;

/// How a value goes into markup.
pub trait Render {
    fn render(&self, out: &mut String);
}

/// Text: escaped for an element's content and for a double- or single-quoted attribute alike.
pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

impl Render for str {
    fn render(&self, out: &mut String) {
        escape_into(self, out)
    }
}

impl Render for String {
    fn render(&self, out: &mut String) {
        escape_into(self, out)
    }
}

impl<T: Render + ?Sized> Render for &T {
    fn render(&self, out: &mut String) {
        (**self).render(out)
    }
}

/// Nothing for `None`.
impl<T: Render> Render for Option<T> {
    fn render(&self, out: &mut String) {
        if let Some(v) = self {
            v.render(out)
        }
    }
}

/// A fragment already built: inserted as it is.
impl Render for Html {
    fn render(&self, out: &mut String) {
        out.push_str(&self.0)
    }
}

macro_rules! render_display {
    ($($t:ty),+) => {
        $(impl Render for $t {
            fn render(&self, out: &mut String) {
                // Numbers and times hold no markup, but go through the escaper all the same.
                escape_into(&self.to_string(), out)
            }
        })+
    };
}
render_display!(u8, u16, u32, u64, usize, i32, i64, bool);

impl Render for chrono::DateTime<chrono::Utc> {
    fn render(&self, out: &mut String) {
        escape_into(&self.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), out)
    }
}

/// A JSON value: a string as its text, anything else as compact JSON text.
impl Render for serde_json::Value {
    fn render(&self, out: &mut String) {
        match self {
            serde_json::Value::String(s) => escape_into(s, out),
            serde_json::Value::Null => {}
            other => escape_into(&other.to_string(), out),
        }
    }
}

/// One path segment, percent-encoded (every byte but `A-Z a-z 0-9 - . _ ~`), then escaped: a
/// device's UDID in a link can neither leave its segment nor the attribute.
pub struct Seg<'a>(pub &'a str);

impl Render for Seg<'_> {
    fn render(&self, out: &mut String) {
        out.push_str(&segment(self.0))
    }
}

/// `text` as one percent-encoded path segment (see [`Seg`]).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    {
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A query string (`a=1&b=2`, form-encoded) from pairs, leaving out empty values.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    q.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_fragments_are_not() {
        let hostile = "<img src=x onerror=alert(1)>\"'&";
        let mut inner = Html::new();
        html!(inner, "<b>{}</b>", hostile);
        let mut out = Html::new();
        html!(out, "<p title=\"{}\">{}</p>", hostile, inner);
        assert_eq!(
            out.as_str(),
            "<p title=\"&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;\">\
             <b>&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;</b></p>"
        );
    }

    #[test]
    fn named_placeholders_are_text_not_captures() {
        let name = "<script>";
        let _ = name;
        let mut out = Html::new();
        html!(out, "<p>{name}</p>");
        assert_eq!(out.as_str(), "<p>{name}</p>");
    }

    #[test]
    fn segments_stay_in_their_segment() {
        let mut out = String::new();
        Seg("../a b/\"<x>").render(&mut out);
        assert_eq!(out, "..%2Fa%20b%2F%22%3Cx%3E");
        let mut none: Option<&str> = None;
        let mut s = String::new();
        none.render(&mut s);
        none = Some("&");
        none.render(&mut s);
        assert_eq!(s, "&amp;");
    }
}
