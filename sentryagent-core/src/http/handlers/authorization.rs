//! The tenant's side of the authorization-code flow: its OAuth clients and
//! the consents its people gave them.

use http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::agents::Page;
use super::params::PageParams;
use crate::Caller;
use crate::authorization::{
    ClientAuthMethod, ClientKind, Consent, ConsentQuery, GrantType, NewOAuthClient, OAuthClient, OAuthClientPatch,
    RegisteredKind,
};
use crate::http::body::{self, Query};
use crate::http::error::ErrorBody;
use crate::http::{HttpError, Request, Response};
use crate::{ConsentId, Error, SentryAgent};

/// A client as the API shows it to its tenant; never its secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OAuthClient)]
pub(super) struct ClientView<'a> {
    /// `sa_oc_…` for a pre-registered client, the document's URL for a
    /// metadata-document client.
    client_id: &'a str,
    kind: ClientKind,
    token_endpoint_auth_method: ClientAuthMethod,
    redirect_uris: &'a [String],
    grant_types: &'a [GrantType],
    /// Shown on the consent page.
    client_name: Option<&'a str>,
    logo_uri: Option<&'a str>,
    client_uri: Option<&'a str>,
    #[serde(with = "crate::time::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "crate::time::rfc3339")]
    updated_at: OffsetDateTime,
    /// When it last started a flow.
    #[serde(with = "crate::time::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
}

fn view(client: &OAuthClient) -> ClientView<'_> {
    ClientView {
        client_id: &client.client_id,
        kind: client.kind,
        token_endpoint_auth_method: client.auth_method,
        redirect_uris: &client.redirect_uris,
        grant_types: &client.grant_types,
        client_name: client.name.as_deref(),
        logo_uri: client.logo_uri.as_deref(),
        client_uri: client.client_uri.as_deref(),
        created_at: client.created_at,
        updated_at: client.updated_at,
        last_used_at: client.last_used_at,
    }
}

/// What registering a client takes.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = RegisterOAuthClient)]
pub(super) struct RegisterBody {
    /// `confidential` (with a secret, shown once) or `public` (PKCE only).
    #[schema(required = true, nullable = false)]
    kind: Option<RegisteredKind>,
    /// For a confidential client, `client_secret_basic` (default) or
    /// `client_secret_post`; a public client's is `none`.
    #[schema(nullable = false, example = "client_secret_basic")]
    token_endpoint_auth_method: Option<String>,
    /// 1 to 20 redirect URIs: `https`, loopback `http` (any port matches),
    /// or a native app's private-use scheme; no fragment.
    #[schema(required = true, nullable = false, min_items = 1, max_items = 20, example = json!(["http://127.0.0.1/callback"]))]
    redirect_uris: Option<Vec<String>>,
    /// Shown on the consent page, at most 100 characters.
    #[schema(nullable = false, min_length = 1, max_length = 100)]
    client_name: Option<String>,
    /// An `https` URL of its logo.
    #[schema(nullable = false)]
    logo_uri: Option<String>,
    /// An `https` URL of its home page.
    #[schema(nullable = false)]
    client_uri: Option<String>,
}

const REGISTER_FIELDS: &[&str] = &[
    "kind",
    "tokenEndpointAuthMethod",
    "redirectUris",
    "clientName",
    "logoUri",
    "clientUri",
];

/// A registered client; a confidential one's secret is shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RegisteredOAuthClient)]
pub(super) struct RegisteredView<'a> {
    #[serde(flatten)]
    client: ClientView<'a>,
    /// The secret of a confidential client; absent for a public one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_secret: Option<&'a str>,
}

fn auth_method(value: Option<String>) -> Result<Option<ClientAuthMethod>, Error> {
    value
        .map(|m| {
            ClientAuthMethod::parse(&m).ok_or_else(|| {
                Error::invalid(
                    "tokenEndpointAuthMethod",
                    "must be client_secret_basic, client_secret_post or none",
                )
            })
        })
        .transpose()
}

#[utoipa::path(post, path = "/oauth-clients", tag = "OAuth clients", operation_id = "registerOAuthClient",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The client; a confidential client's secret is shown this once.", body = RegisteredView),
        (status = 400, description = "`VALIDATION_ERROR`: each bad field named (`redirectUris[0]`, …).", body = ErrorBody),
        (status = 403, description = "`INSUFFICIENT_SCOPE`.", body = ErrorBody),
        (status = 409, description = "`OAUTH_CLIENT_LIMIT`: the tenant holds as many clients as it may.", body = ErrorBody),
    ),
    security(("bearer" = ["oauth-clients:write"])))]
