//! The resident judge: one long-lived `airlock resident-judge` process per `$AIRLOCK_HOME` (and environment)
//! that answers hook calls over a Unix socket with the engine and the store already loaded, so an `airlock
//! hook` process only forwards its input and prints the answer. Starting the engine and opening SQLite in
//! every hook process is most of a hook call's cost (page faults of a fresh process, the store's schema check);
//! forwarding is a process start and one round trip.
//!
//! How it fits together:
//! - `airlock hook AGENT` connects to `$AIRLOCK_HOME/run/judge-KEY.sock` (KEY: a digest of the environment
//!   that decides where airlock's files are and how snapshots run, see [`ENV_VARS`]), checks that the process
//!   on the other end is this very binary run by this user (`SO_PEERCRED`, then `/proc/PID/exe` is the same
//!   file as `/proc/self/exe`), sends the agent name, its environment digest and the input, and prints the
//!   answer it gets. No judge, or one it does not trust: it decides in its own process as before and then
//!   starts a judge (detached, its own session, no inherited stdio) for the calls after it.
//! - The judge decides with exactly the code an `airlock hook` process runs (`hook::handle_resident`), reads
//!   `airlock.toml` on every call, re-reads `policy.cedar` on every call and rebuilds the engine when its text
//!   changed, and reopens the database when the file was replaced, moved or had its mode changed. It serves one
//!   environment: a client whose environment differs gets "mismatch" and decides itself.
//! - It exits after [`IDLE_EXIT`] without calls ([`FIRST_CALL_WAIT`] if it never had one), when its socket
//!   is removed or replaced, when its home is gone, or when its binary was replaced (an upgrade); only one runs
//!   per socket (a lock file).
//!
//! Never fail open: a judge that cannot be reached, is not trusted or answers "mismatch" means the hook
//! decides in-process. A judge that took the call and then says nothing within [`ANSWER_TIMEOUT`] means deny
//! (it may have recorded the call; deciding again could record it twice, and the agent's own hook timeout
//! must not be reached, since agents run the tool when a hook times out). `AIRLOCK_RESIDENT_JUDGE=off`
//! decides in every hook process and starts no judge; `=require` denies when no trusted judge answers (for
//! setups that want to be sure the resident path is used).

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use airlock_engine::Engine;
use airlock_store::{OpenOptions, Store};
use serde::{Deserialize, Serialize};

use super::{Agent, Answer};
use crate::command::home;

/// The environment variable that turns the resident judge off (`off`) or makes it mandatory (`require`).
pub const MODE_ENV: &str = "AIRLOCK_RESIDENT_JUDGE";

/// The environment a judge must share with its clients: where airlock's home and database are, the user's
/// home (snapshots refuse to touch it), and what git and its helpers the snapshot planner would run.
pub const ENV_VARS: [&str; 7] = [
    "AIRLOCK_HOME",
    "HOME",
    airlock_store::config::DATABASE_URL_ENV,
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "PATH",
];

/// A judge without calls for this long exits.
pub const IDLE_EXIT: Duration = Duration::from_secs(600);

/// A judge that has had no call at all this long after it started exits (its home was probably removed just as
/// it started, e.g. a test's temporary home).
pub const FIRST_CALL_WAIT: Duration = Duration::from_secs(30);

/// How often a judge checks that it should still be running.
const HEALTH_TICK: Duration = Duration::from_secs(2);

/// How long a hook waits for the judge's answer once it has sent the call.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(25);

/// Most bytes of a call's header.
const MAX_HEADER: usize = 1024 * 1024;

/// Most bytes of an answer (a call holding many requests lists every approval id and reason).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// How a hook process uses the resident judge (`AIRLOCK_RESIDENT_JUDGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Decide in-process; start no judge.
    Off,
    /// Use a trusted judge when one answers; otherwise decide in-process and start one.
    Auto,
    /// Use a trusted judge; deny when none answers.
    Require,
}

