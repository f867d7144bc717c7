use std::{collections::BTreeMap, path::Path};

use anyhow::Context;
use entity::EmailKind;
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

/// The languages templates are written in: English, Simplified Chinese (`zh-CN`) and
/// Traditional Chinese (`zh-Hant`). A customer whose locale is none of them gets the first.
pub const LOCALES: [&str; 3] = ["en", "zh-CN", "zh-Hant"];

/// Where customers whose language has no templates land.
pub const DEFAULT_LOCALE: &str = LOCALES[0];

macro_rules! built_in {
    ($($locale:literal: [$($kind:literal),* $(,)?]),* $(,)?) => {
        &[$(
            (concat!($locale, "/layout.html"), include_str!(concat!("../../templates/", $locale, "/layout.html"))),
            (concat!($locale, "/layout.txt"), include_str!(concat!("../../templates/", $locale, "/layout.txt"))),
            $(
                (concat!($locale, "/", $kind, ".subject"), include_str!(concat!("../../templates/", $locale, "/", $kind, ".subject"))),
                (concat!($locale, "/", $kind, ".html"), include_str!(concat!("../../templates/", $locale, "/", $kind, ".html"))),
                (concat!($locale, "/", $kind, ".txt"), include_str!(concat!("../../templates/", $locale, "/", $kind, ".txt"))),
            )*
        )*]
    };
}

/// Every built-in template, compiled into the binary so a fresh install sends without
/// any files beside it: per locale the layout (`<locale>/layout.html`, `.txt`: the page
/// and the footer every kind extends) and each kind's subject, HTML and text.
const BUILT_IN: &[(&str, &str)] = built_in![
    "en": ["birthday", "win_back", "welcome", "purchase_anniversary", "holiday", "segment_entry", "survey", "tier_upgrade", "points_expiring", "digest"],
    "zh-CN": ["birthday", "win_back", "welcome", "purchase_anniversary", "holiday", "segment_entry", "survey", "tier_upgrade", "points_expiring", "digest"],
    "zh-Hant": ["birthday", "win_back", "welcome", "purchase_anniversary", "holiday", "segment_entry", "survey", "tier_upgrade", "points_expiring", "digest"],
];

/// A campaign's own templates for one locale; a missing part falls back to the default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A campaign's templates by locale (`en`, `zh-CN`, `zh-Hant`).
pub type CampaignTemplates = BTreeMap<String, TemplateSet>;

/// A rendered email.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// A template that does not parse: which one, the line, and why.
#[derive(Debug, thiserror::Error)]
#[error("{name}: line {line}: {message}")]
pub struct TemplateError {
    pub name: String,
    pub line: usize,
    pub message: String,
}

impl TemplateError {
    fn from_minijinja(name: &str, error: &minijinja::Error) -> Self {
        Self {
            name: name.to_owned(),
            line: error.line().unwrap_or(1),
            message: error
                .detail()
                .map(str::to_owned)
                .unwrap_or_else(|| error.kind().to_string()),
        }
    }
}

/// The default templates (built in, or replaced from a directory) in one environment.
pub struct Templates {
    env: Environment<'static>,
}

/// The template locale for a customer locale (BCP 47): Chinese in Traditional script —
/// `zh-Hant*`, or by region `zh-TW`, `zh-HK`, `zh-MO` — → `zh-Hant`; other Chinese (`zh`,
/// `zh-CN`, `zh-SG`, `zh-Hans-*`) → `zh-CN`; `en-*` → `en`; anything else, or a tag that
/// does not parse, → [`DEFAULT_LOCALE`]. A script named in the tag wins over the region
/// (`zh-Hans-HK` reads Simplified).
pub fn template_locale(customer_locale: &str) -> &'static str {
    // `zh_TW` is a common POSIX-style spelling of `zh-TW`.
    let Ok(tag) = language_tags::LanguageTag::parse(&customer_locale.trim().replace('_', "-"))
    else {
        return DEFAULT_LOCALE;
    };
    let is =
        |subtag: Option<&str>, value: &str| subtag.is_some_and(|s| s.eq_ignore_ascii_case(value));
    let language = tag.primary_language();
    if language.eq_ignore_ascii_case("zh") {
        let traditional = if tag.script().is_some() {
            is(tag.script(), "Hant")
        } else {
            ["TW", "HK", "MO"]
                .iter()
                .any(|region| is(tag.region(), region))
        };
        if traditional { "zh-Hant" } else { "zh-CN" }
    } else if language.eq_ignore_ascii_case("en") {
        "en"
    } else {
        DEFAULT_LOCALE
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A missing variable may be tested with `if`, but printing one is an error: the
    // email fails with the reason instead of going out with a hole in it.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    // Escape HTML parts only (names end in `.html`); subjects and text go out as written.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env
}

