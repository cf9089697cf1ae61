//! The stdio proxy: starts the MCP server as a child process and sits on both pipes. Messages from the
//! client are read in order; each `tools/call` is judged by the [`Gate`] before anything is forwarded
//! (allow ⇒ forwarded, deny ⇒ answered with an error result, ask ⇒ held in its own task while everything
//! else keeps flowing), every other message is forwarded as the exact text received, in order. Messages
//! from the server are passed back as received (a `tools/list` result may lose the tools the policy
//! denies outright, with `--hide-denied-tools`).
//!
//! The proxy keeps a table of the client's requests in flight (being judged, held, or forwarded and not
//! yet answered): a second request with an id still in flight is refused, a `notifications/cancelled` for
//! a held call drops it, and when the server stops or misbehaves every request in flight gets an error
//! answer before the proxy exits, so the client never waits on an answer that cannot come.

use std::collections::HashMap;
use std::ffi::OsString;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use airlock_engine::{Context, Decision, Envelope};
use airlock_store::links::ApprovalPage;
use airlock_store::{Approval, ApprovalState, Gate, Settled};
use rmcp::model::{CallToolRequestParams, RequestId};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::ProxyError;
use crate::frame::{Frame, MAX_LINE_BYTES, MessageReader, MessageWriter, RawMessage};
use crate::inbound::{ClientMessage, Refusal, ServerMessage, TOOLS_LIST};
use crate::{reply, tools_list};

/// How long an `ask` is held for a person by default before the call is answered with the approval id.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(30);
/// The longest hold accepted.
pub const MAX_HOLD: Duration = Duration::from_secs(3600);
/// The agent name recorded when the client did not say who it is in `initialize`.
pub const DEFAULT_AGENT: &str = "mcp-client";
/// How long the server may take to exit once its stdin is closed before it is killed.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Messages waiting to be written on one pipe.
const PIPE_QUEUE: usize = 64;

/// What to run and how to judge it.
#[derive(Debug, Clone)]
pub struct WrapOptions {
    /// The server's name in policy and audit (`--name`).
    pub server_name: String,
    /// The server's program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// How long an `ask` is held waiting for a person (at most [`MAX_HOLD`]).
    pub hold: Duration,
    /// Take the tools the policy denies on their name alone out of `tools/list` results.
    pub hide_denied_tools: bool,
    /// Where a person approves a held call (`public_url` or the admin listener, from `airlock.toml`).
    pub approval_page: ApprovalPage,
    /// The working directory recorded with each call (an approval covers the identical call from it).
    pub cwd: Option<String>,
    /// How long the server may take to exit once its stdin is closed.
    pub shutdown_grace: Duration,
}

