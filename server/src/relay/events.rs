//! Org-wide change notices for dashboards: "this org's machines changed", "its sessions
//! changed". They carry no data, only which list to fetch again, so a notice that is lost to a
//! slow listener costs nothing but a refetch (listeners that lag are told to refetch everything).

use sessionforge_shared::ids::{OrgId, SessionId};
use sessionforge_shared::protocol::SessionState;
use tokio::sync::broadcast;

/// Notices buffered for slow listeners before they lag and must refetch everything.
const CAPACITY: usize = 256;

/// Which list changed, or what happened to one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Machines,
    Sessions,
    /// A session started or stopped waiting for its user, or ended (for notifications).
    Session(SessionNotice),
}

/// What a dashboard needs to notify its user about one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionNotice {
    pub id: SessionId,
    pub state: SessionState,
    pub exit_code: Option<i32>,
    pub waiting_for_input: bool,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Machines => "machines",
            Change::Sessions => "sessions",
            Change::Session(_) => "session",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct OrgEvent {
    pub org: OrgId,
    pub change: Change,
}

#[derive(Debug)]
pub struct OrgEvents {
    tx: broadcast::Sender<OrgEvent>,
}

impl Default for OrgEvents {
    fn default() -> Self {
        Self { tx: broadcast::channel(CAPACITY).0 }
    }
}

impl OrgEvents {
    /// Tells every listener of `org` that `change` happened. Never blocks.
    pub fn notify(&self, org: OrgId, change: Change) {
        // No listeners is fine: nobody is looking.
        let _ = self.tx.send(OrgEvent { org, change });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<OrgEvent> {
        self.tx.subscribe()
    }
}
