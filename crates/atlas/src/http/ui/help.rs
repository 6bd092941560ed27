//! `/help`: what the badges mean, what a conflict is, and which system to edit.

use maud::html;

use super::badge::vocabulary;
use super::page::{PageResult, Section, Visitor, layout};
use crate::model::SyncStatus;
use axum::response::IntoResponse;

pub async fn page(visitor: Visitor) -> PageResult {
    let body = html! {
        h1 { "Help" }
        h2 { "The sync badge" }
        p { "Every task says where it stands with Altimeter. The badge changes by itself; you never need to reload." }
        table {
            thead { tr { th scope="col" { "Badge" } th scope="col" { "What it means" } } }
            tbody {
                @for status in [SyncStatus::Syncing, SyncStatus::Synced, SyncStatus::Error, SyncStatus::Conflict] {
                    @let (label, icon, meaning) = vocabulary(status);
                    tr { td { span.badge data-status=(status.as_str()) { (icon) " " (label) } } td { (meaning) } }
                }
            }
        }
        h2 { "Conflicts" }
        p { "A conflict means the same field was changed in Atlas and in Altimeter at nearly the same time, "
            "or a task was edited on one side and deleted on the other. Atlas never picks a winner for you: "
            "it keeps both versions and asks. Changes to different fields are merged by themselves." }
        h2 { "Which system to edit" }
        p { "Either. Atlas and Altimeter stay in step both ways, usually within a second. "
            "Edit where you are; if you see “Error”, open the task to read why, and press Retry once the cause is fixed." }
        h2 { "Live updates" }
        p { "The header shows “live” while the page receives changes, and “offline — reconnecting…” when the "
            "connection drops (it comes back by itself and then refreshes what you see)." }
    };
    Ok(layout("Help", Some(&visitor), Section::Help, body).into_response())
}
