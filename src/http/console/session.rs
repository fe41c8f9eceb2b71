//! Console sessions: an API key exchanged at sign-in for a random 256-bit session id, carried
//! in an HttpOnly, Secure, SameSite=Strict cookie. The node keeps its sessions in memory (at
//! most [`MAX_SESSIONS`], the oldest evicted first), each holding the caller the key stands for
//! (`api-key:<name>` and its role), the key's id, and the session's CSRF token; it keeps only
//! the id's SHA-256, never the id or the key.
//!
//! A session ends after [`IDLE`] without a request, after [`ABSOLUTE`] whatever happens, at
//! sign-out, or at the first request after its key is revoked: the key is checked against the
//! log on every request, as the admin API checks the key it is given. Each start and end is an
//! event on `console-sessions` with the key's actor.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use annal_schemas::events::console::{ConsoleSessionEndReason, ConsoleSessionEnded, ConsoleSessionStarted};
use annal_schemas::NewEvent;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::layout;
use crate::http::AppState;
use crate::service::admin::{authorize, Action, Caller};
use crate::store::{EventStore, ExpectedVersion};

/// The stream of session events.
pub const STREAM: &str = "console-sessions";
/// The session cookie (path `/console`).
pub const COOKIE: &str = "annal_console";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, however active.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// Sessions one node keeps; a sign-in beyond it ends the oldest.
pub const MAX_SESSIONS: usize = 10_000;

/// A live session, as a request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id_sha256: [u8; 32],
    /// Who acts: `api-key:<name>` and the key's role, exactly as the admin API's caller.
    pub caller: Caller,
    /// The key's id; `None` for the bootstrap admin key (which is not in the log).
    pub key_id: Option<String>,
    /// Every form of this session carries it.
    pub csrf: String,
}

struct Entry {
    session: Session,
    created: Instant,
    last_seen: Instant,
    seq: u64,
}

impl Entry {
    fn ended(&self, now: Instant) -> Option<ConsoleSessionEndReason> {
        if now.duration_since(self.created) >= ABSOLUTE {
            Some(ConsoleSessionEndReason::Expired)
        } else if now.duration_since(self.last_seen) >= IDLE {
            Some(ConsoleSessionEndReason::Idle)
        } else {
            None
        }
    }
}

#[derive(Default)]
struct Map {
    by_id: HashMap<[u8; 32], Entry>,
    /// Sign-in order, for eviction.
    order: BTreeMap<u64, [u8; 32]>,
    seq: u64,
}

impl Map {
    fn remove(&mut self, id: &[u8; 32]) -> Option<Entry> {
        let entry = self.by_id.remove(id)?;
        self.order.remove(&entry.seq);
        Some(entry)
    }
}

/// The sessions of this node.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<Map>,
}

/// What a cookie leads to.
enum Found {
    Live(Session),
    Ended(Session, ConsoleSessionEndReason),
    Unknown,
}

/// A sign-in could not be recorded: the session is not opened.
#[derive(Debug, thiserror::Error)]
#[error("the sign-in could not be recorded: {0}")]
pub struct NotRecorded(pub String);

fn random_token() -> Result<String, NotRecorded> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| NotRecorded("the system random generator failed".into()))?;
    Ok(B64URL.encode(bytes))
}

