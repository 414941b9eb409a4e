//! Heartbeats, kept in memory: every connected agent beats every 10 s, and writing each beat to
//! the database would cost one transaction per machine per beat. The latest figures live here
//! (the API reads them from here), and a flusher writes them all in one transaction every
//! `relay.heartbeat_flush_secs`, then tells dashboards once per org.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sessionforge_shared::ids::{MachineId, OrgId};

use super::events::Change;
use super::hub::Hub;
use super::live::lock;
use crate::store::machines::Seen;

/// The latest heartbeat of a machine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Beat {
    pub load: f64,
    pub memory_used_bytes: u64,
    pub sessions: u32,
    /// Unix seconds.
    pub at: i64,
}

#[derive(Debug, Default)]
pub struct Heartbeats {
    latest: Mutex<HashMap<MachineId, (OrgId, Beat)>>,
    /// Machines whose beat is newer than what is stored. An entry leaves only once its beat
    /// is written, so a flush cut short (at shutdown, say) is repeated, never lost.
    dirty: Mutex<HashSet<MachineId>>,
}

impl Heartbeats {
    pub fn record(&self, machine: MachineId, org: OrgId, beat: Beat) {
        lock(&self.latest).insert(machine, (org, beat));
        lock(&self.dirty).insert(machine);
    }

    /// The latest beat heard from `machine` since this server started.
    pub fn latest(&self, machine: MachineId) -> Option<Beat> {
        lock(&self.latest).get(&machine).map(|(_, b)| *b)
    }

    /// The beats not stored yet, and the orgs they belong to.
    fn pending(&self) -> (Vec<Seen>, HashSet<OrgId>) {
        let dirty: Vec<MachineId> = lock(&self.dirty).iter().copied().collect();
        let latest = lock(&self.latest);
        let mut orgs = HashSet::new();
        let seen = dirty
            .into_iter()
            .filter_map(|m| latest.get(&m).map(|(org, b)| (m, *org, *b)))
            .map(|(id, org, b)| {
                orgs.insert(org);
                Seen { id, figures: Some((b.load, b.memory_used_bytes, b.sessions)), at: b.at }
            })
            .collect();
        (seen, orgs)
    }
}

/// Writes the beats every `every` until the task is aborted (and once more on demand through
/// [`flush`]).
pub async fn run(hub: Arc<Hub>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        flush(&hub).await;
    }
}

/// Stores the beats not stored yet and tells their orgs' dashboards; forgets the stored beats of
/// machines that are no longer connected (the database has them now).
pub async fn flush(hub: &Hub) {
    let (seen, orgs) = hub.heartbeats.pending();
    if seen.is_empty() {
        return;
    }
    if let Err(e) = hub.store().machines_seen(seen.clone()).await {
        tracing::warn!(error = %e, "cannot store heartbeats");
        return;
    }
    hub.heartbeats.stored(&seen, |m| hub.is_connected(m));
    for org in orgs {
        hub.events.notify(org, Change::Machines);
    }
}

impl Heartbeats {
    /// These beats are in the database: they are no longer pending, and a machine no longer
    /// `connected` is forgotten (unless it beat again meanwhile).
    fn stored(&self, seen: &[Seen], connected: impl Fn(MachineId) -> bool) {
        let mut dirty = lock(&self.dirty);
        let mut latest = lock(&self.latest);
        for s in seen {
            let newer = latest.get(&s.id).is_some_and(|(_, b)| b.at > s.at);
            if !newer {
                dirty.remove(&s.id);
                if !connected(s.id) {
                    latest.remove(&s.id);
                }
            }
        }
    }
}
