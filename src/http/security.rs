//! Response headers that keep browsers from misreading or embedding what we serve.

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{
        CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue, REFERRER_POLICY,
        X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
    },
    middleware::{DefaultHeaders, Next},
};

/// For an HTML page that sets no policy of its own: it may load nothing at all.
/// Pages that need more (GraphiQL, the unsubscribe page) set theirs.
pub const STRICTEST_PAGE_POLICY: &str =
    "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Every response: browsers take the declared content type as it is, so a JSON error or
/// a licence text is never run as a script or rendered as HTML.
pub fn nosniff() -> DefaultHeaders {
    DefaultHeaders::new().add((X_CONTENT_TYPE_OPTIONS, "nosniff"))
}

/// HTML pages: a Content-Security-Policy (the page's own, else the strictest), never in a
/// frame (clickjacking the unsubscribe button or the key-holding GraphiQL page), and no
/// `Referer` (unsubscribe URLs carry a token).
pub async fn html_page_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut response = next.call(request).await?;
    let is_html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("text/html"));
    if is_html {
        let headers = response.headers_mut();
        if !headers.contains_key(CONTENT_SECURITY_POLICY) {
            headers.insert(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(STRICTEST_PAGE_POLICY),
            );
        }
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    Ok(response)
}
