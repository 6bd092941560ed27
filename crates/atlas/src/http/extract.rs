//! Request extractors that answer in the API's own error format: the
//! authenticated caller, JSON bodies with field-level errors, query strings and
//! the `If-Match` header.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST, IF_MATCH, ORIGIN};
use axum::http::request::Parts;
use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::{AppState, BODY_LIMIT, DRAIN_LIMIT};
use crate::auth::{self, Caller, Role};
use crate::json::JsonError;

/// The web UI's session cookie.
pub const SESSION_COOKIE: &str = "atlas_session";
/// The header a page's script sends its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Refuses a browser's request from another site. Requests without `Origin`
/// (not from a browser page) are let through: they must still authenticate.
pub fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    match (origin_host, host) {
        (Some(from), Some(host)) if from.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(ApiError::Forbidden(
            "only pages of this server may do that (foreign Origin)".into(),
        )),
    }
}

/// The signed-in browser behind a request's session cookie, if any.
pub async fn session_of(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<auth::Session>, ApiError> {
    match cookie(headers, SESSION_COOKIE) {
        Some(value) => Ok(auth::session(&state.db, value).await?),
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// A bearer token, or the UI's session cookie. A request that changes
    /// something on a cookie alone must also come from this server's pages and
    /// carry the session's CSRF token (`X-CSRF-Token`).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            let session = session_of(&parts.headers, state).await?.ok_or_else(|| {
                ApiError::Unauthorized(
                    "missing `Authorization: Bearer <token>` header (or sign in)".into(),
                )
            })?;
            if !parts.method.is_safe() {
                same_origin(&parts.headers)?;
                let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
                if sent != Some(session.csrf.as_str()) {
                    return Err(ApiError::Forbidden(
                        "missing or wrong CSRF token for this session".into(),
                    ));
                }
            }
            return Ok(session.caller);
        };
        let header = header.to_str().map_err(|_| {
            ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            })?;
        auth::authenticate(&state.db, token)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into()))
    }
}

/// A caller with at least the named role, checked from the headers alone — so a
/// request without the right role is refused (401/403) before its body is read.
macro_rules! role_extractor {
    ($($name:ident => $role:expr),* $(,)?) => {$(
        #[derive(Debug)]
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
                let caller = Caller::from_request_parts(parts, state).await?;
                caller.require($role)?;
                Ok($name(caller))
            }
        }
    )*};
}

role_extractor!(Viewer => Role::Viewer, Editor => Role::Editor, Admin => Role::Admin);

impl Caller {
    /// Refuses (403) a caller whose role is below `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.may(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role; token `{}` has {}",
                needed.as_str(),
                self.name,
                self.role.as_str()
            )))
        }
    }
}

/// A JSON body: 415 unless `Content-Type: application/json`, 413 over the body
/// limit, 400 when it is not JSON, 422 naming the field when it does not fit.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ));
        }
        let bytes = read_body(req.into_body()).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Reads a request body of at most [`BODY_LIMIT`] bytes. A larger body is read on
/// (and thrown away) up to [`DRAIN_LIMIT`] before the 413 goes out: a client
/// still sending when the answer comes would otherwise see a reset connection
/// instead of the answer.
pub async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
        total += chunk.len();
        if total > DRAIN_LIMIT {
            break;
        }
        if total <= BODY_LIMIT {
            buffer.extend_from_slice(&chunk);
        }
    }
    if total > BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(Bytes::from(buffer))
}

/// Deserializes a JSON body: 400 when it is not JSON, 422 naming the field when
/// it does not fit.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::json::parse(bytes).map_err(|e| match e {
        JsonError::Syntax(_) => ApiError::BadRequest(e.to_string()),
        JsonError::Data(message) => ApiError::Unprocessable(message),
    })
}

/// A query string, 422 when a parameter does not fit.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// Reads a query string (without its `?`) as the API does.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let uri = without_empty_parameters(query)?;
    Query::<T>::try_from_uri(&uri)
        .map(|Query(v)| v)
        .map_err(|e| ApiError::Unprocessable(e.body_text()))
}

/// The query with every empty parameter (`status=`, the shape a form submits
/// for a field left blank) left out: an empty parameter means "not given".
fn without_empty_parameters(query: &str) -> Result<axum::http::Uri, ApiError> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            pair.split_once('=')
                .is_some_and(|(_, value)| !value.is_empty())
        })
        .collect();
    format!("/?{}", kept.join("&"))
        .parse()
        .map_err(|_| ApiError::BadRequest("the query string is not valid".into()))
}

/// The optional `If-Match: "<version>"` header.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        value
            .to_str()
            .ok()
            .and_then(altimeter_api::headers::parse_etag)
            .map(|v| IfMatch(Some(v)))
            .ok_or_else(|| {
                ApiError::BadRequest("If-Match must be a task version such as \"3\"".into())
            })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn only_this_servers_own_pages_pass_the_origin_check() {
        assert!(same_origin(&headers(None, "127.0.0.1:8080")).is_ok());
        assert!(same_origin(&headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080")).is_ok());
        assert!(same_origin(&headers(Some("https://Atlas.example"), "atlas.example")).is_ok());
        for foreign in ["http://evil.example", "http://127.0.0.1:9999", "null"] {
            assert!(
                same_origin(&headers(Some(foreign), "127.0.0.1:8080")).is_err(),
                "{foreign}"
            );
        }
    }

    #[test]
    fn cookies_are_found_by_name_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("theme=dark; atlas_session=abc123"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc123"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
