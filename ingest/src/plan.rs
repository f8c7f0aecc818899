//! The workspaces' tracking plans (`ingest.tracking_plans`), as intake applies them: read at
//! start (an invalid file stops the start, with its line), re-read when a file changes (an invalid
//! change is refused with its line in the log and counted; the last good plan stays in force).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use leadstream_schemas::Event;
use leadstream_schemas::plan::{Plan, PlanError, Verdict};
use tokio_util::sync::CancellationToken;

use crate::metrics;

/// Every workspace's plan, by workspace.
#[derive(Default)]
pub struct Plans {
    files: Vec<(String, PathBuf)>,
    current: RwLock<HashMap<String, Arc<Plan>>>,
}

fn load(path: &std::path::Path) -> Result<Plan, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError {
        line: None,
        message: e.to_string(),
    })?;
    Plan::parse(&text)
}

fn modified(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())))
}

impl Plans {
    /// Reads every configured plan; the error names the workspace, the file and the line.
    pub fn load(files: &std::collections::BTreeMap<String, PathBuf>) -> anyhow::Result<Plans> {
        let mut current = HashMap::new();
        for (workspace, path) in files {
            let plan = load(path).map_err(|e| {
                anyhow::anyhow!("ingest.tracking_plans.{workspace}: {}: {e}", path.display())
            })?;
            current.insert(workspace.clone(), Arc::new(plan));
        }
        Ok(Plans {
            files: files.iter().map(|(w, p)| (w.clone(), p.clone())).collect(),
            current: RwLock::new(current),
        })
    }

    /// Whether any workspace has a plan.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// What `workspace`'s plan says of `event` (`None`: no plan, or the plan does not name it).
    pub fn check(&self, workspace: &str, event: &Event) -> Option<Verdict> {
        if self.files.is_empty() {
            return None;
        }
        let plan = self.current.read().ok()?.get(workspace).cloned()?;
        plan.check(event)
    }

    /// Re-reads a plan whose file changed, every `every`, until `shutdown`.
    pub fn watch(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        if self.files.is_empty() {
            return;
        }
        tokio::spawn(async move {
            let mut seen: Vec<_> = self.files.iter().map(|(_, p)| modified(p)).collect();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                for (i, (workspace, path)) in self.files.iter().enumerate() {
                    let now = modified(path);
                    if now == seen[i] {
                        continue;
                    }
                    seen[i] = now;
                    self.reload(workspace, path);
                }
            }
        });
    }

    fn reload(&self, workspace: &str, path: &std::path::Path) {
        match load(path) {
            Ok(plan) => {
                if let Ok(mut current) = self.current.write() {
                    current.insert(workspace.to_string(), Arc::new(plan));
                }
                metrics::PLAN_RELOADS.with_label_values(&["ok"]).inc();
                tracing::info!(workspace, path = %path.display(), "tracking plan reloaded");
            }
            Err(e) => {
                metrics::PLAN_RELOADS.with_label_values(&["refused"]).inc();
                tracing::error!(workspace, path = %path.display(), error = %e, "tracking plan refused; the last good plan stays in force");
            }
        }
    }
}
