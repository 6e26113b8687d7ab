//! The example servers' settings: one typed definition, read by clap from
//! the environment (each variable is also a flag: `SENTRYAGENT_BIND` is
//! `--bind`). Every value is checked at start-up against its valid form, so
//! a wrong setting stops the server with a message naming the variable and
//! that form, instead of a panic later or a silent default. Unknown
//! `SENTRYAGENT_*` variables and the older unprefixed names are warned
//! about. The README's table of settings is [`settings_table`], kept equal
//! by a test.
//!
//! Well-known unprefixed variables stay as they are: `DATABASE_URL` and
//! `REDIS_URL` (the names every platform sets), Stripe's `STRIPE_*`, and
//! `RUST_LOG`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, CommandFactory, FromArgMatches, Parser, Subcommand};
use sentryagent_core::http::client_ip::{ForwardedHeader, parse_net};
use sentryagent_core::ipnet::IpNet;
use sentryagent_core::ratelimit::{Quota, RouteGroup};
use sentryagent_core::token::SigningAlgorithm;
use sentryagent_core::{SentryAgentBuilder, TenantId};

/// Every setting of the example servers, and the operator command to run
/// instead of serving, if any.
#[derive(Debug, Parser)]
#[command(
    name = "server",
    about = "The SentryAgent example server. Settings come from the environment (or the flags of the same names).",
    after_help = "Run without a command to serve."
)]
pub struct Config {
    /// An operator command instead of serving.
    #[command(subcommand)]
    pub command: Option<Operator>,

    /// Where to listen, and the backends.
    #[command(flatten)]
    pub backends: Backends,

    /// issuer (`iss`) and public base URL; the default audience
    #[arg(long, env = "SENTRYAGENT_ISSUER", value_name = "URL", value_parser = web_url)]
    pub issuer: Option<String>,

