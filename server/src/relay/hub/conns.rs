//! The hub's agent connections: registering and forgetting them, what each says about itself
//! (machine, org, mode, declared buffer), and the queues that reach their agents.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use sessionforge_shared::ids::{MachineId, OrgId};
use sessionforge_shared::protocol::{AgentMode, ServerMessage};

use super::super::agent_tx::AgentTx;
use super::super::live::{LiveSession, lock};
use super::{ConnId, Hub};

pub(super) struct AgentConn {
    machine_id: MachineId,
    org_id: OrgId,
    /// The most unacknowledged output its agent says it holds per session: output may not
    /// start further than this past what was received.
    buffer: u64,
    mode: AgentMode,
    tx: AgentTx,
}

impl Hub {
    pub fn register_conn(
        &self,
        machine_id: MachineId,
        org_id: OrgId,
        mode: AgentMode,
        buffer: u64,
        tx: AgentTx,
    ) -> ConnId {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        lock(&self.conns).insert(id, AgentConn { machine_id, org_id, mode, buffer, tx });
        id
    }

    /// The most a connection's output may start ahead of what was received.
    pub(super) fn conn_buffer(&self, conn: ConnId) -> u64 {
        lock(&self.conns).get(&conn).map_or(0, |c| c.buffer)
    }

    /// How far past what was received a session's agent may still resend output from: the
    /// relaying connection's declared buffer, or the default for agents that do not say.
    pub fn resume_window(&self, live: &LiveSession) -> u64 {
        live.owner()
            .and_then(|c| lock(&self.conns).get(&c).map(|c| c.buffer))
            .unwrap_or(sessionforge_shared::protocol::DEFAULT_AGENT_BUFFER)
    }

    /// Tells a connection something (an error about what it sent). Never blocks.
    pub fn tell(&self, conn: ConnId, msg: ServerMessage) {
        if let Some(c) = lock(&self.conns).get(&conn) {
            let _ = c.tx.try_send(msg);
        }
    }

    /// Sends `msg` to every connected agent of `org` (a policy change). Never blocks: an
    /// agent whose queue is full gets the new policy with its next welcome.
    pub fn tell_org(&self, org: OrgId, msg: &ServerMessage) {
        for c in lock(&self.conns).values().filter(|c| c.org_id == org) {
            let _ = c.tx.try_send(msg.clone());
        }
    }

    /// Forgets a connection; the sessions it relayed become orphans (stale if nobody claims them).
    pub fn unregister_conn(&self, conn: ConnId) {
        lock(&self.conns).remove(&conn);
        let now = Instant::now();
        let sessions: Vec<Arc<LiveSession>> = lock(&self.sessions).values().cloned().collect();
        let mut orphans = lock(&self.orphans);
        for s in sessions {
            if s.release(conn) {
                orphans.insert(s.id, now);
            }
        }
    }

    /// Drops every connection of a machine (it was signed out); their sockets close.
    pub fn disconnect_machine(&self, machine: MachineId) {
        let ids: Vec<ConnId> =
            lock(&self.conns).iter().filter(|(_, c)| c.machine_id == machine).map(|(id, _)| *id).collect();
        for id in ids {
            self.unregister_conn(id);
        }
    }

    pub fn connection_count(&self) -> usize {
        lock(&self.conns).len()
    }

    /// Whether any agent connection of the machine is open.
    pub fn is_connected(&self, machine: MachineId) -> bool {
        lock(&self.conns).values().any(|c| c.machine_id == machine)
    }

    /// The daemon connection of a machine, which takes start requests.
    pub fn daemon(&self, machine: MachineId) -> Option<AgentTx> {
        lock(&self.conns)
            .iter()
            .filter(|(_, c)| c.machine_id == machine && c.mode == AgentMode::Daemon)
            .max_by_key(|(id, _)| **id)
            .map(|(_, c)| c.tx.clone())
    }

    /// The queue to a connection's agent.
    pub(super) fn conn_tx(&self, conn: ConnId) -> Option<AgentTx> {
        lock(&self.conns).get(&conn).map(|c| c.tx.clone())
    }

    pub(super) fn conn_machine(&self, conn: ConnId) -> Option<MachineId> {
        lock(&self.conns).get(&conn).map(|c| c.machine_id)
    }
}
