//! REST bodies that agents and the server both use (the agent is a REST client for enrollment).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::protocol::MachineInfo;

/// `POST /api/v1/agent/enroll`: exchange a one-time enrollment token for a machine credential.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct EnrollRequest {
    /// The one-time enrollment token (`sfe_…`).
    pub token: String,
    pub machine: MachineInfo,
}

/// The credential is shown only in this response; the agent stores it in the OS keyring.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct EnrollResponse {
    pub machine_id: Uuid,
    pub org_id: Uuid,
    /// The machine credential (`sfm_…`), sent as `Authorization: Bearer` on the agent socket.
    pub credential: String,
    pub server_version: String,
}

impl std::fmt::Debug for EnrollResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollResponse")
            .field("machine_id", &self.machine_id)
            .field("org_id", &self.org_id)
            .field("credential", &"<redacted>")
            .field("server_version", &self.server_version)
            .finish()
    }
}

/// The JSON error body every server error has.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}