    /// when set, `POST /tenants` needs `Authorization: Bearer <key>` (16+ bytes)
    #[arg(long, env = "SENTRYAGENT_OPERATOR_KEY", value_name = "KEY", hide_env_values = true,
          value_parser = secret(16))]
    pub operator_key: Option<String>,

    /// `open` (anyone may sign up, logged at start) or `closed` (`403 SIGNUP_CLOSED`) when no operator key is set
    #[arg(long, env = "SENTRYAGENT_SIGNUP", value_name = "open|closed", default_value = "open",
          value_parser = signup)]
    pub signup: OpenSignup,

    /// new agents are listed in the marketplace unless registered with `listed: false` (logged at start); `false`: only when asked
    #[arg(long, env = "SENTRYAGENT_LIST_NEW_AGENTS", value_name = "BOOL", default_value = "true",
          action = ArgAction::Set, value_parser = boolean)]
    pub list_new_agents: bool,

    /// `false` turns tier enforcement off; metering goes on
    #[arg(long, env = "SENTRYAGENT_ENFORCE_TIERS", value_name = "BOOL", default_value = "true",
          action = ArgAction::Set, value_parser = boolean)]
    pub enforce_tiers: bool,

    /// The deprecated name of `SENTRYAGENT_ENFORCE_TIERS`.
    #[arg(long = "billing-enabled", env = "BILLING_ENABLED", hide = true, action = ArgAction::Set,
          value_parser = boolean)]
    billing_enabled: Option<bool>,

    /// `true`: `/whoami` accepts the agents of every tenant, not only the default tenant's (logged at start)
    #[arg(long, env = "SENTRYAGENT_WHOAMI_ANY_TENANT", value_name = "BOOL", default_value = "false",
          action = ArgAction::Set, value_parser = boolean)]
    pub whoami_any_tenant: bool,

    /// `true`: dynamic client registration (RFC 7591, `POST /api/v1/oauth2/register`) is open, the clients joining the default tenant (logged at start)
    #[arg(long, env = "SENTRYAGENT_DYNAMIC_CLIENT_REGISTRATION", value_name = "BOOL", default_value = "false",
          action = ArgAction::Set, value_parser = boolean)]
    pub dynamic_client_registration: bool,

    /// `ES256`, `EdDSA` or `RS256`
    #[arg(long, env = "SENTRYAGENT_SIGNING_ALG", value_name = "ALG", default_value = "ES256",
          value_parser = signing_alg)]
    pub signing_alg: SigningAlgorithm,

    /// access-token lifetime, from 1 to 86400 seconds
    #[arg(long, env = "SENTRYAGENT_TOKEN_TTL_SECS", value_name = "SECONDS", default_value = "3600",
          value_parser = whole(1, SentryAgentBuilder::MAX_TOKEN_TTL.as_secs()))]
    pub token_ttl_secs: u64,

    /// the schema holding SentryAgent's tables and migrations table (lower-case letters, digits and `_`)
    #[arg(long, env = "SENTRYAGENT_DB_SCHEMA", value_name = "NAME", default_value = "sentryagent",
          value_parser = schema)]
    pub db_schema: String,

    /// pool size, from 1 to 1000
    #[arg(long, env = "SENTRYAGENT_DB_MAX_CONNECTIONS", value_name = "N", default_value = "10",
          value_parser = whole(1, 1000).map(|n| n as u32))]
    pub db_max_connections: u32,

    /// `false`: do not migrate on start (operators who migrate separately)
    #[arg(long, env = "SENTRYAGENT_DB_MIGRATE", value_name = "BOOL", default_value = "true",
          action = ArgAction::Set, value_parser = boolean)]
    pub db_migrate: bool,

    /// `false` (or `off`) disables rate limiting (load tests)
    #[arg(long, env = "SENTRYAGENT_RATE_LIMITS", value_name = "BOOL", default_value = "true",
          action = ArgAction::Set, value_parser = boolean)]
    pub rate_limits: bool,

    /// The quota of each route group.
    #[command(flatten)]
    pub quotas: Quotas,

    /// groups that answer 503 rather than limit per instance while Redis is down, named as in `SENTRYAGENT_RATE_LIMIT_<GROUP>`, e.g. `TOKEN,SIGNUP`
    #[arg(long, env = "SENTRYAGENT_RATE_LIMIT_FAIL_CLOSED", value_name = "GROUPS", value_delimiter = ',',
          value_parser = route_group)]
    pub rate_limit_fail_closed: Vec<RouteGroup>,

    /// addresses or ranges (`10.0.0.0/8`) of the proxies whose forwarding header is believed, comma-separated
    #[arg(long, env = "SENTRYAGENT_TRUSTED_PROXIES", value_name = "NETS", value_delimiter = ',',
          value_parser = |s: &str| parse_net(s))]
    pub trusted_proxies: Vec<IpNet>,

    /// the header those proxies set: `x-forwarded-for` or `forwarded` (RFC 7239); the other one is ignored
    #[arg(long, env = "SENTRYAGENT_FORWARDED_HEADER", value_name = "HEADER", default_value = "x-forwarded-for",
          value_parser = |s: &str| s.parse::<ForwardedHeader>())]
    pub forwarded_header: ForwardedHeader,

    /// the free tier's number of agents
    #[arg(long, env = "SENTRYAGENT_FREE_MAX_AGENTS", value_name = "N", default_value = "10",
          value_parser = whole(0, 1_000_000_000))]
    pub free_max_agents: u64,

    /// the free tier's API calls per UTC day
    #[arg(long, env = "SENTRYAGENT_FREE_API_CALLS_PER_DAY", value_name = "N", default_value = "1000",
          value_parser = whole(0, 1_000_000_000_000_000))]
    pub free_api_calls_per_day: u64,

    /// Stripe API key (with `STRIPE_WEBHOOK_SECRET`)
    #[arg(long, env = "STRIPE_SECRET_KEY", value_name = "KEY", hide_env_values = true,
          value_parser = secret(1))]
    pub stripe_secret_key: Option<String>,

    /// Stripe webhook signing secret
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", value_name = "SECRET", hide_env_values = true,
          value_parser = secret(1))]
    pub stripe_webhook_secret: Option<String>,

    /// another Stripe API base URL (a local stand-in)
    #[arg(long, env = "STRIPE_API_BASE", value_name = "URL", value_parser = web_url)]
    pub stripe_api_base: Option<String>,

    /// the Stripe price id of the `pro` tier
    #[arg(long, env = "STRIPE_PRICE_PRO", value_name = "PRICE", value_parser = word)]
    pub stripe_price_pro: Option<String>,

    /// the Stripe price id of the `enterprise` tier
    #[arg(long, env = "STRIPE_PRICE_ENTERPRISE", value_name = "PRICE", value_parser = word)]
    pub stripe_price_enterprise: Option<String>,

    /// how often usage counts are written to the store (and at shutdown), from 1 to 86400 seconds
    #[arg(long, env = "SENTRYAGENT_METERING_FLUSH_SECS", value_name = "SECONDS", default_value = "60",
          value_parser = whole(1, 86_400))]
    pub metering_flush_secs: u64,

    /// how often the background task verifies each tenant's audit chain in full, from 60 to 31536000 seconds; 0 turns it off (`GET /audit/verify?mode=full` still works)
    #[arg(long, env = "SENTRYAGENT_AUDIT_FULL_VERIFICATION_SECS", value_name = "SECONDS", default_value = "86400",
          value_parser = whole_or_off(60, 31_536_000))]
    pub audit_full_verification_secs: u64,

    /// a directory where the last flush writes the usage counts the store did not take (the database down at SIGTERM); the next start (of any instance mounting it) stores them, once
    #[arg(long, env = "SENTRYAGENT_USAGE_SPILL_DIR", value_name = "DIR")]
    pub usage_spill_dir: Option<PathBuf>,

    /// how long a tenant's tier and usage summary are cached for enforcement, from 1 to 3600 seconds
    #[arg(long, env = "SENTRYAGENT_QUOTA_CACHE_SECS", value_name = "SECONDS", default_value = "60",
          value_parser = whole(1, 3_600))]
    pub quota_cache_secs: u64,

    /// issuer of the workflow OIDC tokens `POST /oidc/token` accepts (GitHub Enterprise Server: `https://HOST/_services/token`)
    #[arg(long, env = "SENTRYAGENT_GITHUB_ISSUER", value_name = "URL",
          default_value = sentryagent_core::federation::GITHUB_ISSUER, value_parser = web_url)]
    pub github_issuer: String,

    /// where the issuer's signing keys are
    #[arg(long, env = "SENTRYAGENT_GITHUB_JWKS_URL", value_name = "URL", value_parser = web_url)]
    pub github_jwks_url: Option<String>,

    /// the `aud` workflow tokens must carry; the Actions default to the origin of their `api-url`
    #[arg(long, env = "SENTRYAGENT_OIDC_AUDIENCE", value_name = "AUDIENCE", value_parser = word)]
    pub oidc_audience: Option<String>,

    /// `false` turns the public marketplace off (its routes answer 404); DID documents are still served
    #[arg(long, env = "SENTRYAGENT_MARKETPLACE_ENABLED", value_name = "BOOL", default_value = "true",
          action = ArgAction::Set, value_parser = boolean)]
    pub marketplace_enabled: bool,

    /// The deprecated name of `SENTRYAGENT_MARKETPLACE_ENABLED`.
    #[arg(long = "legacy-marketplace-enabled", env = "MARKETPLACE_ENABLED", hide = true,
          action = ArgAction::Set, value_parser = boolean)]
    legacy_marketplace_enabled: Option<bool>,

    /// log filter (logs go to stderr, never with secrets or tokens)
    #[arg(long, env = "RUST_LOG", value_name = "FILTER", default_value = "info", value_parser = log_filter)]
    pub log: String,

    /// `text` (coloured only on a terminal) or `json` (one object per line, for a log collector); each request ends with one access line (target `sentryagent::access`)
    #[arg(long, env = "SENTRYAGENT_LOG_FORMAT", value_name = "text|json", default_value = "text",
          value_parser = log_format)]
    pub log_format: LogFormat,

    /// where Prometheus scrapes `/metrics` (loopback by default: not the public port, see [Metrics](docs/observability.md)); `off` serves no metrics
    #[arg(long, env = "SENTRYAGENT_METRICS_BIND", value_name = "ADDRESS|off", default_value = "127.0.0.1:9464",
          value_parser = metrics_bind)]
    pub metrics_bind: MetricsBind,

    /// TEST ONLY: `yes-approve-everything` approves every authorization request as the demo user, with no sign-in and no consent page (logged loudly at start); any other value refuses to start
    #[arg(long, env = "SENTRYAGENT_TEST_ONLY_AUTO_APPROVE_AS_DEMO_USER", value_name = "yes-approve-everything",
          value_parser = approve_everything)]
    pub test_only_auto_approve_as_demo_user: Option<ApproveEverything>,

    /// `true` adds a `tenant` label to the HTTP metrics: a series per tenant, for few tenants only
    #[arg(long, env = "SENTRYAGENT_METRICS_TENANT_LABEL", value_name = "BOOL", default_value = "false",
          action = ArgAction::Set, value_parser = boolean)]
    pub metrics_tenant_label: bool,
}

