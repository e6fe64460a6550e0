//! `report`: the regulatory reports over Beijing days, as text, JSON or CSV (written as they
//! are made: `report_out.rs`).

use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ledger_core::ReportRules;

use crate::args::{Cli, ReportKind, StatementFormat};
use crate::open::open_reader;
use crate::progress;
use crate::report_out::{Header, ReportPrinter};
use crate::statement::beijing_midnight;

/// A shipped preset by name, else a TOML file.
fn load_rules(rules: &str) -> anyhow::Result<ReportRules> {
    if ReportRules::preset_names().any(|name| name == rules) {
        return Ok(ReportRules::preset(rules)?);
    }
    let path = Path::new(rules);
    if !path.exists() {
        let known: Vec<_> = ReportRules::preset_names().collect();
        bail!("--rules \"{rules}\" is neither a preset ({}) nor a file", known.join(", "));
    }
    let text = crate::out::read_small(path).with_context(|| format!("reading {}", path.display()))?;
    ReportRules::from_custom_toml_str(&text).map_err(|err| match err {
        ledger_core::Error::Policy(why) => anyhow::anyhow!("the thresholds file {}: {why}", path.display()),
        err => err.into(),
    })
}

/// What `report` was asked for.
#[derive(Debug)]
pub struct ReportRequest<'a> {
    pub kind: ReportKind,
    pub from: &'a str,
    pub to: &'a str,
    pub rules: &'a str,
    /// As given (`None`: text, or JSON for `all`).
    pub format: Option<StatementFormat>,
    /// The cache and its key's file.
    pub cache: Option<(&'a Path, &'a Path)>,
}

