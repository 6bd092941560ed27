//! Field-by-field parsing of task JSON, so a `422` names every field that is
//! wrong ("status: unknown variant ...") instead of quoting a serde position.
//! The result is exactly what serde would build for a valid document.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::task::{CreateTask, FieldError, TaskFields, ValidationError, parse_due_date};

impl TaskFields {
    /// Reads the six fields from a JSON object, reporting every bad field, then
    /// applies [`TaskFields::validate`]. Unknown keys are ignored, as serde does.
    pub fn from_json(value: &Value) -> Result<Self, ValidationError> {
        let object = as_object(value)?;
        let mut errors = Vec::new();
        let fields = read_fields(object, &mut errors);
        ValidationError::from_errors(errors)?;
        fields.validate()?;
        Ok(fields)
    }
}

impl CreateTask {
    /// Like [`TaskFields::from_json`], plus the optional `external_id`.
    pub fn from_json(value: &Value) -> Result<Self, ValidationError> {
        let object = as_object(value)?;
        let mut errors = Vec::new();
        let external_id = optional::<Option<String>>(object, "external_id", &mut errors).flatten();
        let fields = read_fields(object, &mut errors);
        ValidationError::from_errors(errors)?;
        fields.validate()?;
        Ok(CreateTask {
            external_id,
            fields,
        })
    }
}

fn as_object(value: &Value) -> Result<&Map<String, Value>, ValidationError> {
    value
        .as_object()
        .ok_or_else(|| ValidationError(vec![FieldError::new("body", "must be a JSON object")]))
}

/// Reads every field, pushing one error per missing or bad field; the fields
/// are only meaningful when no error was pushed.
fn read_fields(object: &Map<String, Value>, errors: &mut Vec<FieldError>) -> TaskFields {
    let title = optional::<String>(object, "title", errors);
    if title.is_none() && !object.contains_key("title") {
        errors.push(FieldError::new("title", "is required"));
    }
    let mut fields = TaskFields::titled(title.unwrap_or_default());
    if let Some(description) = optional(object, "description", errors) {
        fields.description = description;
    }
    if let Some(status) = optional(object, "status", errors) {
        fields.status = status;
    }
    if let Some(priority) = optional(object, "priority", errors) {
        fields.priority = priority;
    }
    fields.assignee = optional::<Option<String>>(object, "assignee", errors).flatten();
    fields.due_date = optional::<Option<String>>(object, "due_date", errors)
        .flatten()
        .and_then(|raw| match parse_due_date(&raw) {
            Ok(date) => Some(date),
            Err(message) => {
                errors.push(FieldError::new("due_date", message));
                None
            }
        });
    fields
}

/// The value of `name` as `T`; `None` if absent, or if it has the wrong type (an
/// error naming the field is pushed then).
fn optional<T: DeserializeOwned>(
    object: &Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let raw = object.get(name)?;
    match T::deserialize(raw) {
        Ok(value) => Some(value),
        Err(e) => {
            errors.push(FieldError::new(name, e.to_string()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Priority, Status};

    fn fields_named(err: &ValidationError) -> Vec<&str> {
        err.0.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_full_document_matches_serde() {
        let doc = json!({
            "title": "Pour slab", "description": "Level 3", "status": "blocked",
            "priority": "urgent", "assignee": "Ana", "due_date": "2026-03-01", "extra": 1
        });
        let parsed = TaskFields::from_json(&doc).unwrap();
        assert_eq!(parsed, serde_json::from_value::<TaskFields>(doc).unwrap());
        assert_eq!(parsed.status, Status::Blocked);
        assert_eq!(parsed.priority, Priority::Urgent);
    }

    #[test]
    fn defaults_match_serde() {
        let doc = json!({"title": "Pour slab", "assignee": null, "due_date": null});
        let parsed = TaskFields::from_json(&doc).unwrap();
        assert_eq!(parsed, TaskFields::titled("Pour slab"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let doc = json!({
            "title": 5, "description": null, "status": "later", "priority": "meh",
            "assignee": 3, "due_date": "2026-02-30"
        });
        let err = TaskFields::from_json(&doc).unwrap_err();
        assert_eq!(
            fields_named(&err),
            [
                "title",
                "description",
                "status",
                "priority",
                "assignee",
                "due_date"
            ]
        );
        assert!(err.to_string().contains("status: unknown variant `later`"));
    }

    #[test]
    fn missing_title_and_rule_violations_are_reported() {
        let err = TaskFields::from_json(&json!({"status": "open"})).unwrap_err();
        assert_eq!(err.to_string(), "title: is required");
        let err = TaskFields::from_json(&json!({"title": "  "})).unwrap_err();
        assert_eq!(err.to_string(), "title: must not be blank");
        let err = TaskFields::from_json(&json!([1])).unwrap_err();
        assert_eq!(fields_named(&err), ["body"]);
    }

    #[test]
    fn create_reads_external_id() {
        let doc = json!({"title": "Pour slab", "external_id": "a-1"});
        let parsed = CreateTask::from_json(&doc).unwrap();
        assert_eq!(parsed.external_id.as_deref(), Some("a-1"));
        let err = CreateTask::from_json(&json!({"title": "x", "external_id": 1})).unwrap_err();
        assert_eq!(fields_named(&err), ["external_id"]);
    }
}
