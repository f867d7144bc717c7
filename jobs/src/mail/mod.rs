//! Sending email: the templates, the transports (SMTP or `.eml` files), the outbox
//! dispatcher and the signed unsubscribe links. Producers (`crate::campaigns`) only ever
//! insert outbox rows; everything that talks to a mail server is here.

/// PNG charts embedded in the marketer digest.
pub mod chart;
/// Claims due outbox rows, applies suppression, quiet hours and the frequency cap, sends.
pub mod dispatch;
/// Erasure: wipes a customer from their emails, the digests and the `.eml` files.
pub mod erasure;
/// HMAC-signed link tokens (unsubscribe and survey links) and their secret.
pub mod links;
/// The outbox as people see it: the email list, one customer's emails, retrying one.
pub mod outbox;
/// minijinja templates: built-in, from a directory, or a campaign's own.
pub mod templates;
/// lettre: pooled SMTP from `SMTP_URL`, or `.eml` files when there is none.
pub mod transport;
/// HMAC-signed unsubscribe tokens.
pub mod unsubscribe;

use std::path::PathBuf;

use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;

pub use templates::Templates;
pub use transport::Transport;

/// How email is sent. Addresses and secrets come from the environment
/// (`SMTP_URL`, `SMTP_PASSWORD`, `EMAIL_FROM`, …), tunables from `[email]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct MailSettings {
    /// `smtp://host:port` (plain), `…?tls=required` (STARTTLS), `smtps://host:port` (TLS);
    /// none: write `.eml` files into `outbox_dir`.
    /// Secret: it may carry credentials.
    pub smtp_url: Option<SecretString>,
    /// The SMTP password when it is not in the URL.
    pub smtp_password: Option<SecretString>,
    /// The sender, e.g. `Clientele Care <care@example.com>`.
    pub email_from: String,
    pub outbox_dir: PathBuf,
    /// Base of unsubscribe links, without a trailing slash.
    pub public_url: String,
    /// `store_name` in templates.
    pub store_name: String,
    /// Templates that replace the built-in ones: `<dir>/<locale>/<kind>.{subject,html,txt}`.
    pub templates_dir: Option<PathBuf>,
    /// Attempts before a transiently failing email is marked FAILED.
    pub max_attempts: i32,
    /// The first retry waits this long; each later one twice as long (at most 6 hours).
    pub retry_base_seconds: i64,
    /// How long a dispatcher's claim lasts: after it, a crashed dispatcher's rows are
    /// taken again (the at-least-once window).
    pub claim_seconds: i64,
    /// Rows claimed at a time.
    pub batch_size: u64,
    /// Messages in flight at once, each on its own pooled SMTP connection. Many are
    /// needed: lettre writes a message and its final `.` in two writes, so with Nagle's
    /// algorithm on the client and delayed ACKs on the server each message waits ~40 ms
    /// on Linux; throughput comes from parallel connections (64: ~1,200 emails/s).
    pub concurrency: usize,
    /// At most one care email per customer in this many days (birthdays exempt).
    pub frequency_cap_days: i64,
    /// Quiet hours in the customer's time zone: no care email from `start` to `end`.
    pub quiet_hours_start: u32,
    pub quiet_hours_end: u32,
    /// Where the marketer digest goes (the API can replace the list).
    pub digest_recipients: Vec<String>,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_password: None,
            email_from: "Clientele <care@localhost>".into(),
            outbox_dir: PathBuf::from("outbox"),
            public_url: "http://127.0.0.1:8080".into(),
            store_name: "Clientele".into(),
            templates_dir: None,
            max_attempts: 5,
            retry_base_seconds: 60,
            claim_seconds: 300,
            batch_size: 500,
            concurrency: 64,
            frequency_cap_days: 3,
            quiet_hours_start: 21,
            quiet_hours_end: 8,
            digest_recipients: Vec::new(),
        }
    }
}

impl MailSettings {
    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.email_from.parse::<lettre::message::Mailbox>().is_ok(),
            "EMAIL_FROM `{}` is not an address (e.g. `Shop <care@example.com>`)",
            self.email_from
        );
        anyhow::ensure!(
            self.max_attempts >= 1,
            "email.max_attempts must be at least 1"
        );
        anyhow::ensure!(self.batch_size >= 1, "email.batch_size must be at least 1");
        anyhow::ensure!(
            self.concurrency >= 1,
            "email.concurrency must be at least 1"
        );
        anyhow::ensure!(
            self.retry_base_seconds >= 1 && self.claim_seconds >= 1,
            "email.retry_base_seconds and email.claim_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.frequency_cap_days >= 0,
            "email.frequency_cap_days cannot be negative"
        );
        anyhow::ensure!(
            self.quiet_hours_start < 24 && self.quiet_hours_end < 24,
            "email quiet hours are hours of the day (0–23)"
        );
        for address in &self.digest_recipients {
            crate::customers::EmailAddress::parse(address)
                .map_err(|message| anyhow::anyhow!("DIGEST_RECIPIENTS: `{address}` {message}"))?;
        }
        Ok(())
    }
}

/// A count with thousands separators ("12,345"): marketers read the digest at a
/// glance, and long digit runs are easy to misread.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An image shown inside an HTML email: its content id and PNG bytes.
pub type InlineImage = (String, Vec<u8>);

/// Everything the dispatcher and the unsubscribe page need, built once per process.
pub struct Mailer {
    pub settings: MailSettings,
    /// `EMAIL_FROM`, parsed once (validated at start-up).
    pub from: lettre::message::Mailbox,
    pub transport: Transport,
    pub templates: Templates,
    secret: tokio::sync::OnceCell<Vec<u8>>,
}

impl Mailer {
    /// Builds the transport and loads the templates; a template directory with a broken
    /// template stops start-up with the file and line.
    pub fn new(settings: MailSettings) -> anyhow::Result<Self> {
        settings.validate()?;
        let from = settings
            .email_from
            .parse()
            .with_context(|| format!("EMAIL_FROM `{}` is not an address", settings.email_from))?;
        let transport = Transport::from_settings(&settings)?;
        let templates = Templates::load(settings.templates_dir.as_deref())?;
        Ok(Self {
            settings,
            from,
            transport,
            templates,
            secret: tokio::sync::OnceCell::new(),
        })
    }

    /// The server secret that signs the links in emails (unsubscribe, survey scores): made
    /// once, kept in the database so that every process (and every restart) signs and
    /// checks the same way.
    pub async fn secret(&self, db: &sea_orm::DatabaseConnection) -> anyhow::Result<&[u8]> {
        self.secret
            .get_or_try_init(|| links::load_or_create_secret(db))
            .await
            .map(Vec::as_slice)
    }
}
