//! The PostgreSQL engine (docs/CLUSTER.md): the log's records, FORMAT.md bytes verbatim, keyed
//! by sequence number in `ledger_log`; every other table as (table, key) → value rows in
//! `ledger_kv` (bytea order is byte order, as in RocksDB); and a one-row `ledger_head` with the
//! writer's epoch. A writer takes the ledger by bumping the epoch. Every commit is one
//! transaction whose first statement moves the head only where this writer's epoch is still the
//! current one and the head is where this writer left it; zero rows updated means another writer
//! took over: the transaction is rolled back and [`Error::Fenced`] returned. A paused or
//! partitioned writer can never extend or fork the chain.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, NoTls, Statement, Transaction};

use super::{META_FORMAT, META_HEAD, META_PROJECTED, Op, Table, Visit};

use crate::codec::{self, GENESIS_PREV, prefix_end};
use crate::error::{Error, Result};

/// Writer sessions carry this `application_name`: a writer taking over ends the others'.
const WRITER_APPLICATION: &str = "tiered-ledger-writer";

/// Rows per page of a scan: the first page is small (a short walk, e.g. the few records under
/// a Merkle node, reads little), each next one 8× larger up to the most.
const SCAN_PAGE_ROWS_FIRST: i64 = 64;
const SCAN_PAGE_ROWS_MAX: i64 = 8_192;

/// The writer's per-batch reads on the shared connection, prepared once per session
/// ([`Pg::prepared`]): a query given as text is parsed and described by the server on every call
/// (one more round trip each).
const GET_MANY: &str = "SELECT key, value FROM ledger_kv WHERE tbl = $1 AND key = ANY($2)";
/// Every key in each inclusive range `(lo[i], hi[i])`, tagged with the range's ordinal, ranges
/// in order and keys in order within each (a range scan of the primary key per range).
const KEY_RANGES: &str = "SELECT ranges.i, found.key \
     FROM UNNEST($2::bytea[], $3::bytea[]) WITH ORDINALITY AS ranges(lo, hi, i) \
     CROSS JOIN LATERAL (SELECT key FROM ledger_kv WHERE tbl = $1 AND key >= ranges.lo AND key <= ranges.hi) AS found \
     ORDER BY ranges.i, found.key";
/// The statements [`Pg::prepared`] holds per session (a bound on its cache).
const PREPARED_MAX: usize = 2;

const SCHEMA: &str = "
CREATE TABLE ledger_log (seq bigint PRIMARY KEY, record bytea NOT NULL);
CREATE TABLE ledger_kv (tbl smallint NOT NULL, key bytea NOT NULL, value bytea NOT NULL, PRIMARY KEY (tbl, key));
CREATE TABLE ledger_head (one boolean PRIMARY KEY DEFAULT true CHECK (one), epoch bigint NOT NULL, seq bigint NOT NULL, hash bytea NOT NULL);
";

/// The URL when `path` names a PostgreSQL ledger (`postgres://…` or `postgresql://…`).
pub(crate) fn url_of(path: &Path) -> Option<&str> {
    let text = path.to_str()?;
    (text.starts_with("postgres://") || text.starts_with("postgresql://")).then_some(text)
}

/// `url` with its password (if any) replaced by `***`: what messages and logs show.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{hosts}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some(("password", _)) => "password=***".to_owned(),
                    _ => param.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

impl From<postgres::Error> for Error {
    fn from(err: postgres::Error) -> Error {
        Error::Io(format!("PostgreSQL: {err}"))
    }
}

fn seq_param(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| Error::Io(format!("sequence number {seq} does not fit PostgreSQL's bigint")))
}

fn seq_of(value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Damaged(format!("a negative sequence number {value} in ledger_log")))
}

