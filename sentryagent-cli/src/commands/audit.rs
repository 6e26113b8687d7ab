//! `audit`: list, tail, verify, export.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use sentryagent_client::{AuditEvent, AuditFilter, Client, Error, Outcome};

use crate::CliError;
use crate::args::{AuditCommand, AuditFilters, OutcomeArg};
use crate::output::{Out, or_dash, time};

fn filter(filters: &AuditFilters, page: u8) -> AuditFilter {
    AuditFilter {
        agent_id: filters.agent_id.as_deref().map(Into::into),
        action: filters.action.clone(),
        outcome: filters.outcome.map(|o| match o {
            OutcomeArg::Success => Outcome::Success,
            OutcomeArg::Failure => Outcome::Failure,
        }),
        from: None,
        to: None,
        limit: Some(page),
    }
}

pub(crate) async fn run(client: &Client, command: &AuditCommand, out: &Out) -> Result<(), CliError> {
    match command {
        AuditCommand::List {
            filters,
            from,
            to,
            limit,
            all,
        } => {
            let page = if *all { 100 } else { (*limit).clamp(1, 100) as u8 };
            let filter = AuditFilter {
                from: *from,
                to: *to,
                ..filter(filters, page)
            };
            let take = if *all { usize::MAX } else { *limit };
            let events: Vec<AuditEvent> = client.audit_events(filter).take(take).try_collect().await?;
            if out.json {
                return out.json(&events);
            }
            out.table(
                &["SEQ", "TIME", "ACTION", "OUTCOME", "AGENT", "ACTOR"],
                events.iter().map(row).collect(),
            )
        }
        AuditCommand::Tail {
            filters,
            lines,
            interval,
            max_interval,
        } => tail(client, filters, *lines, *interval, (*max_interval).max(*interval), out).await,
        AuditCommand::Verify { full } => {
            let verification = if *full {
                client.verify_audit_full().await?
            } else {
                client.verify_audit().await?
            };
            if out.json {
                out.json(&verification)?;
            } else {
                out.fields(&[
                    ("valid", verification.valid.to_string()),
                    ("mode", or_dash(verification.mode.as_deref())),
                    ("checked", verification.checked.to_string()),
                    (
                        "from seq",
                        or_dash(verification.from_seq.map(|s| s.to_string()).as_deref()),
                    ),
                    (
                        "first invalid event",
                        or_dash(verification.first_invalid_event_id.as_ref().map(|e| e.as_str())),
                    ),
                    ("reason", or_dash(verification.reason.as_deref())),
                ])?;
            }
            if verification.valid {
                Ok(())
            } else {
                Err(CliError::Failed)
            }
        }
        AuditCommand::Export {
            filters,
            from,
            to,
            file,
        } => {
            let filter = AuditFilter {
                from: *from,
                to: *to,
                ..filter(filters, 100)
            };
            export(client, filter, file.as_deref(), out).await
        }
    }
}

fn row(e: &AuditEvent) -> Vec<String> {
    vec![
        e.seq.to_string(),
        time(e.at),
        e.action.clone(),
        e.outcome.as_str().to_owned(),
        or_dash(e.agent_id.as_ref().map(|a| a.as_str())),
        e.actor.clone(),
    ]
}

/// One event as a line of `audit tail`.
fn line(out: &Out, e: &AuditEvent) -> Result<(), CliError> {
    if out.json {
        return out.json_line(e);
    }
    let r = row(e);
    out.print(&format!(
        "{:>6}  {}  {:<22} {:<8} {:<36} {}\n",
        r[0], r[1], r[2], r[3], r[4], r[5]
    ))
}

/// Every event newer than `after`, oldest first: pages are newest first,
/// so read until an event at or before `after`.
async fn newer(client: &Client, filter: &AuditFilter, after: u64) -> Result<Vec<AuditEvent>, Error> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client.list_audit_events(filter, cursor.as_deref()).await?;
        let reached = page.items.iter().any(|e| e.seq <= after);
        events.extend(page.items.into_iter().filter(|e| e.seq > after));
        match page.next_cursor {
            Some(next) if !reached => cursor = Some(next),
            _ => break,
        }
    }
    events.reverse();
    Ok(events)
}

