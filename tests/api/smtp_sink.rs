//! A small but real SMTP server for tests: it accepts plain SMTP (no TLS, no AUTH) on
//! `127.0.0.1`, records every delivered message, and can be told to refuse recipients or
//! to go away (`stop`) and come back on the same port (`restart`).
//!
//! The server runs on a runtime of its own (one background thread), not on the runtime
//! of the test that started it, so it works the same under `#[tokio::test]`'s default
//! current-thread flavour and under the multi-thread one, keeps serving while a test
//! blocks its own runtime, and may be shared between tests. It shuts down, closing every
//! socket, when the last clone of its `SmtpSink` is dropped.
//!
//! Protocol: greeting `220 sink ESMTP`; `EHLO` (advertises `8BITMIME`, `SMTPUTF8`,
//! `PIPELINING`), `HELO`, `MAIL FROM:<..> [params]`, `RCPT TO:<..> [params]`, `DATA`
//! (dot-unstuffed; ends at a line that is exactly `.`), `RSET`, `NOOP`, `QUIT`; anything
//! else gets `500`. Commands out of order get `503`, `DATA` without an accepted recipient
//! gets `554`. A message is recorded when `DATA` completes and is answered `250 queued`.
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// One message as the sink received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The reverse path of `MAIL FROM:<..>`, without the angle brackets (`""` for `<>`).
    pub mail_from: String,
    /// The accepted recipients, in order, without the angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message after dot-unstuffing, up to and including the CRLF that precedes the
    /// terminating `.` line (which is not included).
    pub data: Vec<u8>,
}

/// A running (or stopped) SMTP sink. Clones share the same server and message store.
#[derive(Clone)]
pub struct SmtpSink {
    inner: Arc<Inner>,
}

struct Inner {
    port: u16,
    shared: Arc<Shared>,
    /// The sink's own runtime, driven by a background thread.
    runtime: Handle,
    /// The accept loop, while listening. An async mutex so `stop` and `restart` serialise.
    server: tokio::sync::Mutex<Option<Server>>,
    /// Dropping this (with the last `SmtpSink` clone) ends the runtime thread, which
    /// drops the listener and every connection.
    _runtime_keepalive: oneshot::Sender<()>,
}

/// What connection tasks see: never the `Inner`, so they don't keep the runtime alive.
#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    /// Lower-cased address -> (code, text).
    rejections: Mutex<HashMap<String, (u16, String)>>,
    /// How long the sink waits before answering each `RCPT TO` (a slow relay).
    rcpt_delay: Mutex<Duration>,
}

struct Server {
    shutdown: oneshot::Sender<()>,
    accept_loop: JoinHandle<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SmtpSink {
    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn start() -> SmtpSink {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("smtp sink: build its runtime");
        let handle = runtime.handle().clone();
        let (keepalive, keepalive_dropped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("smtp-sink".to_owned())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = keepalive_dropped.await;
                });
                // Dropping `runtime` here cancels the accept loop and all connections.
            })
            .expect("smtp sink: spawn its runtime thread");

        let listener = bind(&handle, 0).expect("smtp sink: bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("smtp sink: local address of its listener")
            .port();
        let shared = Arc::new(Shared::default());
        let server = serve(&handle, listener, Arc::clone(&shared));
        SmtpSink {
            inner: Arc::new(Inner {
                port,
                shared,
                runtime: handle,
                server: tokio::sync::Mutex::new(Some(server)),
                _runtime_keepalive: keepalive,
            }),
        }
    }

    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// `smtp://127.0.0.1:{port}`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.inner.port)
    }

    /// Closes the listener and drops every open connection (clients see the connection
    /// closed; new connections are refused). Returns once all sockets are closed.
    /// Recorded messages are kept. Does nothing if already stopped.
    pub async fn stop(&self) {
        let mut server = self.inner.server.lock().await;
        if let Some(Server {
            shutdown,
            accept_loop,
        }) = server.take()
        {
            let _ = shutdown.send(());
            let _ = accept_loop.await;
        }
    }

    /// Listens again on the same port, retrying the bind for about 2 s (panics if the port
    /// stays taken). Does nothing if already listening.
    pub async fn restart(&self) {
        let mut server = self.inner.server.lock().await;
        if server.is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let listener = loop {
            match bind(&self.inner.runtime, self.inner.port) {
                Ok(listener) => break listener,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!(
                    "smtp sink: could not listen again on 127.0.0.1:{}: {error}",
                    self.inner.port
                ),
            }
        };
        *server = Some(serve(
            &self.inner.runtime,
            listener,
            Arc::clone(&self.inner.shared),
        ));
    }

    /// Every message recorded so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        lock(&self.inner.shared.messages).clone()
    }

    /// From now on, `RCPT TO` for `address` (compared case-insensitively, angle brackets
    /// optional) is answered `{code} {text}` and the recipient is not added. Use a 5xx code
    /// for a permanent failure, 4xx for a transient one. A later call for the same address
    /// replaces the earlier one.
    /// Waits `delay` before answering each `RCPT TO` from now on.
    pub fn delay_recipients(&self, delay: Duration) {
        *lock(&self.inner.shared.rcpt_delay) = delay;
    }

    pub fn reject_recipient(&self, address: &str, code: u16, text: &str) {
        lock(&self.inner.shared.rejections).insert(normalise(address), (code, text.to_owned()));
    }

    /// Polls until at least `count` messages are recorded or `timeout` has passed, and
    /// returns what is recorded then (possibly fewer than `count`).
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count || Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSink")
            .field("port", &self.inner.port)
            .field("messages", &lock(&self.inner.shared.messages).len())
            .finish_non_exhaustive()
    }
}

