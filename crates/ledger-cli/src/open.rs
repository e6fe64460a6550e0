//! Opening the ledger `--db` names, the same way for every subcommand, and what the operator
//! reads when it does not open.

use ledger_store::{Error as StoreError, Ledger, LedgerOptions, Reader};

use crate::args::Cli;

/// The options every writing subcommand runs with (its commands are recorded as submitted by
/// `--as`, see [`Cli::principal`]).
pub fn ledger_options(cli: &Cli) -> anyhow::Result<LedgerOptions> {
    let checkpoint_key = match &cli.checkpoint_key {
        Some(path) => {
            let text = crate::out::read_small(path)
                .map_err(|err| anyhow::anyhow!("reading the checkpoint key {}: {err}", path.display()))?;
            Some(ledger_store::signing_key_from_hex(&text)?)
        }
        None => None,
    };
    if checkpoint_key.is_some() && cli.checkpoint_every == 0 {
        crate::out::noteln!(
            "warning: --checkpoint-key without --checkpoint-every: no checkpoint is recorded (give --checkpoint-every N)"
        );
    }
    Ok(LedgerOptions {
        clock: cli.clock(),
        max_ahead_of_clock: Some(std::time::Duration::from_secs(cli.max_ahead_seconds)),
        principal: cli.principal().map_err(anyhow::Error::msg)?,
        cache_mib: cli.cache_mib,
        checkpoint_every: cli.checkpoint_every,
        checkpoint_key,
        open_observer: Some(std::sync::Arc::new(crate::progress::OpenProgress::default())),
        ..LedgerOptions::default()
    })
}

/// Opens the existing ledger for writing (starting the writer thread). Creates nothing.
pub fn open_ledger(cli: &Cli) -> anyhow::Result<Ledger> {
    let ledger = Ledger::open(&cli.db, ledger_options(cli)?).map_err(|err| opening_failed(cli, err))?;
    if ledger.head()?.seq == 0 {
        ledger.close()?;
        return Err(without_policy(cli));
    }
    Ok(ledger)
}

/// Opens the ledger read-only (no lock: works next to a running writer).
pub fn open_reader(cli: &Cli) -> anyhow::Result<Reader> {
    let reader = Reader::open(&cli.db, cli.clock()).map_err(|err| opening_failed(cli, err))?;
    let reader = reader.with_cache_mib(cli.cache_mib);
    if reader.head()?.seq == 0 {
        return Err(without_policy(cli));
    }
    Ok(reader)
}

/// A ledger without a single record is an `init` stopped before it recorded the policy: every
/// subcommand but `init` refuses it (a tick or an import there would be recorded before any
/// policy, and the policy could then never take effect from the beginning).
pub fn without_policy(cli: &Cli) -> anyhow::Error {
    let db = ledger_store::location_text(&cli.db);
    anyhow::anyhow!(
        "the ledger at {db} holds no record: its `init` was interrupted before the policy was recorded. \
         Nothing was done. Run `ledger-cli --db {db} init --policy NAME` on it again: it records the policy."
    )
}

/// What the operator reads when a ledger does not open, with what to do about it.
pub fn opening_failed(cli: &Cli, err: StoreError) -> anyhow::Error {
    let db = ledger_store::location_text(&cli.db);
    match err {
        StoreError::Corruption { .. } | StoreError::Damaged(_) => anyhow::anyhow!(
            "the ledger at {db} is damaged and was not opened: {err}. \
             Nothing was written. Keep this directory as evidence, restore the last backup \
             (`ledger-cli backup` copy) and re-import the commands since (docs/RELIABILITY.md)."
        ),
        StoreError::NotALedger(_) => anyhow::Error::new(err),
        // Not damage: a rebuild to finish (nothing to restore).
        StoreError::Rebuilding => anyhow::anyhow!("the ledger at {db} was not opened: {err}"),
        // RocksDB's lock: another writer (a running ledger-server, an import) holds the ledger.
        StoreError::Io(text) if text.contains("LOCK") && text.contains("temporarily unavailable") => anyhow::anyhow!(
            "another process holds the ledger at {db} for writing (a running ledger-server, or an import): {text}. \
             Nothing was done. With ledger-server running, use the server: POST /v1/commands or /v1/batches \
             for submit and import and POST /v1/check for check (back-office or operator token), \
             POST /v1/tick for tick (operator token; its ticker also runs what comes due every tick_seconds); \
             read-only subcommands (verify, backup, queries) work next to it. Or stop it first (docs/SERVER.md)."
        ),
        other => anyhow::Error::new(other).context(format!("opening the ledger at {db}")),
    }
}
