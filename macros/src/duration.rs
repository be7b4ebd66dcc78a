//! The duration grammar: whole numbers with units `h`, `m`, `s`, `ms`, largest
//! first, no spaces (`"1m30s"`, `"250ms"`, `"0s"`), parsed to milliseconds.

const UNITS: &str =
    "write whole numbers with the units h, m, s or ms, largest first, e.g. \"1m30s\" or \"250ms\"";

/// Parses `text` to milliseconds, or says what is wrong and what to write.
pub(crate) fn parse_ms(text: &str) -> Result<u64, String> {
    let bad = |why: &str| Err(format!("invalid duration \"{text}\": {why}; {UNITS}"));
    if text.is_empty() {
        return bad("it is empty");
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    // Rank of the last unit seen: h = 4, m = 3, s = 2, ms = 1; each must be smaller.
    let mut last_rank = u8::MAX;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return match bytes[i] {
                b' ' | b'\t' => bad("it contains a space"),
                b'-' => bad("it is negative"),
                _ => bad("a unit must follow a number"),
            };
        }
        let digits = &text[start..i];
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &text[unit_start..i];
        let (rank, factor) = match unit {
            "h" => (4, 3_600_000u64),
            "m" => (3, 60_000),
            "s" => (2, 1_000),
            "ms" => (1, 1),
            "" if i < bytes.len() && (bytes[i] == b'.' || bytes[i] == b',') => {
                return bad("decimals are not allowed");
            }
            "" if i < bytes.len() && bytes[i] == b' ' => return bad("it contains a space"),
            "" => return bad(&format!("`{digits}` has no unit")),
            other => return bad(&format!("`{other}` is not a unit")),
        };
        if rank >= last_rank {
            return bad(&format!("`{unit}` comes after a unit that is not larger"));
        }
        last_rank = rank;
        let value: u64 = match digits.parse() {
            Ok(v) => v,
            Err(_) => return bad("it is too large"),
        };
        total = match value.checked_mul(factor).and_then(|v| total.checked_add(v)) {
            Some(t) => t,
            None => return bad("it is too large (more than u64 milliseconds)"),
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_ms;

    #[test]
    fn accepts_the_grammar() {
        assert_eq!(parse_ms("250ms"), Ok(250));
        assert_eq!(parse_ms("5s"), Ok(5_000));
        assert_eq!(parse_ms("1m30s"), Ok(90_000));
        assert_eq!(parse_ms("2h1m1s1ms"), Ok(7_261_001));
        assert_eq!(parse_ms("0s"), Ok(0));
    }

    #[test]
    fn refuses_with_the_literal_and_the_units() {
        for (bad, why) in [
            ("", "it is empty"),
            ("5", "`5` has no unit"),
            ("1.5s", "decimals are not allowed"),
            ("5 s", "it contains a space"),
            ("5d", "`d` is not a unit"),
            ("30s1m", "`m` comes after a unit that is not larger"),
            ("1s1s", "`s` comes after a unit that is not larger"),
            ("-5s", "it is negative"),
            ("s", "a unit must follow a number"),
            ("99999999999999999999ms", "it is too large"),
            (
                "18446744073709551615s",
                "it is too large (more than u64 milliseconds)",
            ),
        ] {
            let err = parse_ms(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid duration \"{bad}\": {why}")),
                "{err}"
            );
            assert!(err.ends_with("e.g. \"1m30s\" or \"250ms\""), "{err}");
        }
    }
}
