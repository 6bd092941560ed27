//! Examples and properties of the three-way merge.

use altimeter_api::{Priority, Status, TaskFields};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

const WINDOW: Duration = Duration::from_secs(300);

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 14, minute, 0).unwrap()
}

fn live(fields: TaskFields) -> Snapshot {
    Snapshot {
        fields,
        deleted: false,
    }
}

fn side(snapshot: &Snapshot, minute: u32) -> Side<'_> {
    Side {
        snapshot,
        edited_at: at(minute),
        field_edited_at: None,
    }
}

#[test]
fn the_window_compares_the_conflicting_fields_own_edit_times() {
    // Atlas: title at 12:00, description at 12:10. Altimeter: title at 12:02.
    // The title edits are 2 minutes apart: a person decides, even though the
    // task as a whole was last edited 8 minutes after Altimeter's edit.
    let base = live(TaskFields::titled("Pour slab"));
    let mut local_fields = TaskFields::titled("Pour slab L3");
    local_fields.description = "north side first".into();
    let local = live(local_fields);
    let remote = live(TaskFields::titled("Pour slab L4"));
    let by_field = BTreeMap::from([(Field::Title, at(0)), (Field::Description, at(10))]);
    let local_side = Side {
        snapshot: &local,
        edited_at: at(10),
        field_edited_at: Some(&by_field),
    };
    let decision = decide(Some(&base), local_side, side(&remote, 2), WINDOW);
    assert_eq!(
        decision,
        Decision::Hold {
            kind: ConflictKind::Fields,
            fields: vec![Field::Title]
        }
    );
    // Judged by the whole task's time, it would have been settled without asking.
    let whole_task = decide(Some(&base), side(&local, 10), side(&remote, 2), WINDOW);
    assert!(matches!(whole_task, Decision::AutoResolved { .. }));
}

#[test]
fn the_concrete_scenario_is_a_conflict_not_a_silent_overwrite() {
    // Foreman sets 50 bags at 2:00, the PM sets 100 bags in Altimeter at 2:01.
    let base = live(TaskFields::titled("Need concrete on level 3"));
    let local = live(TaskFields::titled("Need 50 bags of concrete on level 3"));
    let remote = live(TaskFields::titled("Need 100 bags of concrete on level 3"));
    let decision = decide(Some(&base), side(&local, 0), side(&remote, 1), WINDOW);
    assert_eq!(
        decision,
        Decision::Hold {
            kind: ConflictKind::Fields,
            fields: vec![Field::Title]
        }
    );
}

#[test]
fn outside_the_window_the_later_edit_wins_and_is_recorded() {
    let base = live(TaskFields::titled("Need concrete"));
    let local = live(TaskFields::titled("50 bags"));
    let mut remote_fields = TaskFields::titled("100 bags");
    remote_fields.priority = Priority::High;
    let remote = live(remote_fields);
    let decision = decide(Some(&base), side(&local, 0), side(&remote, 10), WINDOW);
    let Decision::AutoResolved {
        result,
        winner,
        fields,
        change_local,
        change_remote,
    } = decision
    else {
        panic!("expected auto-resolution, got {decision:?}")
    };
    assert_eq!(winner, Winner::Remote);
    assert_eq!(fields, vec![Field::Title]);
    assert_eq!(result, remote);
    assert!(change_local && !change_remote);
}

#[test]
fn disjoint_edits_merge_both_ways() {
    let base = live(TaskFields::titled("Frame level 2"));
    let mut local = base.clone();
    local.fields.status = Status::InProgress;
    let mut remote = base.clone();
    remote.fields.due_date = NaiveDate::from_ymd_opt(2026, 12, 24);
    let decision = decide(Some(&base), side(&local, 0), side(&remote, 1), WINDOW);
    let mut expected = local.clone();
    expected.fields.due_date = remote.fields.due_date;
    assert_eq!(
        decision,
        Decision::Merge {
            result: expected,
            change_local: true,
            change_remote: true
        }
    );
}

