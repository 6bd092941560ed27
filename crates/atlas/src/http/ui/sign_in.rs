//! Signing in (a token from `atlas token create` exchanged for a session
//! cookie) and out.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;

use super::page::{PageError, PageResult, Section, Visitor, layout};
use crate::auth::{self, SESSION_HOURS};
use crate::http::AppState;
use crate::http::extract::{SESSION_COOKIE, cookie, same_origin, session_of};

pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    if session_of(&headers, &state).await?.is_some() {
        return Ok(Redirect::to("/tasks").into_response());
    }
    Ok(page(StatusCode::OK, None).into_response())
}

fn page(status: StatusCode, problem: Option<&str>) -> impl IntoResponse {
    let body = html! {
        div.sign-in {
            h1 { "Sign in to Atlas" }
            @if let Some(problem) = problem {
                p.banner.bad role="alert" { (problem) }
            }
            form method="post" action="/sign-in" {
                label for="token" { "Access token" }
                p.help #token-help {
                    "Ask your administrator for one (they make it with "
                    code { "atlas token create" } "). It starts with " code { "atlas_" } "."
                }
                input #token type="password" name="token" required autocomplete="current-password"
                    aria-describedby="token-help";
                p { button.primary type="submit" { "Sign in" } }
            }
        }
    };
    (status, layout("Sign in", None, Section::None, body))
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    token: String,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> PageResult {
    same_origin(&headers)?;
    let Some((value, session)) = auth::sign_in(&state.db, &form.token).await? else {
        let problem = "That token is not valid (mistyped, or revoked). Check it and try again.";
        return Ok(page(StatusCode::UNAUTHORIZED, Some(problem)).into_response());
    };
    tracing::info!(actor = %session.caller.name, "signed in to the web UI");
    let cookie = session_cookie(&headers, &value, SESSION_HOURS * 3600);
    Ok(([(SET_COOKIE, cookie)], Redirect::to("/tasks")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Link {
    #[serde(default)]
    code: String,
}

/// `GET /sign-in/link?code=…`: a one-time link (printed by `atlas demo`).
pub async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(link): Query<Link>,
) -> PageResult {
    let Some((value, session)) = auth::sign_in_with_link(&state.db, &link.code).await? else {
        let problem = "That sign-in link was already used or has expired. Sign in with a token, \
                       or restart `atlas demo` for a new link.";
        return Ok(page(StatusCode::UNAUTHORIZED, Some(problem)).into_response());
    };
    tracing::info!(actor = %session.caller.name, "signed in to the web UI with a one-time link");
    let cookie = session_cookie(&headers, &value, SESSION_HOURS * 3600);
    Ok(([(SET_COOKIE, cookie)], Redirect::to("/tasks")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct SignOut {
    #[serde(rename = "_csrf")]
    csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    visitor: Result<Visitor, PageError>,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> PageResult {
    if let Ok(visitor) = visitor {
        visitor.check_form(&headers, &form.csrf)?;
        if let Some(value) = cookie(&headers, SESSION_COOKIE) {
            auth::sign_out(&state.db, value).await?;
        }
    }
    let cleared = session_cookie(&headers, "", 0);
    Ok(([(SET_COOKIE, cleared)], Redirect::to("/sign-in")).into_response())
}

/// The session cookie: script cannot read it, other sites never send it, and
/// behind an HTTPS proxy it only travels over HTTPS.
fn session_cookie(headers: &HeaderMap, value: &str, max_age_s: i64) -> String {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if https { "; Secure" } else { "" }
    )
}
