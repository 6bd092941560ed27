//! Task input as clients send it: a create or patch body (JSON), and the query
//! string of the task list. Input: first byte picks which; the rest is the text.
#![no_main]

use altimeter_api::TaskFields;
use atlas::http::extract::parse_query;
use atlas::http::tasks::ListParams;
use atlas::tasks::TaskPatch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 2 {
        0 => body(rest),
        _ => query(&String::from_utf8_lossy(rest)),
    }
});

fn body(bytes: &[u8]) {
    let Ok(patch) = serde_json::from_slice::<TaskPatch>(bytes) else {
        return;
    };
    // As a create: what is accepted passes the shared rules and survives the
    // wire format Altimeter is sent.
    if let Ok(fields) = patch.clone().into_new_fields() {
        accepted(&fields);
    }
    // As an edit of an existing task.
    let mut fields = TaskFields::titled("Pour slab L3");
    patch.apply(&mut fields);
    if fields.validate().is_ok() {
        accepted(&fields);
    }
}

fn accepted(fields: &TaskFields) {
    fields.validate().expect("accepted fields are valid");
    let wire = serde_json::to_vec(fields).unwrap();
    let back: TaskFields = serde_json::from_slice(&wire).unwrap();
    assert_eq!(&back, fields);
    assert!(!fields.title.trim().is_empty());
    assert!(!fields.title.chars().any(char::is_control));
}

fn query(text: &str) {
    let Ok(params) = parse_query::<ListParams>(text) else {
        return;
    };
    if let Ok(filter) = params.into_filter() {
        assert!((2..=501).contains(&filter.limit), "{}", filter.limit);
        if let Some(q) = &filter.q {
            assert_eq!(q.trim(), q);
            assert!(!q.is_empty() && !q.chars().any(char::is_control));
        }
    }
}