/// `SENTRYAGENT_TEST_ONLY_AUTO_APPROVE_AS_DEMO_USER=yes-approve-everything`:
/// the only value that turns the automatic approval on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApproveEverything;

/// The value that turns the test-only automatic approval on.
pub const APPROVE_EVERYTHING: &str = "yes-approve-everything";

fn approve_everything(s: &str) -> Result<ApproveEverything, String> {
    match s {
        APPROVE_EVERYTHING => Ok(ApproveEverything),
        _ => Err(format!(
            "the only value is `{APPROVE_EVERYTHING}`, which approves every authorization request as the demo user \
             (tests only); unset the variable to keep sign-in and consent"
        )),
    }
}

/// `SENTRYAGENT_LOG_FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `SENTRYAGENT_METRICS_BIND`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsBind {
    /// No metrics endpoint (metrics are not recorded either).
    Off,
    /// Serve `/metrics` here.
    At(SocketAddr),
}

/// Where to listen and the backends: the part of [`Config`] an embedding
/// host needs too (the embed examples read only these, with
/// [`Backends::load`]).
#[derive(Clone, Debug, Args)]
pub struct Backends {
    /// address to listen on
    #[arg(long, env = "SENTRYAGENT_BIND", value_name = "ADDRESS", default_value = "127.0.0.1:3000",
          value_parser = parse_bind)]
    pub bind: SocketAddr,

    /// master secret (32+ bytes) for the client-secret pepper and the audit-checkpoint key; must be stable for a durable store
    #[arg(long, env = "SENTRYAGENT_SECRET_KEY", value_name = "SECRET", hide_env_values = true,
          value_parser = secret(32))]
    pub secret_key: Option<String>,

    /// PostgreSQL for every durable record (needs `SENTRYAGENT_SECRET_KEY`); the server logs `store="postgres"` or `store="memory"` at start
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true,
          value_parser = url_of(&["postgres", "postgresql"]))]
    pub database_url: Option<String>,

    /// Redis for rate limits, revoked tokens and shared usage counters, so many instances act as one
    #[arg(long, env = "REDIS_URL", value_name = "URL", hide_env_values = true,
          value_parser = url_of(&["redis", "rediss", "unix", "redis+unix"]))]
    pub redis_url: Option<String>,
}