pub fn run(cli: &Cli, request: &ReportRequest<'_>) -> anyhow::Result<ExitCode> {
    let ReportRequest { kind, from, to, rules, format, cache } = *request;
    let rules = load_rules(rules)?;
    let first = beijing_midnight(from)?.beijing_day();
    let last = beijing_midnight(to)?.beijing_day();
    if last < first {
        bail!("--to {to} is before --from {from}");
    }
    let format = match (kind, format) {
        (_, Some(other)) if cli.json && other != StatementFormat::Json => {
            bail!("--json asks for JSON and --format {} for another: give one of them", format_name(other))
        }
        (ReportKind::All, None | Some(StatementFormat::Json)) => StatementFormat::Json,
        (ReportKind::All, Some(other)) => bail!(
            "`report all` is one JSON document of the four reports; --format {} is not offered for it (four \
             tables of different columns are not one CSV): run each report with --format {0}, or `report all` \
             without --format",
            format_name(other)
        ),
        (_, format) => format.unwrap_or(StatementFormat::Text),
    };
    let key = match cache {
        Some((path, key_path)) => {
            // One file for both: the key would be made over the cache, or the cache written
            // over the key (and the next run find its key gone).
            if same_file(path, key_path) {
                bail!(
                    "--cache and --cache-key name the same file {}: the cache and its key are two files (keep \
                     the key where those who can write the cache cannot read it)",
                    path.display()
                );
            }
            Some(cache_key(key_path)?)
        }
        None => None,
    };
    if let Some((path, _)) = cache {
        // Where the cache will be written is checked before the walk: a report printed whole and
        // then failed would look like a failed report.
        let dir = cache_dir(path);
        if !dir.is_dir() {
            bail!("--cache {}: its directory {} does not exist", path.display(), dir.display());
        }
    }
    // What is at the cache's path now: only that (or a cache of this key written meanwhile by
    // another run) is replaced after the walk.
    let found = cache.map(|(path, _)| FileId::of(path));
    let start = match (cache, &key) {
        (Some((path, key_path)), Some(key)) if path.exists() => {
            cached_state(path, key_path, key, &rules).with_context(|| format!("--cache {}", path.display()))?
        }
        _ => None,
    };
    // The key is made once the cache is known to be replaceable (nothing written before).
    if let (Some((_, key_path)), Some(key)) = (cache, &key) {
        key.write_when_new(key_path)?;
    }
    if let Some((path, _)) = cache {
        // Said on every run: whether the report rests on the cache, and from where.
        let exists = path.exists();
        let path = crate::out::safe(&path.display().to_string());
        match &start {
            Some(state) if state.next_day <= first => {
                let seq = state.last.map_or(0, |(seq, _)| seq);
                crate::out::noteln!("report state from cache {path} at record {seq}");
            }
            Some(_) => {
                crate::out::noteln!("report cache {path} not used: it starts after --from; walking from genesis")
            }
            None if exists => crate::out::noteln!(
                "report cache {path} not used (made with other rules or by an older layout): walking from genesis; \
                 it is replaced after the walk"
            ),
            None => crate::out::noteln!("report cache {path} not used (absent); walking from genesis"),
        }
    }
    let reader = open_reader(cli)?;
    let head = reader.head()?.seq;
    // The days after the last record's are not in the log yet (their records may still come):
    // reported, they would read as quiet days. Refused, as every range past the head is.
    let head_day = reader.event(head)?.at.beijing_day();
    if last > head_day {
        bail!(
            "--to {last} is past the head: the log's last record (seq {head}) is of {head_day}, and the days \
             after it are not in the log yet (a report would show them quiet); report up to {head_day}, or \
             record the time first (`ledger-cli tick`) once a quiet day has ended"
        );
    }
    let bar = progress::bar(head, "events");
    let format = if cli.json { StatementFormat::Json } else { format };
    let (from, to) = (first.to_string(), last.to_string());
    let header = Header { rules: &rules.name, from: &from, to: &to };
    // Each line is written as the reporter makes it (a report may have millions).
    let mut printer =
        ReportPrinter::new(BufWriter::new(std::io::stdout().lock()), "standard output", kind, format, &header)?;
    let next = reader
        .reports_into(rules.clone(), first, last, start, &mut printer, &mut |seq| bar.set_position(seq))
        .with_context(|| match cache {
        Some((path, _)) => format!("walking the log from --cache {}", path.display()),
        None => "walking the log".to_owned(),
    })?;
    bar.finish_and_clear();
    printer.finish()?;
    if let (Some((path, _)), Some(key), Some(state), Some(found)) = (cache, &key, next, found) {
        write_cache(path, key, found, &ledger_store::encode_report_cache(&key.bytes, &rules, &state)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn format_name(format: StatementFormat) -> &'static str {
    match format {
        StatementFormat::Text => "text",
        StatementFormat::Json => "json",
        StatementFormat::Csv => "csv",
    }
}

/// The cache key, read from its file or made for it (written by [`CacheKey::write_when_new`]).
struct CacheKey {
    bytes: [u8; ledger_store::REPORT_CACHE_KEY_LEN],
    new: bool,
}

impl CacheKey {
    /// Writes a key just made to its file (mode 0600); a key read from it is left as it is.
    fn write_when_new(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        if !self.new {
            return Ok(());
        }
        let mut file = crate::out::create_private(path, false)?;
        writeln!(file, "{}", hex::encode(self.bytes))
            .and_then(|()| file.sync_all())
            .context("writing the cache key")?;
        crate::out::noteln!("report cache key made: {} (mode 0600)", crate::out::safe(&path.display().to_string()));
        Ok(())
    }
}

/// The cache key: read from `path` (refused when group or others may read or write it), or
/// made (32 random bytes) when it is absent.
fn cache_key(path: &Path) -> anyhow::Result<CacheKey> {
    use std::os::unix::fs::MetadataExt;
    let mut key = [0u8; ledger_store::REPORT_CACHE_KEY_LEN];
    if !path.exists() {
        getrandom::fill(&mut key).map_err(|err| anyhow::anyhow!("no randomness from the system: {err}"))?;
        return Ok(CacheKey { bytes: key, new: true });
    }
    let meta = std::fs::metadata(path).with_context(|| format!("reading the cache key {}", path.display()))?;
    if meta.mode() & 0o077 != 0 {
        bail!("the cache key {} may be read or written by group or others: chmod 600 it", path.display());
    }
    let text = crate::out::read_small(path).with_context(|| format!("reading the cache key {}", path.display()))?;
    hex::decode_to_slice(text.trim(), &mut key)
        .with_context(|| format!("the cache key {} is not 64 hex digits", path.display()))?;
    Ok(CacheKey { bytes: key, new: false })
}

/// The state in the cache at `path` when it serves these rules; `None` when it is a cache of
/// this key made with other rules or by an older layout (replaced after the walk). Refused,
/// and left as it is, when it is not provably a cache of this key: no report cache at all
/// (by its header), or one whose authentication code does not hold under the key, whatever
/// its first byte (a file of the user's that starts with a layout's byte, a layout-1 cache,
/// whose checksum was unkeyed, a cache of another key). Its header is read first, then its
/// code is checked a chunk at a time: a large file is never held in memory unauthenticated.
fn cached_state(
    path: &Path,
    key_path: &Path,
    key: &CacheKey,
    rules: &ReportRules,
) -> anyhow::Result<Option<ledger_core::ReporterState>> {
    let reading = || format!("reading {}", path.display());
    let head = crate::out::read_head(path, ledger_store::REPORT_CACHE_HEADER_LEN).with_context(reading)?;
    let wanted = ledger_store::report_cache_wanted(rules, &head)?;
    let mut file = std::io::BufReader::new(std::fs::File::open(path).with_context(reading)?);
    if !ledger_store::report_cache_authentic(&key.bytes, &mut file)? {
        let key_said = if key.new {
            format!("there is no key {} yet", key_path.display())
        } else {
            format!("its authentication code does not hold under the key {}", key_path.display())
        };
        if wanted {
            // Its layout and rules digest are this build's: a cache of another key, or a damaged
            // one (the two cannot be told apart).
            bail!(
                "a report cache written under another --cache-key, or damaged ({key_said}): left as it is; give \
                 the key it was written under, or, if it is damaged, delete it (derived data) or choose another \
                 path for --cache"
            );
        }
        bail!(
            "not a report cache written under this --cache-key ({key_said}: another program's file, a layout-1 \
             cache, or one of another key): left as it is; choose another path for --cache (a file of its own, \
             or one that does not exist yet)"
        );
    }
    if !wanted {
        return Ok(None);
    }
    let bytes = crate::out::read_regular(path, u64::MAX).with_context(reading)?;
    Ok(ledger_store::decode_report_cache(&key.bytes, rules, &bytes)?)
}

/// Whether `a` and `b` name one file: the same file when both exist, else the same name in
/// the same directory (`x` and `./x`).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return a.dev() == b.dev() && a.ino() == b.ino();
    }
    let place = |path: &Path| (std::fs::canonicalize(cache_dir(path)).ok(), path.file_name().map(ToOwned::to_owned));
    a == b || place(a) == place(b)
}

