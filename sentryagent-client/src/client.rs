//! The client handle: how calls are sent, authenticated, retried and read.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_core::Stream;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error};
use crate::ops::{Method, Operation};
use crate::page::Page;

/// A secret (a client secret or a bearer token) that never shows in `Debug`
/// output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for sending it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// Written as the plain secret: only the one-time answers that carry a
/// secret hold one, and writing them out is their purpose.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

/// An agent's client credentials, and what to ask for with them.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    /// The client id (`sa_ci_…`).
    pub client_id: String,
    /// The client secret (`sa_sk_…`).
    pub client_secret: Secret,
    /// Space-separated scopes to ask for; all the agent holds when `None`.
    pub scope: Option<String>,
    /// The audience to ask for; the issuer when `None`.
    pub audience: Option<String>,
}

impl ClientCredentials {
    /// Credentials asking for every scope the agent holds.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scope: None,
            audience: None,
        }
    }
}

/// When calls are tried again: only where that is safe.
///
/// A `GET` is retried after a lost connection and on `429`, `502`, `503` and
/// `504`; any other method only on `429` (the rate limiter refused it before
/// anything happened). A `Retry-After` is honoured, and one longer than
/// `max_wait` (a daily quota) is returned as the error instead of waited for.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Tries after the first (0: never retry).
    pub max_retries: u32,
    /// The first back-off without `Retry-After`; it doubles each time.
    pub base_delay: Duration,
    /// The longest single wait.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }
}

enum Auth {
    None,
    Bearer(Secret),
    Credentials(ClientCredentials),
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    retry: RetryPolicy,
    strict: bool,
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

/// A client of one SentryAgent API. Cheap to clone: clones share the HTTP
/// connection pool and the cached access token.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    base: String,
    auth: Auth,
    retry: RetryPolicy,
    strict: bool,
    timeout: Duration,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// Authenticates management calls with access tokens obtained with these
    /// client credentials (the client-credentials grant), cached until
    /// shortly before they expire.
    pub fn client_credentials(mut self, credentials: ClientCredentials) -> Self {
        self.auth = Auth::Credentials(credentials);
        self
    }

    /// Authenticates management calls with this access token as it is.
    pub fn bearer_token(mut self, token: impl Into<Secret>) -> Self {
        self.auth = Auth::Bearer(token.into());
        self
    }

    /// When to retry (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The timeout of each request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses the host's own reqwest client (its proxy, roots and timeouts).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Refuses answers that carry fields this client's types do not know
    /// ([`Error::Decode`] naming the field). Off by default, so that a newer
    /// server works with this client; tests that check the client against a
    /// server turn it on.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`Error::Usage`] when the base URL is not an `http(s)` URL, or the
    /// TLS backend cannot be set up.
    pub fn build(self) -> Result<Client, Error> {
        let base = self.base.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|e| Error::Usage(format!("`{base}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Usage(format!("`{base}` is not an http(s) URL")));
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(Duration::from_secs(5))
                .user_agent(concat!("sentryagent-client/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Usage(format!("cannot set up the HTTP client: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth: self.auth,
                retry: self.retry,
                strict: self.strict,
                token: tokio::sync::Mutex::new(None),
            }),
        })
    }
}

/// How a call authenticates.
pub(crate) enum Authn<'a> {
    /// The client's bearer token (management routes).
    Bearer,
    /// Nothing (public routes).
    Public,
    /// HTTP Basic with these credentials (the token endpoint).
    Basic(&'a str, &'a Secret),
    /// A given bearer token (introspection and revocation of one's own token).
    Token(&'a Secret),
}