impl Backends {
    /// Reads these settings alone from the environment (the embed examples).
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn load() -> Result<Self, LoadError> {
        let command = without_empty_variables(Self::augment_args(Command::new("embed")));
        let matches = command.try_get_matches_from(std::env::args_os()).map_err(load_error)?;
        let backends = Self::from_arg_matches(&matches).map_err(load_error)?;
        backends.check()?;
        Ok(backends)
    }

    /// A durable store needs its stable secret.
    fn check(&self) -> Result<(), LoadError> {
        if self.database_url.is_some() && self.secret_key.is_none() {
            return Err(LoadError::Invalid(
                "DATABASE_URL needs SENTRYAGENT_SECRET_KEY (32+ bytes, the same on every start): it encrypts the \
                 signing keys and peppers the client-secret hashes stored there"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

/// The operator commands, run with the server's settings (its
/// `DATABASE_URL` and `SENTRYAGENT_SECRET_KEY`) instead of serving.
#[derive(Debug, Subcommand)]
pub enum Operator {
    /// A new admin credential for a tenant whose admin secret is lost,
    /// printed once like the first start's (audited; nothing is revoked).
    RecoverAdmin {
        /// The tenant's id (a UUID).
        #[arg(long, value_parser = tenant_id)]
        tenant: TenantId,
    },
    /// Re-anchors a tenant's audit chain whose checkpoint was lost (audited).
    ReanchorAudit {
        /// The tenant's id (a UUID).
        #[arg(long, value_parser = tenant_id)]
        tenant: TenantId,
    },
    /// Checks the settings, prints what is wrong or suspicious, and exits.
    CheckConfig,
}

/// `SENTRYAGENT_SIGNUP` when no operator key is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenSignup {
    /// Anyone may sign up.
    Open,
    /// Nobody over HTTP.
    Closed,
}

/// `SENTRYAGENT_RATE_LIMIT_<GROUP>`: one variable per route group, made
/// from [`RouteGroup::ALL`] so that a new group gets its variable.
#[derive(Clone, Debug, Default)]
pub struct Quotas(pub Vec<(RouteGroup, Quota)>);

/// `TOKEN_FAILURES` for [`RouteGroup::TokenFailures`]: the spelling of the
/// variables and of `SENTRYAGENT_RATE_LIMIT_FAIL_CLOSED`.
pub fn group_name(group: RouteGroup) -> String {
    group.as_str().to_uppercase().replace('-', "_")
}

fn quota_id(group: RouteGroup) -> String {
    format!("rate_limit_{}", group.as_str().replace('-', "_"))
}

impl FromArgMatches for Quotas {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self(
            RouteGroup::ALL
                .into_iter()
                .filter_map(|g| matches.get_one::<Quota>(&quota_id(g)).map(|q| (g, *q)))
                .collect(),
        ))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for Quotas {
    fn augment_args(cmd: Command) -> Command {
        RouteGroup::ALL.into_iter().fold(cmd, |cmd, group| {
            let name = group_name(group);
            cmd.arg(
                Arg::new(quota_id(group))
                    .long(format!("rate-limit-{}", group.as_str()))
                    .env(format!("SENTRYAGENT_RATE_LIMIT_{name}"))
                    .value_name("QUOTA")
                    .default_value(group.default_quota().to_string())
                    .value_parser(|s: &str| s.parse::<Quota>())
                    .help(format!("quota of the `{name}` group (see [Rate limits](#rate-limits))")),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// Variables of other SentryAgent programs (the CLI, the GitHub Actions,
/// the test suites) and the server's own output: not settings of the
/// server, and not misspellings of one.
const OTHER_PROGRAMS: &[&str] = &[
    "SENTRYAGENT_ADMIN_CLIENT_ID",
    "SENTRYAGENT_ADMIN_CLIENT_SECRET",
    "SENTRYAGENT_URL",
    "SENTRYAGENT_CLIENT_ID",
    "SENTRYAGENT_CLIENT_SECRET",
    "SENTRYAGENT_TOKEN_CLIENT_SECRET",
    "SENTRYAGENT_PROFILE",
    "SENTRYAGENT_API_URL",
    "SENTRYAGENT_AUDIENCE",
    "SENTRYAGENT_TENANT_ID",
    "SENTRYAGENT_AGENT_ID",
    "SENTRYAGENT_AGENT_NAME",
    "SENTRYAGENT_AGENT_SCOPES",
    "SENTRYAGENT_AGENT_DESCRIPTION",
    "SENTRYAGENT_REQUIRE_SERVICES",
    "SENTRYAGENT_REQUIRE_SHELLS",
];

/// The older names still read, each with its current one.
const DEPRECATED: &[(&str, &str)] = &[
    ("BILLING_ENABLED", "SENTRYAGENT_ENFORCE_TIERS"),
    ("MARKETPLACE_ENABLED", "SENTRYAGENT_MARKETPLACE_ENABLED"),
];

/// The README's "default" of the settings without a value of their own.
const UNSET: &[(&str, &str)] = &[
    ("SENTRYAGENT_ISSUER", "`http://<bind>`"),
    ("SENTRYAGENT_OPERATOR_KEY", "unset"),
    ("SENTRYAGENT_SECRET_KEY", "random per start"),
    ("DATABASE_URL", "unset: in-memory store"),
    ("REDIS_URL", "unset: per-instance state"),
    ("SENTRYAGENT_RATE_LIMIT_FAIL_CLOSED", "none"),
    ("SENTRYAGENT_TRUSTED_PROXIES", "none"),
    ("STRIPE_SECRET_KEY", "unset: billing routes answer 503"),
    ("STRIPE_WEBHOOK_SECRET", "unset"),
    ("STRIPE_API_BASE", "Stripe's"),
    ("STRIPE_PRICE_PRO", "unset"),
    ("STRIPE_PRICE_ENTERPRISE", "unset"),
    (
        "SENTRYAGENT_TEST_ONLY_AUTO_APPROVE_AS_DEMO_USER",
        "unset: sign-in and consent",
    ),
    (
        "SENTRYAGENT_USAGE_SPILL_DIR",
        "unset: counts the store cannot take at shutdown are logged and lost",
    ),
    ("SENTRYAGENT_GITHUB_JWKS_URL", "from the issuer's discovery document"),
    ("SENTRYAGENT_OIDC_AUDIENCE", "the issuer URL (`SENTRYAGENT_ISSUER`)"),
];

/// Why the settings were not loaded.
pub enum LoadError {
    /// `--help` or `help`: clap prints it (`exit`).
    Help(clap::Error),
    /// A wrong setting or argument, described in one line naming it and its
    /// valid form.
    Invalid(String),
}

// Debug as Display: `main` returning this error prints the sentence.
impl std::fmt::Debug for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Help(help) => write!(f, "{}", help.render()),
            LoadError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for LoadError {}

fn load_error(e: clap::Error) -> LoadError {
    match e.use_stderr() {
        false => LoadError::Help(e),
        true => LoadError::Invalid(describe(&e)),
    }
}

/// `command` with each variable that is set but empty read as unset (`FOO=`
/// in a compose file).
fn without_empty_variables(mut command: Command) -> Command {
    let empty: Vec<clap::Id> = command
        .get_arguments()
        .filter(|a| a.get_env().and_then(std::env::var_os).is_some_and(|v| v.is_empty()))
        .map(|a| a.get_id().clone())
        .collect();
    for id in empty {
        command = command.mut_arg(id, |a| a.env(None::<&str>));
    }
    command
}

/// A parsed configuration and what to warn about.
#[derive(Debug)]
pub struct Loaded {
    /// The settings.
    pub config: Config,
    /// Unknown `SENTRYAGENT_*` variables and deprecated names in use, one
    /// sentence each, for the log.
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads the process's arguments and environment.
    ///
    /// # Errors
    /// [`LoadError::Invalid`] for a setting out of its range or form, a
    /// missing companion setting, or bad arguments.
    pub fn load() -> Result<Loaded, LoadError> {
        let command = without_empty_variables(Self::command());
        let matches = command.try_get_matches_from(std::env::args_os()).map_err(load_error)?;
        let mut config = Self::from_arg_matches(&matches).map_err(load_error)?;
        let names: Vec<OsString> = std::env::vars_os().map(|(name, _)| name).collect();
        let mut warnings = unknown_variables(&Self::command(), names.iter());
        let defaulted = |id: &str| matches.value_source(id) == Some(ValueSource::DefaultValue);
        if let Some(on) = config.billing_enabled {
            warnings.push(deprecated("BILLING_ENABLED", defaulted("enforce_tiers")));
            if defaulted("enforce_tiers") {
                config.enforce_tiers = on;
            }
        }
        if let Some(on) = config.legacy_marketplace_enabled {
            warnings.push(deprecated("MARKETPLACE_ENABLED", defaulted("marketplace_enabled")));
            if defaulted("marketplace_enabled") {
                config.marketplace_enabled = on;
            }
        }
        config.backends.check()?;
        if config.stripe_secret_key.is_some() != config.stripe_webhook_secret.is_some() {
            return Err(LoadError::Invalid(
                "STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET go together: set both for billing, or neither".to_owned(),
            ));
        }
        Ok(Loaded { config, warnings })
    }

    /// The issuer: `SENTRYAGENT_ISSUER`, or `http://<bind>`.
    pub fn issuer(&self) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.backends.bind))
    }
}

fn deprecated(old: &str, used: bool) -> String {
    let new = DEPRECATED.iter().find(|(o, _)| *o == old).map_or("", |(_, n)| *n);
    if used {
        format!("{old} is deprecated: rename it to {new}")
    } else {
        format!("{old} is deprecated and ignored: {new} is set too")
    }
}

/// Every variable the definition reads, hidden ones included.
fn known_variables(command: &Command) -> BTreeSet<String> {
    command
        .get_arguments()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect()
}

/// One warning per `SENTRYAGENT_*` variable that is no setting, with the
/// nearest setting's name when one is near.
fn unknown_variables<'a>(command: &Command, names: impl Iterator<Item = &'a OsString>) -> Vec<String> {
    let known = known_variables(command);
    let visible: Vec<String> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .filter(|e| e.starts_with("SENTRYAGENT_"))
        .collect();
    names
        .filter_map(|name| name.to_str())
        .filter(|name| name.starts_with("SENTRYAGENT_") && !known.contains(*name) && !OTHER_PROGRAMS.contains(name))
        .map(|name| {
            let nearest = visible
                .iter()
                .map(|v| (strsim::levenshtein(name, v), v))
                .min()
                .filter(|(distance, _)| *distance <= 4);
            match nearest {
                Some((_, v)) => format!("{name} is not a setting of this server and is ignored: did you mean {v}?"),
                None => format!("{name} is not a setting of this server and is ignored (see --help)"),
            }
        })
        .collect()
}

/// A clap error as one line naming the variable, its valid form and (unless
/// it is a secret, or the reason quotes it) the value given; other errors as
/// clap renders them.
fn describe(error: &clap::Error) -> String {
    let command = Config::command();
    let invalid_arg = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(s)) => s.first().cloned(),
        _ => None,
    };
    let arg = invalid_arg.as_deref().and_then(|shown| {
        let long = shown
            .trim_start_matches("--")
            .split([' ', '='])
            .next()
            .unwrap_or_default();
        command.get_arguments().find(|a| a.get_long() == Some(long))
    });
    let value = match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    match (error.kind(), arg) {
        (ErrorKind::ValueValidation | ErrorKind::InvalidValue, Some(arg)) => {
            let reason = std::error::Error::source(error)
                .map(ToString::to_string)
                .unwrap_or_else(|| "not a valid value".to_owned());
            let given = match value {
                Some(v) if !arg.is_hide_env_values_set() && !reason.contains(&format!("`{v}`")) => {
                    format!(" (given `{v}`)")
                }
                _ => String::new(),
            };
            format!("{}: {reason}{given}", arg_name(arg))
        }
        _ => {
            let rendered = error.render().to_string();
            rendered.trim_start_matches("error: ").trim_end().to_owned()
        }
    }
}

/// `SENTRYAGENT_BIND (--bind)`.
fn arg_name(arg: &Arg) -> String {
    match (arg.get_env(), arg.get_long()) {
        (Some(env), Some(long)) => format!("{} (--{long})", env.to_string_lossy()),
        (None, Some(long)) => format!("--{long}"),
        _ => arg.get_id().to_string(),
    }
}

/// The README's table of settings: one row per visible setting, its
/// default, and its meaning (each deprecated name in its successor's row).
pub fn settings_table() -> String {
    let mut table = String::from("| variable | default | meaning |\n| --- | --- | --- |\n");
    for arg in Config::command().get_arguments().filter(|a| !a.is_hide_set()) {
        let Some(env) = arg.get_env().map(|e| e.to_string_lossy().into_owned()) else {
            continue;
        };
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| format!("`{}`", v.to_string_lossy()))
            .collect();
        let default = if defaults.is_empty() {
            UNSET.iter().find(|(name, _)| *name == env).map_or_else(
                || format!("UNDOCUMENTED: add {env} to config::UNSET"),
                |(_, text)| (*text).to_owned(),
            )
        } else {
            defaults.join(", ")
        };
        let mut meaning = arg.get_help().map(ToString::to_string).unwrap_or_default();
        for (old, _) in DEPRECATED.iter().filter(|(_, new)| *new == env) {
            meaning.push_str(&format!("; `{old}`, its older name, is still read, with a warning"));
        }
        table.push_str(&format!("| `{env}` | {default} | {meaning} |\n"));
    }
    table
}

// The value parsers: each failure says what the valid form is; the
// variable's name is added by `describe`.

fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("must be true or false (or 1/0, yes/no, on/off)".to_owned()),
    }
}

