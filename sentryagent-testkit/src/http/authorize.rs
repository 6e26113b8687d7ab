//! The authorization endpoint as a browser and an attacker see it: sign-in
//! through the host, the consent page (escaped, framed by nothing, posted
//! back with a token bound to its person and request), codes redirected
//! with `state` and `iss`, and every bad request refused on the page while
//! the redirect URI is untrusted, by redirect after; each refusal audited.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::host::{SIGN_IN_PATH, TEST_APPROVE, TEST_HOST_DOWN, TEST_USER, TestHost};
use crate::{Answer, StartFn, Tenant, TestApp, string};

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:43117/callback";

async fn with_sign_in(start: impl StartFn) -> TestApp {
    TestApp::start_with(start, |b| b.host_users(Arc::new(TestHost))).await
}

/// A browser: it does not follow redirects, so each one is seen.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// A public client of the tenant redirecting to the loopback callback.
async fn client(app: &TestApp, admin: &str, name: &str) -> String {
    let a = app
        .post(
            "/oauth-clients",
            admin,
            &json!({"kind": "public", "redirectUris": ["http://127.0.0.1/callback"], "clientName": name,
                "logoUri": "https://editor.example/logo.png"}),
        )
        .await;
    a.assert_status(201);
    string(&a.json["clientId"])
}

