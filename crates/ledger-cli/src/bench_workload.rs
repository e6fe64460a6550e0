//! The `benchmark` workload, made batch by batch: the setup (the policy, then the accounts,
//! opened and funded) and the transfers between random accounts. Nothing of it is held beyond
//! the batch asked for (and, for Zipf, the distribution's CDF: 8 bytes per account), so the
//! benchmark's own memory does not grow with the accounts or the transfers (issue 25).
//!
//! Every command is a function of the spec and its position: setup command `k` (from 0) has
//! id `(seed, k + 1)`; transfer `t` has id `(seed, setup_len + t + 1)` and is the `t`-th draw of
//! the generator seeded with `seed`. So the batches are the same whatever their size.

use ledger_core::{
    AccountClass, AccountId, Amount, Binding, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::args::{BenchSpec, Distribution};

/// The business time of every benchmark command: 2026-03-02T10:00:00+08:00.
pub const WORKLOAD_AT_MS: i64 = 1_772_416_800_000;

/// Draws account indexes `0..n`.
struct Picker {
    cdf: Vec<f64>,
}

impl Picker {
    fn new(n: u64, distribution: Distribution) -> Picker {
        let cdf = match distribution {
            Distribution::Uniform => Vec::new(),
            Distribution::Zipf => {
                let mut sum = 0.0;
                let mut cdf: Vec<f64> = (1..=n)
                    .map(|k| {
                        sum += 1.0 / k as f64;
                        sum
                    })
                    .collect();
                for value in &mut cdf {
                    *value /= sum;
                }
                cdf
            }
        };
        Picker { cdf }
    }

    fn pick(&self, rng: &mut StdRng, n: u64) -> u64 {
        if self.cdf.is_empty() {
            return rng.random_range(0..n);
        }
        let x: f64 = rng.random();
        self.cdf.partition_point(|c| *c < x).min(self.cdf.len() - 1) as u64
    }
}

/// Setup commands per account (plain: open, deposit) and per customer (mix: three opens, a
/// deposit and two transfers).
const PLAIN_SETUP: u64 = 2;
const MIX_SETUP: u64 = 6;

/// The workload of one benchmark spec. Plain: `accounts` funded Class I accounts. Mix:
/// customers with a Class I, II and III account each (II/III bound to the I), so II/III
/// transfers hit limits.
pub struct Workload {
    seed: u64,
    at: Timestamp,
    mix: bool,
    /// Plain: the accounts; mix: the customers.
    owners: u64,
    setup_made: u64,
    transfers: u64,
    transfers_made: u64,
    picker: Picker,
    rng: StdRng,
    max_fen: u64,
    policy: Box<Policy>,
    big: Amount,
    to_ii: Amount,
    to_iii: Amount,
}

impl Workload {
    pub fn new(spec: &BenchSpec, at: Timestamp) -> anyhow::Result<Workload> {
        let owners = if spec.mix { spec.accounts.div_ceil(3) } else { spec.accounts };
        let accounts = if spec.mix { owners * 3 } else { owners };
        Ok(Workload {
            seed: spec.seed,
            at,
            mix: spec.mix,
            owners,
            setup_made: 0,
            transfers: spec.transfers,
            transfers_made: 0,
            picker: Picker::new(accounts, spec.distribution),
            rng: StdRng::seed_from_u64(spec.seed),
            max_fen: if spec.mix { 300_000 } else { 10_000 },
            policy: Box::new(Policy::preset("default")?),
            big: Amount::from_yuan(10_000_000)?,
            to_ii: Amount::from_yuan(50_000)?,
            to_iii: Amount::from_yuan(5_000)?,
        })
    }

    /// Setup commands in all: the policy, then the accounts'.
    pub fn setup_len(&self) -> u64 {
        1 + self.owners * if self.mix { MIX_SETUP } else { PLAIN_SETUP }
    }

    /// Accounts transfers are drawn from.
    fn accounts(&self) -> u64 {
        if self.mix { self.owners * 3 } else { self.owners }
    }

    /// The account at index `index` (`0..accounts()`): plain `index + 1`; mix customer `c`'s
    /// Class I, II and III accounts `10c`, `10c + 1`, `10c + 3`.
    fn account(&self, index: u64) -> AccountId {
        if self.mix {
            let c = index / 3 + 1;
            AccountId(c * 10 + [0, 1, 3][(index % 3) as usize])
        } else {
            AccountId(index + 1)
        }
    }

    fn command(&self, n: u64, body: CommandBody) -> Command {
        Command { id: CommandId(Uuid::from_u64_pair(self.seed, n)), at: self.at, body, stamped: false }
    }

    /// Setup command `k` (from 0).
    fn setup_body(&self, k: u64) -> CommandBody {
        if k == 0 {
            return CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy: self.policy.clone() };
        }
        if !self.mix {
            let a = AccountId((k - 1) / PLAIN_SETUP + 1);
            return match (k - 1) % PLAIN_SETUP {
                0 => CommandBody::open_class_i(a, CustomerId(a.0)),
                _ => CommandBody::CashDeposit { account: a, amount: self.big },
            };
        }
        let c = (k - 1) / MIX_SETUP + 1;
        let (i, ii, iii) = (AccountId(c * 10), AccountId(c * 10 + 1), AccountId(c * 10 + 3));
        let open = |account, class, binding| CommandBody::OpenAccount {
            account,
            customer: CustomerId(c),
            class,
            binding,
            verified_in_person: true,
            with_card: false,
        };
        match (k - 1) % MIX_SETUP {
            0 => open(i, AccountClass::I, None),
            1 => CommandBody::CashDeposit { account: i, amount: self.big },
            2 => open(ii, AccountClass::II, Some(Binding::Account(i))),
            3 => open(iii, AccountClass::III, Some(Binding::Account(i))),
            4 => CommandBody::InternalTransfer { from: i, to: ii, amount: self.to_ii },
            _ => CommandBody::InternalTransfer { from: i, to: iii, amount: self.to_iii },
        }
    }

    /// The next at most `max` setup commands; none once every one was made.
    pub fn next_setup(&mut self, max: usize) -> Vec<Command> {
        let end = self.setup_len().min(self.setup_made.saturating_add(max as u64));
        let batch = (self.setup_made..end).map(|k| self.command(k + 1, self.setup_body(k))).collect();
        self.setup_made = end;
        batch
    }

    /// The next at most `max` transfers; none once the spec's count was made.
    pub fn next_transfers(&mut self, max: usize) -> anyhow::Result<Vec<Command>> {
        let count = (self.transfers - self.transfers_made).min(max as u64);
        let mut batch = Vec::with_capacity(count as usize);
        let n = self.accounts();
        for _ in 0..count {
            let from = self.picker.pick(&mut self.rng, n);
            let mut to = self.picker.pick(&mut self.rng, n);
            if to == from {
                to = (self.picker.pick(&mut self.rng, n) + 1) % n;
            }
            let (from, to) = (self.account(from), self.account(to));
            let amount = Amount::from_fen(self.rng.random_range(1..=self.max_fen))?;
            self.transfers_made += 1;
            let position = self.setup_len() + self.transfers_made;
            batch.push(self.command(position, CommandBody::InternalTransfer { from, to, amount }));
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workload as the benchmark made it before issue 25: every command in two vectors.
    fn whole(spec: &BenchSpec, at: Timestamp) -> (Vec<Command>, Vec<Command>) {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let mut n: u128 = 0;
        let mut cmd = |body| {
            n += 1;
            Command { id: CommandId(Uuid::from_u64_pair(spec.seed, n as u64)), at, body, stamped: false }
        };
        let policy = Box::new(Policy::preset("default").unwrap());
        let mut setup = vec![cmd(CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy })];
        let big = Amount::from_yuan(10_000_000).unwrap();
        let ids: Vec<AccountId> = if spec.mix {
            let customers = spec.accounts.div_ceil(3);
            for c in 1..=customers {
                let (i, ii, iii) = (AccountId(c * 10), AccountId(c * 10 + 1), AccountId(c * 10 + 3));
                let open = |account, class, binding| CommandBody::OpenAccount {
                    account,
                    customer: CustomerId(c),
                    class,
                    binding,
                    verified_in_person: true,
                    with_card: false,
                };
                setup.push(cmd(open(i, AccountClass::I, None)));
                setup.push(cmd(CommandBody::CashDeposit { account: i, amount: big }));
                setup.push(cmd(open(ii, AccountClass::II, Some(Binding::Account(i)))));
                setup.push(cmd(open(iii, AccountClass::III, Some(Binding::Account(i)))));
                let (to_ii, to_iii) = (Amount::from_yuan(50_000).unwrap(), Amount::from_yuan(5_000).unwrap());
                setup.push(cmd(CommandBody::InternalTransfer { from: i, to: ii, amount: to_ii }));
                setup.push(cmd(CommandBody::InternalTransfer { from: i, to: iii, amount: to_iii }));
            }
            (1..=customers).flat_map(|c| [AccountId(c * 10), AccountId(c * 10 + 1), AccountId(c * 10 + 3)]).collect()
        } else {
            for a in 1..=spec.accounts {
                setup.push(cmd(CommandBody::open_class_i(AccountId(a), CustomerId(a))));
                setup.push(cmd(CommandBody::CashDeposit { account: AccountId(a), amount: big }));
            }
            (1..=spec.accounts).map(AccountId).collect()
        };
        let picker = Picker::new(ids.len() as u64, spec.distribution);
        let max_fen = if spec.mix { 300_000 } else { 10_000 };
        let mut transfers = Vec::new();
        for _ in 0..spec.transfers {
            let from = ids[picker.pick(&mut rng, ids.len() as u64) as usize];
            let mut to = ids[picker.pick(&mut rng, ids.len() as u64) as usize];
            if to == from {
                to = ids[(picker.pick(&mut rng, ids.len() as u64) as usize + 1) % ids.len()];
            }
            let amount = Amount::from_fen(rng.random_range(1..=max_fen)).unwrap();
            transfers.push(cmd(CommandBody::InternalTransfer { from, to, amount }));
        }
        (setup, transfers)
    }

    fn spec(accounts: u64, transfers: u64, distribution: Distribution, mix: bool, seed: u64) -> BenchSpec {
        BenchSpec {
            accounts,
            transfers,
            batch: 1,
            distribution,
            mix,
            seed,
            keep: None,
            cache_mib: ledger_store::DEFAULT_CACHE_MIB,
            in_flight: 1,
        }
    }

    #[test]
    fn the_workload_made_batch_by_batch_is_the_one_made_whole() {
        let at = Timestamp::from_millis(WORKLOAD_AT_MS).unwrap();
        // (spec, batch size asked for)
        let rows = [
            (spec(10, 500, Distribution::Uniform, false, 42), 7),
            (spec(2, 300, Distribution::Uniform, false, 1), 1),
            (spec(50, 400, Distribution::Zipf, false, 42), 64),
            (spec(31, 400, Distribution::Uniform, true, 42), 13),
            (spec(30, 400, Distribution::Zipf, true, 9), 1_000),
        ];
        for (spec, size) in rows {
            let (setup, transfers) = whole(&spec, at);
            let mut workload = Workload::new(&spec, at).unwrap();
            assert_eq!(workload.setup_len(), setup.len() as u64, "{spec:?}");
            let mut made = Vec::new();
            loop {
                let batch = workload.next_setup(size);
                assert!(batch.len() <= size, "{spec:?}");
                if batch.is_empty() {
                    break;
                }
                made.extend(batch);
            }
            assert_eq!(made, setup, "{spec:?}");
            let mut made = Vec::new();
            loop {
                let batch = workload.next_transfers(size).unwrap();
                assert!(batch.len() <= size, "{spec:?}");
                if batch.is_empty() {
                    break;
                }
                made.extend(batch);
            }
            assert_eq!(made, transfers, "{spec:?}");
        }
    }

    #[test]
    fn transfers_do_not_depend_on_the_setup_being_made_first() {
        let at = Timestamp::from_millis(WORKLOAD_AT_MS).unwrap();
        let spec = spec(20, 100, Distribution::Uniform, true, 5);
        let (_, transfers) = whole(&spec, at);
        let mut workload = Workload::new(&spec, at).unwrap();
        assert_eq!(workload.next_transfers(usize::MAX).unwrap(), transfers);
    }
}
