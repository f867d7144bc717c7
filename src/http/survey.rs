//! `/survey/{token}`: the score links of survey emails. A click (GET: the link is the
//! answer, one click) records the score as the email's answer — a second link of the same
//! email changes it — and shows a thank-you page in the customer's language with an
//! optional comment form; the form posts to `/survey/comment` with the signed link in
//! it, which is all the proof needed (no login, no cookie: a page elsewhere cannot post
//! for someone without their link). A tampered or made-up link gets a 400 page and
//! records nothing. The rules are `jobs::surveys`'.

use actix_web::{HttpResponse, error::InternalError, http::StatusCode, web};
use chrono::Utc;
use jobs::surveys::{self, Answered, COMMENT_CHARS, Outcome, ScoreLink};
use serde::Deserialize;

use super::{
    AppState,
    page::{escape, page},
};

/// Largest comment form accepted: the longest comment in four-byte characters,
/// percent-encoded, and the token (a longer body gets the "too long" page).
const FORM_BYTES: usize = 64 * 1024;

/// What the pages say, in one language.
struct Texts {
    lang: &'static str,
    thanks_title: &'static str,
    thanks: &'static str,
    /// `{store}` and `{score}` are filled in.
    scored: &'static str,
    changed: &'static str,
    another: &'static str,
    label: &'static str,
    /// `{max}` is filled in.
    hint: &'static str,
    send: &'static str,
    saved: &'static str,
    empty: &'static str,
    /// `{chars}` and `{max}` are filled in.
    too_long: &'static str,
}

const EN: Texts = Texts {
    lang: "en",
    thanks_title: "Thank you",
    thanks: "Thank you for your feedback!",
    scored: "You gave {store} a <strong>{score}</strong> out of 10.",
    changed: "We changed your answer to <strong>{score}</strong> out of 10.",
    another: "Clicked the wrong number? Click another one in the email: we keep your latest answer.",
    label: "Anything you would like to tell us? (optional)",
    hint: "At most {max} characters.",
    send: "Send comment",
    saved: "Your comment was saved. Thank you!",
    empty: "Please write your comment before sending it.",
    too_long: "Your comment has {chars} characters; at most {max} fit. It was not saved: please shorten it.",
};

const ZH_CN: Texts = Texts {
    lang: "zh-CN",
    thanks_title: "谢谢您",
    thanks: "感谢您的反馈！",
    scored: "您给 {store} 打了 <strong>{score}</strong> 分（满分 10 分）。",
    changed: "您的评分已改为 <strong>{score}</strong> 分（满分 10 分）。",
    another: "点错了分数？在邮件中再点另一个分数即可，我们以最后一次为准。",
    label: "还有什么想告诉我们的吗？（选填）",
    hint: "最多 {max} 个字。",
    send: "提交意见",
    saved: "您的意见已保存，谢谢！",
    empty: "请先写下您的意见再提交。",
    too_long: "您的意见共 {chars} 个字，最多只能 {max} 个字，尚未保存，请删减后再提交。",
};

const ZH_HANT: Texts = Texts {
    lang: "zh-Hant",
    thanks_title: "感謝您",
    thanks: "感謝您的回饋！",
    scored: "您給 {store} 打了 <strong>{score}</strong> 分（滿分 10 分）。",
    changed: "您的評分已改為 <strong>{score}</strong> 分（滿分 10 分）。",
    another: "點錯了分數？在郵件中再點另一個分數即可，我們以最後一次為準。",
    label: "還有什麼想告訴我們的嗎？（選填）",
    hint: "最多 {max} 個字。",
    send: "送出意見",
    saved: "您的意見已儲存，感謝！",
    empty: "請先寫下您的意見再送出。",
    too_long: "您的意見共 {chars} 個字，最多只能 {max} 個字，尚未儲存，請刪減後再送出。",
};

/// The texts for a customer's locale (the emails' choice: `jobs::mail::templates`).
fn texts(locale: &str) -> &'static Texts {
    match jobs::mail::templates::template_locale(locale) {
        "zh-CN" => &ZH_CN,
        "zh-Hant" => &ZH_HANT,
        _ => &EN,
    }
}

/// For links that name no one who can answer: both languages, like the unsubscribe page.
fn invalid() -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "en",
        "Invalid link",
        "<h1>This survey link is not valid</h1>\
         <p>Please use the link from the email exactly as it was sent. Nothing was recorded.</p>\
         <p>此问卷链接无效，请使用邮件中的原始链接。您的评分未被记录。</p>",
    )
}

fn closed() -> HttpResponse {
    page(
        StatusCode::GONE,
        "en",
        "Survey closed",
        "<h1>This survey is closed</h1><p>Nothing was recorded.</p>\
         <p>此问卷已关闭，您的评分未被记录。</p>",
    )
}

fn failed(error: &anyhow::Error, link: ScoreLink) -> HttpResponse {
    tracing::error!(
        error.cause_chain = ?error,
        customer_id = link.customer_id,
        email_id = link.email_id,
        "a survey answer failed"
    );
    HttpResponse::InternalServerError().finish()
}

/// The link of a genuine token and the token as signed (the form posts back that one,
/// never what came in).
async fn verify(state: &AppState, token: &str) -> Result<(ScoreLink, String), HttpResponse> {
    let secret = state.mail.secret(&state.db).await.map_err(|error| {
        tracing::error!(error.cause_chain = ?error, "cannot read the link secret");
        HttpResponse::InternalServerError().finish()
    })?;
    let link = ScoreLink::verify(secret, token).ok_or_else(invalid)?;
    Ok((link, link.sign(secret)))
}

