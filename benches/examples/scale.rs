//! The scale benchmark behind `benches/scale.sh`: how the audit log and the
//! agent directory behave as one tenant's data grows, on PostgreSQL.
//!
//! ```text
//! DATABASE_URL=postgres://… cargo run --release -p sentryagent-benches --example scale -- \
//!     10000,100000,1000000 10000,100000
//! ```
//!
//! For each event count it fills a fresh schema (never analysed: autovacuum
//! is off on the audit table until the run analyses it) with one tenant's
//! chain, written by the store's own append in batches of 10,000
//! `token.issued` events like the token endpoint's (one agent in 50 is the
//! busy one), then measures:
//!
//! - a full verification, slice after slice (wall time, this process's CPU
//!   per event: everything runs on one thread, so it is the thread's CPU
//!   time; PostgreSQL's work is not in it), and the longest slice;
//! - an incremental verification after one more event;
//! - the busy agent's and `token.issued`'s first page, with statistics
//!   absent, then present (`ANALYZE`), with their plans' top nodes;
//! - the cost of appending one event (200 single appends).
//!
//! For each agent count it fills a tenant of a fresh schema and times the
//! tenant's search for a word no agent has, statistics absent and present.
//! Every schema is dropped at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sentryagent_benches::cpu;
use sentryagent_core::agent::AgentQuery;
use sentryagent_core::audit::{AuditChain, AuditQuery, NewAuditEvent, Outcome, VerifyMode};
use sentryagent_core::secret::ServerKey;
use sentryagent_core::store::{AgentStore, AuditStore};
use sentryagent_core::{AgentId, SentryAgent, TenantId};
use sentryagent_store_postgres::{PgOptions, PgStore, sqlx};

const SECRET: &[u8; 32] = b"scale-benchmark-secret-32-bytes!";
/// The planner settings the store uses for audit pages (see its `audit.rs`).
const ORDERED_PLAN: &str = "SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off";

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn counts(arg: Option<String>, default: &[u64]) -> Vec<u64> {
    arg.map(|a| a.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

async fn fresh_store(url: &str, label: &str) -> Arc<PgStore> {
    let schema = format!("sa_scale_{label}_{}", std::process::id());
    let store = PgStore::connect(url, SECRET, PgOptions::default().schema(schema))
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at DATABASE_URL: {e}"));
    let store = Arc::new(store);
    sqlx::query("ALTER TABLE audit_events SET (autovacuum_enabled = false)")
        .execute(store.pool())
        .await
        .expect("autovacuum off");
    sqlx::query("ALTER TABLE agents SET (autovacuum_enabled = false)")
        .execute(store.pool())
        .await
        .expect("autovacuum off");
    store
}

async fn drop_schema(store: &PgStore) {
    let sql = format!("DROP SCHEMA {} CASCADE", store.schema());
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(store.pool()).await;
}

async fn idp(store: &Arc<PgStore>) -> SentryAgent {
    SentryAgent::builder()
        .server_secret(SECRET)
        .expect("secret")
        .durable(store.clone())
        .build()
        .await
        .expect("build")
}

fn token_event(i: u64, busy: AgentId, agents: &[AgentId]) -> NewAuditEvent {
    let agent = if i.is_multiple_of(50) {
        busy
    } else {
        agents[(i as usize) % agents.len()]
    };
    let client = format!("sa_{}", agent.as_uuid().simple());
    NewAuditEvent::new("token.issued", Outcome::Success, client.clone())
        .agent(agent)
        .ip(Some(std::net::IpAddr::from([127, 0, 0, 1])))
        .detail("clientId", client)
        .detail("credentialId", uuid_string())
        .detail("jti", uuid_string())
        .detail("scope", "reports:read")
        .detail("aud", "https://idp.example.com")
}

/// Appends `n` `token.issued` events to `tenant`'s chain by the store's own
/// append, 10,000 at a time (one agent in 50 is the busy one); returns it.
async fn fill(store: &PgStore, chain: &AuditChain, tenant: TenantId, n: u64) -> AgentId {
    let busy = AgentId::new();
    let agents: Vec<AgentId> = (0..1_000).map(|_| AgentId::new()).collect();
    let mut i = 0;
    while i < n {
        let batch: Vec<NewAuditEvent> = (i..(i + 10_000).min(n))
            .map(|k| token_event(k + 1, busy, &agents))
            .collect();
        i += batch.len() as u64;
        store.append_audit(tenant, batch, chain).await.expect("append");
        if i % 500_000 == 0 {
            eprintln!("{i} of {n} events");
        }
    }
    busy
}

fn uuid_string() -> String {
    AgentId::new().to_string()
}

/// The first page of `query`, timed (the best of five: the machine is shared).
async fn page(store: &PgStore, tenant: TenantId, query: &AuditQuery) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let rows = store.query_audit(tenant, query).await.expect("query");
        assert!(!rows.is_empty());
        best = best.min(start.elapsed());
    }
    best
}