/// A whole number from `min` to `max`.
fn whole(min: u64, max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        s.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| format!("must be a whole number from {min} to {max}"))
    }
}

/// [`whole`], or 0 for off.
fn whole_or_off(min: u64, max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        s.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n == 0 || (min..=max).contains(n))
            .ok_or_else(|| format!("must be 0 (off) or a whole number from {min} to {max}"))
    }
}

/// A secret of at least `min` bytes (never echoed).
fn secret(min: usize) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.len() {
        n if n < min => Err(format!("must be at least {min} bytes long, not {n}")),
        _ => Ok(s.to_owned()),
    }
}

fn parse_bind(s: &str) -> Result<SocketAddr, String> {
    s.trim()
        .parse()
        .map_err(|_| "must be an address and port such as 127.0.0.1:3000 or [::]:3000".to_owned())
}

/// An `http` or `https` URL with a host, as issuers and API bases are.
fn web_url(s: &str) -> Result<String, String> {
    let bad = || "must be an http:// or https:// URL with a host, such as https://idp.example.com".to_owned();
    let url = url::Url::parse(s.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must be a URL without a query or fragment".to_owned());
    }
    Ok(s.trim().to_owned())
}

/// A URL with one of `schemes` (its password never echoed).
fn url_of(schemes: &'static [&'static str]) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let scheme = url::Url::parse(s.trim()).map(|u| u.scheme().to_owned());
        match scheme {
            Ok(scheme) if schemes.contains(&scheme.as_str()) => Ok(s.trim().to_owned()),
            _ => Err(format!("must be a URL starting with {}://", schemes.join("://, "))),
        }
    }
}

