//! The consent page SentryAgent renders at the authorization endpoint, and
//! the error page shown where a redirect cannot be trusted. Plain HTML,
//! every value escaped; the endpoint serves it under a strict
//! Content-Security-Policy. A host may render its own consent page
//! ([`ConsentPage`], set with
//! [`SentryAgentBuilder::consent_page`](crate::SentryAgentBuilder::consent_page)).

/// What a consent page shows and must post back.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConsentView<'a> {
    /// The client's name (its id when it gave none).
    pub client_name: &'a str,
    /// The client's id (for a metadata document, its URL).
    pub client_id: &'a str,
    /// The client's logo, only when it is an `https` URL.
    pub logo_uri: Option<&'a str>,
    /// The client's home page, only when it is an `https` URL.
    pub client_uri: Option<&'a str>,
    /// How to greet the signed-in person (their display name, else their id).
    pub user: &'a str,
    /// The scopes asked for.
    pub scopes: &'a [String],
    /// The resources (RFC 8707) the tokens would be for.
    pub resources: &'a [String],
    /// Where the form posts (`POST {api}/oauth2/authorize`).
    pub form_action: &'a str,
    /// The hidden fields the form must post unchanged, its anti-forgery
    /// token among them; the buttons add `decision=allow` or `decision=deny`.
    pub hidden: &'a [(&'static str, String)],
}

/// A host's own consent page: given the view, the whole HTML document. It
/// must post `hidden` and a `decision` of `allow` or `deny` to
/// `form_action`, and escape every value it shows ([`escape_html`]). The
/// endpoint adds the security headers; inline styles are allowed, scripts
/// are not.
pub trait ConsentPage: Send + Sync + 'static {
    /// The HTML document.
    fn render(&self, view: &ConsentView<'_>) -> String;
}

/// SentryAgent's own consent page.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultConsentPage;

impl ConsentPage for DefaultConsentPage {
    fn render(&self, view: &ConsentView<'_>) -> String {
        let e = escape_html;
        let logo = view
            .logo_uri
            .map(|uri| format!(r#"<img src="{}" alt="" width="48" height="48">"#, e(uri)))
            .unwrap_or_default();
        let home = view
            .client_uri
            .map(|uri| format!("<p class=\"muted\">{}</p>", e(uri)))
            .unwrap_or_default();
        let list = |items: &[String], empty: &str| -> String {
            if items.is_empty() {
                return format!("<li class=\"muted\">{empty}</li>");
            }
            items
                .iter()
                .map(|i| format!("<li><code>{}</code></li>", e(i)))
                .collect()
        };
        let hidden: String = view
            .hidden
            .iter()
            .map(|(name, value)| format!(r#"<input type="hidden" name="{}" value="{}">"#, e(name), e(value)))
            .collect();
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize {name}</title>
<style>{STYLE}</style></head>
<body><main>
<header>{logo}<h1>{name}</h1></header>
{home}<p class="muted">Client id <code>{client_id}</code></p>
<p>Signed in as <strong>{user}</strong>. This application asks to act for you with:</p>
<ul>{scopes}</ul>
<p>on</p>
<ul>{resources}</ul>
<form method="post" action="{action}">{hidden}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="deny">Deny</button>
</form>
</main></body></html>
"#,
            name = e(view.client_name),
            client_id = e(view.client_id),
            user = e(view.user),
            scopes = list(view.scopes, "no scopes"),
            resources = list(view.resources, "this server"),
            action = e(view.form_action),
        )
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f5f5f7;margin:0}\
main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:.5rem}\
header{display:flex;gap:1rem;align-items:center}.muted{color:#666}\
button{padding:.5rem 1.5rem;margin-right:.5rem}.deny{background:#fff}";

/// An error page (where the redirect URI cannot be trusted, or the flow is
/// not available).
pub(super) fn error_page(error: &str, description: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorization failed</title><style>{STYLE}</style></head>
<body><main><h1>Authorization failed</h1><p><code>{}</code></p><p>{}</p>
<p class="muted">Return to the application and try again.</p></main></body></html>
"#,
        escape_html(error),
        escape_html(description)
    )
}

/// Escapes text for HTML content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped() {
        let scopes = vec!["tools:call".to_owned()];
        let resources = vec!["https://mcp.example/\"><script>".to_owned()];
        let hidden = [("state", "\"><script>alert(1)</script>".to_owned())];
        let html = DefaultConsentPage.render(&ConsentView {
            client_name: "<script>alert(1)</script>",
            client_id: "sa_oc_x",
            logo_uri: Some("https://logo.example/a.png?a=1&b=\"2\""),
            client_uri: None,
            user: "Ann <ann@example.com>",
            scopes: &scopes,
            resources: &resources,
            form_action: "/api/v1/oauth2/authorize",
            hidden: &hidden,
        });
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("Ann &lt;ann@example.com&gt;"));
        assert!(html.contains("a=1&amp;b=&quot;2&quot;"));
        assert!(!error_page("x", "<b>").contains("<b>"));
    }
}