/// The plan's nodes (one line each, without their conditions).
async fn plan(store: &PgStore, sql: &str) -> String {
    let mut tx = store.pool().begin().await.expect("begin");
    sqlx::raw_sql(ORDERED_PLAN).execute(&mut *tx).await.expect("settings");
    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN (COSTS OFF) {sql}")))
        .fetch_all(&mut *tx)
        .await
        .expect("explain");
    tx.rollback().await.expect("rollback");
    rows.iter()
        .filter(|l| l.trim_start().starts_with("->") || !l.starts_with(' '))
        .map(|l| l.trim().trim_start_matches("->  ").to_owned())
        .collect::<Vec<_>>()
        .join(" > ")
}

async fn events(url: &str, n: u64, rows: &mut Vec<[String; 2]>) {
    let store = fresh_store(url, &format!("e{n}")).await;
    let idp = idp(&store).await;
    let chain = AuditChain::new(ServerKey::from_master(SECRET).expect("key"));
    let tenant = TenantId::new();
    let started = Instant::now();
    let busy = fill(&store, &chain, tenant, n).await;
    let agents: Vec<AgentId> = (0..1_000).map(|_| AgentId::new()).collect();
    let size: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('audit_events')")
        .fetch_one(store.pool())
        .await
        .expect("size");
    eprintln!(
        "{n} events written in {:.0} s ({} MiB with indexes)",
        started.elapsed().as_secs_f64(),
        size >> 20
    );
    // What each insert maintains: bytes per event of the table and of each index.
    let sizes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_relation_size(c.oid) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND (c.relname = 'audit_events' OR c.oid IN \
             (SELECT indexrelid FROM pg_index WHERE indrelid = 'audit_events'::regclass)) ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .expect("sizes");
    let per_event = sizes
        .iter()
        .map(|(name, bytes)| format!("{name} {}", bytes / n as i64))
        .collect::<Vec<_>>()
        .join(", ");
    let mut row = |what: &str, value: String| {
        eprintln!("{what} at {n} events: {value}");
        rows.push([format!("{what} at {n} events"), value]);
    };

    row("bytes per event (table, indexes)", per_event);

    // Full verification, slice by slice.
    let (wall, cpu0) = (Instant::now(), cpu::thread());
    let mut longest = Duration::ZERO;
    let mut slices = 0;
    let full = loop {
        let slice = Instant::now();
        let v = idp
            .verify_audit_step(tenant, VerifyMode::Full, sentryagent_core::audit::FULL_SLICE)
            .await
            .expect("verify");
        longest = longest.max(slice.elapsed());
        slices += 1;
        if v.complete {
            break v;
        }
    };
    let (wall, cpu) = (wall.elapsed(), cpu::thread() - cpu0);
    assert!(full.valid && full.checked == n, "{full:?}");
    row(
        "verify full",
        format!(
            "{} in {slices} slices (longest {}), {:.2} µs CPU per event here",
            ms(wall),
            ms(longest),
            cpu.as_secs_f64() * 1e6 / n as f64
        ),
    );
    // Incremental, after one more event each time: the best of three.
    let mut best = Duration::MAX;
    for k in 1..=3 {
        store
            .append_audit(tenant, vec![token_event(n + k, busy, &agents)], &chain)
            .await
            .expect("append");
        let incremental = Instant::now();
        let v = idp
            .verify_audit_step(tenant, VerifyMode::Incremental, sentryagent_core::audit::FULL_SLICE)
            .await
            .expect("verify");
        best = best.min(incremental.elapsed());
        assert!(v.valid && v.complete && v.checked == 1, "{v:?}");
    }
    row("verify incremental (1 new event)", ms(best));

    // Pages, statistics absent then present.
    let by_agent = AuditQuery {
        agent_id: Some(busy),
        limit: 51,
        ..Default::default()
    };
    let by_action = AuditQuery {
        action: Some("token.issued".into()),
        limit: 51,
        ..Default::default()
    };
    let agent_sql = format!(
        "SELECT * FROM audit_events WHERE tenant_id = '{tenant}' AND agent_id = '{busy}' ORDER BY seq DESC LIMIT 51"
    );
    for statistics in ["absent", "present"] {
        if statistics == "present" {
            sqlx::query("ANALYZE audit_events")
                .execute(store.pool())
                .await
                .expect("analyze");
        }
        row(
            &format!("GET /audit?agentId=<busy agent>, statistics {statistics}"),
            format!(
                "{} ({})",
                ms(page(&store, tenant, &by_agent).await),
                plan(&store, &agent_sql).await
            ),
        );
        row(
            &format!("GET /audit?action=token.issued, statistics {statistics}"),
            ms(page(&store, tenant, &by_action).await),
        );
    }

    // One event appended at a time (the token endpoint's write).
    let start = Instant::now();
    for k in 0..200 {
        store
            .append_audit(tenant, vec![token_event(n + 4 + k, busy, &agents)], &chain)
            .await
            .expect("append");
    }
    row(
        "append one event",
        format!(
            "{:.3} ms each (200 in a row)",
            start.elapsed().as_secs_f64() * 1e3 / 200.0
        ),
    );
    drop_schema(&store).await;
}

