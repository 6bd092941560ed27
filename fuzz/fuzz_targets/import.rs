//! `atlas import`: a JSON-lines or CSV export (first byte picks the format).
#![no_main]

use atlas::import::{Format, read};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = if which % 2 == 0 {
        Format::JsonLines
    } else {
        Format::Csv
    };
    let Ok(rows) = read(text, format) else {
        return;
    };
    let lines = text.lines().count() as u64 + 1;
    let mut ids = std::collections::HashSet::new();
    for task in &rows.good {
        task.fields.validate().expect("an imported task is valid");
        assert!(ids.insert(task.id), "two good rows with one id");
    }
    for (line, message) in &rows.errors {
        assert!(*line >= 1 && *line <= lines, "line {line} of {lines}");
        assert!(!message.is_empty());
    }
    // Reading is deterministic: ids come from content, never from chance.
    let again = read(text, format).unwrap();
    let first: Vec<_> = rows.good.iter().map(|t| t.id).collect();
    let second: Vec<_> = again.good.iter().map(|t| t.id).collect();
    assert_eq!(first, second);
});
