//! Each migration migrates a database made by the one before: a schema is
//! built with the migrations up to the previous release, filled as that
//! release's code filled it, then connected with today's store (which
//! migrates on connect) and used.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sentryagent_core::SentryAgent;
use sentryagent_core::TenantId;
use sentryagent_core::audit::{AuditChain, NewAuditEvent, Outcome};
use sentryagent_core::secret::ServerKey;
use sentryagent_store_postgres::{PgOptions, PgStore, sqlx};
use sentryagent_testkit::services;

mod support;

use support::{SECRET, drop_schema_named};

/// A pool on `schema` with the migrations up to `version` applied, kept
/// where the store keeps them.
async fn migrated_to(schema: &str, version: i64) -> Option<sqlx::PgPool> {
    let options: sqlx::postgres::PgConnectOptions = match services::database_url().parse() {
        Ok(options) => options,
        Err(e) => return services::unavailable("PostgreSQL migrations", &e),
    };
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.options([("search_path", schema)]))
        .await
    {
        Ok(pool) => pool,
        Err(e) => return services::unavailable("PostgreSQL migrations", &e),
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut migrator = sqlx::migrate::Migrator::new(dir).await.expect("the migrations");
    migrator.create_schema(schema.to_owned());
    migrator.dangerous_set_table_name(format!("{schema}._sqlx_migrations"));
    migrator.run_to(version, &pool).await.expect("the earlier migrations");
    Some(pool)
}

/// `events` sealed one after another onto a new chain of `tenant` and
/// stored as the code before 0013 stored them (every column but
/// `canonical`), with the head row, under the test secret's chain key.
async fn write_old_chain(pool: &sqlx::PgPool, tenant: TenantId, events: Vec<NewAuditEvent>) {
    write_chain(pool, tenant, events, false).await;
}

/// As [`write_old_chain`], with `canonical` as well when `with_canonical`
/// (as the code of 0013 and 0014 stored events: every column and the bytes).
async fn write_chain(pool: &sqlx::PgPool, tenant: TenantId, events: Vec<NewAuditEvent>, with_canonical: bool) {
    let chain = AuditChain::new(ServerKey::from_master(SECRET).expect("key"));
    let mut head = chain.genesis(tenant);
    for event in events {
        let (e, canonical) = chain.seal_canonical(tenant, &head, event);
        sqlx::query(
            "INSERT INTO audit_events (tenant_id, seq, id, agent_id, actor, action, outcome, ip, at, details, \
             prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(tenant.as_uuid())
        .bind(e.seq as i64)
        .bind(e.id.as_uuid())
        .bind(e.agent_id.map(|a| *a.as_uuid()))
        .bind(&e.actor)
        .bind(&e.action)
        .bind(e.outcome.as_str())
        .bind(e.ip.map(|ip| ip.to_string()))
        .bind(e.at)
        .bind(sqlx::types::Json(&e.details))
        .bind(&e.prev_hash[..])
        .bind(&e.hash[..])
        .execute(pool)
        .await
        .expect("an event");
        if with_canonical {
            sqlx::query("UPDATE audit_events SET canonical = $3 WHERE tenant_id = $1 AND seq = $2")
                .bind(tenant.as_uuid())
                .bind(e.seq as i64)
                .bind(&canonical[..])
                .execute(pool)
                .await
                .expect("its bytes");
        }
        head = chain.checkpoint(tenant, e.seq, e.hash);
    }
    sqlx::query("INSERT INTO audit_heads (tenant_id, seq, hash, mac) VALUES ($1, $2, $3, $4)")
        .bind(tenant.as_uuid())
        .bind(head.seq as i64)
        .bind(&head.hash[..])
        .bind(&head.mac[..])
        .execute(pool)
        .await
        .expect("the head");
}

/// Today's store on `schema` (which it migrates on connect), and an
/// identity provider on it with the test secret.
async fn today(schema: &str) -> (Arc<PgStore>, SentryAgent) {
    let store = Arc::new(
        PgStore::connect(&services::database_url(), SECRET, PgOptions::default().schema(schema))
            .await
            .expect("today's store migrates the schema"),
    );
    let idp = SentryAgent::builder()
        .server_secret(SECRET)
        .expect("secret")
        .durable(store.clone())
        .build()
        .await
        .expect("build");
    (store, idp)
}

/// A full verification of `tenant`'s chain, in one step.
async fn verify_full(idp: &SentryAgent, tenant: TenantId) -> sentryagent_core::audit::Verification {
    idp.verify_audit_step(tenant, sentryagent_core::audit::VerifyMode::Full, 100)
        .await
        .expect("verify")
}

/// Runs `sql` (an attacker's edit) with `tenant` as `$1`.
async fn edit(pool: &sqlx::PgPool, tenant: TenantId, sql: &'static str) {
    sqlx::query(sql)
        .bind(tenant.as_uuid())
        .execute(pool)
        .await
        .expect("edit");
}

/// 0006 (`audit_heads.lost_at`): chains written before it, heads and MACs
/// as they were, still verify, and appends go on after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_chains_from_before_0006_verify_and_grow() {
    let schema = services::unique_name("sa_test");
    let Some(pool) = migrated_to(&schema, 4).await else {
        return;
    };
    // A tenant's chain of five events, as the code of migration 0004 wrote it.
    let tenant = TenantId::new();
    let events = (0..5)
        .map(|i| NewAuditEvent::new("agent.created", Outcome::Success, "operator").detail("i", i))
        .collect();
    write_old_chain(&pool, tenant, events).await;

    let (_store, idp) = today(&schema).await;
    let verified = idp.verify_audit_chain(tenant).await.expect("verify");
    assert!(verified.valid && verified.checked == 5, "{verified:?}");
    let appended = idp
        .record(tenant, vec![NewAuditEvent::new("token.issued", Outcome::Success, "x")])
        .await
        .expect("append after the old head");
    assert_eq!(appended[0].seq, 6);
    let verified = idp.verify_audit_chain(tenant).await.expect("verify");
    assert!(verified.valid && verified.checked == 6, "{verified:?}");

    drop_schema_named(&pool, &schema).await;
}