impl Templates {
    /// The built-in templates, each replaced by `<dir>/<locale>/<kind>.<part>` (or
    /// `<dir>/<locale>/layout.html`, `.txt`) when that file exists; a replaced layout is the
    /// page and footer of every kind in its locale that extends it. A file that does not
    /// parse is an error naming it and the line.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut env = environment();
        for (name, source) in BUILT_IN {
            env.add_template(name, source)
                .map_err(|e| TemplateError::from_minijinja(name, &e))
                .context("a built-in template does not parse")?;
        }
        if let Some(dir) = dir {
            for (name, _) in BUILT_IN {
                let path = dir.join(name);
                if !path.exists() {
                    continue;
                }
                let source = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read template {}", path.display()))?;
                env.add_template_owned(name.to_string(), source)
                    .map_err(|e| TemplateError::from_minijinja(&path.display().to_string(), &e))
                    .context("a template in the templates directory does not parse")?;
            }
        }
        Ok(Self { env })
    }

    /// Checks a campaign's templates: each part must parse. The error names the locale,
    /// the part and the line.
    pub fn check(templates: &CampaignTemplates) -> Result<(), TemplateError> {
        let env = environment();
        for (locale, set) in templates {
            // Named as in the API input (`text`, not the file extension `txt`).
            for (part, source) in [
                ("subject", &set.subject),
                ("html", &set.html),
                ("text", &set.text),
            ] {
                if let Some(source) = source {
                    let name = format!("{locale}.{part}");
                    env.template_from_named_str(&name, source)
                        .map_err(|e| TemplateError::from_minijinja(&name, &e))?;
                }
            }
        }
        Ok(())
    }

    /// Renders `kind` in the customer's language: the campaign's own template for that
    /// locale when it has one, else the default. Either may `{% extends "<locale>/layout.html" %}`
    /// (resolved here, so a layout from the templates directory applies to campaigns too).
    /// Fails with the reason when a template does not render for these variables.
    pub fn render(
        &self,
        kind: EmailKind,
        locale: &str,
        overrides: Option<&CampaignTemplates>,
        vars: &serde_json::Value,
    ) -> Result<Rendered, String> {
        let locale = template_locale(locale);
        let own = overrides.and_then(|o| o.get(locale));
        let vars = minijinja::Value::from(minijinja::value::Serde(vars));
        let part = |part: &str, own: Option<&String>| -> Result<String, String> {
            let name = format!("{locale}/{}.{part}", kind.template_name());
            let rendered = match own {
                Some(source) => self.env.render_named_str(&name, source, &vars),
                None => self
                    .env
                    .get_template(&name)
                    .and_then(|template| template.render(&vars)),
            };
            rendered.map_err(|e| format!("template {name} does not render: {e:#}"))
        };
        let subject = part("subject", own.and_then(|o| o.subject.as_ref()))?;
        Ok(Rendered {
            // A subject is one line whatever the template's trailing newline.
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            html: part("html", own.and_then(|o| o.html.as_ref()))?,
            text: part("txt", own.and_then(|o| o.text.as_ref()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn customer_vars() -> serde_json::Value {
        json!({
            "name": "Ada <b>",
            "store_name": "Shop",
            "unsubscribe_url": "http://x/unsubscribe/t",
            "offer_code": "BACK-1234",
            "offer_expires_on": "2026-12-01",
            "holiday_name": "Christmas",
            "segment_name": "VIP",
            "tier_name": "Gold <1>",
            "tier_benefits": "Free delivery & early access",
            "tier_discount_percent": "7.5",
            "points_expiring": 120,
            "points_expire_by": "2027-01-05",
            "years": 2,
            "first_order_on": "2024-11-23",
            "score_links": (0..=10)
                .map(|score| json!({ "score": score, "url": format!("http://x/survey/{score}.t") }))
                .collect::<Vec<_>>(),
        })
    }

    #[test]
    fn customer_locales_fall_back_to_the_nearest_template_locale() {
        for (customer, template) in [
            ("zh-TW", "zh-Hant"),
            ("zh-HK", "zh-Hant"),
            ("zh-MO", "zh-Hant"),
            ("zh-Hant", "zh-Hant"),
            ("zh-Hant-TW", "zh-Hant"),
            ("zh-Hant-CN", "zh-Hant"),
            ("zh-hant-hk", "zh-Hant"),
            ("zh_TW", "zh-Hant"),
            ("zh", "zh-CN"),
            ("zh-CN", "zh-CN"),
            ("zh-SG", "zh-CN"),
            ("zh-Hans", "zh-CN"),
            ("zh-Hans-CN", "zh-CN"),
            // The script says how it is written, wherever the customer lives.
            ("zh-Hans-HK", "zh-CN"),
            ("en", "en"),
            ("en-GB", "en"),
            ("en-US", "en"),
            ("fr-FR", "en"),
            ("ja", "en"),
            // Not Chinese, though it starts with the letters.
            ("zu", "en"),
            ("", "en"),
            ("not a tag", "en"),
        ] {
            assert_eq!(template_locale(customer), template, "{customer}");
        }
    }

    #[test]
    fn every_kind_renders_in_traditional_chinese_for_taiwan_and_hong_kong() {
        let templates = Templates::load(None).unwrap();
        let mut vars = customer_vars();
        vars["holiday_name"] = json!("聖誕節");
        for kind in EmailKind::CAMPAIGN_KINDS {
            for locale in ["zh-TW", "zh-HK", "zh-Hant"] {
                let r = templates.render(kind, locale, None, &vars).unwrap();
                assert!(r.html.contains("lang=\"zh-Hant\""), "{kind:?} {locale}");
                for part in [&r.subject, &r.html, &r.text] {
                    // Characters that exist only in Simplified Chinese must not appear.
                    assert!(
                        !part
                            .chars()
                            .any(|c| "们这邮订优码亲爱乐为欢谢礼节见时".contains(c)),
                        "{kind:?}: {part}"
                    );
                }
                assert!(r.text.contains("取消訂閱"), "{kind:?}: {}", r.text);
            }
        }
        let zh = templates
            .render(EmailKind::WinBack, "zh-TW", None, &customer_vars())
            .unwrap();
        assert!(zh.subject.contains("好久不見") && zh.html.contains("BACK-1234"));
        // The digest too, for marketers who read Traditional Chinese.
        let digest = templates
            .env
            .get_template("zh-Hant/digest.subject")
            .unwrap();
        assert!(
            digest
                .render(
                    minijinja::context! { store_name => "店", week_start => "a", week_end => "b" }
                )
                .unwrap()
                .contains("每週報告")
        );
    }

    #[test]
    fn every_built_in_kind_renders_in_every_locale() {
        let templates = Templates::load(None).unwrap();
        for kind in EmailKind::CAMPAIGN_KINDS {
            for locale in LOCALES {
                let r = templates
                    .render(kind, locale, None, &customer_vars())
                    .unwrap();
                assert!(!r.subject.is_empty() && !r.subject.contains('\n'));
                assert!(
                    r.text.contains("http://x/unsubscribe/t"),
                    "{kind:?} {locale}"
                );
                assert!(
                    r.html.contains("Ada &lt;b&gt;"),
                    "html is escaped: {kind:?}"
                );
                assert!(!r.text.contains("&lt;"), "text is not escaped");
            }
        }
        let zh = templates
            .render(EmailKind::WinBack, "zh-Hans-CN", None, &customer_vars())
            .unwrap();
        assert!(zh.html.contains("lang=\"zh-CN\"") && zh.html.contains("BACK-1234"));
    }

    #[test]
    fn a_missing_variable_fails_the_render_with_the_template_name() {
        let templates = Templates::load(None).unwrap();
        let error = templates
            .render(EmailKind::WinBack, "en", None, &json!({"name": "x"}))
            .unwrap_err();
        assert!(error.contains("en/win_back"), "{error}");
    }

    #[test]
    fn campaign_templates_are_checked_with_the_line() {
        let mut own = CampaignTemplates::new();
        own.insert(
            "en".into(),
            TemplateSet {
                html: Some("<p>ok</p>\n<p>{% if name %}</p>\n".into()),
                ..Default::default()
            },
        );
        let error = Templates::check(&own).unwrap_err();
        assert_eq!(error.name, "en.html");
        assert!(error.line >= 2, "{error}");
        own.insert(
            "en".into(),
            TemplateSet {
                subject: Some("Hi {{ name }}".into()),
                ..Default::default()
            },
        );
        Templates::check(&own).unwrap();
        let templates = Templates::load(None).unwrap();
        let r = templates
            .render(EmailKind::Birthday, "en-GB", Some(&own), &customer_vars())
            .unwrap();
        assert_eq!(r.subject, "Hi Ada <b>");
        // The other parts and other locales keep the defaults.
        assert!(r.html.contains("Ada &lt;b&gt;"));
    }

    #[test]
    fn a_templates_directory_replaces_built_ins_and_refuses_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        std::fs::write(dir.path().join("en/birthday.subject"), "Cheers {{ name }}").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let r = templates
            .render(EmailKind::Birthday, "en", None, &customer_vars())
            .unwrap();
        assert_eq!(r.subject, "Cheers Ada <b>");
        std::fs::write(dir.path().join("en/welcome.html"), "a\n{% for x in %}").unwrap();
        let error = format!("{:#}", Templates::load(Some(dir.path())).err().unwrap());
        assert!(
            error.contains("welcome.html") && error.contains("line 2"),
            "{error}"
        );
    }

    #[test]
    fn survey_emails_show_all_eleven_score_links_in_html_and_text() {
        let templates = Templates::load(None).unwrap();
        for locale in LOCALES {
            let r = templates
                .render(EmailKind::Survey, locale, None, &customer_vars())
                .unwrap();
            for score in 0..=10 {
                // In HTML as a link reading the score (minijinja escapes `/`); in text
                // as the URL itself after the score.
                let href = format!("href=\"http:&#x2f;&#x2f;x&#x2f;survey&#x2f;{score}.t\"");
                assert_eq!(
                    r.html.matches(&href).count(),
                    1,
                    "{locale} {score}: {}",
                    r.html
                );
                let anchor_text = format!(">{score}</a>");
                assert!(r.html.contains(&anchor_text), "{locale} {score}");
                let url = format!("http://x/survey/{score}.t");
                assert_eq!(
                    r.text.matches(&url).count(),
                    1,
                    "{locale} {score}: {}",
                    r.text
                );
                assert!(
                    r.text.contains(&format!("\n{score}: {url}"))
                        || r.text.contains(&format!("\n{score}：{url}")),
                    "{locale} {score}: {}",
                    r.text
                );
            }
            assert_eq!(r.html.matches("&#x2f;survey&#x2f;").count(), 11, "{locale}");
            assert_eq!(r.text.matches("/survey/").count(), 11, "{locale}");
        }
        // Without links the email fails rather than going out without a way to answer.
        let mut vars = customer_vars();
        vars.as_object_mut().unwrap().remove("score_links");
        assert!(
            templates
                .render(EmailKind::Survey, "en", None, &vars)
                .is_err()
        );
    }

    #[test]
    fn loyalty_emails_name_the_tier_and_the_points_in_every_locale() {
        let templates = Templates::load(None).unwrap();
        for locale in LOCALES {
            let r = templates
                .render(EmailKind::TierUpgrade, locale, None, &customer_vars())
                .unwrap();
            assert!(r.subject.contains("Gold <1>"), "{locale}: {}", r.subject);
            assert!(r.html.contains("Gold &lt;1&gt;"), "{locale}");
            for part in [&r.html, &r.text] {
                assert!(part.contains("7.5%"), "{locale}: {part}");
            }
            assert!(r.html.contains("Free delivery &amp; early access"));
            assert!(r.text.contains("Free delivery & early access"));
            let r = templates
                .render(EmailKind::PointsExpiring, locale, None, &customer_vars())
                .unwrap();
            for part in [&r.subject, &r.html, &r.text] {
                assert!(
                    part.contains("120") && part.contains("2027-01-05"),
                    "{locale}: {part}"
                );
            }
        }
        // A tier without benefits text or discount says neither.
        let mut vars = customer_vars();
        vars["tier_benefits"] = json!("");
        vars["tier_discount_percent"] = json!("0");
        for locale in LOCALES {
            let r = templates
                .render(EmailKind::TierUpgrade, locale, None, &vars)
                .unwrap();
            for part in [&r.html, &r.text] {
                for absent in ["0% off", "享 0%", "brings you", "会员权益", "會員權益"] {
                    assert!(!part.contains(absent), "{locale}: {part}");
                }
            }
        }
    }

    /// The word the HTML footer links with, per locale.
    const UNSUBSCRIBE: [(&str, &str); 3] = [
        ("en", "Unsubscribe"),
        ("zh-CN", "退订"),
        ("zh-Hant", "取消訂閱"),
    ];

    /// `customer_vars()["unsubscribe_url"]` as it appears in HTML (minijinja escapes `/`).
    const UNSUBSCRIBE_URL_IN_HTML: &str = "http:&#x2f;&#x2f;x&#x2f;unsubscribe&#x2f;t";

    /// The footer as the locale's layout renders it on its own: the row after the (empty)
    /// content cell, up to the end of the card.
    fn layout_footer(templates: &Templates, locale: &str) -> String {
        let page = templates
            .env
            .get_template(&format!("{locale}/layout.html"))
            .unwrap()
            .render(minijinja::Value::from(minijinja::value::Serde(
                customer_vars(),
            )))
            .unwrap();
        let (_, after_content) = page.split_once("</td></tr>\n").unwrap();
        let (footer, _) = after_content.split_once("</table>").unwrap();
        assert!(footer.contains("<a "), "{locale}: {footer}");
        footer.to_owned()
    }

    /// What the digest job passes, with nothing to report.
    fn digest_vars() -> serde_json::Value {
        json!({
            "store_name": "Shop",
            "week_start": "2026-11-16",
            "week_end": "2026-11-22",
            "summary": {"customers": 3, "new": 1, "active": 1, "silent": 1, "churned": 0,
                        "reactivated": 0, "revenue": "76.50", "average_clv": null, "nps": null},
            "movements": [], "at_risk": [], "value_at_risk": "0.00", "segments": [],
            "campaigns": [], "charts": [],
        })
    }

    #[test]
    fn the_footer_is_written_once_in_each_locales_layout() {
        // No kind carries a footer of its own: each extends its locale's layout.
        for (name, source) in BUILT_IN {
            let (locale, file) = name.split_once('/').unwrap();
            if file.starts_with("layout.") || file.ends_with(".subject") {
                continue;
            }
            let extension = file.rsplit_once('.').unwrap().1;
            assert!(
                source.starts_with(&format!("{{% extends \"{locale}/layout.{extension}\" %}}")),
                "{name}"
            );
            assert!(
                !source.contains("unsubscribe_url"),
                "{name} has its own footer"
            );
        }
        let templates = Templates::load(None).unwrap();
        for (locale, word) in UNSUBSCRIBE {
            let footer = layout_footer(&templates, locale);
            // A link reading the localized word, pointing at the URL, which is not shown.
            assert!(
                footer.contains(&format!("href=\"{UNSUBSCRIBE_URL_IN_HTML}\""))
                    && footer.contains(&format!(">{word}</a>")),
                "{locale}: {footer}"
            );
            for kind in EmailKind::CAMPAIGN_KINDS {
                let r = templates
                    .render(kind, locale, None, &customer_vars())
                    .unwrap();
                assert!(r.html.contains(&footer), "{kind:?} {locale}: {}", r.html);
                assert_eq!(
                    r.html.matches(UNSUBSCRIBE_URL_IN_HTML).count(),
                    1,
                    "the URL is only the link's target: {kind:?} {locale}"
                );
                // Plain text has no links: there the URL itself is the way out.
                assert!(
                    r.text.ends_with(&format!("{word}: http://x/unsubscribe/t"))
                        || r.text.ends_with(&format!("{word}：http://x/unsubscribe/t")),
                    "{kind:?} {locale}: {}",
                    r.text
                );
            }
        }
    }

    #[test]
    fn the_digest_for_marketers_has_no_customer_footer() {
        let templates = Templates::load(None).unwrap();
        for locale in LOCALES {
            // There is no `unsubscribe_url` to give: a footer printing it would fail here.
            let r = templates
                .render(EmailKind::Digest, locale, None, &digest_vars())
                .unwrap();
            assert!(r.html.contains(&format!("lang=\"{locale}\"")), "{locale}");
            assert!(
                r.html.contains("76.50") && r.text.contains("76.50"),
                "{locale}"
            );
            assert!(
                !r.html.contains("<a ") && !r.text.contains("\n--\n"),
                "{locale}"
            );
        }
    }

    #[test]
    fn a_layout_in_the_templates_directory_changes_the_footer_of_every_email_of_its_locale() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        std::fs::write(
            dir.path().join("en/layout.html"),
            "<html>{% block content %}{% endblock %}{% block footer %}\
             <footer>Had enough? <a href=\"{{ unsubscribe_url }}\">Leave</a></footer>\
             {% endblock %}</html>",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("en/layout.txt"),
            "{% block content %}{% endblock %}{% block footer %}\n\nHad enough? {{ unsubscribe_url }}{% endblock %}",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        for kind in EmailKind::CAMPAIGN_KINDS {
            let r = templates
                .render(kind, "en", None, &customer_vars())
                .unwrap();
            assert!(
                r.html.contains("Ada &lt;b&gt;")
                    && r.html.ends_with(&format!(
                        "<footer>Had enough? <a href=\"{UNSUBSCRIBE_URL_IN_HTML}\">Leave</a></footer></html>"
                    )),
                "{kind:?}: {}",
                r.html
            );
            assert!(!r.html.contains(">Unsubscribe</a>"), "{kind:?}");
            assert!(
                r.text.ends_with("\n\nHad enough? http://x/unsubscribe/t"),
                "{kind:?}"
            );
        }
        // The digest, which has no `unsubscribe_url`, empties the replaced layout's footer too.
        let digest = templates
            .render(EmailKind::Digest, "en", None, &digest_vars())
            .unwrap();
        assert!(digest.html.starts_with("<html>") && !digest.html.contains("<footer>"));
        // Other locales keep their own layout.
        let zh = templates
            .render(EmailKind::Birthday, "zh-CN", None, &customer_vars())
            .unwrap();
        assert!(zh.html.contains(&layout_footer(&templates, "zh-CN")));
        // A layout that does not parse is refused like any other template.
        std::fs::create_dir_all(dir.path().join("zh-Hant")).unwrap();
        std::fs::write(
            dir.path().join("zh-Hant/layout.html"),
            "{% block content %}",
        )
        .unwrap();
        let error = format!("{:#}", Templates::load(Some(dir.path())).err().unwrap());
        assert!(error.contains("zh-Hant/layout.html"), "{error}");
    }

    #[test]
    fn a_campaigns_own_template_can_extend_the_layout_and_keeps_the_footer() {
        let mut own = CampaignTemplates::new();
        own.insert(
            "en".into(),
            TemplateSet {
                html: Some(
                    "{% extends \"en/layout.html\" %}\n\
                     {% block title %}A gift{% endblock %}\n\
                     {% block content %}<p>{{ name }}, 20% off this week.</p>{% endblock %}\n"
                        .into(),
                ),
                text: Some(
                    "{% extends \"en/layout.txt\" %}\n\
                     {% block content %}{{ name }}, 20% off this week.{% endblock %}\n"
                        .into(),
                ),
                ..Default::default()
            },
        );
        Templates::check(&own).unwrap();
        let templates = Templates::load(None).unwrap();
        let r = templates
            .render(EmailKind::Birthday, "en", Some(&own), &customer_vars())
            .unwrap();
        assert!(
            r.html.contains("<title>A gift</title>")
                && r.html.contains("<p>Ada &lt;b&gt;, 20% off this week.</p>")
                && r.html.contains(&layout_footer(&templates, "en")),
            "{}",
            r.html
        );
        assert_eq!(
            r.text,
            "Ada <b>, 20% off this week.\n\n--\n\
             You receive this because you agreed to hear from Shop. Unsubscribe: http://x/unsubscribe/t"
        );
    }
}
