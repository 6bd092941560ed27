//! Parsing JSON from people and their tools, with errors that name the field.

use serde::de::DeserializeOwned;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON at all.
    #[error("malformed JSON: {0}")]
    Syntax(String),
    /// JSON, but not the document expected; the message starts with the field.
    #[error("{0}")]
    Data(String),
}

/// Deserializes JSON, naming the path of the offending field in the error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            };
            JsonError::Data(format!("{field}{}", strip_position(&inner.to_string())))
        } else {
            JsonError::Syntax(inner.to_string())
        }
    })?;
    de.end().map_err(|e| JsonError::Syntax(e.to_string()))?;
    Ok(value)
}

/// serde_json appends " at line L column C"; a field path says more.
fn strip_position(message: &str) -> &str {
    message.find(" at line ").map_or(message, |i| &message[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        n: u8,
    }

    #[test]
    fn errors_name_the_field_or_say_it_is_not_json() {
        assert_eq!(
            parse::<Doc>(br#"{"n": "x"}"#).unwrap_err(),
            JsonError::Data("n: invalid type: string \"x\", expected u8".into())
        );
        assert!(matches!(parse::<Doc>(b"{"), Err(JsonError::Syntax(_))));
        assert!(matches!(
            parse::<Doc>(br#"{"n": 1} 2"#),
            Err(JsonError::Syntax(_))
        ));
    }
}