/// The mode from the environment: `off`/`0`/`false`, `require`, anything else is [`Mode::Auto`].
pub fn mode() -> Mode {
    match std::env::var(MODE_ENV).as_deref().map(str::trim) {
        Ok("off" | "0" | "false" | "no") => Mode::Off,
        Ok("require" | "required") => Mode::Require,
        _ => Mode::Auto,
    }
}

/// What asking the judge gave.
#[derive(Debug)]
pub enum Reply {
    /// The judge answered.
    Answered(Answer),
    /// No judge could be used: the hook decides itself. `start` when none is running (so one should be started).
    Unavailable {
        /// Why, for `require` mode's message.
        why: String,
        /// Whether to start a judge.
        start: bool,
    },
    /// The judge took the call and failed to answer: deny.
    Failed(String),
}

/// The call as sent to the judge (then the raw input follows as its own frame).
#[derive(Debug, Serialize, Deserialize)]
struct CallHeader {
    agent: String,
    env: String,
}

/// The judge's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum AnswerFrame {
    Answer {
        stdout: String,
        stderr: String,
        code: i32,
    },
    Mismatch,
}

/// This process's values of [`ENV_VARS`], as one string (hex of the raw bytes, so nothing is lost).
fn env_fingerprint() -> String {
    let mut out = String::new();
    for name in ENV_VARS {
        out.push_str(name);
        match std::env::var_os(name) {
            Some(value) => {
                out.push('=');
                out.push_str(&hex::encode(value.as_encoded_bytes()));
            }
            None => out.push('-'),
        }
        out.push(';');
    }
    out
}

/// The files of the judge for `home` and the environment `fingerprint`.
struct Paths {
    run: PathBuf,
    socket: PathBuf,
    lock: PathBuf,
}

impl Paths {
    fn new(home: &Path, fingerprint: &str) -> Self {
        let key = airlock_store::canonical::sha256_hex(fingerprint.as_bytes());
        let key = key.get(..16).unwrap_or(&key);
        let run = home.join("run");
        Paths {
            socket: run.join(format!("judge-{key}.sock")),
            lock: run.join(format!("judge-{key}.lock")),
            run,
        }
    }
}

/// Asks the resident judge to decide `input` for `agent`.
pub fn ask(agent: Agent, input: &[u8]) -> Reply {
    let fingerprint = env_fingerprint();
    let paths = Paths::new(&home::airlock_home(), &fingerprint);
    let mut stream = match UnixStream::connect(&paths.socket) {
        Ok(stream) => stream,
        Err(err) => {
            let start = matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            );
            return Reply::Unavailable {
                why: format!(
                    "no resident judge answers at `{}`: {err}",
                    paths.socket.display()
                ),
                start,
            };
        }
    };
    if let Err(why) = trusted_peer(&stream) {
        return Reply::Unavailable { why, start: false };
    }
    let header = CallHeader {
        agent: agent.name().to_string(),
        env: fingerprint,
    };
    let sent = serde_json::to_vec(&header)
        .map_err(std::io::Error::other)
        .and_then(|header| {
            stream.set_write_timeout(Some(ANSWER_TIMEOUT))?;
            stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
            write_frame(&mut stream, &header)?;
            write_frame(&mut stream, input)?;
            stream.flush()
        });
    if let Err(err) = sent {
        return Reply::Unavailable {
            why: format!("the resident judge did not take the call: {err}"),
            start: false,
        };
    }
    match read_frame(&mut stream, MAX_ANSWER) {
        Ok(Some(frame)) => match serde_json::from_slice::<AnswerFrame>(&frame) {
            Ok(AnswerFrame::Answer {
                stdout,
                stderr,
                code,
            }) => Reply::Answered(Answer {
                stdout,
                stderr,
                code,
            }),
            Ok(AnswerFrame::Mismatch) => Reply::Unavailable {
                why: "the resident judge serves another environment".into(),
                start: false,
            },
            Err(err) => Reply::Failed(format!("the resident judge's answer is malformed: {err}")),
        },
        // Closed before answering (it crashed or was stopped): nothing was decided there, so decide here.
        Ok(None) => Reply::Unavailable {
            why: "the resident judge closed the connection without answering".into(),
            start: false,
        },
        Err(err) => Reply::Failed(format!("the resident judge did not answer: {err}")),
    }
}

