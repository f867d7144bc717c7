//! The small HTML pages behind the links in emails (unsubscribe, survey): one stylesheet
//! in a `<style>` element the policy admits by its hash, so a page needs neither a
//! stylesheet route nor `'unsafe-inline'`, and loads nothing from anywhere.

use std::sync::LazyLock;

use actix_web::{
    HttpResponse,
    http::{StatusCode, header},
};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The pages' whole stylesheet.
const STYLE: &str = "body{font-family:Arial,Helvetica,sans-serif;max-width:480px;\
     margin:48px auto;padding:0 16px;color:#1f2937}button{padding:10px 20px;font-size:16px}\
     label{display:block;margin:16px 0 8px}textarea{box-sizing:border-box;width:100%;\
     font:inherit;padding:8px}.hint{color:#6b7280;font-size:13px}\
     .notice{color:#065f46}.error{color:#b91c1c}";

/// Nothing but that stylesheet and forms posting back here.
static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         base-uri 'none'; frame-ancestors 'none'"
    )
});

/// A page in language `lang` (a BCP 47 tag); `title` and `body` are HTML, escaped by the
/// caller. Never stored by a cache: these pages answer one person's link.
pub fn page(status: StatusCode, lang: &str, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY.as_str(),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>"
        ))
}

/// Text as HTML text or a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_shown_not_run() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("物流太慢"), "物流太慢");
    }
}