/// One connection, shared by the writer's reads and the readers of this process, one the
/// batches are committed in (while the writer reads for the next batch) and one for the
/// projector (its transactions run beside the writer's); each opened again when it was lost
/// (after a failover the URL's hosts, with `target_session_attrs=read-write`, lead to the new
/// primary).
pub(crate) struct Pg {
    url: String,
    client: Mutex<Client>,
    /// The statements prepared on `client`'s session (at most [`PREPARED_MAX`]), dropped when it
    /// is opened again. Locked only while `client`'s lock is held.
    prepared: Mutex<HashMap<&'static str, Statement>>,
    /// The projector's session, opened at its first job.
    projector: Mutex<Option<Client>>,
    /// The session batches are committed in (by the writer's committer thread), opened at the
    /// first commit: the writer decides the next batch through `client` meanwhile.
    committer: Mutex<Option<Client>>,
    /// This writer's epoch; `None` for a read-only open.
    epoch: Option<i64>,
    /// The head sequence number this writer last committed (or found when it took over).
    head_seq: AtomicU64,
    /// Whether `client`'s session is inside [`Pg::in_snapshot`]'s transaction: a session lost
    /// meanwhile is an error, not opened again (its reads would leave the snapshot).
    in_snapshot: AtomicBool,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg").field("epoch", &self.epoch).field("head_seq", &self.head_seq).finish_non_exhaustive()
    }
}

fn connect(url: &str) -> Result<Client> {
    Client::connect(url, NoTls)
        .map_err(|err| Error::NotALedger(format!("cannot reach PostgreSQL at {}: {err}", redacted(url))))
}

/// A connection to a database that holds a ledger.
fn connect_ledger(url: &str) -> Result<Client> {
    let mut client = connect(url)?;
    if !has_ledger(&mut client)? {
        return Err(Error::NotALedger(format!("no ledger in the database at {}; create one with init", redacted(url))));
    }
    Ok(client)
}

/// Marks a writer's session, and bounds how long it may sit idle inside a transaction (a
/// paused writer's open batch then releases the head row's lock; a live writer sends a batch's
/// statements back to back).
fn writer_session(client: &mut Client) -> Result<()> {
    client.batch_execute(&format!(
        "SET application_name = '{WRITER_APPLICATION}'; SET idle_in_transaction_session_timeout = '5s'"
    ))?;
    Ok(())
}

/// Whether the database holds the head table.
fn has_ledger(client: &mut impl GenericClient) -> Result<bool> {
    let row = client.query_one("SELECT to_regclass('ledger_head') IS NOT NULL", &[])?;
    Ok(row.get(0))
}

impl Pg {
    /// Creates the ledger's tables in an empty database (refuses one that has them), then
    /// opens it for writing.
    pub(crate) fn create(url: &str) -> Result<Pg> {
        let mut client = connect(url)?;
        let mut tx = client.transaction()?;
        if has_ledger(&mut tx)? {
            return Err(Error::NotALedger(format!(
                "the database at {} already holds a ledger; only an empty database is initialised",
                redacted(url)
            )));
        }
        tx.batch_execute(SCHEMA)?;
        tx.execute("INSERT INTO ledger_head (epoch, seq, hash) VALUES (0, 0, $1)", &[&GENESIS_PREV.as_slice()])?;
        tx.execute(
            "INSERT INTO ledger_kv (tbl, key, value) VALUES ($1, $2, $3)",
            &[&(Table::Meta as i16), &META_FORMAT, &[codec::LAYOUT_VERSION_UNPROJECTED].as_slice()],
        )?;
        tx.commit()?;
        drop(client);
        Pg::open_writer(url)
    }

