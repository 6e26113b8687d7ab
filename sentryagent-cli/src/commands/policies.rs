//! `policies` and `marketplace`.

use futures_util::{StreamExt, TryStreamExt};
use sentryagent_client::{
    Client, EvaluateRequest, MarketplaceAgent, MarketplaceQuery, NewTrustPolicy, TrustPolicy, TrustPolicyId,
};

use crate::CliError;
use crate::args::{MarketplaceCommand, PoliciesCommand};
use crate::output::{Out, list, or_dash, time};

pub(crate) async fn policies(client: &Client, command: &PoliciesCommand, out: &Out) -> Result<(), CliError> {
    match command {
        PoliciesCommand::Create(p) => {
            let new = NewTrustPolicy {
                provider: p.provider.clone(),
                repository: p.repository.clone(),
                agent_id: p.agent_id.as_deref().map(Into::into),
                repository_id: p.repository_id.clone(),
                repository_owner_id: p.repository_owner_id.clone(),
                branch: p.branch.clone(),
                ref_pattern: p.ref_pattern.clone(),
                ref_type: p.ref_type.clone(),
                environment: p.environment.clone(),
                job_workflow_ref: p.job_workflow_ref.clone(),
                allowed_events: p.allowed_events.clone(),
                denied_events: p.denied_events.clone(),
                description: p.description.clone(),
                max_scopes: p.max_scopes.clone(),
                issuer: p.issuer.clone(),
                audience: p.audience.clone(),
                subject: p.subject.clone(),
                claims: match &p.claims {
                    None => None,
                    Some(list) => Some(
                        list.iter()
                            .map(|c| {
                                c.split_once('=')
                                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                                    .ok_or_else(|| CliError::Usage(format!("--claim {c}: expected NAME=PATTERN")))
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                },
            };
            print_policy(out, &client.create_trust_policy(&new).await?)
        }
        PoliciesCommand::List => {
            let policies: Vec<TrustPolicy> = client.trust_policies().try_collect().await?;
            if out.json {
                return out.json(&policies);
            }
            let rows = policies
                .iter()
                .map(|p| {
                    vec![
                        p.policy_id.to_string(),
                        p.repository.clone(),
                        p.mode.clone(),
                        or_dash(p.agent_id.as_ref().map(|a| a.as_str())),
                        or_dash(p.branch.as_deref()),
                        time(p.created_at),
                    ]
                })
                .collect();
            out.table(&["ID", "REPOSITORY", "MODE", "AGENT", "BRANCH", "CREATED"], rows)
        }
        PoliciesCommand::Get { policy_id } => print_policy(
            out,
            &client.trust_policy(&TrustPolicyId::from(policy_id.as_str())).await?,
        ),
        PoliciesCommand::Delete { policy_id } => print_policy(
            out,
            &client
                .delete_trust_policy(&TrustPolicyId::from(policy_id.as_str()))
                .await?,
        ),
        PoliciesCommand::Evaluate {
            token,
            claims,
            agent_id,
        } => {
            let request = EvaluateRequest {
                token: token.clone(),
                claims: claims.clone(),
                agent_id: agent_id.as_deref().map(Into::into),
            };
            let evaluation = client.evaluate_trust_policies(&request).await?;
            if out.json {
                return out.json(&evaluation);
            }
            let mut fields = vec![
                ("repository", evaluation.claims.repository.clone()),
                ("ref", or_dash(evaluation.claims.git_ref.as_deref())),
                ("event", or_dash(evaluation.claims.event_name.as_deref())),
                ("match", or_dash(evaluation.matched.as_ref().map(|m| m.as_str()))),
                ("refusal", or_dash(evaluation.refusal.as_deref())),
            ];
            if let Some(check) = &evaluation.token {
                let verdict = if check.valid {
                    "valid".to_owned()
                } else {
                    format!(
                        "{}: {}",
                        or_dash(check.code.as_deref()),
                        or_dash(check.message.as_deref())
                    )
                };
                fields.push(("token", verdict));
            }
            out.fields(&fields)?;
            out.print("\n")?;
            let rows = evaluation
                .policies
                .iter()
                .map(|v| {
                    let failed = v.failed.as_ref().map_or_else(
                        || "-".to_owned(),
                        |f| format!("{} (allowed {}, provided {})", f.condition, f.allowed, f.provided),
                    );
                    vec![
                        v.policy_id.to_string(),
                        v.repository.clone(),
                        if v.admits { "yes" } else { "no" }.to_owned(),
                        failed,
                    ]
                })
                .collect();
            out.table(&["POLICY", "REPOSITORY", "ADMITS", "FIRST FAILED CONDITION"], rows)
        }
    }
}

fn print_policy(out: &Out, p: &TrustPolicy) -> Result<(), CliError> {
    if out.json {
        return out.json(p);
    }
    out.fields(&[
        ("id", p.policy_id.to_string()),
        ("provider", p.provider.clone()),
        ("repository", p.repository.clone()),
        ("mode", p.mode.clone()),
        ("agent", or_dash(p.agent_id.as_ref().map(|a| a.as_str()))),
        ("branch", or_dash(p.branch.as_deref())),
        ("ref", or_dash(p.ref_pattern.as_deref())),
        ("ref type", or_dash(p.ref_type.as_deref())),
        ("environment", or_dash(p.environment.as_deref())),
        ("job workflow ref", or_dash(p.job_workflow_ref.as_deref())),
        ("repository id", or_dash(p.repository_id.as_deref())),
        ("owner id", or_dash(p.repository_owner_id.as_deref())),
        (
            "allowed events",
            p.allowed_events.as_deref().map_or_else(|| "any".to_owned(), list),
        ),
        ("denied events", list(&p.denied_events)),
        ("max scopes", list(&p.max_scopes)),
        (
            "description",
            if p.description.is_empty() {
                "-".into()
            } else {
                p.description.clone()
            },
        ),
        ("created", time(p.created_at)),
    ])
}

pub(crate) async fn marketplace(client: &Client, command: &MarketplaceCommand, out: &Out) -> Result<(), CliError> {
    match command {
        MarketplaceCommand::Search {
            words,
            capability,
            limit,
        } => {
            let query = MarketplaceQuery {
                q: (!words.is_empty()).then(|| words.join(" ")),
                capability: capability.clone(),
                limit: Some((*limit).clamp(1, 100) as u8),
            };
            let agents: Vec<MarketplaceAgent> = client.marketplace_agents(query).take(*limit).try_collect().await?;
            if out.json {
                return out.json(&agents);
            }
            let rows = agents
                .iter()
                .map(|a| {
                    vec![
                        a.agent_id.to_string(),
                        a.name.clone(),
                        list(&a.capabilities),
                        a.tenant_name.clone(),
                        a.description.clone(),
                    ]
                })
                .collect();
            out.table(&["ID", "NAME", "CAPABILITIES", "TENANT", "DESCRIPTION"], rows)
        }
    }
}