/// Whether the process listening on `stream` is this binary, run by this user.
fn trusted_peer(stream: &UnixStream) -> Result<(), String> {
    let cred = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|err| format!("cannot tell who runs the resident judge: {err}"))?;
    if cred.uid != rustix::process::geteuid() {
        return Err("the resident judge's socket belongs to another user".into());
    }
    let peer = std::fs::metadata(format!("/proc/{}/exe", cred.pid.as_raw_nonzero()));
    let own = std::fs::metadata("/proc/self/exe");
    match (peer, own) {
        (Ok(peer), Ok(own)) if peer.dev() == own.dev() && peer.ino() == own.ino() => Ok(()),
        (Ok(_), Ok(_)) => {
            Err("the process on the resident judge's socket is not this airlock binary".into())
        }
        _ => Err("cannot tell which program runs the resident judge".into()),
    }
}

/// One line on the resident judge for this environment, for `airlock doctor`.
pub fn status() -> String {
    if mode() == Mode::Off {
        return format!(
            "resident judge: off ({MODE_ENV}=off): every hook call decides in its own process"
        );
    }
    let paths = Paths::new(&home::airlock_home(), &env_fingerprint());
    match UnixStream::connect(&paths.socket) {
        Err(_) => "resident judge: not running; the next hook call starts one (until then hook calls decide in their own process, which is slower)".into(),
        Ok(stream) => match trusted_peer(&stream) {
            Ok(()) => format!("resident judge: running at {}", paths.socket.display()),
            Err(why) => format!("resident judge: NOT used: {why} (hook calls decide in their own process)"),
        },
    }
}

/// Starts a resident judge for this environment, detached; best effort (the hook has answered already).
pub fn start() {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let _ = std::process::Command::new(exe)
        .arg("resident-judge")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

fn write_frame(out: &mut impl std::io::Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)
}

/// One frame; `None` when the stream ends before one starts.
fn read_frame(input: &mut impl std::io::Read, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(std::io::Error::other(format!(
            "a frame of {len} bytes is larger than {max}"
        )));
    }
    let mut frame = vec![0u8; len];
    input.read_exact(&mut frame)?;
    Ok(Some(frame))
}

// ---------------------------------------------------------------------------------------------------------
// The judge.

/// `airlock resident-judge`: serves hook calls for this environment until idle, replaced or orphaned. Exit 0
/// when another judge already serves this socket.
pub fn serve() -> i32 {
    // Its own session: the agent's terminal closing or its process group being killed does not take it along.
    let _ = rustix::process::setsid();
    let fingerprint = env_fingerprint();
    let home = home::airlock_home();
    let paths = Paths::new(&home, &fingerprint);
    match serve_at(&paths, fingerprint) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("airlock resident-judge: {err}");
            1
        }
    }
}

