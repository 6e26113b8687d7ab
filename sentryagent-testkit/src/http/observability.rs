//! Request ids: on every answer, in the error envelope, the access log and
//! the audit events of the request; a client picks none, a trusted proxy
//! does.

use reqwest::Method;
use serde_json::json;

use crate::{StartFn, TestApp, captured_logs, string};

/// The `X-Request-Id` of an answer.
fn id_of(answer: &crate::Answer) -> String {
    let id = answer.header("x-request-id").to_owned();
    assert!(!id.is_empty(), "an X-Request-Id on {} {}", answer.status, answer.text);
    id
}

/// A POST declaring a 1 MiB body of which only the first 64 KiB + 1 bytes
/// are sent, over its own socket.
///
/// The server answers 413 before reading the rest and closes. A client that
/// went on writing the whole body would race that close (a broken pipe on
/// a loaded machine), so this one sends only what the server reads.
async fn oversized_post(app: &crate::TestApp, path: &str, token: &str) -> crate::Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("a connection");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        1024 * 1024
    );
    socket.write_all(head.as_bytes()).await.expect("the head is sent");
    socket
        .write_all(&vec![b' '; 64 * 1024 + 1])
        .await
        .expect("the first part of the body is sent");
    let mut raw = Vec::new();
    socket.read_to_end(&mut raw).await.expect("the answer is read");
    let raw = String::from_utf8(raw).expect("a UTF-8 answer");
    let (head, text) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .expect("a status line");
    let mut headers = reqwest::header::HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').expect("a header line");
        headers.append(
            reqwest::header::HeaderName::try_from(name.trim()).expect("a header name"),
            value.trim().parse().expect("a header value"),
        );
    }
    crate::Answer {
        status: reqwest::StatusCode::from_u16(status).expect("a status"),
        headers,
        json: serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
        text: text.to_owned(),
    }
}

/// Every answer has its own id, successes, refusals, unknown paths and
/// methods alike; an error's envelope repeats it as `requestId`; a client
/// that is not a trusted proxy cannot choose it.
pub async fn every_answer_has_a_request_id_and_errors_say_it(start: impl StartFn) {
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let ok = app.get("/tenants/me", &admin).await;
    ok.assert_status(200);
    let unauthenticated = app.send(app.request(Method::GET, "/agents", None)).await;
    let unknown = app.send(app.request(Method::GET, "/no-such-route", None)).await;
    let method = app.send(app.request(Method::PUT, "/tenants/me", Some(&admin))).await;
    let oversized = oversized_post(&app, "/api/v1/agents", &admin).await;
    let mut ids = vec![id_of(&ok)];
    for (answer, status) in [
        (&unauthenticated, 401),
        (&unknown, 404),
        (&method, 405),
        (&oversized, 413),
    ] {
        answer.assert_status(status);
        let id = id_of(answer);
        assert_eq!(
            string(&answer.json["requestId"]),
            id,
            "the envelope names the id: {}",
            answer.text
        );
        ids.push(id);
    }
    let before = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), before, "each request its own id");

    // Not a trusted proxy: its id is replaced.
    let chosen = app
        .send(
            app.request(Method::GET, "/tenants/me", Some(&admin))
                .header("x-request-id", "chosen-by-client"),
        )
        .await;
    assert_ne!(id_of(&chosen), "chosen-by-client");
}

/// The answers no route of the table gives have their request id too: the
/// API explorer's page, files, redirect and missing file, and a resource's
/// RFC 9728 metadata (found or not).
pub async fn the_explorer_and_resource_metadata_answer_with_a_request_id(start: impl StartFn) {
    use sentryagent_core::resource::ResourcePolicy;
    let app = TestApp::start(start).await;
    let t = app.signup("Acme").await;
    app.idp.protect(
        ResourcePolicy::new(format!("{}{}", app.base, crate::RESOURCE_A_PATH))
            .tenant(t.id.parse().expect("a tenant id")),
    );
    let mut ids = Vec::new();
    for (path, status) in [
        ("/docs/", 200),
        ("/docs/swagger-initializer.js", 200),
        ("/docs/no-such-file.js", 404),
        ("//.well-known/oauth-protected-resource/resource-a", 200),
        ("//.well-known/oauth-protected-resource/nothing-here", 404),
    ] {
        let answer = app.send(app.request(Method::GET, path, None)).await;
        answer.assert_status(status);
        let id = id_of(&answer);
        if status == 404 {
            assert_eq!(string(&answer.json["requestId"]), id, "{path}: {}", answer.text);
        }
        ids.push(id);
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let bare = client.get(app.url("/docs")).send().await.expect("GET /docs");
    assert_eq!(bare.status().as_u16(), 308);
    let id = bare
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(id.len(), 32, "the redirect has its id");
    ids.push(id.to_owned());
    let before = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), before, "each request its own id");
}

/// Behind a trusted proxy the proxy's id is kept: in the answer, the
/// access-log line and the audit event of the request. The access log
/// names the route template, status, tenant and agent, and never the
/// query string.
pub async fn a_trusted_proxys_request_id_reaches_the_log_and_the_audit_event(start: impl StartFn) {
    let loopback: std::net::IpAddr = [127, 0, 0, 1].into();
    let app = TestApp::start_with(start, |b| b.trusted_proxy(loopback)).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let agent = app.register(&admin, "bot@acme.example", json!({})).await;
    let request_id = format!("proxy-{}", uuid::Uuid::new_v4().simple());
    let issued = app
        .send(
            app.request(Method::POST, "/oauth2/token", None)
                .basic_auth(&agent.client_id, Some(&agent.secret))
                .header("x-request-id", &request_id)
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
    issued.assert_status(200);
    assert_eq!(id_of(&issued), request_id);

    let audit = app.get("/audit?action=token.issued&limit=10", &admin).await;
    let events = audit.json["items"].as_array().cloned().unwrap_or_default();
    assert!(
        events.iter().any(|e| e["details"]["requestId"] == request_id.as_str()),
        "the audit event names the request: {}",
        audit.text
    );

    let marker = format!("q-{}", uuid::Uuid::new_v4().simple());
    let listed = app
        .send(
            app.request(Method::GET, &format!("/agents?limit=5&marker={marker}"), Some(&admin))
                .header("x-request-id", &marker),
        )
        .await;
    assert_eq!(id_of(&listed), marker);
    // Text lines quote string fields (`route="/agents"`); compare without.
    let logs = captured_logs().replace('"', "");
    let token_line = logs
        .lines()
        .find(|l| l.contains("sentryagent::access") && l.contains(&request_id))
        .unwrap_or_else(|| panic!("an access-log line for {request_id}"));
    for field in [
        "route=/oauth2/token",
        "status=200",
        "method=POST",
        &format!("tenant={}", t.id),
    ] {
        assert!(token_line.contains(field), "{field} in {token_line}");
    }
    assert!(token_line.contains(&format!("agent={}", agent.id)), "{token_line}");
    let listed_line = logs
        .lines()
        .find(|l| l.contains("sentryagent::access") && l.contains(&marker) && l.contains("route=/agents"))
        .unwrap_or_else(|| panic!("an access-log line for {marker}"));
    assert!(
        !listed_line.contains("limit=5"),
        "no query string in the access log: {listed_line}"
    );
    // Every line of the request (its span) carries the id, so does the JSON form.
    assert!(
        logs.lines()
            .any(|l| l.starts_with('{') && l.contains(&format!("request_id:{request_id}"))),
        "a JSON log line of the request"
    );
}
