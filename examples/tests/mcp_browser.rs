//! A person connects an MCP client to `examples/mcp_server.rs`, in a real
//! browser (Debian's headless Chromium over WebDriver): rmcp's OAuth client
//! discovers SentryAgent from the MCP endpoint and starts the
//! authorization-code flow with PKCE as the example's pre-registered public
//! client; the person signs in on the host's DEMO sign-in, sees the consent
//! page and allows; rmcp redeems the code the browser brought back to its
//! loopback callback, and calls a tool with the person's token.
//!
//! Without chromedriver the test says so and passes, unless
//! `SENTRYAGENT_REQUIRE_BROWSER=1` (as `.ci/run` sets), when it fails.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/rmcp_http.rs"]
mod rmcp_http;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fantoccini::Locator;
use rmcp::transport::auth::{AuthorizationRequest, OAuthState};
use rmcp_http::Recording;
use support::ExampleServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The example's pre-registered public client (`examples/demo_sign_in.rs`).
const DEMO_CLIENT: &str = "sa_oc_demo_public_client";
const WAIT: Duration = Duration::from_secs(15);

/// The MCP client's loopback callback: answers the first request with a
/// plain page and hands over the URL it was called with.
async fn callback_once(listener: tokio::net::TcpListener) -> String {
    let (mut socket, _) = listener.accept().await.expect("the browser comes back");
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await.expect("the request");
        assert!(n > 0, "the browser closed the callback early");
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let target = text.split(' ').nth(1).expect("a request line").to_owned();
    let page = "You may close this page.";
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = socket.write_all(answer.as_bytes()).await;
    target
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_consents_and_their_mcp_client_calls_a_tool() {
    let Some(driver) = browser::driver() else { return };
    let server = ExampleServer::start("mcp_server", &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let mcp = format!("{base}/mcp");

    // The MCP client: discovery from the endpoint, then the authorization
    // request as the pre-registered public client, redirecting to its own
    // loopback callback (any port: RFC 8252).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let callback = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr().expect("addr").port()
    );
    let came_back = tokio::spawn(callback_once(listener));
    let recording = Arc::new(Recording::default());
    let mut oauth = OAuthState::new_with_oauth_http_client(&mcp, recording.clone())
        .await
        .expect("an OAuth state");
    oauth
        .start_authorization(
            AuthorizationRequest::new(&callback)
                .with_preregistered_client(DEMO_CLIENT)
                .with_scopes(["tools:call"]),
        )
        .await
        .expect("rmcp discovers SentryAgent's authorization endpoint");
    let authorize = oauth.get_authorization_url().await.expect("the URL to open");
    assert!(
        authorize.starts_with(&format!("{base}/api/v1/oauth2/authorize?")),
        "{authorize}"
    );
    assert!(authorize.contains("code_challenge_method=S256"), "{authorize}");

    // The person, in the browser: the host's sign-in first, then consent.
    let session = browser::Session::start(driver, 1000, 800, false).await;
    let browser = &session.client;
    browser.goto(&authorize).await.expect("open the authorization URL");
    let sign_in = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//button[normalize-space()='Sign in as the demo user']"))
        .await
        .expect("sent to the host's sign-in first");
    assert!(
        browser
            .current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/demo/sign-in"),
        "the sign-in page"
    );
    sign_in.click().await.expect("sign in");
    let allow = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("button[name=decision][value=allow]"))
        .await
        .expect("the consent page");
    let page = browser.source().await.expect("the page");
    for shown in ["Demo public client", "tools:call", &mcp] {
        assert!(page.contains(shown), "the consent page names {shown}");
    }
    allow.click().await.expect("allow");
    let target = tokio::time::timeout(WAIT, came_back)
        .await
        .expect("the browser reaches the callback in time")
        .expect("the callback task");
    assert!(target.starts_with("/callback?"), "{target}");
    assert!(target.contains("code=sa_ac_") && target.contains("iss="), "{target}");

    // The MCP client redeems the code (checking state and iss) and calls a tool.
    oauth
        .handle_callback_url(&format!("http://127.0.0.1{target}"))
        .await
        .expect("rmcp redeems the code");
    let seen = recording.seen.lock().expect("the record").clone();
    assert!(
        seen.iter().any(|r| r == &format!("POST {base}/api/v1/oauth2/token")),
        "{seen:#?}"
    );
    let manager = oauth.into_authorization_manager().expect("authorized");
    let text = rmcp_http::whoami(mcp.as_str(), manager).await;
    assert!(
        text.contains("user demo-user of tenant") && text.contains(DEMO_CLIENT),
        "{text}"
    );
    let _ = session.client.clone().close().await;
    server.stop();
}
