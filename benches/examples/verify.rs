//! This process's CPU per event of a full audit verification, counted by
//! callgrind (instructions do not depend on how busy the machine is), with
//! the events' stored canonical bytes hashed as they are (`stored`) or, as
//! before they were kept, every event's fields serialised again (`fields`:
//! PostgreSQL's `canonical` column emptied, which is how events written
//! before migration 0013 are verified). Only the verification is counted
//! (`measured_verification`); PostgreSQL's own work is another process's.
//!
//! ```text
//! cargo build --release -p sentryagent-benches --example verify
//! DATABASE_URL=postgres://… valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='*measured_verification*' target/release/examples/verify postgres stored 20000
//! DATABASE_URL=postgres://… valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='*measured_verification*' target/release/examples/verify postgres fields 20000
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='*measured_verification*' target/release/examples/verify memory stored 20000
//! ```
//!
//! The count over the number of events is the cost of one. Run without
//! valgrind, it prints the thread's CPU time of the same verification, so
//! instructions per µs on this machine follow from the two, split into user
//! and kernel time (the kernel's is receiving PostgreSQL's bytes and waiting
//! for them), and the CPU time of this machine's PostgreSQL processes over
//! the same events. `ROUNDS=k` verifies k times, so that those coarse
//! clocks (10 ms) and a sampling profiler see mostly the verification:
//!
//! ```text
//! DATABASE_URL=postgres://… ROUNDS=10 target/release/examples/verify postgres stored 100000
//! ```

use std::sync::Arc;
use std::time::Duration;

use sentryagent_benches::cpu;
use sentryagent_core::audit::{AuditChain, FULL_SLICE, NewAuditEvent, Outcome, Verification, VerifyMode};
use sentryagent_core::secret::ServerKey;
use sentryagent_core::store::DurableStore;
use sentryagent_core::{AgentId, MemoryStore, SentryAgent, TenantId};
use sentryagent_store_postgres::{PgOptions, PgStore, sqlx};

const SECRET: &[u8; 32] = b"verify-benchmark-secret-32-bytes";

/// A `token.issued` event like the token endpoint's.
fn token_event(agent: AgentId) -> NewAuditEvent {
    let client = format!("sa_{}", agent.as_uuid().simple());
    NewAuditEvent::new("token.issued", Outcome::Success, client.clone())
        .agent(agent)
        .ip(Some(std::net::IpAddr::from([127, 0, 0, 1])))
        .detail("clientId", client)
        .detail("credentialId", AgentId::new().to_string())
        .detail("jti", AgentId::new().to_string())
        .detail("scope", "reports:read")
        .detail("aud", "https://idp.example.com")
}

async fn fill<S: DurableStore>(store: &Arc<S>, n: u64) -> (SentryAgent, TenantId) {
    let idp = SentryAgent::builder()
        .server_secret(SECRET)
        .expect("secret")
        .durable(store.clone())
        .audit_full_verification(None)
        .build()
        .await
        .expect("build");
    let chain = AuditChain::new(ServerKey::from_master(SECRET).expect("key"));
    let tenant = TenantId::new();
    let agents: Vec<AgentId> = (0..100).map(|_| AgentId::new()).collect();
    let mut i = 0;
    while i < n {
        let batch: Vec<NewAuditEvent> = (i..(i + 5_000).min(n))
            .map(|k| token_event(agents[k as usize % agents.len()]))
            .collect();
        i += batch.len() as u64;
        store.append_audit(tenant, batch, &chain).await.expect("append");
    }
    (idp, tenant)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(backend), Some(form), Some(n)) = (
        args.first().cloned(),
        args.get(1).cloned(),
        args.get(2).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: verify <memory|postgres> <stored|fields> <events>");
        std::process::exit(2);
    };
    // `ROUNDS=k` verifies k times, so that a sampling profiler sees mostly the verification.
    let rounds = match std::env::var("ROUNDS").as_deref() {
        Err(_) | Ok("") => 1,
        Ok(r) => match r.parse::<u64>() {
            Ok(r) if r > 0 => r,
            _ => {
                eprintln!("ROUNDS must be a whole number of at least 1, not {r:?}");
                std::process::exit(2);
            }
        },
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (idp, tenant, pg) = rt.block_on(async {
        if backend == "postgres" {
            let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
            let schema = format!("sa_verify_bench_{}", std::process::id());
            let store = Arc::new(
                PgStore::connect(&url, SECRET, PgOptions::default().schema(schema))
                    .await
                    .expect("PostgreSQL"),
            );
            let (idp, tenant) = fill(&store, n).await;
            if form == "fields" {
                sqlx::query(
                    "UPDATE audit_events SET details = convert_from(canonical, 'UTF8')::jsonb -> 'details', \
                     canonical = NULL",
                )
                .execute(store.pool())
                .await
                .expect("as before 0013");
            }
            sqlx::query("VACUUM ANALYZE audit_events")
                .execute(store.pool())
                .await
                .expect("vacuum");
            (idp, tenant, Some(store))
        } else {
            assert_eq!(form, "stored", "the in-memory store always keeps the bytes");
            let store = Arc::new(MemoryStore::new().with_audit_history_limit(None));
            let (idp, tenant) = fill(&store, n).await;
            (idp, tenant, None)
        }
    });
    // Once unmeasured, so that PostgreSQL's cache is warm for the measured run.
    let warm = verify_fully(&rt, &idp, tenant);
    assert!(warm.valid && warm.checked == n, "{warm:?}");
    let (thread0, (user0, kernel0), db0) = (cpu::thread(), cpu::thread_user_kernel(), cpu::postgres());
    for _ in 0..rounds {
        let v = measured_verification(&rt, &idp, tenant);
        assert!(v.valid && v.checked == n, "{v:?}");
    }
    let thread = cpu::thread() - thread0;
    let (user, kernel) = cpu::thread_user_kernel();
    let db = cpu::postgres() - db0;
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / (n * rounds) as f64;
    let postgres = if pg.is_some() {
        format!(", PostgreSQL's {:.2}", per_event(db))
    } else {
        String::new()
    };
    println!(
        "{backend} {form}: {n} events, this thread's CPU {:.3} µs per event (user {:.3}, kernel {:.3}){postgres}",
        per_event(thread),
        per_event(user - user0),
        per_event(kernel - kernel0),
    );
    if let Some(store) = pg {
        rt.block_on(async {
            let drop = format!("DROP SCHEMA {} CASCADE", store.schema());
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(store.pool()).await;
        });
    }
}

fn verify_fully(rt: &tokio::runtime::Runtime, idp: &SentryAgent, tenant: TenantId) -> Verification {
    rt.block_on(async {
        loop {
            let v = idp
                .verify_audit_step(tenant, VerifyMode::Full, FULL_SLICE)
                .await
                .expect("verify");
            if v.complete {
                return v;
            }
        }
    })
}

/// The full verification callgrind counts (`--toggle-collect`).
#[inline(never)]
fn measured_verification(rt: &tokio::runtime::Runtime, idp: &SentryAgent, tenant: TenantId) -> Verification {
    verify_fully(rt, idp, tenant)
}
