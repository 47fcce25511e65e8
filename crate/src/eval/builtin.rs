//! The built-in tasks (`tasks/manifest.json`, compiled in): names, files and the
//! hashes `make tasks` must reproduce (docs/tasks.md).

use serde::Deserialize;

/// The manifest as checked in.
pub const TASKS_MANIFEST_JSON: &str = include_str!("../../../tasks/manifest.json");

#[derive(Debug, Clone, Deserialize)]
pub struct TaskEntry {
    pub name: String,
    pub version: u64,
    pub file: String,
    pub output_type: String,
    pub licence: String,
    pub items: u64,
    pub items_sha256: String,
    /// SHA-256 of the whole file.
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
struct TasksManifest {
    tasks: Vec<TaskEntry>,
}

/// Every built-in task.
pub fn builtin_tasks() -> Vec<TaskEntry> {
    serde_json::from_str::<TasksManifest>(TASKS_MANIFEST_JSON)
        .map(|m| m.tasks)
        .unwrap_or_default()
}

/// A built-in task by name.
pub fn builtin_task(name: &str) -> Option<TaskEntry> {
    builtin_tasks().into_iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_manifest_lists_the_five_tasks() {
        let names: Vec<String> = super::builtin_tasks().into_iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "arc_easy",
                "arc_challenge",
                "hellaswag",
                "piqa",
                "lambada_openai"
            ]
        );
    }
}
