//! `leadstream`: the all-in-one binary.
//!
//! - `leadstream serve`: collector on 127.0.0.1:8080, query API on 127.0.0.1:8081, data under
//!   `./leadstream-data`, no infrastructure needed.
//! - `leadstream workspace create NAME`: a new workspace with its write key and API token.
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
    /// Print (or write to a folder) the JSON Schema of the HTTP inputs.
    Schema {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace with a new write key and API token (shown once).
    Create {
        name: String,
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
            command: WorkspaceCommand::Create { name, common },
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
                println!(
                    "\ndistributed mode reads workspaces from the config; add this to every instance's leadstream.toml:\n\n{}",
                    ws.toml_block()
                );
            }
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
