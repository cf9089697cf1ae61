//! Time: the store reads the clock through [`Clock`] so tests can move time instead of sleeping. Times are
//! milliseconds since the Unix epoch (UTC) everywhere, in the database and in the hash encoding; this module
//! also parses durations (`30d`) and points in time (`2026-05-01T12:00:00Z`, `2h` ago) given by a person.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Result, StoreError};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to (for tests of expiry).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Millis) -> Self {
        Self(AtomicI64::new(start))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `ms`.
    pub fn set(&self, ms: Millis) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// `2026-05-01T12:00:00.123Z` for a time in milliseconds; the raw number if it is out of range.
pub fn format_ms(ms: Millis) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let format = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            t.format(&format).unwrap_or_else(|_| ms.to_string())
        }
        Err(_) => ms.to_string(),
    }
}

const DURATION_HINT: &str = "use a number and a unit: `90s`, `15m`, `1h`, `30d`, `2w`";

/// Parses `90s`, `15m`, `1h`, `30d`, `2w` (also `1h30m`) into milliseconds.
pub fn parse_duration(input: &str) -> Result<Millis> {
    let bad = || StoreError::BadTime {
        what: "duration",
        input: input.to_string(),
        hint: DURATION_HINT,
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: i64 = match c {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 7 * 86_400_000,
            _ => return Err(bad()),
        };
        let n: i64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() || total <= 0 {
        return Err(bad());
    }
    Ok(total)
}

/// Parses a point in time: RFC 3339 (`2026-05-01T12:00:00Z`), a date (`2026-05-01`, midnight UTC), or a
/// duration meaning that long before `now` (`2h`).
pub fn parse_since(input: &str, now: Millis) -> Result<Millis> {
    let text = input.trim();
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        return Ok(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX));
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(text, &date_format) {
        return Ok(date
            .midnight()
            .assume_utc()
            .unix_timestamp()
            .saturating_mul(1000));
    }
    match parse_duration(text) {
        Ok(ago) => Ok(now.saturating_sub(ago)),
        Err(_) => Err(StoreError::BadTime {
            what: "time",
            input: input.to_string(),
            hint: "use RFC 3339 (`2026-05-01T12:00:00Z`), a date (`2026-05-01`) or a duration ago (`2h`)",
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), 90_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("30d").unwrap(), 30 * 86_400_000);
        for bad in ["", "30", "d", "3x", "0s", "-1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn points_in_time() {
        assert_eq!(parse_since("1970-01-02", 0).unwrap(), 86_400_000);
        assert_eq!(parse_since("1970-01-01T00:00:01Z", 0).unwrap(), 1000);
        assert_eq!(parse_since("1h", 7_200_000).unwrap(), 3_600_000);
        assert!(parse_since("yesterday", 0).is_err());
        assert_eq!(format_ms(1000), "1970-01-01T00:00:01.000Z");
    }
}
