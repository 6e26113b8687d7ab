//! How the adapters compose with a host's own router.
//!
//! A host mounts the API under a prefix and the root documents at its root,
//! beside its own routes and its own answer for unknown paths (axum's
//! `.fallback`, poem's `/*` route), in whichever order its code reads best.
//! Each adapter's `tests/host_composition.rs` builds such hosts in each order
//! over a real socket, with [`HOST_PAGE`] at [`HOST_PAGE_PATH`] and, where it
//! has one, a fallback answering [`HOST_NOT_FOUND`], and calls [`check`].

use reqwest::StatusCode;
use serde_json::Value;

/// The host's own route.
pub const HOST_PAGE_PATH: &str = "/host";
/// What the host's own route answers.
pub const HOST_PAGE: &str = "the host's page";
/// What the host's fallback answers, with 404.
pub const HOST_NOT_FOUND: &str = "the host's own 404";
/// A resource the host's IdP protects: its metadata (RFC 9728) is at
/// `/.well-known/oauth-protected-resource/mcp`.
pub const HOST_RESOURCE: &str = "https://host.example/mcp";

/// How the host answers a path that neither it nor the API has.
#[derive(Clone, Copy, Debug)]
pub enum HostNotFound {
    /// Its fallback: 404 with [`HOST_NOT_FOUND`].
    Fallback,
    /// The framework's 404, with no fallback set: not the API's envelope.
    Framework,
}

/// Checks a host serving at `base` whose IdP protects [`HOST_RESOURCE`]:
/// the API under `/api/v1`, the root documents (the resource's metadata
/// among them) at the root, the host's page, and unknown paths answered by
/// the API only under its prefix and the resource metadata's.
///
/// # Panics
/// On any answer that is not the expected one (it is a test).
pub async fn check(base: &str, not_found: HostNotFound) {
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let request = client.get(format!("{base}{path}"));
        async move {
            let response = request.send().await.expect("the host answers");
            let status = response.status();
            let text = response.text().await.expect("a body");
            (status, text)
        }
    };

    let (status, text) = get(HOST_PAGE_PATH).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, HOST_PAGE),
        "the host's own route"
    );

    for document in ["/.well-known/jwks.json", "/.well-known/openid-configuration"] {
        let (status, text) = get(document).await;
        assert_eq!(status, StatusCode::OK, "{document} at the root: {text}");
        assert!(
            serde_json::from_str::<Value>(&text).is_ok(),
            "{document} is JSON: {text}"
        );
    }
    let (status, text) = get("/.well-known/oauth-protected-resource/mcp").await;
    assert_eq!(status, StatusCode::OK, "the resource's metadata at the root: {text}");
    let metadata: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(metadata["resource"], HOST_RESOURCE, "{text}");
    // The API owns the metadata's prefix: a resource nobody protects is its 404.
    let (status, text) = get("/.well-known/oauth-protected-resource/other").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert_eq!(envelope_code(&text).as_deref(), Some("NOT_FOUND"), "{text}");
    let (status, text) = get("/api/v1/health/live").await;
    assert_eq!(status, StatusCode::OK, "the API under its prefix: {text}");

    // Under the prefix, the API's envelope; a root document's other methods too.
    let (status, text) = get("/api/v1/no-such-route").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert_eq!(
        envelope_code(&text).as_deref(),
        Some("NOT_FOUND"),
        "the API's 404 under its prefix: {text}"
    );
    let response = client
        .post(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("the host answers");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let text = response.text().await.expect("a body");
    assert_eq!(envelope_code(&text).as_deref(), Some("METHOD_NOT_ALLOWED"), "{text}");

    // Everywhere else, the host's answer: never the API's envelope.
    for path in ["/no-such-page", "/api", "/.well-known/no-such-document", "/agents/x/y"] {
        let (status, text) = get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {text}");
        assert_eq!(envelope_code(&text), None, "{path} got the API's envelope: {text}");
        if let HostNotFound::Fallback = not_found {
            assert_eq!(text, HOST_NOT_FOUND, "{path} reaches the host's fallback");
        }
    }
}

/// The `code` of the API's error envelope, if `text` is one.
fn envelope_code(text: &str) -> Option<String> {
    let json: Value = serde_json::from_str(text).ok()?;
    json.get("code")?.as_str().map(str::to_owned)
}