/// 0005 (the trust model: `agents.origin`, `trust_policies.max_scopes`):
/// agents and trust policies written before it read back as before; agents
/// have no origin, and old bootstrap policies get a new one's ceiling, none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_and_policies_from_before_0005_read_back() {
    use sentryagent_core::store::{AgentStore, TrustPolicyStore};
    use sentryagent_core::{AgentId, TrustPolicyId};

    let schema = services::unique_name("sa_test");
    let Some(pool) = migrated_to(&schema, 4).await else {
        return;
    };
    let (tenant, agent, policy) = (TenantId::new(), AgentId::new(), TrustPolicyId::new());
    sqlx::query("INSERT INTO tenants (id, name, tier, created_at) VALUES ($1, 'Acme', 'free', now())")
        .bind(tenant.as_uuid())
        .execute(&pool)
        .await
        .expect("a tenant");
    sqlx::query(
        "INSERT INTO agents (tenant_id, id, name, description, capabilities, metadata, scopes, status, listed, \
         created_at, updated_at) VALUES ($1, $2, 'bot@acme.example', '', '{}', '{}', '{agents:read}', 'active', \
         true, now(), now())",
    )
    .bind(tenant.as_uuid())
    .bind(agent.as_uuid())
    .execute(&pool)
    .await
    .expect("an agent");
    sqlx::query(
        "INSERT INTO trust_policies (tenant_id, id, provider, repository, denied_events, description, created_at) \
         VALUES ($1, $2, 'github', 'acme/app', '{}', '', now())",
    )
    .bind(tenant.as_uuid())
    .bind(policy.as_uuid())
    .execute(&pool)
    .await
    .expect("a bootstrap policy");

    let store = PgStore::connect(&services::database_url(), SECRET, PgOptions::default().schema(&schema))
        .await
        .expect("today's store migrates the schema");
    let read = store.agent(tenant, agent).await.expect("read").expect("the agent");
    assert_eq!(
        (read.name.as_str(), read.scopes.as_slice()),
        ("bot@acme.example", &["agents:read".to_owned()][..])
    );
    assert_eq!(read.origin, None, "agents registered before have no origin");
    let read = store
        .trust_policy(tenant, policy)
        .await
        .expect("read")
        .expect("the policy");
    assert!(
        read.max_scopes.is_empty(),
        "an old bootstrap policy gets the new default ceiling: none"
    );

    drop_schema_named(&pool, &schema).await;
}

