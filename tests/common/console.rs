//! The web console in process, as a browser sees it: a cookie jar over the real router, the
//! security headers every answer must carry, and what no console page may contain (inline
//! script or style, event handler attributes, an input without a label). Shared by
//! tests/console.rs and tests/console_admin.rs.

use std::collections::HashMap;

use annal::testkit::sim::VirtualDevice;
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::inprocess::App;

pub const HOSTILE: &str = "<img src=x onerror=alert(1)>";
pub const HOSTILE_ESCAPED: &str = "&lt;img src=x onerror=alert(1)&gt;";
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   frame-ancestors 'none'; form-action 'self'";

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

/// A browser: keeps the cookies the server sets.
pub struct Browser<'a> {
    pub app: &'a App,
    pub cookies: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a App) -> Self {
        Self {
            app,
            cookies: HashMap::new(),
        }
    }

    pub async fn send(&mut self, request: axum::http::request::Builder, body: Body) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = if cookie.is_empty() {
            request
        } else {
            request.header(header::COOKIE, cookie)
        };
        let response = self
            .app
            .server
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let answer = Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        for set in answer.set_cookies() {
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        answer
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Request::builder().uri(path), Body::empty()).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(request, Body::from(body)).await
    }

    /// Signs in with `key` through the form; returns the POST's answer.
    pub async fn sign_in(&mut self, key: &str) -> Answer {
        let form = self.get("/console/login").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let token = field(&form.body, "csrf").expect("the sign-in form carries a token");
        self.post("/console/login", &[("csrf", &token), ("api_key", key)]).await
    }
}

/// The value of the first input named `name` in `html`.
pub fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

pub async fn signed_in<'a>(app: &'a App, key: &str) -> Browser<'a> {
    let mut browser = Browser::new(app);
    let answer = browser.sign_in(key).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), "/console");
    browser
}

/// Enrolls device `index` with `name` as the DeviceName its Authenticate reports.
pub async fn enroll_named(app: &App, index: usize, name: &str) -> VirtualDevice {
    app.enroll_with(index, &[("DeviceName", name)]).await
}

/// The console-sessions events: (type, actor, data).
pub async fn session_events(app: &App) -> Vec<(String, String, Value)> {
    app.server
        .state
        .store
        .read_stream("console-sessions", 1, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let data = serde_json::from_slice(&e.data).unwrap();
            (e.event_type, e.actor, data)
        })
        .collect()
}

/// The attribute names of every tag in `html`. Escaped text holds no `<`, so every `<` opens
/// markup.
pub fn attributes(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let tag = rest[..name_end].to_ascii_lowercase();
        let mut chars = rest[name_end..].char_indices().peekable();
        let base = name_end;
        let mut end = rest.len();
        loop {
            while chars.peek().is_some_and(|(_, c)| c.is_whitespace() || *c == '/') {
                chars.next();
            }
            let Some(&(i, c)) = chars.peek() else { break };
            if c == '>' {
                end = base + i;
                break;
            }
            let mut attr = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() || c == '=' || c == '>' {
                    break;
                }
                attr.push(c);
                chars.next();
            }
            if chars.peek().is_some_and(|(_, c)| *c == '=') {
                chars.next();
                if chars.peek().is_some_and(|(_, c)| *c == '"') {
                    chars.next();
                    for (_, c) in chars.by_ref() {
                        if c == '"' {
                            break;
                        }
                    }
                } else {
                    while chars.peek().is_some_and(|(_, c)| !c.is_whitespace() && *c != '>') {
                        chars.next();
                    }
                }
            }
            out.push((tag.clone(), attr.to_ascii_lowercase()));
        }
        rest = &rest[end.min(rest.len())..];
    }
    out
}

/// What no console page may hold: inline script, event handler attributes, inline styles;
/// and what every page must: a language, a skip link, a label for every visible input.
pub fn assert_safe_page(path: &str, html: &str) {
    let attrs = attributes(html);
    for (tag, attr) in &attrs {
        assert!(!attr.starts_with("on"), "{path}: <{tag} {attr}=…>");
        assert_ne!(attr, "style", "{path}: <{tag} style=…>");
    }
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap()];
        assert!(tag.contains(" src="), "{path}: inline script {tag}");
    }
    assert!(!html.contains("<style"), "{path}: inline stylesheet");
    assert!(html.contains("<html lang=\"en\">"), "{path}: no lang");
    assert!(html.contains("href=\"#main\""), "{path}: no skip link");
    assert!(html.contains("<h1>"), "{path}: no heading");
    // Every input that is not hidden, every select and textarea has a label for its id.
    for kind in ["<input ", "<select ", "<textarea "] {
        for (i, _) in html.match_indices(kind) {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            if tag.contains("type=\"hidden\"") {
                continue;
            }
            let id = field_attr(tag, "id").unwrap_or_else(|| panic!("{path}: {tag} has no id"));
            assert!(
                html.contains(&format!("<label for=\"{id}\"")),
                "{path}: {tag} has no label"
            );
        }
    }
}

pub fn field_attr(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

pub fn assert_protected(path: &str, answer: &Answer) {
    let h = |name: header::HeaderName| answer.headers.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(h(header::CONTENT_SECURITY_POLICY).as_deref(), Some(CSP), "{path}");
    assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS).as_deref(), Some("nosniff"), "{path}");
    assert_eq!(h(header::REFERRER_POLICY).as_deref(), Some("no-referrer"), "{path}");
}

pub fn key_id(key: &str) -> String {
    key.strip_prefix("annal_")
        .unwrap()
        .split('_')
        .next()
        .unwrap()
        .to_string()
}
