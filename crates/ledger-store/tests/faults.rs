//! Disk faults on a real small filesystem (a tmpfs this test mounts; CI runs as root): a full
//! disk during a batch and a read-only filesystem. The batch is refused with a typed error,
//! callers are told, nothing is half-written, and the ledger reopens cleanly.

#![expect(clippy::unwrap_used, clippy::panic, reason = "a failing step should stop the test where it fails")]

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;

use ledger_core::{AccountId, Amount, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp};
use ledger_store::{Error, FakeClock, Ledger, LedgerOptions, Reader};
use uuid::Uuid;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    point: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let point = dir.path().join("mnt");
        std::fs::create_dir(&point).unwrap();
        mount(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", point.to_str().unwrap()]);
        Tmpfs { point, _dir: dir }
    }

    fn remount(&self, options: &str) {
        mount(&["-o", &format!("remount,{options}"), self.point.to_str().unwrap()]);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Process::new("umount").arg("-l").arg(&self.point).status();
    }
}

fn mount(args: &[&str]) {
    let status = Process::new("mount").args(args).status();
    match status {
        Ok(status) if status.success() => {}
        other => panic!(
            "mount {args:?} failed ({other:?}): the disk-fault tests need root to mount a tmpfs (CI runs as root)"
        ),
    }
}

fn at() -> Timestamp {
    "2026-03-02T09:00:00+08:00".parse().unwrap()
}

fn options() -> LedgerOptions {
    LedgerOptions { clock: Arc::new(FakeClock::new(at())), ..LedgerOptions::default() }
}

fn genesis(ledger: &Ledger) {
    let policy = Box::new(Policy::preset("default").unwrap());
    let body = CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy };
    ledger.submit(Command { id: CommandId(Uuid::from_u128(1)), at: at(), body, stamped: false }).unwrap();
    let open = CommandBody::open_class_i(AccountId(1), CustomerId(1));
    ledger.submit(Command { id: CommandId(Uuid::from_u128(2)), at: at(), body: open, stamped: false }).unwrap();
}

/// A batch of deposits whose events are large (long product names on redemptions).
fn batch(n: u128) -> Vec<Command> {
    (0..500u128)
        .map(|i| Command {
            id: CommandId(Uuid::from_u128(1_000_000 * (n + 1) + i)),
            at: at(),
            body: CommandBody::WealthRedemption {
                account: AccountId(1),
                product: "P".repeat(128),
                amount: Amount::from_fen(1).unwrap(),
            },
            stamped: false,
        })
        .collect()
}

fn check_reopens(path: &Path, acknowledged: &[Command], refused: &[Command]) {
    let ledger = Ledger::open(path, options()).unwrap();
    let head = ledger.head().unwrap();
    assert_eq!(ledger.verify(1, Some(head)).unwrap().events_checked, head.seq);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    for command in acknowledged {
        assert!(ledger.answered(command.id).unwrap().is_some(), "acknowledged {} lost", command.id);
    }
    for command in refused {
        assert_eq!(ledger.answered(command.id).unwrap(), None, "a refused batch was half-written: {}", command.id);
    }
}

