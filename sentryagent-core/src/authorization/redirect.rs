//! Redirect URIs: which ones a client may register, and whether a request's
//! `redirect_uri` is one of them.
//!
//! Matching is by exact string (OAuth 2.1 §2.3.1), with one exception:
//! a loopback redirect (RFC 8252 §7.3) matches with any port, because a
//! native client listens on whatever port the operating system gives it.
//! Loopback means `http://127.0.0.1`, `http://[::1]` and `http://localhost`.
//!
//! # Why `localhost` is loopback here
//! RFC 8252 §8.3 calls `localhost` "NOT RECOMMENDED", for fear that the
//! name resolves to something other than the loopback interface. The MCP
//! authorization rules go the other way: redirect URIs must be either
//! `localhost` or `https`, and MCP clients people use (Claude Code, the MCP
//! Inspector) register `http://localhost:<port>/callback` with a port chosen
//! at run time. Refusing them, or matching them exactly, would break those
//! clients and protect little: RFC 6761 §6.3 lets resolvers answer loopback
//! for `localhost`, current browsers do so without asking DNS, and with a
//! fixed port any local process could still have bound it first. So
//! `localhost` gets the loopback rule, but never matches another loopback
//! host: a client that registered `http://localhost/cb` cannot be sent to
//! `http://127.0.0.1:8080/cb`.

/// The longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2048;

const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

/// Schemes that must never be a redirect target: they run code, read local
/// files or are not navigations at all.
const FORBIDDEN_SCHEMES: [&str; 9] = [
    "javascript",
    "data",
    "file",
    "vbscript",
    "blob",
    "about",
    "ftp",
    "ws",
    "wss",
];

/// Why a redirect URI may not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// Not an absolute URI, or longer than [`MAX_REDIRECT_URI_LEN`].
    #[error("the redirect URI is not an absolute URI")]
    Malformed,
    /// It has a fragment (RFC 6749 §3.1.2).
    #[error("the redirect URI must not have a fragment")]
    Fragment,
    /// It has a user name or password.
    #[error("the redirect URI must not carry credentials")]
    Credentials,
    /// Plain `http` to a host other than loopback.
    #[error("a redirect URI over http must be a loopback address")]
    InsecureHttp,
    /// A scheme that runs code or reads local files (`javascript:`, `data:`, `file:`…).
    #[error("the redirect URI's scheme is not allowed")]
    ForbiddenScheme,
}

/// Whether `uri` may be registered as a redirect URI: absolute, without a
/// fragment or credentials, and either `https`, loopback `http`
/// (`127.0.0.1`, `[::1]`, `localhost`), or a private-use scheme of a native
/// app (RFC 8252 §7.1, e.g. `cursor://…`) other than the forbidden ones.
///
/// # Errors
/// The first rule it breaks.
pub fn check_redirect_uri(uri: &str) -> Result<(), RedirectUriError> {
    if uri.len() > MAX_REDIRECT_URI_LEN || uri.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(RedirectUriError::Malformed);
    }
    let parsed = url::Url::parse(uri).map_err(|_| RedirectUriError::Malformed)?;
    if uri.contains('#') {
        return Err(RedirectUriError::Fragment);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(RedirectUriError::Credentials);
    }
    match parsed.scheme() {
        // The URL parser reads `https:///x` as `https://x/`; a registered
        // URI is compared as written, so it must be written plainly.
        "https" if uri.strip_prefix("https://").is_some_and(|r| !r.starts_with('/')) => Ok(()),
        "https" => Err(RedirectUriError::Malformed),
        "http" if loopback(uri).is_some() => Ok(()),
        "http" => Err(RedirectUriError::InsecureHttp),
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Err(RedirectUriError::ForbiddenScheme),
        _ => Ok(()),
    }
}

/// Whether the `redirect_uri` of a request matches one of the client's
/// registered URIs: exactly, or as a loopback URI with any port (the
/// module's rules). A presented URI with a fragment never matches.
pub fn redirect_uri_matches<S: AsRef<str>>(registered: &[S], presented: &str) -> bool {
    if presented.contains('#') {
        return false;
    }
    let presented_loopback = loopback(presented);
    registered.iter().any(|r| {
        let r = r.as_ref();
        r == presented
            || match (loopback(r), presented_loopback) {
                (Some(a), Some(b)) => a.host == b.host && a.rest == b.rest,
                _ => false,
            }
    })
}

/// A loopback `http` URI taken apart, as written: no normalisation beyond
/// an empty path meaning `/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Loopback<'a> {
    host: &'a str,
    /// Path and query; `/` when the URI ends after the authority.
    rest: &'a str,
}