/// The directory the cache at `path` is written in.
fn cache_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Which file is at a path (`None`: nothing, or a dangling link): a file changed in place or
/// replaced is another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId(Option<(u64, u64, u64, Option<std::time::SystemTime>)>);

impl FileId {
    fn of(path: &Path) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId(std::fs::metadata(path).ok().map(|meta| (meta.dev(), meta.ino(), meta.len(), meta.modified().ok())))
    }
}

/// Whether the file at `path` is a regular file whose code holds under `key` (read a chunk
/// at a time).
fn provably_a_cache(path: &Path, key: &CacheKey) -> anyhow::Result<bool> {
    if !std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file()) {
        return Ok(false);
    }
    let mut file =
        std::io::BufReader::new(std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?);
    Ok(ledger_store::report_cache_authentic(&key.bytes, &mut file)?)
}

/// Replaces the cache whole: written beside it in a file of its own (a random name, mode 0600,
/// created exclusively: two runs sharing a cache never write the same file), then renamed over
/// it; the last run to finish leaves its cache. What is at the path must still be what was
/// `found` there before the walk (nothing: the rename refuses to replace anything), or a cache
/// of this key another run wrote meanwhile: a file of someone else's that appeared or replaced
/// it during the walk is left as it is, and this run's cache not written.
fn write_cache(path: &Path, key: &CacheKey, found: FileId, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = cache_dir(path);
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    let mut new = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".new")
        .tempfile_in(dir)
        .with_context(|| format!("writing the cache beside {}", path.display()))?;
    new.write_all(bytes)
        .and_then(|()| new.as_file().sync_all())
        .with_context(|| format!("writing {}", new.path().display()))?;
    let changed = || {
        anyhow::anyhow!(
            "--cache {}: another file was put there during the walk (not a report cache of this key): left as \
             it is, and this run's cache not written (the report above is whole)",
            path.display()
        )
    };
    if found.0.is_none() {
        return match new.persist_noclobber(path) {
            Ok(_) => Ok(()),
            Err(err) if err.error.kind() == std::io::ErrorKind::AlreadyExists => {
                if !provably_a_cache(path, key)? {
                    return Err(changed());
                }
                err.file.persist(path).map(|_| ()).with_context(|| format!("replacing {}", path.display()))
            }
            Err(err) => Err(err.error).with_context(|| format!("writing {}", path.display())),
        };
    }
    if FileId::of(path) != found && !provably_a_cache(path, key)? {
        return Err(changed());
    }
    new.persist(path).map(|_| ()).with_context(|| format!("replacing {}", path.display()))
}

