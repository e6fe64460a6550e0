//! The bank's own protections on top of the regulator's limits: security locks, personal
//! limits, the night lock, large-transaction verification, risk-list screening and delayed
//! arrival. Types only; the rules live in `decide`, the bookkeeping in `State::apply`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::money::Amount;
use crate::policy::Flow;
use crate::time::{BeijingDay, Timestamp};

/// Who placed a security lock. Each may hold one lock per account and lifts only its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Customer,
    Bank,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Actor::Customer => "customer",
            Actor::Bank => "bank",
        })
    }
}

/// An account security lock (账户安全锁).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecurityLock {
    pub by: Actor,
    /// The outflows locked; empty locks every outflow.
    pub flows: Vec<Flow>,
    pub reason: String,
}

impl SecurityLock {
    /// True if the lock stops `flow`.
    pub fn covers(&self, flow: Flow) -> bool {
        flow.is_outflow() && (self.flows.is_empty() || self.flows.contains(&flow))
    }
}

/// A customer's own caps (交易限额个性化定制) on the settings' `personal_limit_flows`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PersonalLimits {
    pub per_transaction: Option<Amount>,
    pub per_day: Option<Amount>,
}

/// Which personal limit a request broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonalLimit {
    PerTransaction,
    PerDay,
}

/// Outflows to third parties: what personal limits and large-transaction verification cover by
/// default. Moving money to one's own bound account or into the bank's wealth products is not.
pub const PERSONAL_LIMIT_FLOWS: [Flow; 3] = [Flow::CashWithdrawal, Flow::TransferOutOther, Flow::Payment];

/// Every outflow: what the night lock covers by default.
pub const OUTFLOWS: [Flow; 5] =
    [Flow::CashWithdrawal, Flow::TransferOutBound, Flow::TransferOutOther, Flow::Payment, Flow::WealthPurchase];

/// A time of day in Beijing, to the minute (`"23:00"` in text formats, minutes in binary ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u16);

impl ClockTime {
    /// `hour:minute`, if both are in range.
    pub fn new(hour: u16, minute: u16) -> Option<ClockTime> {
        (hour < 24 && minute < 60).then_some(ClockTime(hour * 60 + minute))
    }

    /// Minutes since Beijing midnight, 0..1440.
    pub fn minute_of_day(self) -> u16 {
        self.0
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl FromStr for ClockTime {
    type Err = Error;

    fn from_str(text: &str) -> Result<ClockTime, Error> {
        let bad = || Error::Time(format!("{text:?} is not a time of day such as 23:00"));
        let (hour, minute) = text.split_once(':').ok_or_else(bad)?;
        if hour.len() != 2 || minute.len() != 2 {
            return Err(bad());
        }
        let hour = hour.parse().map_err(|_| bad())?;
        let minute = minute.parse().map_err(|_| bad())?;
        ClockTime::new(hour, minute).ok_or_else(bad)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() { serializer.collect_str(self) } else { serializer.serialize_u16(self.0) }
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ClockTime, D::Error> {
        if deserializer.is_human_readable() {
            String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
        } else {
            let minutes = u16::deserialize(deserializer)?;
            ClockTime::new(minutes / 60, minutes % 60)
                .ok_or_else(|| serde::de::Error::custom("minute of day out of range"))
        }
    }
}

/// The night lock's window (夜间锁), Beijing time, `start` inclusive, `end` exclusive. A
/// window whose start is after its end crosses midnight (23:00–06:00).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NightWindow {
    pub start: ClockTime,
    pub end: ClockTime,
}

impl NightWindow {
    /// True if `at` falls inside the window.
    pub fn contains(self, at: Timestamp) -> bool {
        let minute = at.beijing_minute_of_day();
        let (start, end) = (self.start.minute_of_day(), self.end.minute_of_day());
        if start <= end { start <= minute && minute < end } else { minute >= start || minute < end }
    }
}

impl fmt::Display for NightWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// When a delayed outbound transfer is executed (notice 261号).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// 普通到账: the settings' delay (2 hours) after acceptance.
    Normal,
    /// 次日到账: at 00:00 Beijing time the next natural day.
    NextDay,
}

impl Arrival {
    /// When a transfer accepted at `accepted_at` is due.
    pub fn due_at(self, accepted_at: Timestamp, settings: &ProtectionSettings) -> Timestamp {
        let due = match self {
            Arrival::Normal => accepted_at.plus_millis(i64::from(settings.normal_arrival_delay_minutes) * 60_000),
            Arrival::NextDay => accepted_at.next_beijing_midnight(),
        };
        // Only at the very end of representable time; such a transfer never comes due.
        due.unwrap_or(accepted_at)
    }
}

/// The bank's protection settings, versioned by effective time like the policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionSettings {
    /// Outflows in [`PERSONAL_LIMIT_FLOWS`] above this are held for verification; `None` turns
    /// verification off (the default).
    #[serde(default)]
    pub large_transaction_threshold: Option<Amount>,
    /// A hold not confirmed within this many minutes expires and releases its funds.
    #[serde(default = "default_hold_expiry_minutes")]
    pub hold_expiry_minutes: u32,
    /// The delay of a normal-arrival transfer (2 hours by notice 261号).
    #[serde(default = "default_normal_arrival_delay_minutes")]
    pub normal_arrival_delay_minutes: u32,
    /// Outflows a customer's personal limits count (default [`PERSONAL_LIMIT_FLOWS`]).
    #[serde(default = "default_personal_limit_flows")]
    pub personal_limit_flows: Vec<Flow>,
    /// Outflows held above the threshold (default [`PERSONAL_LIMIT_FLOWS`]); only outflows that
    /// leave the ledger (no ledger account credited) are ever held.
    #[serde(default = "default_personal_limit_flows")]
    pub verification_flows: Vec<Flow>,
    /// Outflows the night lock stops (default: every outflow; press reports differ, rules.md).
    #[serde(default = "default_night_lock_flows")]
    pub night_lock_flows: Vec<Flow>,
}

