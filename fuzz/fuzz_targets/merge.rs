//! The three-way merge and the decision built on it. Fields are drawn from a
//! few values each, so the three versions often agree on some of them.
#![no_main]

use std::time::Duration;

use altimeter_api::{Priority, Status, TaskFields};
use atlas::model::Snapshot;
use atlas::sync::merge::{Decision, Field, Side, decide, merge_fields};
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;

fn fields(bytes: &mut impl Iterator<Item = u8>) -> TaskFields {
    let mut next = || bytes.next().unwrap_or(0);
    let title = ["Pour slab", "Pour slab L4", "Order rebar"][usize::from(next() % 3)];
    let mut f = TaskFields::titled(title);
    f.description = ["", "Level 3", "Level 4"][usize::from(next() % 3)].to_owned();
    f.status = [Status::Open, Status::InProgress, Status::Blocked, Status::Done][usize::from(next() % 4)];
    f.priority = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent][usize::from(next() % 4)];
    f.assignee = [None, Some("pm-ana".to_owned()), Some("crew-1".to_owned())][usize::from(next() % 3)].clone();
    f.due_date = [None, chrono::NaiveDate::from_ymd_opt(2027, 3, 1)][usize::from(next() % 2)];
    f
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.iter().copied();
    let flags = bytes.next().unwrap_or(0);
    let base = fields(&mut bytes);
    let local = fields(&mut bytes);
    let remote = fields(&mut bytes);
    let base = (flags & 1 == 0).then_some(base);

    let merged = merge_fields(base.as_ref(), &local, &remote);
    let swapped = merge_fields(base.as_ref(), &remote, &local);
    assert_eq!(merged.conflicts, swapped.conflicts, "conflicts do not depend on the side");
    for field in Field::ALL {
        let conflict = merged.conflicts.contains(&field);
        let changed = |side: &TaskFields| base.as_ref().is_none_or(|b| field.differs(b, side));
        let expected = field.differs(&local, &remote) && changed(&local) && changed(&remote);
        assert_eq!(conflict, expected, "{field:?}");
        if !conflict {
            // The side that changed wins; unchanged fields stay.
            let winner = if base.as_ref().is_some_and(|b| !field.differs(b, &local)) {
                &remote
            } else {
                &local
            };
            assert!(!field.differs(&merged.merged, winner), "{field:?}");
            assert!(!field.differs(&merged.merged, &swapped.merged), "{field:?}");
        }
    }

    // The decision: a delete on either side, and edit times within or outside the window.
    let at = |minutes: u8| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(i64::from(minutes % 16));
    let snapshot = |fields: &TaskFields, deleted: bool| Snapshot {
        fields: fields.clone(),
        deleted,
    };
    let base_snapshot = base.as_ref().map(|b| snapshot(b, false));
    let l = snapshot(&local, flags & 2 != 0);
    let r = snapshot(&remote, flags & 4 != 0);
    let (lt, rt) = (at(bytes.next().unwrap_or(0)), at(bytes.next().unwrap_or(0)));
    let decision = decide(
        base_snapshot.as_ref(),
        Side { snapshot: &l, edited_at: lt, field_edited_at: None },
        Side { snapshot: &r, edited_at: rt, field_edited_at: None },
        Duration::from_secs(300),
    );
    match decision {
        Decision::InSync { result } => {
            assert!(result == r || (l.deleted && r.deleted) || result == l);
        }
        Decision::Merge { result, change_local, change_remote } => {
            assert!(change_local || change_remote);
            assert_eq!(change_local, result != l);
            assert_eq!(change_remote, result != r);
        }
        Decision::Hold { fields, .. } => {
            assert!(l.deleted || r.deleted || !fields.is_empty());
        }
        Decision::AutoResolved { result, fields, .. } => {
            assert!(!l.deleted && !r.deleted && !fields.is_empty());
            for field in &fields {
                assert!(!field.differs(&result.fields, &l.fields) || !field.differs(&result.fields, &r.fields));
            }
        }
    }
});