#[test]
fn a_full_disk_refuses_the_batch_and_loses_nothing_acknowledged() {
    let fs = Tmpfs::mount("6m");
    let path = fs.point.join("ledger");
    let ledger = Ledger::create(&path, options()).unwrap();
    genesis(&ledger);
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    for n in 0..400 {
        let commands = batch(n);
        match ledger.submit_batch(commands.clone()) {
            Ok(receipts) => {
                assert!(receipts.iter().all(|r| r.is_accepted()));
                acknowledged.extend(commands);
            }
            // The writer's own write hit the full disk, or the projector's did first (its
            // read-model write runs beside the writer's) and stopped the writer: either way the
            // batch is refused, saying why.
            Err(Error::Io(message) | Error::Stopped(message)) => {
                assert!(message.to_lowercase().contains("space"), "{message}");
                refused = commands;
                break;
            }
            Err(other) => panic!("a full disk must be an I/O error, not {other:?}"),
        }
    }
    assert!(!refused.is_empty(), "the 6 MiB filesystem never filled up");
    assert!(!acknowledged.is_empty());
    // Callers keep being told while the disk is full; nothing is acknowledged by mistake.
    let head_before = ledger.head().unwrap();
    match ledger.submit_batch(batch(9_999)) {
        Ok(receipts) => panic!("a write on a full disk was acknowledged: {} receipts", receipts.len()),
        Err(Error::Io(_) | Error::Stopped(_)) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
    assert_eq!(ledger.head().unwrap(), head_before);
    drop(ledger);
    fs.remount("size=256m");
    check_reopens(&path, &acknowledged, &refused);
    println!(
        "disk full: {} commands acknowledged before the disk filled; the refused batch of {} is absent",
        acknowledged.len(),
        refused.len()
    );
}

#[test]
fn a_read_only_filesystem_is_refused_clearly_and_still_verifies() {
    let fs = Tmpfs::mount("64m");
    let path = fs.point.join("ledger");
    let ledger = Ledger::create(&path, options()).unwrap();
    genesis(&ledger);
    let acknowledged = batch(1);
    ledger.submit_batch(acknowledged.clone()).unwrap();
    ledger.close().unwrap();
    fs.remount("ro");
    match Ledger::open(&path, options()) {
        Err(Error::Io(message)) => assert!(message.to_lowercase().contains("read-only"), "{message}"),
        other => panic!("opening for writing on a read-only filesystem must fail clearly: {other:?}"),
    }
    // Auditors can still read and verify it.
    let reader = Reader::open(&path, Arc::new(FakeClock::new(at()))).unwrap();
    let head = reader.head().unwrap();
    assert_eq!(reader.verify(1, Some(head)).unwrap().events_checked, head.seq);
    drop(reader);
    fs.remount("rw");
    check_reopens(&path, &acknowledged, &[]);
}

const READ_ONLY_CHILD: &str = "LEDGER_READ_ONLY_CHILD";

/// The writer side of the read-only test: runs as an unprivileged user (root ignores file
/// permissions), writes batches until the directory turns read-only under it, and reports each
/// batch as `ACK` (acknowledged) or `REFUSED` (an error came back), one id per line.
fn read_only_child(dir: &str) -> ! {
    use std::io::Write;
    let ledger = Ledger::create(dir, options()).unwrap();
    genesis(&ledger);
    let mut refusals = 0;
    for n in 0..100_000u128 {
        let commands = batch(n);
        let result = ledger.submit_batch(commands.clone());
        let mut out = std::io::stdout().lock();
        let word = if result.is_ok() { "ACK" } else { "REFUSED" };
        for command in &commands {
            writeln!(out, "{word} {}", command.id.0).unwrap();
        }
        if let Err(err) = result {
            writeln!(out, "ERROR {err}").unwrap();
            refusals += 1;
        }
        out.flush().unwrap();
        if refusals == 3 {
            break;
        }
    }
    std::process::exit(0)
}

#[test]
fn a_directory_turning_read_only_during_batches_refuses_them_and_loses_nothing() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    if let Ok(dir) = std::env::var(READ_ONLY_CHILD) {
        read_only_child(&dir);
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ledger");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(root.path(), Some(65_534), Some(65_534)).unwrap();
    std::os::unix::fs::chown(&dir, Some(65_534), Some(65_534)).unwrap();
    let mut child = Process::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["a_directory_turning_read_only_during_batches_refuses_them_and_loses_nothing", "--exact", "--nocapture"])
        .env(READ_ONLY_CHILD, &dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("setpriv is needed to run the writer unprivileged: {err}"));
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut acknowledged, mut refused, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    let mut made_read_only = false;
    for line in lines {
        let line = line.unwrap();
        let mut words = line.splitn(2, ' ');
        match (words.next(), words.next()) {
            (Some("ACK"), Some(id)) => acknowledged.push(id.parse::<Uuid>().unwrap()),
            (Some("REFUSED"), Some(id)) => refused.push(id.parse::<Uuid>().unwrap()),
            (Some("ERROR"), Some(message)) => errors.push(message.to_owned()),
            _ => {}
        }
        if !made_read_only && acknowledged.len() >= 10_000 {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
            made_read_only = true;
        }
    }
    let status = child.wait().unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(status.success(), "the writer child failed: {status}");
    assert!(made_read_only, "the child stopped before the directory was made read-only");
    assert!(!refused.is_empty(), "no batch was refused after the directory turned read-only");
    assert!(errors.iter().all(|e| e.to_lowercase().contains("permission") || e.contains("not running")), "{errors:?}");
    let ledger = Ledger::open(&dir, options()).unwrap();
    let head = ledger.head().unwrap();
    assert_eq!(ledger.verify(1, Some(head)).unwrap().events_checked, head.seq);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    for id in &acknowledged {
        assert!(ledger.answered(CommandId(*id)).unwrap().is_some(), "acknowledged {id} lost");
    }
    for id in &refused {
        assert_eq!(ledger.answered(CommandId(*id)).unwrap(), None, "refused {id} was written");
    }
    println!(
        "read-only directory: {} commands acknowledged, then {} refused ({})",
        acknowledged.len(),
        refused.len(),
        errors.first().map_or("", String::as_str)
    );
}

/// Fills the filesystem at `dir` completely (a file written until ENOSPC); returns it.
fn fill(dir: &Path) -> (PathBuf, u64) {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5a_u8; 4096];
    let mut len = 0;
    while let Ok(written) = file.write(&chunk) {
        if written == 0 {
            break;
        }
        len += written as u64;
    }
    file.sync_all().ok();
    (path, len)
}

#[test]
fn create_on_a_filling_disk_leaves_nothing_or_a_ledger_that_opens() {
    // Issue 23 item 13: `init` on a full disk left the LEDGER marker and part of a RocksDB,
    // which nothing opened or repaired. Given a filesystem full but for 0, 16, 32, ... KiB:
    let fs = Tmpfs::mount("4m");
    let (filler, full) = fill(&fs.point);
    let path = fs.point.join("ledger");
    let mut failed = 0;
    let mut free = 0;
    loop {
        std::fs::OpenOptions::new().write(true).open(&filler).unwrap().set_len(full - free).unwrap();
        // When a ledger is created there
        match Ledger::create(&path, options()) {
            // Then it is created whole (and this much room was enough) …
            Ok(ledger) => {
                drop(ledger);
                std::fs::remove_file(&filler).unwrap();
                let ledger = Ledger::open(&path, options()).unwrap();
                genesis(&ledger);
                drop(ledger);
                check_reopens(&path, &[], &[]);
                break;
            }
            // … or refused with nothing left behind
            Err(err) => {
                assert!(
                    !path.exists(),
                    "{free} bytes free: {err}; left {:?}",
                    std::fs::read_dir(&path).map(|d| d.count())
                );
                failed += 1;
            }
        }
        free += 16 << 10;
        assert!(free < full, "no ledger fitted in {full} bytes");
    }
    assert!(failed >= 3, "the disk was never full enough to refuse a creation ({failed} refusals)");
    println!("create on a filling disk: refused {failed} times with nothing left, created with {free} bytes free");
}
