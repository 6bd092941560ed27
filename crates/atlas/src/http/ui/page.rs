//! What every page shares: the layout (navigation, live indicator, sign-out),
//! the signed-in session a page needs, its CSRF check, and the error pages
//! (a page, never a JSON body or a stack trace).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};

use super::assets::{CSS, JS};
use super::conflicts::nav_link;
use crate::auth::{Role, Session};
use crate::http::AppState;
use crate::http::extract::{same_origin, session_of};
use crate::store::conflicts;

/// Which part of the UI a page belongs to (marked in the navigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Tasks,
    Conflicts,
    Admin,
    Help,
    None,
}

/// A whole page around `body`; the navigation only for a signed-in visitor.
pub fn layout(title: &str, visitor: Option<&Visitor>, section: Section, body: Markup) -> Markup {
    let current = |s: Section| (s == section).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Atlas" }
                link rel="stylesheet" href=(CSS.url);
                @if visitor.is_some() {
                    script type="module" src=(JS.url) {}
                }
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header {
                    nav aria-label="Main" {
                        span.brand { "Atlas" }
                        @if let Some(visitor) = visitor {
                            @let session = &visitor.session;
                            a href="/tasks" aria-current=[current(Section::Tasks)] { "Tasks" }
                            (nav_link(visitor.open_conflicts, section == Section::Conflicts))
                            @if visitor.may(Role::Admin) {
                                a href="/admin" aria-current=[current(Section::Admin)] { "Admin" }
                            }
                            a href="/help" aria-current=[current(Section::Help)] { "Help" }
                            span.spacer {}
                            span #live role="status" aria-live="polite" data-state="offline" {
                                "connecting…"
                            }
                            span.muted { (session.caller.name) " (" (session.caller.role.as_str()) ")" }
                            form method="post" action="/sign-out" {
                                (csrf_field(session))
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// The hidden field every form of a signed-in page posts.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="_csrf" value=(session.csrf); }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: go to the sign-in page.
    SignIn,
    Forbidden(String),
    NotFound(String),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        PageError::Internal(e)
    }
}

impl From<crate::http::error::ApiError> for PageError {
    fn from(e: crate::http::error::ApiError) -> Self {
        use crate::http::error::ApiError;
        match e {
            ApiError::Unauthorized(_) => PageError::SignIn,
            ApiError::Forbidden(m) => PageError::Forbidden(m),
            ApiError::NotFound(m) | ApiError::Gone(m) => PageError::NotFound(m),
            ApiError::Internal(cause) => PageError::Internal(cause),
            other => PageError::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

pub fn not_found(message: &str) -> Response {
    error_page(StatusCode::NOT_FOUND, "Not found", message)
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = html! {
        h1 { (title) }
        p { (message) }
        p { a href="/tasks" { "Back to the tasks" } }
    };
    (status, layout(title, None, Section::None, body)).into_response()
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn => Redirect::to("/sign-in").into_response(),
            PageError::Forbidden(message) => {
                error_page(StatusCode::FORBIDDEN, "Not allowed", &message)
            }
            PageError::NotFound(message) => not_found(&message),
            PageError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "a page failed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Atlas could not show this page. Try again; if it keeps failing, tell \
                     your administrator (the server log has the details).",
                )
            }
        }
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;

/// The signed-in browser a page is for (a visitor without a session is sent to
/// the sign-in page), with what the navigation shows.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub session: Session,
    pub open_conflicts: i64,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let session = session_of(&parts.headers, state)
            .await?
            .ok_or(PageError::SignIn)?;
        let open_conflicts = conflicts::count_unresolved(state.db.pool()).await?;
        Ok(Visitor {
            session,
            open_conflicts,
        })
    }
}

impl Visitor {
    pub fn may(&self, role: Role) -> bool {
        self.session.caller.may(role)
    }

    /// Refuses (403 page) a visitor below `role`.
    pub fn require(&self, role: Role) -> PageResult<()> {
        if self.may(role) {
            Ok(())
        } else {
            Err(PageError::Forbidden(format!(
                "This needs the {} role; you are signed in as {} ({}).",
                role.as_str(),
                self.session.caller.name,
                self.session.caller.role.as_str()
            )))
        }
    }

    /// A form post is only taken from this server's pages, with this session's
    /// CSRF token.
    pub fn check_form(&self, headers: &HeaderMap, csrf: &str) -> PageResult<()> {
        same_origin(headers).map_err(PageError::from)?;
        if csrf != self.session.csrf {
            return Err(PageError::Forbidden(
                "This form has expired or did not come from Atlas. Reload the page and try \
                 again."
                    .into(),
            ));
        }
        Ok(())
    }
}
