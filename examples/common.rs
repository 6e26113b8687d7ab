//! What the example servers share, whatever the framework: the IdP their
//! settings describe (typed and checked in `sentryagent_examples::config`),
//! logs, the default tenant, audit retention, the `/whoami` answer, graceful
//! shutdown, and the operator commands (`recover-admin`, `reanchor-audit`,
//! `check-config`). Each server includes it with `mod common;`.

use std::future::Future;
use std::time::Duration;

use std::sync::Arc;

use sentryagent_billing_stripe::{StripeBilling, StripeConfig};
use sentryagent_core::authorization::HostUsers;
use sentryagent_core::resource::ResourcePolicy;
use sentryagent_core::{BackgroundTask, SentryAgent, SentryAgentBuilder, Signup, TenantId};
use sentryagent_examples::config::{Config, LoadError, LogFormat, MetricsBind, OpenSignup, Operator};
use sentryagent_store_postgres::{PgOptions, PgStore};
use sentryagent_store_redis::{RedisOptions, RedisStore};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads the settings (exiting with status 2 and a message naming the
/// variable when one is wrong), logs to stderr, runs `serve` (or the
/// operator command the arguments name), and exits with status 1 on its
/// error.
pub(crate) async fn main<F: Future<Output = Result<(), BoxError>>>(serve: impl FnOnce(Config) -> F) {
    let loaded = match Config::load() {
        Ok(loaded) => loaded,
        Err(LoadError::Help(help)) => help.exit(),
        Err(LoadError::Invalid(message)) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    let config = loaded.config;
    // Lives until main ends: dropping it writes out every gathered log line.
    let log_writer = match logs(&config) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: cannot start the log writer: {e}");
            std::process::exit(1);
        }
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let result = match &config.command {
        None => match metrics(&config) {
            Ok(()) => serve(config).await,
            Err(e) => Err(e),
        },
        Some(Operator::RecoverAdmin { tenant }) => recover_admin(&config, *tenant).await,
        Some(Operator::ReanchorAudit { tenant }) => reanchor_audit(&config, *tenant).await,
        Some(Operator::CheckConfig) => {
            println!("the settings are valid ({} warnings)", loaded.warnings.len());
            Ok(())
        }
    };
    if let Err(e) = result {
        tracing::error!("{e}");
        // `exit` runs no destructors: the gathered lines are written first.
        drop(log_writer);
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Logs to stderr in the configured format; colour only when stderr is a
/// terminal, so files and collectors get no escape codes.
///
/// Lines go through [`crate::log_writer`]: gathered in memory and written
/// out by one thread every few milliseconds, so under load a request's
/// access-log line costs neither a system call nor a thread wake-up. None
/// is dropped, and the returned guard, kept by `main`, writes out whatever
/// is gathered when it is dropped.
fn logs(config: &Config) -> Result<crate::log_writer::Guard, BoxError> {
    use std::io::IsTerminal as _;
    let (writer, guard) = crate::log_writer::to(std::io::stderr())?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&config.log))
        .with_writer(writer);
    match config.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    Ok(guard)
}

/// The Prometheus endpoint (`GET /metrics`) on its own address, loopback by
/// default: the metrics name routes, tenants' activity and backends, which
/// are the operator's business, not the public's. `off`: no recorder, and
/// every metric call is a no-op.
fn metrics(config: &Config) -> Result<(), BoxError> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let MetricsBind::At(bind) = config.metrics_bind else {
        return Ok(());
    };
    // Histograms with buckets (not summaries), so quantiles can be taken
    // across instances: from 0.5 ms (a cached token check) to 10 s.
    let seconds = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
    PrometheusBuilder::new()
        .with_http_listener(bind)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &seconds)?
        .set_buckets_for_metric(
            Matcher::Full(sentryagent_core::observe::names::AUDIT_BATCH_SIZE.to_owned()),
            &sizes,
        )?
        .install()
        .map_err(|e| format!("cannot serve metrics on {bind} (SENTRYAGENT_METRICS_BIND): {e}"))?;
    tracing::info!(%bind, "Prometheus metrics at /metrics");
    Ok(())
}

/// The IdP of an operator command: the durable store the settings name.
async fn operator_idp(config: &Config, command: &str) -> Result<SentryAgent, BoxError> {
    if config.backends.database_url.is_none() {
        return Err(format!(
            "{command} needs DATABASE_URL and SENTRYAGENT_SECRET_KEY, as the server runs with: an in-memory server's \
             tenants live only in its own process"
        )
        .into());
    }
    build(config, None).await
}