fn serve_at(paths: &Paths, fingerprint: String) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    // Only inside a home that exists: a judge started just as its home was removed must not create it again.
    match std::fs::DirBuilder::new().mode(0o700).create(&paths.run) {
        Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => return Err(err),
        _ => {}
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&paths.lock)?;
    if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        return Ok(());
    }
    // Holding the lock: a socket file left at the path is a dead judge's.
    match std::fs::remove_file(&paths.socket) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let listener = std::os::unix::net::UnixListener::bind(&paths.socket)?;
    std::fs::set_permissions(&paths.socket, std::fs::Permissions::from_mode(0o600))?;
    let bound = std::fs::symlink_metadata(&paths.socket)?.ino();
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("resident-judge")
        .enable_all()
        .build()?;
    let judge = Arc::new(Resident {
        fingerprint,
        started: Instant::now(),
        last_call_ms: AtomicU64::new(0),
        engine: std::sync::Mutex::new(None),
        store: tokio::sync::Mutex::new(None),
    });
    let socket = paths.socket.clone();
    runtime.block_on(async move {
        let listener = tokio::net::UnixListener::from_std(listener)?;
        let mut tick = tokio::time::interval(HEALTH_TICK);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        let judge = judge.clone();
                        tokio::spawn(async move { judge.serve_call(stream).await });
                    }
                }
                _ = tick.tick() => {
                    // The reason is for readers of `why_stop`: the judge has no stderr to print it to.
                    if judge.why_stop(&socket, bound).is_some() {
                        break;
                    }
                }
            }
        }
        if std::fs::symlink_metadata(&socket).is_ok_and(|m| m.ino() == bound) {
            let _ = std::fs::remove_file(&socket);
        }
        Ok::<(), std::io::Error>(())
    })?;
    drop(lock);
    // The calls in flight are abandoned with the process; their clients see the connection close and decide
    // themselves.
    std::process::exit(0)
}

/// Key of the cached store: the database URL and, for an SQLite file, which file it is and its access rights.
type StoreKey = (String, Option<(u64, u64, u32, u32, u32)>);

pub struct Resident {
    fingerprint: String,
    started: Instant,
    last_call_ms: AtomicU64,
    /// The engine and the policy text it was built from (`None`: no user policy file).
    engine: std::sync::Mutex<Option<(Option<String>, Arc<Engine>)>>,
    store: tokio::sync::Mutex<Option<(StoreKey, Store)>>,
}

