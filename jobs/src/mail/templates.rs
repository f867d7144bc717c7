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
    ($($locale:literal / $kind:literal),* $(,)?) => {
        &[$(
            (concat!($locale, "/", $kind, ".subject"), include_str!(concat!("../../templates/", $locale, "/", $kind, ".subject"))),
            (concat!($locale, "/", $kind, ".html"), include_str!(concat!("../../templates/", $locale, "/", $kind, ".html"))),
            (concat!($locale, "/", $kind, ".txt"), include_str!(concat!("../../templates/", $locale, "/", $kind, ".txt"))),
        )*]
    };
}

/// Every built-in template, compiled into the binary so a fresh install sends without
/// any files beside it.
const BUILT_IN: &[(&str, &str)] = built_in![
    "en" / "birthday",
    "en" / "win_back",
    "en" / "welcome",
    "en" / "purchase_anniversary",
    "en" / "holiday",
    "en" / "segment_entry",
    "en" / "digest",
    "zh-CN" / "birthday",
    "zh-CN" / "win_back",
    "zh-CN" / "welcome",
    "zh-CN" / "purchase_anniversary",
    "zh-CN" / "holiday",
    "zh-CN" / "segment_entry",
    "zh-CN" / "digest",
    "zh-Hant" / "birthday",
    "zh-Hant" / "win_back",
    "zh-Hant" / "welcome",
    "zh-Hant" / "purchase_anniversary",
    "zh-Hant" / "holiday",
    "zh-Hant" / "segment_entry",
    "zh-Hant" / "digest",
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
    /// The built-in templates, each replaced by `<dir>/<locale>/<kind>.<part>` when that
    /// file exists. A file that does not parse is an error naming it and the line.
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
    /// locale when it has one, else the default. Fails with the reason when a template
    /// does not render for these variables.
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
            "years": 2,
            "first_order_on": "2024-11-23",
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
}
