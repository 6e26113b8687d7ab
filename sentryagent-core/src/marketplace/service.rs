//! The marketplace service: [`SentryAgent`](crate::SentryAgent)'s methods over the model and the stores.
//!
//! Stores it needs: `directory`.

use super::model::*;
use crate::error::{Error, Validator};
use crate::{AgentId, SentryAgent};

impl SentryAgent {
    /// A page of the marketplace: public, no caller.
    ///
    /// # Errors
    /// 404 when the marketplace is off; a validation error for an overlong
    /// `q` or `capability`; a store error.
    pub async fn marketplace_agents(&self, query: &MarketplaceQuery) -> Result<Vec<MarketplaceAgent>, Error> {
        check_enabled(self)?;
        let mut v = Validator::default();
        if let Some(q) = &query.q {
            v.check(
                q.chars().count() <= MAX_QUERY_CHARS,
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            );
            v.check(
                q.split_whitespace().count() <= MAX_QUERY_TERMS,
                "q",
                format!("must be at most {MAX_QUERY_TERMS} words"),
            );
        }
        if let Some(c) = &query.capability {
            v.check(c.len() <= 64, "capability", "must be at most 64 characters");
        }
        v.finish()?;
        Ok(self.inner.stores.directory.marketplace_agents(query).await?)
    }

    /// One listed agent: public, no caller.
    ///
    /// # Errors
    /// 404 when the marketplace is off or the agent is not listed; a store error.
    pub async fn marketplace_agent(&self, id: AgentId) -> Result<MarketplaceAgent, Error> {
        check_enabled(self)?;
        self.inner
            .stores
            .directory
            .marketplace_agent(id)
            .await?
            .ok_or(Error::NotFound("agent"))
    }
}

pub(crate) fn check_enabled(sa: &SentryAgent) -> Result<(), Error> {
    if sa.inner.settings.marketplace_enabled {
        Ok(())
    } else {
        Err(Error::NotFound("marketplace"))
    }
}