/// `recover-admin --tenant <id>`: a new admin credential for a tenant whose
/// admin secret is lost, printed once like the first start's; audited as
/// `credential.created` by `operator`; nothing is revoked.
async fn recover_admin(config: &Config, tenant: TenantId) -> Result<(), BoxError> {
    let idp = operator_idp(config, "recover-admin").await?;
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
async fn reanchor_audit(config: &Config, tenant: TenantId) -> Result<(), BoxError> {
    let idp = operator_idp(config, "reanchor-audit").await?;
    match idp.reanchor_audit(tenant, "operator").await? {
        Some(lost_at) => println!("re-anchored: the checkpoint was missing at seq {lost_at}"),
        None => println!("nothing to re-anchor: the checkpoint is intact"),
    }
    Ok(())
}

/// The IdP the settings describe (see the README's table), listening.
/// On an empty store it makes
/// the default tenant and prints its admin credential on stdout, once, and
/// only once the port is bound: a start that cannot listen must not print
/// (and lose) the only copy of the admin secret.
pub(crate) async fn start(
    config: &Config,
    users: Option<Arc<dyn HostUsers>>,
) -> Result<(SentryAgent, TcpListener, TenantId), BoxError> {
    let idp = build(config, users).await?;
    let bind = config.backends.bind;
    // Before listening: once the port answers, the spilled usage is in the store.
    match idp.recover_spilled_usage().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(counts = n, "usage spilled by an earlier shutdown stored"),
        Err(e) => tracing::warn!(error = %e, "spilled usage not stored yet; the background task tries again"),
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
    if config.dynamic_client_registration {
        tracing::warn!(
            "dynamic client registration is open: anyone may register OAuth clients into the default tenant \
             (unset SENTRYAGENT_DYNAMIC_CLIENT_REGISTRATION to close it)"
        );
        idp.set_dynamic_client_registration(Some(default_tenant));
    }
    // The host route `/whoami` is a resource of its own: the default
    // tenant's agents only, unless SENTRYAGENT_WHOAMI_ANY_TENANT widens it.
    let whoami = ResourcePolicy::new(idp.settings().audience.clone()).tenant(default_tenant);
    if config.whoami_any_tenant {
        tracing::warn!(
            "GET /whoami accepts the agents of every tenant: unset SENTRYAGENT_WHOAMI_ANY_TENANT to accept the default tenant's only"
        );
        idp.protect(whoami.any_tenant());
    } else {
        idp.protect(whoami);
    }
    Ok((idp, listener, default_tenant))
}

/// The IdP the settings describe.
async fn build(config: &Config, users: Option<Arc<dyn HostUsers>>) -> Result<SentryAgent, BoxError> {
    let issuer = config.issuer();
    let mut builder = SentryAgent::builder().issuer(&issuer).api_path("/api/v1");
    if let Some(users) = users {
        builder = builder.host_users(users);
    }
    builder = doors(builder, config);
    let secret = config.backends.secret_key.as_deref();
    if let Some(secret) = secret {
        builder = builder
            .server_secret(secret.as_bytes())
            .map_err(|e| format!("SENTRYAGENT_SECRET_KEY: {e}"))?;
    }
    builder = builder
        .signing_algorithm(config.signing_alg)
        .token_ttl(Duration::from_secs(config.token_ttl_secs));
    builder = limits(builder, config);
    builder = tiers(builder, config)?;
    builder = federation(builder, config)?;
    builder = builder
        .marketplace(config.marketplace_enabled)
        .metrics_tenant_label(config.metrics_tenant_label);

    // Backends: PostgreSQL for durable records, Redis for shared hot state.
    let redis = config.backends.redis_url.is_some();
    if let Some(url) = &config.backends.redis_url {
        builder = builder.hot_state(Arc::new(RedisStore::connect(url, RedisOptions::default()).await?));
    }
    let store = match &config.backends.database_url {
        Some(url) => {
            // `Config::load` refuses DATABASE_URL without a secret key.
            let secret = secret.ok_or("DATABASE_URL needs SENTRYAGENT_SECRET_KEY")?;
            let options = PgOptions::default()
                .max_connections(config.db_max_connections)
                .schema(config.db_schema.clone())
                .migrate(config.db_migrate);
            builder = builder.durable(Arc::new(PgStore::connect(url, secret.as_bytes(), options).await?));
            "postgres"
        }
        None => "memory",
    };
    builder = builder.usage_flush_interval(Duration::from_secs(config.metering_flush_secs));
    builder = builder.audit_full_verification(
        (config.audit_full_verification_secs > 0).then(|| Duration::from_secs(config.audit_full_verification_secs)),
    );
    if let Some(dir) = &config.usage_spill_dir {
        builder = builder.usage_spill_dir(dir);
    }
    let idp = builder.build().await?;
    tracing::info!(store, redis, %issuer, "SentryAgent starting");
    Ok(idp)
}

/// The doors a public SaaS opens and the library keeps closed: the example
/// server opens them by default, says so at start-up, and each has a setting
/// (`SENTRYAGENT_OPERATOR_KEY`, `SENTRYAGENT_SIGNUP`,
/// `SENTRYAGENT_LIST_NEW_AGENTS`, `SENTRYAGENT_ENFORCE_TIERS`).
fn doors(mut builder: SentryAgentBuilder, config: &Config) -> SentryAgentBuilder {
    match (&config.operator_key, config.signup) {
        (Some(key), _) => builder = builder.operator_key(key.clone()),
        (None, OpenSignup::Open) => {
            tracing::warn!(
                "sign-up is open to anyone: set SENTRYAGENT_OPERATOR_KEY to close it (or SENTRYAGENT_SIGNUP=closed)"
            );
            builder = builder.signup(Signup::Open);
        }
        (None, OpenSignup::Closed) => builder = builder.signup(Signup::Closed),
    }
    if config.list_new_agents {
        tracing::warn!(
            "new agents are listed in the public marketplace unless registered with listed: false: set SENTRYAGENT_LIST_NEW_AGENTS=false to list them only when asked"
        );
        builder = builder.list_new_agents(true);
    }
    builder.enforce_tiers(config.enforce_tiers)
}

/// The quota of each route group, rate limiting on or off, the groups that
/// fail closed, and the trusted proxies with their header.
fn limits(mut builder: SentryAgentBuilder, config: &Config) -> SentryAgentBuilder {
    builder = builder.rate_limiting(config.rate_limits);
    for (group, quota) in &config.quotas.0 {
        builder = builder.rate_limit(*group, *quota);
    }
    for group in &config.rate_limit_fail_closed {
        builder = builder.fail_closed(*group);
    }
    for net in &config.trusted_proxies {
        builder = builder.trusted_proxy(*net);
    }
    builder.forwarded_header(config.forwarded_header)
}

/// The free tier's limits, the paid tiers' Stripe prices, Stripe itself
/// (without it the billing routes answer 503 and everything else works) and
/// the quota summary cache.
fn tiers(mut builder: SentryAgentBuilder, config: &Config) -> Result<SentryAgentBuilder, BoxError> {
    let (max_agents, calls) = (config.free_max_agents, config.free_api_calls_per_day);
    builder = builder.tier("free", |t| {
        t.limits.max_agents = Some(max_agents);
        t.limits.api_calls_per_day = Some(calls);
    });
    for (tier, price) in [
        ("pro", &config.stripe_price_pro),
        ("enterprise", &config.stripe_price_enterprise),
    ] {
        if let Some(price) = price {
            builder = builder.tier(tier, |t| t.price_id = Some(price.clone()));
        }
    }
    if let (Some(secret_key), Some(webhook_secret)) = (&config.stripe_secret_key, &config.stripe_webhook_secret) {
        let stripe = StripeConfig {
            secret_key: secret_key.clone(),
            webhook_secret: webhook_secret.clone(),
            api_base: config.stripe_api_base.clone(),
        };
        builder = builder.billing(Arc::new(StripeBilling::new(stripe)?));
    }
    Ok(builder.quota_cache_ttl(Duration::from_secs(config.quota_cache_secs)))
}

/// GitHub Actions OIDC federation (`POST /oidc/token`), the JWT bearer
/// grant for the issuers tenants register, and Client ID Metadata Documents
/// (both through the guarded fetcher): keys fetched with
/// reqwest from `SENTRYAGENT_GITHUB_JWKS_URL` (default: from the issuer's
/// discovery document); `SENTRYAGENT_OIDC_AUDIENCE` defaults to the issuer.
fn federation(mut builder: SentryAgentBuilder, config: &Config) -> Result<SentryAgentBuilder, BoxError> {
    let fetcher = sentryagent_federation_reqwest::ReqwestFetcher::new()
        .map_err(|e| format!("cannot set up the HTTP client for OIDC keys: {e}"))?;
    // Tenants choose the issuers of the JWT bearer grant: fetched only from public addresses.
    let guarded = sentryagent_federation_reqwest::GuardedFetcher::new()
        .map_err(|e| format!("cannot set up the HTTP client for OIDC issuers: {e}"))?;
    // MCP clients choose the URLs of their metadata documents: the same guarded fetcher.
    builder = builder
        .jwks_fetcher(Arc::new(fetcher))
        .client_metadata_fetcher(Arc::new(guarded.clone()))
        .issuer_fetcher(Arc::new(guarded))
        .oidc_issuer(config.github_issuer.clone());
    if let Some(url) = &config.github_jwks_url {
        builder = builder.oidc_jwks_url(url.clone());
    }
    if let Some(audience) = &config.oidc_audience {
        builder = builder.oidc_audience(audience.clone());
    }
    Ok(builder)
}

/// After the server has stopped: the background task's last usage flush,
/// spilling what the store does not take to `SENTRYAGENT_USAGE_SPILL_DIR`
/// (the core logs each tenant's unstored count either way).
pub(crate) async fn stop(background: BackgroundTask) {
    let last = background.stop().await;
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

/// Resolves on SIGINT or SIGTERM, and logs it. Call it before binding
/// (see `shutdown::shutdown_signal`).
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    let signal = crate::shutdown::shutdown_signal();
    async move {
        signal.await;
        tracing::info!("shutting down");
    }
}
