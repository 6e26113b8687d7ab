use async_trait::async_trait;
use bytes::Bytes;
use sentryagent_core::audit::{
    AuditChain, AuditCut, AuditEvent, AuditQuery, ChainLink, ChainMark, FullRun, LinkBody, NewAuditEvent, Outcome,
    Unsealed, VerifyProgress,
};
use sentryagent_core::store::AuditStore;
use sentryagent_core::{AgentId, EventId, StoreError, StoreResult, TenantId};
use sqlx::{Postgres, QueryBuilder};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{ResultExt, corrupt};

/// An event's columns; its details from the column where they are there
/// (events written before 0015), else from its canonical bytes.
macro_rules! audit_columns {
    () => {
        "tenant_id, seq, id, agent_id, actor, action, outcome, ip, at, details, \
         CASE WHEN details IS NULL THEN canonical END AS details_bytes, prev_hash, hash"
    };
}

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: Uuid,
    seq: i64,
    id: Uuid,
    agent_id: Option<Uuid>,
    actor: String,
    action: String,
    outcome: String,
    ip: Option<String>,
    at: OffsetDateTime,
    details: Option<serde_json::Value>,
    /// The canonical bytes, of an event whose `details` are NULL.
    details_bytes: Option<Vec<u8>>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

/// The details in an event's canonical bytes (kept only there since 0015).
fn details_in(canonical: &[u8]) -> StoreResult<serde_json::Value> {
    match serde_json::from_slice(canonical) {
        Ok(serde_json::Value::Object(mut event)) => event
            .remove("details")
            .ok_or_else(|| corrupt("an audit event's canonical bytes have no details")),
        _ => Err(corrupt("an audit event's canonical bytes do not parse")),
    }
}

fn hash32(bytes: &[u8]) -> StoreResult<[u8; 32]> {
    bytes.try_into().map_err(|_| corrupt("an audit hash is not 32 bytes"))
}

impl TryFrom<Row> for AuditEvent {
    type Error = StoreError;