/// One word: no spaces, not empty.
fn word(s: &str) -> Result<String, String> {
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        return Err("must be one word, without spaces".to_owned());
    }
    Ok(s.to_owned())
}

fn schema(s: &str) -> Result<String, String> {
    let mut chars = s.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63;
    if !valid {
        return Err("must be 1 to 63 lower-case letters, digits and _, starting with a letter or _".to_owned());
    }
    Ok(s.to_owned())
}

fn log_format(s: &str) -> Result<LogFormat, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("must be text or json".to_owned()),
    }
}

fn metrics_bind(s: &str) -> Result<MetricsBind, String> {
    if s.trim().eq_ignore_ascii_case("off") {
        return Ok(MetricsBind::Off);
    }
    s.trim()
        .parse()
        .map(MetricsBind::At)
        .map_err(|_| "must be an address and port such as 127.0.0.1:9464, or off".to_owned())
}

fn signup(s: &str) -> Result<OpenSignup, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "open" => Ok(OpenSignup::Open),
        "closed" => Ok(OpenSignup::Closed),
        _ => Err("must be open or closed".to_owned()),
    }
}

fn signing_alg(s: &str) -> Result<SigningAlgorithm, String> {
    SigningAlgorithm::parse(s.trim()).ok_or_else(|| "must be ES256, EdDSA or RS256".to_owned())
}