#[test]
fn edit_versus_delete_is_always_held() {
    let base = live(TaskFields::titled("Order rebar"));
    let mut edited = base.clone();
    edited.fields.assignee = Some("Ana".into());
    let deleted = Snapshot {
        deleted: true,
        ..base.clone()
    };
    for (local, remote) in [(&edited, &deleted), (&deleted, &edited)] {
        // Even hours apart.
        let decision = decide(Some(&base), side(local, 0), side(remote, 59), WINDOW);
        assert_eq!(
            decision,
            Decision::Hold {
                kind: ConflictKind::EditDelete,
                fields: vec![Field::Assignee]
            }
        );
    }
}

#[test]
fn a_delete_of_an_unchanged_task_applies() {
    let base = live(TaskFields::titled("Order rebar"));
    let deleted = Snapshot {
        deleted: true,
        ..base.clone()
    };
    let decision = decide(Some(&base), side(&base, 0), side(&deleted, 1), WINDOW);
    assert_eq!(
        decision,
        Decision::Merge {
            result: deleted.clone(),
            change_local: true,
            change_remote: false
        }
    );
}

#[test]
fn without_a_base_every_difference_is_a_conflict() {
    let local = live(TaskFields::titled("a"));
    let remote = live(TaskFields::titled("b"));
    let decision = decide(None, side(&local, 0), side(&remote, 1), WINDOW);
    assert_eq!(
        decision,
        Decision::Hold {
            kind: ConflictKind::Fields,
            fields: vec![Field::Title]
        }
    );
    assert_eq!(
        decide(None, side(&local, 0), side(&local, 1), WINDOW),
        Decision::InSync { result: local }
    );
}

#[test]
fn window_edges() {
    assert!(within_window(at(0), at(5), WINDOW));
    assert!(within_window(at(5), at(0), WINDOW));
    assert!(!within_window(at(0), at(6), WINDOW));
}

#[test]
fn field_names_round_trip() {
    for field in Field::ALL {
        assert_eq!(Field::parse(field.name()), Some(field));
    }
}

/// Equal, or both tombstones (whose fields no longer matter).
fn same(a: &Snapshot, b: &Snapshot) -> bool {
    a == b || (a.deleted && b.deleted)
}

fn fields_strategy() -> impl Strategy<Value = TaskFields> {
    (
        prop::sample::select(vec!["a", "b", "c"]),
        prop::sample::select(vec!["", "x", "y"]),
        prop::sample::select(Status::ALL.to_vec()),
        prop::sample::select(Priority::ALL.to_vec()),
        prop::option::of(prop::sample::select(vec!["ana", "bo"])),
        prop::option::of(prop::sample::select(vec![1u32, 2])),
    )
        .prop_map(
            |(title, description, status, priority, assignee, day)| TaskFields {
                title: title.into(),
                description: description.into(),
                status,
                priority,
                assignee: assignee.map(str::to_owned),
                due_date: day.and_then(|d| NaiveDate::from_ymd_opt(2027, 1, d)),
            },
        )
}