    /// Opens for writing: takes the ledger by bumping the epoch, which fences off every earlier
    /// writer (its next commit finds another epoch and is rolled back). First it ends earlier
    /// writers' sessions: one paused inside a batch's transaction would hold the head row's
    /// lock (and the bump would wait for it) until it woke.
    pub(crate) fn open_writer(url: &str) -> Result<Pg> {
        let mut client = connect_ledger(url)?;
        // Needs the same role (or pg_signal_backend); without it the idle-in-transaction
        // timeout below ends such a session instead.
        let _ = client.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database() AND pid <> pg_backend_pid()",
            &[&WRITER_APPLICATION],
        );
        writer_session(&mut client)?;
        let row = client.query_one("UPDATE ledger_head SET epoch = epoch + 1 RETURNING epoch, seq", &[])?;
        let (epoch, seq): (i64, i64) = (row.get(0), row.get(1));
        Ok(Pg {
            url: url.to_owned(),
            client: Mutex::new(client),
            prepared: Mutex::new(HashMap::new()),
            projector: Mutex::new(None),
            committer: Mutex::new(None),
            epoch: Some(epoch),
            head_seq: AtomicU64::new(seq_of(seq)?),
            in_snapshot: AtomicBool::new(false),
        })
    }

    /// Opens read-only: nothing is written, no epoch taken.
    pub(crate) fn open_reader(url: &str) -> Result<Pg> {
        let client = connect_ledger(url)?;
        Ok(Pg {
            url: url.to_owned(),
            client: Mutex::new(client),
            prepared: Mutex::new(HashMap::new()),
            projector: Mutex::new(None),
            committer: Mutex::new(None),
            epoch: None,
            head_seq: AtomicU64::new(0),
            in_snapshot: AtomicBool::new(false),
        })
    }

    fn client(&self) -> Result<std::sync::MutexGuard<'_, Client>> {
        let mut client =
            self.client.lock().map_err(|_| Error::Io("the PostgreSQL connection's lock is poisoned".into()))?;
        if client.is_closed() {
            if self.in_snapshot.load(Ordering::Acquire) {
                return Err(Error::Io("PostgreSQL: the session was lost during a read of one snapshot".into()));
            }
            // Statements prepared on the lost session do not exist on the new one.
            self.prepared.lock().map_err(|_| Error::Io("the prepared statements' lock is poisoned".into()))?.clear();
            *client = Client::connect(&self.url, NoTls)
                .map_err(|err| Error::Io(format!("PostgreSQL: reconnecting to {}: {err}", redacted(&self.url))))?;
            if self.epoch.is_some() {
                writer_session(&mut client)?;
                // The server ended this session (a writer taking over ends all of ours, a
                // failover all): the committing one is opened afresh too, so the next batch
                // meets the epoch instead of failing once more on a dead session.
                if let Ok(mut committer) = self.committer.lock() {
                    *committer = None;
                }
            }
        }
        Ok(client)
    }

    /// Runs `read` (reads through this store) on one snapshot of the database: a `REPEATABLE
    /// READ`, read-only transaction on the shared session, so every read sees the same moment.
    /// A writer's open reads `meta/projected`, the log's tail after it and the account rows the
    /// tail touches: an earlier writer's projector may still commit (it reconnects after being
    /// ended, and projections are ordered by `meta/projected`, not fenced), and rows read after
    /// its commit with a mark read before it would have the tail applied to them twice. Readers
    /// of this process that read meanwhile read in the same snapshot (the shared session only
    /// reads).
    pub(crate) fn in_snapshot<T>(&self, read: impl FnOnce() -> Result<T>) -> Result<T> {
        // Bounded: the open decodes between its reads, and the writer session's 5 s idle limit
        // would end a slow one.
        self.client()?.batch_execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL idle_in_transaction_session_timeout = '120s'",
        )?;
        self.in_snapshot.store(true, Ordering::Release);
        let result = read();
        self.in_snapshot.store(false, Ordering::Release);
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.client().and_then(|mut client| client.batch_execute(end).map_err(Error::from));
        let value = result?;
        ended?;
        Ok(value)
    }

    /// `sql` prepared on `client` (the session of [`Pg::client`], whose lock the caller holds):
    /// once per session.
    fn prepared(&self, client: &mut Client, sql: &'static str) -> Result<Statement> {
        let mut prepared =
            self.prepared.lock().map_err(|_| Error::Io("the prepared statements' lock is poisoned".into()))?;
        if let Some(statement) = prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        if prepared.len() < PREPARED_MAX {
            prepared.insert(sql, statement.clone());
        }
        Ok(statement)
    }

    /// The projector's session (a writer's session too: a writer taking over ends it).
    fn projector_client(&self) -> Result<std::sync::MutexGuard<'_, Option<Client>>> {
        self.side_session(&self.projector, "the projector")
    }

    /// The committing session (a writer's session too: a writer taking over ends it).
    fn committer_client(&self) -> Result<std::sync::MutexGuard<'_, Option<Client>>> {
        self.side_session(&self.committer, "the committer")
    }

    /// A writer's session of its own for `whom`, opened (again) when absent or lost.
    fn side_session<'s>(
        &self,
        session: &'s Mutex<Option<Client>>,
        whom: &str,
    ) -> Result<std::sync::MutexGuard<'s, Option<Client>>> {
        let mut client = session.lock().map_err(|_| Error::Io(format!("{whom}'s connection lock is poisoned")))?;
        if client.as_ref().is_none_or(Client::is_closed) {
            let mut opened = Client::connect(&self.url, NoTls)
                .map_err(|err| Error::Io(format!("PostgreSQL: connecting to {}: {err}", redacted(&self.url))))?;
            writer_session(&mut opened)?;
            *client = Some(opened);
        }
        Ok(client)
    }

    /// Closes the projector's session, on the calling thread.
    pub(crate) fn end_projection_session(&self) {
        if let Ok(mut client) = self.projector.lock() {
            drop(client.take());
        }
    }

    /// Closes the committing session, on the calling thread.
    pub(crate) fn end_commit_session(&self) {
        if let Ok(mut client) = self.committer.lock() {
            drop(client.take());
        }
    }

    /// After the writer reloaded its state: the head it continues from.
    pub(crate) fn rebase(&self, head_seq: u64) {
        self.head_seq.store(head_seq, Ordering::Release);
    }

    pub(crate) fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut client = self.client()?;
        match table {
            Table::Log => {
                let seq = seq_param(codec::decode_seq_key(key)?)?;
                let row = client.query_opt("SELECT record FROM ledger_log WHERE seq = $1", &[&seq])?;
                Ok(row.map(|row| row.get(0)))
            }
            Table::Meta if key == META_HEAD => {
                let row = client.query_one("SELECT seq, hash FROM ledger_head", &[])?;
                let (seq, hash): (i64, Vec<u8>) = (row.get(0), row.get(1));
                let hash: codec::Hash =
                    hash.try_into().map_err(|_| Error::Damaged("ledger_head.hash is not 32 bytes".into()))?;
                Ok(Some(codec::encode_head(seq_of(seq)?, &hash).to_vec()))
            }
            _ => {
                let row = client
                    .query_opt("SELECT value FROM ledger_kv WHERE tbl = $1 AND key = $2", &[&(table as i16), &key])?;
                Ok(row.map(|row| row.get(0)))
            }
        }
    }

    /// The values of `keys` in `table` (not the log), in their order, in one query.
    pub(crate) fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        if table == Table::Log || keys.iter().any(|key| table == Table::Meta && key.as_slice() == META_HEAD) {
            return keys.iter().map(|key| self.get(table, key)).collect();
        }
        let mut client = self.client()?;
        let statement = self.prepared(&mut client, GET_MANY)?;
        let rows = client.query(&statement, &[&(table as i16), &keys])?;
        let found: HashMap<Vec<u8>, Vec<u8>> = rows.into_iter().map(|row| (row.get(0), row.get(1))).collect();
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    /// [`Store::key_ranges`](super::Store::key_ranges) on PostgreSQL (not the log): one query.
    pub(crate) fn key_ranges<K: AsRef<[u8]>>(&self, table: Table, ranges: &[(K, K)]) -> Result<Vec<Vec<Vec<u8>>>> {
        if table == Table::Log || table == Table::Meta {
            return Err(Error::InvalidArgument(format!("key ranges of {table:?} are not read")));
        }
        let mut found = vec![Vec::new(); ranges.len()];
        if ranges.is_empty() {
            return Ok(found);
        }
        let lows: Vec<&[u8]> = ranges.iter().map(|(lo, _)| lo.as_ref()).collect();
        let highs: Vec<&[u8]> = ranges.iter().map(|(_, hi)| hi.as_ref()).collect();
        let mut client = self.client()?;
        let statement = self.prepared(&mut client, KEY_RANGES)?;
        for row in client.query(&statement, &[&(table as i16), &lows, &highs])? {
            let ordinal: i64 = row.get(0);
            let slot = usize::try_from(ordinal)
                .ok()
                .and_then(|ordinal| ordinal.checked_sub(1))
                .and_then(|index| found.get_mut(index))
                .ok_or_else(|| Error::Io(format!("PostgreSQL answered range {ordinal} of {}", ranges.len())))?;
            slot.push(row.get(1));
        }
        Ok(found)
    }

    /// Pages through `table` from `from` in key order; the connection is free while `visit`
    /// runs (it may read or write through this store).
    pub(crate) fn scan(&self, table: Table, from: &[u8], visit: &mut Visit<'_>) -> Result<()> {
        let mut next: Vec<u8> = from.to_vec();
        let mut page_rows = SCAN_PAGE_ROWS_FIRST;
        loop {
            let rows: Vec<(Vec<u8>, Vec<u8>)> = {
                let mut client = self.client()?;
                if table == Table::Log {
                    let first = if next.is_empty() { 0 } else { seq_param(codec::decode_seq_key(&next)?)? };
                    client
                        .query(
                            "SELECT seq, record FROM ledger_log WHERE seq >= $1 ORDER BY seq LIMIT $2",
                            &[&first, &page_rows],
                        )?
                        .into_iter()
                        .map(|row| Ok((codec::seq_key(seq_of(row.get(0))?).to_vec(), row.get(1))))
                        .collect::<Result<_>>()?
                } else {
                    client
                        .query(
                            "SELECT key, value FROM ledger_kv WHERE tbl = $1 AND key >= $2 ORDER BY key LIMIT $3",
                            &[&(table as i16), &next, &page_rows],
                        )?
                        .into_iter()
                        .map(|row| (row.get(0), row.get(1)))
                        .collect()
                }
            };
            let full = rows.len() as i64 == page_rows;
            page_rows = (page_rows * 8).min(SCAN_PAGE_ROWS_MAX);
            for (key, value) in &rows {
                if !visit(key, value)? {
                    return Ok(());
                }
            }
            match rows.last() {
                Some((key, _)) if full => {
                    // The next page starts just after the last key.
                    next = key.clone();
                    if table == Table::Log {
                        next = codec::seq_key(codec::decode_seq_key(key)? + 1).to_vec();
                    } else {
                        next.push(0);
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Applies `ops` in one transaction, fenced by the epoch (see the module's comment).
    pub(crate) fn commit(&self, ops: Vec<Op>) -> Result<()> {
        let epoch = self.epoch.ok_or_else(|| Error::InvalidArgument("this ledger was opened read-only".into()))?;
        let mut guard = self.committer_client()?;
        let client = guard.as_mut().ok_or_else(|| Error::Io("the committing session is not open".into()))?;
        let mut tx = client.transaction()?;
        let new_head = ops.iter().rev().find_map(|op| match op {
            Op::Put(Table::Meta, key, value) if key.as_slice() == META_HEAD => Some(value),
            _ => None,
        });
        let expected = self.head_seq.load(Ordering::Acquire);
        let (moved, new_seq) = match new_head {
            Some(bytes) => {
                let (seq, hash) = codec::decode_head(bytes)?;
                let moved = tx.execute(
                    "UPDATE ledger_head SET seq = $1, hash = $2 WHERE epoch = $3 AND seq = $4",
                    &[&seq_param(seq)?, &hash.as_slice(), &epoch, &seq_param(expected)?],
                )?;
                (moved, seq)
            }
            None => (tx.execute("UPDATE ledger_head SET epoch = epoch WHERE epoch = $1", &[&epoch])?, expected),
        };
        if moved != 1 {
            drop(tx);
            let current = client.query_one("SELECT epoch, seq FROM ledger_head", &[])?;
            let (now_epoch, now_seq): (i64, i64) = (current.get(0), current.get(1));
            return Err(Error::Fenced(format!(
                "this writer holds epoch {epoch} at head {expected}; the ledger is at epoch {now_epoch}, head {now_seq}: \
                 another writer took over, and nothing of this batch was recorded"
            )));
        }
        let mut log_seqs = Vec::new();
        let mut log_records = Vec::new();
        let mut pending: HashMap<(Table, Vec<u8>), Option<Vec<u8>>> = HashMap::new();
        for op in ops {
            match op {
                Op::Put(Table::Log, key, value) => {
                    log_seqs.push(seq_param(codec::decode_seq_key(&key)?)?);
                    log_records.push(value);
                }
                Op::Put(Table::Meta, key, _) if key.as_slice() == META_HEAD => {}
                Op::Put(table, key, value) => {
                    pending.insert((table, key), Some(value));
                }
                Op::Delete(table, key) => {
                    pending.insert((table, key), None);
                }
                Op::DeletePrefix(table, prefix) => {
                    flush(&mut tx, &mut pending)?;
                    let table = table as i16;
                    match (prefix.is_empty(), prefix_end(&prefix)) {
                        (true, _) => tx.execute("DELETE FROM ledger_kv WHERE tbl = $1", &[&table])?,
                        (false, Some(end)) => tx.execute(
                            "DELETE FROM ledger_kv WHERE tbl = $1 AND key >= $2 AND key < $3",
                            &[&table, &prefix, &end],
                        )?,
                        (false, None) => {
                            tx.execute("DELETE FROM ledger_kv WHERE tbl = $1 AND key >= $2", &[&table, &prefix])?
                        }
                    };
                }
            }
        }
        // A sequence number already taken fails the copy: the chain cannot fork here either.
        let records = log_seqs.iter().zip(&log_records).map(|(seq, record)| [seq as &(dyn ToSql + Sync), record]);
        copy_in(
            &mut tx,
            "COPY ledger_log (seq, record) FROM STDIN (FORMAT binary)",
            &[Type::INT8, Type::BYTEA],
            records,
        )?;
        flush(&mut tx, &mut pending)?;
        tx.commit()?;
        self.head_seq.store(new_seq, Ordering::Release);
        Ok(())
    }

    /// Writes a projection of the log's `(from_seq, N]` (a projector job, or a writer's
    /// catch-up: history and customer index entries, account read models, `meta/projected` = N)
    /// in the projector's own session, so it runs beside the writer's batches. It is not fenced
    /// by the epoch (a lock on the head row would hold the writer's batches up for the whole
    /// transaction) but ordered by the `meta/projected` row, locked first:
    /// - stored past N (a writer that took over projected further, which covers this one):
    ///   rolled back, nothing to write (this writer's next batch is refused by the epoch);
    /// - stored before `from_seq` (a projection that committed was lost, e.g. an asynchronous
    ///   standby promoted): rolled back, [`Error::ReadModel`]; the next writer's open catches up;
    /// - otherwise written: what it writes is a function of the log up to N, the same whoever
    ///   writes it, and a retry of one that committed changes nothing.
    ///
    /// History entries after the stored watermark are new (none is written before the watermark
    /// passes it), so they are copied in; the rest are upserts. The commit waits for the
    /// synchronous standby like the writer's (a projection the writer's process has read must
    /// survive a failover: the next one starts where it ended).
    pub(crate) fn commit_projection(&self, ops: Vec<Op>, from_seq: u64) -> Result<()> {
        if self.epoch.is_none() {
            return Err(Error::InvalidArgument("this ledger was opened read-only".into()));
        }
        let to_seq = ops
            .iter()
            .rev()
            .find_map(|op| match op {
                Op::Put(Table::Meta, key, value) if key.as_slice() == META_PROJECTED => Some(value),
                _ => None,
            })
            .ok_or_else(|| Error::InvalidArgument("a projection that does not move meta/projected".into()))?;
        let to_seq = codec::decode_projected(to_seq)?;
        let mut guard = self.projector_client()?;
        let client = guard.as_mut().ok_or_else(|| Error::Io("the projector's session is not open".into()))?;
        let mut tx = client.transaction()?;
        let stored = tx.query_opt(
            "SELECT value FROM ledger_kv WHERE tbl = $1 AND key = $2 FOR UPDATE",
            &[&(Table::Meta as i16), &META_PROJECTED],
        )?;
        let projected = stored.map(|row| codec::decode_projected(row.get(0))).transpose()?;
        match projected {
            // Another writer took over and projected further: that projection covers this one
            // (the log up to it holds this job's records); this writer's next batch is fenced.
            Some(projected) if projected > to_seq => return Ok(()),
            Some(projected) if projected < from_seq => {
                return Err(Error::ReadModel(format!(
                    "the read models are projected up to seq {projected} only, and this projection starts \
                     after {from_seq}: a projection was lost; opening the ledger for writing catches up"
                )));
            }
            _ => {}
        }
        let mut new_history = Vec::new();
        let mut pending: HashMap<(Table, Vec<u8>), Option<Vec<u8>>> = HashMap::new();
        for op in ops {
            match op {
                Op::Put(Table::History, key, value)
                    if projected.is_some_and(|projected| {
                        codec::split_index_key(&key).is_some_and(|(_, seq)| seq > projected)
                    }) =>
                {
                    new_history.push((key, value));
                }
                Op::Put(table, key, value) => {
                    pending.insert((table, key), Some(value));
                }
                Op::Delete(table, key) => {
                    pending.insert((table, key), None);
                }
                Op::DeletePrefix(..) => {
                    return Err(Error::InvalidArgument("a projection deletes nothing".into()));
                }
            }
        }
        let tbl = Table::History as i16;
        let rows = new_history.iter().map(|(key, value)| [&tbl as &(dyn ToSql + Sync), key, value]);
        let statement = "COPY ledger_kv (tbl, key, value) FROM STDIN (FORMAT binary)";
        copy_in(&mut tx, statement, &[Type::INT2, Type::BYTEA, Type::BYTEA], rows)?;
        flush(&mut tx, &mut pending)?;
        tx.commit()?;
        Ok(())
    }
}

/// Copies `rows` in with `COPY … FROM STDIN (FORMAT binary)` (nothing for none).
fn copy_in<'r, const N: usize>(
    tx: &mut Transaction<'_>,
    statement: &str,
    types: &[Type; N],
    rows: impl Iterator<Item = [&'r (dyn ToSql + Sync); N]>,
) -> Result<()> {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let mut writer = BinaryCopyInWriter::new(tx.copy_in(statement)?, types);
    for row in rows {
        writer.write(&row)?;
    }
    writer.finish()?;
    Ok(())
}

/// Writes the pending puts (upserts) and deletes, one statement each, in key order (the index
/// pages are then visited in order).
fn flush(tx: &mut Transaction<'_>, pending: &mut HashMap<(Table, Vec<u8>), Option<Vec<u8>>>) -> Result<()> {
    let (mut put_tables, mut put_keys, mut put_values) = (Vec::new(), Vec::new(), Vec::new());
    let (mut delete_tables, mut delete_keys) = (Vec::new(), Vec::new());
    let mut sorted: Vec<_> = pending.drain().collect();
    sorted.sort_unstable_by(|((table_a, key_a), _), ((table_b, key_b), _)| {
        (*table_a as i16, key_a).cmp(&(*table_b as i16, key_b))
    });
    for ((table, key), value) in sorted {
        match value {
            Some(value) => {
                put_tables.push(table as i16);
                put_keys.push(key);
                put_values.push(value);
            }
            None => {
                delete_tables.push(table as i16);
                delete_keys.push(key);
            }
        }
    }
    if !delete_keys.is_empty() {
        tx.execute(
            "DELETE FROM ledger_kv USING UNNEST($1::smallint[], $2::bytea[]) AS gone(tbl, key) \
             WHERE ledger_kv.tbl = gone.tbl AND ledger_kv.key = gone.key",
            &[&delete_tables, &delete_keys],
        )?;
    }
    if !put_keys.is_empty() {
        tx.execute(
            "INSERT INTO ledger_kv (tbl, key, value) SELECT * FROM UNNEST($1::smallint[], $2::bytea[], $3::bytea[]) \
             ON CONFLICT (tbl, key) DO UPDATE SET value = EXCLUDED.value",
            &[&put_tables, &put_keys, &put_values],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_never_show_in_messages() {
        let cases = [
            ("postgres://ledger:s3cret@db1:5432/ledger", "postgres://ledger:***@db1:5432/ledger"),
            (
                "postgres://ledger:p@ss@db1,db2/ledger?target_session_attrs=read-write",
                "postgres://ledger:***@db1,db2/ledger?target_session_attrs=read-write",
            ),
            ("postgres://ledger@db1/ledger", "postgres://ledger@db1/ledger"),
            (
                "postgresql://db1/ledger?sslmode=require&password=x",
                "postgresql://db1/ledger?sslmode=require&password=***",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redacted(url), shown);
        }
    }
}
