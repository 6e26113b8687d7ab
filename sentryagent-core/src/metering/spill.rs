//! Usage spill files: one JSON document per shutdown that could not store
//! its counts, written under a temporary name and renamed into place, so a
//! reader never sees half a file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::Date;

use super::model::Key;
use crate::TenantId;

const PREFIX: &str = "usage-";
const SUFFIX: &str = ".json";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Batch {
    /// The batch's id: the store records it with the counts.
    pub(crate) batch: String,
    #[serde(with = "crate::time::rfc3339")]
    pub(crate) written_at: time::OffsetDateTime,
    pub(crate) counts: Vec<Count>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Count {
    pub(crate) tenant_id: TenantId,
    #[serde(with = "day")]
    pub(crate) day: Date,
    pub(crate) metric: String,
    pub(crate) count: u64,
}

mod day {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::macros::format_description;

    pub(crate) fn serialize<S: Serializer>(day: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(day)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text, format_description!("[year]-[month]-[day]")).map_err(serde::de::Error::custom)
    }
}

/// Writes `counts` as a new batch file in `dir` (made if missing).
pub(crate) fn write(dir: &Path, counts: &[(Key, u64)]) -> std::io::Result<PathBuf> {
    let batch = Batch {
        batch: uuid::Uuid::now_v7().to_string(),
        written_at: crate::time::now(),
        counts: counts
            .iter()
            .map(|((tenant, day, metric), n)| Count {
                tenant_id: *tenant,
                day: *day,
                metric: (*metric).to_owned(),
                count: *n,
            })
            .collect(),
    };
    std::fs::create_dir_all(dir)?;
    let file = dir.join(format!("{PREFIX}{}{SUFFIX}", batch.batch));
    let partial = file.with_extension("json.partial");
    let mut out = std::fs::File::create(&partial)?;
    out.write_all(&serde_json::to_vec_pretty(&batch)?)?;
    out.sync_all()?;
    std::fs::rename(&partial, &file)?;
    Ok(file)
}

/// Every batch file in `dir` that parses; one that does not is logged
/// and left alone.
pub(crate) fn read_all(dir: &Path) -> Vec<(PathBuf, Batch)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut batches = Vec::new();
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX));
        if !named {
            continue;
        }
        match std::fs::read(&path).map(|bytes| serde_json::from_slice::<Batch>(&bytes)) {
            Ok(Ok(batch)) => batches.push((path, batch)),
            Ok(Err(e)) => {
                tracing::error!(file = %path.display(), error = %e, "a usage spill file does not parse; left alone")
            }
            // Taken by another instance meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!(file = %path.display(), error = %e, "cannot read a usage spill file"),
        }
    }
    batches.sort_by(|a, b| a.0.cmp(&b.0));
    batches
}
