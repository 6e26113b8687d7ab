//! The axum and poem mounts over real sockets, at the root and under a
//! nested prefix: the page, its files, the redirect to the slash, 404s, and
//! the security headers on each.

use sentryagent_portal::{CSP, Portal};

/// Serves `app` on a loopback port; answers its base URL.
async fn serve_axum(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("axum serves") });
    base
}

async fn serve_poem(app: poem::Route) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).expect("acceptor");
    tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run(app)
            .await
            .expect("poem serves")
    });
    base
}

/// The portal at `base` + `mount`, checked from outside.
async fn check(base: &str, mount: &str) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let get = |path: String| {
        let http = http.clone();
        async move { http.get(path).send().await.expect("an answer") }
    };
    let page = get(format!("{base}{mount}/")).await;
    assert_eq!(page.status(), 200, "{mount}/");
    assert_eq!(page.headers()["content-security-policy"], CSP);
    let html = page.text().await.expect("text");
    assert!(
        html.contains(r#"<meta name="sentryagent-api" content="/api/v1">"#),
        "{html}"
    );
    let script = get(format!("{base}{mount}/js/app.js")).await;
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(script.headers()["x-content-type-options"], "nosniff");
    let missing = get(format!("{base}{mount}/js/none.js")).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["referrer-policy"], "no-referrer");
    if let Some(last) = mount.rsplit('/').next().filter(|s| !s.is_empty()) {
        let bare = get(format!("{base}{mount}")).await;
        assert_eq!(bare.status(), 308, "{mount}");
        assert_eq!(bare.headers()["location"], format!("{last}/"));
        assert_eq!(bare.headers()["content-security-policy"], CSP);
    }
}

#[tokio::test]
async fn axum_at_the_root_and_under_a_prefix() {
    let portal = Portal::new("/api/v1/");
    let root = serve_axum(axum::Router::new().merge(sentryagent_portal::axum::router("", portal.clone()))).await;
    check(&root, "").await;
    let nested = serve_axum(axum::Router::new().nest(
        "/ui",
        axum::Router::new().merge(sentryagent_portal::axum::router("/portal", portal)),
    ))
    .await;
    check(&nested, "/ui/portal").await;
}

#[tokio::test]
async fn poem_at_the_root_and_under_a_prefix() {
    let portal = Portal::new("/api/v1");
    let root = serve_poem(poem::Route::new().nest("/", sentryagent_portal::poem::endpoint(portal.clone()))).await;
    check(&root, "").await;
    let nested = serve_poem(poem::Route::new().nest(
        "/ui",
        poem::Route::new().nest("/portal", sentryagent_portal::poem::endpoint(portal)),
    ))
    .await;
    check(&nested, "/ui/portal").await;
}
