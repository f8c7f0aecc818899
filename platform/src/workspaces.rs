//! Workspaces, their write keys (collector) and API tokens (query API).
//!
//! Workspaces come from the config file and, in embedded mode, from `workspaces.json` in the data
//! directory, which the first start creates (a `default` workspace) and `leadstream workspace
//! create` extends. Tokens are kept only as SHA-256 hashes; a new token is shown once, when made.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::WorkspaceConfig;

pub const REGISTRY_FILE: &str = "workspaces.json";

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_secret(prefix: &str) -> String {
    let bytes: [u8; 20] = rand::rng().random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// What a query API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Query only.
    Read,
    /// Query, and change segments, lists, campaigns, tokens, and tell leadstream what the CRM did.
    ReadWrite,
}

/// One workspace as the registry file stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredWorkspace {
    pub name: String,
    pub write_keys: Vec<String>,
    pub api_token_sha256: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_token_sha256: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_write_keys: Vec<String>,
}

/// A newly created workspace, with its token in the clear (the only time it is).
#[derive(Debug, Clone)]
pub struct CreatedWorkspace {
    pub name: String,
    pub write_key: String,
    pub api_token: String,
}

impl CreatedWorkspace {
    /// Prints the credentials on standard output, the one time they are shown.
    pub fn announce(&self) {
        println!(
            "workspace `{}` created. Keep these; the token is not shown again.",
            self.name
        );
        println!("  write key (collector):  {}", self.write_key);
        println!("  API token (query API):  {}", self.api_token);
    }

    /// The block to paste into `leadstream.toml`.
    pub fn toml_block(&self) -> String {
        format!(
            "[[workspaces]]\nname = \"{}\"\nwrite_keys = [\"{}\"]\napi_token_sha256 = [\"{}\"]\n",
            self.name,
            self.write_key,
            hash_token(&self.api_token)
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("workspace registry {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("workspace registry {path} is not valid: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("workspace name `{0}` must be 1-64 characters of a-z, 0-9, '-' and '_'")]
    BadName(String),
    #[error("workspace `{0}` exists already")]
    Exists(String),
    #[error(
        "no workspace `{0}` in the registry (workspaces declared in the config are changed there)"
    )]
    NotFound(String),
    #[error("workspace `{0}` has no such write key")]
    NoSuchKey(String),
    #[error("that is workspace `{0}`'s last write key: rotate first, then revoke the old one")]
    LastKey(String),
}

/// The lower-cased host of a site URL (`https://acme.example/` or a bare `acme.example`).
pub fn site_host(site: &str) -> Option<String> {
    let site = site.trim();
    let url = if site.contains("://") {
        url::Url::parse(site)
    } else {
        url::Url::parse(&format!("https://{site}"))
    };
    url.ok()?.host_str().map(str::to_ascii_lowercase)
}

/// Lookup from credentials to workspace name.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    /// Write key → (workspace, whether the key is public).
    by_write_key: HashMap<String, (String, bool)>,
    by_token_hash: HashMap<String, (String, Scope)>,
    names: Vec<String>,
    /// What the config declares of a workspace besides its credentials.
    settings: HashMap<String, WorkspaceSettings>,
}

/// A declared workspace's settings besides its credentials (workspaces only in the registry
/// file have none).
#[derive(Debug, Default, Clone)]
pub struct WorkspaceSettings {
    /// The host of its `site`.
    pub site_host: Option<String>,
    pub link_domains: Vec<String>,
    pub email_webhook_secret: Option<String>,
    pub sms_webhook_secret: Option<String>,
}

impl WorkspaceSettings {
    /// Whether a minted link may point to `host`: the site's host or a subdomain of it, one of
    /// `link_domains` or `also` (`*.x` also takes subdomains of `x`).
    pub fn link_allowed(&self, host: &str, also: &[String]) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        if self.site_host.as_deref().is_some_and(under) {
            return true;
        }
        self.link_domains.iter().chain(also).any(|d| {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            match d.strip_prefix("*.") {
                Some(parent) => under(parent),
                None => host == d,
            }
        })
    }
}

