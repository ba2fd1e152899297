//! `portal try`'s record: a screenshot and the page's HTML after every step,
//! numbered in the order the steps ran, in one directory.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::browser::Browser;
use super::evidence;
use crate::flow::Flow;

pub struct Trace {
    dir: PathBuf,
    saved: Mutex<Vec<String>>,
}

impl Trace {
    pub fn new(dir: PathBuf) -> Trace {
        Trace {
            dir,
            saved: Mutex::new(Vec::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What was saved, one line per step: `NN step: screenshot, page`.
    pub fn lines(&self) -> Vec<String> {
        self.saved.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Saves the page as it is after step `index` (0-based) of a flow,
    /// described as `step` (e.g. `portal.login step 2 (fill ...)`).
    pub(super) async fn after(&self, browser: &Browser, flow: &Flow, index: usize) {
        let step = flow.describe(index);
        let n = self.lines().len() + 1;
        let name = format!(
            "{n:02}-{}-step{}-{}",
            flow.name.key().trim_start_matches("portal."),
            index + 1,
            flow.steps[index].action()
        );
        let (shot, page) = evidence::capture(browser, &self.dir.join(name)).await;
        self.saved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{n:02} {step}: {shot}, {page}"));
    }
}
