//! Builds the log and store implementations the config's `mode` asks for. Services receive trait
//! objects and never know which they hold.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::config::{Config, Mode};
use crate::failed::{EmbeddedFailed, FailedEvents, FailedSink, LogSink};
use crate::log::embedded::EmbeddedLog;
use crate::log::kafka::{KafkaConsumer, KafkaLog, ensure_topic};
use crate::log::spooled::SpooledLog;
use crate::log::{EventLog, LogConsumer, LogError};
use crate::store::clickhouse::ClickhouseStore;
use crate::store::embedded::EmbeddedStore;
use crate::store::{Store, StoreError};
use crate::workspaces::{CreatedWorkspace, Registry, RegistryError, RegistryFile};

/// The consumer group name of the scorer on the embedded log.
pub const EMBEDDED_SCORER_GROUP: &str = "scorer";

/// Lazily opened backends, shared by the services of one process.
pub struct Backends {
    config: Config,
    embedded_log: OnceCell<EmbeddedLog>,
    /// Embedded side logs (hand-offs, dead letters) by directory name: one handle per file.
    side_logs: std::sync::Mutex<std::collections::HashMap<String, EmbeddedLog>>,
    store: OnceCell<Arc<dyn Store>>,
    embedded_failed: OnceCell<EmbeddedFailed>,
    failed: OnceCell<Arc<dyn FailedEvents>>,
}

/// The scorer's other logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideLog {
    /// `lead.qualified` records for sales.
    Handoffs,
    /// Log messages the scorer could not decode.
    DeadLetters,
    /// Events the collector refused (distributed: their topic; embedded keeps them in
    /// [`crate::failed::EmbeddedFailed`] instead).
    FailedEvents,
}

