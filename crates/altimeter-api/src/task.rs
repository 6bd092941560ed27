//! The task as both systems know it (SPEC §2): the six shared fields, their rules,
//! and the remote task Altimeter returns.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub const TITLE_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;
pub const ASSIGNEE_MAX_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Open,
    InProgress,
    Blocked,
    Done,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Open,
        Status::InProgress,
        Status::Blocked,
        Status::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Blocked => "blocked",
            Status::Done => "done",
        }
    }
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

/// The text of an unknown enum value, e.g. a bad `status` read from storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

impl std::str::FromStr for Status {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVariant {
                kind: "status",
                value: s.to_owned(),
            })
    }
}

impl std::str::FromStr for Priority {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVariant {
                kind: "priority",
                value: s.to_owned(),
            })
    }
}

/// The six fields both sides share. Deserializing checks types, enums and dates;
/// [`TaskFields::validate`] checks lengths and blanks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFields {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default, with = "due_date")]
    pub due_date: Option<NaiveDate>,
}

impl TaskFields {
    /// A task with this title and every other field at its default.
    pub fn titled(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            description: String::new(),
            status: Status::default(),
            priority: Priority::default(),
            assignee: None,
            due_date: None,
        }
    }

    /// Checks the rules serde cannot: non-blank title, the length limits, and
    /// no control characters (line breaks and tabs only in the description).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = Vec::new();
        let texts = [
            ("title", Some(self.title.as_str()), false),
            ("description", Some(self.description.as_str()), true),
            ("assignee", self.assignee.as_deref(), false),
        ];
        for (field, text, multiline) in texts {
            if let Some(message) = text.and_then(|t| control_character(t, multiline)) {
                errors.push(FieldError::new(field, message));
            }
        }
        let title_chars = self.title.chars().count();
        if self.title.trim().is_empty() {
            errors.push(FieldError::new("title", "must not be blank"));
        } else if title_chars > TITLE_MAX_CHARS {
            errors.push(FieldError::new(
                "title",
                format!("must be at most {TITLE_MAX_CHARS} characters (got {title_chars})"),
            ));
        }
        let description_chars = self.description.chars().count();
        if description_chars > DESCRIPTION_MAX_CHARS {
            errors.push(FieldError::new(
                "description",
                format!(
                    "must be at most {DESCRIPTION_MAX_CHARS} characters (got {description_chars})"
                ),
            ));
        }
        if let Some(assignee) = &self.assignee {
            let chars = assignee.chars().count();
            if chars > ASSIGNEE_MAX_CHARS {
                errors.push(FieldError::new(
                    "assignee",
                    format!("must be at most {ASSIGNEE_MAX_CHARS} characters (got {chars})"),
                ));
            }
        }
        ValidationError::from_errors(errors)
    }
}

/// Why `text` is refused for holding a control character, if it does: any
/// `char::is_control` one, except line breaks (`\n`, `\r`) and tabs where
/// `multiline`.
pub fn control_character(text: &str, multiline: bool) -> Option<String> {
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    text.chars()
        .enumerate()
        .find(|&(_, c)| c.is_control() && !allowed(c))
        .map(|(i, c)| {
            format!(
                "must not contain control characters (U+{:04X} at character {})",
                u32::from(c),
                i + 1
            )
        })
}

/// One rule a field broke, in terms the person who sent it can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every rule a request broke; `Display` lists them as `field: message; ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError(pub Vec<FieldError>);

impl ValidationError {
    pub fn from_errors(errors: Vec<FieldError>) -> Result<(), Self> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Self(errors))
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

/// A task as Altimeter returns it: the shared fields plus Altimeter's own.
///
/// Reading one is strict: every key must be present (`assignee`, `due_date` and
/// `external_id` may be `null`), so an answer that leaves out `status` is an error
/// rather than a task silently read as `open`. Writing it gives the same flat JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StrictRemoteTask")]
pub struct RemoteTask {
    pub id: String,
    pub external_id: Option<String>,
    pub version: i64,
    #[serde(flatten)]
    pub fields: TaskFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
}