/// 0008 (`used_ids`, the replay guard): a database at 0007 migrates, and two
/// stores on it accept a one-time id once between them, again after it
/// expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_guard_arrives_with_0008() {
    use sentryagent_core::store::ReplayGuard;

    let schema = services::unique_name("sa_test");
    let Some(pool) = migrated_to(&schema, 7).await else {
        return;
    };
    let url = services::database_url();
    let connect = || PgStore::connect(&url, SECRET, PgOptions::default().schema(&schema));
    let (a, b) = (connect().await.expect("store a"), connect().await.expect("store b"));
    let later = sentryagent_core::time::now() + time::Duration::minutes(5);
    assert!(a.first_use("jti-1", later).await.expect("first use"));
    assert!(
        !b.first_use("jti-1", later).await.expect("second use"),
        "seen by the other store"
    );
    let past = sentryagent_core::time::now() - time::Duration::seconds(1);
    assert!(a.first_use("jti-2", past).await.expect("use"));
    assert!(
        b.first_use("jti-2", later).await.expect("use after expiry"),
        "an expired id is forgotten"
    );

    drop_schema_named(&pool, &schema).await;
}

/// 0012 (the authorization-code flow's tables): a database at 0008, with a
/// tenant and an agent in it, migrates; what was there reads back, and two
/// stores on it redeem a code once and detect a refresh token's reuse
/// between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_tables_arrive_with_0012() {
    use sentryagent_core::AgentId;
    use sentryagent_core::store::{AgentStore, AuthorizationStore, OAuthClientStore};

    let schema = services::unique_name("sa_test");
    let Some(pool) = migrated_to(&schema, 8).await else {
        return;
    };
    let (tenant, agent) = (TenantId::new(), AgentId::new());
    sqlx::query("INSERT INTO tenants (id, name, tier, created_at) VALUES ($1, 'Acme', 'free', now())")
        .bind(tenant.as_uuid())
        .execute(&pool)
        .await
        .expect("a tenant");
    sqlx::query(
        "INSERT INTO agents (tenant_id, id, name, description, capabilities, metadata, scopes, status, listed, \
         created_at, updated_at) VALUES ($1, $2, 'bot@acme.example', '', '{}', '{}', '{agents:read}', 'active', \
         true, now(), now())",
    )
    .bind(tenant.as_uuid())
    .bind(agent.as_uuid())
    .execute(&pool)
    .await
    .expect("an agent");

    let url = services::database_url();
    let connect = || PgStore::connect(&url, SECRET, PgOptions::default().schema(&schema));
    let a = Arc::new(connect().await.expect("today's store migrates the schema"));
    let b = Arc::new(connect().await.expect("a second store on it"));
    let read = a.agent(tenant, agent).await.expect("read").expect("the agent");
    assert_eq!(read.name, "bot@acme.example");
    assert_eq!(a.list_oauth_clients(tenant, None, 10).await.expect("clients"), []);
    let g = sentryagent_testkit::authorization::grant(tenant, "user-1", "sa_oc_1");
    a.insert_authorization_code(&g, &sentryagent_testkit::authorization::code(&g))
        .await
        .expect("a code in the new tables");
    assert_eq!(b.grant(tenant, g.id).await.expect("read"), Some(g));

    sentryagent_testkit::authorization::codes_redeem_once_across(a.clone(), b.clone()).await;
    sentryagent_testkit::authorization::refresh_reuse_detected_across(a, b).await;

    drop_schema_named(&pool, &schema).await;
}