impl WrapOptions {
    /// Options for running `program args…` as the server called `server_name`, with the defaults.
    pub fn new(server_name: impl Into<String>, program: OsString, args: Vec<OsString>) -> Self {
        Self {
            server_name: server_name.into(),
            program,
            args,
            hold: DEFAULT_HOLD,
            hide_denied_tools: false,
            approval_page: ApprovalPage::default(),
            cwd: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    fn command_line(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A session that ended because the client closed the connection.
#[derive(Debug)]
pub struct Ended {
    /// How the server exited (`None` when that could not be learned).
    pub server_status: Option<ExitStatus>,
}

/// Runs the server described by `options` and proxies between it and the client on `client_in` /
/// `client_out` until the client closes the connection (`Ok`) or the server stops (`Err`, after every
/// request in flight was answered with an error).
pub async fn wrap<R, W>(
    gate: Gate,
    options: WrapOptions,
    client_in: R,
    client_out: W,
) -> Result<Ended, ProxyError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut options = options;
    options.hold = options.hold.min(MAX_HOLD);
    let mut child = Command::new(&options.program)
        .args(&options.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|reason| ProxyError::Spawn {
            command: options.command_line(),
            reason,
        })?;
    let (Some(server_in), Some(server_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(ProxyError::Spawn {
            command: options.command_line(),
            reason: std::io::Error::other("its stdin and stdout could not be attached"),
        });
    };

    let (to_client, client_queue) = mpsc::channel(PIPE_QUEUE);
    let (to_server, server_queue) = mpsc::channel(PIPE_QUEUE);
    let client_writer = tokio::spawn(write_loop(MessageWriter::new(client_out), client_queue));
    let server_writer = tokio::spawn(write_loop(MessageWriter::new(server_in), server_queue));
    let shared = Arc::new(Shared {
        gate,
        options,
        to_client,
        to_server,
        table: Mutex::new(Table::default()),
        holds: Mutex::new(Vec::new()),
    });
    let mut client_task = tokio::spawn(client_loop(shared.clone(), MessageReader::new(client_in)));
    let mut server_task = tokio::spawn(server_loop(shared.clone(), MessageReader::new(server_out)));

    tokio::select! {
        end = &mut client_task => {
            let end = end.unwrap_or(ClientEnd::Closed);
            let server_status = shutdown_after_client(&shared, &mut child, server_task).await;
            finish_writers(&shared, client_writer, server_writer).await;
            match end {
                ClientEnd::Closed => Ok(Ended { server_status }),
                ClientEnd::Failed(error) => Err(ProxyError::ClientRead(error)),
            }
        }
        end = &mut server_task => {
            client_task.abort();
            let end = end.unwrap_or(ServerEnd::Closed);
            let status = stop_server(&mut child, &end).await;
            let what = describe_stop(&end, status);
            let answers = shared.fail_all(&format!(
                "airlock: the MCP server `{}` {what} before answering this request",
                shared.options.server_name
            ));
            let in_flight = answers.len();
            // Queued behind the server's last output; a client that stopped reading does not keep us here.
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                for answer in answers {
                    shared.reply(answer).await;
                }
            })
            .await;
            finish_writers(&shared, client_writer, server_writer).await;
            Err(ProxyError::ServerStopped {
                name: shared.options.server_name.clone(),
                what,
                in_flight,
            })
        }
    }
}

/// The client closed its side: held calls are dropped, the server's stdin is closed, and the server gets
/// [`WrapOptions::shutdown_grace`] to exit (then it is killed). What it still writes reaches the client.
async fn shutdown_after_client(
    shared: &Shared,
    child: &mut Child,
    server_task: JoinHandle<ServerEnd>,
) -> Option<ExitStatus> {
    shared.cancel_holds();
    let grace = shared.options.shutdown_grace;
    // A server that does not read its stdin any more cannot block the close.
    let _ = tokio::time::timeout(grace, shared.to_server.send(Outgoing::Close)).await;
    let status = match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => {
            let _ = child.start_kill();
            child.wait().await.ok()
        }
    };
    let mut server_task = server_task;
    if tokio::time::timeout(Duration::from_secs(1), &mut server_task)
        .await
        .is_err()
    {
        server_task.abort();
    }
    status
}

/// Makes sure the server is gone after its output ended: a server that closed its stdout gets a moment to
/// exit on its own; one that sent an overlong message or cannot be read is killed at once.
async fn stop_server(child: &mut Child, end: &ServerEnd) -> Option<ExitStatus> {
    let patience = match end {
        ServerEnd::Closed => Duration::from_secs(2),
        ServerEnd::TooLong | ServerEnd::Failed(_) => Duration::ZERO,
    };
    if let Ok(Ok(status)) = tokio::time::timeout(patience, child.wait()).await {
        return Some(status);
    }
    let _ = child.start_kill();
    child.wait().await.ok()
}

fn describe_stop(end: &ServerEnd, status: Option<ExitStatus>) -> String {
    let status = status.map_or_else(|| "unknown status".to_string(), |s| s.to_string());
    match end {
        ServerEnd::Closed => format!("exited ({status})"),
        ServerEnd::TooLong => format!(
            "sent a message longer than {} MiB, so airlock stopped it ({status})",
            MAX_LINE_BYTES / (1024 * 1024)
        ),
        ServerEnd::Failed(error) => {
            format!("could not be read ({error}), so airlock stopped it ({status})")
        }
    }
}

/// Lets both writers write what is queued, then closes them (bounded: a client that stopped reading does
/// not keep the proxy alive).
async fn finish_writers(
    shared: &Shared,
    client_writer: JoinHandle<()>,
    server_writer: JoinHandle<()>,
) {
    // Held calls were told to stop; let them write their audit entries (bounded).
    let holds: Vec<JoinHandle<()>> = std::mem::take(
        &mut *shared
            .holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        for hold in holds {
            let _ = hold.await;
        }
    })
    .await;
    let _ = shared.to_server.try_send(Outgoing::Close);
    server_writer.abort();
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        shared.to_client.send(Outgoing::Close),
    )
    .await;
    let mut client_writer = client_writer;
    if tokio::time::timeout(Duration::from_secs(2), &mut client_writer)
        .await
        .is_err()
    {
        client_writer.abort();
    }
}

