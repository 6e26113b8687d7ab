#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use http::{Response, StatusCode};

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "poem")]
pub mod poem;

/// The Content-Security-Policy of every answer: scripts and styles only from
/// the portal's own files (no inline script, no `style` attribute), no
/// plugins, no `<base>`, and no framing.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// One file of the portal, compiled into the binary.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// Its path below the mount point, e.g. `js/api.js` (`index.html` is
    /// also served at the mount point itself).
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes. `index.html` holds the placeholder `{{API_BASE}}`, which
    /// [`Portal::new`] fills in.
    pub body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $type:literal),* $(,)?) => {
        /// Every file of the portal. A host that serves them itself must send
        /// [`security_headers`] with each and fill in `index.html`'s
        /// `{{API_BASE}}` (HTML-escaped), as [`Portal`] does.
        pub static ASSETS: &[Asset] = &[
            $(Asset { path: $path, content_type: $type, body: include_bytes!(concat!("../assets/", $path)) },)*
        ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "portal.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "js/app.js" => "text/javascript; charset=utf-8",
    "js/api.js" => "text/javascript; charset=utf-8",
    "js/dom.js" => "text/javascript; charset=utf-8",
    "js/home.js" => "text/javascript; charset=utf-8",
    "js/wizard.js" => "text/javascript; charset=utf-8",
    "js/pricing.js" => "text/javascript; charset=utf-8",
    "js/sdks.js" => "text/javascript; charset=utf-8",
    "js/marketplace.js" => "text/javascript; charset=utf-8",
    "js/dashboard.js" => "text/javascript; charset=utf-8",
    "js/agents.js" => "text/javascript; charset=utf-8",
    "js/audit.js" => "text/javascript; charset=utf-8",
    "js/policies.js" => "text/javascript; charset=utf-8",
    "js/signin.js" => "text/javascript; charset=utf-8",
}

/// The headers every answer of the portal carries, errors and redirects
/// included: [`CSP`], `X-Content-Type-Options: nosniff` and
/// `Referrer-Policy: no-referrer`.
pub fn security_headers() -> [(HeaderName, HeaderValue); 3] {
    [
        (CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ]
}

/// The portal, ready to answer requests below its mount point. Cheap to clone.
///
/// ```
/// let portal = sentryagent_portal::Portal::new("/api/v1");
/// let page = portal.answer("/portal/", "");
/// assert_eq!(page.status(), 200);
/// assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
/// // Without its slash the mount point redirects, so that relative links resolve below it.
/// assert_eq!(portal.answer("/portal", "").headers()["location"], "portal/");
/// ```
#[derive(Clone, Debug)]
pub struct Portal {
    index: Bytes,
}

impl Portal {
    /// The portal for an API mounted at `api_base` on the same origin, e.g.
    /// `/api/v1` (the pages call `{api_base}/tenants`, `{api_base}/agents`…).
    pub fn new(api_base: &str) -> Self {
        let template = ASSETS
            .iter()
            .find(|a| a.path == "index.html")
            .map_or("", |a| std::str::from_utf8(a.body).unwrap_or_default());
        let base = escape_attribute(api_base.trim_end_matches('/'));
        Self {
            index: Bytes::from(template.replace("{{API_BASE}}", &base)),
        }
    }

    /// The answer to a `GET` below the mount point. `path` is the request's
    /// whole path as the client sent it; `file` is what follows the mount
    /// point's slash (`""` for the mount point itself). The mount point
    /// without its slash redirects to itself with one, so the page's
    /// relative links resolve under any mount point. Unknown files are 404.
    /// Every answer carries [`security_headers`].
    pub fn answer(&self, path: &str, file: &str) -> Response<Bytes> {
        let mut headers = HeaderMap::new();
        headers.extend(security_headers());
        // The files are not fingerprinted: revalidate rather than serve stale.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let (status, body) = if file.is_empty() && !path.ends_with('/') {
            let last = path.rsplit('/').next().unwrap_or_default();
            match HeaderValue::from_str(&format!("{last}/")) {
                Ok(location) => {
                    headers.insert(LOCATION, location);
                    (StatusCode::PERMANENT_REDIRECT, Bytes::new())
                }
                Err(_) => not_found(&mut headers),
            }
        } else if file.is_empty() || file == "index.html" {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            (StatusCode::OK, self.index.clone())
        } else if let Some(asset) = ASSETS.iter().find(|a| a.path == file) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
            (StatusCode::OK, Bytes::from_static(asset.body))
        } else {
            not_found(&mut headers)
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

fn not_found(headers: &mut HeaderMap) -> (StatusCode, Bytes) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    (StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n"))
}

/// `value` safe inside a double-quoted HTML attribute.
fn escape_attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_carries_the_security_headers() {
        let portal = Portal::new("/api/v1");
        let mut paths: Vec<(&str, &str)> = ASSETS.iter().map(|a| ("/portal/x", a.path)).collect();
        paths.extend([("/portal/", ""), ("/portal", ""), ("/portal/nope.js", "nope.js")]);
        for (path, file) in paths {
            let response = portal.answer(path, file);
            for (name, value) in security_headers() {
                assert_eq!(response.headers().get(&name), Some(&value), "{name} on {file:?}");
            }
        }
        assert_eq!(
            portal.answer("/portal/nope.js", "nope.js").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_api_base_is_escaped_into_the_page() {
        let page = Portal::new("/x\"><script>alert(1)</script>/").answer("/", "");
        let html = std::str::from_utf8(page.body()).expect("UTF-8");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("content=\"/x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""),
            "{html}"
        );
        assert!(!html.contains("{{API_BASE}}"));
    }

    #[test]
    fn no_file_has_inline_script_or_style() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".html")) {
            let html = std::str::from_utf8(asset.body).expect("UTF-8");
            assert!(!html.contains("<script>"), "inline script in {}", asset.path);
            assert!(!html.contains("style="), "style attribute in {}", asset.path);
            assert!(!html.contains("<style"), "style element in {}", asset.path);
        }
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let js = std::str::from_utf8(asset.body).expect("UTF-8");
            // Data reaches the page through textContent and DOM calls only.
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "localStorage",
                "sessionStorage",
            ] {
                assert!(!js.contains(banned), "{banned} in {}", asset.path);
            }
        }
    }
}
