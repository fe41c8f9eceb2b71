//! Forms and their CSRF tokens. Every console form carries its session's token (a random 256-bit
//! value kept in the session) as the field `csrf`; a POST whose token is missing or wrong is
//! refused with 403 before anything is done. The sign-in form, which has no session yet,
//! carries a token that must match a cookie it set (a double submit), so another site cannot
//! sign a browser in under its own key. A browser that says the request came from another site
//! (`Sec-Fetch-Site: cross-site` or `same-site`) is refused too.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::layout;
use super::session::{Session, Signed};

/// The field every form carries its token in.
pub const FIELD: &str = "csrf";

/// A form body or a query string: name/value pairs, as sent.
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// `application/x-www-form-urlencoded` pairs; a body that is not one is refused (400).
    pub fn parse(bytes: &[u8]) -> Result<Form, NotAForm> {
        serde_urlencoded::from_bytes(bytes)
            .map(Form)
            .map_err(|e| NotAForm(e.to_string()))
    }

    /// A query string (absent: no pairs); one that cannot be read counts as empty.
    pub fn query(raw: Option<&str>) -> Form {
        raw.and_then(|q| serde_urlencoded::from_str(q).ok())
            .map(Form)
            .unwrap_or_default()
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-blank value of `name`, trimmed, in the order sent (checkboxes, a multiple
    /// select).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The field names sent, in order (repeated names repeat).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

/// A body that is not a form.
#[derive(Debug)]
pub struct NotAForm(String);

impl NotAForm {
    /// The 400 page that says so.
    pub fn page(self) -> Response {
        layout::error_page(
            StatusCode::BAD_REQUEST,
            "Not a form",
            &format!("the request is not a form: {}", self.0),
            None,
        )
    }
}

/// Whether `given` is `expected`, compared in constant time.
pub fn matches(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| verify_slices_are_equal(expected.as_bytes(), g.as_bytes()).is_ok())
}

/// Whether the request may have come from this console: not from another site, as far as
/// the browser says (`Sec-Fetch-Site`; a client that does not say is judged by its token).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    matches!(site, "same-origin" | "none")
}

/// Whether `form` carries the session's token (and came from this console); a `false` is
/// answered with [`forged`].
pub fn check(session: &Session, headers: &HeaderMap, form: &Form) -> bool {
    let ok = same_origin(headers) && matches(&session.csrf, form.get(FIELD));
    if !ok {
        tracing::warn!(actor = %session.caller.actor, "console POST without its CSRF token refused");
    }
    ok
}

/// A signed-in POST's form, read and checked: the form, or the page that refuses it (not a
/// form: 400; without the session's token: [`forged`]).
pub fn signed_form(session: &Session, headers: &HeaderMap, body: &[u8]) -> Result<Form, Box<Response>> {
    let form = Form::parse(body).map_err(|e| Box::new(e.page()))?;
    if !check(session, headers, &form) {
        return Err(Box::new(forged(Some(session))));
    }
    Ok(form)
}

/// The answer to a form that did not come from this console.
pub fn forged(session: Option<&Session>) -> Response {
    layout::error_page(
        StatusCode::FORBIDDEN,
        "Form refused",
        "this form did not come from this console session (its token is missing or wrong): nothing was done. \
         Reload the page and try again.",
        session,
    )
}

/// A POST from a signed-in session whose form carries that session's token: the session and the
/// form. Without a session it is refused as [`Signed`] refuses (before the body is read); a
/// malformed form or a missing or wrong token gets its refusal page, and the handler never runs.
pub struct SignedForm(pub Session, pub Form);

impl axum::extract::FromRequest<crate::http::AppState> for SignedForm {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, app: &crate::http::AppState) -> Result<Self, Response> {
        use axum::extract::FromRequestParts;
        use axum::response::IntoResponse;
        let (mut parts, body) = request.into_parts();
        let Signed(session) = Signed::from_request_parts(&mut parts, app).await?;
        let headers = parts.headers.clone();
        let request = axum::extract::Request::from_parts(parts, body);
        let body = axum::body::Bytes::from_request(request, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = signed_form(&session, &headers, &body).map_err(|refused| *refused)?;
        Ok(Self(session, form))
    }
}
