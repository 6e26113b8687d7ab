//! Typed identifiers. Every id is a UUID (v7, so ids sort by creation time),
//! wrapped in a newtype so an agent id can never be passed where a tenant id
//! is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID, e.g. one read back from a store.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

id_type!(
    /// Identifies a tenant: the unit of isolation. No query crosses tenants.
    TenantId
);
id_type!(
    /// Identifies a registered agent within its tenant.
    AgentId
);
id_type!(
    /// Identifies one client credential (client id plus secret) of an agent.
    CredentialId
);
id_type!(
    /// Identifies one audit event.
    EventId
);
id_type!(
    /// The `jti` of an access token: what the revocation list keys on.
    TokenId
);
id_type!(
    /// Identifies an OIDC trust policy (workload identity federation).
    TrustPolicyId
);
id_type!(
    /// Identifies one grant of the authorization-code flow: what a person
    /// allowed one client, from its code through every refresh token
    /// rotated from it (the refresh-token family).
    GrantId
);
id_type!(
    /// Identifies a remembered consent: a person's yes to one client, for
    /// some scopes of one resource.
    ConsentId
);
