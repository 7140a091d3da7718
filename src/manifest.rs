//! `datasets.json`: the shard sets the page offers, and the hosts it may contact on its own.

use medhall_core::sample::Split;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub shard_sets: Vec<ShardSet>,
    /// Hosts of the manifest's absolute URLs. The page requests nothing else unless the user
    /// types a URL.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardSet {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub bundled: bool,
    #[serde(default)]
    pub shards: Vec<ShardEntry>,
    #[serde(default)]
    pub runs: Vec<RunEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    pub split: Option<Split>,
    #[serde(default)]
    pub role: Option<String>,
    pub url: String,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub rows: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    pub name: String,
    pub files: Vec<RunFile>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    pub split: Option<Split>,
    pub url: String,
}

/// The host of an absolute http(s) URL; `None` for relative URLs (same origin).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority.rsplit('@').next().unwrap_or(authority);
    Some(host.split(':').next().unwrap_or(host))
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest =
            serde_json::from_str(text).map_err(|e| format!("datasets.json: {e}"))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// Every absolute URL must be on a listed host, so the privacy promise holds by construction.
    pub fn check(&self) -> Result<(), String> {
        for set in &self.shard_sets {
            let urls = set.shards.iter().map(|s| s.url.as_str()).chain(
                set.runs
                    .iter()
                    .flat_map(|r| r.files.iter().map(|f| f.url.as_str())),
            );
            for url in urls {
                if let Some(host) = url_host(url)
                    && !self.allowed_hosts.iter().any(|h| h == host)
                {
                    return Err(format!(
                        "datasets.json: {url} is on {host}, which allowed_hosts does not list"
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn set(&self, id: &str) -> Option<&ShardSet> {
        self.shard_sets.iter().find(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            url_host("https://raw.githubusercontent.com/a/b.jsonl"),
            Some("raw.githubusercontent.com")
        );
        assert_eq!(url_host("http://u@h.org:8080/x?y"), Some("h.org"));
        assert_eq!(url_host("demo/x.jsonl"), None);
    }

    #[test]
    fn the_shipped_manifest_lists_every_host_it_uses() {
        let text = include_str!("../public/datasets.json");
        let manifest = Manifest::parse(text).expect("public/datasets.json is valid");
        let demo = manifest.set("demo").expect("a demo set");
        assert!(demo.bundled && !demo.shards.is_empty() && demo.runs.len() >= 2);
        assert!(demo.shards.iter().all(|s| url_host(&s.url).is_none()));
    }

    #[test]
    fn unlisted_hosts_are_refused() {
        let text = r#"{"version":1,"allowed_hosts":[],"shard_sets":[{"id":"x","name":"x",
            "shards":[{"split":"positive","url":"https://evil.example/x.jsonl"}]}]}"#;
        let error = Manifest::parse(text).expect_err("unlisted host");
        assert!(error.contains("evil.example"));
    }
}