    fn try_from(r: Row) -> StoreResult<Self> {
        let details = match (r.details, r.details_bytes) {
            (Some(details), _) => details,
            (None, Some(bytes)) => details_in(&bytes)?,
            (None, None) => return Err(corrupt("an audit event without its details")),
        };
        let serde_json::Value::Object(details) = details else {
            return Err(corrupt("audit details are not an object"));
        };
        Ok(AuditEvent {
            id: EventId::from_uuid(r.id),
            tenant_id: TenantId::from_uuid(r.tenant_id),
            seq: u64::try_from(r.seq).map_err(|_| corrupt("negative audit seq"))?,
            agent_id: r.agent_id.map(AgentId::from_uuid),
            actor: r.actor,
            action: r.action,
            outcome: Outcome::parse(&r.outcome).ok_or_else(|| corrupt("unknown audit outcome"))?,
            ip: r
                .ip
                .map(|ip| ip.parse().map_err(|_| corrupt("bad audit ip")))
                .transpose()?,
            at: r.at,
            details,
            prev_hash: hash32(&r.prev_hash)?,
            hash: hash32(&r.hash)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ProgressRow {
    seq: i64,
    hash: Vec<u8>,
    full_passed_at: Option<OffsetDateTime>,
    full_passed_seq: i64,
    run_started_at: Option<OffsetDateTime>,
    run_from_seq: Option<i64>,
    run_seq: Option<i64>,
    run_hash: Option<Vec<u8>>,
    run_checked: Option<i64>,
    mac: Vec<u8>,
}

impl TryFrom<ProgressRow> for VerifyProgress {
    type Error = StoreError;

    fn try_from(r: ProgressRow) -> StoreResult<Self> {
        let unsigned = |n: i64| u64::try_from(n).map_err(|_| corrupt("negative verification seq"));
        let run = match (r.run_started_at, r.run_from_seq, r.run_seq, r.run_hash, r.run_checked) {
            (Some(started_at), Some(from_seq), Some(seq), Some(hash), Some(checked)) => Some(FullRun {
                started_at,
                from_seq: unsigned(from_seq)?,
                seq: unsigned(seq)?,
                hash: hash32(&hash)?,
                checked: unsigned(checked)?,
            }),
            _ => None,
        };
        Ok(VerifyProgress {
            verified_seq: unsigned(r.seq)?,
            verified_hash: hash32(&r.hash)?,
            full_passed_at: r.full_passed_at,
            full_passed_seq: unsigned(r.full_passed_seq)?,
            run,
            mac: hash32(&r.mac)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MarkRow {
    seq: i64,
    hash: Vec<u8>,
    mac: Vec<u8>,
    lost_at: Option<i64>,
}

impl TryFrom<MarkRow> for ChainMark {
    type Error = StoreError;

    fn try_from(r: MarkRow) -> StoreResult<Self> {
        let unsigned = |n: i64| u64::try_from(n).map_err(|_| corrupt("negative chain mark"));
        Ok(ChainMark {
            seq: unsigned(r.seq)?,
            hash: hash32(&r.hash)?,
            mac: hash32(&r.mac)?,
            lost_at: r.lost_at.map(unsigned).transpose()?,
        })
    }
}

/// The SQL of an audit query. Only the filters present appear, so the
/// planner picks the index that fits them (see the README's query plans).
fn audit_query(prefix: &'static str, tenant: TenantId, query: &AuditQuery) -> QueryBuilder<Postgres> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(prefix);
    sql.push(concat!(
        "SELECT ",
        audit_columns!(),
        " FROM audit_events WHERE tenant_id = "
    ))
    .push_bind(*tenant.as_uuid());
    if let Some(agent) = query.agent_id {
        sql.push(" AND agent_id = ").push_bind(*agent.as_uuid());
    }
    if let Some(action) = &query.action {
        sql.push(" AND action = ").push_bind(action.clone());
    }
    // Failures have their own small index; successes, the common case, are
    // asked as "not a failure" so that the planner, statistics or not,
    // expects many and walks the primary key in order (see 0009).
    match query.outcome {
        Some(Outcome::Failure) => {
            sql.push(" AND outcome = 'failure'");
        }
        Some(Outcome::Success) => {
            sql.push(" AND outcome <> 'failure'");
        }
        None => {}
    }
    if let Some(from) = query.from {
        sql.push(" AND at >= ").push_bind(from);
    }
    if let Some(to) = query.to {
        sql.push(" AND at < ").push_bind(to);
    }
    if let Some(before) = query.before_seq {
        sql.push(" AND seq < ").push_bind(seq(before));
    }
    sql.push(" ORDER BY seq DESC LIMIT ").push_bind(query.limit as i64);
    sql
}

/// A transaction planned the way an audit page without a time window
/// needs: no sort and no bitmap scan, so the page is an ordered
/// walk of the index that matches its filter (or of the primary key),
/// reading about as many rows as the page holds. Left to itself, with
/// statistics absent or stale, the planner may guess a busy agent has a few
/// events and read and sort every one of them (seconds at millions of
/// events). The settings go in the `BEGIN`'s own message: one round trip.
async fn ordered(pool: &sqlx::PgPool) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(BEGIN_ORDERED).await
}

/// `BEGIN` with the settings of [`ordered`].
const BEGIN_ORDERED: &str = "BEGIN; SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off";

/// Whether `query` pages best as an ordered index walk: every filter but
/// the time window has an index in `seq` order; a window's matches are
/// found through the time index and sorted (they are few when narrow,
/// and walking every newer event to reach an old window would be worse).
fn wants_ordered_plan(query: &AuditQuery) -> bool {
    query.from.is_none() && query.to.is_none()
}

fn seq(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The chain heads this instance wrote last, one per tenant. A hint only:
/// an append built on a stale head changes nothing and falls back to
/// locking the head (see [`insert_linked`]).
#[derive(Debug, Default)]
pub(crate) struct HeadCache(Mutex<HashMap<TenantId, ChainMark>>);

impl HeadCache {
    /// Tenants remembered at most; past that the cache starts again empty.
    const CAPACITY: usize = 4_096;

    fn get(&self, tenant: TenantId) -> Option<ChainMark> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tenant)
            .cloned()
    }

    fn set(&self, tenant: TenantId, head: ChainMark) {
        let mut heads = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if heads.len() >= Self::CAPACITY && !heads.contains_key(&tenant) {
            heads.clear();
        }
        heads.insert(tenant, head);
    }
}

/// Seals `events` one after another onto `head`: the events, each one's
/// canonical bytes (to be stored beside it) and the head after the last.
fn seal_all(
    chain: &AuditChain,
    tenant: TenantId,
    head: &ChainMark,
    events: Vec<NewAuditEvent>,
) -> (Vec<AuditEvent>, Vec<Bytes>, ChainMark) {
    let (linked, new_head) = chain.seal_all(tenant, head, events.into_iter().map(|e| Unsealed::new(tenant, e)));
    let (sealed, canonical) = linked.into_iter().unzip();
    (sealed, canonical, new_head)
}

/// Moves the tenant's head from `head` to `new_head` and inserts `sealed`,
/// in one statement (one round trip, one commit when autocommitted). When
/// the head is no longer `head` (moved, re-anchored or gone), nothing
/// changes and it returns 0. The SQL is the same whatever the batch size,
/// so it is prepared once per connection.
async fn insert_linked<'c, E>(
    db: E,
    tenant: TenantId,
    head: &ChainMark,
    new_head: &ChainMark,
    sealed: &[AuditEvent],
    canonical: &[Bytes],
) -> StoreResult<u64>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    let n = sealed.len();
    let (mut seqs, mut ids, mut agents) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut actors, mut actions, mut outcomes) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut ips, mut ats) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut prevs, mut hashes) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for e in sealed {
        seqs.push(seq(e.seq));
        ids.push(*e.id.as_uuid());
        agents.push(e.agent_id.map(|a| *a.as_uuid()));
        actors.push(e.actor.as_str());
        actions.push(e.action.as_str());
        outcomes.push(e.outcome.as_str());
        ips.push(e.ip.map(|ip| ip.to_string()));
        ats.push(e.at);
        prevs.push(e.prev_hash);
        hashes.push(e.hash);
    }
    let done = sqlx::query(
        "WITH head AS (UPDATE audit_heads SET seq = $2, hash = $3, mac = $4 \
                       WHERE tenant_id = $1 AND seq = $5 AND hash = $6 AND mac = $17 RETURNING tenant_id) \
         INSERT INTO audit_events (tenant_id, seq, id, agent_id, actor, action, outcome, ip, at, prev_hash, hash, \
                canonical) \
         SELECT head.tenant_id, e.* FROM head, UNNEST($7::bigint[], $8::uuid[], $9::uuid[], $10::text[], \
                $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::bytea[], $16::bytea[], \
                $18::bytea[]) \
             AS e(seq, id, agent_id, actor, action, outcome, ip, at, prev_hash, hash, canonical)",
    )
    .bind(tenant.as_uuid())
    .bind(seq(new_head.seq))
    .bind(&new_head.hash[..])
    .bind(&new_head.mac[..])
    .bind(seq(head.seq))
    .bind(&head.hash[..])
    .bind(seqs)
    .bind(ids)
    .bind(agents)
    .bind(actors)
    .bind(actions)
    .bind(outcomes)
    .bind(ips)
    .bind(ats)
    .bind(prevs)
    .bind(hashes)
    .bind(&head.mac[..])
    .bind(canonical.iter().map(|c| &c[..]).collect::<Vec<&[u8]>>())
    .execute(db)
    .await
    .store()?;
    Ok(done.rows_affected())
}

/// Locks the tenant's head row for the rest of `tx`, making it first if
/// there is none: at genesis for a chain that never had events, otherwise
/// on the last stored event (or the retention anchor) marked lost
/// ([`AuditChain::lost`]), so appends go on after it without the head
/// vouching for what the events say now.
async fn lock_head(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    tenant: TenantId,
    chain: &AuditChain,
) -> StoreResult<ChainMark> {
    const SELECT_HEAD: &str = "SELECT seq, hash, mac, lost_at FROM audit_heads WHERE tenant_id = $1 FOR UPDATE";
    let found: Option<MarkRow> = sqlx::query_as(SELECT_HEAD)
        .bind(tenant.as_uuid())
        .fetch_optional(&mut **tx)
        .await
        .store()?;
    if let Some(row) = found {
        return ChainMark::try_from(row);
    }
    let last: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "(SELECT seq, hash FROM audit_events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1) \
         UNION ALL (SELECT seq, hash FROM audit_anchors WHERE tenant_id = $1) ORDER BY seq DESC LIMIT 1",
    )
    .bind(tenant.as_uuid())
    .fetch_optional(&mut **tx)
    .await
    .store()?;
    let head = match last {
        None => chain.genesis(tenant),
        Some((seq, hash)) => {
            let seq = u64::try_from(seq).map_err(|_| corrupt("negative audit seq"))?;
            tracing::error!(
                %tenant, seq,
                "the audit checkpoint is missing; appending after the last stored event, marked lost: \
                 verification fails until an operator re-anchors the chain"
            );
            chain.lost(tenant, seq, hash32(&hash)?)
        }
    };
    // Another instance may be making it at the same time: one row wins,
    // and both go on with the winner, locked.
    sqlx::query(
        "INSERT INTO audit_heads (tenant_id, seq, hash, mac, lost_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tenant.as_uuid())
    .bind(seq(head.seq))
    .bind(&head.hash[..])
    .bind(&head.mac[..])
    .bind(head.lost_at.map(seq))
    .execute(&mut **tx)
    .await
    .store()?;
    let row: MarkRow = sqlx::query_as(SELECT_HEAD)
        .bind(tenant.as_uuid())
        .fetch_one(&mut **tx)
        .await
        .store()?;
    ChainMark::try_from(row)
}

/// Whether an event's columns say what its canonical bytes say, in
/// PostgreSQL: the bytes (`bytes.json`, from `canonical_json!`) less their
/// `details` equal the object built from the columns, and hold `details`;
/// a `details` column (NULL since 0015, the details kept only in the bytes)
/// equals them when set. Leaving `details` out of the object built is
/// what makes this cheap: the bytes' details are not copied into it to be
/// compared with themselves. One expression for both verification queries
/// ([`AUDIT_LINKS`] and [`page::AUDIT_PAGE`]).
macro_rules! fields_match {
    () => {
        "(bytes.json - 'details' = jsonb_build_object('id', id, 'agentId', agent_id, 'actor', actor, \
         'action', action, 'outcome', outcome, 'ip', ip, 'atMicros', extract(epoch FROM at) * 1000000) \
         AND bytes.json ? 'details' AND (details IS NULL OR bytes.json -> 'details' = details))"
    };
}

/// `audit_events` with each event's canonical bytes parsed once, as
/// `bytes.json`, for `fields_match!`. `OFFSET 0` keeps the subquery from
/// being pulled up into the query, which would parse the bytes again for
/// every use of `bytes.json` (measured: twice the time for the page).
macro_rules! canonical_json {
    () => {
        "audit_events, LATERAL (SELECT convert_from(canonical, 'UTF8')::jsonb AS json OFFSET 0) bytes"
    };
}

mod page;

/// The events of a verification page, row by row (when some were stored
/// without their canonical bytes; otherwise [`page::AUDIT_PAGE`] packs them),
/// with what it needs of each: the
/// stored canonical bytes and whether the columns say what they say
/// (`fields_match`: the bytes read as `jsonb` equal the object built from
/// the columns, in PostgreSQL), and the columns only of an event stored
/// without them (written before 0013), to be hashed from its columns.
const AUDIT_LINKS: &str = concat!(
    "SELECT seq, id, prev_hash, hash, canonical, canonical IS NOT NULL AND ",
    fields_match!(),
    " AS fields_match, \
       CASE WHEN canonical IS NULL THEN agent_id END, CASE WHEN canonical IS NULL THEN actor END, \
       CASE WHEN canonical IS NULL THEN action END, CASE WHEN canonical IS NULL THEN outcome END, \
       CASE WHEN canonical IS NULL THEN ip END, CASE WHEN canonical IS NULL THEN at END, \
       CASE WHEN canonical IS NULL THEN details END \
     FROM ",
    canonical_json!(),
    " WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
);

/// A row of [`AUDIT_LINKS`], decoded by position (no per-row allocation
/// but the bytes).
fn link_from(tenant: TenantId, row: &sqlx::postgres::PgRow) -> StoreResult<ChainLink> {
    use sqlx::Row as _;
    let get_err = |_: sqlx::Error| corrupt("an audit row does not decode");
    let seq_n: i64 = row.try_get(0).map_err(get_err)?;
    let id: Uuid = row.try_get(1).map_err(get_err)?;
    let prev_hash = hash32(row.try_get::<&[u8], _>(2).map_err(get_err)?)?;
    let hash = hash32(row.try_get::<&[u8], _>(3).map_err(get_err)?)?;
    let canonical: Option<Vec<u8>> = row.try_get(4).map_err(get_err)?;
    let fields_match: bool = row.try_get(5).map_err(get_err)?;
    let seq = u64::try_from(seq_n).map_err(|_| corrupt("negative audit seq"))?;
    let body = match canonical {
        Some(canonical) => LinkBody::Stored {
            canonical: Bytes::from(canonical),
            fields_match,
        },
        None => {
            let event = Row {
                tenant_id: *tenant.as_uuid(),
                seq: seq_n,
                id,
                agent_id: row.try_get(6).map_err(get_err)?,
                actor: row
                    .try_get::<Option<String>, _>(7)
                    .map_err(get_err)?
                    .unwrap_or_default(),
                action: row
                    .try_get::<Option<String>, _>(8)
                    .map_err(get_err)?
                    .unwrap_or_default(),
                outcome: row
                    .try_get::<Option<String>, _>(9)
                    .map_err(get_err)?
                    .unwrap_or_default(),
                ip: row.try_get(10).map_err(get_err)?,
                at: row
                    .try_get::<Option<OffsetDateTime>, _>(11)
                    .map_err(get_err)?
                    .ok_or_else(|| corrupt("an audit event without its time"))?,
                details: row.try_get(12).map_err(get_err)?,
                details_bytes: None,
                prev_hash: prev_hash.to_vec(),
                hash: hash.to_vec(),
            };
            LinkBody::Fields(Box::new(AuditEvent::try_from(event)?))
        }
    };
    Ok(ChainLink {
        id: EventId::from_uuid(id),
        seq,
        prev_hash,
        hash,
        body,
    })
}

impl PgStore {
    /// A verification page whose stored bytes PostgreSQL could not read as
    /// JSON: every column read, and compared with the bytes here.
    async fn audit_links_compared_here(
        &self,
        tenant: TenantId,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<ChainLink>> {
        let rows: Vec<(Row, Option<Vec<u8>>)> = sqlx::query(concat!(
            "SELECT ",
            audit_columns!(),
            ", canonical FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(tenant.as_uuid())
        .bind(seq(after_seq))
        .bind(limit as i64)
        .try_map(|row: sqlx::postgres::PgRow| {
            use sqlx::{FromRow as _, Row as _};
            Ok((Row::from_row(&row)?, row.try_get("canonical")?))
        })
        .fetch_all(&self.pool)
        .await
        .store()?;
        rows.into_iter()
            .map(|(mut row, canonical)| {
                // Bytes that do not parse have no details to show: the event
                // gets none, and its bytes fail the comparison below.
                if row.details.is_none() {
                    let parsed = row.details_bytes.take().and_then(|bytes| details_in(&bytes).ok());
                    row.details = Some(parsed.unwrap_or_else(|| serde_json::json!({})));
                }
                let event = AuditEvent::try_from(row)?;
                Ok(match canonical {
                    Some(canonical) => ChainLink::checked(&event, Bytes::from(canonical)),
                    None => ChainLink::from(event),
                })
            })
            .collect()
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(
        &self,
        tenant: TenantId,
        mut events: Vec<NewAuditEvent>,
        chain: &AuditChain,
    ) -> StoreResult<Vec<AuditEvent>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // Fast path: link onto the head this instance wrote last, in one
        // autocommitted statement that moves the head only if it is still
        // there. Another instance having appended since makes it a no-op.
        if let Some(head) = self.audit_heads.get(tenant) {
            let (sealed, canonical, new_head) = seal_all(chain, tenant, &head, events);
            let mut conn = self.warm.take().await?;
            let inserted = insert_linked(&mut *conn, tenant, &head, &new_head, &sealed, &canonical).await?;
            self.warm.keep(conn);
            if inserted == sealed.len() as u64 {
                self.audit_heads.set(tenant, new_head);
                return Ok(sealed);
            }
            events = sealed.into_iter().map(NewAuditEvent::from).collect();
        }
        // Slow path: lock the head (creating it on first use), so appends to
        // one tenant's chain are serialised across every instance.
        let mut tx = self.pool.begin().await.store()?;
        let head = lock_head(&mut tx, tenant, chain).await?;
        let (sealed, canonical, new_head) = seal_all(chain, tenant, &head, events);
        let inserted = insert_linked(&mut *tx, tenant, &head, &new_head, &sealed, &canonical).await?;
        if inserted != sealed.len() as u64 {
            return Err(corrupt("the locked audit head moved"));
        }
        tx.commit().await.store()?;
        self.audit_heads.set(tenant, new_head);
        Ok(sealed)
    }

    async fn query_audit(&self, tenant: TenantId, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let mut sql = audit_query("", tenant, query);
        let rows: Vec<Row> = if wants_ordered_plan(query) {
            let mut tx = ordered(&self.pool).await.store()?;
            let rows = sql.build_query_as().fetch_all(&mut *tx).await.store()?;
            tx.commit().await.store()?;
            rows
        } else {
            sql.build_query_as().fetch_all(&self.pool).await.store()?
        };
        rows.into_iter().map(AuditEvent::try_from).collect()
    }

    async fn audit_chain(&self, tenant: TenantId, after_seq: u64, limit: usize) -> StoreResult<Vec<AuditEvent>> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(tenant.as_uuid())
        .bind(seq(after_seq))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .store()?;
        rows.into_iter().map(AuditEvent::try_from).collect()
    }

    /// PostgreSQL compares each event's columns with its stored canonical
    /// bytes in the query (see `AUDIT_LINKS`); only an event stored
    /// without them (before 0013) has its columns read and hashed here.
    async fn audit_links(&self, tenant: TenantId, after_seq: u64, limit: usize) -> StoreResult<Vec<ChainLink>> {
        // An ordered walk of the primary key, whatever the statistics: left
        // alone, a planner without them chose to read the whole table and
        // sort it for every page of a wide 100,000-event table (10 s for a
        // 50,000-event slice in `benches/scale.sh`, against 0.45 s at 1M).
        let mut tx = ordered(&self.pool).await.store()?;
        let packed = sqlx::query(page::AUDIT_PAGE)
            .bind(tenant.as_uuid())
            .bind(seq(after_seq))
            .bind(limit as i64)
            .fetch_one(&mut *tx)
            .await;
        drop(tx);
        match packed {
            Ok(row) => {
                use sqlx::Row as _;
                let get_err = |_: sqlx::Error| corrupt("a packed audit page does not decode");
                let events: i64 = row.try_get(0).map_err(get_err)?;
                let with_bytes: i64 = row.try_get(1).map_err(get_err)?;
                if events == with_bytes {
                    // Checked to be a `bytea` (or NULL) before the row is kept as one.
                    let _: Option<&[u8]> = row.try_get(2).map_err(get_err)?;
                    let events = usize::try_from(events).map_err(|_| corrupt("a packed audit page"))?;
                    return page::links_from_page(Bytes::from_owner(page::PackedRow(row)), events);
                }
                // Events stored without their bytes (before 0013): read row by row below.
            }
            // Stored bytes that are not UTF-8 JSON (so not what was
            // written): the page is compared here instead, and they fail.
            Err(sqlx::Error::Database(e)) if e.code().is_some_and(|c| c.starts_with("22")) => {
                return self.audit_links_compared_here(tenant, after_seq, limit).await;
            }
            // A page too large for one value (1 GiB): read row by row below.
            Err(sqlx::Error::Database(e)) if e.code().is_some_and(|c| c.starts_with("54")) => {}
            Err(e) => return Err(e).store(),
        }
        let mut tx = ordered(&self.pool).await.store()?;
        let rows = match sqlx::query(AUDIT_LINKS)
            .bind(tenant.as_uuid())
            .bind(seq(after_seq))
            .bind(limit as i64)
            .fetch_all(&mut *tx)
            .await
        {
            Ok(rows) => rows,
            // Stored bytes that are not UTF-8 JSON (so not what was
            // written): the page is compared here instead, and they fail.
            Err(sqlx::Error::Database(e)) if e.code().is_some_and(|c| c.starts_with("22")) => {
                return self.audit_links_compared_here(tenant, after_seq, limit).await;
            }
            Err(e) => return Err(e).store(),
        };
        rows.iter().map(|row| link_from(tenant, row)).collect()
    }

    async fn audit_checkpoint(&self, tenant: TenantId) -> StoreResult<Option<ChainMark>> {
        let row: Option<MarkRow> =
            sqlx::query_as("SELECT seq, hash, mac, lost_at FROM audit_heads WHERE tenant_id = $1")
                .bind(tenant.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .store()?;
        row.map(ChainMark::try_from).transpose()
    }

    async fn audit_anchor(&self, tenant: TenantId) -> StoreResult<Option<ChainMark>> {
        let row: Option<MarkRow> =
            sqlx::query_as("SELECT seq, hash, mac, NULL::bigint AS lost_at FROM audit_anchors WHERE tenant_id = $1")
                .bind(tenant.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .store()?;
        row.map(ChainMark::try_from).transpose()
    }

    async fn reanchor_audit(&self, tenant: TenantId, chain: &AuditChain) -> StoreResult<Option<ChainMark>> {
        let mut tx = self.pool.begin().await.store()?;
        let head = lock_head(&mut tx, tenant, chain).await?;
        if head.lost_at.is_none() {
            // An intact checkpoint, or an empty chain: nothing to re-anchor.
            return Ok(None);
        }
        let anchored = chain.reanchor(tenant, &head);
        sqlx::query("UPDATE audit_heads SET mac = $2, lost_at = NULL WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .bind(&anchored.mac[..])
            .execute(&mut *tx)
            .await
            .store()?;
        tx.commit().await.store()?;
        // Another instance's remembered head no longer matches (its MAC
        // changed), so its next append takes the slow path.
        self.audit_heads.set(tenant, anchored);
        Ok(Some(head))
    }

    async fn prune_audit(&self, tenant: TenantId, cut: AuditCut, chain: &AuditChain) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.store()?;
        // Hold the head so no append interleaves with the cut.
        let locked: Option<i64> = sqlx::query_scalar("SELECT seq FROM audit_heads WHERE tenant_id = $1 FOR UPDATE")
            .bind(tenant.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .store()?;
        if locked.is_none() {
            return Ok(0);
        }
        let last: Option<(i64, Vec<u8>)> = match cut {
            AuditCut::Before(before) => sqlx::query_as(
                "SELECT seq, hash FROM audit_events WHERE tenant_id = $1 AND at < $2 ORDER BY seq DESC LIMIT 1",
            )
            .bind(tenant.as_uuid())
            .bind(before),
            // The newest `keep` stay: the cut is the one after them.
            AuditCut::KeepNewest(keep) => sqlx::query_as(
                "SELECT seq, hash FROM audit_events WHERE tenant_id = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1",
            )
            .bind(tenant.as_uuid())
            .bind(i64::try_from(keep).unwrap_or(i64::MAX)),
        }
        .fetch_optional(&mut *tx)
        .await
        .store()?;
        let Some((cut, hash)) = last else {
            return Ok(0);
        };
        let anchor = chain.anchor(
            tenant,
            u64::try_from(cut).map_err(|_| corrupt("negative seq"))?,
            hash32(&hash)?,
        );
        let deleted = sqlx::query("DELETE FROM audit_events WHERE tenant_id = $1 AND seq <= $2")
            .bind(tenant.as_uuid())
            .bind(cut)
            .execute(&mut *tx)
            .await
            .store()?
            .rows_affected();
        sqlx::query(
            "INSERT INTO audit_anchors (tenant_id, seq, hash, mac) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, mac = EXCLUDED.mac",
        )
        .bind(tenant.as_uuid())
        .bind(cut)
        .bind(&anchor.hash[..])
        .bind(&anchor.mac[..])
        .execute(&mut *tx)
        .await
        .store()?;
        tx.commit().await.store()?;
        Ok(deleted)
    }

    async fn audit_verify_progress(&self, tenant: TenantId) -> StoreResult<Option<VerifyProgress>> {
        let row: Option<ProgressRow> = sqlx::query_as(
            "SELECT seq, hash, full_passed_at, full_passed_seq, run_started_at, run_from_seq, run_seq, run_hash, \
             run_checked, mac FROM audit_verifications WHERE tenant_id = $1",
        )
        .bind(tenant.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .store()?;
        row.map(VerifyProgress::try_from).transpose()
    }

    async fn save_audit_verify_progress(&self, tenant: TenantId, p: &VerifyProgress) -> StoreResult<()> {
        let run = p.run.as_ref();
        // Not worth a wait for the disk: progress lost in a crash only makes
        // the next verification read more.
        let mut tx = self.pool.begin().await.store()?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await
            .store()?;
        sqlx::query(
            "INSERT INTO audit_verifications (tenant_id, seq, hash, full_passed_at, full_passed_seq, run_started_at, \
             run_from_seq, run_seq, run_hash, run_checked, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (tenant_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, \
             full_passed_at = EXCLUDED.full_passed_at, full_passed_seq = EXCLUDED.full_passed_seq, \
             run_started_at = EXCLUDED.run_started_at, run_from_seq = EXCLUDED.run_from_seq, \
             run_seq = EXCLUDED.run_seq, run_hash = EXCLUDED.run_hash, run_checked = EXCLUDED.run_checked, \
             mac = EXCLUDED.mac",
        )
        .bind(tenant.as_uuid())
        .bind(seq(p.verified_seq))
        .bind(&p.verified_hash[..])
        .bind(p.full_passed_at)
        .bind(seq(p.full_passed_seq))
        .bind(run.map(|r| r.started_at))
        .bind(run.map(|r| seq(r.from_seq)))
        .bind(run.map(|r| seq(r.seq)))
        .bind(run.map(|r| r.hash.to_vec()))
        .bind(run.map(|r| seq(r.checked)))
        .bind(&p.mac[..])
        .execute(&mut *tx)
        .await
        .store()?;
        tx.commit().await.store()?;
        Ok(())
    }
}

#[cfg(test)]
mod plans {
    //! The audit filters' query plans on a table of 100,000 events, with
    //! statistics absent (never analysed) and present: each walks an index
    //! in the order of the page, never a scan of the table and never a sort
    //! of every match (the time window aside: its matches are sorted).
    //! `cargo test -p sentryagent-store-postgres plans -- --nocapture`
    //! prints them.

    use std::sync::Arc;

    use sentryagent_core::audit::{AuditQuery, Outcome};
    use sentryagent_core::{AgentId, TenantId};
    use sqlx::Row as _;

    use super::{audit_query, ordered, wants_ordered_plan};
    use crate::{PgOptions, PgStore};

    #[tokio::test]
    async fn audit_filters_use_indexes_on_100k_events() {
        let schema = sentryagent_testkit::services::unique_name("sa_test");
        let store = match PgStore::connect(
            &sentryagent_testkit::services::database_url(),
            &[7u8; 32],
            PgOptions::default().schema(schema),
        )
        .await
        {
            Ok(store) => Arc::new(store),
            Err(e) => return sentryagent_testkit::services::unavailable("PostgreSQL query plans", &e).unwrap_or(()),
        };
        let tenant = TenantId::new();
        let agent = AgentId::new();
        // 100,000 events for the tenant (one agent in 50, eight actions, one
        // failure in ten, a minute apart) and 50,000 of another tenant's. The
        // seed may take longer than the store's statement timeout on a busy
        // machine (other suites seed in parallel): none on its connection.
        let mut conn = store.pool().acquire().await.expect("a connection");
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await
            .expect("no timeout");
        // No statistics until this test makes them.
        sqlx::query("ALTER TABLE audit_events SET (autovacuum_enabled = false)")
            .execute(&mut *conn)
            .await
            .expect("no autovacuum");
        sqlx::query(
            "INSERT INTO audit_events (tenant_id, seq, id, agent_id, actor, action, outcome, ip, at, details, prev_hash, hash) \
             SELECT CASE WHEN g <= 100000 THEN $1 ELSE gen_random_uuid() END, g, gen_random_uuid(), \
                    CASE WHEN g % 50 = 0 THEN $2 ELSE gen_random_uuid() END, 'x', \
                    'action.' || (g % 8), CASE WHEN g % 10 = 0 THEN 'failure' ELSE 'success' END, NULL, \
                    now() - make_interval(mins => 150000 - g), '{}'::jsonb, '\\x00', '\\x00' \
             FROM generate_series(1, 150000) AS g",
        )
        .bind(tenant.as_uuid())
        .bind(agent.as_uuid())
        .execute(&mut *conn)
        .await
        .expect("seed");
        drop(conn);

        let now = sentryagent_core::time::now();
        let base = AuditQuery {
            limit: 51,
            ..Default::default()
        };
        let cases = [
            ("no filter", base.clone()),
            (
                "agentId",
                AuditQuery {
                    agent_id: Some(agent),
                    ..base.clone()
                },
            ),
            (
                "action",
                AuditQuery {
                    action: Some("action.3".into()),
                    ..base.clone()
                },
            ),
            (
                "outcome failure",
                AuditQuery {
                    outcome: Some(Outcome::Failure),
                    ..base.clone()
                },
            ),
            (
                "outcome success",
                AuditQuery {
                    outcome: Some(Outcome::Success),
                    ..base.clone()
                },
            ),
            (
                "agentId + outcome failure",
                AuditQuery {
                    agent_id: Some(agent),
                    outcome: Some(Outcome::Failure),
                    ..base.clone()
                },
            ),
            (
                "from/to (one day, 60 days back)",
                AuditQuery {
                    from: Some(now - time::Duration::days(61)),
                    to: Some(now - time::Duration::days(60)),
                    ..base.clone()
                },
            ),
            (
                "cursor",
                AuditQuery {
                    before_seq: Some(50_000),
                    ..base.clone()
                },
            ),
            (
                "agentId + action + cursor",
                AuditQuery {
                    agent_id: Some(agent),
                    action: Some("action.2".into()),
                    before_seq: Some(90_000),
                    ..base.clone()
                },
            ),
        ];
        let mut report = String::new();
        for statistics in ["absent", "present"] {
            if statistics == "present" {
                sqlx::query("ANALYZE audit_events")
                    .execute(store.pool())
                    .await
                    .expect("analyze");
            }
            let analysed: Option<i64> = sqlx::query_scalar(
                "SELECT analyze_count + autoanalyze_count FROM pg_stat_user_tables \
                 WHERE relname = 'audit_events' AND schemaname = current_schema()",
            )
            .fetch_optional(store.pool())
            .await
            .expect("statistics");
            let has_stats: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE tablename = 'audit_events' \
                 AND schemaname = current_schema())",
            )
            .fetch_one(store.pool())
            .await
            .expect("pg_stats");
            assert_eq!(
                has_stats,
                statistics == "present",
                "statistics {statistics} ({analysed:?})"
            );
            for (name, query) in cases.iter().cloned() {
                let mut sql = audit_query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ", tenant, &query);
                let mut tx = if wants_ordered_plan(&query) {
                    ordered(store.pool()).await
                } else {
                    store.pool().begin().await
                }
                .expect("begin");
                let rows = sql.build().fetch_all(&mut *tx).await.expect("explain");
                tx.rollback().await.expect("rollback");
                let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
                let plan = plan.join("\n");
                report.push_str(&format!("-- {name}, statistics {statistics}\n{plan}\n\n"));
                assert!(!plan.contains("Seq Scan"), "{name} scans the table:\n{plan}");
                assert!(plan.contains("Index Scan"), "{name} walks no index:\n{plan}");
                if query.from.is_none() && query.to.is_none() {
                    assert!(
                        !plan.contains("Sort") && !plan.contains("Bitmap"),
                        "{name} ({statistics} statistics) reads every match to sort it:\n{plan}"
                    );
                }
            }
            // The verification page, as `audit_links` reads it: an ordered
            // walk of the primary key from the page's start.
            let mut tx = ordered(store.pool()).await.expect("begin");
            let explain = format!(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) {}",
                super::page::AUDIT_PAGE
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(explain))
                .bind(tenant.as_uuid())
                .bind(50_000_i64)
                .bind(1_000_i64)
                .fetch_all(&mut *tx)
                .await
                .expect("explain");
            tx.rollback().await.expect("rollback");
            let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
            let plan = plan.join("\n");
            report.push_str(&format!("-- verification page, statistics {statistics}\n{plan}\n\n"));
            assert!(
                !plan.contains("Seq Scan") && plan.contains("Index Scan using audit_events_pkey"),
                "the verification page does not walk the primary key ({statistics} statistics):\n{plan}"
            );
        }
        println!("{report}");
        let drop = format!("DROP SCHEMA {} CASCADE", store.schema());
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(store.pool())
            .await
            .expect("drop");
    }
}