/// A route group as the variables spell it (`TOKEN_FAILURES`), in any
/// case; the older `token-failures` too.
fn route_group(s: &str) -> Result<RouteGroup, String> {
    let wanted = s.trim().to_uppercase().replace('-', "_");
    RouteGroup::ALL
        .into_iter()
        .find(|g| group_name(*g) == wanted)
        .ok_or_else(|| {
            let names: Vec<String> = RouteGroup::ALL.into_iter().map(group_name).collect();
            format!("`{}` is not a route group: use {}", s.trim(), names.join(", "))
        })
}

fn log_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("must be a log filter such as info or sentryagent_core=debug,info: {e}"))
}

fn tenant_id(s: &str) -> Result<TenantId, String> {
    s.trim().parse().map_err(|_| "must be a tenant id (a UUID)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn booleans_read_one_way() {
        for yes in ["true", "TRUE", "1", "yes", "On"] {
            assert_eq!(boolean(yes), Ok(true), "{yes}");
        }
        for no in ["false", "0", "no", "off", "OFF"] {
            assert_eq!(boolean(no), Ok(false), "{no}");
        }
        for bad in ["", "y", "t", "2", "enabled"] {
            assert!(boolean(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn automatic_approval_takes_one_value_only() {
        assert_eq!(approve_everything("yes-approve-everything"), Ok(ApproveEverything));
        for other in [
            "true",
            "yes",
            "1",
            "YES-APPROVE-EVERYTHING",
            " yes-approve-everything",
            "",
        ] {
            assert!(approve_everything(other).is_err(), "{other}");
        }
    }

    #[test]
    fn route_groups_are_spelled_as_the_variables() {
        assert_eq!(route_group("TOKEN_FAILURES"), Ok(RouteGroup::TokenFailures));
        assert_eq!(route_group("token"), Ok(RouteGroup::Token));
        assert_eq!(route_group("audit-verify"), Ok(RouteGroup::AuditVerify));
        let error = route_group("tokens").expect_err("no such group");
        assert!(error.contains("TOKEN, TOKEN_FAILURES, CLIENT_FAILURES"), "{error}");
    }

    #[test]
    fn urls_need_a_scheme_and_host() {
        assert!(web_url("https://idp.example.com").is_ok());
        assert!(web_url("http://127.0.0.1:3000").is_ok());
        for bad in [
            "idp.example.com",
            "127.0.0.1:3000",
            "ftp://x",
            "https://",
            "https://x?y=1",
        ] {
            assert!(web_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_unset_default_is_documented_and_every_documented_one_exists() {
        let table = settings_table();
        assert!(!table.contains("UNDOCUMENTED"), "{table}");
        let known = known_variables(&Config::command());
        for (name, _) in UNSET {
            assert!(known.contains(*name), "{name}");
        }
    }

    #[test]
    fn unknown_variables_are_named_with_the_nearest_setting() {
        let names: Vec<OsString> = [
            "SENTRYAGENT_RATE_LIMIT_TOKENS",
            "SENTRYAGENT_BIND",
            "SENTRYAGENT_ADMIN_CLIENT_ID",
            "PATH",
            "SENTRYAGENT_COMPLETELY_DIFFERENT_THING",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        let warnings = unknown_variables(&Config::command(), names.iter());
        assert_eq!(
            warnings,
            [
                "SENTRYAGENT_RATE_LIMIT_TOKENS is not a setting of this server and is ignored: did you mean SENTRYAGENT_RATE_LIMIT_TOKEN?",
                "SENTRYAGENT_COMPLETELY_DIFFERENT_THING is not a setting of this server and is ignored (see --help)",
            ]
        );
    }
}
