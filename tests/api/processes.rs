//! Real `clientele` processes on a test's database: `serve --no-scheduler` servers on
//! ports of their own and `worker`s, all reading one configuration file. A process can
//! be killed with SIGKILL on purpose (nothing of it runs on: no clean-up, no last
//! write); every one still running is killed when dropped. Each writes its log to a file
//! of its own, printed when the test fails, since that is where a lost tick shows.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where the processes of one test come from: the database, the configuration file
/// (written once, read by all) and the environment they share.
pub struct Fleet {
    dir: tempfile::TempDir,
    database_url: String,
    env: Vec<(String, String)>,
}

/// One running `clientele` process.
pub struct Process {
    pub name: String,
    child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:PORT` for a server.
    pub address: Option<String>,
    /// When it was killed on purpose, if it was.
    pub killed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Fleet {
    /// Processes on `database_url` reading `config` (TOML) as their `CLIENTELE_CONFIG`,
    /// with `env` set on top (e.g. schedules).
    pub fn new(database_url: &str, config: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clientele.toml"), config).unwrap();
        Self {
            dir,
            database_url: database_url.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn command(&self, name: &str, args: &[&str]) -> (Command, PathBuf) {
        let log = self.dir.path().join(format!("{name}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_clientele"));
        command
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("CLIENTELE_CONFIG", self.dir.path().join("clientele.toml"))
            // The default filter: every job run's start and end, warnings, errors.
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        (command, log)
    }

    /// Starts `clientele worker`.
    pub fn worker(&self, name: &str) -> Process {
        let (mut command, log) = self.command(name, &["worker"]);
        let child = command.stdout(Stdio::null()).spawn().unwrap();
        Process {
            name: name.to_owned(),
            child,
            log,
            address: None,
            killed_at: None,
        }
    }

    /// Starts `clientele serve --no-scheduler` on a free port and waits until it says
    /// where it listens (it prints the GraphiQL address once serving).
    pub async fn server(&self, name: &str) -> Process {
        let (mut command, log) = self.command(name, &["serve", "--no-scheduler"]);
        let mut child = command
            .env("BIND_ADDR", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (found, address) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            // Read to the end, so that the server never writes into a closed pipe.
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.strip_prefix("GraphiQL: ")
                    && let Some(found) = found.take()
                {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(url.trim_end_matches("/graphql").to_owned());
                }
            }
        });
        let mut process = Process {
            name: name.to_owned(),
            child,
            log,
            address: None,
            killed_at: None,
        };
        match tokio::time::timeout(Duration::from_secs(30), address).await {
            Ok(Ok(address)) => process.address = Some(address),
            _ => panic!(
                "{name} did not start serving within 30 s; its log:\n{}",
                process.log()
            ),
        }
        process
    }
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then waits until it is gone: it records nothing more.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.killed_at = Some(chrono::Utc::now());
    }

    /// Whether it is still running (it has not exited on its own).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.killed_at.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- log of {} (last 60 lines) ----", self.name);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}
