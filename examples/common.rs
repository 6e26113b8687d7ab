//! What the example servers share, whatever the framework: settings from the
//! environment, logs, the default tenant, audit retention, the `/whoami`
//! answer, graceful shutdown, and the operator commands (`recover-admin`,
//! `reanchor-audit`). Each server includes it with `mod common;`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use sentryagent_billing_stripe::{StripeBilling, StripeConfig};
use sentryagent_core::http::client_ip::{ForwardedHeader, parse_net};
use sentryagent_core::ratelimit::{Quota, RouteGroup};
use sentryagent_core::resource::ResourcePolicy;
use sentryagent_core::store::{RevocationList, Stores};
use sentryagent_core::token::SigningAlgorithm;
use sentryagent_core::{SentryAgent, SentryAgentBuilder, Signup, TenantId};
use sentryagent_store_postgres::{PgOptions, PgStore};
use sentryagent_store_redis::{RedisOptions, RedisStore};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage: server [recover-admin --tenant <tenant id> | reanchor-audit --tenant <tenant id>]";

/// Logs to stderr, runs `serve` (or the operator command the arguments
/// name), and exits with status 1 on its error.
pub(crate) async fn main<F: Future<Output = Result<(), BoxError>>>(serve: impl FnOnce() -> F) {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None => serve().await,
        Some("recover-admin") => recover_admin(&args[1..]).await,
        Some("reanchor-audit") => reanchor_audit(&args[1..]).await,
        Some(_) => Err(USAGE.into()),
    };
    if let Err(e) = result {
        tracing::error!("{e}");
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// `--tenant <id>` of an operator command.
fn tenant_argument(args: &[String]) -> Result<TenantId, BoxError> {
    match args {
        [flag, id] if flag == "--tenant" => id
            .parse()
            .map_err(|_| format!("--tenant takes a tenant id (a UUID), not `{id}`").into()),
        _ => Err(USAGE.into()),
    }
}

/// The IdP of an operator command: the durable store the environment names.
async fn operator_idp(command: &str) -> Result<SentryAgent, BoxError> {
    if env("DATABASE_URL").is_none() {
        return Err(format!(
            "{command} needs DATABASE_URL and SENTRYAGENT_SECRET_KEY, as the server runs with: an in-memory server's \
             tenants live only in its own process"
        )
        .into());
    }
    Ok(build().await?.0)
}

/// `recover-admin --tenant <id>`: a new admin credential for a tenant whose
/// admin secret is lost, printed once like the first start's; audited as
/// `credential.created` by `operator`; nothing is revoked.
async fn recover_admin(args: &[String]) -> Result<(), BoxError> {
    let tenant = tenant_argument(args)?;
    let idp = operator_idp("recover-admin").await?;
    let recovered = idp.recover_admin_credential(tenant).await?;
    println!("SENTRYAGENT_ADMIN_CLIENT_ID={}", recovered.admin_client_id);
    println!(
        "SENTRYAGENT_ADMIN_CLIENT_SECRET={}",
        recovered.admin_client_secret.expose()
    );
    Ok(())
}

/// `reanchor-audit --tenant <id>`: re-anchors a tenant's audit chain whose
/// checkpoint was lost (audited as `audit.reanchored` by `operator`).
async fn reanchor_audit(args: &[String]) -> Result<(), BoxError> {
    let tenant = tenant_argument(args)?;
    let idp = operator_idp("reanchor-audit").await?;
    match idp.reanchor_audit(tenant, "operator").await? {
        Some(lost_at) => println!("re-anchored: the checkpoint was missing at seq {lost_at}"),
        None => println!("nothing to re-anchor: the checkpoint is intact"),
    }
    Ok(())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The IdP the environment describes (see the README's table), listening.
/// Usage an earlier shutdown spilled is stored. On an empty store it makes
/// the default tenant and prints its admin credential on stdout, once, and
/// only once the port is bound: a start that cannot listen must not print
/// (and lose) the only copy of the admin secret.
pub(crate) async fn start() -> Result<(SentryAgent, TcpListener), BoxError> {
    let (idp, bind) = build().await?;
    // Before listening: once the port answers, the spilled usage is in the store.
    match idp.recover_spilled_usage().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(counts = n, "usage spilled by an earlier shutdown stored"),
        Err(e) => tracing::warn!(error = %e, "spilled usage not stored yet; the usage flusher tries again"),
    }
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let default_tenant = match idp.first_tenant().await? {
        Some(tenant) => {
            tracing::info!("the store has tenants already; no default tenant made");
            tenant.id
        }
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
    // The host route `/whoami` is a resource of its own: the default
    // tenant's agents only, unless SENTRYAGENT_WHOAMI_ANY_TENANT widens it.
    let whoami = ResourcePolicy::new(idp.settings().audience.clone()).tenant(default_tenant);
    if flag("SENTRYAGENT_WHOAMI_ANY_TENANT", false)? {
        tracing::warn!(
            "GET /whoami accepts the agents of every tenant: unset SENTRYAGENT_WHOAMI_ANY_TENANT to accept the default tenant's only"
        );
        idp.protect(whoami.any_tenant());
    } else {
        idp.protect(whoami);
    }
    Ok((idp, listener))
}

/// The IdP the environment describes and the address to listen on.
async fn build() -> Result<(SentryAgent, SocketAddr), BoxError> {
    let bind: SocketAddr = env("SENTRYAGENT_BIND")
        .unwrap_or_else(|| "127.0.0.1:3000".into())
        .parse()
        .map_err(|e| format!("SENTRYAGENT_BIND is not an address such as 127.0.0.1:3000: {e}"))?;
    let issuer = env("SENTRYAGENT_ISSUER").unwrap_or_else(|| format!("http://{bind}"));
    let mut builder = SentryAgent::builder().issuer(&issuer).api_path("/api/v1");
    builder = doors(builder)?;
    let secret = env("SENTRYAGENT_SECRET_KEY");
    if let Some(secret) = &secret {
        builder = builder
            .server_secret(secret.as_bytes())
            .map_err(|e| format!("SENTRYAGENT_SECRET_KEY: {e}"))?;
    }
    if let Some(alg) = env("SENTRYAGENT_SIGNING_ALG") {
        let alg = SigningAlgorithm::parse(&alg).ok_or("SENTRYAGENT_SIGNING_ALG must be ES256, EdDSA or RS256")?;
        builder = builder.signing_algorithm(alg);
    }
    if let Some(ttl) = env("SENTRYAGENT_TOKEN_TTL_SECS") {
        builder = builder.token_ttl(Duration::from_secs(number("SENTRYAGENT_TOKEN_TTL_SECS", &ttl)?));
    }
    builder = limits(builder)?;
    builder = tiers(builder)?;
    builder = federation(builder)?;
    if env("MARKETPLACE_ENABLED").is_some_and(|v| v == "false" || v == "0") {
        builder = builder.marketplace(false);
    }

    // Backends: PostgreSQL for durable records, Redis for shared hot state.
    let redis = match env("REDIS_URL") {
        Some(url) => {
            let redis = Arc::new(RedisStore::connect(&url, RedisOptions::default()).await?);
            builder = builder
                .rate_limiter(redis.clone())
                .shared_usage(redis.clone())
                .health_check(redis.clone());
            Some(redis)
        }
        None => None,
    };
    let store = match env("DATABASE_URL") {
        Some(url) => {
            let secret = secret.as_deref().ok_or(
                "DATABASE_URL needs SENTRYAGENT_SECRET_KEY (32+ bytes, the same on every start): it encrypts the \
                 signing keys and peppers the client-secret hashes stored there",
            )?;
            let mut options = PgOptions::default();
            if let Some(n) = env("SENTRYAGENT_DB_MAX_CONNECTIONS") {
                options = options.max_connections(number("SENTRYAGENT_DB_MAX_CONNECTIONS", &n)? as u32);
            }
            if let Some(schema) = env("SENTRYAGENT_DB_SCHEMA") {
                options = options.schema(schema);
            }
            if env("SENTRYAGENT_DB_MIGRATE").is_some_and(|v| v == "false" || v == "0") {
                options = options.migrate(false);
            }
            let pg = Arc::new(PgStore::connect(&url, secret.as_bytes(), options).await?);
            let revocations: Arc<dyn RevocationList> = match &redis {
                Some(redis) => redis.clone(),
                None => pg.clone(),
            };
            builder = builder
                .stores(Stores::new(pg.clone(), revocations))
                .group_commit(true)
                .health_check(pg);
            "postgres"
        }
        None => {
            if let Some(redis) = &redis {
                builder = builder.revocation_list(redis.clone());
            }
            "memory"
        }
    };
    if let Some(redis) = &redis {
        // One GitHub OIDC token is exchanged once across every instance.
        builder = builder.replay_guard(redis.clone());
    }
    if let Some(dir) = env("SENTRYAGENT_USAGE_SPILL_DIR") {
        builder = builder.usage_spill_dir(dir);
    }
    let idp = builder.build().await?;
    tracing::info!(store, redis = redis.is_some(), %issuer, "SentryAgent starting");
    Ok((idp, bind))
}

/// A boolean setting: `true`/`false` (also `1`/`0`, `on`/`off`, `yes`/`no`).
fn flag(name: &str, default: bool) -> Result<bool, BoxError> {
    match env(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["true", "1", "on", "yes"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["false", "0", "off", "no"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(format!("{name} must be true or false, not `{v}`").into()),
    }
}

/// The doors a public SaaS opens and the library keeps closed: the example
/// server opens them by default, says so at start-up, and each has a setting.
/// `SENTRYAGENT_OPERATOR_KEY` (sign-up needs it), `SENTRYAGENT_SIGNUP`
/// (`open` or `closed`, default `open`), `SENTRYAGENT_LIST_NEW_AGENTS`
/// (default `true`) and `SENTRYAGENT_ENFORCE_TIERS` (default `true`).
fn doors(mut builder: SentryAgentBuilder) -> Result<SentryAgentBuilder, BoxError> {
    match (env("SENTRYAGENT_OPERATOR_KEY"), env("SENTRYAGENT_SIGNUP").as_deref()) {
        (Some(key), _) => builder = builder.operator_key(key),
        (None, None | Some("open")) => {
            tracing::warn!(
                "sign-up is open to anyone: set SENTRYAGENT_OPERATOR_KEY to close it (or SENTRYAGENT_SIGNUP=closed)"
            );
            builder = builder.signup(Signup::Open);
        }
        (None, Some("closed")) => builder = builder.signup(Signup::Closed),
        (None, Some(other)) => return Err(format!("SENTRYAGENT_SIGNUP must be open or closed, not `{other}`").into()),
    }
    if flag("SENTRYAGENT_LIST_NEW_AGENTS", true)? {
        tracing::warn!(
            "new agents are listed in the public marketplace unless registered with listed: false: set SENTRYAGENT_LIST_NEW_AGENTS=false to list them only when asked"
        );
        builder = builder.list_new_agents(true);
    }
    // BILLING_ENABLED=false is the older spelling.
    let enforce = flag("SENTRYAGENT_ENFORCE_TIERS", true)? && flag("BILLING_ENABLED", true)?;
    builder = builder.enforce_tiers(enforce);
    Ok(builder)
}

fn number(name: &str, value: &str) -> Result<u64, BoxError> {
    value
        .parse()
        .map_err(|_| format!("{name} must be a whole number, not `{value}`").into())
}

/// `SENTRYAGENT_RATE_LIMIT_<GROUP>=20/60s` per group (`TOKEN`,
/// `TOKEN_FAILURES`, `CLIENT_FAILURES`, `REFUSED_TOKENS`, `OAUTH`, `OIDC`,
/// `SIGNUP`, `AUDIT_VERIFY`, `MANAGEMENT`, `TENANT`, `PUBLIC`),
/// `SENTRYAGENT_RATE_LIMITS=off`, `SENTRYAGENT_RATE_LIMIT_FAIL_CLOSED=token,oidc`,
/// `SENTRYAGENT_TRUSTED_PROXIES=10.0.0.0/8,…` and
/// `SENTRYAGENT_FORWARDED_HEADER=x-forwarded-for|forwarded`.
fn limits(mut builder: SentryAgentBuilder) -> Result<SentryAgentBuilder, BoxError> {
    if env("SENTRYAGENT_RATE_LIMITS").is_some_and(|v| v == "off") {
        builder = builder.rate_limiting(false);
    }
    for group in RouteGroup::ALL {
        let name = format!(
            "SENTRYAGENT_RATE_LIMIT_{}",
            group.as_str().to_uppercase().replace('-', "_")
        );
        if let Some(value) = env(&name) {
            let quota: Quota = value.parse().map_err(|e| format!("{name}: {e}"))?;
            builder = builder.rate_limit(group, quota);
        }
    }
    for name in env("SENTRYAGENT_RATE_LIMIT_FAIL_CLOSED").unwrap_or_default().split(',') {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let group = RouteGroup::ALL
            .into_iter()
            .find(|g| g.as_str() == name)
            .ok_or_else(|| format!("SENTRYAGENT_RATE_LIMIT_FAIL_CLOSED: unknown route group `{name}`"))?;
        builder = builder.fail_closed(group);
    }
    for net in env("SENTRYAGENT_TRUSTED_PROXIES").unwrap_or_default().split(',') {
        if !net.trim().is_empty() {
            builder = builder.trusted_proxy(parse_net(net).map_err(|e| format!("SENTRYAGENT_TRUSTED_PROXIES: {e}"))?);
        }
    }
    if let Some(header) = env("SENTRYAGENT_FORWARDED_HEADER") {
        let header: ForwardedHeader = header
            .parse()
            .map_err(|e| format!("SENTRYAGENT_FORWARDED_HEADER: {e}"))?;
        builder = builder.forwarded_header(header);
    }
    Ok(builder)
}

/// `SENTRYAGENT_FREE_MAX_AGENTS`, `SENTRYAGENT_FREE_API_CALLS_PER_DAY` and
/// `SENTRYAGENT_QUOTA_CACHE_SECS` adjust the free tier and the summary cache.
fn tiers(mut builder: SentryAgentBuilder) -> Result<SentryAgentBuilder, BoxError> {
    if let Some(n) = env("SENTRYAGENT_FREE_MAX_AGENTS") {
        let n = number("SENTRYAGENT_FREE_MAX_AGENTS", &n)?;
        builder = builder.tier("free", |t| t.limits.max_agents = Some(n));
    }
    if let Some(n) = env("SENTRYAGENT_FREE_API_CALLS_PER_DAY") {
        let n = number("SENTRYAGENT_FREE_API_CALLS_PER_DAY", &n)?;
        builder = builder.tier("free", |t| t.limits.api_calls_per_day = Some(n));
    }
    for (tier, var) in [("pro", "STRIPE_PRICE_PRO"), ("enterprise", "STRIPE_PRICE_ENTERPRISE")] {
        if let Some(price) = env(var) {
            builder = builder.tier(tier, |t| t.price_id = Some(price));
        }
    }
    // STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and STRIPE_API_BASE; without
    // them the billing routes answer 503 and everything else works.
    if let Some(config) = StripeConfig::from_env()? {
        builder = builder.billing(Arc::new(StripeBilling::new(config)?));
    }
    if let Some(secs) = env("SENTRYAGENT_QUOTA_CACHE_SECS") {
        builder = builder.quota_cache_ttl(Duration::from_secs(number("SENTRYAGENT_QUOTA_CACHE_SECS", &secs)?));
    }
    Ok(builder)
}

/// GitHub Actions OIDC federation (`POST /oidc/token`): keys fetched with
/// reqwest; `SENTRYAGENT_GITHUB_ISSUER` (default GitHub's),
/// `SENTRYAGENT_GITHUB_JWKS_URL` (default: from the issuer's discovery
/// document) and `SENTRYAGENT_OIDC_AUDIENCE` (default: the issuer URL).
fn federation(mut builder: SentryAgentBuilder) -> Result<SentryAgentBuilder, BoxError> {
    let fetcher = sentryagent_federation_reqwest::ReqwestFetcher::new()
        .map_err(|e| format!("cannot set up the HTTP client for OIDC keys: {e}"))?;
    builder = builder.jwks_fetcher(Arc::new(fetcher));
    if let Some(issuer) = env("SENTRYAGENT_GITHUB_ISSUER") {
        builder = builder.oidc_issuer(issuer);
    }
    if let Some(url) = env("SENTRYAGENT_GITHUB_JWKS_URL") {
        builder = builder.oidc_jwks_url(url);
    }
    if let Some(audience) = env("SENTRYAGENT_OIDC_AUDIENCE") {
        builder = builder.oidc_audience(audience);
    }
    Ok(builder)
}

/// Starts the background work: usage flushes (`SENTRYAGENT_METERING_FLUSH_SECS`,
/// default 60) and the daily audit retention pass.
pub(crate) fn spawn_background(idp: &SentryAgent) -> Result<(), BoxError> {
    let secs = match env("SENTRYAGENT_METERING_FLUSH_SECS") {
        Some(v) => number("SENTRYAGENT_METERING_FLUSH_SECS", &v)?.max(1),
        None => 60,
    };
    idp.spawn_usage_flusher(Duration::from_secs(secs));
    tokio::spawn(prune_audit_daily(idp.clone()));
    Ok(())
}

/// After the server has stopped: flush the last usage counts, spilling
/// what the store does not take to `SENTRYAGENT_USAGE_SPILL_DIR` (the core
/// logs each tenant's unstored count either way).
pub(crate) async fn stop(idp: &SentryAgent) {
    let last = idp.flush_usage_at_shutdown().await;
    match &last.spill_file {
        Some(file) => tracing::warn!(flushed = last.written, spilled = last.spilled, file = %file.display(),
            "usage flushed; what the store did not take is spilled for the next start"),
        None if last.lost > 0 => tracing::error!(
            flushed = last.written,
            lost = last.lost,
            "usage flushed; what the store did not take is lost (SENTRYAGENT_USAGE_SPILL_DIR is not set)"
        ),
        None => tracing::info!(flushed = last.written, "usage flushed"),
    }
    tracing::info!("stopped");
}

/// Prunes the audit log past each tenant's retention window, once a day.
pub(crate) async fn prune_audit_daily(idp: SentryAgent) {
    let mut every_day = tokio::time::interval(Duration::from_secs(24 * 3600));
    loop {
        every_day.tick().await;
        match idp.prune_audit(sentryagent_core::time::now()).await {
            Ok(n) => tracing::info!(pruned = n, "audit retention pass"),
            Err(e) => tracing::warn!(error = %e, "audit retention pass failed"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