fn snapshot_strategy() -> impl Strategy<Value = Snapshot> {
    (fields_strategy(), prop::bool::weighted(0.15))
        .prop_map(|(fields, deleted)| Snapshot { fields, deleted })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A value changed on one side is never dropped without a conflict record.
    #[test]
    fn no_edit_is_lost_silently(
        base in prop::option::of(snapshot_strategy()),
        local in snapshot_strategy(),
        remote in snapshot_strategy(),
        local_minute in 0u32..60,
        remote_minute in 0u32..60,
    ) {
        let decision = decide(base.as_ref(), side(&local, local_minute), side(&remote, remote_minute), WINDOW);
        let changed = |f: Field, s: &Snapshot| base.as_ref().is_none_or(|b| f.differs(&b.fields, &s.fields));
        match &decision {
            Decision::InSync { result } => {
                prop_assert!(same(result, &local) && same(result, &remote));
            }
            Decision::Merge { result, change_local, change_remote } => {
                prop_assert_eq!(*change_local, result != &local);
                prop_assert_eq!(*change_remote, result != &remote);
                if !result.deleted {
                    for f in Field::ALL {
                        if changed(f, &local) { prop_assert!(!f.differs(&result.fields, &local.fields), "local {:?} lost", f); }
                        if changed(f, &remote) { prop_assert!(!f.differs(&result.fields, &remote.fields), "remote {:?} lost", f); }
                    }
                } else {
                    // A delete only wins over a side unchanged since the base.
                    let b = base.as_ref().expect("a delete merges only against a base");
                    for s in [&local, &remote] {
                        prop_assert!(s.deleted || s == b);
                    }
                }
            }
            Decision::Hold { fields, .. } => {
                prop_assert!(local != remote);
                prop_assert!(fields.iter().all(|f| f.differs(&local.fields, &remote.fields)
                    || local.deleted != remote.deleted));
            }
            Decision::AutoResolved { result, fields, change_local, change_remote, .. } => {
                prop_assert!(!local.deleted && !remote.deleted);
                prop_assert!(!within_window(at(local_minute), at(remote_minute), WINDOW));
                prop_assert_eq!(*change_local, result != &local);
                prop_assert_eq!(*change_remote, result != &remote);
                for f in Field::ALL {
                    let lost_local = changed(f, &local) && f.differs(&result.fields, &local.fields);
                    let lost_remote = changed(f, &remote) && f.differs(&result.fields, &remote.fields);
                    if lost_local || lost_remote {
                        prop_assert!(fields.contains(&f), "{:?} overwritten without a record", f);
                    }
                }
            }
        }
    }

    /// Edits to different fields always merge, whatever their timing.
    #[test]
    fn disjoint_edits_always_merge(
        base in fields_strategy(),
        other in fields_strategy(),
        mask in prop::collection::vec(0u8..3, 6),
        local_minute in 0u32..60,
        remote_minute in 0u32..60,
    ) {
        // Each field is changed by nobody (0), locally (1) or remotely (2).
        let (mut local, mut remote, mut expected) = (base.clone(), base.clone(), base.clone());
        for (f, who) in Field::ALL.into_iter().zip(&mask) {
            match who {
                1 => { f.copy(&other, &mut local); f.copy(&other, &mut expected); }
                2 => { f.copy(&other, &mut remote); f.copy(&other, &mut expected); }
                _ => {}
            }
        }
        let (base, local, remote) = (live(base), live(local), live(remote));
        let decision = decide(Some(&base), side(&local, local_minute), side(&remote, remote_minute), WINDOW);
        let result = match decision {
            Decision::InSync { result } | Decision::Merge { result, .. } => result,
            other => return Err(TestCaseError::fail(format!("not merged: {other:?}"))),
        };
        prop_assert_eq!(result, live(expected));
    }

    /// The decision depends only on its inputs, and swapping the sides mirrors it.
    #[test]
    fn merging_is_deterministic_and_symmetric(
        base in prop::option::of(snapshot_strategy()),
        local in snapshot_strategy(),
        remote in snapshot_strategy(),
        local_minute in 0u32..60,
        remote_minute in 0u32..60,
    ) {
        let once = decide(base.as_ref(), side(&local, local_minute), side(&remote, remote_minute), WINDOW);
        let again = decide(base.as_ref(), side(&local, local_minute), side(&remote, remote_minute), WINDOW);
        prop_assert_eq!(&once, &again);
        let swapped = decide(base.as_ref(), side(&remote, remote_minute), side(&local, local_minute), WINDOW);
        match (once, swapped) {
            (Decision::Merge { result: a, change_local, change_remote }, Decision::Merge { result: b, change_local: sl, change_remote: sr }) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!((change_local, change_remote), (sr, sl));
            }
            (Decision::Hold { kind: a, .. }, Decision::Hold { kind: b, .. }) => prop_assert_eq!(a, b),
            (Decision::InSync { result: a }, Decision::InSync { result: b }) => prop_assert!(same(&a, &b)),
            (Decision::AutoResolved { result: a, .. }, Decision::AutoResolved { result: b, .. }) => prop_assert_eq!(a, b),
            (a, b) => return Err(TestCaseError::fail(format!("asymmetric: {a:?} vs {b:?}"))),
        }
    }
}
