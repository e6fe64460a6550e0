//! What the CLI writes for people: lines escaped so client text cannot drive the terminal, and
//! report files created privately without following links or replacing files by accident.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ledger_store::Receipt;
use serde_json::{Value, json};

/// The mode of every file the CLI creates (exports, results).
pub const FILE_MODE: u32 = 0o600;

/// Exit code 1: a check failed or a command was rejected.
pub fn check_failed() -> ExitCode {
    ExitCode::from(1)
}

/// Counts per reason code, for summaries.
pub type ReasonCounts = BTreeMap<String, u64>;

/// Prints one JSON value on a line (JSON escapes client text itself).
pub fn print_json(value: &Value) {
    line(&value.to_string());
}

/// Writes `text` and a newline to standard output. A write that fails (a full disk, a pipe
/// whose reader has gone) ends the process with exit 2 and says so on standard error, as
/// `report` and `export` do, instead of panicking as `println!` does; what the command wrote
/// to the ledger before is as durable as after a kill.
pub fn line(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        crate::out::noteln!("error: writing to standard output: {err}");
        std::process::exit(2);
    }
}

/// Runs `body` writing to `out` (buffered) and flushes it; when a write of `out` failed (a full
/// disk, a pipe whose reader has gone), the error says so, naming `output` ("standard output",
/// a file), whatever layer passed the failure on (the store's export, the CSV writer): exit 2,
/// as [`line`].
pub fn write_to<W: std::io::Write, T>(
    out: W,
    output: &str,
    body: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    use std::io::Write;
    let mut out = Watched { inner: std::io::BufWriter::new(out), failed: None };
    let result = body(&mut out).and_then(|value| {
        out.flush()?;
        Ok(value)
    });
    match (result, out.failed.take()) {
        (Err(_), Some(why)) => bail!("writing to {output}: {why}"),
        (result, _) => result,
    }
}

/// [`write_to`] standard output.
pub fn to_stdout<T>(body: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<T>) -> anyhow::Result<T> {
    write_to(std::io::stdout().lock(), "standard output", body)
}

/// A writer that remembers its first failed write (the error as it was, before a caller wraps
/// it in words of its own).
struct Watched<W: std::io::Write> {
    inner: W,
    failed: Option<String>,
}

impl<W: std::io::Write> Watched<W> {
    fn note<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(err) = &result
            && err.kind() != ErrorKind::Interrupted
            && self.failed.is_none()
        {
            self.failed = Some(err.to_string());
        }
        result
    }
}

impl<W: std::io::Write> std::io::Write for Watched<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

/// [`line`] with `format!`'s arguments: the CLI's `println!`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::line(&format!($($arg)*))
    };
}
pub(crate) use outln;

/// Writes one line to standard error, ignoring a failure to: a closed, full or broken standard
/// error must not stop a command (`eprintln!` panics then: a conversion at open would never end).
pub fn note(text: &str) {
    use std::io::Write;
    let _ignored = writeln!(std::io::stderr().lock(), "{text}");
}

/// [`note`] with `format!`'s arguments: the CLI's `eprintln!`.
macro_rules! noteln {
    ($($arg:tt)*) => {
        $crate::out::note(&format!($($arg)*))
    };
}
pub(crate) use noteln;

/// The JSON shape of a receipt (also the import result of an answered line).
pub fn receipt_json(receipt: &Receipt) -> Value {
    serde_json::to_value(receipt.answer()).unwrap_or_else(|err| json!({ "status": "error", "error": err.to_string() }))
}

/// Prints one human-readable line, escaped with [`safe`]: its arguments as they are, never
/// already escaped (each text is escaped exactly once; an error is escaped by `main`).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::line(&$crate::out::safe(&format!($($arg)*)))
    };
}
pub(crate) use say;

