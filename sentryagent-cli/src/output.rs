//! Printing: tables and key/value lines for people, JSON for scripts, colour
//! only on a terminal (and never with `NO_COLOR`).

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use time::OffsetDateTime;

use crate::CliError;

/// Where and how to print.
pub(crate) struct Out {
    pub(crate) json: bool,
    color_err: bool,
    color_out: bool,
}

fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

impl Out {
    pub(crate) fn new(json: bool) -> Self {
        Self {
            json,
            color_err: colour_allowed() && std::io::stderr().is_terminal(),
            color_out: colour_allowed() && std::io::stdout().is_terminal(),
        }
    }

    /// Writes `text` to standard output.
    pub(crate) fn print(&self, text: &str) -> Result<(), CliError> {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(CliError::from_stdout)
    }

    /// One JSON document, pretty-printed.
    pub(crate) fn json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), CliError> {
        let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Io(e.to_string()))?;
        self.print(&(text + "\n"))
    }

    /// One JSON line (streams).
    pub(crate) fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), CliError> {
        let text = serde_json::to_string(value).map_err(|e| CliError::Io(e.to_string()))?;
        self.print(&(text + "\n"))
    }

    /// Rows under a header, in aligned columns.
    pub(crate) fn table(&self, header: &[&str], rows: Vec<Vec<String>>) -> Result<(), CliError> {
        if rows.is_empty() {
            return self.note("(none)");
        }
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::NOTHING);
        table.set_header(header.iter().map(|h| self.bold(h, self.color_out)));
        for row in rows {
            table.add_row(row);
        }
        let text: String = table
            .lines()
            .map(|line| line.strip_prefix(' ').unwrap_or(&line).trim_end().to_owned() + "\n")
            .collect();
        self.print(&text)
    }

    /// `key  value` lines.
    pub(crate) fn fields(&self, fields: &[(&str, String)]) -> Result<(), CliError> {
        let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let text: String = fields
            .iter()
            .map(|(k, v)| format!("{}{}  {v}\n", self.bold(k, self.color_out), " ".repeat(width - k.len())))
            .collect();
        self.print(&text)
    }

    /// A one-time secret, marked so nobody misses that it is shown once.
    pub(crate) fn secret(&self, client_id: &str, secret: &str) -> Result<(), CliError> {
        let warn = Style::new().bold().fg_color(Some(AnsiColor::Yellow.into()));
        let banner = "one-time secret: store it now, it is never shown again";
        let banner = if self.color_out {
            format!("{warn}{banner}{warn:#}")
        } else {
            banner.to_owned()
        };
        self.print(&format!(
            "\n{banner}\n  client id:     {client_id}\n  client secret: {secret}\n"
        ))
    }

    /// A line for people on standard error (progress, notes, warnings).
    pub(crate) fn note(&self, text: &str) -> Result<(), CliError> {
        let _ = writeln!(std::io::stderr(), "{text}");
        Ok(())
    }

    /// `error: …` on standard error.
    pub(crate) fn error(&self, text: &str) {
        let red = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
        let prefix = if self.color_err {
            format!("{red}error:{red:#}")
        } else {
            "error:".to_owned()
        };
        let _ = writeln!(std::io::stderr(), "{prefix} {text}");
    }

    /// `hint: …` on standard error.
    pub(crate) fn hint(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "{} {text}", self.bold("hint:", self.color_err));
    }

    fn bold(&self, text: &str, colour: bool) -> String {
        if colour {
            let bold = Style::new().bold();
            format!("{bold}{text}{bold:#}")
        } else {
            text.to_owned()
        }
    }
}

/// A time for people: `2026-01-31 12:00:00Z`.
pub(crate) fn time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An optional time, `-` when absent.
pub(crate) fn maybe_time(t: Option<OffsetDateTime>) -> String {
    t.map_or_else(|| "-".to_owned(), time)
}

/// A Unix time for people.
pub(crate) fn unix_time(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs).map_or_else(|_| secs.to_string(), time)
}

/// A list for people: `a, b`, or `-` when empty.
pub(crate) fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// An optional value, `-` when absent.
pub(crate) fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}
