//! Profiles: API URLs and client credentials in
//! `$XDG_CONFIG_HOME/sentryagent/profiles.toml` (`~/.config/…` by default),
//! a file only its owner may read (mode 0600, refused otherwise, as ssh does).
//!
//! What a command uses, first found wins: `--url`/`SENTRYAGENT_URL`, then
//! `SENTRYAGENT_CLIENT_ID` and `SENTRYAGENT_CLIENT_SECRET`, then the profile
//! (`--profile`/`SENTRYAGENT_PROFILE`, else the file's default, else
//! `default`). With all three in the environment no file is needed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::CliError;

/// One stored profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Profile {
    pub(crate) url: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
}

/// The profiles file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Profiles {
    /// The profile used without `--profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) default_profile: Option<String>,
    #[serde(default)]
    pub(crate) profiles: BTreeMap<String, Profile>,
}

/// Where the profiles live.
pub(crate) fn path() -> Result<PathBuf, CliError> {
    use etcetera::BaseStrategy;
    let base = etcetera::choose_base_strategy()
        .map_err(|e| CliError::Usage(format!("cannot find your config directory: {e}")))?;
    Ok(base.config_dir().join("sentryagent").join("profiles.toml"))
}

impl Profiles {
    /// The file's profiles; none when there is no file.
    pub(crate) fn load(path: &Path) -> Result<Self, CliError> {
        let bad = |msg: String| CliError::Usage(format!("{}: {msg}", path.display()));
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(bad(format!("cannot read it: {e}"))),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| bad(format!("cannot read it: {e}")))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(bad(format!(
                    "holds client secrets but others may read it (mode {mode:04o}); run `chmod 600 {}`",
                    path.display()
                )));
            }
        }
        toml::from_str(&text).map_err(|e| bad(format!("is not a valid profiles file: {}", e.message())))
    }

    /// Writes the file with mode 0600 (its directory 0700), replacing it whole.
    pub(crate) fn save(&self, path: &Path) -> Result<(), CliError> {
        let failed = |e: std::io::Error| CliError::Io(format!("cannot write {}: {e}", path.display()));
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(failed)?;
        let text = toml::to_string(self).map_err(|e| CliError::Io(format!("cannot encode the profiles: {e}")))?;
        // Write beside it and rename, so a crash never leaves half a file.
        let tmp = path.with_extension("toml.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(failed)?;
        file.write_all(text.as_bytes()).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&tmp, path).map_err(failed)
    }

    /// The name of the profile to use.
    pub(crate) fn current(&self, chosen: Option<&str>) -> String {
        chosen
            .map(str::to_owned)
            .or_else(|| self.default_profile.clone())
            .unwrap_or_else(|| "default".to_owned())
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// What a command connects with.
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) credentials: Option<(String, String)>,
}

/// The URL and credentials to use: flags and environment over the profile.
/// `need_credentials`: the command makes management calls.
pub(crate) fn resolve(profile: Option<&str>, url: Option<&str>, need_credentials: bool) -> Result<Settings, CliError> {
    let env_id = env("SENTRYAGENT_CLIENT_ID");
    let env_secret = env("SENTRYAGENT_CLIENT_SECRET");
    let complete_without_file =
        profile.is_none() && url.is_some() && (!need_credentials || (env_id.is_some() && env_secret.is_some()));
    let stored = if complete_without_file {
        None
    } else {
        let path = path()?;
        let profiles = Profiles::load(&path)?;
        let name = profiles.current(profile);
        match profiles.profiles.get(&name) {
            Some(p) => Some(p.clone()),
            None if profile.is_some() => {
                return Err(CliError::Usage(format!(
                    "no profile `{name}` in {}; create it with `sentryagent login --profile {name} --url URL`",
                    path.display()
                )));
            }
            None => None,
        }
    };
    let url = url
        .map(str::to_owned)
        .or_else(|| stored.as_ref().map(|p| p.url.clone()))
        .ok_or_else(|| {
            CliError::Usage(
                "no API URL: run `sentryagent login --url URL` or set SENTRYAGENT_URL (e.g. http://127.0.0.1:3000/api/v1)"
                    .into(),
            )
        })?;
    let id = env_id.or_else(|| stored.as_ref().map(|p| p.client_id.clone()));
    let secret = env_secret.or_else(|| stored.as_ref().map(|p| p.client_secret.clone()));
    let credentials = match (id, secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        _ if need_credentials => {
            return Err(CliError::Usage(
                "no client credentials: run `sentryagent login` or set SENTRYAGENT_CLIENT_ID and SENTRYAGENT_CLIENT_SECRET"
                    .into(),
            ));
        }
        _ => None,
    };
    Ok(Settings { url, credentials })
}
