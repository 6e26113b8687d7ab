//! [`OAuthClientStore`] and [`AuthorizationStore`] on PostgreSQL. A code
//! redemption and a refresh-token rotation each lock their row
//! (`SELECT … FOR UPDATE`) in one transaction, so across every instance on
//! the database exactly one of two concurrent uses wins and the other sees
//! the first's result.

use async_trait::async_trait;
use sentryagent_core::authorization::{
    AuthorizationCode, ClientAuthMethod, ClientKind, CodeRedemption, Consent, ConsentQuery, Grant, GrantType,
    OAuthClient, RefreshOutcome, RefreshToken, Rotation,
};
use sentryagent_core::store::{AuthorizationStore, OAuthClientStore};
use sentryagent_core::{ConsentId, GrantId, StoreResult, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{ResultExt, corrupt};

macro_rules! client_columns {
    () => {
        "tenant_id, client_id, kind, auth_method, secret_hash, redirect_uris, grant_types, name, logo_uri, \
         client_uri, created_at, updated_at, last_used_at, metadata_expires_at"
    };
}

macro_rules! grant_columns {
    () => {
        "g.id, g.tenant_id, g.client_id, g.subject, g.scopes, g.resources, g.created_at, g.expires_at, g.revoked_at"
    };
}

macro_rules! consent_columns {
    () => {
        "id, tenant_id, subject, client_id, resource, scopes, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    tenant_id: Uuid,
    client_id: String,
    kind: String,
    auth_method: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    name: Option<String>,
    logo_uri: Option<String>,
    client_uri: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    metadata_expires_at: Option<OffsetDateTime>,
}

impl TryFrom<ClientRow> for OAuthClient {
    type Error = sentryagent_core::StoreError;

    fn try_from(r: ClientRow) -> StoreResult<Self> {
        Ok(OAuthClient {
            tenant_id: TenantId::from_uuid(r.tenant_id),
            client_id: r.client_id,
            kind: ClientKind::parse(&r.kind).ok_or_else(|| corrupt("unknown client kind"))?,
            auth_method: ClientAuthMethod::parse(&r.auth_method)
                .ok_or_else(|| corrupt("unknown client auth method"))?,
            secret_hash: r.secret_hash,
            redirect_uris: r.redirect_uris,
            grant_types: r
                .grant_types
                .iter()
                .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("unknown grant type")))
                .collect::<StoreResult<_>>()?,
            name: r.name,
            logo_uri: r.logo_uri,
            client_uri: r.client_uri,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_used_at: r.last_used_at,
            metadata_expires_at: r.metadata_expires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: Uuid,
    tenant_id: Uuid,
    client_id: String,
    subject: String,
    scopes: Vec<String>,
    resources: Vec<String>,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
}

impl From<GrantRow> for Grant {
    fn from(r: GrantRow) -> Self {
        Grant {
            id: GrantId::from_uuid(r.id),
            tenant_id: TenantId::from_uuid(r.tenant_id),
            client_id: r.client_id,
            subject: r.subject,
            scopes: r.scopes,
            resources: r.resources,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    code_hash: Vec<u8>,
    grant_id: Uuid,
    redirect_uri: String,
    code_challenge: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    redeemed_at: Option<OffsetDateTime>,
}

impl From<CodeRow> for AuthorizationCode {
    fn from(r: CodeRow) -> Self {
        AuthorizationCode {
            code_hash: r.code_hash,
            grant_id: GrantId::from_uuid(r.grant_id),
            redirect_uri: r.redirect_uri,
            code_challenge: r.code_challenge,
            created_at: r.created_at,
            expires_at: r.expires_at,
            redeemed_at: r.redeemed_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    token_expires_at: OffsetDateTime,
    rotated_at: Option<OffsetDateTime>,
    #[sqlx(flatten)]
    grant: GrantRow,
}

#[derive(sqlx::FromRow)]
struct ConsentRow {
    id: Uuid,
    tenant_id: Uuid,
    subject: String,
    client_id: String,
    resource: String,
    scopes: Vec<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<ConsentRow> for Consent {
    fn from(r: ConsentRow) -> Self {
        Consent {
            id: ConsentId::from_uuid(r.id),
            tenant_id: TenantId::from_uuid(r.tenant_id),
            subject: r.subject,
            client_id: r.client_id,
            resource: r.resource,
            scopes: r.scopes,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn grant_types(client: &OAuthClient) -> Vec<&'static str> {
    client.grant_types.iter().map(|g| g.as_str()).collect()
}

#[async_trait]
impl OAuthClientStore for PgStore {
    async fn insert_oauth_client(&self, c: &OAuthClient) -> StoreResult<()> {
        const SQL: &str = concat!(
            "INSERT INTO oauth_clients (",
            client_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ",
            client_columns!()
        );
        self.write_client(SQL, c).await.map(drop)
    }

    async fn put_oauth_client(&self, c: &OAuthClient) -> StoreResult<OAuthClient> {
        const SQL: &str = concat!(
            "INSERT INTO oauth_clients (",
            client_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (tenant_id, client_id) DO UPDATE SET kind = EXCLUDED.kind, \
             auth_method = EXCLUDED.auth_method, secret_hash = EXCLUDED.secret_hash, \
             redirect_uris = EXCLUDED.redirect_uris, grant_types = EXCLUDED.grant_types, name = EXCLUDED.name, \
             logo_uri = EXCLUDED.logo_uri, client_uri = EXCLUDED.client_uri, updated_at = EXCLUDED.updated_at, \
             metadata_expires_at = EXCLUDED.metadata_expires_at RETURNING ",
            client_columns!()
        );
        self.write_client(SQL, c).await
    }

    async fn oauth_client(&self, tenant: TenantId, client_id: &str) -> StoreResult<Option<OAuthClient>> {
        let row: Option<ClientRow> = sqlx::query_as(concat!(
            "SELECT ",
            client_columns!(),
            " FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .store()?;
        row.map(OAuthClient::try_from).transpose()
    }

    async fn list_oauth_clients(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        n: usize,
    ) -> StoreResult<Vec<OAuthClient>> {
        let rows: Vec<ClientRow> = sqlx::query_as(concat!(
            "SELECT ",
            client_columns!(),
            " FROM oauth_clients WHERE tenant_id = $1 AND ($2::text IS NULL OR client_id > $2) \
             ORDER BY client_id LIMIT $3"
        ))
        .bind(tenant.as_uuid())
        .bind(after)
        .bind(limit(n))
        .fetch_all(&self.pool)
        .await
        .store()?;
        rows.into_iter().map(OAuthClient::try_from).collect()
    }

    async fn count_oauth_clients(&self, tenant: TenantId, kind: ClientKind) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_clients WHERE tenant_id = $1 AND kind = $2")
            .bind(tenant.as_uuid())
            .bind(kind.as_str())
            .fetch_one(&self.pool)
            .await
            .store()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete_oauth_client(&self, tenant: TenantId, client_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2")
            .bind(tenant.as_uuid())
            .bind(client_id)
            .execute(&self.pool)
            .await
            .store()?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_oauth_client(&self, tenant: TenantId, client_id: &str, at: OffsetDateTime) -> StoreResult<bool> {
        // GREATEST skips NULL: a first use sets it, a late one never moves it back.
        let done = sqlx::query(
            "UPDATE oauth_clients SET last_used_at = GREATEST(last_used_at, $3) WHERE tenant_id = $1 AND client_id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(client_id)
        .bind(at)
        .execute(&self.pool)
        .await
        .store()?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_unused_clients(&self, kind: ClientKind, before: OffsetDateTime, n: usize) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM oauth_clients WHERE (tenant_id, client_id) IN (SELECT tenant_id, client_id FROM oauth_clients \
             WHERE kind = $1 AND coalesce(last_used_at, created_at) < $2 LIMIT $3)",
        )
        .bind(kind.as_str())
        .bind(before)
        .bind(limit(n))
        .execute(&self.pool)
        .await
        .store()?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl AuthorizationStore for PgStore {
    async fn insert_authorization_code(&self, grant: &Grant, code: &AuthorizationCode) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.store()?;
        sqlx::query(
            "INSERT INTO oauth_grants (id, tenant_id, client_id, subject, scopes, resources, created_at, expires_at, \
             revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(grant.id.as_uuid())
        .bind(grant.tenant_id.as_uuid())
        .bind(&grant.client_id)
        .bind(&grant.subject)
        .bind(&grant.scopes)
        .bind(&grant.resources)
        .bind(grant.created_at)
        .bind(grant.expires_at)
        .bind(grant.revoked_at)
        .execute(&mut *tx)
        .await
        .store()?;
        sqlx::query(
            "INSERT INTO oauth_codes (code_hash, grant_id, redirect_uri, code_challenge, created_at, expires_at, \
             redeemed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&code.code_hash)
        .bind(code.grant_id.as_uuid())
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(code.created_at)
        .bind(code.expires_at)
        .bind(code.redeemed_at)
        .execute(&mut *tx)
        .await
        .store()?;
        tx.commit().await.store()
    }

    async fn authorization_code(&self, code_hash: &[u8]) -> StoreResult<Option<(AuthorizationCode, Grant)>> {
        let row: Option<CodeRow> = sqlx::query_as(
            "SELECT code_hash, grant_id, redirect_uri, code_challenge, created_at, expires_at, redeemed_at \
             FROM oauth_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await
        .store()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let code = AuthorizationCode::from(row);
        let grant: Option<GrantRow> = sqlx::query_as(concat!(
            "SELECT ",
            grant_columns!(),
            " FROM oauth_grants g WHERE g.id = $1"
        ))
        .bind(code.grant_id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .store()?;
        Ok(grant.map(|g| (code, Grant::from(g))))
    }

    async fn redeem_authorization_code(
        &self,
        code_hash: &[u8],
        at: OffsetDateTime,
    ) -> StoreResult<Option<CodeRedemption>> {
        let mut tx = self.pool.begin().await.store()?;
        // The row lock makes a concurrent redemption wait, then read this
        // one's `redeemed_at`.
        let row: Option<CodeRow> = sqlx::query_as(
            "SELECT code_hash, grant_id, redirect_uri, code_challenge, created_at, expires_at, redeemed_at \
             FROM oauth_codes WHERE code_hash = $1 FOR UPDATE",
        )
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await
        .store()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut code = AuthorizationCode::from(row);
        let first = code.redeemed_at.is_none();
        if first {
            sqlx::query("UPDATE oauth_codes SET redeemed_at = $2 WHERE code_hash = $1")
                .bind(code_hash)
                .bind(at)
                .execute(&mut *tx)
                .await
                .store()?;
            code.redeemed_at = Some(at);
        }
        let grant: Option<GrantRow> = sqlx::query_as(concat!(
            "SELECT ",
            grant_columns!(),
            " FROM oauth_grants g WHERE g.id = $1"
        ))
        .bind(code.grant_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .store()?;
        tx.commit().await.store()?;
        Ok(grant.map(|g| {
            let grant = Grant::from(g);
            if first {
                CodeRedemption::First { code, grant }
            } else {
                CodeRedemption::Again { code, grant }
            }
        }))
    }

    async fn grant(&self, tenant: TenantId, id: GrantId) -> StoreResult<Option<Grant>> {
        let row: Option<GrantRow> = sqlx::query_as(concat!(
            "SELECT ",
            grant_columns!(),
            " FROM oauth_grants g WHERE g.tenant_id = $1 AND g.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .store()?;
        Ok(row.map(Grant::from))
    }

    async fn insert_refresh_token(&self, t: &RefreshToken) -> StoreResult<bool> {
        // The grant's row is locked while the token goes in, so a revocation
        // either comes first (and nothing is stored) or after (and ends it).
        let mut tx = self.pool.begin().await.store()?;
        let active: Option<(Uuid,)> =
            sqlx::query_as("SELECT id FROM oauth_grants WHERE id = $1 AND revoked_at IS NULL FOR SHARE")
                .bind(t.grant_id.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .store()?;
        if active.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, created_at, expires_at, rotated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.token_hash)
        .bind(t.grant_id.as_uuid())
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.rotated_at)
        .execute(&mut *tx)
        .await
        .store()?;
        tx.commit().await.store()?;
        Ok(true)
    }

    async fn refresh_token_grant(&self, token_hash: &[u8]) -> StoreResult<Option<Grant>> {
        let row: Option<GrantRow> = sqlx::query_as(concat!(
            "SELECT ",
            grant_columns!(),
            " FROM oauth_refresh_tokens t JOIN oauth_grants g ON g.id = t.grant_id WHERE t.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .store()?;
        Ok(row.map(Grant::from))
    }

    async fn rotate_refresh_token(&self, r: Rotation<'_>) -> StoreResult<RefreshOutcome> {
        let mut tx = self.pool.begin().await.store()?;
        // Locks the token and its grant: a concurrent rotation of the same
        // token waits and then finds it rotated (reuse).
        let row: Option<RefreshRow> = sqlx::query_as(concat!(
            "SELECT t.expires_at AS token_expires_at, t.rotated_at, ",
            grant_columns!(),
            " FROM oauth_refresh_tokens t JOIN oauth_grants g ON g.id = t.grant_id WHERE t.token_hash = $1 FOR UPDATE"
        ))
        .bind(r.presented_hash)
        .fetch_optional(&mut *tx)
        .await
        .store()?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Unknown);
        };
        let mut grant = Grant::from(row.grant);
        if grant.client_id != r.client_id {
            return Ok(RefreshOutcome::Unknown);
        }
        if !grant.is_active(r.at) {
            return Ok(RefreshOutcome::Revoked(grant));
        }
        if row.rotated_at.is_some() {
            sqlx::query("UPDATE oauth_grants SET revoked_at = $2 WHERE id = $1")
                .bind(grant.id.as_uuid())
                .bind(r.at)
                .execute(&mut *tx)
                .await
                .store()?;
            tx.commit().await.store()?;
            grant.revoked_at = Some(r.at);
            return Ok(RefreshOutcome::Reused(grant));
        }
        if row.token_expires_at <= r.at {
            return Ok(RefreshOutcome::Expired);
        }
        sqlx::query("UPDATE oauth_refresh_tokens SET rotated_at = $2 WHERE token_hash = $1")
            .bind(r.presented_hash)
            .bind(r.at)
            .execute(&mut *tx)
            .await
            .store()?;
        sqlx::query(
            "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(r.next_hash)
        .bind(grant.id.as_uuid())
        .bind(r.at)
        .bind(r.next_expires_at)
        .execute(&mut *tx)
        .await
        .store()?;
        tx.commit().await.store()?;
        Ok(RefreshOutcome::Rotated(grant))
    }

    async fn revoke_grant(&self, tenant: TenantId, id: GrantId, at: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE oauth_grants SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(at)
        .execute(&self.pool)
        .await
        .store()?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_grants(
        &self,
        tenant: TenantId,
        subject: Option<&str>,
        client_id: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Vec<GrantId>> {
        let ids: Vec<(Uuid,)> = sqlx::query_as(
            "UPDATE oauth_grants SET revoked_at = $4 WHERE tenant_id = $1 AND revoked_at IS NULL \
             AND ($2::text IS NULL OR subject = $2) AND ($3::text IS NULL OR client_id = $3) RETURNING id",
        )
        .bind(tenant.as_uuid())
        .bind(subject)
        .bind(client_id)
        .bind(at)
        .fetch_all(&self.pool)
        .await
        .store()?;
        let mut ids: Vec<GrantId> = ids.into_iter().map(|(id,)| GrantId::from_uuid(id)).collect();
        ids.sort();
        Ok(ids)
    }

    async fn put_consent(&self, c: &Consent) -> StoreResult<Consent> {
        let row: ConsentRow = sqlx::query_as(concat!(
            "INSERT INTO oauth_consents (",
            consent_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, subject, client_id, resource) \
             DO UPDATE SET scopes = EXCLUDED.scopes, updated_at = EXCLUDED.updated_at RETURNING ",
            consent_columns!()
        ))
        .bind(c.id.as_uuid())
        .bind(c.tenant_id.as_uuid())
        .bind(&c.subject)
        .bind(&c.client_id)
        .bind(&c.resource)
        .bind(&c.scopes)
        .bind(c.created_at)
        .bind(c.updated_at)
        .fetch_one(&self.pool)
        .await
        .store()?;
        Ok(row.into())
    }

    async fn consent(
        &self,
        tenant: TenantId,
        subject: &str,
        client_id: &str,
        resource: &str,
    ) -> StoreResult<Option<Consent>> {
        let row: Option<ConsentRow> = sqlx::query_as(concat!(
            "SELECT ",
            consent_columns!(),
            " FROM oauth_consents WHERE tenant_id = $1 AND subject = $2 AND client_id = $3 AND resource = $4"
        ))
        .bind(tenant.as_uuid())
        .bind(subject)
        .bind(client_id)
        .bind(resource)
        .fetch_optional(&self.pool)
        .await
        .store()?;
        Ok(row.map(Consent::from))
    }

    async fn list_consents(&self, tenant: TenantId, q: &ConsentQuery) -> StoreResult<Vec<Consent>> {
        let rows: Vec<ConsentRow> = sqlx::query_as(concat!(
            "SELECT ",
            consent_columns!(),
            " FROM oauth_consents WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) \
             AND ($3::text IS NULL OR subject = $3) AND ($4::text IS NULL OR client_id = $4) ORDER BY id LIMIT $5"
        ))
        .bind(tenant.as_uuid())
        .bind(q.after.map(|a| *a.as_uuid()))
        .bind(&q.subject)
        .bind(&q.client_id)
        .bind(limit(q.limit))
        .fetch_all(&self.pool)
        .await
        .store()?;
        Ok(rows.into_iter().map(Consent::from).collect())
    }

    async fn revoke_consent(&self, tenant: TenantId, id: ConsentId) -> StoreResult<Option<Consent>> {
        let row: Option<ConsentRow> = sqlx::query_as(concat!(
            "DELETE FROM oauth_consents WHERE tenant_id = $1 AND id = $2 RETURNING ",
            consent_columns!()
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .store()?;
        Ok(row.map(Consent::from))
    }

    async fn revoke_user_consents(&self, tenant: TenantId, subject: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM oauth_consents WHERE tenant_id = $1 AND subject = $2")
            .bind(tenant.as_uuid())
            .bind(subject)
            .execute(&self.pool)
            .await
            .store()?;
        Ok(done.rows_affected())
    }

    async fn prune_authorizations(&self, before: OffsetDateTime, n: usize) -> StoreResult<u64> {
        let codes = sqlx::query(
            "DELETE FROM oauth_codes WHERE code_hash IN (SELECT code_hash FROM oauth_codes WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(limit(n))
        .execute(&self.pool)
        .await
        .store()?;
        // Refresh tokens (and any code left) go with their grant (ON DELETE CASCADE).
        let grants = sqlx::query(
            "DELETE FROM oauth_grants WHERE id IN (SELECT id FROM oauth_grants WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(limit(n))
        .execute(&self.pool)
        .await
        .store()?;
        Ok(codes.rows_affected() + grants.rows_affected())
    }
}

impl PgStore {
    /// Runs `sql` (an insert of every client column, `$1`…`$14` in
    /// `client_columns!` order, returning them) for `c`.
    async fn write_client(&self, sql: &'static str, c: &OAuthClient) -> StoreResult<OAuthClient> {
        let row: ClientRow = sqlx::query_as(sql)
            .bind(c.tenant_id.as_uuid())
            .bind(&c.client_id)
            .bind(c.kind.as_str())
            .bind(c.auth_method.as_str())
            .bind(&c.secret_hash)
            .bind(&c.redirect_uris)
            .bind(grant_types(c))
            .bind(&c.name)
            .bind(&c.logo_uri)
            .bind(&c.client_uri)
            .bind(c.created_at)
            .bind(c.updated_at)
            .bind(c.last_used_at)
            .bind(c.metadata_expires_at)
            .fetch_one(&self.pool)
            .await
            .store()?;
        row.try_into()
    }
}
