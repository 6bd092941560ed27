//! Cursor pagination shared by every list: `{"data": [...], "next_cursor": ...}`.

use altimeter_api::Page;

use super::error::{ApiError, ApiResult};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// The page size asked for, 1–500 (default 50).
pub fn page_limit(limit: Option<i64>) -> ApiResult<i64> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n),
        n => Err(ApiError::Unprocessable(format!(
            "limit must be between 1 and {MAX_PAGE} (got {n})"
        ))),
    }
}

/// The query of a list paged by a numeric id (`?limit=&cursor=`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdPageParams {
    pub limit: Option<i64>,
    pub cursor: Option<i64>,
}

/// One page from `limit + 1` fetched rows: the extra row, if any, says there is a
/// next page, which starts after the last row kept.
pub fn paginate<T>(mut data: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let next_cursor = if data.len() > limit {
        data.truncate(limit);
        data.last().map(cursor_of)
    } else {
        None
    };
    Page { data, next_cursor }
}
