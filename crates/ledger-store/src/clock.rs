//! Where business time comes from when the embedder does not give it.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use ledger_core::Timestamp;

/// Where business time comes from when the embedder does not give it.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
        Timestamp::from_millis(ms).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// A clock tests set by hand.
#[derive(Debug)]
pub struct FakeClock {
    ms: AtomicI64,
}

impl FakeClock {
    pub fn new(start: Timestamp) -> FakeClock {
        FakeClock { ms: AtomicI64::new(start.as_millis()) }
    }

    pub fn set(&self, at: Timestamp) {
        self.ms.store(at.as_millis(), Ordering::SeqCst);
    }

    pub fn advance_millis(&self, ms: i64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.ms.load(Ordering::SeqCst)).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}
