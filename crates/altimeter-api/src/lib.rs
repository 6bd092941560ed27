//! Wire types of the Altimeter v1 API as Atlas assumes it (SPEC §4), shared by
//! `altimeter-client` and `altimeter-sim` so both speak one vocabulary. The task
//! fields and their validation rules (SPEC §2) are the same on both sides, so they
//! live here too and Atlas reuses them.

pub mod auth;
pub mod error;
pub mod headers;
mod parse;
pub mod task;
pub mod webhook;

pub use error::{ErrorBody, ErrorDetail};
pub use task::{
    CreateTask, FieldError, Page, Priority, RemoteTask, Status, TaskFields, UnknownVariant,
    ValidationError, control_character, parse_due_date,
};
pub use webhook::{EventType, WebhookData, WebhookEvent};
