//! GraphiQL at GET `/graphql`, served entirely from the binary: the page, its start-up
//! script and stylesheet, and the GraphiQL and React distribution files vendored in
//! `src/http/graphiql/vendor/` (fetched from npm by `src/http/graphiql/update.sh`). Nothing
//! is loaded from elsewhere, so the page works without internet and under a
//! Content-Security-Policy that allows this server's origin only.

use actix_web::{
    HttpResponse,
    http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY},
    web,
};

/// The page's policy: scripts, queries, fonts and images from this origin only (fonts and
/// icons also as `data:` URLs, which is how GraphiQL's stylesheet embeds them).
///
/// Styles also allow inline ones: GraphiQL's dialogs inject a `<style>` element
/// (react-remove-scroll) and CodeMirror builds HTML with `style` attributes. Scripts stay
/// strict, and with every fetch directive limited to this origin, injected CSS could not
/// send anything to another host either.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Asset paths are relative (`graphiql/…`), so the page also works when a proxy mounts the
/// service under a prefix.
const PAGE: &str = include_str!("graphiql/index.html");

/// Vendored files never change under their versioned path; ours change with the binary.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

struct Asset {
    /// Below `/graphiql/`.
    path: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    body: &'static [u8],
}

macro_rules! vendored {
    ($dir:literal, $file:literal, $content_type:expr) => {
        Asset {
            path: concat!($dir, "/", $file),
            content_type: $content_type,
            cache_control: IMMUTABLE,
            body: include_bytes!(concat!("graphiql/vendor/", $dir, "/", $file)),
        }
    };
}

/// Everything under `/graphiql/`: each vendored file under its package's name and version,
/// with the package's licence next to it.
const ASSETS: &[Asset] = &[
    vendored!("graphiql-3.8.3", "graphiql.min.js", JAVASCRIPT),
    vendored!("graphiql-3.8.3", "graphiql.min.css", CSS),
    vendored!("graphiql-3.8.3", "LICENSE", TEXT),
    vendored!("react-18.3.1", "react.production.min.js", JAVASCRIPT),
    vendored!("react-18.3.1", "LICENSE", TEXT),
    vendored!(
        "react-dom-18.3.1",
        "react-dom.production.min.js",
        JAVASCRIPT
    ),
    vendored!("react-dom-18.3.1", "LICENSE", TEXT),
    Asset {
        path: "clientele.js",
        content_type: JAVASCRIPT,
        cache_control: REVALIDATE,
        body: include_bytes!("graphiql/clientele.js"),
    },
    Asset {
        path: "clientele.css",
        content_type: CSS,
        cache_control: REVALIDATE,
        body: include_bytes!("graphiql/clientele.css"),
    },
];

/// GET `/graphql`: the GraphiQL page. Its queries go to POST on the same path with the
/// key the user pastes into the prefilled headers panel.
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE))
        .insert_header((CACHE_CONTROL, REVALIDATE))
        .body(PAGE)
}

/// GET `/graphiql/{path}`: one of the page's files.
pub async fn asset(path: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|asset| asset.path == path.as_str()) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((CACHE_CONTROL, asset.cache_control))
            .body(asset.body),
        None => HttpResponse::NotFound().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page names its files by hand; each must be one the server has.
    #[test]
    fn every_file_the_page_references_is_embedded() {
        let referenced: Vec<&str> = PAGE
            .split(['"', '\''])
            .filter_map(|part| part.strip_prefix("graphiql/"))
            .collect();
        assert!(referenced.len() >= 6, "{referenced:?}");
        for path in referenced {
            assert!(
                ASSETS.iter().any(|asset| asset.path == path),
                "the page references graphiql/{path}, which is not embedded"
            );
        }
    }
}
