//! The request id and what the HTTP layer learns about a request while it
//! runs (its tenant and agent), kept in a task-local scope so that the
//! error envelope, the audit events and the access log find them without
//! every function passing them on.

use std::cell::Cell;
use std::net::IpAddr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderMap;

use crate::client_ip::IpNet;
use crate::{AgentId, TenantId};

/// The header a request id travels in, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest request id taken from a proxy.
const MAX_LEN: usize = 128;

/// What is known of the request being handled.
pub(crate) struct RequestScope {
    pub(crate) id: Box<str>,
    /// The tenant and agent, once authenticated.
    pub(crate) who: Cell<Option<(TenantId, Option<AgentId>)>>,
}

tokio::task_local! {
    static SCOPE: RequestScope;
}

impl RequestScope {
    pub(crate) fn new(id: Box<str>) -> Self {
        Self {
            id,
            who: Cell::new(None),
        }
    }

    /// Runs `f` inside this scope; its output, and who the request acted
    /// for if it learned that.
    pub(crate) async fn run<F: Future>(self, f: F) -> (F::Output, Option<(TenantId, Option<AgentId>)>) {
        SCOPE
            .scope(self, async {
                let out = f.await;
                (out, SCOPE.with(|s| s.who.get()))
            })
            .await
    }

    /// Runs `f` inside this scope, synchronously.
    pub(crate) fn run_sync<R>(self, f: impl FnOnce() -> R) -> R {
        SCOPE.sync_scope(self, f)
    }
}

/// The id of the request being handled, if any.
pub(crate) fn current_id() -> Option<Box<str>> {
    SCOPE.try_with(|s| s.id.clone()).ok()
}

/// Records who the request acts for, once known (for the access log).
pub(crate) fn identify(tenant: TenantId, agent: Option<AgentId>) {
    let _ = SCOPE.try_with(|s| s.who.set(Some((tenant, agent))));
}

/// The request's id: the `X-Request-Id` a trusted proxy sent, if it is a
/// sane token (at most 128 characters of `A-Z a-z 0-9 - _ . : / + = @`,
/// so it can go in a log line and a header as is), else a new one. A
/// client that is not a trusted proxy cannot choose the id its requests
/// are logged and audited under.
pub(crate) fn request_id(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Box<str> {
    let from_proxy = peer
        .map(|p| p.to_canonical())
        .is_some_and(|p| trusted.iter().any(|net| net.contains(&p)));
    if from_proxy
        && let Some(id) = headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok())
        && is_acceptable(id)
    {
        return id.into();
    }
    generate()
}

fn is_acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
}

/// A new id: 32 hex digits (a W3C trace id's shape). A counter mixed with
/// a key drawn once per process, so making one costs no system call, ids
/// never repeat within a process, and they do not show how many requests
/// an instance serves.
fn generate() -> Box<str> {
    static KEY: LazyLock<(u64, u64)> = LazyLock::new(|| {
        let (hi, lo) = uuid::Uuid::new_v4().as_u64_pair();
        (hi, lo | 1)
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (k0, k1) = *KEY;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64's finaliser is a bijection, so distinct counts give
    // distinct ids; the key makes them differ between processes.
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    format!("{:016x}{:016x}", k0, mix(n.wrapping_mul(k1) ^ k0)).into_boxed_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(id: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID_HEADER, id.parse().expect("header"));
        h
    }

    #[test]
    fn a_trusted_proxys_id_is_kept_anyone_elses_is_replaced() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let trusted = [crate::client_ip::parse_net("10.0.0.0/8").expect("net")];
        assert_eq!(&*request_id(Some(proxy), &headers("abc-123"), &trusted), "abc-123");
        let client: IpAddr = "203.0.113.9".parse().expect("ip");
        let theirs = request_id(Some(client), &headers("abc-123"), &trusted);
        assert_ne!(&*theirs, "abc-123");
        assert_eq!(theirs.len(), 32);
        // A proxy's id that would break a log line is replaced too.
        for bad in ["a b", "x\"y", &"a".repeat(129), "é"] {
            let Ok(value) = bad.parse::<http::HeaderValue>() else {
                continue;
            };
            let mut h = HeaderMap::new();
            h.insert(REQUEST_ID_HEADER, value);
            assert_ne!(&*request_id(Some(proxy), &h, &trusted), bad);
        }
    }

    #[test]
    fn made_ids_do_not_repeat() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| generate()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }
}
