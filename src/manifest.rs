//! `datasets.json`: the shard sets the page offers, and the hosts it may contact on its own.

use medhall_core::sample::Split;
use medhall_core::url_policy::{ManifestDestination, manifest_destination};
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

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest =
            serde_json::from_str(text).map_err(|e| format!("datasets.json: {e}"))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// Every URL that leaves the page's origin must be on a listed host, so the privacy promise
    /// holds by construction; where a URL goes is read as a browser reads it (`url_policy`).
    pub fn check(&self) -> Result<(), String> {
        for set in &self.shard_sets {
            let urls = set.shards.iter().map(|s| s.url.as_str()).chain(
                set.runs
                    .iter()
                    .flat_map(|r| r.files.iter().map(|f| f.url.as_str())),
            );
            for url in urls {
                match manifest_destination(url) {
                    Ok(ManifestDestination::PageOrigin) => {}
                    Ok(ManifestDestination::Host(host))
                        if self
                            .allowed_hosts
                            .iter()
                            .any(|h| h.eq_ignore_ascii_case(&host)) => {}
                    Ok(ManifestDestination::Host(host)) => {
                        return Err(format!(
                            "datasets.json: {url:?} is on {host}, which allowed_hosts does not list"
                        ));
                    }
                    Err(refused) => return Err(format!("datasets.json: {refused}")),
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
    fn the_shipped_manifest_lists_every_host_it_uses() {
        let text = include_str!("../public/datasets.json");
        let manifest = Manifest::parse(text).expect("public/datasets.json is valid");
        let demo = manifest.set("demo").expect("a demo set");
        assert!(demo.bundled && !demo.shards.is_empty() && demo.runs.len() >= 2);
        assert!(
            demo.shards
                .iter()
                .all(|s| manifest_destination(&s.url) == Ok(ManifestDestination::PageOrigin))
        );
    }

    fn manifest_with_url(url: &str) -> String {
        let url = serde_json::to_string(url).expect("a string");
        format!(
            r#"{{"version":1,"allowed_hosts":["raw.githubusercontent.com"],"shard_sets":[{{"id":"x","name":"x",
            "shards":[{{"split":"positive","url":{url}}}]}}]}}"#
        )
    }

    #[test]
    fn unlisted_hosts_are_refused() {
        let text = r#"{"version":1,"allowed_hosts":[],"shard_sets":[{"id":"x","name":"x",
            "shards":[{"split":"positive","url":"https://evil.example/x.jsonl"}]}]}"#;
        let error = Manifest::parse(text).expect_err("unlisted host");
        assert!(error.contains("evil.example"));
    }

    #[test]
    fn urls_that_leave_the_page_in_a_browser_are_checked_as_such() {
        // Each of these passed the old check (read as relative, or as the listed host) and
        // reaches evil.example in a browser.
        for url in [
            "//evil.example/x.jsonl",
            "/\\evil.example/x.jsonl",
            "/\t/evil.example/x.jsonl",
            "https://evil.example\\@raw.githubusercontent.com/x.jsonl",
            "HTTPS://EVIL.EXAMPLE/x.jsonl",
        ] {
            let error = Manifest::parse(&manifest_with_url(url)).expect_err(url);
            assert!(error.contains("is on evil.example"), "{url:?}: {error}");
        }
        for url in [
            "demo/x.jsonl",
            "https://raw.githubusercontent.com/a/b.jsonl",
            "HTTPS://Raw.GitHubUserContent.com/a/b.jsonl",
        ] {
            assert!(Manifest::parse(&manifest_with_url(url)).is_ok(), "{url:?}");
        }
        let error = Manifest::parse(&manifest_with_url("javascript:alert(1)")).expect_err("scheme");
        assert!(error.contains("only http:// and https://"), "{error}");
    }
}
