//! The portal on axum: [`router`] answers every path with
//! [`Portal::answer`], unchanged.

use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Path};
use axum::routing::get;

use crate::Portal;

/// The portal at `mount` (e.g. `/portal`; `""` for the root), as a router to
/// merge into a host router of any state type. It takes the mount point
/// rather than being nested because a router nested at `/portal` never sees
/// `/portal/`, the page itself.
///
/// ```
/// use sentryagent_portal::Portal;
/// let app: axum::Router = axum::Router::new()
///     .merge(sentryagent_portal::axum::router("/portal", Portal::new("/api/v1")));
/// ```
pub fn router<S: Clone + Send + Sync + 'static>(mount: &str, portal: Portal) -> Router<S> {
    let mount = mount.trim_end_matches('/');
    let page = portal.clone();
    let index = get(move |OriginalUri(uri): OriginalUri| async move { into_axum(page.answer(uri.path(), "")) });
    let mut router = Router::new().route(&format!("{mount}/"), index.clone());
    if !mount.is_empty() {
        router = router.route(mount, index);
    }
    router.route(
        &format!("{mount}/{{*file}}"),
        get(
            move |OriginalUri(uri): OriginalUri, Path(file): Path<String>| async move {
                into_axum(portal.answer(uri.path(), &file))
            },
        ),
    )
}

fn into_axum(response: http::Response<bytes::Bytes>) -> axum::response::Response {
    response.map(Body::from)
}