/// 256 random bits, URL-safe base64: a session id, a CSRF or sign-in form token.
pub fn new_token() -> Option<String> {
    random_token().ok()
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a session for `caller` (already checked) and records it; returns the session id
    /// for the cookie.
    pub async fn start(
        &self,
        store: &dyn EventStore,
        caller: Caller,
        key_id: Option<String>,
    ) -> Result<String, NotRecorded> {
        let id = random_token()?;
        let session = Session {
            id_sha256: digest(&id),
            caller,
            key_id,
            csrf: random_token()?,
        };
        let started = ConsoleSessionStarted {
            session_id_sha256: hex::encode(session.id_sha256),
            role: session.caller.role,
            key_id: session.key_id.clone(),
        };
        store
            .append(
                STREAM,
                ExpectedVersion::Any,
                vec![NewEvent::new(&session.caller.actor, &started)],
            )
            .await
            .map_err(|e| NotRecorded(e.to_string()))?;
        let ended = self.insert(session, Instant::now());
        for (session, reason) in ended {
            record_end(store, &session, reason).await;
        }
        Ok(id)
    }

    /// Adds a session; returns those that ended to make room or had expired unnoticed.
    fn insert(&self, session: Session, now: Instant) -> Vec<(Session, ConsoleSessionEndReason)> {
        let mut ended = Vec::new();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let expired: Vec<([u8; 32], ConsoleSessionEndReason)> = map
            .by_id
            .iter()
            .filter_map(|(id, e)| e.ended(now).map(|r| (*id, r)))
            .collect();
        for (id, reason) in expired {
            if let Some(e) = map.remove(&id) {
                ended.push((e.session, reason));
            }
        }
        while map.by_id.len() >= MAX_SESSIONS {
            let Some((_, oldest)) = map.order.pop_first() else {
                break;
            };
            if let Some(e) = map.by_id.remove(&oldest) {
                ended.push((e.session, ConsoleSessionEndReason::Evicted));
            }
        }
        map.seq += 1;
        let seq = map.seq;
        map.order.insert(seq, session.id_sha256);
        map.by_id.insert(
            session.id_sha256,
            Entry {
                session,
                created: now,
                last_seen: now,
                seq,
            },
        );
        ended
    }

    fn find(&self, id: &str, now: Instant) -> Found {
        let key = digest(id);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = map.by_id.get_mut(&key) else {
            return Found::Unknown;
        };
        match entry.ended(now) {
            None => {
                entry.last_seen = now;
                Found::Live(entry.session.clone())
            }
            Some(reason) => match map.remove(&key) {
                Some(e) => Found::Ended(e.session, reason),
                None => Found::Unknown,
            },
        }
    }

    /// Ends `session` (if it is still open) and records why.
    pub async fn end(&self, store: &dyn EventStore, session: &Session, reason: ConsoleSessionEndReason) {
        let removed = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.remove(&session.id_sha256)
        };
        if let Some(e) = removed {
            record_end(store, &e.session, reason).await;
        }
    }

    /// The live session the request's cookie names, its key checked again; `Ok(None)` when
    /// there is none (no cookie, unknown, ended now).
    pub async fn resolve(&self, app: &AppState, headers: &HeaderMap) -> Result<Option<Session>, String> {
        let Some(id) = cookie(headers, COOKIE) else {
            return Ok(None);
        };
        let session = match self.find(&id, Instant::now()) {
            Found::Live(session) => session,
            Found::Ended(session, reason) => {
                record_end(app.store.as_ref(), &session, reason).await;
                return Ok(None);
            }
            Found::Unknown => return Ok(None),
        };
        if let Some(key_id) = &session.key_id {
            match app.admin.keys().is_revoked(key_id).await {
                Ok(false) => {}
                Ok(true) => {
                    self.end(app.store.as_ref(), &session, ConsoleSessionEndReason::KeyRevoked)
                        .await;
                    return Ok(None);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(Some(session))
    }

    /// Whether `session` is still open, its key checked again, without counting as a use of it:
    /// a live stream asks this as it goes, and an open page must not keep an unattended
    /// session from its idle end. A session whose time is up or whose key was revoked is ended
    /// (and recorded) here.
    pub async fn still_open(&self, app: &AppState, session: &Session) -> Result<bool, String> {
        let ended = {
            let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            match map.by_id.get(&session.id_sha256) {
                None => return Ok(false),
                Some(entry) => entry.ended(Instant::now()),
            }
        };
        if let Some(reason) = ended {
            self.end(app.store.as_ref(), session, reason).await;
            return Ok(false);
        }
        if let Some(key_id) = &session.key_id {
            if app.admin.keys().is_revoked(key_id).await.map_err(|e| e.to_string())? {
                self.end(app.store.as_ref(), session, ConsoleSessionEndReason::KeyRevoked)
                    .await;
                return Ok(false);
            }
        }
        Ok(true)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().map(|m| m.by_id.len()).unwrap_or(0)
    }
}

async fn record_end(store: &dyn EventStore, session: &Session, reason: ConsoleSessionEndReason) {
    let ended = ConsoleSessionEnded {
        session_id_sha256: hex::encode(session.id_sha256),
        reason,
    };
    let event = NewEvent::new(&session.caller.actor, &ended);
    if let Err(e) = store.append(STREAM, ExpectedVersion::Any, vec![event]).await {
        tracing::warn!(error = %e, actor = %session.caller.actor, ?reason, "recording the end of a console session");
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for the console's path: HttpOnly, Secure, SameSite=Strict.
pub fn set_cookie(name: &str, value: &str, max_age: Duration) -> String {
    format!(
        "{name}={value}; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        max_age.as_secs()
    )
}

/// A `Set-Cookie` value that removes cookie `name`.
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// The signed-in session of a request. A page (GET) without one redirects to the sign-in
/// form; any other request without one is refused (403) before its body is read.
pub struct Signed(pub Session);

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let Some(sessions) = parts.extensions.get::<Arc<Sessions>>().cloned() else {
            return Err(layout::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Console unavailable",
                "the console's sessions are not mounted",
                None,
            ));
        };
        let session = match sessions.resolve(app, &parts.headers).await {
            Ok(Some(session)) => session,
            Ok(None) => {
                let mut refused = if parts.method == Method::GET || parts.method == Method::HEAD {
                    Redirect::to("/console/login").into_response()
                } else {
                    layout::error_page(
                        StatusCode::FORBIDDEN,
                        "Not signed in",
                        "this action needs a console session: sign in again",
                        None,
                    )
                };
                if cookie(&parts.headers, COOKIE).is_some() {
                    if let Ok(v) = clear_cookie(COOKIE).parse() {
                        refused.headers_mut().append(axum::http::header::SET_COOKIE, v);
                    }
                }
                return Err(refused);
            }
            Err(e) => {
                return Err(layout::error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Store unavailable",
                    &format!("the API keys cannot be read now: {e}"),
                    None,
                ))
            }
        };
        // Every console page reads: the same gate the admin API puts before every route.
        if let Err(e) = authorize(&session.caller, Action::Read) {
            return Err(layout::refusal(e, Some(&session)));
        }
        tracing::info!(actor = %session.caller.actor, method = %parts.method, path = %parts.uri.path(), "console call");
        Ok(Signed(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_schemas::events::apikey::Role;

    fn session(name: &str) -> Session {
        Session {
            id_sha256: digest(name),
            caller: Caller {
                actor: format!("api-key:{name}"),
                role: Role::Auditor,
            },
            key_id: None,
            csrf: "t".into(),
        }
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let sessions = Sessions::new();
        let t0 = Instant::now();
        sessions.insert(session("a"), t0);
        assert!(matches!(sessions.find("a", t0 + IDLE / 2), Found::Live(_)));
        // Used within the idle limit, again and again, until the absolute limit.
        let mut t = t0;
        while t + IDLE / 2 < t0 + ABSOLUTE {
            t += IDLE / 2;
            assert!(matches!(sessions.find("a", t), Found::Live(_)), "{:?}", t - t0);
        }
        assert!(matches!(
            sessions.find("a", t0 + ABSOLUTE),
            Found::Ended(_, ConsoleSessionEndReason::Expired)
        ));
        assert!(matches!(sessions.find("a", t0 + ABSOLUTE), Found::Unknown));
        sessions.insert(session("b"), t0);
        assert!(matches!(
            sessions.find("b", t0 + IDLE),
            Found::Ended(_, ConsoleSessionEndReason::Idle)
        ));
    }

    #[test]
    fn the_oldest_session_makes_room() {
        let sessions = Sessions::new();
        let now = Instant::now();
        for i in 0..MAX_SESSIONS {
            assert!(sessions.insert(session(&i.to_string()), now).is_empty());
        }
        let ended = sessions.insert(session("new"), now);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].0.caller.actor, "api-key:0");
        assert_eq!(ended[0].1, ConsoleSessionEndReason::Evicted);
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(matches!(sessions.find("0", now), Found::Unknown));
        assert!(matches!(sessions.find("new", now), Found::Live(_)));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "a=1; annal_console=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
