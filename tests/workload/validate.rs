//! Self-consistency of a workload: the steps can run, and the expected events follow from them.
//!
//! The steps are replayed on a small in-memory model of the scratch folder, once per platform,
//! so a workload that would fail half-way on a real machine (a rename onto an existing name, a
//! truncate that grows the file, a folder left behind) is rejected before any runner starts.

use std::collections::BTreeMap;

use super::model::{Action, Operation, Platform, RelPath, Workload};
use super::WorkloadError;

/// Checks everything that ties steps and expected events together.
pub(super) fn validate(workload: &Workload) -> Result<(), WorkloadError> {
    check_ignored(workload)?;
    check_step_ids(workload)?;
    for platform in Platform::ALL {
        simulate(workload, platform)?;
    }
    check_events(workload)?;
    check_every_step_observed(workload)
}

fn check_ignored(workload: &Workload) -> Result<(), WorkloadError> {
    for platform in Platform::ALL {
        if !workload.ignored_operations.contains_key(&platform) {
            return Err(WorkloadError::IgnoredMissingPlatform { platform });
        }
    }
    for (index, event) in workload.expected_events.iter().enumerate() {
        for &platform in &event.platforms {
            if workload.ignored_for(platform).contains(&event.operation) {
                return Err(WorkloadError::EventIgnored {
                    index,
                    operation: event.operation,
                    platform,
                });
            }
        }
    }
    Ok(())
}

fn check_step_ids(workload: &Workload) -> Result<(), WorkloadError> {
    let mut seen = Vec::with_capacity(workload.steps.len());
    for step in &workload.steps {
        if step.id.is_empty() {
            return Err(WorkloadError::EmptyStepId);
        }
        if seen.contains(&step.id.as_str()) {
            return Err(WorkloadError::DuplicateStepId(step.id.clone()));
        }
        seen.push(step.id.as_str());
    }
    Ok(())
}

/// An entry of the simulated scratch folder. Files point at an inode so that hard links share
/// a size and survive the deletion of one of their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Dir,
    File { inode: usize },
}

#[derive(Default)]
struct Folder {
    entries: BTreeMap<RelPath, Entry>,
    sizes: Vec<u64>,
}

impl Folder {
    fn require_parent(&self, path: &RelPath) -> Result<(), String> {
        match path.parent() {
            None => Ok(()),
            Some(parent) => match self.entries.get(&parent) {
                Some(Entry::Dir) => Ok(()),
                Some(Entry::File { .. }) => Err(format!("parent `{parent}` is a file")),
                None => Err(format!("parent folder `{parent}` does not exist")),
            },
        }
    }

    fn require_free(&self, path: &RelPath) -> Result<(), String> {
        self.require_parent(path)?;
        if self.entries.contains_key(path) {
            return Err(format!("`{path}` already exists"));
        }
        Ok(())
    }

    fn file(&self, path: &RelPath) -> Result<usize, String> {
        match self.entries.get(path) {
            Some(Entry::File { inode }) => Ok(*inode),
            Some(Entry::Dir) => Err(format!("`{path}` is a folder, not a file")),
            None => Err(format!("`{path}` does not exist")),
        }
    }

    fn size_mut(&mut self, inode: usize) -> Result<&mut u64, String> {
        self.sizes
            .get_mut(inode)
            .ok_or_else(|| format!("internal: unknown inode {inode}"))
    }

    fn children_of(&self, dir: &RelPath) -> Vec<RelPath> {
        let prefix = format!("{dir}/");
        self.entries
            .keys()
            .filter(|p| p.as_str().starts_with(&prefix))
            .cloned()
            .collect()
    }