pub(super) async fn register(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let body: RegisterBody = body::json(&req, REGISTER_FIELDS, false)?;
    let new = NewOAuthClient {
        kind: body
            .kind
            .ok_or_else(|| Error::invalid("kind", "is required: confidential or public"))?,
        auth_method: auth_method(body.token_endpoint_auth_method)?,
        redirect_uris: body
            .redirect_uris
            .ok_or_else(|| Error::invalid("redirectUris", "is required"))?,
        name: body.client_name,
        logo_uri: body.logo_uri,
        client_uri: body.client_uri,
    };
    let (client, secret) = sa.register_oauth_client(&caller, new).await?;
    let view = RegisteredView {
        client: view(&client),
        client_secret: secret.as_ref().map(|s| s.expose()),
    };
    Ok(Response::json(StatusCode::CREATED, &view).no_store())
}

#[utoipa::path(get, path = "/oauth-clients", tag = "OAuth clients", operation_id = "listOAuthClients",
    params(PageParams),
    responses(
        (status = 200, description = "The tenant's clients of every kind, in client-id order.", body = Page<ClientView<'static>>),
        (status = 403, description = "`INSUFFICIENT_SCOPE`.", body = ErrorBody),
    ),
    security(("bearer" = ["oauth-clients:write"])))]
pub(super) async fn list(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let q = Query::parse(&req, &["limit", "cursor"])?;
    let after = q.parse_with("cursor", "a cursor returned by an earlier page", decode_cursor)?;
    let limit = q.limit()?;
    let mut clients = sa.list_oauth_clients(&caller, after.as_deref(), limit + 1).await?;
    let next_cursor = if clients.len() > limit {
        clients.pop();
        clients.last().map(|c| body::cursor(c.client_id.as_bytes()))
    } else {
        None
    };
    let items = clients.iter().map(view).collect();
    Ok(Response::json(StatusCode::OK, &Page { items, next_cursor }))
}

fn decode_cursor(v: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v).ok()?;
    String::from_utf8(bytes).ok()
}

/// `{clientId}` in the path, percent-decoded (a metadata-document client's
/// id is a URL).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code)] // never built: utoipa reads its shape
pub(super) struct ClientIdParam {
    /// The client's id.
    client_id: String,
}

/// A path parameter, percent-decoded: the router hands it over as sent.
fn path_text(req: &Request, name: &str) -> Result<String, Error> {
    let raw = req.param(name);
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next(), bytes.next()];
            let digit = |c: Option<u8>| c.and_then(|c| (c as char).to_digit(16));
            match (digit(hex[0]), digit(hex[1])) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(Error::invalid(name, "is not validly percent-encoded")),
            }
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid(name, "is not UTF-8"))
}

#[utoipa::path(get, path = "/oauth-clients/{clientId}", tag = "OAuth clients", operation_id = "getOAuthClient",
    params(ClientIdParam),
    responses(
        (status = 200, description = "The client.", body = ClientView),
        (status = 404, description = "`NOT_FOUND`: no such client in this tenant.", body = ErrorBody),
    ),
    security(("bearer" = ["oauth-clients:write"])))]
pub(super) async fn get(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let client = sa.oauth_client(&caller, &path_text(&req, "clientId")?).await?;
    Ok(Response::json(StatusCode::OK, &view(&client)))
}

/// `null` for a present key (clear it), distinct from an absent one (keep it).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The fields to change; absent fields stay as they are, and `null` clears
/// the name, logo or home page (and keeps the redirect URIs).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = UpdateOAuthClient)]
pub(super) struct PatchBody {
    /// Replaces every redirect URI (1 to 20); `null` keeps them.
    #[schema(min_items = 1, max_items = 20)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    client_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    logo_uri: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    client_uri: Option<Option<String>>,
}

#[utoipa::path(patch, path = "/oauth-clients/{clientId}", tag = "OAuth clients", operation_id = "updateOAuthClient",
    params(ClientIdParam),
    request_body = PatchBody,
    responses(
        (status = 200, description = "The client as changed.", body = ClientView),
        (status = 400, description = "`VALIDATION_ERROR`: each bad field named.", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: the client is not pre-registered (it describes itself), or `INSUFFICIENT_SCOPE`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such client in this tenant.", body = ErrorBody),
    ),
    security(("bearer" = ["oauth-clients:write"])))]