/// 0010 (secretless agents: `credentials.public_jwk`, the `oidc` columns of
/// `trust_policies`): credentials and policies written under 0008 read back
/// as secret credentials and GitHub policies, and key credentials and
/// policies of registered issuers are stored next to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_policies_from_0008_read_back_after_0010() {
    use sentryagent_core::credential::{ClientKey, Credential, CredentialStatus};
    use sentryagent_core::federation::{IssuerTrust, Provider};
    use sentryagent_core::store::{CredentialStore, TrustPolicyStore};
    use sentryagent_core::{AgentId, CredentialId, TrustPolicyId};

    let schema = services::unique_name("sa_test");
    let Some(pool) = migrated_to(&schema, 8).await else {
        return;
    };
    let (tenant, agent, credential, policy) = (
        TenantId::new(),
        AgentId::new(),
        CredentialId::new(),
        TrustPolicyId::new(),
    );
    sqlx::query(
        "INSERT INTO credentials (id, tenant_id, agent_id, client_id, secret_hash, status, created_at) \
         VALUES ($1, $2, $3, 'sa_ci_old', '\\x0707', 'active', now())",
    )
    .bind(credential.as_uuid())
    .bind(tenant.as_uuid())
    .bind(agent.as_uuid())
    .execute(&pool)
    .await
    .expect("a credential of 0008");
    sqlx::query(
        "INSERT INTO trust_policies (tenant_id, id, provider, repository, agent_id, denied_events, description, \
         created_at, max_scopes) VALUES ($1, $2, 'github', 'acme/app', $3, '{}', '', now(), '{}')",
    )
    .bind(tenant.as_uuid())
    .bind(policy.as_uuid())
    .bind(agent.as_uuid())
    .execute(&pool)
    .await
    .expect("a policy of 0008");

    let store = PgStore::connect(&services::database_url(), SECRET, PgOptions::default().schema(&schema))
        .await
        .expect("today's store migrates the schema");
    let old = store.credential(tenant, credential).await.expect("read").expect("kept");
    assert_eq!((old.client_id.as_str(), old.public_key.is_none()), ("sa_ci_old", true));
    assert_eq!(old.secret_hash, vec![7, 7]);
    let old_policy = store.trust_policy(tenant, policy).await.expect("read").expect("kept");
    assert_eq!(
        (old_policy.provider, old_policy.issuer.is_none()),
        (Provider::GitHub, true)
    );

    let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"});
    let key = Credential {
        id: CredentialId::new(),
        client_id: "sa_ci_key".into(),
        secret_hash: Vec::new(),
        public_key: Some(ClientKey::parse(&jwk).expect("an Ed25519 key")),
        status: CredentialStatus::Active,
        ..old.clone()
    };
    store.insert_credential(&key).await.expect("a key credential");
    assert_eq!(
        store.list_credentials(tenant, agent).await.expect("list"),
        vec![old, key]
    );
    let oidc = sentryagent_core::federation::TrustPolicy {
        id: TrustPolicyId::new(),
        provider: Provider::Oidc,
        repository: String::new(),
        issuer: Some(IssuerTrust {
            issuer: "https://gitlab.example".into(),
            audience: None,
            subject: Some("project_path:acme/app:*".into()),
            claims: Default::default(),
        }),
        ..old_policy
    };
    store.insert_trust_policy(&oidc).await.expect("an oidc policy");
    assert_eq!(store.trust_policy(tenant, oidc.id).await.expect("read"), Some(oidc));

    drop_schema_named(&pool, &schema).await;
}