async fn agents(url: &str, n: u64, rows: &mut Vec<[String; 2]>) {
    let store = fresh_store(url, &format!("a{n}")).await;
    let tenant = TenantId::new();
    sqlx::query("INSERT INTO tenants (id, name, tier, created_at) VALUES ($1, 'Scale', 'free', now())")
        .bind(tenant.as_uuid())
        .execute(store.pool())
        .await
        .expect("tenant");
    // The store's statement timeout is for requests, not for a bulk fill.
    let mut tx = store.pool().begin().await.expect("begin");
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await
        .expect("no timeout");
    sqlx::query(
        "INSERT INTO agents (tenant_id, id, name, description, capabilities, metadata, scopes, status, listed, \
         created_at, updated_at) \
         SELECT $1, gen_random_uuid(), 'agent-' || g || '@scale.example', 'Reads reports ' || md5(g::text), \
                '{reports}', '{}', '{reports:read}', 'active', g % 10 = 0, now(), now() \
         FROM generate_series(1, $2::bigint) AS g",
    )
    .bind(tenant.as_uuid())
    .bind(n as i64)
    .execute(&mut *tx)
    .await
    .expect("agents");
    tx.commit().await.expect("commit");
    let query = AgentQuery {
        q: Some("no-such-agent".into()),
        limit: 51,
        ..Default::default()
    };
    for statistics in ["absent", "present"] {
        if statistics == "present" {
            sqlx::query("ANALYZE agents")
                .execute(store.pool())
                .await
                .expect("analyze");
        }
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            let found = store.list_agents(tenant, &query).await.expect("search");
            assert!(found.is_empty());
            best = best.min(start.elapsed());
        }
        rows.push([
            format!("tenant GET /agents?q=<no match> at {n} agents, statistics {statistics}"),
            ms(best),
        ]);
    }
    drop_schema(&store).await;
}