pub(super) async fn update(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let id = path_text(&req, "clientId")?;
    let body: PatchBody = body::json(&req, &["redirectUris", "clientName", "logoUri", "clientUri"], false)?;
    let patch = OAuthClientPatch {
        redirect_uris: body.redirect_uris,
        name: body.client_name,
        logo_uri: body.logo_uri,
        client_uri: body.client_uri,
    };
    let client = sa.update_oauth_client(&caller, &id, patch).await?;
    Ok(Response::json(StatusCode::OK, &view(&client)))
}

#[utoipa::path(delete, path = "/oauth-clients/{clientId}", tag = "OAuth clients", operation_id = "deleteOAuthClient",
    params(ClientIdParam),
    responses(
        (status = 200, description = "The deleted client; every grant it held is revoked, its tokens with them.", body = ClientView),
        (status = 404, description = "`NOT_FOUND`: no such client in this tenant.", body = ErrorBody),
    ),
    security(("bearer" = ["oauth-clients:write"])))]
pub(super) async fn delete(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let client = sa.delete_oauth_client(&caller, &path_text(&req, "clientId")?).await?;
    Ok(Response::json(StatusCode::OK, &view(&client)))
}

#[utoipa::path(get, path = "/consents", tag = "Consents", operation_id = "listConsents",
    params(
        ("userId" = Option<String>, Query, description = "Only this person's consents."),
        ("clientId" = Option<String>, Query, description = "Only consents to this client."),
        PageParams,
    ),
    responses(
        (status = 200, description = "The consents the tenant's people gave, in id order.", body = Page<Consent>),
        (status = 403, description = "`INSUFFICIENT_SCOPE`: listing consents is the admin's.", body = ErrorBody),
    ),
    security(("bearer" = ["admin"])))]
pub(super) async fn list_consents(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let q = Query::parse(&req, &["userId", "clientId", "limit", "cursor"])?;
    let limit = q.limit()?;
    let query = ConsentQuery {
        subject: q.get("userId").map(str::to_owned),
        client_id: q.get("clientId").map(str::to_owned),
        after: q
            .cursor::<16>()?
            .map(|b| ConsentId::from_uuid(uuid::Uuid::from_bytes(b))),
        limit: limit + 1,
    };
    let mut consents = sa.list_consents(&caller, &query).await?;
    let next_cursor = if consents.len() > limit {
        consents.pop();
        consents.last().map(|c| body::cursor(c.id.as_uuid().as_bytes()))
    } else {
        None
    };
    Ok(Response::json(
        StatusCode::OK,
        &Page {
            items: consents,
            next_cursor,
        },
    ))
}

/// `{consentId}` in the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code)] // never built: utoipa reads its shape
pub(super) struct ConsentIdParam {
    /// The consent's id.
    consent_id: ConsentId,
}

#[utoipa::path(delete, path = "/consents/{consentId}", tag = "Consents", operation_id = "revokeConsent",
    params(ConsentIdParam),
    responses(
        (status = 200, description = "The withdrawn consent; that person's grants to that client are revoked, their tokens with them.", body = Consent),
        (status = 404, description = "`NOT_FOUND`: no such consent in this tenant.", body = ErrorBody),
    ),
    security(("bearer" = ["admin"])))]
pub(super) async fn revoke_consent(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let consent = sa.revoke_consent(&caller, body::path_id(&req, "consentId")?).await?;
    Ok(Response::json(StatusCode::OK, &consent))
}

/// What withdrawing a person's consents ended.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = UserConsentsRevoked)]
pub(super) struct UserRevokedView {
    /// How many consents were withdrawn.
    consents_revoked: u64,
    /// How many grants were revoked (with their tokens).
    grants_revoked: u64,
}

/// `{userId}` in the path: the host's id of the person.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code)] // never built: utoipa reads its shape
pub(super) struct UserIdParam {
    /// The host's user id, percent-encoded.
    user_id: String,
}

#[utoipa::path(delete, path = "/users/{userId}/consents", tag = "Consents", operation_id = "revokeUserConsents",
    params(UserIdParam),
    responses(
        (status = 200, description = "Every consent of the person withdrawn and every grant revoked (none is not an error).", body = UserRevokedView),
        (status = 403, description = "`INSUFFICIENT_SCOPE`: the admin's.", body = ErrorBody),
    ),
    security(("bearer" = ["admin"])))]
pub(super) async fn revoke_user_consents(sa: SentryAgent, req: Request, caller: Caller) -> Result<Response, HttpError> {
    let user = path_text(&req, "userId")?;
    let revoked = sa.revoke_user_consents(&caller, &user).await?;
    let view = UserRevokedView {
        consents_revoked: revoked.consents,
        grants_revoked: revoked.grants.len() as u64,
    };
    Ok(Response::json(StatusCode::OK, &view))
}