fn loopback(uri: &str) -> Option<Loopback<'_>> {
    let after_scheme = uri.strip_prefix("http://")?;
    let host = LOOPBACK_HOSTS.into_iter().find(|h| after_scheme.starts_with(h))?;
    let mut rest = &after_scheme[host.len()..];
    if let Some(port_and_rest) = rest.strip_prefix(':') {
        let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
        let port = &port_and_rest[..digits];
        if port.is_empty() || port.len() > 5 || port.parse::<u32>().map_or(true, |p| p > 65_535) {
            return None;
        }
        rest = &port_and_rest[digits..];
    }
    match rest.as_bytes().first() {
        None => Some(Loopback { host, rest: "/" }),
        Some(b'/') => Some(Loopback { host, rest }),
        // A query straight after the authority is left to exact matching;
        // anything else (`http://localhost.evil.example/`,
        // `http://127.0.0.1@evil/`) is another host.
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_for_ordinary_uris() {
        let registered = ["https://app.example.com/callback", "cursor://anysphere.cursor/oauth"];
        assert!(redirect_uri_matches(&registered, "https://app.example.com/callback"));
        assert!(redirect_uri_matches(&registered, "cursor://anysphere.cursor/oauth"));
        for other in [
            "https://app.example.com/callback/",
            "https://app.example.com/callback?x=1",
            "https://app.example.com/Callback",
            "https://APP.example.com/callback",
            "https://app.example.com:443/callback",
            "https://app.example.com:8443/callback",
            "http://app.example.com/callback",
            "https://app.example.com/callback#frag",
            "https://app.example.com/callback/../callback",
            "https://evil.example/callback",
            "",
        ] {
            assert!(!redirect_uri_matches(&registered, other), "{other}");
        }
        assert!(!redirect_uri_matches::<&str>(&[], "https://app.example.com/callback"));
    }

    #[test]
    fn loopback_matches_with_any_port() {
        let registered = [
            "http://127.0.0.1/callback",
            "http://[::1]:8080/cb?x=1",
            "http://localhost:3000/callback",
        ];
        for ok in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:51004/callback",
            "http://127.0.0.1:1/callback",
            "http://127.0.0.1:65535/callback",
            "http://[::1]/cb?x=1",
            "http://[::1]:9/cb?x=1",
            "http://localhost/callback",
            "http://localhost:61234/callback",
        ] {
            assert!(redirect_uri_matches(&registered, ok), "{ok}");
        }
        for refused in [
            // Another loopback host than the one registered.
            "http://localhost:51004/cb?x=1",
            "http://127.0.0.1:3000/cb?x=1",
            "http://[::1]:3000/callback",
            // Path, query and scheme still match exactly.
            "http://127.0.0.1:51004/callback/",
            "http://127.0.0.1:51004/other",
            "http://[::1]:9/cb?x=2",
            "http://[::1]:9/cb",
            "https://127.0.0.1:51004/callback",
            // Not a port, or not loopback at all.
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:123456/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:80x/callback",
            "http://127.0.0.1.evil.example/callback",
            "http://localhost.evil.example:3000/callback",
            "http://localhost@evil.example/callback",
            "http://127.0.0.1:8080@evil.example/callback",
            "http://127.0.0.2:8080/callback",
            "http://127.0.0.1:8080/callback#x",
        ] {
            assert!(!redirect_uri_matches(&registered, refused), "{refused}");
        }
    }

    #[test]
    fn an_empty_loopback_path_is_the_root() {
        assert!(redirect_uri_matches(
            &["http://127.0.0.1:33418"],
            "http://127.0.0.1:5000/"
        ));
        assert!(redirect_uri_matches(&["http://127.0.0.1/"], "http://127.0.0.1:5000"));
        assert!(!redirect_uri_matches(&["http://127.0.0.1/"], "http://127.0.0.1:5000/x"));
    }

    #[test]
    fn what_may_be_registered() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/callback?tenant=a",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:8080/callback",
            "http://[::1]/",
            "http://localhost:3000/callback",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("/callback", RedirectUriError::Malformed),
            ("not a uri", RedirectUriError::Malformed),
            ("https:///callback", RedirectUriError::Malformed),
            ("https://app.example.com/cb\n", RedirectUriError::Malformed),
            ("https://app.example.com/cb#x", RedirectUriError::Fragment),
            ("https://user:pw@app.example.com/cb", RedirectUriError::Credentials),
            ("https://user@app.example.com/cb", RedirectUriError::Credentials),
            ("http://app.example.com/callback", RedirectUriError::InsecureHttp),
            ("http://127.0.0.1.nip.io/callback", RedirectUriError::InsecureHttp),
            ("http://10.0.0.1/callback", RedirectUriError::InsecureHttp),
            ("javascript:alert(1)", RedirectUriError::ForbiddenScheme),
            ("JavaScript:alert(1)", RedirectUriError::ForbiddenScheme),
            ("data:text/html,hi", RedirectUriError::ForbiddenScheme),
            ("file:///etc/passwd", RedirectUriError::ForbiddenScheme),
        ] {
            assert_eq!(check_redirect_uri(bad), Err(why), "{bad}");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_REDIRECT_URI_LEN));
        assert_eq!(check_redirect_uri(&long), Err(RedirectUriError::Malformed));
    }
}