/// The wire form of [`RemoteTask`] with no defaults. serde fills a missing
/// `Option` field with `None` unless it has its own `deserialize_with`, so the
/// nullable fields get one: present-but-null is fine, absent is "missing field".
#[derive(Deserialize)]
#[serde(expecting = "a task object")]
struct StrictRemoteTask {
    id: String,
    #[serde(deserialize_with = "nullable")]
    external_id: Option<String>,
    version: i64,
    title: String,
    description: String,
    status: Status,
    priority: Priority,
    #[serde(deserialize_with = "nullable")]
    assignee: Option<String>,
    #[serde(deserialize_with = "due_date::deserialize")]
    due_date: Option<NaiveDate>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted: bool,
}

impl From<StrictRemoteTask> for RemoteTask {
    fn from(wire: StrictRemoteTask) -> Self {
        RemoteTask {
            id: wire.id,
            external_id: wire.external_id,
            version: wire.version,
            fields: TaskFields {
                title: wire.title,
                description: wire.description,
                status: wire.status,
                priority: wire.priority,
                assignee: wire.assignee,
                due_date: wire.due_date,
            },
            created_at: wire.created_at,
            updated_at: wire.updated_at,
            deleted: wire.deleted,
        }
    }
}

/// A required key whose value may be `null`.
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// The body of `POST /tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTask {
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub fields: TaskFields,
}

/// One page of a listing: `{"data": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `due_date` as `YYYY-MM-DD` or null, with an error that names the bad value.
mod due_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(date: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(d) => s.collect_str(&d.format("%Y-%m-%d")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        let Some(raw) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        super::parse_due_date(&raw)
            .map(Some)
            .map_err(D::Error::custom)
    }
}

/// Parses a strict `YYYY-MM-DD` calendar date (`2026-02-30` is refused).
pub fn parse_due_date(raw: &str) -> Result<NaiveDate, String> {
    let well_formed = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !well_formed {
        return Err(format!("`{raw}` is not a date in YYYY-MM-DD form"));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| format!("`{raw}` is not a real calendar date"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_reports_every_broken_rule() {
        let mut fields = TaskFields::titled("   ");
        fields.description = "x".repeat(DESCRIPTION_MAX_CHARS + 1);
        fields.assignee = Some("a".repeat(ASSIGNEE_MAX_CHARS + 1));
        let err = fields.validate().unwrap_err();
        let names: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["title", "description", "assignee"]);
        assert!(
            err.to_string()
                .starts_with("title: must not be blank; description:")
        );
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_in_descriptions_kept() {
        let mut fields = TaskFields::titled("a\u{0}b");
        fields.description = "line one\r\nline two\ttabbed".into();
        fields.assignee = Some("ana\u{1b}".into());
        let err = fields.validate().unwrap_err();
        let names: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["title", "assignee"]);
        assert_eq!(
            err.0[0].message,
            "must not contain control characters (U+0000 at character 2)"
        );
        let mut fields = TaskFields::titled("tab\tin title");
        assert!(fields.validate().is_err());
        fields.title = "fine".into();
        fields.description = "bell\u{7}".into();
        assert_eq!(fields.validate().unwrap_err().0[0].field, "description");
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        let fields = TaskFields::titled("é".repeat(TITLE_MAX_CHARS));
        assert!(fields.validate().is_ok());
        let fields = TaskFields::titled("é".repeat(TITLE_MAX_CHARS + 1));
        assert!(fields.validate().is_err());
    }

    #[test]
    fn enums_parse_their_wire_names() {
        for s in ["open", "in_progress", "blocked", "done"] {
            assert_eq!(s.parse::<Status>().unwrap().as_str(), s);
        }
        for p in ["low", "normal", "high", "urgent"] {
            assert_eq!(p.parse::<Priority>().unwrap().as_str(), p);
        }
        assert!("closed".parse::<Status>().is_err());
    }

    #[test]
    fn due_dates_must_be_real() {
        assert!(parse_due_date("2028-02-29").is_ok());
        assert!(
            parse_due_date("2026-02-30")
                .unwrap_err()
                .contains("real calendar date")
        );
        assert!(
            parse_due_date("2026-2-3")
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
        assert!(parse_due_date("tomorrow").is_err());
    }

    #[test]
    fn defaults_fill_optional_fields() {
        let fields: TaskFields = serde_json::from_str(r#"{"title":"Pour slab"}"#).unwrap();
        assert_eq!(fields, TaskFields::titled("Pour slab"));
        let json = serde_json::to_value(&fields).unwrap();
        assert_eq!(json["status"], "open");
        assert_eq!(json["priority"], "normal");
        assert!(json["due_date"].is_null());
    }
}
