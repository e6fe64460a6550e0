//! Helpers shared by `demo` and `benchmark`: a fresh database directory and percentiles.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// A new database directory: `keep` if given (it must not exist yet), else one inside a
/// temporary directory that is removed when this value is dropped.
#[derive(Debug)]
pub struct ScratchDb {
    pub path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl ScratchDb {
    pub fn new(keep: Option<&Path>, name: &str) -> anyhow::Result<ScratchDb> {
        match keep {
            Some(dir) if dir.exists() => bail!("{} already exists; --keep takes a new directory", dir.display()),
            Some(dir) => Ok(ScratchDb { path: dir.to_path_buf(), _temp: None }),
            None => {
                let temp = tempfile::tempdir().context("creating a temporary directory")?;
                Ok(ScratchDb { path: temp.path().join(name), _temp: Some(temp) })
            }
        }
    }
}

/// The `p`-quantile (0..=1) of ascending `sorted` values, nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
