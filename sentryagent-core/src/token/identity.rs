//! Who a verified token speaks for, and what introspection answers.

use super::AccessClaims;
use crate::error::Error;
use crate::{AgentId, TenantId, TokenId, scope};
use serde::Serialize;

/// The verified caller behind a bearer token. It serialises as
/// `{agentId, tenantId, clientId, scopes, tokenId, expiresAt}` (and `actor`
/// for a CI workflow's token), what a host's `/whoami`-style route answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentIdentity {
    /// The agent (`sub`).
    pub agent_id: AgentId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The client id the token was issued to.
    pub client_id: String,
    /// The scopes the token grants now: those in the token that its agent
    /// still holds ([`crate::permission::effective_scopes`]).
    pub scopes: Vec<String>,
    /// The token's id (`jti`).
    pub token_id: TokenId,
    /// Expiry, seconds since the epoch.
    pub expires_at: i64,
    /// The CI workflow acting through the token (bootstrap exchanges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Box<super::Actor>>,
}

impl AgentIdentity {
    /// Whether the token grants `scope` (`admin` grants every management scope).
    pub fn has_scope(&self, required: &str) -> bool {
        scope::grants(&self.scopes, required)
    }

    /// `Ok` if the token grants `scope`.
    ///
    /// # Errors
    /// [`Error::InsufficientScope`] otherwise.
    pub fn require_scope(&self, required: &'static str) -> Result<(), Error> {
        if self.has_scope(required) {
            Ok(())
        } else {
            Err(Error::InsufficientScope(required.into()))
        }
    }

    pub(crate) fn from_claims(claims: AccessClaims) -> Self {
        Self {
            agent_id: claims.sub,
            tenant_id: claims.tenant,
            client_id: claims.client_id,
            scopes: claims
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            token_id: claims.jti,
            expires_at: claims.exp,
            actor: claims.act.map(Box::new),
        }
    }
}

/// An introspection answer: `{"active": false}` or the token's claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Introspection {
    /// Whether the token is valid now.
    pub active: bool,
    /// The claims, for an active token.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub claims: Option<IntrospectedToken>,
}

/// The claims of an active token: an agent's or a person's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum IntrospectedToken {
    /// An agent's token.
    Agent(IntrospectedClaims),
    /// A person's token (authorization-code flow).
    User(IntrospectedUserClaims),
}

/// The claims of a person's active token, as RFC 7662 names them, with
/// the grant (`gid`), the tenant (`user_tenant`) and `token_kind: "user"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IntrospectedUserClaims {
    /// The host's user id.
    pub sub: String,
    /// The client acting for the person.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Issuer.
    pub iss: String,
    /// Audience: the resource(s).
    pub aud: super::Audience,
    /// Token id.
    pub jti: TokenId,
    /// The grant the token was issued from.
    pub gid: crate::GrantId,
    /// The person's tenant.
    pub user_tenant: TenantId,
    /// Always `user`.
    #[schema(value_type = String, pattern = "^user$")]
    pub token_kind: super::UserTokenKind,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

impl From<super::UserClaims> for IntrospectedUserClaims {
    fn from(c: super::UserClaims) -> Self {
        Self {
            sub: c.sub,
            client_id: c.client_id,
            scope: c.scope,
            exp: c.exp,
            iat: c.iat,
            nbf: c.nbf,
            iss: c.iss,
            aud: c.aud,
            jti: c.jti,
            gid: c.gid,
            user_tenant: c.user_tenant,
            token_kind: c.token_kind,
            token_type: "Bearer",
        }
    }
}

impl utoipa::PartialSchema for Introspection {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // Either shape, told apart by `active` (a derive would make the
        // flattened claims a nullable member).
        let schema = serde_json::json!({
            "description": "An introspection answer (RFC 7662).",
            "oneOf": [
                {
                    "type": "object",
                    "required": ["active"],
                    "properties": { "active": { "const": false } },
                    "additionalProperties": false,
                },
                {
                    "allOf": [
                        { "$ref": "#/components/schemas/IntrospectedClaims" },
                        { "type": "object", "required": ["active"], "properties": { "active": { "const": true } } },
                    ],
                },
                {
                    "allOf": [
                        { "$ref": "#/components/schemas/IntrospectedUserClaims" },
                        { "type": "object", "required": ["active"], "properties": { "active": { "const": true } } },
                    ],
                },
            ],
        });
        serde_json::from_value(schema).unwrap_or_else(|_| utoipa::openapi::RefOr::T(Default::default()))
    }
}

impl utoipa::ToSchema for Introspection {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push((
            "IntrospectedClaims".into(),
            <IntrospectedClaims as utoipa::PartialSchema>::schema(),
        ));
        schemas.push((
            "IntrospectedUserClaims".into(),
            <IntrospectedUserClaims as utoipa::PartialSchema>::schema(),
        ));
        // And the schemas the claims refer to (`TokenId`, …).
        <IntrospectedClaims as utoipa::ToSchema>::schemas(schemas);
        <IntrospectedUserClaims as utoipa::ToSchema>::schemas(schemas);
    }
}

/// The claims of an active token, as RFC 7662 names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IntrospectedClaims {
    /// The agent.
    pub sub: AgentId,
    /// The client.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Issuer.
    pub iss: String,
    /// Audience: a string, or an array for a token of several resources.
    pub aud: super::Audience,
    /// Token id.
    pub jti: TokenId,
    /// The agent's tenant.
    pub tenant: TenantId,
    /// Always `Bearer`.
    pub token_type: &'static str,
}