/// One item for a pipe writer.
#[derive(Debug)]
enum Outgoing {
    /// Write this message.
    Message(RawMessage),
    /// Close the pipe (after everything queued before).
    Close,
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: MessageWriter<W>,
    mut queue: mpsc::Receiver<Outgoing>,
) {
    while let Some(item) = queue.recv().await {
        match item {
            Outgoing::Message(message) => {
                if writer.send(message).await.is_err() {
                    // The reader is gone; later messages have nowhere to go.
                    return;
                }
            }
            Outgoing::Close => {
                let _ = writer.close().await;
                return;
            }
        }
    }
}

/// How reading the client ended.
#[derive(Debug)]
enum ClientEnd {
    Closed,
    Failed(std::io::Error),
}

/// How reading the server ended.
#[derive(Debug)]
enum ServerEnd {
    Closed,
    TooLong,
    Failed(std::io::Error),
}

/// What the proxy keeps about one request of the client.
#[derive(Debug)]
struct InFlight {
    /// Tells this request from a later one reusing its id.
    token: u64,
    /// `tools/list` results may be filtered.
    lists_tools: bool,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// A `tools/call` being judged.
    Judging,
    /// A `tools/call` waiting for a person; sending on the channel drops it.
    Held(Option<oneshot::Sender<()>>),
    /// Sent to the server, not yet answered.
    Forwarded,
}

#[derive(Debug, Default)]
struct Table {
    in_flight: HashMap<RequestId, InFlight>,
    next_token: u64,
    /// The client's name from `initialize`.
    agent: Option<String>,
}

/// What a response of the server answers.
enum Answered {
    /// A forwarded request (`true`: a `tools/list`).
    Forwarded(bool),
    /// A request the server was never sent (held or being judged): the response is bogus.
    NotSent,
    /// Nothing the proxy tracks (e.g. after the client cancelled it).
    Unknown,
}

