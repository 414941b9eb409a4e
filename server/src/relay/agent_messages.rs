//! What the server does with each message an agent sends after `welcome`: heartbeats (kept in
//! memory), session lifecycle (checked like `hello`), sizes, attention and gaps; and the byte
//! budget that paces one connection's output.

use std::time::Duration;

use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::{AgentMessage, ServerMessage, SessionState};
use tokio::time::Instant;

use super::heartbeats::Beat;
use super::hub::{ConnId, Hub};
use super::live::TermSize;
use crate::store::StoreError;
use crate::store::machines::Machine;
use crate::store::sessions::Session;

/// A connection may send a second's worth of its byte rate in one burst.
const BURST: Duration = Duration::from_secs(1);

pub fn size_of(s: &Session) -> TermSize {
    TermSize { cols: s.cols, rows: s.rows, locked: s.size_locked }
}

/// Paces one connection's output at a byte rate (a token bucket holding up to a second's worth):
/// past it the caller waits before reading the socket again, so the agent feels backpressure
/// and nothing is dropped.
#[derive(Debug)]
pub struct ByteBudget {
    per_sec: f64,
    available: f64,
    at: Instant,
}

impl ByteBudget {
    pub fn new(bytes_per_sec: u64) -> Self {
        let per_sec = bytes_per_sec.max(1) as f64;
        Self { per_sec, available: per_sec * BURST.as_secs_f64(), at: Instant::now() }
    }

    /// Takes `n` bytes from the budget, waiting until it has them.
    pub async fn take(&mut self, n: usize) {
        let now = Instant::now();
        let cap = self.per_sec * BURST.as_secs_f64();
        self.available = (self.available + now.duration_since(self.at).as_secs_f64() * self.per_sec).min(cap);
        self.at = now;
        self.available -= n as f64;
        if self.available < 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(-self.available / self.per_sec)).await;
        }
    }
}

/// Applies one message. Returns why it was refused, for an `error` back to the agent.
pub async fn handle(hub: &Hub, conn: ConnId, machine: &Machine, msg: AgentMessage) -> Option<String> {
    let store = hub.store();
    let max_live = hub.limits.max_sessions_per_machine;
    let result: Result<(), String> = match msg {
        AgentMessage::Heartbeat { load, memory_used_bytes, sessions, .. } => {
            let load = if load.is_finite() { load.max(0.0) } else { 0.0 };
            let beat = Beat { load, memory_used_bytes, sessions, at: crate::store::now() };
            hub.heartbeats.record(machine.id, machine.org_id, beat);
            Ok(())
        }
        AgentMessage::SessionDiscovered { session } => match session.problem() {
            Some(p) => Err(p),
            None => {
                let stored = store
                    .upsert_agent_session(machine.org_id, machine.id, session, SessionState::Running, max_live)
                    .await;
                hub.events.notify(machine.org_id, super::events::Change::Sessions);
                stored.map(|_| ()).map_err(refused)
            }
        },
        AgentMessage::SessionStarted { session, .. } => match session.problem() {
            Some(p) => Err(p),
            None => {
                let id = session.session_id;
                match store
                    .upsert_agent_session(machine.org_id, machine.id, session, SessionState::Running, max_live)
                    .await
                {
                    Ok(stored) => {
                        match hub.claim(conn, id).await {
                            // A session another connection relayed before (an agent taking over
                            // a stopped agent's spool): what is stored needs no resending.
                            Ok(stored_end) if stored_end > 0 => {
                                hub.tell(conn, ServerMessage::Ack { session_id: id, offset: stored_end })
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "cannot claim session"),
                        }
                        hub.set_state(id, stored.state, stored.exit_code).await;
                        hub.set_size(id, size_of(&stored)).await;
                        Ok(())
                    }
                    Err(e) => Err(refused(e)),
                }
            }
        },
        AgentMessage::SessionExited { session_id, exit_code, .. } => {
            end(hub, machine, session_id, SessionState::Exited, exit_code, None).await
        }
        AgentMessage::SessionCrashed { session_id, reason, .. } => {
            let reason: String = reason.chars().filter(|c| !c.is_control()).take(1000).collect();
            end(hub, machine, session_id, SessionState::Crashed, None, Some(reason)).await
        }
        AgentMessage::SessionResized { session_id, cols, rows } => {
            hub.resized(conn, session_id, cols, rows).await.map_err(|e| e.to_string())
        }
        AgentMessage::SessionAttention { session_id, waiting_for_input } => {
            hub.attention(conn, session_id, waiting_for_input).await.map_err(|e| e.to_string())
        }
        AgentMessage::Gap { session_id, offset, length } => {
            hub.gap(conn, session_id, offset, length).await.map_err(|e| e.to_string())
        }
        AgentMessage::Error { code, message } => {
            tracing::warn!(machine = %machine.id, code = ?code, message = ?message, "agent reported an error");
            Ok(())
        }
        AgentMessage::Hello { .. } => Err("hello was already said".into()),
        AgentMessage::Unknown => {
            tracing::debug!("ignoring an unknown message kind from an agent");
            Ok(())
        }
    };
    result.err()
}

fn refused(e: StoreError) -> String {
    match e {
        StoreError::Conflict(m) => m,
        StoreError::NotFound => "that session belongs to another machine".into(),
        StoreError::PlanLimit { plan, max, used, upgrade_url, .. } => {
            let upgrade = if upgrade_url.is_empty() { String::new() } else { format!(" (upgrade: {upgrade_url})") };
            format!(
                "the {plan} plan allows {max} concurrent_sessions and {used} are running: this session runs here but \
                 is not relayed; end another session or upgrade the plan{upgrade}"
            )
        }
        other => {
            tracing::warn!(error = %other, "cannot record a session");
            "the server could not record the session".into()
        }
    }
}

async fn end(
    hub: &Hub,
    machine: &Machine,
    id: SessionId,
    state: SessionState,
    exit_code: Option<i32>,
    reason: Option<String>,
) -> Result<(), String> {
    // What it was before, from the store: a session whose start failed was never claimed, so the
    // hub holds nothing to compare with, and dashboards must still hear that it crashed.
    let before = match hub.store().session_by_id(id).await {
        Ok(s) if s.machine_id == machine.id => (s.state, s.exit_code),
        Ok(_) | Err(StoreError::NotFound) => return Err(refused(StoreError::NotFound)),
        Err(e) => return Err(refused(e)),
    };
    hub.settle_output(id).await;
    hub.store().set_session_state(machine.id, id, state, exit_code, reason).await.map_err(refused)?;
    hub.state_changed(id, before, state, exit_code).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_budget_paces_output_at_its_rate_after_a_one_second_burst() {
        let mut b = ByteBudget::new(1000);
        let start = Instant::now();
        b.take(1000).await;
        assert!(start.elapsed() < Duration::from_millis(1), "a second's worth goes at once");
        b.take(500).await;
        let waited = start.elapsed();
        assert!((Duration::from_millis(499)..=Duration::from_millis(501)).contains(&waited), "{waited:?}");
    }
}