/// Binds on the sink's runtime (the listener's I/O is registered with it).
fn bind(runtime: &Handle, port: u16) -> io::Result<TcpListener> {
    let _entered = runtime.enter();
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    socket.listen(1024)
}

fn serve(runtime: &Handle, listener: TcpListener, shared: Arc<Shared>) -> Server {
    let (shutdown, mut shutdown_requested) = oneshot::channel::<()>();
    let accept_loop = runtime.spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                // A stop request, or the `Server` dropped.
                _ = &mut shutdown_requested => break,
                accepted = listener.accept() => {
                    match accepted {
                        Ok((stream, _peer)) => {
                            connections.spawn(session(stream, Arc::clone(&shared)));
                        }
                        // E.g. out of file descriptors: don't spin.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                // Reap finished sessions so the set doesn't grow without bound.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        // Aborts every session and waits until each one (and its socket) is dropped.
        connections.shutdown().await;
    });
    Server {
        shutdown,
        accept_loop,
    }
}

/// `<Foo@Example.com>` / ` foo@example.com ` -> `foo@example.com`
fn normalise(address: &str) -> String {
    let address = address.trim();
    let address = address
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(address);
    address.to_lowercase()
}

/// `FROM:<a@b> BODY=8BITMIME` (after the verb) with `prefix` = `FROM:` -> `a@b`.
/// `None` if the syntax is wrong.
fn parse_path(argument: &str, prefix: &str) -> Option<String> {
    let head = argument.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = argument[prefix.len()..].trim_start();
    if let Some(rest) = rest.strip_prefix('<') {
        let end = rest.find('>')?;
        Some(rest[..end].to_owned())
    } else {
        // Lenient: a bare address without brackets.
        let address = rest.split_whitespace().next()?;
        Some(address.to_owned())
    }
}

/// A line without its line ending (CRLF or a bare LF).
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

const EHLO_REPLY: &[u8] = b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n";

/// Reads one line, with its line ending, into `line`. `false` at end of input (a final
/// line without a line ending counts as end of input).
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> io::Result<bool> {
    line.clear();
    Ok(reader.read_until(b'\n', line).await? > 0 && line.ends_with(b"\n"))
}

/// The message text after `354`, up to the line that is exactly `.`, dot-unstuffed.
/// `None` if the client went away before that line.
async fn read_data<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    while read_line(reader, &mut line).await? {
        if strip_eol(&line) == b"." {
            return Ok(Some(data));
        }
        // Dot-unstuffing (RFC 5321 4.5.2): drop a leading '.'.
        data.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line[..]));
    }
    Ok(None)
}

/// One SMTP session. Any I/O error ends it (the socket is then dropped).
async fn session(mut stream: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.split();
    // Pipelined commands simply wait in this buffer and are answered in order.
    let mut reader = BufReader::new(reader);
    writer.write_all(b"220 sink ESMTP\r\n").await?;

    let mut greeted = false;
    // The current transaction: `MAIL FROM` and the accepted `RCPT TO`s.
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    while read_line(&mut reader, &mut line).await? {
        let command = String::from_utf8_lossy(strip_eol(&line)).into_owned();
        let (verb, argument) = match command.split_once(' ') {
            Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.trim()),
            None => (command.to_ascii_uppercase(), ""),
        };
        let reply: Cow<'static, [u8]> = match verb.as_str() {
            "EHLO" | "HELO" => {
                greeted = true;
                mail_from = None;
                rcpt_to.clear();
                if verb == "EHLO" {
                    EHLO_REPLY
                } else {
                    b"250 sink\r\n"
                }
                .into()
            }
            "MAIL" if !greeted => b"503 Send HELO/EHLO first\r\n".as_slice().into(),
            "MAIL" if mail_from.is_some() => b"503 Nested MAIL command\r\n".as_slice().into(),
            "MAIL" => match parse_path(argument, "FROM:") {
                Some(address) => {
                    mail_from = Some(address);
                    b"250 OK\r\n".as_slice().into()
                }
                None => b"501 Syntax: MAIL FROM:<address>\r\n".as_slice().into(),
            },
            "RCPT" if mail_from.is_none() => b"503 Need MAIL before RCPT\r\n".as_slice().into(),
            "RCPT" => match parse_path(argument, "TO:") {
                Some(address) => {
                    let delay = *lock(&shared.rcpt_delay);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let rejection = lock(&shared.rejections).get(&normalise(&address)).cloned();
                    if let Some((code, text)) = rejection {
                        format!("{code} {text}\r\n").into_bytes().into()
                    } else {
                        rcpt_to.push(address);
                        b"250 OK\r\n".as_slice().into()
                    }
                }
                None => b"501 Syntax: RCPT TO:<address>\r\n".as_slice().into(),
            },
            "DATA" if mail_from.is_none() => b"503 Need MAIL before DATA\r\n".as_slice().into(),
            "DATA" if rcpt_to.is_empty() => b"554 No valid recipients\r\n".as_slice().into(),
            "DATA" => {
                writer
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(data) = read_data(&mut reader).await? else {
                    return Ok(()); // Closed mid-message: nothing is recorded.
                };
                lock(&shared.messages).push(Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                });
                b"250 queued\r\n".as_slice().into()
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                b"250 OK\r\n".as_slice().into()
            }
            "NOOP" => b"250 OK\r\n".as_slice().into(),
            "QUIT" => {
                writer.write_all(b"221 Bye\r\n").await?;
                writer.shutdown().await?;
                return Ok(());
            }
            _ => b"500 Command not recognized\r\n".as_slice().into(),
        };
        writer.write_all(&reply).await?;
    }
    Ok(()) // The client closed the connection.
}