struct Shared {
    gate: Gate,
    options: WrapOptions,
    to_client: mpsc::Sender<Outgoing>,
    to_server: mpsc::Sender<Outgoing>,
    table: Mutex<Table>,
    /// The tasks of held calls, awaited (bounded) at the end so that their audit entries are written.
    holds: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock cannot leave the table half-changed in a way that matters more
        // than stopping: keep going with what is there.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn notice(&self, message: &str) {
        eprintln!("airlock mcp wrap ({}): {message}", self.options.server_name);
    }

    async fn reply(&self, message: RawMessage) {
        let _ = self.to_client.send(Outgoing::Message(message)).await;
    }

    async fn forward(&self, message: RawMessage) {
        let _ = self.to_server.send(Outgoing::Message(message)).await;
    }

    /// Records request `id` as in flight; `None` when that id is already in flight.
    fn claim(&self, id: &RequestId, lists_tools: bool, phase: Phase) -> Option<u64> {
        let mut table = self.table();
        if table.in_flight.contains_key(id) {
            return None;
        }
        table.next_token += 1;
        let token = table.next_token;
        table.in_flight.insert(
            id.clone(),
            InFlight {
                token,
                lists_tools,
                phase,
            },
        );
        Some(token)
    }

    /// Moves request `id` (if it is still the one with `token`) to `phase`; `false` when it is gone.
    fn advance(&self, id: &RequestId, token: u64, phase: Phase) -> bool {
        match self.table().in_flight.get_mut(id) {
            Some(entry) if entry.token == token => {
                entry.phase = phase;
                true
            }
            _ => false,
        }
    }

    /// Forgets request `id` (if it is still the one with `token`); `false` when it was already gone (then
    /// someone else answered it).
    fn release(&self, id: &RequestId, token: u64) -> bool {
        let mut table = self.table();
        match table.in_flight.get(id) {
            Some(entry) if entry.token == token => {
                table.in_flight.remove(id);
                true
            }
            _ => false,
        }
    }

    fn is_live(&self, id: &RequestId, token: u64) -> bool {
        self.table()
            .in_flight
            .get(id)
            .is_some_and(|entry| entry.token == token)
    }

    /// A response of the server to request `id` arrived.
    fn answered(&self, id: &RequestId) -> Answered {
        let mut table = self.table();
        match table.in_flight.get(id).map(|e| &e.phase) {
            None => Answered::Unknown,
            Some(Phase::Judging | Phase::Held(_)) => Answered::NotSent,
            Some(Phase::Forwarded) => {
                let lists_tools = table.in_flight.remove(id).is_some_and(|e| e.lists_tools);
                Answered::Forwarded(lists_tools)
            }
        }
    }

    /// The client cancelled request `id`: a held call is dropped (`true`: do not forward the cancellation);
    /// a forwarded one is forgotten (the server may not answer it any more).
    fn cancel(&self, id: &RequestId) -> bool {
        let mut table = self.table();
        let Some(entry) = table.in_flight.remove(id) else {
            return false;
        };
        match entry.phase {
            Phase::Held(mut signal) => {
                if let Some(signal) = signal.take() {
                    let _ = signal.send(());
                }
                true
            }
            Phase::Judging => true,
            Phase::Forwarded => false,
        }
    }

    /// Drops every held call (the client is gone).
    fn cancel_holds(&self) {
        let mut table = self.table();
        table.in_flight.retain(|_, entry| match &mut entry.phase {
            Phase::Held(signal) => {
                if let Some(signal) = signal.take() {
                    let _ = signal.send(());
                }
                false
            }
            _ => true,
        });
    }

    /// Forgets every request in flight (the server is gone), dropping held calls, and returns the error
    /// answer each of them gets.
    fn fail_all(&self, problem: &str) -> Vec<RawMessage> {
        let drained: Vec<(RequestId, InFlight)> = self.table().in_flight.drain().collect();
        drained
            .into_iter()
            .map(|(id, mut entry)| {
                if let Phase::Held(signal) = &mut entry.phase
                    && let Some(signal) = signal.take()
                {
                    let _ = signal.send(());
                }
                reply::server_gone(id, problem)
            })
            .collect()
    }

    fn context(&self) -> Context {
        Context {
            agent: Some(
                self.table()
                    .agent
                    .clone()
                    .unwrap_or_else(|| DEFAULT_AGENT.to_string()),
            ),
            session: None,
            cwd: self.options.cwd.clone(),
            environment: None,
            upstream: Some(self.options.server_name.clone()),
        }
    }

    fn envelope(&self, params: &CallToolRequestParams) -> Envelope {
        crate::envelope::tool_call_envelope(&self.options.server_name, params, self.context())
    }
}