/// What the page says above the form.
enum Notice<'a> {
    /// Just clicked: the score, recorded or changed.
    Clicked,
    /// The comment was stored.
    Saved,
    /// The comment was refused (the message); the form keeps what was written.
    Refused { message: String, text: &'a str },
}

/// The thank-you page: the score as it stands, and the comment form (with the answer's
/// comment, or what was just written).
fn thank_you(
    store: &str,
    token: &str,
    texts: &Texts,
    answer: Option<&Answered>,
    notice: Notice<'_>,
) -> HttpResponse {
    let mut body = format!("<h1>{}</h1>", texts.thanks);
    if let Some(answer) = answer {
        let line = if answer.changed && matches!(notice, Notice::Clicked) {
            texts.changed
        } else {
            texts.scored
        };
        body.push_str(&format!(
            "<p id=\"score\">{}</p><p class=\"hint\">{}</p>",
            line.replace("{store}", &escape(store))
                .replace("{score}", &answer.score.to_string()),
            texts.another
        ));
    }
    let (status, text) = match &notice {
        Notice::Clicked => (
            StatusCode::OK,
            answer.and_then(|a| a.comment.as_deref()).unwrap_or(""),
        ),
        Notice::Saved => {
            body.push_str(&format!(
                "<p id=\"notice\" class=\"notice\" role=\"status\">{}</p>",
                texts.saved
            ));
            (
                StatusCode::OK,
                answer.and_then(|a| a.comment.as_deref()).unwrap_or(""),
            )
        }
        Notice::Refused { message, text } => {
            body.push_str(&format!(
                "<p id=\"notice\" class=\"error\" role=\"alert\">{}</p>",
                escape(message)
            ));
            (StatusCode::BAD_REQUEST, *text)
        }
    };
    // The token is freshly signed: digits, dots and URL-safe base64, nothing to escape.
    body.push_str(&format!(
        "<form method=\"post\" action=\"/survey/comment\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label for=\"comment\">{label}</label>\
         <textarea id=\"comment\" name=\"comment\" rows=\"6\" maxlength=\"{max}\">{text}</textarea>\
         <p class=\"hint\">{hint}</p>\
         <button type=\"submit\">{send}</button></form>",
        label = texts.label,
        max = COMMENT_CHARS,
        text = escape(text),
        hint = texts.hint.replace("{max}", &COMMENT_CHARS.to_string()),
        send = texts.send,
    ));
    page(status, texts.lang, texts.thanks_title, &body)
}

/// GET: the click. Records (or changes) the email's answer, then thanks.
pub async fn answer(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let (link, signed) = match verify(&state, &token).await {
        Ok(verified) => verified,
        Err(response) => return response,
    };
    match surveys::answer(&state.db, link, Utc::now()).await {
        Ok(Outcome::Answered(answer)) => thank_you(
            &state.mail.settings.store_name,
            &signed,
            texts(&answer.locale),
            Some(&answer),
            Notice::Clicked,
        ),
        Ok(Outcome::Unknown) => invalid(),
        Ok(Outcome::Closed) => closed(),
        Err(error) => failed(&error, link),
    }
}

#[derive(Deserialize)]
pub struct CommentForm {
    token: String,
    #[serde(default)]
    comment: String,
}

/// The comment form's body: bounded, and a body too large or not a form gets a page
/// saying so rather than a bare error.
pub fn comment_form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(FORM_BYTES)
        .error_handler(|error, _| {
            let response = match &error {
                actix_web::error::UrlencodedError::Overflow { .. } => page(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "en",
                    "Comment too long",
                    &format!(
                        "<h1>Your comment is too long</h1>\
                         <p>At most {COMMENT_CHARS} characters fit. It was not saved: please \
                         go back, shorten it and send it again.</p>\
                         <p>您的意见太长，最多只能 {COMMENT_CHARS} 个字，尚未保存。请返回删减后再提交。</p>"
                    ),
                ),
                _ => invalid(),
            };
            InternalError::from_response(error, response).into()
        })
}

/// POST: the comment form. Stores the comment on the email's answer.
pub async fn comment(state: web::Data<AppState>, form: web::Form<CommentForm>) -> HttpResponse {
    let (link, signed) = match verify(&state, &form.token).await {
        Ok(verified) => verified,
        Err(response) => return response,
    };
    let store = &state.mail.settings.store_name;
    match surveys::comment(&state.db, link, &form.comment, Utc::now()).await {
        Ok(Outcome::Answered(answer)) => thank_you(
            store,
            &signed,
            texts(&answer.locale),
            Some(&answer),
            Notice::Saved,
        ),
        Ok(Outcome::Unknown) => invalid(),
        Ok(Outcome::Closed) => closed(),
        Err(jobs::DomainError::Invalid(_)) => {
            let locale = match surveys::locale_of(&state.db, link).await {
                Ok(Some(locale)) => locale,
                Ok(None) => return invalid(),
                Err(error) => return failed(&error, link),
            };
            let texts = texts(&locale);
            let chars = form.comment.trim().chars().count();
            let message = if chars == 0 {
                texts.empty.to_owned()
            } else {
                texts
                    .too_long
                    .replace("{chars}", &chars.to_string())
                    .replace("{max}", &COMMENT_CHARS.to_string())
            };
            thank_you(
                store,
                &signed,
                texts,
                None,
                Notice::Refused {
                    message,
                    text: &form.comment,
                },
            )
        }
        Err(jobs::DomainError::NotFound(_)) => invalid(),
        Err(jobs::DomainError::Internal(error)) => failed(&error, link),
    }
}