pub(crate) enum Body {
    None,
    Json(serde_json::Value),
    Form(Vec<(&'static str, String)>),
}

/// One request: an operation, its path parameters in order, its query and
/// its body.
pub(crate) struct Call<'a> {
    pub(crate) op: Operation,
    pub(crate) params: Vec<&'a str>,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Body,
    pub(crate) authn: Authn<'a>,
    /// A status whose body is an answer too (`GET /health/detailed`'s 503).
    pub(crate) also_ok: Option<StatusCode>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(op: Operation) -> Self {
        Self {
            op,
            params: Vec::new(),
            query: Vec::new(),
            body: Body::None,
            authn: Authn::Bearer,
            also_ok: None,
        }
    }

    pub(crate) fn also_ok(mut self, status: StatusCode) -> Self {
        self.also_ok = Some(status);
        self
    }

    pub(crate) fn param(mut self, value: &'a str) -> Self {
        self.params.push(value);
        self
    }

    pub(crate) fn query(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.query.push((name, value.to_string()));
        }
        self
    }

    pub(crate) fn json(mut self, body: &impl Serialize) -> Result<Self, Error> {
        let value = serde_json::to_value(body).map_err(|e| Error::Usage(format!("cannot encode the body: {e}")))?;
        self.body = Body::Json(value);
        Ok(self)
    }

    pub(crate) fn form(mut self, fields: Vec<(&'static str, String)>) -> Self {
        self.body = Body::Form(fields);
        self
    }

    pub(crate) fn public(mut self) -> Self {
        self.authn = Authn::Public;
        self
    }

    pub(crate) fn authn(mut self, authn: Authn<'a>) -> Self {
        self.authn = authn;
        self
    }
}

/// A successful answer.
pub(crate) struct Answer {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) body: bytes::Bytes,
}

