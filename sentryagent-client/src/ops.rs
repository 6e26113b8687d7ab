//! Every operation the client calls, by the server's operation id, method and
//! path template. Each method of [`Client`](crate::Client) sends through one
//! of these, so this table is exactly what the client depends on: a test
//! checks it against the server's OpenAPI document.

/// An HTTP method the API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`: safe, retried on 429, 503 and lost connections.
    Get,
    /// `POST`.
    Post,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name, e.g. `GET`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// One operation of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The OpenAPI `operationId`.
    pub id: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The path template under the API prefix, e.g. `/agents/{agentId}`.
    pub path: &'static str,
}

macro_rules! operations {
    ($($name:ident = $method:ident $path:literal $id:literal;)*) => {
        $(
            #[doc = concat!("`", stringify!($method), " ", $path, "` (`", $id, "`).")]
            pub const $name: Operation = Operation { id: $id, method: Method::$method, path: $path };
        )*
        /// Every operation this client calls.
        pub const ALL: &[Operation] = &[$($name),*];
    };
}

operations! {
    CREATE_TENANT = Post "/tenants" "createTenant";
    GET_MY_TENANT = Get "/tenants/me" "getMyTenant";
    REGISTER_AGENT = Post "/agents" "registerAgent";
    LIST_AGENTS = Get "/agents" "listAgents";
    GET_AGENT = Get "/agents/{agentId}" "getAgent";
    UPDATE_AGENT = Patch "/agents/{agentId}" "updateAgent";
    DECOMMISSION_AGENT = Delete "/agents/{agentId}" "decommissionAgent";
    CREATE_CREDENTIAL = Post "/agents/{agentId}/credentials" "createCredential";
    LIST_CREDENTIALS = Get "/agents/{agentId}/credentials" "listCredentials";
    ROTATE_CREDENTIAL = Post "/agents/{agentId}/credentials/{credentialId}/rotate" "rotateCredential";
    REVOKE_CREDENTIAL = Delete "/agents/{agentId}/credentials/{credentialId}" "revokeCredential";
    ISSUE_TOKEN = Post "/oauth2/token" "issueToken";
    INTROSPECT_TOKEN = Post "/oauth2/introspect" "introspectToken";
    REVOKE_TOKEN = Post "/oauth2/revoke" "revokeToken";
    GET_JWKS = Get "/.well-known/jwks.json" "getJwks";
    GET_AUTHORIZATION_SERVER_METADATA = Get "/.well-known/oauth-authorization-server" "getAuthorizationServerMetadata";
    GET_OPENID_CONFIGURATION = Get "/.well-known/openid-configuration" "getOpenIdConfiguration";
    ADD_AGENT_KEY = Post "/agents/{agentId}/keys" "addAgentKey";
    LIST_AGENT_KEYS = Get "/agents/{agentId}/keys" "listAgentKeys";
    REMOVE_AGENT_KEY = Delete "/agents/{agentId}/keys/{keyId}" "removeAgentKey";
    GET_AGENT_DID_DOCUMENT = Get "/agents/{agentId}/did.json" "getAgentDidDocument";
    LIST_MARKETPLACE_AGENTS = Get "/marketplace/agents" "listMarketplaceAgents";
    GET_MARKETPLACE_AGENT = Get "/marketplace/agents/{agentId}" "getMarketplaceAgent";
    QUERY_AUDIT = Get "/audit" "queryAudit";
    VERIFY_AUDIT = Get "/audit/verify" "verifyAudit";
    GET_AUDIT_CHECKPOINT = Get "/audit/checkpoint" "getAuditCheckpoint";
    GET_AUDIT_KEYS = Get "/audit/keys" "getAuditKeys";
    LIST_TIERS = Get "/tiers" "listTiers";
    GET_USAGE = Get "/usage" "getUsage";
    CREATE_CHECKOUT = Post "/billing/checkout" "createCheckout";
    GET_SUBSCRIPTION = Get "/billing/subscription" "getSubscription";
    CREATE_TRUST_POLICY = Post "/oidc/trust-policies" "createTrustPolicy";
    LIST_TRUST_POLICIES = Get "/oidc/trust-policies" "listTrustPolicies";
    EVALUATE_TRUST_POLICIES = Post "/oidc/trust-policies/evaluate" "evaluateTrustPolicies";
    GET_TRUST_POLICY = Get "/oidc/trust-policies/{policyId}" "getTrustPolicy";
    DELETE_TRUST_POLICY = Delete "/oidc/trust-policies/{policyId}" "deleteTrustPolicy";
    REGISTER_OAUTH_CLIENT = Post "/oauth-clients" "registerOAuthClient";
    LIST_OAUTH_CLIENTS = Get "/oauth-clients" "listOAuthClients";
    GET_OAUTH_CLIENT = Get "/oauth-clients/{clientId}" "getOAuthClient";
    UPDATE_OAUTH_CLIENT = Patch "/oauth-clients/{clientId}" "updateOAuthClient";
    DELETE_OAUTH_CLIENT = Delete "/oauth-clients/{clientId}" "deleteOAuthClient";
    LIST_CONSENTS = Get "/consents" "listConsents";
    REVOKE_CONSENT = Delete "/consents/{consentId}" "revokeConsent";
    REVOKE_USER_CONSENTS = Delete "/users/{userId}/consents" "revokeUserConsents";
    EXCHANGE_OIDC_TOKEN = Post "/oidc/token" "exchangeOidcToken";
    GET_HEALTH = Get "/health" "getHealth";
    GET_HEALTH_DETAILED = Get "/health/detailed" "getHealthDetailed";
    GET_LIVENESS = Get "/health/live" "getLiveness";
    GET_READINESS = Get "/health/ready" "getReadiness";
    GET_OPENAPI = Get "/openapi.json" "getOpenApi";
}

/// Operations of the API this client leaves out on purpose, with the reason.
pub const NOT_CALLED: &[(&str, &str)] = &[
    (
        "billingWebhook",
        "called by Stripe, signed with the webhook secret; never by an API client",
    ),
    (
        "authorize",
        "opened by a person's browser, sent there by an MCP client (the authorization-code flow)",
    ),
    ("answerConsent", "the consent page's form, posted by a person's browser"),
    (
        "registerClient",
        "RFC 7591 dynamic registration, called by MCP clients registering themselves",
    ),
];
