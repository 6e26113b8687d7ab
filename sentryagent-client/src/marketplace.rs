//! The public marketplace of listed agents.

use futures_core::Stream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::ids::AgentId;
use crate::ops;
use crate::page::Page;

/// A listed agent's public fields.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketplaceAgent {
    /// Its id.
    pub agent_id: AgentId,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// Its `did:web` DID.
    pub did: String,
    /// Its tenant's name.
    pub tenant_name: String,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What to look for in the marketplace.
#[derive(Clone, Debug, Default)]
pub struct MarketplaceQuery {
    /// Words that must all occur in the name or description.
    pub q: Option<String>,
    /// An exact capability label.
    pub capability: Option<String>,
    /// The page size, 1 to 100.
    pub limit: Option<u8>,
}

impl Client {
    /// One page of listed agents (public).
    ///
    /// # Errors
    /// `NOT_FOUND` when the marketplace is off, …
    pub async fn list_marketplace_agents(
        &self,
        query: &MarketplaceQuery,
        cursor: Option<&str>,
    ) -> Result<Page<MarketplaceAgent>, Error> {
        let call = Call::new(ops::LIST_MARKETPLACE_AGENTS)
            .public()
            .query("q", query.q.as_deref())
            .query("capability", query.capability.as_deref())
            .query("limit", query.limit)
            .query("cursor", cursor);
        self.json(call).await
    }

    /// Every listed agent the query admits, page after page.
    pub fn marketplace_agents(
        &self,
        query: MarketplaceQuery,
    ) -> impl Stream<Item = Result<MarketplaceAgent, Error>> + Send + 'static {
        self.pages(move |client, cursor| {
            let query = query.clone();
            async move { client.list_marketplace_agents(&query, cursor.as_deref()).await }
        })
    }

    /// One listed agent (public).
    ///
    /// # Errors
    /// `NOT_FOUND`, …
    pub async fn marketplace_agent(&self, id: &AgentId) -> Result<MarketplaceAgent, Error> {
        self.json(Call::new(ops::GET_MARKETPLACE_AGENT).param(id.as_str()).public())
            .await
    }
}