impl Client {
    /// A builder for a client of the API at `base_url`, the API's prefix
    /// included (the example server's is `http://127.0.0.1:3000/api/v1`).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base_url.into(),
            auth: Auth::None,
            retry: RetryPolicy::default(),
            strict: false,
            timeout: Duration::from_secs(30),
            http: None,
        }
    }

    /// The API's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The access token management calls send: the one given to the
    /// builder, or one obtained with the client credentials and cached until
    /// shortly before it expires.
    ///
    /// # Errors
    /// [`Error::Usage`] when the client has no credentials; the token
    /// endpoint's refusal ([`Error::Api`], e.g. `invalid_client`).
    pub async fn access_token(&self) -> Result<Secret, Error> {
        match &self.inner.auth {
            Auth::None => Err(Error::Usage(
                "this call needs credentials: give the client a bearer token or client credentials".into(),
            )),
            Auth::Bearer(token) => Ok(token.clone()),
            Auth::Credentials(credentials) => {
                let mut cached = self.inner.token.lock().await;
                if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
                    return Ok(token.token.clone());
                }
                // Boxed: the token call goes through `send`, which calls this.
                let answer = Box::pin(self.issue_token(credentials)).await?;
                let ttl = Duration::from_secs(answer.expires_in);
                // Renew a little early, so no call goes out with a token that
                // expires on the way.
                let margin = (ttl / 10)
                    .clamp(Duration::from_secs(5), Duration::from_secs(60))
                    .min(ttl);
                let token = answer.access_token;
                *cached = Some(CachedToken {
                    token: token.clone(),
                    refresh_at: Instant::now() + ttl - margin,
                });
                Ok(token)
            }
        }
    }

    /// Whether the client has credentials of its own (a token or client
    /// credentials) for management calls.
    pub fn has_credentials(&self) -> bool {
        !matches!(self.inner.auth, Auth::None)
    }

    /// Forgets the cached access token, so the next call gets a new one.
    pub async fn forget_token(&self) {
        *self.inner.token.lock().await = None;
    }

    fn url(&self, call: &Call<'_>) -> String {
        let mut url = self.inner.base.clone();
        let mut params = call.params.iter();
        let mut rest = call.op.path;
        while let Some(start) = rest.find('{') {
            url.push_str(&rest[..start]);
            let end = rest[start..].find('}').map_or(rest.len(), |e| start + e + 1);
            url.push_str(&encode_segment(params.next().copied().unwrap_or_default()));
            rest = &rest[end..];
        }
        url.push_str(rest);
        url
    }

    /// Sends `call`, retrying where [`RetryPolicy`] says it is safe, and
    /// returns a successful answer or the error.
    pub(crate) async fn send(&self, call: &Call<'_>) -> Result<Answer, Error> {
        let url = self.url(call);
        let retry = self.inner.retry;
        let idempotent = call.op.method == Method::Get;
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            let request = self.request(call, &url).await?;
            let wait = match request.send().await {
                Err(source) => {
                    if !(idempotent && attempt < retry.max_retries) {
                        return Err(Error::Unreachable { url, source });
                    }
                    backoff(retry, attempt)
                }
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let body = response.bytes().await.map_err(|source| Error::Unreachable {
                        url: url.clone(),
                        source,
                    })?;
                    if status.is_success() || call.also_ok == Some(status) {
                        return Ok(Answer {
                            url,
                            status: status.as_u16(),
                            body,
                        });
                    }
                    let error = api_error(status, &headers, &body);
                    // A cached token may have been revoked or outlived a
                    // restart: get a new one, once.
                    if status == StatusCode::UNAUTHORIZED
                        && matches!(call.authn, Authn::Bearer)
                        && matches!(self.inner.auth, Auth::Credentials(_))
                        && !renewed
                    {
                        renewed = true;
                        self.forget_token().await;
                        continue;
                    }
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS
                        || (idempotent
                            && matches!(
                                status,
                                StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
                            ));
                    let wait = error.retry_after.unwrap_or_else(|| backoff(retry, attempt));
                    if !retryable || attempt >= retry.max_retries || wait > retry.max_wait {
                        return Err(Error::Api(error));
                    }
                    wait
                }
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn request(&self, call: &Call<'_>, url: &str) -> Result<reqwest::RequestBuilder, Error> {
        let http = &self.inner.http;
        let mut request = match call.op.method {
            Method::Get => http.get(url),
            Method::Post => http.post(url),
            Method::Patch => http.patch(url),
            Method::Delete => http.delete(url),
        };
        request = request.header(reqwest::header::ACCEPT, "application/json");
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        request = match &call.body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Form(fields) => request.form(fields),
        };
        Ok(match &call.authn {
            Authn::Public => request,
            Authn::Bearer => request.bearer_auth(self.access_token().await?.expose()),
            Authn::Token(token) => request.bearer_auth(token.expose()),
            Authn::Basic(id, secret) => request.basic_auth(form_encode(id), Some(form_encode(secret.expose()))),
        })
    }

    /// Sends `call` and reads its answer as `T`.
    pub(crate) async fn json<T: DeserializeOwned + Serialize>(&self, call: Call<'_>) -> Result<T, Error> {
        let answer = self.send(&call).await?;
        decode(&answer, self.inner.strict)
    }

    /// Every item of every page, fetching the next page as the stream is read.
    pub(crate) fn pages<T, F, Fut>(&self, fetch: F) -> impl Stream<Item = Result<T, Error>> + Send + 'static
    where
        T: Send + 'static,
        F: FnMut(Client, Option<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Page<T>, Error>> + Send,
    {
        struct State<T, F> {
            client: Client,
            fetch: F,
            items: std::collections::VecDeque<T>,
            cursor: Option<String>,
            done: bool,
        }
        let state = State {
            client: self.clone(),
            fetch,
            items: Default::default(),
            cursor: None,
            done: false,
        };
        futures_util::stream::try_unfold(state, |mut state| async move {
            loop {
                if let Some(item) = state.items.pop_front() {
                    return Ok(Some((item, state)));
                }
                if state.done {
                    return Ok(None);
                }
                let page = (state.fetch)(state.client.clone(), state.cursor.take()).await?;
                state.items.extend(page.items);
                state.cursor = page.next_cursor;
                state.done = state.cursor.is_none();
            }
        })
    }
}

/// The wait before try `attempt + 1` without a `Retry-After`.
fn backoff(retry: RetryPolicy, attempt: u32) -> Duration {
    retry
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(retry.max_wait)
}

