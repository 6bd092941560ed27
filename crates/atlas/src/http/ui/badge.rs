//! The sync badge, the same everywhere: text and icon, colour only as a third
//! cue, and what it means (or what went wrong) on hover and focus.

use maud::{Markup, html};

use crate::model::{SyncStatus, Task};

/// Label, icon and meaning of each status (also on the help page).
pub fn vocabulary(status: SyncStatus) -> (&'static str, &'static str, &'static str) {
    match status {
        SyncStatus::Pending | SyncStatus::Syncing => {
            ("Syncing…", "↻", "Saved in Atlas; on its way to Altimeter.")
        }
        SyncStatus::Synced => ("Synced", "✓", "Atlas and Altimeter agree."),
        SyncStatus::Error => (
            "Error",
            "⚠",
            "Atlas stopped trying; the message says what to do. Retry sends it again.",
        ),
        SyncStatus::Conflict => (
            "Conflict",
            "⇄",
            "Changed in Atlas and in Altimeter; choose what to keep.",
        ),
    }
}

/// The badge, focusable so its tooltip is reachable from the keyboard.
pub fn badge(task: &Task) -> Markup {
    badge_with(task, true)
}

/// The badge inside a link (the link takes the focus).
pub fn badge_in_link(task: &Task) -> Markup {
    badge_with(task, false)
}

fn badge_with(task: &Task, focusable: bool) -> Markup {
    let (label, icon, meaning) = vocabulary(task.sync_status);
    let tip = task.sync_error.as_deref().unwrap_or(meaning);
    let icon_first = matches!(task.sync_status, SyncStatus::Pending | SyncStatus::Syncing);
    html! {
        span.badge data-status=(task.sync_status.as_str()) tabindex=[focusable.then_some("0")] title=(tip)
            aria-label=(format!("Sync: {label}. {tip}")) {
            @if icon_first {
                span.icon aria-hidden="true" { (icon) } span.label { (label) }
            } @else {
                span.label { (label) } " " span.icon aria-hidden="true" { (icon) }
            }
        }
    }
}