/// `scale prefill TENANT COUNT`: appends COUNT `token.issued` events to
/// TENANT's chain in the schema a running example server uses
/// (`SENTRYAGENT_DB_SCHEMA`), sealed with its key (`SENTRYAGENT_SECRET_KEY`),
/// so its chain stays valid and its next append links after them (its
/// remembered head is stale: it relocks the head once). Then `VACUUM
/// ANALYZE`, as autovacuum would have done by the time a table grew so.
/// `benches/load.sh` runs it for `PREFILL_EVENTS`.
async fn prefill(url: &str, tenant: &str, n: u64) {
    let (Ok(schema), Ok(secret)) = (
        std::env::var("SENTRYAGENT_DB_SCHEMA"),
        std::env::var("SENTRYAGENT_SECRET_KEY"),
    ) else {
        eprintln!("scale prefill: set SENTRYAGENT_DB_SCHEMA and SENTRYAGENT_SECRET_KEY as the server has them");
        std::process::exit(2);
    };
    let Ok(tenant) = tenant.parse::<TenantId>() else {
        eprintln!("scale prefill: {tenant} is not a tenant id");
        std::process::exit(2);
    };
    let store = PgStore::connect(
        url,
        secret.as_bytes(),
        PgOptions::default().schema(schema).migrate(false),
    )
    .await
    .unwrap_or_else(|e| panic!("PostgreSQL at DATABASE_URL: {e}"));
    let tables: Option<String> = sqlx::query_scalar("SELECT to_regclass('audit_events')::text")
        .fetch_one(store.pool())
        .await
        .unwrap_or(None);
    if tables.is_none() {
        eprintln!(
            "scale prefill: the schema in SENTRYAGENT_DB_SCHEMA has no audit table: start the server on it first"
        );
        std::process::exit(2);
    }
    let Ok(key) = ServerKey::from_master(secret.as_bytes()) else {
        eprintln!("scale prefill: SENTRYAGENT_SECRET_KEY is not a usable server secret (too short?)");
        std::process::exit(2);
    };
    let chain = AuditChain::new(key);
    let started = Instant::now();
    fill(&store, &chain, tenant, n).await;
    sqlx::raw_sql("VACUUM ANALYZE audit_events")
        .execute(store.pool())
        .await
        .expect("vacuum");
    eprintln!("scale prefill: {n} events in {:.0} s", started.elapsed().as_secs_f64());
}

fn main() {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        eprintln!("scale: set DATABASE_URL to a PostgreSQL database it may create schemas in");
        std::process::exit(2);
    });
    let mut args = std::env::args().skip(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if std::env::args().nth(1).as_deref() == Some("prefill") {
        let (Some(tenant), Some(n)) = (
            std::env::args().nth(2),
            std::env::args().nth(3).and_then(|n| n.parse().ok()),
        ) else {
            eprintln!("usage: scale prefill TENANT COUNT");
            std::process::exit(2);
        };
        return rt.block_on(prefill(&url, &tenant, n));
    }
    let event_counts = counts(args.next(), &[10_000, 100_000, 1_000_000]);
    let agent_counts = counts(args.next(), &[10_000, 100_000]);
    let mut rows = Vec::new();
    rt.block_on(async {
        for n in event_counts {
            events(&url, n, &mut rows).await;
        }
        for n in agent_counts {
            agents(&url, n, &mut rows).await;
        }
    });
    println!("| what | result |\n|---|---|");
    for [what, value] in rows {
        println!("| {what} | {value} |");
    }
}
