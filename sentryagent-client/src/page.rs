//! Listings: one page at a time, or every item as a stream.

use serde::{Deserialize, Serialize};

/// One page of a listing; `next_cursor` fetches the next.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The page's items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}
