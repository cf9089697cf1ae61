//! Group commit for the audit log: with [`Store::with_group_commit`], [`Store::append`] hands its record to one
//! writer task, which appends every record waiting at that moment in a single transaction
//! ([`Store::append_batch`]) and answers each caller with its own entry once the transaction has committed.
//! An idle store writes a record at once (no waiting window); under load, the records that arrive while a
//! transaction is being written share the next one, so the per-transaction cost (the chain lock, the head
//! read, the commit and the hand-offs to the database thread) is paid once per batch instead of once per
//! record. The chain, its order and its hashes are exactly those of appending one by one. On SQLite the
//! writer keeps one connection from batch to batch (see `KeptConnection`), until the store is closed.
//!
//! Fail closed: when a batch cannot be written, every caller in it gets an error (nothing of it was
//! committed), and a caller whose record was not acknowledged must not act on it.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::audit::{AuditEntry, AuditRecord, KeptConnection};
use crate::db::Store;
use crate::error::{Result, StoreError};

/// Most records written in one transaction.
pub const MAX_GROUP: usize = 1024;

type Reply = oneshot::Sender<Result<AuditEntry>>;

/// The handle [`Store::append`] sends records to.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    sender: mpsc::UnboundedSender<(AuditRecord, Reply)>,
}

impl GroupCommit {
    /// Queues `record` and waits until it is committed (or its batch failed).
    pub(crate) async fn append(&self, record: AuditRecord) -> Result<AuditEntry> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((record, reply))
            .map_err(|_| StoreError::AuditBatch("the audit writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::AuditBatch("the audit writer stopped before answering".into())
        })?
    }
}

impl Store {
    /// The same store, appending audit records by group commit (see the module doc). For servers with many
    /// concurrent requests (the gateway); must be called inside a Tokio runtime, which runs the writer task.
    /// The task ends when the last clone of the returned store is dropped.
    pub fn with_group_commit(mut self) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut writer = self.clone();
        writer.group = None;
        tokio::spawn(write_groups(writer, receiver));
        self.group = Some(Arc::new(GroupCommit { sender }));
        self
    }
}

async fn write_groups(store: Store, mut receiver: mpsc::UnboundedReceiver<(AuditRecord, Reply)>) {
    let mut records = Vec::with_capacity(64);
    let mut replies = Vec::with_capacity(64);
    let mut kept = KeptConnection::default();
    loop {
        let next = tokio::select! {
            biased;
            next = receiver.recv() => match next {
                Some(next) => next,
                None => return,
            },
            () = store.closing(), if kept.is_kept() => {
                // The store is closed: no append may use this connection any more.
                kept.release();
                continue;
            }
        };
        let (record, reply) = next;
        records.push(record);
        replies.push(reply);
        while records.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok((record, reply)) => {
                    records.push(record);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        match store
            .append_batch_kept(&mut kept, std::mem::take(&mut records))
            .await
        {
            Ok(entries) => {
                for (entry, reply) in entries.into_iter().zip(replies.drain(..)) {
                    let _ = reply.send(Ok(entry));
                }
            }
            Err(error) => {
                let message = error.to_string();
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(StoreError::AuditBatch(message.clone())));
                }
            }
        }
    }
}
