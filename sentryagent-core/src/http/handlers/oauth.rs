use std::net::IpAddr;

use http::StatusCode;
use http::header::AUTHORIZATION;

use crate::SentryAgent;
use crate::error::OAuthError;
use crate::http::body;
use crate::http::{Request, Response};
use crate::token::TokenRequest;

fn require_form(req: &Request) -> Result<(), OAuthError> {
    if body::is_form(req) {
        Ok(())
    } else {
        Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ))
    }
}

pub(super) async fn token(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, OAuthError> {
    require_form(&req)?;
    let request = TokenRequest::parse(req.header(AUTHORIZATION), &req.body)?;
    let response = sa.issue_token(request, ip).await?;
    Ok(Response::json(StatusCode::OK, &response).no_store())
}

pub(super) async fn introspect(sa: SentryAgent, req: Request, _ip: Option<IpAddr>) -> Result<Response, OAuthError> {
    require_form(&req)?;
    let answer = sa.introspect(req.header(AUTHORIZATION), &req.body).await?;
    Ok(Response::json(StatusCode::OK, &answer).no_store())
}

pub(super) async fn revoke(sa: SentryAgent, req: Request, ip: Option<IpAddr>) -> Result<Response, OAuthError> {
    require_form(&req)?;
    sa.revoke_token(req.header(AUTHORIZATION), &req.body, ip).await?;
    Ok(Response::empty(StatusCode::OK).no_store())
}