/// 0009 (verification progress, the failures index, the tenant agent
/// search index): a chain and agents written at 0008 verify, first in full
/// then incrementally from where that stopped, and the agents are found by
/// a substring of their name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_and_agents_from_0008_verify_incrementally_and_are_found() {
    use sentryagent_core::AgentId;
    use sentryagent_core::agent::AgentQuery;
    use sentryagent_core::audit::VerifyMode;
    use sentryagent_core::store::{AgentStore, AuditStore};

    let schema = services::unique_name("sa_test");
    let Some(pool) = migrated_to(&schema, 8).await else {
        return;
    };
    let tenant = TenantId::new();
    let events = (0..5)
        .map(|i| {
            let outcome = if i % 2 == 0 { Outcome::Success } else { Outcome::Failure };
            NewAuditEvent::new("token.issued", outcome, "x").detail("i", i)
        })
        .collect();
    write_old_chain(&pool, tenant, events).await;
    sqlx::query("INSERT INTO tenants (id, name, tier, created_at) VALUES ($1, 'Acme', 'free', now())")
        .bind(tenant.as_uuid())
        .execute(&pool)
        .await
        .expect("a tenant");
    let agent = AgentId::new();
    sqlx::query(
        "INSERT INTO agents (tenant_id, id, name, description, capabilities, metadata, scopes, status, listed, \
         created_at, updated_at) VALUES ($1, $2, 'Invoice-Bot@acme.example', 'reads 100% of invoices', '{}', '{}', \
         '{agents:read}', 'active', false, now(), now())",
    )
    .bind(tenant.as_uuid())
    .bind(agent.as_uuid())
    .execute(&pool)
    .await
    .expect("an agent");

    let (store, idp) = today(&schema).await;
    // A full verification in slices of two events: three calls.
    let mut slices = Vec::new();
    loop {
        let v = idp
            .verify_audit_step(tenant, VerifyMode::Full, 2)
            .await
            .expect("verify");
        assert!(v.valid, "{v:?}");
        slices.push((v.checked, v.complete));
        if v.complete {
            assert!(v.last_full_verification.as_ref().is_some_and(|f| f.seq == 5), "{v:?}");
            break;
        }
        assert!(slices.len() < 5, "{slices:?}");
    }
    assert_eq!(slices, [(2, false), (4, false), (5, true)]);
    idp.record(tenant, vec![NewAuditEvent::new("token.issued", Outcome::Success, "x")])
        .await
        .expect("append");
    let v = idp
        .verify_audit_step(tenant, VerifyMode::Incremental, 100)
        .await
        .expect("verify");
    assert!(v.valid && v.complete && v.checked == 1 && v.from_seq == 5, "{v:?}");

    let failures = store
        .query_audit(
            tenant,
            &sentryagent_core::audit::AuditQuery {
                outcome: Some(Outcome::Failure),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("failures");
    assert_eq!(failures.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 2]);
    let successes = store
        .query_audit(
            tenant,
            &sentryagent_core::audit::AuditQuery {
                outcome: Some(Outcome::Success),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("successes");
    assert_eq!(successes.iter().map(|e| e.seq).collect::<Vec<_>>(), [6, 5, 3, 1]);

    for (q, found) in [
        ("invoice-bot", true),
        ("100%", true),
        ("10_%", false),
        ("nothing", false),
    ] {
        let agents = store
            .list_agents(
                tenant,
                &AgentQuery {
                    q: Some(q.into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .expect("search");
        assert_eq!(agents.len(), usize::from(found), "{q}");
    }
    drop_schema_named(&pool, &schema).await;
}

/// 0013 (`audit_events.canonical`): events written at 0012 have no stored
/// canonical bytes and still verify (hashed from their columns, and an
/// edit of their columns is still caught); events appended after it store
/// them, and verification hashes those, the columns compared with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_from_0012_verify_and_new_events_store_their_canonical_bytes() {
    use sentryagent_core::audit::LinkBody;
    use sentryagent_core::store::AuditStore;

    let schema = services::unique_name("sa_test");
    let Some(pool) = migrated_to(&schema, 12).await else {
        return;
    };
    // Three events as the code of 0012 wrote them: no canonical column.
    let tenant = TenantId::new();
    let events = (0..3)
        .map(|i| {
            NewAuditEvent::new("token.issued", Outcome::Success, "x")
                .agent(sentryagent_core::AgentId::new())
                .ip(Some([192, 0, 2, 1].into()))
                .detail("i", i)
                .detail("nested", serde_json::json!({"b": [1.5, null], "a": "é"}))
        })
        .collect();
    write_old_chain(&pool, tenant, events).await;

    let (store, idp) = today(&schema).await;
    let v = verify_full(&idp, tenant).await;
    assert!(v.valid && v.complete && v.checked == 3, "{v:?}");
    for i in 3..5 {
        let event = NewAuditEvent::new("token.issued", Outcome::Failure, "y")
            .ip(Some("2001:db8::1".parse().expect("ip")))
            .detail("i", i)
            .detail("quote", "a \"b\"\n\u{1f}");
        idp.record(tenant, vec![event])
            .await
            .expect("append after the old head");
    }
    let links = store.audit_links(tenant, 0, 10).await.expect("links");
    let stored: Vec<_> = links
        .iter()
        .map(|l| match &l.body {
            LinkBody::Stored { fields_match, .. } => Some(*fields_match),
            LinkBody::Fields(_) => None,
        })
        .collect();
    assert_eq!(
        stored,
        [None, None, None, Some(true), Some(true)],
        "old events from their columns, new ones from their bytes, the columns matching"
    );
    let v = verify_full(&idp, tenant).await;
    assert!(v.valid && v.complete && v.checked == 5, "{v:?}");

    // An old event's columns edited: caught, from its columns as before.
    edit(
        &pool,
        tenant,
        "UPDATE audit_events SET actor = 'evil' WHERE tenant_id = $1 AND seq = 2",
    )
    .await;
    let v = idp.verify_audit_chain(tenant).await.expect("verify");
    assert!(!v.valid && v.checked == 1, "{v:?}");
    drop_schema_named(&pool, &schema).await;
}

/// 0014 (audit indexes with `seq` ascending): the descending indexes of
/// 0013 are rebuilt ascending, one an operator built ascending beforehand
/// (concurrently, as the store's README shows) is left as it is, and
/// filtered pages still come newest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_indexes_from_0013_become_ascending_and_pages_stay_newest_first() {
    use sentryagent_core::audit::AuditQuery;
    use sentryagent_core::store::AuditStore;

    let schema = services::unique_name("sa_test");
    let Some(pool) = migrated_to(&schema, 13).await else {
        return;
    };
    let tenant = TenantId::new();
    let agent = sentryagent_core::AgentId::new();
    sqlx::query(
        "INSERT INTO audit_events (tenant_id, seq, id, agent_id, actor, action, outcome, ip, at, details, prev_hash, hash) \
         SELECT $1, g, gen_random_uuid(), CASE WHEN g % 2 = 0 THEN $2 END, 'x', 'action.' || (g % 3), \
                CASE WHEN g % 5 = 0 THEN 'failure' ELSE 'success' END, NULL, now(), '{}'::jsonb, sha256(int8send(g - 1)), sha256(int8send(g)) \
         FROM generate_series(1, 30) AS g",
    )
    .bind(tenant.as_uuid())
    .bind(agent.as_uuid())
    .execute(&pool)
    .await
    .expect("events as 0013 stored them");
    let definition = |name: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (String, i64)>("SELECT pg_get_indexdef(to_regclass($1)), to_regclass($1)::oid::bigint")
                .bind(name)
                .fetch_one(&pool)
                .await
                .expect("the index")
        }
    };
    assert!(
        definition("audit_by_agent").await.0.contains("seq DESC"),
        "0013's index"
    );
    // The operator built this one ascending ahead of the upgrade.
    // One statement at a time: CONCURRENTLY refuses a transaction, and
    // statements sent together are one.
    for statement in [
        "CREATE INDEX CONCURRENTLY audit_by_action_next ON audit_events (tenant_id, action, seq)",
        "DROP INDEX CONCURRENTLY audit_by_action",
        "ALTER INDEX audit_by_action_next RENAME TO audit_by_action",
    ] {
        sqlx::raw_sql(statement)
            .execute(&pool)
            .await
            .expect("the README's concurrent rebuild");
    }
    let prebuilt = definition("audit_by_action").await.1;

    let store = PgStore::connect(&services::database_url(), SECRET, PgOptions::default().schema(&schema))
        .await
        .expect("today's store migrates the schema");
    for name in ["audit_by_agent", "audit_by_action", "audit_failures"] {
        let (def, _) = definition(name).await;
        assert!(!def.contains("DESC") && def.contains("seq)"), "{name}: {def}");
    }
    assert!(
        definition("audit_failures")
            .await
            .0
            .contains("WHERE (outcome = 'failure'::text)"),
        "still partial"
    );
    assert_eq!(
        definition("audit_by_action").await.1,
        prebuilt,
        "the prebuilt index is left alone"
    );

    let page = |query: AuditQuery| {
        let store = &store;
        async move {
            store
                .query_audit(tenant, &AuditQuery { limit: 4, ..query })
                .await
                .expect("a page")
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        page(AuditQuery {
            agent_id: Some(agent),
            ..Default::default()
        })
        .await,
        [30, 28, 26, 24]
    );
    assert_eq!(
        page(AuditQuery {
            action: Some("action.0".into()),
            ..Default::default()
        })
        .await,
        [30, 27, 24, 21]
    );
    assert_eq!(
        page(AuditQuery {
            outcome: Some(sentryagent_core::audit::Outcome::Failure),
            ..Default::default()
        })
        .await,
        [30, 25, 20, 15]
    );
    drop_schema_named(&pool, &schema).await;
}

/// 0015 (details kept only in the canonical bytes): events from 0014, with
/// details in both places, read back and verify; new events store NULL
/// details and read back the same; details written into the column of a
/// new event are caught; and no event can be stored with neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_0014_keep_their_details_and_new_ones_keep_them_only_in_their_bytes() {
    use sentryagent_core::audit::AuditQuery;
    use sentryagent_core::store::AuditStore;

    let schema = services::unique_name("sa_test");
    let Some(pool) = migrated_to(&schema, 14).await else {
        return;
    };
    let tenant = TenantId::new();
    let detail = |i: i64| serde_json::json!({"b": [1.5, null], "a": "é", "i": i});
    let events = (0..3)
        .map(|i| NewAuditEvent::new("token.issued", Outcome::Success, "x").detail("nested", detail(i)))
        .collect();
    write_chain(&pool, tenant, events, true).await;

    let (store, idp) = today(&schema).await;
    for i in 3..5 {
        let event = NewAuditEvent::new("token.issued", Outcome::Success, "x").detail("nested", detail(i));
        idp.record(tenant, vec![event]).await.expect("append");
    }
    let nulls: Vec<bool> =
        sqlx::query_scalar("SELECT details IS NULL FROM audit_events WHERE tenant_id = $1 ORDER BY seq")
            .bind(tenant.as_uuid())
            .fetch_all(&pool)
            .await
            .expect("rows");
    assert_eq!(
        nulls,
        [false, false, false, true, true],
        "new events keep their details only in their bytes"
    );
    let page = store
        .query_audit(
            tenant,
            &AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            },
        )
        .await
        .expect("a page");
    let read: Vec<serde_json::Value> = page.iter().rev().map(|e| e.details["nested"].clone()).collect();
    assert_eq!(
        read,
        (0..5).map(detail).collect::<Vec<_>>(),
        "every event's details read back"
    );
    let chain = store.audit_chain(tenant, 0, 10).await.expect("the chain");
    assert_eq!(chain[4].details["nested"], detail(4));
    let v = verify_full(&idp, tenant).await;
    assert!(v.valid && v.complete && v.checked == 5, "{v:?}");

    // Details written into a new event's column: they are what reads show,
    // and verification catches them.
    edit(
        &pool,
        tenant,
        "UPDATE audit_events SET details = '{\"nested\": 1}' WHERE tenant_id = $1 AND seq = 5",
    )
    .await;
    let v = verify_full(&idp, tenant).await;
    assert!(!v.valid && v.checked == 4, "{v:?}");

    let neither =
        sqlx::query("UPDATE audit_events SET details = NULL, canonical = NULL WHERE tenant_id = $1 AND seq = 4")
            .bind(tenant.as_uuid())
            .execute(&pool)
            .await
            .expect_err("no event without its details");
    assert!(neither.to_string().contains("audit_details_kept"), "{neither}");
    drop_schema_named(&pool, &schema).await;
}
