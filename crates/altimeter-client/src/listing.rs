//! Listing changes: one page of `GET /tasks`, each item read on its own so one
//! bad task cannot hide the others, and the page-by-page walk `list_since`
//! streams.

use altimeter_api::{Page, RemoteTask};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::{Stream, StreamExt, stream};
use reqwest::Method;
use serde_json::Value;

use crate::transport::TASKS;
use crate::{AltimeterClient, ClientError};

/// The page sizes Altimeter accepts (`limit=1..500`); `list_since` clamps to them.
pub const MIN_PAGE_SIZE: u32 = 1;
pub const MAX_PAGE_SIZE: u32 = 500;

impl AltimeterClient {
    /// One page of `GET /tasks`: tasks (tombstones included) changed at or after
    /// `updated_since`, oldest first, resuming after `cursor`. `limit` is sent as
    /// given (outside 1..=500 Altimeter answers `422`).
    ///
    /// The outer `Err` is a failed call; an item that cannot be read as a task is
    /// an inner [`ClientError::InvalidItem`] and the rest of the page is still there.
    pub async fn list_page(
        &self,
        updated_since: Option<DateTime<Utc>>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Result<RemoteTask, ClientError>>, ClientError> {
        let mut url = self.inner.url(&["tasks"]);
        {
            let mut query = url.query_pairs_mut();
            if let Some(since) = updated_since {
                query.append_pair(
                    "updated_since",
                    &since.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                );
            }
            if let Some(cursor) = cursor {
                query.append_pair("cursor", cursor);
            }
            query.append_pair("limit", &limit.to_string());
        }
        let request = self.inner.request_to(Method::GET, url);
        let page: Page<Value> = self.inner.send_json(Method::GET, TASKS, request).await?;
        Ok(Page {
            data: page.data.into_iter().map(read_item).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Every task changed at or after `updated_since`, following `next_cursor`
    /// page by page until it is null. `page_size` is clamped into 1..=500.
    ///
    /// An item that cannot be read comes through as [`ClientError::InvalidItem`]
    /// and the walk goes on; a failed page (or a server repeating the same
    /// `next_cursor`, which would loop forever) is the last item. The stream owns
    /// a handle on the client, so it can outlive `self` and move to another task.
    pub fn list_since(
        &self,
        updated_since: Option<DateTime<Utc>>,
        page_size: u32,
    ) -> impl Stream<Item = Result<RemoteTask, ClientError>> + Send + 'static {
        let walk = Walk {
            client: self.clone(),
            updated_since,
            page_size: page_size.clamp(MIN_PAGE_SIZE, MAX_PAGE_SIZE),
            next: Next::First,
        };
        stream::unfold(walk, Walk::step).flat_map(stream::iter)
    }
}

/// One listed item as a task, or why it is not one.
fn read_item(item: Value) -> Result<RemoteTask, ClientError> {
    let id = item.get("id").and_then(Value::as_str).map(str::to_owned);
    serde_json::from_value(item).map_err(|e| ClientError::InvalidItem {
        id,
        message: e.to_string(),
    })
}

/// What to fetch next: the first page, the page after a cursor, or nothing.
enum Next {
    First,
    After(String),
    Done,
}

struct Walk {
    client: AltimeterClient,
    updated_since: Option<DateTime<Utc>>,
    page_size: u32,
    next: Next,
}

impl Walk {
    /// Fetches one page and decides what comes after it.
    async fn step(mut self) -> Option<(Vec<Result<RemoteTask, ClientError>>, Self)> {
        let cursor = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => return None,
            Next::First => None,
            Next::After(cursor) => Some(cursor),
        };
        let page = self
            .client
            .list_page(self.updated_since, cursor.as_deref(), self.page_size)
            .await;
        let page = match page {
            Ok(page) => page,
            Err(error) => return Some((vec![Err(error)], self)),
        };
        let mut items = page.data;
        match page.next_cursor {
            None => {}
            Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                items.push(Err(cursor_loop(&next)));
            }
            Some(next) => self.next = Next::After(next),
        }
        Some((items, self))
    }
}

fn cursor_loop(cursor: &str) -> ClientError {
    ClientError::Permanent {
        status: 200,
        code: "cursor_loop".to_owned(),
        message: format!(
            "Altimeter answered next_cursor `{cursor}` for the page after that same cursor; \
             stopping the listing rather than looping"
        ),
    }
}
