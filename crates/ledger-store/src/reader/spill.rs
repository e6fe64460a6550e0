//! The scratch space a report's large-value groups past the bound are written out to
//! ([`GroupSpill`]: sorted runs, merged once their day ends): one anonymous temporary file in
//! `TMPDIR`, made at the first spill (a report that never reaches the bound makes none),
//! emptied once no day's runs are in it, and gone when the report ends however it ends (an
//! anonymous file has no name: not even a killed process leaves it behind).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ledger_core::GroupSpill;

use crate::error::Error;

/// A report's scratch space for large-value groups (see the module doc).
#[derive(Debug)]
pub struct ReportSpill {
    dir: PathBuf,
    file: Option<File>,
    /// Bytes written since the last emptying.
    len: u64,
}

impl ReportSpill {
    /// Scratch space in `TMPDIR` (else `/tmp`).
    pub fn new() -> ReportSpill {
        ReportSpill::in_dir(&std::env::temp_dir())
    }

    /// Scratch space in `dir`.
    pub fn in_dir(dir: &Path) -> ReportSpill {
        ReportSpill { dir: dir.to_owned(), file: None, len: 0 }
    }

    /// The error of a failed `doing`, naming the directory (as `report all`'s staged lines do).
    fn failed(&self, doing: &str, err: std::io::Error) -> Error {
        Error::Io(format!(
            "{doing} a day's large-value groups in a temporary file in {} ($TMPDIR): {err}",
            self.dir.display()
        ))
    }
}

impl Default for ReportSpill {
    fn default() -> ReportSpill {
        ReportSpill::new()
    }
}

impl GroupSpill<Error> for ReportSpill {
    fn append(&mut self, bytes: &[u8]) -> Result<u64, Error> {
        let file = match self.file.take() {
            Some(file) => file,
            None => tempfile::tempfile_in(&self.dir).map_err(|err| self.failed("making room for", err))?,
        };
        let file = self.file.insert(file);
        let at = self.len;
        let written = file.write_all_at(bytes, at);
        written.map_err(|err| self.failed("writing out", err))?;
        self.len += bytes.len() as u64;
        Ok(at)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        let read = match &self.file {
            Some(file) => file.read_exact_at(buf, offset),
            None => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "nothing was written out")),
        };
        read.map_err(|err| self.failed("reading back", err))
    }

    fn clear(&mut self) -> Result<(), Error> {
        if let Some(file) = &self.file {
            file.set_len(0).map_err(|err| self.failed("emptying the file of", err))?;
        }
        self.len = 0;
        Ok(())
    }

    fn damaged(&self, detail: String) -> Error {
        Error::Io(format!(
            "reading back a day's large-value groups from a temporary file in {} ($TMPDIR): {detail}",
            self.dir.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_and_a_missing_tmpdir_is_named() {
        let dir = tempfile::tempdir().unwrap();
        // Given scratch space in a directory: bytes appended read back at their offsets, and
        // the directory holds no file of it (anonymous).
        let mut spill = ReportSpill::in_dir(dir.path());
        assert_eq!(spill.append(b"first").unwrap(), 0);
        assert_eq!(spill.append(b"second").unwrap(), 5);
        let mut buf = [0; 6];
        spill.read_at(5, &mut buf).unwrap();
        assert_eq!(&buf, b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the file has no name");
        // Emptied: appends start again at 0, and what was there does not read back.
        spill.clear().unwrap();
        assert!(spill.read_at(0, &mut buf).is_err());
        assert_eq!(spill.append(b"again").unwrap(), 0);
        // When the directory is missing (or full): the error names it and $TMPDIR.
        let missing = dir.path().join("missing");
        let err = ReportSpill::in_dir(&missing).append(b"bytes").unwrap_err().to_string();
        let named = format!("in a temporary file in {} ($TMPDIR): ", missing.display());
        assert!(err.contains("large-value groups") && err.contains(&named), "{err}");
    }
}
