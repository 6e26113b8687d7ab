//! Ids as the API writes them. They are kept as the server's strings (UUIDs
//! today) and checked by the server, so a client never refuses an id the
//! server would take.

macro_rules! id {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as the API writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self(s.to_owned()))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    )*};
}

id! {
    /// An agent's id.
    AgentId;
    /// A credential's id (the same across rotations).
    CredentialId;
    /// A tenant's id.
    TenantId;
    /// A trust policy's id.
    TrustPolicyId;
    /// An audit event's id.
    EventId;
    /// A registered public key's id (its RFC 7638 thumbprint).
    KeyId;
}
