//! Durations as people write them in flags and env: `5` (seconds), `500ms`, `2s`, `1m`.

use std::time::Duration;

/// Parses `N`, `Nms`, `Ns`, `Nm` or `Nh` with a whole number `N`; a bare number means seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    if number.is_empty() {
        return Err("expected a duration such as 5, 500ms, 2s or 1m".into());
    }
    let value: u64 = number
        .parse()
        .map_err(|_| format!("duration number {number} is too large"))?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} (use ms, s, m or h)"
            ));
        }
    };
    value
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {text} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "s",
            "-1",
            "1.5s",
            "5 sec",
            "2x",
            "ms5",
            "99999999999999999999",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse("18446744073709551615h").is_err());
    }
}
