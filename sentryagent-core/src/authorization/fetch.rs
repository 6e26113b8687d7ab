//! Fetching a Client ID Metadata Document: the trait the host's HTTP client
//! implements (`sentryagent-federation-reqwest`'s `GuardedFetcher` does),
//! and how long a fetched document may be used before it is fetched again.
//!
//! The cache lifetime follows the response's HTTP cache headers
//! (`Cache-Control: max-age`, `no-store`, `no-cache`, else `Expires`),
//! clamped to [`MIN_METADATA_CACHE`]..=[`MAX_METADATA_CACHE`]: a document
//! that asks not to be cached, or says nothing, is still kept five minutes,
//! so no client can make the server fetch at its pace; none is kept past a
//! day, so a client's changed redirect URIs take effect within one.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::federation::FetchError;

/// The shortest time a fetched document is used before it is fetched again.
pub const MIN_METADATA_CACHE: Duration = Duration::from_secs(5 * 60);
/// The longest time a fetched document is used before it is fetched again.
pub const MAX_METADATA_CACHE: Duration = Duration::from_secs(24 * 3600);

/// What a [`ClientMetadataFetcher`] read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedDocument {
    /// The body, at most the `max_bytes` the fetcher was given.
    pub body: Vec<u8>,
    /// The response's cache lifetime, as [`http_cache_lifetime`] reads its
    /// headers: `None` when it has none, zero for `no-store`/`no-cache`.
    pub max_age: Option<Duration>,
}

/// Why a [`ClientMetadataFetcher`] returned no document.
#[derive(Debug, thiserror::Error)]
pub enum DocumentFetchError {
    /// The body (or its `Content-Length`) passed the limit; the fetcher
    /// stopped reading there.
    #[error("the document is larger than the limit")]
    TooLarge,
    /// Anything else: an address the fetcher may not reach, a timeout, a
    /// redirect (never followed), a status other than 200.
    #[error(transparent)]
    Failed(#[from] FetchError),
}

/// Fetches Client ID Metadata Documents. Their URLs are chosen by whoever
/// runs a client, so an implementation must connect only to public
/// addresses (resolved names and IP literals alike), follow no redirect,
/// time out, and stop reading past `max_bytes`.
#[async_trait]
pub trait ClientMetadataFetcher: Send + Sync + 'static {
    /// `GET url` (`Accept: application/json`), expecting `200`.
    ///
    /// # Errors
    /// [`DocumentFetchError::TooLarge`] past `max_bytes`; any other failure.
    async fn fetch_client_metadata(&self, url: &str, max_bytes: usize) -> Result<FetchedDocument, DocumentFetchError>;
}

/// A response's cache lifetime from its `Cache-Control`, `Expires` and
/// `Date` headers (RFC 9111): `no-store` or `no-cache` → zero; else
/// `max-age`; else `Expires` minus `Date` (or `now`), an invalid `Expires`
/// counting as already expired; `None` when none of them says anything.
pub fn http_cache_lifetime(
    cache_control: Option<&str>,
    expires: Option<&str>,
    date: Option<&str>,
    now: OffsetDateTime,
) -> Option<Duration> {
    let mut max_age = None;
    for directive in cache_control.unwrap_or_default().split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" => return Some(Duration::ZERO),
            "max-age" => {
                // An unparsable max-age is treated as stale (RFC 9111 §4.2.1).
                let seconds = value.trim().trim_matches('"').parse::<u64>().unwrap_or(0);
                max_age = Some(Duration::from_secs(seconds));
            }
            _ => {}
        }
    }
    if max_age.is_some() {
        return max_age;
    }
    let expires = expires?;
    let Some(expires) = parse_http_date(expires) else {
        return Some(Duration::ZERO);
    };
    let base = date.and_then(parse_http_date).unwrap_or(now);
    Some(Duration::try_from(expires - base).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form a
/// sender may generate.
fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// The lifetime a fetched document is used for: its HTTP cache lifetime
/// clamped to [`MIN_METADATA_CACHE`]..=[`MAX_METADATA_CACHE`].
pub(crate) fn metadata_cache_lifetime(max_age: Option<Duration>) -> Duration {
    max_age
        .unwrap_or(MIN_METADATA_CACHE)
        .clamp(MIN_METADATA_CACHE, MAX_METADATA_CACHE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_headers() {
        let now = time::macros::datetime!(2025-01-01 12:00 UTC);
        let life = |cc: Option<&str>, exp: Option<&str>, date: Option<&str>| http_cache_lifetime(cc, exp, date, now);
        assert_eq!(life(None, None, None), None);
        assert_eq!(
            life(Some("public, max-age=600"), None, None),
            Some(Duration::from_secs(600))
        );
        assert_eq!(life(Some("Max-Age=\"60\""), None, None), Some(Duration::from_secs(60)));
        assert_eq!(life(Some("max-age=600, no-store"), None, None), Some(Duration::ZERO));
        assert_eq!(life(Some("no-cache"), None, None), Some(Duration::ZERO));
        assert_eq!(life(Some("max-age=abc"), None, None), Some(Duration::ZERO));
        // max-age wins over Expires.
        let later = "Wed, 01 Jan 2025 13:00:00 GMT";
        assert_eq!(life(Some("max-age=5"), Some(later), None), Some(Duration::from_secs(5)));
        assert_eq!(life(Some("public"), Some(later), None), Some(Duration::from_secs(3600)));
        assert_eq!(
            life(None, Some(later), Some("Wed, 01 Jan 2025 12:30:00 GMT")),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(life(None, Some("0"), None), Some(Duration::ZERO));
        assert_eq!(
            life(None, Some("Tue, 31 Dec 2024 00:00:00 GMT"), None),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn lifetimes_are_clamped() {
        assert_eq!(metadata_cache_lifetime(None), MIN_METADATA_CACHE);
        assert_eq!(metadata_cache_lifetime(Some(Duration::ZERO)), MIN_METADATA_CACHE);
        assert_eq!(
            metadata_cache_lifetime(Some(Duration::from_secs(3600))),
            Duration::from_secs(3600)
        );
        assert_eq!(
            metadata_cache_lifetime(Some(Duration::from_secs(u64::MAX / 4))),
            MAX_METADATA_CACHE
        );
    }
}
