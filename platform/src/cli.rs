//! The flags every leadstream binary shares, on top of the file and the environment.

use std::path::PathBuf;

use clap::Args;
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
    /// `embedded` (default) or `distributed` (overrides `mode`).
    #[arg(long, value_parser = parse_mode)]
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
        let config = self.load()?;
        crate::telemetry::init_tracing(config.log_format);
        let shutdown = CancellationToken::new();
        crate::shutdown::cancel_on_signal(shutdown.clone());
        Ok((config, shutdown))
    }

    /// File < environment < these flags, validated except for declared workspaces (for the
    /// command that creates them).
    pub fn load_for_workspace_admin(&self) -> Result<Config, ConfigError> {
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
