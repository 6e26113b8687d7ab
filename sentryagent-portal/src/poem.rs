//! The portal on poem: [`endpoint`] answers every path with
//! [`Portal::answer`], unchanged.

use poem::endpoint::make_sync;
use poem::{Request, Route};

use crate::Portal;

/// The portal as a [`poem::Route`] to nest under any prefix.
///
/// ```
/// use sentryagent_portal::Portal;
/// let app = poem::Route::new().nest("/portal", sentryagent_portal::poem::endpoint(Portal::new("/api/v1")));
/// ```
pub fn endpoint(portal: Portal) -> Route {
    let page = portal.clone();
    Route::new()
        .at(
            "/",
            poem::get(make_sync(move |req: Request| {
                into_poem(page.answer(req.original_uri().path(), ""))
            })),
        )
        .at(
            "/*file",
            poem::get(make_sync(move |req: Request| {
                let file = req.raw_path_param("file").unwrap_or_default();
                into_poem(portal.answer(req.original_uri().path(), file))
            })),
        )
}

fn into_poem(response: http::Response<bytes::Bytes>) -> poem::Response {
    let (parts, body) = response.into_parts();
    let mut out = poem::Response::from(poem::Body::from_bytes(body));
    out.set_status(parts.status);
    *out.headers_mut() = parts.headers;
    out
}