impl Registry {
    pub fn from_parts(declared: &[WorkspaceConfig], stored: &[StoredWorkspace]) -> Registry {
        let mut r = Registry::default();
        for ws in declared {
            r.names.push(ws.name.clone());
            r.settings.insert(
                ws.name.clone(),
                WorkspaceSettings {
                    site_host: ws.site.as_deref().and_then(site_host),
                    link_domains: ws.link_domains.clone(),
                    email_webhook_secret: ws.email_webhook_secret.clone(),
                    sms_webhook_secret: ws.sms_webhook_secret.clone(),
                },
            );
            for k in &ws.write_keys {
                r.by_write_key.insert(k.clone(), (ws.name.clone(), false));
            }
            for k in &ws.public_write_keys {
                r.by_write_key.insert(k.clone(), (ws.name.clone(), true));
            }
            let plain = [
                (&ws.api_tokens, Scope::ReadWrite),
                (&ws.read_tokens, Scope::Read),
            ];
            for (tokens, scope) in plain {
                for t in tokens {
                    r.by_token_hash
                        .insert(hash_token(t), (ws.name.clone(), scope));
                }
            }
            let hashed = [
                (&ws.api_token_sha256, Scope::ReadWrite),
                (&ws.read_token_sha256, Scope::Read),
            ];
            for (hashes, scope) in hashed {
                for h in hashes {
                    r.by_token_hash
                        .insert(h.to_ascii_lowercase(), (ws.name.clone(), scope));
                }
            }
        }
        for ws in stored {
            if !r.names.contains(&ws.name) {
                r.names.push(ws.name.clone());
            }
            for (keys, public) in [(&ws.write_keys, false), (&ws.public_write_keys, true)] {
                for k in keys {
                    r.by_write_key
                        .entry(k.clone())
                        .or_insert_with(|| (ws.name.clone(), public));
                }
            }
            let hashed = [
                (&ws.api_token_sha256, Scope::ReadWrite),
                (&ws.read_token_sha256, Scope::Read),
            ];
            for (hashes, scope) in hashed {
                for h in hashes {
                    r.by_token_hash
                        .entry(h.clone())
                        .or_insert_with(|| (ws.name.clone(), scope));
                }
            }
        }
        r
    }

    /// The workspace a write key belongs to.
    pub fn workspace_for_write_key(&self, key: &str) -> Option<&str> {
        self.write_key(key).map(|(w, _)| w)
    }

    /// The workspace of a write key, and whether the key is public (meant for web pages).
    pub fn write_key(&self, key: &str) -> Option<(&str, bool)> {
        self.by_write_key.get(key).map(|(w, p)| (w.as_str(), *p))
    }

    /// The workspace an API token belongs to.
    pub fn workspace_for_token(&self, token: &str) -> Option<&str> {
        self.token(token).map(|(w, _)| w)
    }

