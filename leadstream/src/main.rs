//! `leadstream`: the all-in-one binary.
//!
//! - `leadstream serve`: collector on 127.0.0.1:8080, query API on 127.0.0.1:8081, data under
//!   `./leadstream-data`, no infrastructure needed.
//! - `leadstream workspace create NAME`: a new workspace with its write key and API token.
//! - `leadstream workspace list`: the workspaces this config serves.
//! - `leadstream config check | print`: validate a config and say what it would connect to; the
//!   effective config with secrets masked.
//! - `leadstream migrate`: ClickHouse migrations without starting a service.
//! - `leadstream doctor`: can it reach Kafka, ClickHouse and the CRM webhooks; topics; lag.
//! - `leadstream completions SHELL`: shell completions.
//! - `leadstream schema [--out DIR]`: the JSON Schema of the HTTP inputs.

/// mimalloc: the collector and scorer allocate per event; glibc malloc showed up as ~20 % of a
/// profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use leadstream_platform::cli::CommonArgs;
use leadstream_platform::workspaces::{RegistryFile, new_workspace};
use leadstream_platform::{Backends, Mode};

#[derive(Parser)]
#[command(
    name = "leadstream",
    version,
    about = "Behavioural event ingestion and lead scoring"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector, the scorer and the query API in one process.
    Serve {
        #[command(flatten)]
        common: CommonArgs,
        /// Collector address (overrides `ingest.listen`).
        #[arg(long)]
        collector_listen: Option<SocketAddr>,
        /// Query API address (overrides `query.listen`).
        #[arg(long)]
        query_listen: Option<SocketAddr>,
    },
    /// Manage workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Check or print a config.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Create the ClickHouse database when missing and apply pending migrations, then exit.
    Migrate {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Check that Kafka, ClickHouse and the CRM webhooks answer, the topics exist, and how far
    /// the scorers lag; exits 1 when a check fails.
    Doctor {
        #[command(flatten)]
        common: CommonArgs,
        /// One JSON object per check instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 when URL answers 2xx within 5 s, else 1: a container health check without curl
    /// (`leadstream probe http://127.0.0.1:8080/ready`).
    Probe { url: String },
    /// Print shell completions (e.g. `leadstream completions bash > /etc/bash_completion.d/leadstream`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print (or write to a folder) the JSON Schema of the HTTP inputs.
    Schema {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the config (file < LEADSTREAM__* environment < flags) and say what it would
    /// listen on and connect to; exits 1 naming the key at fault.
    Check {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print the effective config as TOML, secrets masked.
    Print {
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// List the workspaces this config serves: declared in the config, and (embedded) created
    /// with `workspace create`.
    List {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Create a workspace with a new write key and API token (shown once).
    Create {
        name: String,
        /// Distributed mode: append the workspace's config block to this file (a deploy's
        /// first start writes its config this way) instead of only printing it.
        #[arg(long)]
        append_to: Option<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve {
            common,
            collector_listen,
            query_listen,
        } => {
            let (mut config, shutdown) = common.start()?;
            if let Some(a) = collector_listen {
                config.ingest.listen = a;
            }
            if let Some(a) = query_listen {
                config.query.listen = a;
            }
            let (collector_addr, query_addr) = (config.ingest.listen, config.query.listen);
            tracing::info!(mode = ?config.mode, data_dir = %config.data_dir.display(), "starting leadstream");
            let backends = Arc::new(Backends::new(config));
            let (registry, created) = backends.workspaces()?;
            if let Some(ws) = &created {
                ws.announce();
            }
            let collector = tokio::net::TcpListener::bind(collector_addr).await?;
            let query = tokio::net::TcpListener::bind(query_addr).await?;
            println!(
                "leadstream is up: collector http://{collector_addr}  query API http://{query_addr}"
            );
            leadstream::serve(backends, Arc::new(registry), collector, query, shutdown).await
        }
        Command::Workspace {
            command:
                WorkspaceCommand::Create {
                    name,
                    append_to,
                    common,
                },
        } => {
            let config = common.load_for_workspace_admin()?;
            let declared: Vec<String> = config.workspaces.iter().map(|w| w.name.clone()).collect();
            if config.mode == Mode::Embedded {
                let ws = RegistryFile::in_dir(&config.data_dir).create(&name, &declared)?;
                ws.announce();
                println!(
                    "saved in {} (a running `leadstream serve` picks it up on restart)",
                    RegistryFile::in_dir(&config.data_dir).path().display()
                );
            } else {
                if declared.contains(&name) {
                    anyhow::bail!("workspace `{name}` is already declared in the config");
                }
                let ws = new_workspace(&name);
                ws.announce();
                match append_to {
                    Some(file) => {
                        use std::io::Write;
                        let mut f = std::fs::OpenOptions::new().append(true).open(&file)?;
                        write!(f, "\n{}", ws.toml_block())?;
                        println!("its config block is appended to {}", file.display());
                    }
                    None => println!(
                        "\ndistributed mode reads workspaces from the config; add this to every instance's leadstream.toml:\n\n{}",
                        ws.toml_block()
                    ),
                }
            }
            Ok(())
        }
        Command::Workspace {
            command: WorkspaceCommand::List { common },
        } => {
            let config = common.load_for_workspace_admin()?;
            for ws in &config.workspaces {
                println!("{}\tdeclared in the config", ws.name);
            }
            if config.mode == Mode::Embedded {
                let file = RegistryFile::in_dir(&config.data_dir);
                for ws in file.read()? {
                    println!("{}\tin {}", ws.name, file.path().display());
                }
            }
            Ok(())
        }
        Command::Config { command } => match command {
            ConfigCommand::Check { common } => match common.load() {
                Ok(config) => {
                    println!("{}: valid", common.config.display());
                    println!("{}", leadstream::admin::config::describe(&config));
                    Ok(())
                }
                Err(e) => {
                    eprintln!("{}: {e}", common.config.display());
                    std::process::exit(1);
                }
            },
            ConfigCommand::Print { common } => {
                let config = common.load_for_workspace_admin()?;
                print!("{}", leadstream::admin::config::print(&config)?);
                Ok(())
            }
        },
        Command::Migrate { common } => {
            let config = common.load_for_workspace_admin()?;
            println!("{}", leadstream::admin::run_migrations(&config).await?);
            Ok(())
        }
        Command::Doctor { common, json } => {
            let config = common.load_for_workspace_admin()?;
            let checks = leadstream::admin::doctor::run(&config).await;
            for check in &checks {
                if json {
                    println!("{}", serde_json::to_string(check)?);
                } else {
                    println!("{}", check.line());
                }
            }
            let failed = checks
                .iter()
                .filter(|c| c.status == leadstream::admin::doctor::Status::Fail)
                .count();
            if failed > 0 {
                eprintln!("{failed} check(s) failed");
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Probe { url } => {
            let answer = leadstream_platform::webhook::client()
                .get(&url)
                .timeout(std::time::Duration::from_secs(5))
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => {
                    eprintln!("{url}: HTTP {}", r.status().as_u16());
                    std::process::exit(1);
                }
                Err(e) => {
                    eprintln!("{url}: {e}");
                    std::process::exit(1);
                }
            }
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "leadstream",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Schema { out } => {
            for (name, text) in leadstream_schemas::json_schema::published() {
                match &out {
                    Some(dir) => {
                        std::fs::create_dir_all(dir)?;
                        std::fs::write(dir.join(name), text)?;
                    }
                    None => println!("// {name}\n{text}"),
                }
            }
            Ok(())
        }
    }
}
