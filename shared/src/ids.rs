//! Identifier newtypes, so that a user id can never be passed where an org id is expected.
//!
//! Every id is a UUIDv7: globally unique, and sortable by creation time, which keeps SQLite's
//! primary-key b-trees append-mostly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(test, derive(schemars::JsonSchema))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// An organisation (team); every user also has a personal one.
    OrgId
);
id_type!(
    /// A personal API key (the id, not the secret).
    ApiKeyId
);
id_type!(
    /// An enrolled machine (one agent installation).
    MachineId
);
id_type!(
    /// A terminal session, relayed or discovered.
    SessionId
);
id_type!(
    /// A one-time enrollment token (the id, not the secret).
    EnrollmentTokenId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings_and_json() {
        let id = OrgId::new();
        let parsed: OrgId = id.to_string().parse().expect("parse");
        assert_eq!(parsed, id);
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, format!("\"{id}\""));
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = UserId::new();
        let b = UserId::new();
        assert!(a < b);
    }
}
