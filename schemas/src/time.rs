//! Event times as JSON text: RFC 3339, the same text as chrono's own serde (UTC written with
//! `Z`, the fraction with as many digits as it needs: none, 3, 6 or 9), written and read without
//! going through `fmt`.
//!
//! Every event carries two to four times, written by the collector and read back by the scorer;
//! chrono's serde writes them through `fmt::Display` and serde_json's escaping adapter, one
//! fragment at a time, which was a measurable share of encoding a log record. The common shapes
//! are handled here directly; anything else (a year outside 0–9999, a leap second, a
//! non-canonical but valid text such as a lowercase `t` or a space) goes to chrono, so what is
//! accepted and how it reads are unchanged.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer, de};

/// What a refused time is told it must be (chrono's own reasons, such as "input contains invalid
/// characters", name no form): every event time, and the request-level `sentAt`.
pub const EXPECTED: &str = "must be an ISO-8601 date-time such as 2026-12-07T10:00:00Z";

/// `YYYY-MM-DDTHH:MM:SS.fffffffffZ` is 30 bytes.
const MAX_LEN: usize = 30;

/// Writes `t` as chrono's serde does; `None` for the rare shapes left to chrono.
fn write(t: &DateTime<Utc>, out: &mut [u8; MAX_LEN]) -> Option<usize> {
    let year = t.year();
    let nanos = t.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    fn two(out: &mut [u8], at: usize, n: u32) {
        out[at] = b'0' + (n / 10) as u8;
        out[at + 1] = b'0' + (n % 10) as u8;
    }
    let year = year as u32;
    two(out, 0, year / 100);
    two(out, 2, year % 100);
    out[4] = b'-';
    two(out, 5, t.month());
    out[7] = b'-';
    two(out, 8, t.day());
    out[10] = b'T';
    two(out, 11, t.hour());
    out[13] = b':';
    two(out, 14, t.minute());
    out[16] = b':';
    two(out, 17, t.second());
    let mut len = 19;
    let (digits, mut frac) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (3, n / 1_000_000),
        n if n % 1_000 == 0 => (6, n / 1_000),
        n => (9, n),
    };
    if digits > 0 {
        out[len] = b'.';
        for i in (0..digits).rev() {
            out[len + 1 + i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        len += 1 + digits;
    }
    out[len] = b'Z';
    Some(len + 1)
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`; `None` for anything else.
fn read(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<u32> {
        let mut n = 0u32;
        for &c in b.get(from..from + len)? {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(c - b'0');
        }
        Some(n)
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut at = 19;
    let mut nanos = 0u32;
    if b[at] == b'.' {
        let digits = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = num(at + 1, digits)? * 10u32.pow(9 - digits as u32);
        at += 1 + digits;
    }
    let offset_seconds = match &b[at..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    // Leap seconds (60) are chrono's to read.
    if second > 59 {
        return None;
    }
    let naive = NaiveDate::from_ymd_opt(year as i32, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = FixedOffset::east_opt(offset_seconds)?;
    Some(
        naive
            .and_local_timezone(offset)
            .single()?
            .with_timezone(&Utc),
    )
}

/// One time as chrono's serde writes and reads it, faster.
struct Rfc3339(DateTime<Utc>);

impl serde::Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; MAX_LEN];
        match write(&self.0, &mut buf) {
            // Only ASCII digits and separators were written.
            Some(len) => {
                serializer.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default())
            }
            None => serde::Serialize::serialize(&self.0, serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Rfc3339 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Rfc3339;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 formatted date and time string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Rfc3339, E> {
                match read(s) {
                    Some(t) => Ok(Rfc3339(t)),
                    None => s
                        .parse::<DateTime<FixedOffset>>()
                        .map(|t| Rfc3339(t.with_timezone(&Utc)))
                        .map_err(|e| E::custom(format_args!("{EXPECTED}: {e}"))),
                }
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// For `#[serde(with = "crate::time::opt")]` on an `Option<DateTime<Utc>>` (absent or `null` is
/// `None`, as with chrono's own serde).
pub mod opt {
    use super::*;

    pub fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => serializer.serialize_some(&Rfc3339(*t)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<Rfc3339>::deserialize(deserializer)?.map(|t| t.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Ours(#[serde(with = "opt")] Option<DateTime<Utc>>);
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Chrono(Option<DateTime<Utc>>);

    fn times() -> Vec<DateTime<Utc>> {
        let utc = |y, mo, d, h, mi, s| {
            Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
                .single()
                .expect("valid")
        };
        let base = utc(2026, 11, 22, 10, 0, 0);
        let mut out = vec![
            base,
            utc(1, 1, 1, 0, 0, 0),
            utc(9999, 12, 31, 23, 59, 59),
            utc(2024, 2, 29, 12, 30, 5),
            // Outside 0–9999: left to chrono.
            utc(10000, 1, 1, 0, 0, 0),
            utc(-1, 1, 1, 0, 0, 0),
        ];
        for nanos in [
            1,
            120,
            5_000,
            123_456,
            7_000_000,
            999_000_000,
            999_999_999,
            100_000_001,
        ] {
            out.push(base + chrono::Duration::nanoseconds(nanos));
        }
        // A leap second (chrono keeps it as nanoseconds ≥ 1 s): left to chrono.
        out.push(
            NaiveDate::from_ymd_opt(2016, 12, 31)
                .expect("valid")
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .expect("valid")
                .and_utc(),
        );
        out
    }

    #[test]
    fn writes_what_chrono_writes_and_reads_it_back() {
        for t in times() {
            let ours = serde_json::to_string(&Ours(Some(t))).expect("valid");
            assert_eq!(
                ours,
                serde_json::to_string(&Chrono(Some(t))).expect("valid"),
                "{t:?}"
            );
            assert_eq!(
                serde_json::from_str::<Ours>(&ours).expect("valid"),
                Ours(Some(t)),
                "{ours}"
            );
        }
        assert_eq!(serde_json::to_string(&Ours(None)).expect("valid"), "null");
        assert_eq!(
            serde_json::from_str::<Ours>("null").expect("valid"),
            Ours(None)
        );
    }

    #[test]
    fn reads_what_chrono_reads_and_refuses_what_it_refuses() {
        for text in [
            "2026-11-22T10:00:00Z",
            "2026-11-22T10:00:00.5Z",
            "2026-11-22T10:00:00.123456789Z",
            "2026-11-22T10:00:00.1234567891Z",
            "2026-11-22T10:00:00+02:00",
            "2026-11-22T01:00:00.250-05:30",
            "2026-11-22T10:00:00+23:59",
            "2026-11-22t10:00:00z",
            "2026-11-22 10:00:00Z",
            "2026-11-22T10:00:00+0200",
            "2016-12-31T23:59:60Z",
            "2024-02-29T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T10:60:00Z",
            "2026-11-22T10:00:00+24:00",
            "2026-11-22T10:00:00+10:75",
            "2026-11-22T10:00:00",
            "2026-11-22T10:00:00.Z",
            "2026-11-22T10:00:00ZZ",
            "2026-11-22",
            "yesterday",
            "",
            "+2026-11-22T10:00:00Z",
            "２０２６-11-22T10:00:00Z",
        ] {
            let json = serde_json::to_string(text).expect("valid");
            let ours = serde_json::from_str::<Ours>(&json).map_err(|e| e.to_string());
            let chrono = serde_json::from_str::<Chrono>(&json)
                .map(|c| Ours(c.0))
                .map_err(|e| e.to_string());
            match (ours, chrono) {
                // The same refusal, ours with the expected form in front of chrono's reason.
                (Err(ours), Err(chrono)) => assert!(
                    ours.starts_with(EXPECTED) && ours.ends_with(&chrono),
                    "{text}: {ours} / {chrono}"
                ),
                (ours, chrono) => assert_eq!(ours, chrono, "{text}"),
            }
        }
        for json in ["5", "true", "{}"] {
            assert_eq!(
                serde_json::from_str::<Ours>(json).map_err(|e| e.to_string()),
                serde_json::from_str::<Chrono>(json)
                    .map(|c| Ours(c.0))
                    .map_err(|e| e.to_string()),
                "{json}"
            );
        }
    }
}
