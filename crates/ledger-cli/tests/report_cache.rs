//! `report --cache FILE`: a report resumed from the cache prints what a report from genesis
//! prints; the cache is replaced by the state after the range, refused when it is another
//! log's, and not used when made with other rules. The cache is authenticated (HMAC under
//! --cache-key): one written under another key and a forged layout-1 one (an unkeyed checksum)
//! are not trusted; an empty or short file is no cache (another path to choose, never one to
//! delete), nor is a file whose code does not hold under the key, whatever its first byte (it
//! is left as it is); every run says whether the cache was used.

mod common;

use std::os::unix::fs::PermissionsExt;

use sha2::Digest;

use common::{cli, json};

#[test]
fn a_report_from_the_cache_prints_what_a_report_from_genesis_prints() {
    let dir = tempfile::tempdir().unwrap();
    let (keep, export) = common::demo_and_export(dir.path());
    let days: std::collections::BTreeSet<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|line| json(line)["event"]["at"].as_str().unwrap()[..10].to_owned())
        .collect();
    let days: Vec<String> = days.into_iter().collect();
    assert!(days.len() >= 3, "{days:?}");
    let cache = dir.path().join("report.cache");
    let cache_arg = cache.to_str().unwrap();
    let key = dir.path().join("cache.key");
    let key_arg = key.to_str().unwrap();
    let report = |from: &str, to: &str, extra: &[&str]| {
        let mut args = vec!["--json", "report", "all", "--from", from, "--to", to];
        args.extend_from_slice(extra);
        if extra.contains(&"--cache") && !extra.contains(&"--cache-key") {
            args.extend(["--cache-key", key_arg]);
        }
        cli(&keep, &args)
    };
    // Day by day, each report resumed from the cache the one before left, as a nightly job does.
    let mut before = None;
    for (index, day) in days.iter().enumerate() {
        let (code, cached, err) = report(day, day, &["--cache", cache_arg]);
        assert_eq!(code, 0, "{day}: {err}");
        // Every run says whether the report rests on the cache.
        let said = if index == 0 { "not used" } else { "report state from cache" };
        assert!(err.contains(said) && err.contains(cache_arg), "{day}: {err}");
        let (_, genesis, _) = report(day, day, &[]);
        assert_eq!(json(&cached), json(&genesis), "{day}");
        // Replaced by the state at the start of the next day; after the last day (no records
        // after it) left as it was.
        let after = std::fs::read(&cache).ok();
        assert_eq!(after != before, index + 1 < days.len(), "{day}");
        before = after;
    }
    // The cache is read: one byte changed is refused.
    let mut damaged = std::fs::read(&cache).unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    let damaged_path = dir.path().join("damaged.cache");
    std::fs::write(&damaged_path, damaged).unwrap();
    let last_day = days.last().unwrap();
    let (code, _, err) = report(last_day, last_day, &["--cache", damaged_path.to_str().unwrap()]);
    assert_ne!(code, 0);
    // A cache of another key cannot be told from a damaged one: both named, the file left.
    assert!(err.contains("another --cache-key, or damaged") && err.contains("left as it is"), "{err}");
    assert!(err.contains("give the key it was written under") && err.contains("delete it (derived data)"), "{err}");
    // (what the cache file holds, the key file given, what stderr must say; refused)
    let genuine = std::fs::read(&cache).unwrap();
    let other_key = dir.path().join("other.key");
    let fresh = dir.path().join("fresh.cache");
    let (code, _, err) =
        report(last_day, last_day, &["--cache", fresh.to_str().unwrap(), "--cache-key", other_key.to_str().unwrap()]);
    assert_eq!(code, 0, "a new key made: {err}");
    assert!(err.contains("report cache key made"), "{err}");
    assert_eq!(std::fs::metadata(&other_key).unwrap().permissions().mode() & 0o777, 0o600);
    // A layout-1 cache (its checksum unkeyed: anyone could forge one): not used.
    let mut layout_1 = vec![1u8];
    layout_1.extend_from_slice(&genuine[1..33]);
    let digest =
        sha2::Sha256::new().chain_update(b"tiered-ledger/report-cache/1").chain_update(&genuine[65..]).finalize();
    layout_1.extend_from_slice(&digest);
    layout_1.extend_from_slice(&genuine[65..]);
    // A layout-3 cache (every account's owner and class in it), authentic under the key: not used.
    let mut layout_3 = vec![3u8];
    layout_3.extend_from_slice(&genuine[1..33]);
    let key_bytes = hex::decode(std::fs::read_to_string(&key).unwrap().trim()).unwrap();
    let code =
        hmac_sha256(&key_bytes, &[b"tiered-ledger/report-cache/2".as_slice(), &layout_3, &genuine[65..]].concat());
    layout_3.extend_from_slice(&code);
    layout_3.extend_from_slice(&genuine[65..]);
    // Another file (a saved report, a database's own file): refused and left as it is (outside
    // tester: a RocksDB MANIFEST given as --cache was replaced and the ledger no longer opened).
    let mut manifest_like = vec![0xd7u8, 0x3a, 0x9c, 0x5e];
    manifest_like.resize(200, 0x11);
    // A file of the user's whose first byte is a layout's (an outside tester: `--cache` given a
    // mistyped path was replaced): 65 bytes or more, nothing proves it ours.
    let users_file = |first: u8| [vec![first], b"the user's own data, not a report cache. ".repeat(4)].concat();
    // A cache of this layout made with other rules (its digest changed) whose code does not hold.
    let mut other_rules_unkeyed = genuine.clone();
    other_rules_unkeyed[1] ^= 1;
    let not_ours = "not a report cache written under this --cache-key (its authentication code does not hold";
    let rows: [(&str, Vec<u8>, &str, &str, bool); 12] = [
        ("the genuine cache", genuine.clone(), key_arg, "report state from cache", false),
        ("a saved JSON report", br#"{"large_value":[]}"#.repeat(8), key_arg, "not a report cache", true),
        ("another program's file", manifest_like, key_arg, "left as it is", true),
        ("layout 3, authentic", layout_3, key_arg, "not used", false),
        ("written under another key", genuine.clone(), other_key.to_str().unwrap(), "authentication code", true),
        // An empty file, such as a RocksDB write-ahead log `000010.log` just opened, and a short
        // one (an outside tester: "damaged … delete it, it is derived data" for a file we never
        // wrote): not a report cache, another path to choose.
        ("an empty file", Vec::new(), key_arg, "not a report cache (it is empty): left as it is; choose another", true),
        ("a short file", vec![4, 0, 0], key_arg, "(3 bytes, shorter than a report cache's 65-byte header)", true),
        ("layout 1, unkeyed: nothing proves it ours", layout_1, key_arg, not_ours, true),
        ("a file of the user's starting with 0x01", users_file(1), key_arg, not_ours, true),
        ("a file of the user's starting with 0x02", users_file(2), key_arg, not_ours, true),
        ("a file of the user's starting with 0x04", users_file(4), key_arg, "left as it is; choose another", true),
        ("layout 4, other rules, not of this key", other_rules_unkeyed, key_arg, not_ours, true),
    ];
    for (what, bytes, key_file, said, refused) in rows {
        let path = dir.path().join("row.cache");
        std::fs::write(&path, &bytes).unwrap();
        let bytes_before = bytes;
        let (code, out, err) =
            report(last_day, last_day, &["--cache", path.to_str().unwrap(), "--cache-key", key_file]);
        assert_eq!(code != 0, refused, "{what}: {err}");
        assert!(err.contains(said), "{what}: {err}");
        if refused {
            assert_eq!(std::fs::read(&path).unwrap(), bytes_before, "{what}: the file was changed");
            // A file that may not be ours is never called one to delete.
            if err.contains("not a report cache") {
                assert!(err.contains("choose another path") && !err.contains("delete"), "{what}: {err}");
            }
            // (with --json the error is the one object on stdout)
            assert!(!out.contains("daily_summary"), "{what}: refused before any line: {out}");
        }
        if !refused {
            assert_eq!(json(&out), json(&report(last_day, last_day, &[]).1), "{what}");
        }
    }
    // With no key file yet, nothing can prove a file there ours: refused, and no key made.
    let no_key = dir.path().join("no.key");
    let path = dir.path().join("row.cache");
    std::fs::write(&path, users_file(4)).unwrap();
    let (code, _, err) =
        report(last_day, last_day, &["--cache", path.to_str().unwrap(), "--cache-key", no_key.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("there is no key") && err.contains("left as it is"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), users_file(4));
    assert!(!no_key.exists(), "a key was made for a cache that was refused");
    // A huge file (64 GiB, sparse) is judged by its header, never read whole: no cache at all
    // is refused, nor is a layout-1 file read (its code unkeyed: never ours).
    let huge = dir.path().join("huge.cache");
    let mut other_layout = genuine.clone();
    other_layout[0] = 1;
    for (what, head, said, refused) in [
        ("64 GiB of zeros", vec![0u8; 1], "not a report cache", true),
        ("64 GiB, layout 1", other_layout, "left as it is", true),
    ] {
        std::fs::write(&huge, &head).unwrap();
        std::fs::File::options().write(true).open(&huge).unwrap().set_len(64 << 30).unwrap();
        let (code, _, err) = report(last_day, last_day, &["--cache", huge.to_str().unwrap(), "--cache-key", key_arg]);
        assert_eq!(code != 0, refused, "{what}: {err}");
        assert!(err.contains(said), "{what}: {err}");
        if refused {
            assert_eq!(std::fs::metadata(&huge).unwrap().len(), 64 << 30, "{what}: the file was changed");
        }
        std::fs::remove_file(&huge).unwrap();
    }
    // A cache whose directory does not exist: refused before the walk, nothing printed.
    let nowhere = dir.path().join("no-such-dir").join("report.cache");
    let (code, out, err) = report(last_day, last_day, &["--cache", nowhere.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(!out.contains("daily_summary") && (out + &err).contains("does not exist"), "refused before the walk");
    // A key file others may read is refused.
    std::fs::set_permissions(&other_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) =
        report(last_day, last_day, &["--cache", cache_arg, "--cache-key", other_key.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("group or others"), "{err}");
    // A cache that starts after --from is not used, and the lines are still right.
    let (code, out, _) = report(&days[0], &days[1], &["--cache", cache_arg]);
    assert_eq!(code, 0);
    assert_eq!(json(&out), json(&report(&days[0], &days[1], &[]).1));
    // Made with other rules: not used (a report from genesis), then replaced.
    let rules = dir.path().join("rules.toml");
    let preset = include_str!("../../ledger-core/reports/pboc-2016-3.toml");
    let window_3 = preset.replace("window_days = 7", "window_days = 3");
    std::fs::write(&rules, window_3.replace("name = \"pboc-2016-3\"", "name = \"window-3\"")).unwrap();
    let rules_arg = rules.to_str().unwrap();
    let (code, out, err) = report(&days[1], &days[1], &["--cache", cache_arg, "--rules", rules_arg]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out), json(&report(&days[1], &days[1], &["--rules", rules_arg]).1));
    // ... and said so (an outside tester: it said "absent" of a file there, then replaced it).
    assert!(err.contains("other rules") && err.contains("it is replaced") && !err.contains("absent"), "{err}");
    // Another ledger's cache is refused, naming the cache.
    let other = dir.path().join("other");
    let (code, out, err) = cli(
        &dir.path().join("unused"),
        &["demo", "--customers", "40", "--days", "3", "--keep", other.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = report(&days[0], &days[0], &["--cache", cache_arg]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(
        &other,
        &["report", "all", "--from", &days[2], "--to", &days[2], "--cache", cache_arg, "--cache-key", key_arg],
    );
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("report cache") && err.contains(cache_arg), "{err}");
    assert!(err.contains("whose hash in this log differs"), "{err}");
}

/// One file given for the cache and its key (as given, or by another name): a usage error
/// before anything is written (the key was made over the path, then the cache refused as no
/// cache, or written over the key).
#[test]
fn one_file_for_the_cache_and_its_key_is_a_usage_error_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    let both = dir.path().join("both");
    let dotted = dir.path().join(".").join("both");
    for (cache_path, key_path) in [(&both, &both), (&both, &dotted)] {
        let (code, out, err) = cli(
            &db,
            &[
                "report",
                "daily-summary",
                "--from",
                "2026-03-02",
                "--to",
                "2026-03-02",
                "--cache",
                cache_path.to_str().unwrap(),
                "--cache-key",
                key_path.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--cache and --cache-key name the same file"), "{err}");
        assert!(!both.exists() && out.is_empty(), "nothing written: {out}");
    }
}

/// HMAC-SHA256 (RFC 2104) of `message` under a key of at most 64 bytes.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = sha2::Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    sha2::Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// A thresholds file with a TOML error: the message says "thresholds file", and keeps its
/// lines (the TOML parser's quote of the file) as lines, not a literal `\n`.
#[test]
fn a_broken_thresholds_file_is_named_and_its_error_keeps_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    assert_eq!(cli(&db, &["init", "--policy", "pboc-2018"]).0, 0);
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "name = \"x\"\nlarge_cash = [\n").unwrap();
    let (code, _, err) = cli(
        &db,
        &["report", "large-value", "--from", "2026-03-02", "--to", "2026-03-02", "--rules", rules.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the thresholds file") && !err.contains("invalid policy"), "{err}");
    assert!(err.trim_end().lines().count() > 1 && !err.contains("\\n"), "{err}");
}
