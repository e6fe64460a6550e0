//! Business time and the Beijing calendar the limits are counted in.
//!
//! A "day" is the natural day in Beijing time (UTC+8, no daylight saving) and a "year" the
//! calendar year in Beijing time, whatever the UTC date says.

use std::fmt;
use std::str::FromStr;

use jiff::tz::Offset;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

const MS_PER_DAY: i64 = 86_400_000;
const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;

fn beijing() -> Offset {
    Offset::constant(8)
}

/// An instant of business time, kept to the whole millisecond.
///
/// Invariant: within jiff's range (years -9999..=9999) and a whole number of milliseconds, so
/// the millisecond count round-trips exactly through every encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(jiff::Timestamp);

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(jiff::Timestamp::UNIX_EPOCH);

    /// The instant `ms` milliseconds after the Unix epoch.
    pub fn from_millis(ms: i64) -> Result<Timestamp, Error> {
        jiff::Timestamp::from_millisecond(ms).map(Timestamp).map_err(|err| Error::Time(err.to_string()))
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> i64 {
        self.0.as_millisecond()
    }

    /// The Beijing natural day this instant falls in.
    pub fn beijing_day(self) -> BeijingDay {
        let day = (self.as_millis() + BEIJING_OFFSET_MS).div_euclid(MS_PER_DAY);
        // |day| < 4 million for jiff's range, so it fits in i32.
        BeijingDay(day as i32)
    }

    /// The Beijing calendar year this instant falls in.
    pub fn beijing_year(self) -> BeijingYear {
        BeijingYear(beijing().to_datetime(self.0).year())
    }

    /// Minutes since Beijing midnight, 0..1440.
    pub fn beijing_minute_of_day(self) -> u16 {
        let ms = (self.as_millis() + BEIJING_OFFSET_MS).rem_euclid(MS_PER_DAY);
        // ms < 86,400,000, so the minute is below 1440.
        (ms / 60_000) as u16
    }

    /// The first instant of the next Beijing natural day.
    pub fn next_beijing_midnight(self) -> Result<Timestamp, Error> {
        let day = i64::from(self.beijing_day().0) + 1;
        Timestamp::from_millis(day * MS_PER_DAY - BEIJING_OFFSET_MS)
    }

    /// `self + ms` milliseconds.
    pub fn plus_millis(self, ms: i64) -> Result<Timestamp, Error> {
        let sum = self.as_millis().checked_add(ms).ok_or_else(|| Error::Time("time overflow".into()))?;
        Timestamp::from_millis(sum)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in Beijing time, e.g. `2026-01-01T00:00:00+08:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display_with_offset(beijing()))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for Timestamp {
    type Err = Error;

    /// Parses RFC 3339 with an explicit offset (`Z`, `+08:00`, ...): exactly
    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. Leap seconds (`:60`), offsets beyond ±23:59
    /// and sub-millisecond digits are refused rather than silently adjusted.
    fn from_str(text: &str) -> Result<Timestamp, Error> {
        check_rfc3339_shape(text).map_err(|why| Error::Time(format!("{text:?}: {why}")))?;
        let ts: jiff::Timestamp = text.parse().map_err(|err: jiff::Error| Error::Time(format!("{text:?}: {err}")))?;
        if ts.subsec_nanosecond() % 1_000_000 != 0 {
            return Err(Error::Time(format!("{text:?}: finer than a millisecond")));
        }
        Ok(Timestamp(ts))
    }
}

/// Of `versions`, sorted by effective time, the one in force at `at`: the latest whose effective
/// time (`effective_from`) is not after `at`; `None` before the first. The one lookup every
/// versioned setting (policies, protection settings) uses.
pub fn in_force_at<T>(versions: &[T], at: Timestamp, effective_from: impl Fn(&T) -> Timestamp) -> Option<&T> {
    let index = versions.partition_point(|version| effective_from(version) <= at);
    index.checked_sub(1).and_then(|i| versions.get(i))
}

/// The strict RFC 3339 grammar `FromStr` accepts, before jiff reads the value.
fn check_rfc3339_shape(text: &str) -> Result<(), &'static str> {
    const SHAPE: &str = "expected RFC 3339 such as 2026-03-02T10:00:00+08:00";
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Result<u32, &'static str> {
        let part = bytes.get(range).ok_or(SHAPE)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(SHAPE);
        }
        Ok(part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let at = |index: usize, expected: u8| if bytes.get(index) == Some(&expected) { Ok(()) } else { Err(SHAPE) };
    number(0..4)?;
    at(4, b'-')?;
    number(5..7)?;
    at(7, b'-')?;
    number(8..10)?;
    at(10, b'T')?;
    if number(11..13)? > 23 {
        return Err("hour above 23");
    }
    at(13, b':')?;
    if number(14..16)? > 59 {
        return Err("minute above 59");
    }
    at(16, b':')?;
    if number(17..19)? > 59 {
        return Err("second above 59 (leap seconds are not accepted)");
    }
    let mut rest = &bytes[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return Err(SHAPE);
        }
        rest = &fraction[digits..];
    }
    match rest {
        b"Z" => Ok(()),
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            let digits = [h1, h2, m1, m2];
            if !digits.iter().all(|d| d.is_ascii_digit()) {
                return Err(SHAPE);
            }
            let (hours, minutes) = ((h1 - b'0') * 10 + (h2 - b'0'), (m1 - b'0') * 10 + (m2 - b'0'));
            if hours > 23 || minutes > 59 {
                return Err("offset beyond ±23:59");
            }
            Ok(())
        }
        _ => Err("expected an offset: Z or ±HH:MM"),
    }
}

/// Human-readable formats carry RFC 3339 text; binary formats the millisecond count.
impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.as_millis())
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            let ms = i64::deserialize(deserializer)?;
            Timestamp::from_millis(ms).map_err(serde::de::Error::custom)
        }
    }
}

/// A Beijing natural day, counted from 1970-01-01 (Beijing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BeijingDay(pub i32);

impl BeijingDay {
    /// The Beijing midnight this day starts at.
    pub fn start(self) -> Result<Timestamp, Error> {
        Timestamp::from_millis(i64::from(self.0) * MS_PER_DAY - BEIJING_OFFSET_MS)
    }
}

/// `YYYY-MM-DD`, the Beijing date.
impl fmt::Display for BeijingDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.start() {
            Ok(start) => write!(f, "{}", beijing().to_datetime(start.0).date()),
            Err(_) => write!(f, "day {}", self.0),
        }
    }
}

/// A Beijing calendar year, e.g. `BeijingYear(2026)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BeijingYear(pub i16);

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn parses_strict_rfc3339_only() {
        // (text, accepted as); None = refused.
        let cases: &[(&str, Option<&str>)] = &[
            ("2026-03-02T10:00:00+08:00", Some("2026-03-02T10:00:00+08:00")),
            ("2026-03-02T02:00:00Z", Some("2026-03-02T10:00:00+08:00")),
            ("2026-03-02T02:00:00.5Z", Some("2026-03-02T10:00:00.5+08:00")),
            ("2026-03-02T10:00:00.123+08:00", Some("2026-03-02T10:00:00.123+08:00")),
            ("2026-03-02T23:59:59-23:59", Some("2026-03-04T07:58:59+08:00")),
            ("2026-03-02T10:00:00.1234+08:00", None),
            ("2026-03-02T23:59:60+08:00", None),
            ("2026-03-02T10:00:00+25:00", None),
            ("2026-03-02T10:00:00+24:00", None),
            ("2026-03-02T10:00:00+08:60", None),
            ("2026-03-02T10:00:00", None),
            ("2026-03-02T10:00+08:00", None),
            ("2026-03-02 10:00:00+08:00", None),
            ("2026-03-02t10:00:00z", None),
            (" 2026-03-02T10:00:00+08:00", None),
            ("2026-03-02T10:00:00+08:00 ", None),
            ("2026-03-02T10:00:00+0800", None),
            ("2026-03-02T10:00:00+08:00[Asia/Shanghai]", None),
            ("2026-02-30T10:00:00+08:00", None),
            ("2026-03-02T24:00:00+08:00", None),
            ("2026-03-02T10:00:00.+08:00", None),
            ("+2026-03-02T10:00:00+08:00", None),
        ];
        for (text, expected) in cases {
            let got = text.parse::<Timestamp>().ok().map(|t| t.to_string());
            assert_eq!(got.as_deref(), *expected, "parsing {text:?}");
        }
    }

    #[test]
    fn beijing_midnight_splits_days_whatever_the_utc_date() {
        // 23:59:59+08:00 and 00:00:00+08:00 the next day share a UTC date but not a Beijing day.
        let before = ts("2026-03-01T23:59:59+08:00");
        let after = ts("2026-03-02T00:00:00+08:00");
        assert_eq!(before.beijing_day().0 + 1, after.beijing_day().0);
        assert_eq!(ts("2026-03-01T15:59:59Z").beijing_day(), before.beijing_day());
        assert_eq!(ts("2026-03-01T16:00:00Z").beijing_day(), after.beijing_day());
    }

    #[test]
    fn beijing_new_year_splits_years() {
        let cases = [
            ("2025-12-31T23:59:59.999+08:00", 2025),
            ("2026-01-01T00:00:00+08:00", 2026),
            ("2025-12-31T16:00:00Z", 2026),
            ("2025-12-31T15:59:59Z", 2025),
        ];
        for (text, year) in cases {
            assert_eq!(ts(text).beijing_year(), BeijingYear(year), "{text}");
        }
    }

    #[test]
    fn beijing_days_show_as_beijing_dates() {
        assert_eq!(ts("2026-03-01T23:59:59+08:00").beijing_day().to_string(), "2026-03-01");
        assert_eq!(ts("2026-03-01T16:00:00Z").beijing_day().to_string(), "2026-03-02");
        let day = ts("2026-03-02T10:00:00+08:00").beijing_day();
        assert_eq!(day.start().unwrap(), ts("2026-03-02T00:00:00+08:00"));
    }

    #[test]
    fn next_midnight_is_the_start_of_the_next_beijing_day() {
        let t = ts("2026-03-01T23:30:00+08:00");
        assert_eq!(t.next_beijing_midnight().unwrap(), ts("2026-03-02T00:00:00+08:00"));
        let t = ts("2026-03-02T00:00:00+08:00");
        assert_eq!(t.next_beijing_midnight().unwrap(), ts("2026-03-03T00:00:00+08:00"));
    }

    #[test]
    fn minute_of_day_is_counted_from_beijing_midnight() {
        assert_eq!(ts("2026-03-01T23:00:00+08:00").beijing_minute_of_day(), 23 * 60);
        assert_eq!(ts("2026-03-01T16:05:59Z").beijing_minute_of_day(), 5);
        assert_eq!(ts("1969-12-31T23:59:00+08:00").beijing_minute_of_day(), 1439);
    }

    #[test]
    fn parsing_refuses_missing_offsets_and_sub_millisecond_digits() {
        assert!("2026-03-01T10:00:00".parse::<Timestamp>().is_err());
        assert!("2026-03-01T10:00:00.0001Z".parse::<Timestamp>().is_err());
        assert!("yesterday".parse::<Timestamp>().is_err());
        assert_eq!(ts("2026-03-01T10:00:00.123Z").as_millis() % 1000, 123);
        assert_eq!(ts("2026-03-01T02:00:00Z").to_string(), "2026-03-01T10:00:00+08:00");
    }

    #[test]
    fn millisecond_range_is_checked() {
        assert!(Timestamp::from_millis(i64::MAX).is_err());
        assert!(Timestamp::from_millis(i64::MIN).is_err());
        assert_eq!(Timestamp::from_millis(0).unwrap(), Timestamp::UNIX_EPOCH);
    }
}