impl Backends {
    pub fn new(config: Config) -> Backends {
        Backends {
            config,
            embedded_log: OnceCell::new(),
            side_logs: Default::default(),
            store: OnceCell::new(),
            embedded_failed: OnceCell::new(),
            failed: OnceCell::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    async fn embedded(&self) -> Result<&EmbeddedLog, LogError> {
        let dir = self.config.data_dir.join("log");
        self.embedded_log
            .get_or_try_init(|| async move { EmbeddedLog::open(&dir) })
            .await
    }

    /// The producing side of the log.
    pub async fn log(&self) -> Result<Arc<dyn EventLog>, LogError> {
        match self.config.mode {
            Mode::Embedded => Ok(Arc::new(self.embedded().await?.clone())),
            Mode::Distributed => {
                let spool = &self.config.ingest.spool;
                if self.config.kafka.create_topics {
                    let created =
                        ensure_topic(&self.config.kafka, &self.config.kafka.events_topic).await;
                    match created {
                        // With a spool the collector can start during a broker outage.
                        Err(e) if spool.enabled => {
                            tracing::warn!(error = %e, "cannot reach the broker at start; events will be spooled");
                        }
                        other => other?,
                    }
                }
                let kafka = KafkaLog::new(&self.config.kafka)?;
                if !spool.enabled {
                    return Ok(Arc::new(kafka));
                }
                let dir = spool
                    .dir
                    .clone()
                    .unwrap_or_else(|| self.config.data_dir.join("spool"));
                Ok(Arc::new(SpooledLog::open(kafka, &dir, spool)?))
            }
        }
    }

    /// The events log for writers other than the collector (the scorer's own control records,
    /// the query API's CRM calls): embedded, the same log; distributed, a producer without the
    /// collector's spool (these writers retry, or answer 503, when the broker is away).
    pub async fn plain_log(&self) -> Result<Arc<dyn EventLog>, LogError> {
        match self.config.mode {
            Mode::Embedded => Ok(Arc::new(self.embedded().await?.clone())),
            Mode::Distributed => {
                if self.config.kafka.create_topics {
                    ensure_topic(&self.config.kafka, &self.config.kafka.events_topic).await?;
                }
                Ok(Arc::new(KafkaLog::new(&self.config.kafka)?))
            }
        }
    }

    fn side_embedded(&self, which: SideLog) -> Result<EmbeddedLog, LogError> {
        let name = match which {
            SideLog::Handoffs => "handoffs",
            SideLog::DeadLetters => "dead-letters",
            SideLog::FailedEvents => "failed-events-log",
        };
        let mut logs = self.side_logs.lock().map_err(|_| LogError::Closed)?;
        if let Some(log) = logs.get(name) {
            return Ok(log.clone());
        }
        let log = EmbeddedLog::open(&self.config.data_dir.join(name))?;
        logs.insert(name.to_string(), log.clone());
        Ok(log)
    }

    fn side_topic(&self, which: SideLog) -> &str {
        match which {
            SideLog::Handoffs => &self.config.scorer.handoff_topic,
            SideLog::DeadLetters => &self.config.scorer.dead_letter_topic,
            SideLog::FailedEvents => &self.config.ingest.failed_events_topic,
        }
    }

    /// The producing side of a side log.
    pub async fn side_log(&self, which: SideLog) -> Result<Arc<dyn EventLog>, LogError> {
        match self.config.mode {
            Mode::Embedded => Ok(Arc::new(self.side_embedded(which)?)),
            Mode::Distributed => {
                let topic = self.side_topic(which);
                if self.config.kafka.create_topics {
                    ensure_topic(&self.config.kafka, topic).await?;
                }
                Ok(Arc::new(KafkaLog::for_topic(&self.config.kafka, topic)?))
            }
        }
    }

    /// A consumer of a side log as `group` (operators, the CRM sender, tests).
    pub async fn side_consumer(
        &self,
        which: SideLog,
        group: &str,
    ) -> Result<Box<dyn LogConsumer>, LogError> {
        match self.config.mode {
            Mode::Embedded => Ok(Box::new(self.side_embedded(which)?.consumer(group)?)),
            Mode::Distributed => {
                let topic = self.side_topic(which);
                if self.config.kafka.create_topics {
                    ensure_topic(&self.config.kafka, topic).await?;
                }
                let mut kafka = self.config.kafka.clone();
                kafka.consumer_group = group.to_string();
                Ok(Box::new(KafkaConsumer::for_topic(&kafka, topic)?))
            }
        }
    }

    /// The consuming side of the log, for the scorer.
    pub async fn consumer(&self) -> Result<Box<dyn LogConsumer>, LogError> {
        match self.config.mode {
            Mode::Embedded => Ok(Box::new(
                self.embedded().await?.consumer(EMBEDDED_SCORER_GROUP)?,
            )),
            Mode::Distributed => {
                if self.config.kafka.create_topics {
                    ensure_topic(&self.config.kafka, &self.config.kafka.events_topic).await?;
                }
                Ok(Box::new(KafkaConsumer::new(&self.config.kafka)?))
            }
        }
    }

    /// The profile store.
    pub async fn store(&self) -> Result<Arc<dyn Store>, StoreError> {
        self.store
            .get_or_try_init(|| async {
                let store: Arc<dyn Store> = match self.config.mode {
                    Mode::Embedded => {
                        Arc::new(EmbeddedStore::open(&self.config.data_dir.join("store"))?)
                    }
                    Mode::Distributed => {
                        Arc::new(ClickhouseStore::connect(&self.config.clickhouse).await?)
                    }
                };
                Ok(store)
            })
            .await
            .cloned()
    }

    async fn embedded_failed(&self) -> Result<&EmbeddedFailed, StoreError> {
        let dir = self.config.data_dir.join("failed-events");
        self.embedded_failed
            .get_or_try_init(|| async move { EmbeddedFailed::open(&dir) })
            .await
    }

    /// Where the collector keeps what it refused: embedded, the failed-events file; distributed,
    /// the failed-events topic (the scorer service moves it into ClickHouse).
    pub async fn failed_sink(&self) -> Result<Arc<dyn FailedSink>, LogError> {
        match self.config.mode {
            Mode::Embedded => Ok(Arc::new(
                self.embedded_failed()
                    .await
                    .map_err(|e| LogError::Unavailable(e.to_string()))?
                    .clone(),
            )),
            Mode::Distributed => Ok(Arc::new(LogSink(
                self.side_log(SideLog::FailedEvents).await?,
            ))),
        }
    }

    /// Where failed events are listed, annotated with replays and purged.
    pub async fn failed_events(&self) -> Result<Arc<dyn FailedEvents>, StoreError> {
        self.failed
            .get_or_try_init(|| async {
                let failed: Arc<dyn FailedEvents> = match self.config.mode {
                    Mode::Embedded => Arc::new(self.embedded_failed().await?.clone()),
                    Mode::Distributed => {
                        // The store's connection applies the migrations once.
                        self.store().await?;
                        let mut config = self.config.clickhouse.clone();
                        config.migrate = false;
                        Arc::new(ClickhouseStore::connect(&config).await?)
                    }
                };
                Ok(failed)
            })
            .await
            .cloned()
    }

    /// The workspaces: declared in the config, plus (embedded) the data directory's registry.
    /// In embedded mode with none at all, creates `default` and returns its credentials once.
    pub fn workspaces(&self) -> Result<(Registry, Option<CreatedWorkspace>), RegistryError> {
        let file = RegistryFile::in_dir(&self.config.data_dir);
        let stored = if self.config.mode == Mode::Embedded {
            file.read()?
        } else {
            Vec::new()
        };
        let mut created = None;
        let stored = if self.config.mode == Mode::Embedded
            && stored.is_empty()
            && self.config.workspaces.is_empty()
        {
            created = Some(file.create("default", &[])?);
            file.read()?
        } else {
            stored
        };
        Ok((
            Registry::from_parts(&self.config.workspaces, &stored),
            created,
        ))
    }
}
