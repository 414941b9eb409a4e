//! Ends the connections the server answers outside hyper (see `sendfile`) when it stops: no
//! new request is read from them once shutdown begins, and what they are sending gets the grace
//! period to finish, as hyper's own connections do.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Debug, Default)]
pub struct Stopping {
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Stopping {
    /// Runs a connection's task, tracked until it ends.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Cancelled once shutdown begins.
    pub fn token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Shutdown began: read no new request.
    pub fn begin(&self) {
        self.stop.cancel();
    }

    /// Waits up to `grace` for the connections still sending.
    pub async fn finish(&self, grace: Duration) {
        self.begin();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            tracing::warn!(connections = self.tasks.len(), "downloads still running at the end of the shutdown grace");
        }
    }
}
