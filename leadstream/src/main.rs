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
//! - `leadstream replay --workspace W`: write again from the events log what the store lost.
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
    /// Issue, list and revoke API tokens (through the query API).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
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
    /// Write again what the store lost (restored from an older backup, dropped by mistake) of a
    /// workspace, from the events log: each partition from the beginning (or `--since`) up to
    /// the scorers' committed position, skipping what the stored profiles have. Stop the scorers
    /// first. Safe to interrupt and re-run.
    Replay {
        #[command(flatten)]
        common: CommonArgs,
        /// The workspace to restore.
        #[arg(long)]
        workspace: String,
        /// Kafka only: start at the first record the broker stamped at or after this time
        /// (RFC 3339, e.g. 2026-12-01T00:00:00Z); pick one before the store's loss began.
        #[arg(long)]
        since: Option<String>,
        /// Say what would be read, and read nothing.
        #[arg(long)]
        dry_run: bool,
        /// Every scorer is stopped: needed only with a broker that cannot describe the scorers'
        /// consumer group (the replay refuses to guess).
        #[arg(long)]
        scorers_stopped: bool,
        /// The report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Bring people in from outside.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
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
enum ImportCommand {
    /// Create (or update) a profile per row of a CSV of prospects (a trade-show scan, a
    /// purchased list): each row is an identify call to the running collector, the id column as
    /// the user id and the other columns as traits. Safe to interrupt and re-run.
    Prospects {
        /// The CSV file, with a header row.
        file: PathBuf,
        /// The collector's address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        collector: String,
        /// A write key of the workspace the people belong to.
        #[arg(long, env = "LEADSTREAM_WRITE_KEY")]
        write_key: String,
        /// The column that identifies a person (their user id).
        #[arg(long, default_value = "email")]
        id_column: String,
        /// Set as every imported person's `lead_source` trait.
        #[arg(long)]
        source: Option<String>,
        /// Rows per request.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=2000))]
        batch: u16,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
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

/// Where the query API is and the read-write token that manages tokens.
#[derive(clap::Args)]
struct QueryApi {
    /// The query API's address.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    query_api: String,
    /// A read-write API token of the workspace.
    #[arg(long, env = "LEADSTREAM_API_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TokenScope {
    Read,
    ReadWrite,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue an API token (shown once) through the query API.
    Issue {
        /// What it is for (shown in `token list`).
        name: String,
        #[arg(long, value_enum, default_value = "read")]
        scope: TokenScope,
        /// Days until it stops working (1 to 3650); none: until revoked.
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        api: QueryApi,
    },
    /// List the workspace's issued tokens (names, scopes, last four characters).
    List {
        #[command(flatten)]
        api: QueryApi,
    },
    /// Revoke an issued token by its id (from `token list`).
    Revoke {
        id: String,
        #[command(flatten)]
        api: QueryApi,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Add a new write key to an embedded workspace (the old ones keep working until revoked).
    RotateKey {
        name: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Remove a write key from an embedded workspace (not its last one).
    RevokeKey {
        name: String,
        key: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Remove an embedded workspace: its keys and tokens stop working at the next start; its
    /// data stays in the store.
    Delete {
        name: String,
        /// Confirm.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
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
        Command::Workspace {
            command: WorkspaceCommand::RotateKey { name, common },
        } => {
            let config = common.load_for_workspace_admin()?;
            if config.mode == Mode::Distributed {
                let key = leadstream_platform::workspaces::new_workspace(&name).write_key;
                println!(
                    "distributed mode reads workspaces from the config: add\n  {key}\nto workspace `{name}`'s write_keys in every instance's config, restart them, move the clients over, then remove the old key"
                );
                return Ok(());
            }
            let key = RegistryFile::in_dir(&config.data_dir).rotate_key(&name)?;
            println!("new write key for `{name}` (shown once): {key}");
            println!(
                "the old keys keep working until `leadstream workspace revoke-key {name} KEY`; a running `leadstream serve` picks this up on restart"
            );
            Ok(())
        }
        Command::Workspace {
            command: WorkspaceCommand::RevokeKey { name, key, common },
        } => {
            let config = common.load_for_workspace_admin()?;
            if config.mode == Mode::Distributed {
                anyhow::bail!(
                    "distributed mode reads workspaces from the config: remove the key from workspace `{name}`'s write_keys there"
                );
            }
            RegistryFile::in_dir(&config.data_dir).revoke_key(&name, &key)?;
            println!("revoked; effective at the next start of `leadstream serve`");
            Ok(())
        }
        Command::Workspace {
            command: WorkspaceCommand::Delete { name, yes, common },
        } => {
            let config = common.load_for_workspace_admin()?;
            if config.mode == Mode::Distributed {
                anyhow::bail!(
                    "distributed mode reads workspaces from the config: remove workspace `{name}`'s block there"
                );
            }
            if !yes {
                anyhow::bail!(
                    "deleting workspace `{name}` stops its keys and tokens; run again with --yes to confirm"
                );
            }
            RegistryFile::in_dir(&config.data_dir).delete(&name)?;
            println!(
                "workspace `{name}` removed from the registry (its data stays in the store); effective at the next start"
            );
            Ok(())
        }
        Command::Token { command } => leadstream::admin::tokens::run(match command {
            TokenCommand::Issue {
                name,
                scope,
                expires_in_days,
                api,
            } => leadstream::admin::tokens::Call::Issue {
                base: api.query_api,
                token: api.token,
                name,
                read_write: matches!(scope, TokenScope::ReadWrite),
                expires_in_days,
            },
            TokenCommand::List { api } => leadstream::admin::tokens::Call::List {
                base: api.query_api,
                token: api.token,
            },
            TokenCommand::Revoke { id, api } => leadstream::admin::tokens::Call::Revoke {
                base: api.query_api,
                token: api.token,
                id,
            },
        })
        .await
        .map(|text| println!("{text}")),
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
        Command::Replay {
            common,
            workspace,
            since,
            dry_run,
            scorers_stopped,
            json,
        } => {
            let config = common.load_for_workspace_admin()?;
            let since_ms = since
                .map(|s| {
                    chrono::DateTime::parse_from_rfc3339(&s)
                        .map(|t| t.timestamp_millis())
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "--since {s}: {e} (RFC 3339, e.g. 2026-12-01T00:00:00Z)"
                            )
                        })
                })
                .transpose()?;
            let stop = tokio_util::sync::CancellationToken::new();
            let token = stop.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("stopping: writing what was read");
                    token.cancel();
                }
            });
            let options = leadstream::admin::replay::Options {
                workspace: &workspace,
                since_ms,
                dry_run,
                scorers_stopped,
                progress: !json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let report = leadstream::admin::replay::run(&config, &options, stop).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", leadstream::admin::replay::describe(&report));
            }
            if report.interrupted {
                std::process::exit(130);
            }
            Ok(())
        }
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
        Command::Import {
            command:
                ImportCommand::Prospects {
                    file,
                    collector,
                    write_key,
                    id_column,
                    source,
                    batch,
                    json,
                },
        } => {
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("stopping after the batch in flight");
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            });
            let options = leadstream::admin::import::Options {
                collector: &collector,
                write_key: &write_key,
                id_column: &id_column,
                source: source.as_deref(),
                batch: usize::from(batch),
            };
            let report = leadstream::admin::import::prospects(&file, &options, stop).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{} rows: {} accepted, {} refused, {} without a `{id_column}`{}",
                    report.rows,
                    report.accepted,
                    report.refused.len(),
                    report.skipped.len(),
                    if report.interrupted {
                        " (interrupted: run it again to finish)"
                    } else {
                        ""
                    }
                );
                for (line, why) in &report.refused {
                    println!("  line {line}: {why}");
                }
                if !report.skipped.is_empty() {
                    let lines: Vec<String> = report.skipped.iter().map(usize::to_string).collect();
                    println!("  no {id_column} on line(s) {}", lines.join(", "));
                }
            }
            if report.interrupted {
                std::process::exit(130);
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