async fn client_loop<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    mut reader: MessageReader<R>,
) -> ClientEnd {
    loop {
        match reader.next().await {
            Frame::Message(message) => from_client(&shared, message).await,
            Frame::NotJson(error) => {
                shared.notice(&format!(
                    "answered a message of the client that is not JSON with a parse error: {error}"
                ));
                shared.reply(reply::parse_error(&error.to_string())).await;
            }
            Frame::TooLong => {
                shared.notice("dropped a message of the client longer than the limit");
                shared
                    .reply(reply::invalid_request(
                        None,
                        format!(
                            "airlock: a message longer than {} MiB was dropped; it was not forwarded",
                            MAX_LINE_BYTES / (1024 * 1024)
                        ),
                    ))
                    .await;
            }
            Frame::Closed => return ClientEnd::Closed,
            Frame::Failed(error) => return ClientEnd::Failed(error),
        }
    }
}

async fn from_client(shared: &Arc<Shared>, message: RawMessage) {
    match ClientMessage::read(message.get()) {
        ClientMessage::ToolCall { id, params } => {
            let Some(token) = shared.claim(&id, false, Phase::Judging) else {
                shared.reply(id_in_use(&id)).await;
                return;
            };
            judge_tool_call(shared, id, token, message, &params).await;
        }
        ClientMessage::Request {
            id,
            method,
            client_name,
        } => {
            if let Some(name) = client_name {
                shared.table().agent = Some(name);
            }
            if shared
                .claim(&id, method == TOOLS_LIST, Phase::Forwarded)
                .is_none()
            {
                shared.reply(id_in_use(&id)).await;
                return;
            }
            shared.forward(message).await;
        }
        ClientMessage::Cancelled { request_id } => {
            if !shared.cancel(&request_id) {
                shared.forward(message).await;
            }
        }
        ClientMessage::Other => shared.forward(message).await,
        ClientMessage::Refused { id, problem } => {
            let answer = match problem {
                Refusal::InvalidRequest(why) => {
                    shared.notice(&why);
                    reply::invalid_request(id, why)
                }
                Refusal::InvalidParams(why) => {
                    shared.notice(&why);
                    reply::invalid_params(id, why)
                }
            };
            shared.reply(answer).await;
        }
        ClientMessage::Dropped { problem } => shared.notice(&problem),
    }
}

fn id_in_use(id: &RequestId) -> RawMessage {
    reply::invalid_request(
        Some(id.clone()),
        format!(
            "airlock: request id `{id}` is already in use by a request in flight; this request was not forwarded"
        ),
    )
}

/// Judges one `tools/call` and enforces the settlement. Runs in the client's read loop, so calls and the
/// messages after them keep their order; only a hold moves to its own task.
async fn judge_tool_call(
    shared: &Arc<Shared>,
    id: RequestId,
    token: u64,
    message: RawMessage,
    params: &CallToolRequestParams,
) {
    let envelope = shared.envelope(params);
    let settlement = match shared.gate.judge(&envelope).await {
        Ok(settlement) => settlement,
        Err(error) => {
            shared.notice(&format!("blocked `{}` (fail closed): {error}", params.name));
            if shared.release(&id, token) {
                shared.reply(reply::blocked(id, &error.to_string())).await;
            }
            return;
        }
    };
    match settlement.settled {
        Settled::Allow | Settled::AllowedByApproval(_) => {
            if shared.advance(&id, token, Phase::Forwarded) {
                shared.forward(message).await;
            }
        }
        Settled::Deny => {
            if shared.release(&id, token) {
                shared
                    .reply(reply::denied(id, &settlement.decision, &settlement.audit))
                    .await;
            }
        }
        Settled::Hold(approval) => {
            if shared.options.hold.is_zero() {
                if shared.release(&id, token) {
                    let answer = reply::held(
                        id,
                        &settlement.decision,
                        &approval,
                        &shared.options.approval_page,
                    );
                    shared.reply(answer).await;
                }
                return;
            }
            let (signal, cancelled) = oneshot::channel();
            if shared.advance(&id, token, Phase::Held(Some(signal))) {
                let held = HeldCall {
                    shared: shared.clone(),
                    id,
                    token,
                    message,
                    envelope,
                    decision: settlement.decision,
                    approval,
                };
                let task = tokio::spawn(held.wait(cancelled));
                let mut holds = shared
                    .holds
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                holds.retain(|task| !task.is_finished());
                holds.push(task);
            }
        }
    }
}

