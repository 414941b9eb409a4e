//! REST bodies that agents and the server both use (the agent is a REST client for enrollment).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::protocol::MachineInfo;

/// `POST /api/v1/agent/enroll`: exchange a one-time enrollment token for a machine credential.
/// `Debug` never shows the token.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct EnrollRequest {
    /// The one-time enrollment token (`sfe_…`).
    pub token: String,
    pub machine: MachineInfo,
}

impl std::fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollRequest").field("token", &"<redacted>").field("machine", &self.machine).finish()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_enrollment_token() {
        let token = "sfe_enrollment_token_that_must_stay_secret";
        let machine = MachineInfo {
            hostname: "box".into(),
            os: "linux".into(),
            os_version: "6".into(),
            arch: "x86_64".into(),
            cpus: 4,
            memory_bytes: 1,
            agent_version: "0.1.0".into(),
        };
        let debug = format!("{:?}", EnrollRequest { token: token.into(), machine });
        assert!(!debug.contains(token), "enrollment token leaked: {debug}");
        assert!(debug.contains("<redacted>") && debug.contains("box"), "{debug}");
    }

    #[test]
    fn debug_hides_the_machine_credential() {
        let credential = "sfm_machine_credential_that_must_stay_secret";
        let response = EnrollResponse {
            machine_id: Uuid::nil(),
            org_id: Uuid::nil(),
            credential: credential.into(),
            server_version: "0.1.0".into(),
        };
        let debug = format!("{response:?}");
        assert!(!debug.contains(credential), "machine credential leaked: {debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
}