/// The usual request's parameters, `changes` replacing or (with `None`)
/// removing some.
fn params(app: &TestApp, client_id: &str, changes: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("state", "st-\"<1>"),
        ("scope", "tools:call"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("resource", app.base.as_str()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (key, value) in changes {
        pairs.retain(|(k, _)| k != key);
        if let Some(v) = value {
            pairs.push(((*key).to_owned(), (*v).to_owned()));
        }
    }
    pairs
}

fn user(t: &Tenant, user: &str) -> String {
    format!("{}/{user}", t.id)
}

async fn get(app: &TestApp, who: Option<&str>, pairs: &[(String, String)]) -> Answer {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let mut r = browser().get(format!("{}?{query}", app.url("/oauth2/authorize")));
    if let Some(who) = who {
        r = r.header(TEST_USER, who);
    }
    app.send(r).await
}

async fn post(app: &TestApp, who: &str, pairs: &[(String, String)]) -> Answer {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let r = browser()
        .post(app.url("/oauth2/authorize"))
        .header(TEST_USER, who)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    app.send(r).await
}

/// The hidden fields of a form (the consent page's, a host's sign-in
/// page's), unescaped, in order.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"")?;
            let (value, _) = rest.split_once('"')?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

/// The redirect's query, after checking where it goes.
#[track_caller]
fn redirected(a: &Answer, to: &str) -> Vec<(String, String)> {
    a.assert_status(302);
    let location = a.header("location");
    let (target, query) = location.split_once('?').unwrap_or((location, ""));
    assert_eq!(target, to, "{location}");
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn audited(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let a = app.get(&format!("/audit?action={action}&limit=100"), admin).await;
    a.assert_status(200);
    a.json["items"].as_array().cloned().unwrap_or_default()
}

/// A person not signed in goes to the host's sign-in; signed in, they see
/// the consent page (the client's hostile name escaped, strict headers);
/// allowing sends the browser back with a code, `state` and `iss`, the
/// code's grant stored for them; the next request is answered at once from
/// the remembered consent. Consent and codes are audited.
pub async fn authorize_signs_in_consents_and_redirects_with_a_code(start: impl StartFn) {
    let app = with_sign_in(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let client_id = client(&app, &admin, "<script>alert(1)</script>").await;
    let request = params(&app, &client_id, &[]);

    let anonymous = get(&app, None, &request).await;
    anonymous.assert_status(302);
    let sign_in = anonymous.header("location");
    assert!(sign_in.starts_with(&format!("{SIGN_IN_PATH}?return_to=")), "{sign_in}");
    let return_to = redirected(&anonymous, SIGN_IN_PATH);
    let return_to = param(&return_to, "return_to").expect("return_to");
    assert!(return_to.starts_with("/api/v1/oauth2/authorize?"), "{return_to}");
    assert!(return_to.contains(&client_id), "{return_to}");

    let ann = user(&t, "ann");
    let consent = get(&app, Some(&ann), &request).await;
    consent.assert_status(200);
    assert!(consent.header("content-type").starts_with("text/html"));
    let csp = consent.header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("form-action 'self' http://127.0.0.1:43117"), "{csp}");
    assert_eq!(consent.header("x-frame-options"), "DENY");
    assert_eq!(consent.header("cache-control"), "no-store");
    assert_eq!(consent.header("referrer-policy"), "no-referrer");
    assert!(!consent.text.contains("<script>"), "{}", consent.text);
    assert!(consent.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(consent.text.contains("Test user ann"));
    assert!(consent.text.contains("tools:call"));
    assert!(consent.text.contains("https://editor.example/logo.png"));

    let mut form = hidden_fields(&consent.text);
    assert!(form.iter().any(|(k, _)| k == "consent_token"), "{form:?}");
    form.push(("decision".into(), "allow".into()));
    let allowed = post(&app, &ann, &form).await;
    let answer = redirected(&allowed, REDIRECT);
    let code = param(&answer, "code").expect("a code");
    assert!(code.starts_with("sa_ac_"), "{code}");
    assert_eq!(param(&answer, "state"), Some("st-\"<1>"));
    assert_eq!(param(&answer, "iss"), Some(app.base.as_str()));
    assert_eq!(allowed.header("cache-control"), "no-store");

    let issued = audited(&app, &admin, "authorization.code_issued").await;
    assert_eq!(issued.len(), 1, "{issued:?}");
    let detail = &issued[0]["details"];
    assert!(!issued[0].to_string().contains(code), "the code is never audited");
    let grant_id = string(&detail["grantId"]).parse().expect("a grant id");
    let tenant = t.id.parse().expect("a tenant id");
    let grant = app
        .idp
        .stored_grant(tenant, grant_id)
        .await
        .expect("store")
        .expect("the code's grant");
    assert_eq!(grant.subject, "ann");
    assert_eq!(grant.client_id, client_id);
    assert_eq!(grant.scopes, ["tools:call"]);
    assert_eq!(grant.resources, std::slice::from_ref(&app.base));
    let granted = audited(&app, &admin, "consent.granted").await;
    assert_eq!(granted.len(), 1, "{granted:?}");
    let consents = app
        .get(&format!("/consents?userId=ann&clientId={client_id}"), &admin)
        .await;
    consents.assert_status(200);
    assert_eq!(
        consents.json["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        consents.text
    );

    // Remembered: no page the second time, a fresh code at once.
    let again = get(&app, Some(&ann), &request).await;
    let answer = redirected(&again, REDIRECT);
    assert!(param(&answer, "code").is_some_and(|c| c != code), "{answer:?}");
    // A wider request asks again.
    let wider = params(&app, &client_id, &[("scope", Some("tools:call files:read"))]);
    get(&app, Some(&ann), &wider).await.assert_status(200);
    // So does another person.
    get(&app, Some(&user(&t, "bob")), &request).await.assert_status(200);
    // Unless the host approved for them (a test-only automatic approval).
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&wider)
        .finish();
    let approved = browser()
        .get(format!("{}?{query}", app.url("/oauth2/authorize")))
        .header(TEST_USER, user(&t, "carl"))
        .header(TEST_APPROVE, "1");
    let answer = redirected(&app.send(approved).await, REDIRECT);
    assert!(param(&answer, "code").is_some(), "{answer:?}");
    // An approval by the host is not a consent the person gave.
    get(&app, Some(&user(&t, "carl")), &wider).await.assert_status(200);
}

/// Until the client and its redirect URI are known good, every refusal is
/// a page (never a redirect); after, it goes back to the client with the
/// OAuth error, `state` and `iss`. Each is audited in the tenant's chain.
pub async fn authorize_refuses_bad_requests_on_the_page_or_by_redirect(start: impl StartFn) {
    let app = with_sign_in(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let client_id = client(&app, &admin, "Editor").await;
    let other = app.signup("Other").await;
    let other_admin = app.admin_token(&other).await;
    let foreign_client = client(&app, &other_admin, "Foreign").await;
    let ann = user(&t, "ann");

    let on_the_page: Vec<Vec<(String, String)>> = vec![
        params(&app, "sa_oc_nosuchclient", &[]),
        params(&app, &foreign_client, &[]),
        params(&app, "https://unknown.example/client.json", &[]),
        params(&app, &client_id, &[("client_id", None)]),
        params(
            &app,
            &client_id,
            &[("redirect_uri", Some("https://attacker.example/callback"))],
        ),
        params(
            &app,
            &client_id,
            &[("redirect_uri", Some("http://127.0.0.1:43117/other"))],
        ),
        params(&app, &client_id, &[("redirect_uri", None)]),
        {
            let mut twice = params(&app, &client_id, &[]);
            twice.push(("state".into(), "again".into()));
            twice
        },
    ];
    for request in &on_the_page {
        let a = get(&app, Some(&ann), request).await;
        a.assert_status(400);
        assert!(a.headers.get("location").is_none(), "{request:?} redirected");
        assert!(a.header("content-type").starts_with("text/html"), "{request:?}");
        assert!(!a.text.contains("attacker.example"), "{}", a.text);
    }

    let by_redirect = [
        (vec![("code_challenge", None)], "invalid_request"),
        (vec![("code_challenge_method", Some("plain"))], "invalid_request"),
        (vec![("code_challenge_method", None)], "invalid_request"),
        (vec![("scope", Some("tools:call agents:write"))], "invalid_scope"),
        (vec![("scope", Some("admin"))], "invalid_scope"),
        (
            vec![("resource", Some("https://elsewhere.example/mcp"))],
            "invalid_target",
        ),
        (vec![("resource", Some("not a url"))], "invalid_target"),
        (vec![("response_type", Some("token"))], "unsupported_response_type"),
        (vec![("response_type", None)], "invalid_request"),
    ];
    for (changes, error) in by_redirect {
        let a = get(&app, Some(&ann), &params(&app, &client_id, &changes)).await;
        let answer = redirected(&a, REDIRECT);
        assert_eq!(param(&answer, "error"), Some(error), "{changes:?}");
        assert!(param(&answer, "error_description").is_some());
        assert_eq!(param(&answer, "state"), Some("st-\"<1>"), "{changes:?}");
        assert_eq!(param(&answer, "iss"), Some(app.base.as_str()));
        assert!(param(&answer, "code").is_none());
    }

    let refused = audited(&app, &admin, "authorization.refused").await;
    let reasons: Vec<&str> = refused.iter().filter_map(|e| e["details"]["reason"].as_str()).collect();
    for reason in [
        "unknown_client",
        "redirect_uri_unregistered",
        "invalid_scope",
        "invalid_target",
        "unsupported_response_type",
    ] {
        assert!(reasons.contains(&reason), "{reason} not in {reasons:?}");
    }
    assert!(
        audited(&app, &other_admin, "authorization.refused").await.is_empty(),
        "refusals go to the person's tenant only"
    );
    assert!(audited(&app, &admin, "authorization.code_issued").await.is_empty());
}

/// A consent form is accepted only from the person it was rendered for, for
/// the very request it shows, before it expires; denying sends the client
/// `access_denied` and is audited.
pub async fn consent_forms_are_bound_to_their_person_and_request(start: impl StartFn) {
    let app = with_sign_in(start).await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let client_id = client(&app, &admin, "Editor").await;
    let (ann, bob) = (user(&t, "ann"), user(&t, "bob"));
    let page = get(&app, Some(&ann), &params(&app, &client_id, &[])).await;
    page.assert_status(200);
    let form = hidden_fields(&page.text);
    let with = |changes: &[(&str, &str)]| {
        let mut f = form.clone();
        for (k, v) in changes {
            f.retain(|(name, _)| name != k);
            f.push(((*k).to_owned(), (*v).to_owned()));
        }
        f
    };

    // Bob posting Ann's form, a form whose scopes were widened, a forged
    // or expired token, no token: refused on the page.
    let forged = [
        (bob.as_str(), with(&[("decision", "allow")])),
        (
            ann.as_str(),
            with(&[("decision", "allow"), ("scope", "tools:call files:read")]),
        ),
        (
            ann.as_str(),
            with(&[("decision", "allow"), ("code_challenge", "A".repeat(43).as_str())]),
        ),
        (
            ann.as_str(),
            with(&[("decision", "allow"), ("consent_token", "1.AAAA")]),
        ),
        (ann.as_str(), {
            let mut f = with(&[("decision", "allow")]);
            f.retain(|(k, _)| k != "consent_token");
            f
        }),
    ];
    for (who, form) in &forged {
        let a = post(&app, who, form).await;
        a.assert_status(403);
        assert!(a.headers.get("location").is_none());
    }
    let refused = audited(&app, &admin, "authorization.refused").await;
    assert!(
        refused
            .iter()
            .all(|e| e["details"]["reason"] == "consent_token_invalid"),
        "{refused:?}"
    );
    assert_eq!(refused.len(), forged.len());
    assert!(audited(&app, &admin, "authorization.code_issued").await.is_empty());

    // Not signed in any more: back to sign-in.
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(with(&[("decision", "allow")]))
        .finish();
    let anonymous = app
        .send(
            browser()
                .post(app.url("/oauth2/authorize"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await;
    redirected(&anonymous, SIGN_IN_PATH);

    let denied = post(&app, &ann, &with(&[("decision", "deny")])).await;
    let answer = redirected(&denied, REDIRECT);
    assert_eq!(param(&answer, "error"), Some("access_denied"));
    assert_eq!(param(&answer, "state"), Some("st-\"<1>"));
    assert_eq!(param(&answer, "iss"), Some(app.base.as_str()));
    let denials = audited(&app, &admin, "consent.denied").await;
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0]["details"]["userId"], "ann");
    // Denying remembers nothing.
    get(&app, Some(&ann), &params(&app, &client_id, &[]))
        .await
        .assert_status(200);

    // A post that is no consent form (no decision, or another one) is
    // refused on the page, signed in or not, never redirected.
    for decision in [None, Some("maybe")] {
        let mut fields: Vec<(String, String)> = with(&[]).into_iter().filter(|(k, _)| k != "decision").collect();
        if let Some(d) = decision {
            fields.push(("decision".into(), d.into()));
        }
        let odd = post(&app, &ann, &fields).await;
        assert_eq!(odd.status, 400, "{decision:?}: {}", odd.text);
        assert!(odd.header("location").is_empty(), "{decision:?}");
    }
}

/// Without the host's sign-in the flow is off: the endpoint says so on a
/// page and the metadata does not advertise it; with it, the metadata
/// names the endpoint, `code`, `S256` and RFC 9207's `iss`. A host that
/// cannot tell who is signed in gets `temporarily_unavailable`.
pub async fn authorize_is_advertised_only_when_the_host_signs_people_in(start: impl StartFn) {
    let off = TestApp::start(&start).await;
    let t = off.signup("Acme").await;
    let admin = off.admin_token(&t).await;
    let client_id = client(&off, &admin, "Editor").await;
    let a = get(&off, Some(&user(&t, "ann")), &params(&off, &client_id, &[])).await;
    a.assert_status(501);
    assert!(a.headers.get("location").is_none());
    assert!(a.header("content-type").starts_with("text/html"));
    let doc = off
        .send(off.request(reqwest::Method::GET, "//.well-known/oauth-authorization-server", None))
        .await;
    assert!(doc.json.get("authorization_endpoint").is_none(), "{}", doc.text);
    assert_eq!(doc.json["response_types_supported"], json!([]));
    drop(off);

    let on = with_sign_in(start).await;
    for path in [
        "//.well-known/oauth-authorization-server",
        "//.well-known/openid-configuration",
    ] {
        let doc = on.send(on.request(reqwest::Method::GET, path, None)).await;
        doc.assert_status(200);
        assert_eq!(
            doc.json["authorization_endpoint"],
            json!(format!("{}/api/v1/oauth2/authorize", on.base))
        );
        assert_eq!(doc.json["response_types_supported"], json!(["code"]));
        assert_eq!(doc.json["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc.json["authorization_response_iss_parameter_supported"], json!(true));
    }
    let doc = on
        .send(on.request(reqwest::Method::GET, "//.well-known/oauth-authorization-server", None))
        .await;
    super::discovery::check_members(&doc.json, &[]);

    let t = on.signup("Acme").await;
    let down = browser()
        .get(on.url("/oauth2/authorize?response_type=code"))
        .header(TEST_USER, user(&t, "ann"))
        .header(TEST_HOST_DOWN, "1");
    let a = on.send(down).await;
    a.assert_status(503);
    assert!(a.text.contains("temporarily_unavailable"), "{}", a.text);
    // A consent form that is not a form.
    let a = on
        .send(
            browser()
                .post(on.url("/oauth2/authorize"))
                .json(&json!({"decision": "allow"})),
        )
        .await;
    a.assert_status(400);
}

/// A stand-in host of Client ID Metadata Documents on loopback: a good
/// document, one too large, one not JSON, one naming another client id,
/// and one redirecting elsewhere. Counts the requests it serves.
async fn document_host() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::routing::get;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    let served = Arc::new(AtomicUsize::new(0));
    let doc = |url: String, name: &str| {
        json!({"client_id": url, "client_name": name, "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none"})
        .to_string()
    };
    let good = doc(format!("{base}/good.json"), "Doc <Editor>");
    let other = doc(format!("{base}/somebody-else.json"), "Impostor");
    let large = json!({"client_id": format!("{base}/large.json"), "redirect_uris": ["http://127.0.0.1/callback"],
        "client_name": "x".repeat(6 * 1024)})
    .to_string();
    let count = served.clone();
    let app = axum::Router::new()
        .route(
            "/good.json",
            get(move || async move { ([("cache-control", "max-age=600")], good) }),
        )
        .route("/other.json", get(move || async move { other }))
        .route("/large.json", get(move || async move { large }))
        .route("/page.json", get(|| async { "<html>not JSON</html>" }))
        .route(
            "/moved.json",
            get(|| async {
                (
                    axum::http::StatusCode::FOUND,
                    [("location", "http://10.0.0.1/doc.json")],
                )
            }),
        )
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                count.fetch_add(1, Ordering::SeqCst);
                next.run(request)
            },
        ));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, served)
}

/// A client id that is the URL of its metadata document (CIMD), at the
/// authorization endpoint: the document is fetched through the guarded
/// fetcher and cached (a second request fetches nothing); a document too
/// large, not JSON, naming another client id, or redirecting, is refused
/// on the page, never by redirect, and audited. Plain `http` on loopback
/// only because this app says so (a test setting); without it, refused
/// before any fetch.
pub async fn client_metadata_documents_at_the_authorization_endpoint(start: impl StartFn) {
    use std::sync::atomic::Ordering;

    let (docs, served) = document_host().await;
    let fetcher =
        sentryagent_federation_reqwest::GuardedFetcher::allowing_private_networks_for_tests().expect("a fetcher");
    let app = TestApp::start_with(&start, move |b| {
        b.host_users(Arc::new(TestHost))
            .client_metadata_fetcher(Arc::new(fetcher))
            .allow_http_loopback_client_metadata_for_tests(true)
    })
    .await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let who = user(&t, "ada");

    let good = format!("{docs}/good.json");
    let page = get(&app, Some(&who), &params(&app, &good, &[])).await;
    page.assert_status(200);
    assert!(
        page.text.contains("Doc &lt;Editor&gt;"),
        "the document's name, escaped: {}",
        page.text
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);
    get(&app, Some(&who), &params(&app, &good, &[]))
        .await
        .assert_status(200);
    assert_eq!(served.load(Ordering::SeqCst), 1, "cached per its max-age");
    let listed = app.get("/oauth-clients?limit=100", &admin).await;
    assert!(
        listed.text.contains(&good),
        "the tenant knows the client: {}",
        listed.text
    );

    for bad in ["large.json", "page.json", "other.json", "moved.json"] {
        let refused = get(&app, Some(&who), &params(&app, &format!("{docs}/{bad}"), &[])).await;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.text);
        assert!(refused.header("location").is_empty(), "{bad}: never a redirect");
        assert!(
            refused.text.contains("invalid_request") || refused.text.contains("invalid_client"),
            "{bad}"
        );
    }
    let refusals = audited(&app, &admin, "oauth_client.metadata_refused").await;
    assert!(!refusals.is_empty(), "refused documents are audited");

    // Without the test setting, plain http is refused before any fetch.
    let fetcher =
        sentryagent_federation_reqwest::GuardedFetcher::allowing_private_networks_for_tests().expect("a fetcher");
    let strict = TestApp::start_with(&start, move |b| {
        b.host_users(Arc::new(TestHost))
            .client_metadata_fetcher(Arc::new(fetcher))
    })
    .await;
    let t = strict.signup("Acme").await;
    let before = served.load(Ordering::SeqCst);
    let refused = get(&strict, Some(&user(&t, "ada")), &params(&strict, &good, &[])).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.header("location").is_empty());
    assert_eq!(served.load(Ordering::SeqCst), before, "nothing fetched");
}

/// The endpoint is limited per client of a tenant, not only per address:
/// past the client's quota every address gets 429 with `Retry-After` for
/// it (a flood of codes and consents cannot be spread over addresses),
/// while another client of the tenant is not affected and a made-up client
/// id keeps no state (it is refused on the page, as before).
pub async fn authorize_is_limited_per_client(start: impl StartFn) {
    use sentryagent_core::ratelimit::RouteGroup;
    let app = TestApp::start_with(start, |b| {
        b.host_users(Arc::new(TestHost))
            .rate_limit(RouteGroup::AuthorizeClient, "3/60s".parse().expect("a quota"))
            .trusted_proxy(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
    })
    .await;
    let t = app.signup("Acme").await;
    let admin = app.admin_token(&t).await;
    let busy = client(&app, &admin, "Busy").await;
    let other = client(&app, &admin, "Other").await;
    let from = |address: &str, client_id: &str| {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params(&app, client_id, &[]))
            .finish();
        browser()
            .get(format!("{}?{query}", app.url("/oauth2/authorize")))
            .header(TEST_USER, user(&t, "ann"))
            .header("x-forwarded-for", address)
    };
    let mut statuses = Vec::new();
    for i in 0..5 {
        let a = app.send(from(&format!("198.51.100.{i}"), &busy)).await;
        statuses.push(a.status.as_u16());
        if a.status == 429 {
            a.assert_error(429, "RATE_LIMITED");
            let retry: u64 = a.header("retry-after").parse().expect("Retry-After seconds");
            assert!((1..=20).contains(&retry), "{retry}");
        }
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 429, 429],
        "three per client, whatever the address"
    );
    app.send(from("198.51.100.9", &other)).await.assert_status(200);
    // A made-up client id is refused on the page: no quota is spent on it.
    for _ in 0..5 {
        app.send(from("198.51.100.10", "sa_oc_made_up"))
            .await
            .assert_status(400);
    }
}