/// A `tools/call` waiting for a person.
struct HeldCall {
    shared: Arc<Shared>,
    id: RequestId,
    token: u64,
    message: RawMessage,
    envelope: Envelope,
    decision: Decision,
    approval: Approval,
}

impl HeldCall {
    /// Waits up to the hold for the approval; approved ⇒ uses it and forwards the call; otherwise answers
    /// with what happened. Cancelled (by the client, or because the session ends) ⇒ audited, no answer.
    async fn wait(self, cancelled: oneshot::Receiver<()>) {
        let gate = &self.shared.gate;
        let waited = tokio::select! {
            _ = cancelled => {
                let _ = gate
                    .record(&self.envelope, &self.decision, "cancelled", Some(&self.approval.id))
                    .await;
                return;
            }
            waited = gate.wait_for_decision(&self.approval.id, self.shared.options.hold) => waited,
        };
        let approval = match waited {
            Ok(approval) => approval,
            Err(error) => return self.answer_blocked(&error.to_string()).await,
        };
        if approval.state != ApprovalState::Approved {
            if self.shared.release(&self.id, self.token) {
                let answer = if approval.state == ApprovalState::Pending {
                    reply::held(
                        self.id.clone(),
                        &self.decision,
                        &approval,
                        &self.shared.options.approval_page,
                    )
                } else {
                    reply::not_approved(self.id.clone(), &approval)
                };
                self.shared.reply(answer).await;
            }
            return;
        }
        if !self.shared.is_live(&self.id, self.token) {
            return;
        }
        match gate
            .consume(&approval.id, &self.envelope, &self.decision)
            .await
        {
            Ok(_) => {
                if self.shared.advance(&self.id, self.token, Phase::Forwarded) {
                    self.shared.forward(self.message).await;
                }
            }
            Err(error) => {
                self.answer_blocked(&format!(
                    "approval {} could not be used: {error}",
                    approval.id
                ))
                .await;
            }
        }
    }

    async fn answer_blocked(self, problem: &str) {
        self.shared
            .notice(&format!("blocked a held call (fail closed): {problem}"));
        if self.shared.release(&self.id, self.token) {
            self.shared.reply(reply::blocked(self.id, problem)).await;
        }
    }
}

async fn server_loop<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    mut reader: MessageReader<R>,
) -> ServerEnd {
    loop {
        match reader.next().await {
            Frame::Message(message) => from_server(&shared, message).await,
            Frame::NotJson(error) => shared.notice(&format!(
                "ignored a line of the server's output that is not JSON ({error})"
            )),
            Frame::TooLong => return ServerEnd::TooLong,
            Frame::Closed => return ServerEnd::Closed,
            Frame::Failed(error) => return ServerEnd::Failed(error),
        }
    }
}

async fn from_server(shared: &Shared, message: RawMessage) {
    let ServerMessage::Response(id) = ServerMessage::read(message.get()) else {
        shared.reply(message).await;
        return;
    };
    match shared.answered(&id) {
        Answered::Forwarded(true) if shared.options.hide_denied_tools => {
            let context = shared.context();
            let engine = shared.gate.engine();
            let server = &shared.options.server_name;
            match tools_list::without_tools(&message, |tool| {
                tools_list::denied_without_arguments(engine, server, tool, &context)
            }) {
                Some((filtered, hidden)) => {
                    shared.notice(&format!(
                        "hid tools the policy denies: {}",
                        hidden.join(", ")
                    ));
                    shared.reply(filtered).await;
                }
                None => shared.reply(message).await,
            }
        }
        Answered::Forwarded(_) | Answered::Unknown => shared.reply(message).await,
        Answered::NotSent => shared.notice(&format!(
            "dropped a response of the server to request `{id}`, which airlock has not sent to it"
        )),
    }
}