fn default_personal_limit_flows() -> Vec<Flow> {
    PERSONAL_LIMIT_FLOWS.to_vec()
}

fn default_night_lock_flows() -> Vec<Flow> {
    OUTFLOWS.to_vec()
}

fn default_hold_expiry_minutes() -> u32 {
    30
}

fn default_normal_arrival_delay_minutes() -> u32 {
    120
}

impl Default for ProtectionSettings {
    fn default() -> ProtectionSettings {
        ProtectionSettings {
            large_transaction_threshold: None,
            hold_expiry_minutes: default_hold_expiry_minutes(),
            normal_arrival_delay_minutes: default_normal_arrival_delay_minutes(),
            personal_limit_flows: default_personal_limit_flows(),
            verification_flows: default_personal_limit_flows(),
            night_lock_flows: default_night_lock_flows(),
        }
    }
}

/// The settings in force before any version is scheduled.
pub(crate) static DEFAULT_SETTINGS: std::sync::LazyLock<ProtectionSettings> =
    std::sync::LazyLock::new(ProtectionSettings::default);

impl ProtectionSettings {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.large_transaction_threshold.is_some_and(Amount::is_zero) {
            return Err("large_transaction_threshold is zero".into());
        }
        if self.hold_expiry_minutes == 0 || self.normal_arrival_delay_minutes == 0 {
            return Err("hold_expiry_minutes and normal_arrival_delay_minutes must be above zero".into());
        }
        let lists = [
            ("personal_limit_flows", &self.personal_limit_flows),
            ("verification_flows", &self.verification_flows),
            ("night_lock_flows", &self.night_lock_flows),
        ];
        for (name, flows) in lists {
            if let Some(flow) = flows.iter().find(|flow| !flow.is_outflow()) {
                return Err(format!("{name}: {flow} is not an outflow"));
            }
        }
        Ok(())
    }
}

/// One account's protections and reservations. Accounts that never used one have none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protections {
    /// At most one per actor.
    pub locks: Vec<SecurityLock>,
    pub limits: PersonalLimits,
    /// Use of the personal per-day limit, counted while one is set.
    pub personal_day: BeijingDay,
    pub personal_day_used: Amount,
    pub night: Option<NightWindow>,
    /// Funds reserved by holds and delayed transfers; `balance - reserved` is available.
    pub reserved: Amount,
}

impl Protections {
    /// The lock stopping `flow`, if any (the bank's first).
    pub fn lock_for(&self, flow: Flow) -> Option<&SecurityLock> {
        self.locks.iter().filter(|lock| lock.covers(flow)).max_by_key(|lock| lock.by)
    }

    /// Personal day use on `day`.
    pub fn personal_used_on(&self, day: BeijingDay) -> Amount {
        if self.personal_day == day { self.personal_day_used } else { Amount::ZERO }
    }
}
