//! The queue of messages to one agent connection. Messages wait in it boxed: a tokio channel
//! allocates its first block of 32 slots when it is made, and 32 inline `ServerMessage`s
//! (144 bytes each) would cost every connected agent 4.6 KiB before it is ever sent anything.

use sessionforge_shared::protocol::ServerMessage;
use tokio::sync::mpsc;

/// The sending side, kept by the hub.
#[derive(Clone, Debug)]
pub struct AgentTx(mpsc::Sender<Box<ServerMessage>>);

/// The receiving side, drained by the connection's writer.
pub type AgentRx = mpsc::Receiver<Box<ServerMessage>>;

/// The queue is full or the connection is gone.
#[derive(Debug)]
pub struct NotQueued;

/// A queue holding at most `capacity` messages.
pub fn channel(capacity: usize) -> (AgentTx, AgentRx) {
    let (tx, rx) = mpsc::channel(capacity);
    (AgentTx(tx), rx)
}

impl AgentTx {
    /// Queues `msg` without waiting.
    pub fn try_send(&self, msg: ServerMessage) -> Result<(), NotQueued> {
        self.0.try_send(Box::new(msg)).map_err(|_| NotQueued)
    }
}
