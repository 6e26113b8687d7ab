//! rmcp's OAuth HTTP client (its public extension point) over reqwest,
//! recording each request, so a test can check what rmcp asked SentryAgent
//! and in which order.

use std::sync::Mutex;

use rmcp::transport::{OAuthHttpClient, OAuthHttpClientError, OAuthHttpClientFuture, OAuthHttpRequest};

/// Sends rmcp's OAuth requests with reqwest and records `METHOD URL` of each.
#[derive(Default)]
pub(crate) struct Recording {
    http: reqwest::Client,
    pub(crate) seen: Mutex<Vec<String>>,
}

impl OAuthHttpClient for Recording {
    fn execute(&self, request: OAuthHttpRequest) -> OAuthHttpClientFuture<'_> {
        Box::pin(async move {
            let request = request.request;
            self.seen
                .lock()
                .map_err(|e| e.to_string())?
                .push(format!("{} {}", request.method(), request.uri()));
            let response = self
                .http
                .execute(reqwest::Request::try_from(request).map_err(|e| Box::new(e) as OAuthHttpClientError)?)
                .await?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            Ok(builder.body(response.bytes().await?.to_vec())?)
        })
    }
}

/// An MCP session at `mcp` through rmcp's authorized client, which calls
/// the `whoami` tool once: its answer, as JSON text.
pub(crate) async fn whoami(mcp: &str, manager: rmcp::transport::auth::AuthorizationManager) -> String {
    use rmcp::ServiceExt as _;
    use rmcp::model::{CallToolRequestParams, ClientConfig};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::auth::AuthClient;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let transport = StreamableHttpClientTransport::with_client(
        AuthClient::new(reqwest::Client::new(), manager),
        StreamableHttpClientTransportConfig::with_uri(mcp),
    );
    let client = ClientConfig::default()
        .serve(transport)
        .await
        .expect("an authorized MCP session");
    let answer = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .expect("the tool answers");
    let _ = client.cancel().await;
    serde_json::to_string(&answer).expect("JSON")
}