/// `text` with every character that could move the cursor, clear the screen, ring the bell,
/// reorder text or hide characters written as an escape (`\n`, `\u{1b}`, `\u{202e}`, ...); a
/// backslash is doubled so an escape cannot be forged. Everything else, Chinese included, stays.
pub fn safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_format_char(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// A CSV cell of text a client or a rules file chose (a counterparty, a principal's name, a
/// risk-listed name in a bucket, a rule's source), the one way every CSV output writes such
/// text: control, direction and invisible characters escaped as in text output ([`safe`]: a
/// terminal or viewer shows the escape, never runs it; only `--format json` carries such text
/// exactly), and a leading formula character defused ([`csv_text`]).
pub fn csv_cell(text: &str) -> String {
    csv_text(&safe(text)).into_owned()
}

/// Text one that a spreadsheet would read as a formula (starting `=`, `+`, `-`, `@`, a tab or
/// a carriage return) gets a leading `'`, so opening the file runs nothing (OWASP, "CSV
/// injection").
fn csv_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The most bytes a small input file may hold (a rules or policy file, a key, a checkpoint, a
/// proof): anything larger is refused before it is read, as is anything but a regular file
/// (a device such as `/dev/zero`, a FIFO that never ends).
pub const SMALL_FILE_MAX: u64 = 16 << 20;

/// The text of a small input file, read only if it is a regular file of at most
/// [`SMALL_FILE_MAX`] bytes.
pub fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let bytes = read_regular(path, SMALL_FILE_MAX)?;
    let mut text = String::new();
    bytes.as_slice().read_to_string(&mut text)?;
    Ok(text)
}

/// The bytes of `path`, read only if it is a regular file of at most `max` bytes (checked on
/// the open file: what is read is what was checked).
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    // Looked at before it is opened too: opening a FIFO waits for a writer that may never come.
    if !fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > max {
        return Err(std::io::Error::other(format!("{} bytes, over the {max} this input may hold", meta.len())));
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other(format!("over the {max} bytes this input may hold")));
    }
    Ok(bytes)
}

/// The first `len` bytes of `path` (fewer if it is shorter), read only if it is a regular file.
pub fn read_head(path: &Path, len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    if !fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut head = Vec::with_capacity(len);
    File::open(path)?.take(len as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Terminal columns `text` takes: a Chinese character takes two.
pub fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `text` padded with spaces to `columns` terminal columns, so tables with Chinese merchant,
/// counterparty or bucket names stay aligned.
pub fn pad(text: &str, columns: usize) -> String {
    format!("{text}{}", " ".repeat(columns.saturating_sub(width(text))))
}

/// Invisible formatting characters: bidirectional controls (RLO and friends), zero-width
/// characters, the soft hyphen and the byte-order mark.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{61c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// Creates `path` for a report: mode 0600, never through a symbolic link, and never over an
/// existing file unless `force` (which replaces a regular file, never a link).
pub fn create_private(path: &Path, force: bool) -> anyhow::Result<File> {
    match fs::symlink_metadata(path) {
        Ok(found) if found.file_type().is_symlink() => {
            bail!("{} is a symbolic link; refusing to write through it", path.display())
        }
        Ok(found) if !found.is_file() => bail!("{} exists and is not a regular file", path.display()),
        Ok(_) if !force => bail!("{} already exists; pass --force to replace it", path.display()),
        Ok(_) => fs::remove_file(path).with_context(|| format!("replacing {}", path.display()))?,
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("checking {}", path.display())),
    }
    // create_new: O_EXCL, so a link planted meanwhile is not followed either.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// True when both paths name the same file (links included).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{pad, safe, width};

    #[test]
    fn pads_by_terminal_columns_not_bytes_or_chars() {
        // (text, columns it takes, padded to 10)
        let cases = [
            ("day", 3, "day       "),
            ("日累计", 6, "日累计    "),
            ("北京Metro", 9, "北京Metro "),
            ("", 0, "          "),
        ];
        for (text, columns, padded) in cases {
            assert_eq!(width(text), columns, "{text}");
            assert_eq!(pad(text, 10), padded, "{text}");
            assert_eq!(width(&pad(text, 10)), 10, "{text}");
        }
        assert_eq!(pad("longer than ten", 10), "longer than ten", "never truncates");
    }

    #[test]
    fn escapes_what_could_drive_a_terminal_and_keeps_the_rest() {
        let cases = [
            ("Beijing Metro", "Beijing Metro"),
            ("北京地铁 便利店", "北京地铁 便利店"),
            ("Metro\nFORGED seq 99", "Metro\\nFORGED seq 99"),
            ("a\u{1b}[2Jb", "a\\u{1b}[2Jb"),
            ("bell\u{7}", "bell\\u{7}"),
            ("nul\0", "nul\\u{0}"),
            ("\u{202e}evil", "\\u{202e}evil"),
            ("zero\u{200b}width", "zero\\u{200b}width"),
            ("c1\u{9b}", "c1\\u{9b}"),
            ("back\\slash", "back\\\\slash"),
            ("tab\there\r", "tab\\there\\r"),
        ];
        for (text, shown) in cases {
            assert_eq!(safe(text), shown, "{text:?}");
        }
    }
}