#[cfg(test)]
mod tests {

    use super::*;

    fn cache_bytes(key: &CacheKey) -> Vec<u8> {
        let day = "2026-03-02T00:00:00+08:00".parse::<ledger_core::Timestamp>().unwrap().beijing_day();
        let state = ledger_core::ReporterState {
            next_day: day,
            last: None,
            day: None,
            open: Vec::new(),
            windows: Vec::new(),
            policies: Vec::new(),
        };
        ledger_store::encode_report_cache(&key.bytes, &ReportRules::preset("pboc-2016-3").unwrap(), &state).unwrap()
    }

    #[test]
    fn only_what_was_found_before_the_walk_or_a_cache_of_the_key_is_replaced() {
        // An outside tester: a file copied to the cache's path during the walk was replaced.
        let dir = tempfile::tempdir().unwrap();
        let key = CacheKey { bytes: [7; ledger_store::REPORT_CACHE_KEY_LEN], new: false };
        let other = CacheKey { bytes: [8; ledger_store::REPORT_CACHE_KEY_LEN], new: false };
        let ours = cache_bytes(&key);
        let theirs = b"\x04 a file of the operator's, put there during the walk".repeat(3);
        // (what was at the path before the walk, what is there at its end, replaced?)
        type Put = Option<Vec<u8>>;
        let rows: [(Put, Put, bool); 6] = [
            (None, None, true),
            (None, Some(theirs.clone()), false),
            (None, Some(cache_bytes(&other)), false),
            // Another run sharing the cache wrote it meanwhile: the last run leaves its cache.
            (None, Some(ours.clone()), true),
            (Some(ours.clone()), Some(theirs.clone()), false),
            (Some(ours.clone()), Some(ours.clone()), true),
        ];
        for (n, (before, after, replaced)) in rows.into_iter().enumerate() {
            let path = dir.path().join(format!("cache-{n}"));
            if let Some(bytes) = &before {
                std::fs::write(&path, bytes).unwrap();
            }
            let found = FileId::of(&path);
            if let Some(bytes) = &after {
                // Replaced by another file (a new inode, as `cp` over a rename or a new file).
                let put = dir.path().join("put");
                std::fs::write(&put, bytes).unwrap();
                std::fs::rename(&put, &path).unwrap();
            }
            let new = b"the new cache".to_vec();
            let written = write_cache(&path, &key, found, &new);
            let now = std::fs::read(&path).ok();
            if replaced {
                assert!(written.is_ok(), "row {n}: {written:?}");
                assert_eq!(now, Some(new), "row {n}");
            } else {
                let err = format!("{:#}", written.unwrap_err());
                assert!(err.contains("left as it is"), "row {n}: {err}");
                assert_eq!(now, after, "row {n}: left as it is");
            }
        }
    }
}