    /// The workspace and scope of a configured API token.
    pub fn token(&self, token: &str) -> Option<(&str, Scope)> {
        self.by_token_hash
            .get(&hash_token(token))
            .map(|(w, s)| (w.as_str(), *s))
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// A workspace's declared settings (the defaults for one only in the registry file).
    pub fn settings(&self, workspace: &str) -> WorkspaceSettings {
        self.settings.get(workspace).cloned().unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The registry file in an embedded data directory.
pub struct RegistryFile {
    path: PathBuf,
}

impl RegistryFile {
    pub fn in_dir(data_dir: &Path) -> RegistryFile {
        RegistryFile {
            path: data_dir.join(REGISTRY_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn read(&self) -> Result<Vec<StoredWorkspace>, RegistryError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| RegistryError::Corrupt {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(RegistryError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn write(&self, all: &[StoredWorkspace]) -> Result<(), RegistryError> {
        let io = |source| RegistryError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(all).unwrap_or_default();
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    /// Creates a workspace with a fresh write key and API token and saves it.
    pub fn create(&self, name: &str, taken: &[String]) -> Result<CreatedWorkspace, RegistryError> {
        if !valid_name(name) {
            return Err(RegistryError::BadName(name.to_string()));
        }
        let mut all = self.read()?;
        if all.iter().any(|w| w.name == name) || taken.iter().any(|t| t == name) {
            return Err(RegistryError::Exists(name.to_string()));
        }
        let created = new_workspace(name);
        all.push(StoredWorkspace {
            name: created.name.clone(),
            write_keys: vec![created.write_key.clone()],
            api_token_sha256: vec![hash_token(&created.api_token)],
            read_token_sha256: Vec::new(),
            public_write_keys: Vec::new(),
        });
        self.write(&all)?;
        Ok(created)
    }

    /// Runs `change` on workspace `name`'s entry and saves; `NotFound` when there is none.
    fn update<T>(
        &self,
        name: &str,
        change: impl FnOnce(&mut Vec<StoredWorkspace>, usize) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut all = self.read()?;
        let at = all
            .iter()
            .position(|w| w.name == name)
            .ok_or_else(|| RegistryError::NotFound(name.to_string()))?;
        let out = change(&mut all, at)?;
        self.write(&all)?;
        Ok(out)
    }

    /// Adds a new write key to `name` (the old ones keep working until revoked: clients move
    /// over, then `revoke_key` the old one). Returns the new key, shown once.
    pub fn rotate_key(&self, name: &str) -> Result<String, RegistryError> {
        self.update(name, |all, at| {
            let key = random_secret("wk_");
            all[at].write_keys.push(key.clone());
            Ok(key)
        })
    }

    /// Removes a write key (or a public one) from `name`; refused for its last key.
    pub fn revoke_key(&self, name: &str, key: &str) -> Result<(), RegistryError> {
        self.update(name, |all, at| {
            let ws = &mut all[at];
            let before = ws.write_keys.len() + ws.public_write_keys.len();
            ws.write_keys.retain(|k| k != key);
            ws.public_write_keys.retain(|k| k != key);
            let after = ws.write_keys.len() + ws.public_write_keys.len();
            if after == before {
                return Err(RegistryError::NoSuchKey(name.to_string()));
            }
            if after == 0 {
                return Err(RegistryError::LastKey(name.to_string()));
            }
            Ok(())
        })
    }

    /// Removes workspace `name` from the registry: its keys and tokens stop working at the next
    /// start. Its stored events and profiles stay in the store.
    pub fn delete(&self, name: &str) -> Result<(), RegistryError> {
        self.update(name, |all, at| {
            all.remove(at);
            Ok(())
        })
    }
}

/// A fresh workspace's credentials, not saved anywhere.
pub fn new_workspace(name: &str) -> CreatedWorkspace {
    CreatedWorkspace {
        name: name.to_string(),
        write_key: random_secret("wk_"),
        api_token: random_secret("lst_"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_persists_and_resolves_without_keeping_the_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = RegistryFile::in_dir(dir.path());
        let created = file.create("default", &[]).expect("create");
        assert!(matches!(
            file.create("default", &[]),
            Err(RegistryError::Exists(_))
        ));
        assert!(matches!(
            file.create("Nope!", &[]),
            Err(RegistryError::BadName(_))
        ));
        let text = std::fs::read_to_string(file.path()).expect("read");
        assert!(
            !text.contains(&created.api_token),
            "token stored in the clear"
        );
        let r = Registry::from_parts(&[], &file.read().expect("read"));
        assert_eq!(
            r.workspace_for_write_key(&created.write_key),
            Some("default")
        );
        assert_eq!(r.workspace_for_token(&created.api_token), Some("default"));
        assert_eq!(r.workspace_for_token("wrong"), None);
    }

    #[test]
    fn declared_workspaces_accept_plain_and_hashed_tokens() {
        let declared = vec![WorkspaceConfig {
            name: "acme".into(),
            write_keys: vec!["wk_acme_1234".into()],
            public_write_keys: vec!["wk_acme_public".into()],
            api_tokens: vec!["plain-token-0123456789".into()],
            api_token_sha256: vec![hash_token("hashed-token-0123456789")],
            read_tokens: vec!["read-token-0123456789".into()],
            read_token_sha256: vec![hash_token("hashed-read-0123456789")],
            ..Default::default()
        }];
        let r = Registry::from_parts(&declared, &[]);
        assert_eq!(r.workspace_for_write_key("wk_acme_1234"), Some("acme"));
        assert_eq!(r.write_key("wk_acme_1234"), Some(("acme", false)));
        assert_eq!(r.write_key("wk_acme_public"), Some(("acme", true)));
        assert_eq!(
            r.workspace_for_token("plain-token-0123456789"),
            Some("acme")
        );
        assert_eq!(
            r.workspace_for_token("hashed-token-0123456789"),
            Some("acme")
        );
        assert_eq!(
            r.token("plain-token-0123456789"),
            Some(("acme", Scope::ReadWrite))
        );
        assert_eq!(
            r.token("read-token-0123456789"),
            Some(("acme", Scope::Read))
        );
        assert_eq!(
            r.token("hashed-read-0123456789"),
            Some(("acme", Scope::Read))
        );
    }
}