/// Whether a failure is worth waiting out: no answer, or the server asking
/// for time (429, 5xx). Other refusals (a revoked credential) end the tail.
fn transient(e: &Error) -> bool {
    e.is_unreachable() || e.api().is_some_and(|a| a.status == 429 || a.status >= 500)
}

async fn tail(
    client: &Client,
    filters: &AuditFilters,
    lines: usize,
    interval: Duration,
    max_interval: Duration,
    out: &Out,
) -> Result<(), CliError> {
    let filter = filter(filters, 100);
    // The last events first, oldest first; a server that is down at the
    // start is an error (exit 3), not a wait.
    let recent: Vec<AuditEvent> = client
        .list_audit_events(
            &AuditFilter {
                limit: Some(lines.clamp(1, 100) as u8),
                ..filter.clone()
            },
            None,
        )
        .await?
        .items;
    let mut last = recent.iter().map(|e| e.seq).max().unwrap_or(0);
    for e in recent.iter().take(lines).rev() {
        line(out, e)?;
    }
    // On stderr in JSON output too: it says the tail has its starting point.
    out.note(&format!("following {} (Ctrl-C to stop)", client.base_url()))?;
    let mut wait = interval;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
        let polled = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            polled = newer(client, &filter, last) => polled,
        };
        match polled {
            Ok(events) if events.is_empty() => {
                // Idle: poll less often, up to the longest wait.
                wait = (wait * 2).min(max_interval);
            }
            Ok(events) => {
                for e in &events {
                    line(out, e)?;
                }
                last = events.iter().map(|e| e.seq).max().unwrap_or(last);
                wait = interval;
            }
            Err(e) if transient(&e) => {
                wait = (wait * 2).min(max_interval);
                let why = match &e {
                    Error::Unreachable { url, .. } => format!("cannot reach {url}"),
                    other => other.to_string(),
                };
                out.note(&format!("{why}; retrying in {}", human(wait)))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

async fn export(
    client: &Client,
    filter: AuditFilter,
    file: Option<&std::path::Path>,
    out: &Out,
) -> Result<(), CliError> {
    // Unfiltered, the newest event's `seq` is the number of events (less
    // what retention pruned): the bar's length. Filtered, a counter.
    let unfiltered = filter.agent_id.is_none()
        && filter.action.is_none()
        && filter.outcome.is_none()
        && filter.from.is_none()
        && filter.to.is_none();
    let progress = if std::io::stderr().is_terminal() {
        let total = if unfiltered {
            let newest = client
                .list_audit_events(
                    &AuditFilter {
                        limit: Some(1),
                        ..AuditFilter::default()
                    },
                    None,
                )
                .await?;
            newest.items.first().map(|e| e.seq)
        } else {
            None
        };
        let bar = match total {
            Some(total) => indicatif::ProgressBar::new(total).with_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            ),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Some(bar)
    } else {
        None
    };
    let mut sink: Box<dyn Write> = match file {
        Some(path) => {
            Box::new(std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| {
                CliError::Io(format!("cannot create {}: {e}", path.display()))
            })?))
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let write_failed = |e: std::io::Error| match file {
        Some(path) => CliError::Io(format!("cannot write {}: {e}", path.display())),
        None => CliError::from_stdout(e),
    };
    let mut events = std::pin::pin!(client.audit_events(filter));
    let mut count: u64 = 0;
    while let Some(event) = events.try_next().await? {
        let text = serde_json::to_string(&event).map_err(|e| CliError::Io(e.to_string()))?;
        writeln!(sink, "{text}").map_err(write_failed)?;
        count += 1;
        if let Some(bar) = &progress {
            bar.set_position(count);
        }
    }
    sink.flush().map_err(write_failed)?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if let Some(path) = file {
        out.note(&format!("exported {count} events to {}", path.display()))?;
    }
    Ok(())
}
