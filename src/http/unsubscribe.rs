//! `/unsubscribe/{token}`: the page behind the link in every care email. GET shows a
//! confirmation with one button (mail scanners follow links; they must not unsubscribe
//! anyone); POST — the button, or a mail client's RFC 8058 one-click request — turns
//! marketing consent off at once. No login: the token's HMAC is the proof.

use actix_web::{HttpResponse, http::StatusCode, web};
use chrono::Utc;

use super::AppState;

/// The unsubscribe pages speak both languages at once: the link does not say whose
/// language to use before it is checked.
fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    super::page::page(status, "en", title, body)
}

fn invalid() -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "Invalid link",
        "<h1>This unsubscribe link is not valid</h1>\
         <p>Please use the link from the email exactly as it was sent.</p>\
         <p>此退订链接无效，请使用邮件中的原始链接。</p>",
    )
}

/// The (email id, customer id) of a genuine token and the token as signed (the form
/// posts back that one, never what came in the path).
async fn verify(state: &AppState, token: &str) -> Result<(i64, i64, String), HttpResponse> {
    let secret = state.mail.secret(&state.db).await.map_err(|error| {
        tracing::error!(error.cause_chain = ?error, "cannot read the unsubscribe secret");
        HttpResponse::InternalServerError().finish()
    })?;
    let (email_id, customer_id) =
        jobs::mail::unsubscribe::verify(secret, token).ok_or_else(invalid)?;
    let signed = jobs::mail::unsubscribe::sign(secret, email_id, customer_id);
    Ok((email_id, customer_id, signed))
}

/// GET: the confirmation page.
pub async fn confirm(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let signed = match verify(&state, &token).await {
        Ok((_, _, signed)) => signed,
        Err(response) => return response,
    };
    // A freshly signed token: digits, dots and URL-safe base64, nothing to escape.
    page(
        StatusCode::OK,
        "Unsubscribe",
        &format!(
            "<h1>Unsubscribe?</h1>\
             <p>You will no longer receive care emails (greetings and offers) from us.</p>\
             <p>您将不再收到我们的关怀邮件（祝福与优惠）。</p>\
             <form method=\"post\" action=\"/unsubscribe/{}\">\
             <button type=\"submit\">Unsubscribe 退订</button>\
             </form>",
            signed
        ),
    )
}

/// POST: unsubscribes at once (the rules are `jobs::customers::unsubscribe`).
pub async fn unsubscribe(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let (email_id, customer_id) = match verify(&state, &token).await {
        Ok((email_id, customer_id, _)) => (email_id, customer_id),
        Err(response) => return response,
    };
    use jobs::customers::UnsubscribeOutcome as Outcome;
    match jobs::customers::unsubscribe(&state.db, email_id, customer_id, Utc::now()).await {
        Ok(Outcome::Unsubscribed | Outcome::AlreadyUnsubscribed) => page(
            StatusCode::OK,
            "Unsubscribed",
            "<h1>You are unsubscribed</h1>\
             <p>You will not receive care emails from us any more.</p>\
             <p>您已成功退订，今后不会再收到我们的关怀邮件。</p>",
        ),
        Ok(Outcome::Stale { consented_at }) => page(
            StatusCode::OK,
            "Link out of date",
            &format!(
                "<h1>This link is out of date</h1>\
                 <p>You agreed to hear from us again on {day}, after this email was sent, so \
                 this link changes nothing. To unsubscribe, use the link in a newer email.</p>\
                 <p>您在此邮件发出之后（{day}）重新同意接收我们的邮件，此链接已失效。\
                 如需退订，请使用较新邮件中的链接。</p>",
                day = consented_at.format("%Y-%m-%d")
            ),
        ),
        Ok(Outcome::Unknown) => invalid(),
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, customer_id, "unsubscribe failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