/// Percent-encodes a path segment (ids are UUIDs, but a typed id is not
/// trusted to be one).
fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before they go
/// into HTTP Basic.
/// `application/x-www-form-urlencoded` of one value: unreserved bytes as they
/// are, space as `+`, the rest percent-encoded.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-._*".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The server's refusal, from the error envelope or an OAuth error answer.
fn api_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let value: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        value
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let (code, message) = match (field("code"), field("error")) {
        (Some(code), _) => (code, field("message").unwrap_or_default()),
        (None, Some(error)) => (error, field("error_description").unwrap_or_default()),
        (None, None) => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.trim().chars().take(200).collect();
            let reason = status.canonical_reason().unwrap_or("error").to_owned();
            (
                format!("HTTP_{}", status.as_u16()),
                if text.is_empty() { reason } else { text },
            )
        }
    };
    ApiError {
        status: status.as_u16(),
        code,
        message,
        details: value.as_ref().and_then(|v| v.get("details")).cloned(),
        retry_after: retry_after(headers),
    }
}

/// Reads an answer as `T`; in strict mode, also refuses fields `T` does not
/// know.
pub(crate) fn decode<T: DeserializeOwned + Serialize>(answer: &Answer, strict: bool) -> Result<T, Error> {
    let failed = |reason: String| Error::Decode {
        url: answer.url.clone(),
        status: answer.status,
        reason,
    };
    let raw: serde_json::Value = serde_json::from_slice(&answer.body).map_err(|e| failed(format!("not JSON: {e}")))?;
    let typed: T = serde_json::from_value(raw.clone()).map_err(|e| failed(e.to_string()))?;
    if strict {
        let again = serde_json::to_value(&typed).map_err(|e| failed(e.to_string()))?;
        if let Some(path) = unknown_field(&raw, &again, String::new()) {
            return Err(failed(format!("the field `{path}` is not in the client's type")));
        }
    }
    Ok(typed)
}

/// The first field of `raw` that `typed` (the same value read into the
/// client's type and written again) lost. `null` counts as absent.
fn unknown_field(raw: &serde_json::Value, typed: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match (raw, typed) {
        (Value::Object(raw), Value::Object(typed)) => raw.iter().find_map(|(key, value)| {
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match typed.get(key) {
                None if value.is_null() => None,
                None => Some(path),
                Some(typed) => unknown_field(value, typed, path),
            }
        }),
        (Value::Array(raw), Value::Array(typed)) => raw
            .iter()
            .zip(typed)
            .enumerate()
            .find_map(|(i, (raw, typed))| unknown_field(raw, typed, format!("{path}[{i}]"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_found_nested_and_nulls_are_absent() {
        let raw = serde_json::json!({"a": 1, "b": null, "c": [{"d": 1, "e": 2}]});
        let typed = serde_json::json!({"a": 1, "c": [{"d": 1}]});
        assert_eq!(unknown_field(&raw, &typed, String::new()).as_deref(), Some("c[0].e"));
        let typed = serde_json::json!({"a": 1, "c": [{"d": 1, "e": 2}]});
        assert_eq!(unknown_field(&raw, &typed, String::new()), None);
    }

    #[test]
    fn errors_are_read_from_the_envelope_and_from_oauth_answers() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().expect("a header value"));
        let e = api_error(
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            br#"{"code":"SOME_NEW_CODE","message":"slow down","details":{"x":1}}"#,
        );
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (429, "SOME_NEW_CODE", "slow down")
        );
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(e.details, Some(serde_json::json!({"x": 1})));
        let e = api_error(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            br#"{"error":"invalid_client","error_description":"no"}"#,
        );
        assert_eq!((e.code.as_str(), e.message.as_str()), ("invalid_client", "no"));
        let e = api_error(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>bad gateway</html>");
        assert_eq!(e.code, "HTTP_502");
    }

    #[test]
    fn path_parameters_are_encoded() {
        let client = Client::builder("http://127.0.0.1:1/api/v1/").build().expect("a client");
        let call = Call::new(crate::ops::REVOKE_CREDENTIAL).param("a/b").param("c d");
        assert_eq!(
            client.url(&call),
            "http://127.0.0.1:1/api/v1/agents/a%2Fb/credentials/c%20d"
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let credentials = ClientCredentials::new("sa_ci_x", "sa_sk_very_secret");
        assert!(!format!("{credentials:?}").contains("very_secret"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let retry = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        let waits: Vec<_> = (0..6).map(|a| backoff(retry, a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    }
}