    fn apply(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Mkdir { path } => {
                self.require_free(path)?;
                self.entries.insert(path.clone(), Entry::Dir);
            }
            Action::Create { path, size } => {
                self.require_free(path)?;
                self.sizes.push(*size);
                let inode = self.sizes.len() - 1;
                self.entries.insert(path.clone(), Entry::File { inode });
            }
            Action::Write { path, size } => {
                if *size == 0 {
                    return Err("a write of 0 bytes changes nothing".to_owned());
                }
                let inode = self.file(path)?;
                let current = self.size_mut(inode)?;
                *current = current
                    .checked_add(*size)
                    .ok_or_else(|| "file size overflows".to_owned())?;
            }
            Action::Rename { path, new_path } => {
                let entry = *self
                    .entries
                    .get(path)
                    .ok_or_else(|| format!("`{path}` does not exist"))?;
                self.require_free(new_path)?;
                if new_path.as_str().starts_with(&format!("{path}/")) {
                    return Err(format!("cannot move `{path}` into itself"));
                }
                for child in self.children_of(path) {
                    let moved = RelPath::parse(&format!(
                        "{new_path}{}",
                        &child.as_str()[path.as_str().len()..]
                    ))
                    .map_err(|e| format!("internal: {e}"))?;
                    if let Some(e) = self.entries.remove(&child) {
                        self.entries.insert(moved, e);
                    }
                }
                self.entries.remove(path);
                self.entries.insert(new_path.clone(), entry);
            }
            Action::Hardlink { path, new_path } => {
                let inode = self.file(path)?;
                self.require_free(new_path)?;
                self.entries.insert(new_path.clone(), Entry::File { inode });
            }
            Action::Truncate { path, size } => {
                let inode = self.file(path)?;
                let current = self.size_mut(inode)?;
                if *size >= *current {
                    return Err(format!(
                        "truncate to {size} bytes does not shrink `{path}` ({current} bytes)"
                    ));
                }
                *current = *size;
            }
            Action::Delete { path } | Action::DeleteOnClose { path } => {
                self.file(path)?;
                self.entries.remove(path);
            }
            Action::Rmdir { path } => match self.entries.get(path) {
                Some(Entry::Dir) => {
                    if !self.children_of(path).is_empty() {
                        return Err(format!("folder `{path}` is not empty"));
                    }
                    self.entries.remove(path);
                }
                Some(Entry::File { .. }) => return Err(format!("`{path}` is a file")),
                None => return Err(format!("`{path}` does not exist")),
            },
        }
        Ok(())
    }
}

fn simulate(workload: &Workload, platform: Platform) -> Result<(), WorkloadError> {
    let mut folder = Folder::default();
    for step in workload.steps_for(platform) {
        folder
            .apply(&step.action)
            .map_err(|reason| WorkloadError::StepImpossible {
                step: step.id.clone(),
                platform,
                reason,
            })?;
    }
    if !folder.entries.is_empty() {
        return Err(WorkloadError::ScratchNotEmpty {
            platform,
            left: folder.entries.keys().map(ToString::to_string).collect(),
        });
    }
    Ok(())
}

fn check_events(workload: &Workload) -> Result<(), WorkloadError> {
    let mut last_step_index = 0;
    for (index, event) in workload.expected_events.iter().enumerate() {
        let step_index = workload
            .steps
            .iter()
            .position(|s| s.id == event.step)
            .ok_or_else(|| WorkloadError::EventUnknownStep {
                index,
                step: event.step.clone(),
            })?;
        if step_index < last_step_index {
            return Err(WorkloadError::EventOutOfOrder {
                index,
                step: event.step.clone(),
            });
        }
        last_step_index = step_index;
        let step = &workload.steps[step_index];
        if let Some(&platform) = event.platforms.iter().find(|p| !step.runs_on(**p)) {
            return Err(WorkloadError::EventPlatformNotRun {
                index,
                step: step.id.clone(),
                platform,
            });
        }
        if !event_names_step_paths(event.operation, &event.path, event.new_path.as_ref(), step) {
            return Err(WorkloadError::EventPathNotFromStep {
                index,
                step: step.id.clone(),
            });
        }
    }
    Ok(())
}

/// Whether the event's names are ones its step touches: a rename or hard link event must carry
/// exactly the step's two names; any other event names one of them.
fn event_names_step_paths(
    operation: Operation,
    path: &RelPath,
    new_path: Option<&RelPath>,
    step: &super::model::Step,
) -> bool {
    if operation.has_new_path() {
        return Some(path) == Some(step.action.path()) && new_path == step.action.new_path();
    }
    path == step.action.path() || Some(path) == step.action.new_path()
}

fn check_every_step_observed(workload: &Workload) -> Result<(), WorkloadError> {
    for step in &workload.steps {
        for &platform in &step.platforms {
            let observed = workload
                .expected_for(platform)
                .any(|event| event.step == step.id);
            if !observed {
                return Err(WorkloadError::StepNotObserved {
                    step: step.id.clone(),
                    platform,
                });
            }
        }
    }
    Ok(())
}
