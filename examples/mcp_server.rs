//! An MCP server (rmcp, streamable HTTP) on axum, protected by SentryAgent:
//! agents get a token for the MCP endpoint by the client-credentials grant
//! (or `private_key_jwt`), people through an MCP client by the
//! authorization-code flow (a DEMO sign-in, `/demo/sign-in`, and the
//! consent page), and MCP clients find SentryAgent on their own from the
//! 401 challenge and the resource's metadata (RFC 9728).
//! `docs/guides/protect-an-mcp-server.md` walks through it;
//! `tests/mcp_server.rs` runs rmcp's own OAuth client against it, and
//! `tests/mcp_browser.rs` a person in Chromium.
//!
//! ```text
//! cargo run --example mcp_server
//! ```
//!
//! In memory by default; `DATABASE_URL` (with `SENTRYAGENT_SECRET_KEY`) and
//! `REDIS_URL` switch to PostgreSQL and Redis as in `embed_axum.rs`.
//! `SENTRYAGENT_BIND` (default `127.0.0.1:3000`) is where it listens. The
//! demo tenant has a pre-registered public client,
//! `sa_oc_demo_public_client`, whose redirect is `http://127.0.0.1/callback`
//! (any port).

mod demo_sign_in;
mod shutdown;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Json, Router};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension as ToolExtension;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use sentryagent_axum::{Agent, Principal, Principals, Resource, ResourcePolicy, SentryAgent};
use sentryagent_examples::config::Backends;
use sentryagent_store_postgres::{PgOptions, PgStore};
use sentryagent_store_redis::{RedisOptions, RedisStore};
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The MCP server: two tools that answer who called them.
#[derive(Clone)]
struct Tools {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Tools {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    /// The caller is the one SentryAgent verified before the call reached
    /// the MCP server (`sentryagent_axum::protect` put it there): an agent,
    /// or a person acting through an MCP client.
    #[tool(description = "Who is calling: the agent or person behind the access token")]
    fn whoami(&self, ToolExtension(parts): ToolExtension<http::request::Parts>) -> String {
        match parts.extensions.get::<Principal>() {
            Some(Principal::Agent(agent)) => format!("agent {} of tenant {}", agent.agent_id, agent.tenant_id),
            Some(Principal::User(user)) => format!(
                "user {} of tenant {} through client {}",
                user.user_id, user.tenant_id, user.client_id
            ),
            None => "nobody".to_owned(),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// A plain API route of another resource: a token for the MCP server does
/// not reach it.
async fn reports(agent: Agent) -> Json<Value> {
    Json(json!({ "agentId": agent.agent_id, "reports": ["q3-revenue"] }))
}

fn app(idp: SentryAgent, demo: Arc<demo_sign_in::DemoSignIn>, mcp: &str, reports_resource: &str) -> Router {
    // The MCP server is a tower service: `protect` runs SentryAgent's check
    // (and answers its challenges) before any MCP message reaches it.
    let mcp_service: StreamableHttpService<Tools, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Tools::new()),
        Arc::default(),
        StreamableHttpServerConfig::default(),
    );
    let mcp_router = Router::new().route_service("/mcp", mcp_service);
    Router::new()
        .nest("/api/v1", sentryagent_axum::router(idp.clone()))
        // Discovery, and each resource's metadata where its identifier puts it:
        // /.well-known/oauth-protected-resource/mcp for {issuer}/mcp.
        .merge(sentryagent_axum::well_known(idp.clone()))
        .merge(sentryagent_axum::protect(mcp_router, idp.clone(), mcp))
        .route(
            "/reports",
            get(reports).layer(Extension(Resource::new(reports_resource))),
        )
        .with_state(idp)
        .merge(
            Router::new()
                .route("/demo/sign-in", get(demo_sign_in::form).post(demo_sign_in::sign_in))
                .with_state(demo),
        )
}

/// In memory unless `DATABASE_URL` or `REDIS_URL` say otherwise.
async fn identity_provider(
    issuer: &str,
    settings: &Backends,
    demo: Arc<demo_sign_in::DemoSignIn>,
) -> Result<SentryAgent, BoxError> {
    // The host says who is signed in (here the DEMO sign-in): that turns
    // the authorization-code flow on.
    let mut builder = SentryAgent::builder()
        .issuer(issuer)
        .api_path("/api/v1")
        .host_users(demo);
    if let (Some(url), Some(secret)) = (&settings.database_url, &settings.secret_key) {
        let pg = PgStore::connect(url, secret.as_bytes(), PgOptions::default()).await?;
        builder = builder.server_secret(secret.as_bytes())?.durable(Arc::new(pg));
    }
    if let Some(url) = &settings.redis_url {
        builder = builder.hot_state(Arc::new(RedisStore::connect(url, RedisOptions::default()).await?));
    }
    Ok(builder.build().await?)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let settings = Backends::load()?;
    let bind = settings.bind;
    let issuer = format!("http://{bind}");
    let demo = demo_sign_in::DemoSignIn::new(false);
    let idp = identity_provider(&issuer, &settings, demo.clone()).await?;
    let tenant = match idp.first_tenant().await? {
        Some(tenant) => tenant.id,
        None => {
            let created = idp.create_tenant("default").await?;
            println!("SENTRYAGENT_ADMIN_CLIENT_ID={}", created.admin_client_id);
            println!(
                "SENTRYAGENT_ADMIN_CLIENT_SECRET={}",
                created.admin_client_secret.expose()
            );
            created.tenant.id
        }
    };
    demo.set_tenant(tenant);
    demo_sign_in::register_demo_client(&idp, tenant).await?;
    // The MCP endpoint: your tenant's agents, and its people through an MCP
    // client, holding `tools:call`. Its identifier is its URL, which is also
    // the `resource` clients ask for.
    let mcp = format!("{issuer}/mcp");
    idp.protect(
        ResourcePolicy::new(&mcp)
            .tenant(tenant)
            .accept(Principals::AgentsAndPeople)
            .require_scope("tools:call")
            .name("SentryAgent MCP example"),
    );
    // Another resource of the same host, with tokens of its own.
    let reports_resource = format!("{issuer}/reports");
    idp.protect(ResourcePolicy::new(&reports_resource).tenant(tenant));
    let background = idp.spawn_background();

    // Before the port opens: a SIGTERM from then on stops the server cleanly.
    let shutdown = shutdown::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(bind).await?;
    axum::serve(
        listener,
        app(idp, demo, &mcp, &reports_resource).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    background.stop().await;
    Ok(())
}