impl Resident {
    fn why_stop(&self, socket: &Path, bound: u64) -> Option<&'static str> {
        let now_ms = self.started.elapsed().as_millis() as u64;
        let last_call_ms = self.last_call_ms.load(Ordering::Relaxed);
        let idle = Duration::from_millis(now_ms.saturating_sub(last_call_ms));
        if idle >= IDLE_EXIT || (last_call_ms == 0 && idle >= FIRST_CALL_WAIT) {
            return Some("idle");
        }
        if !std::fs::symlink_metadata(socket).is_ok_and(|m| m.ino() == bound) {
            return Some("its socket was removed or replaced");
        }
        if std::fs::read_link("/proc/self/exe")
            .is_ok_and(|exe| exe.to_string_lossy().ends_with(" (deleted)"))
        {
            return Some("its binary was replaced");
        }
        None
    }

    async fn serve_call(self: Arc<Self>, stream: tokio::net::UnixStream) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = stream;
        async fn frame(stream: &mut tokio::net::UnixStream, max: usize) -> Option<Vec<u8>> {
            let len = stream.read_u32().await.ok()? as usize;
            if len > max {
                return None;
            }
            let mut frame = vec![0u8; len];
            stream.read_exact(&mut frame).await.ok()?;
            Some(frame)
        }
        let Some(header) = frame(&mut stream, MAX_HEADER).await else {
            return;
        };
        let Ok(header) = serde_json::from_slice::<CallHeader>(&header) else {
            return;
        };
        let Some(input) = frame(&mut stream, super::MAX_INPUT_BYTES as usize + 1).await else {
            return;
        };
        self.last_call_ms.store(
            (self.started.elapsed().as_millis() as u64).max(1),
            Ordering::Relaxed,
        );
        let reply = match Agent::from_name(&header.agent) {
            Some(agent) if header.env == self.fingerprint => {
                let answer = super::handle_resident(agent, &input, &self).await;
                AnswerFrame::Answer {
                    stdout: answer.stdout,
                    stderr: answer.stderr,
                    code: answer.code,
                }
            }
            _ => AnswerFrame::Mismatch,
        };
        let Ok(bytes) = serde_json::to_vec(&reply) else {
            return;
        };
        let Ok(len) = u32::try_from(bytes.len()) else {
            return;
        };
        let _ = stream.write_all(&len.to_be_bytes()).await;
        let _ = stream.write_all(&bytes).await;
        let _ = stream.flush().await;
    }

    /// The engine for the policy file as it is now; rebuilt when its text changed.
    pub fn engine(&self) -> Result<Arc<Engine>, String> {
        let path = home::user_policy_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            // Whatever is wrong, the in-process loader says it the same way.
            Err(_) => {
                return home::load_engine(None)
                    .map(Arc::new)
                    .map_err(|e| format!("{e:#}"));
            }
        };
        if let Ok(cached) = self.engine.lock()
            && let Some((cached_text, engine)) = cached.as_ref()
            && *cached_text == text
        {
            return Ok(engine.clone());
        }
        let policy = text.as_deref().map(|text| (path.as_path(), text));
        let engine = Arc::new(home::engine_with_policy(policy).map_err(|e| format!("{e:#}"))?);
        if let Ok(mut cached) = self.engine.lock() {
            *cached = Some((text, engine.clone()));
        }
        Ok(engine)
    }

    /// The store for the database as it is now; reopened when the URL changed or the SQLite file was replaced,
    /// moved, or had its mode or owner (or its directory's mode) changed.
    pub async fn store(&self) -> Result<Store, String> {
        let url = home::database_url().map_err(|e| format!("{e:#}"))?;
        let file = match airlock_store::db::Location::parse(&url) {
            Ok(airlock_store::db::Location::Sqlite(path)) => {
                let meta = std::fs::metadata(&path);
                let dir = std::fs::metadata(path.parent().unwrap_or(Path::new(".")));
                match (meta, dir) {
                    (Ok(meta), Ok(dir)) if meta.is_file() => Some(Some((
                        meta.dev(),
                        meta.ino(),
                        meta.mode(),
                        meta.uid(),
                        dir.mode(),
                    ))),
                    // Not there yet (the open creates it) or not a file (the open reports it): not cached.
                    _ => None,
                }
            }
            _ => Some(None),
        };
        let mut cached = self.store.lock().await;
        if let (Some(file), Some(((cached_url, cached_file), store))) = (file, cached.as_ref())
            && *cached_url == url
            && *cached_file == file
        {
            return Ok(store.clone());
        }
        if let Some((_, old)) = cached.take() {
            tokio::spawn(async move { old.close().await });
        }
        let options = OpenOptions {
            max_connections: 4,
            connect_timeout: Duration::from_secs(10),
        };
        let store = Store::open_with(&url, &options)
            .await
            .map_err(|e| e.to_string())?
            .with_group_commit();
        if let Some(file) = file {
            *cached = Some(((url, file), store.clone()));
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_refuse_oversize() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").unwrap();
        write_frame(&mut buf, b"").unwrap();
        let mut input = buf.as_slice();
        assert_eq!(read_frame(&mut input, 5).unwrap().unwrap(), b"hello");
        assert_eq!(read_frame(&mut input, 5).unwrap().unwrap(), b"");
        assert!(read_frame(&mut input, 5).unwrap().is_none());
        let big = 6u32.to_be_bytes();
        assert!(read_frame(&mut big.as_slice(), 5).is_err());
    }

    #[test]
    fn socket_key_depends_on_the_environment_fingerprint() {
        let a = Paths::new(Path::new("/h"), "HOME=61;");
        let b = Paths::new(Path::new("/h"), "HOME=62;");
        assert_ne!(a.socket, b.socket);
        assert_eq!(a.run, Path::new("/h/run"));
        assert!(a.socket.to_string_lossy().ends_with(".sock"));
    }
}
