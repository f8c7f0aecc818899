//! The flags every leadstream binary shares, on top of the file and the environment.

use std::path::PathBuf;

use clap::Args;
use clap::builder::TypedValueParser;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, Mode};

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Config file (TOML). Optional: without it, defaults and `LEADSTREAM__*` variables apply.
    #[arg(
        long,
        short = 'c',
        env = "LEADSTREAM_CONFIG",
        default_value = "leadstream.toml"
    )]
    pub config: PathBuf,
    /// Where embedded mode keeps its data (overrides `data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Overrides `mode` (default: embedded).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["embedded", "distributed"])
        .try_map(|s: String| parse_mode(&s)))]
    pub mode: Option<Mode>,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "embedded" => Ok(Mode::Embedded),
        "distributed" => Ok(Mode::Distributed),
        other => Err(format!(
            "`{other}` is not a mode; use embedded or distributed"
        )),
    }
}

impl CommonArgs {
    /// File < environment < these flags, validated.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let config = self.load_unvalidated()?;
        config.validate()?;
        Ok(config)
    }

    /// What every binary does first: the validated config, structured logs, and a token that
    /// SIGINT / SIGTERM cancel. Call inside the tokio runtime.
    pub fn start(&self) -> Result<(Config, CancellationToken), ConfigError> {
        owner_only_files();
        let config = self.load()?;
        crate::telemetry::init_tracing(config.log_format);
        // A data directory made before (or by another tool) is closed to others too.
        if config.data_dir.is_dir() {
            use std::os::unix::fs::PermissionsExt;
            if let Err(e) =
                std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            {
                tracing::warn!(error = %e, dir = %config.data_dir.display(), "data directory not made owner-only");
            }
        }
        let shutdown = CancellationToken::new();
        crate::shutdown::cancel_on_signal(shutdown.clone());
        crate::telemetry::serve_admin(&config.security, shutdown.clone()).map_err(|e| {
            crate::config::invalid("security.metrics_listen", format!("cannot listen: {e}"))
        })?;
        Ok((config, shutdown))
    }

    /// File < environment < these flags, validated except for declared workspaces (for the
    /// command that creates them).
    pub fn load_for_workspace_admin(&self) -> Result<Config, ConfigError> {
        owner_only_files();
        let config = self.load_unvalidated()?;
        config.validate_with(false)?;
        Ok(config)
    }

    fn load_unvalidated(&self) -> Result<Config, ConfigError> {
        // The default file name is optional; a file named explicitly must exist.
        let explicit = self.config != std::path::Path::new("leadstream.toml");
        let mut config = Config::load_unvalidated(&self.config, explicit)?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(mode) = self.mode {
            config.mode = mode;
        }
        Ok(config)
    }
}

/// Everything the process creates from here on (the data directory, the log, the store, the
/// registry and key files) is its owner's only: directories 0700, files 0600, whatever umask the
/// process was started with.
pub fn owner_only_files() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}
