use anyhow::Context;
use std::path::{Path, PathBuf};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    transport::smtp::{PoolConfig, authentication::Credentials},
};

use secrecy::ExposeSecret;

use super::MailSettings;

/// Where messages go.
pub enum Transport {
    /// A mail server, through a pool of connections kept open between messages.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// No server configured: each message becomes an `.eml` file in this directory
    /// (development, demos), named after its outbox row ([`eml_path`]) so that erasing a
    /// customer can find and delete the files that hold their data.
    File(PathBuf),
}

/// The `.eml` file of outbox row `email_id` in `dir`.
pub fn eml_path(dir: &Path, email_id: i64) -> PathBuf {
    dir.join(format!("email-{email_id}.eml"))
}

/// Why a message did not go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The server refused it for good (a 5xx reply): trying again cannot help.
    Permanent(String),
    /// A 4xx reply, a connection that failed or dropped: try again later.
    Transient(String),
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            SendError::Permanent(m) | SendError::Transient(m) => m,
        }
    }
}

/// The user in `smtp://user@host` (lettre reads user and password from the URL itself;
/// this is for a password given separately).
fn url_user(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let user = userinfo.split(':').next()?;
    (!user.is_empty()).then(|| user.to_owned())
}

impl Transport {
    pub fn from_settings(settings: &MailSettings) -> anyhow::Result<Self> {
        match &settings.smtp_url {
            Some(url) => {
                let url = url.expose_secret();
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .with_context(|| {
                        "SMTP_URL is not `smtp://host:port`, `smtp://host:port?tls=required` \
                         or `smtps://host:port`"
                    })?
                    .pool_config(
                        PoolConfig::new()
                            .max_size(u32::try_from(settings.concurrency).unwrap_or(8)),
                    );
                if let Some(password) = &settings.smtp_password {
                    let user = url_user(url).context(
                        "SMTP_PASSWORD is set but SMTP_URL names no user (smtp://user@host)",
                    )?;
                    builder = builder
                        .credentials(Credentials::new(user, password.expose_secret().to_owned()));
                }
                Ok(Transport::Smtp(builder.build()))
            }
            None => {
                std::fs::create_dir_all(&settings.outbox_dir).with_context(|| {
                    format!(
                        "cannot create the outbox directory {}",
                        settings.outbox_dir.display()
                    )
                })?;
                Ok(Transport::File(settings.outbox_dir.clone()))
            }
        }
    }

    /// Sends one message (outbox row `email_id`); the error says whether trying again
    /// may help.
    pub async fn send(&self, email_id: i64, message: Message) -> Result<(), SendError> {
        match self {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|error| {
                let text = error.to_string();
                if error.is_permanent() {
                    SendError::Permanent(text)
                } else {
                    SendError::Transient(text)
                }
            }),
            Transport::File(dir) => {
                // Written aside and renamed, so a reader never sees half a message.
                let path = eml_path(dir, email_id);
                let partial = path.with_extension("eml.partial");
                let written = async {
                    tokio::fs::write(&partial, message.formatted()).await?;
                    tokio::fs::rename(&partial, &path).await
                };
                written.await.map_err(|error| {
                    SendError::Transient(format!("cannot write the .eml file: {error}"))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_documented_smtp_url_form_builds_and_others_are_refused() {
        let with = |url: &str, password: Option<&str>| {
            Transport::from_settings(&MailSettings {
                smtp_url: Some(url.to_owned().into()),
                smtp_password: password.map(|p| p.to_owned().into()),
                ..Default::default()
            })
        };
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://smtp.example.com:587?tls=required",
            "smtps://smtp.example.com:465",
            "smtp://mailer:secret@smtp.example.com:587?tls=required",
        ] {
            assert!(matches!(with(url, None), Ok(Transport::Smtp(_))), "{url}");
        }
        assert!(with("smtp://mailer@smtp.example.com:587", Some("secret")).is_ok());
        let no_user = with("smtp://smtp.example.com:587", Some("secret"))
            .err()
            .unwrap();
        assert!(
            format!("{no_user:#}").contains("names no user"),
            "{no_user:#}"
        );
        assert!(with("http://smtp.example.com", None).is_err());
        // Without SMTP_URL: files, into a directory made on demand.
        let dir = tempfile::tempdir().unwrap();
        let files = Transport::from_settings(&MailSettings {
            outbox_dir: dir.path().join("outbox"),
            ..Default::default()
        });
        assert!(matches!(files, Ok(Transport::File(_))));
        assert!(dir.path().join("outbox").is_dir());
    }

    #[test]
    fn the_user_is_read_from_the_url() {
        assert_eq!(
            url_user("smtp://mailer@smtp.example.com:587?tls=required").as_deref(),
            Some("mailer")
        );
        assert_eq!(url_user("smtps://a:b@host").as_deref(), Some("a"));
        assert_eq!(url_user("smtp://host:25"), None);
    }
}
