//! Fuel types as roadside remote-sensing stations state them: one vocabulary for the Chinese
//! and English words, abbreviations and full-width spellings that feeds use (柴油, ＤＩＥＳＥＬ,
//! LNG, 油电混合 …), read once at decode so no later stage compares strings.
//!
//! Pure. No I/O.

/// What a vehicle burns (or stores), as stated by the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fuel {
    /// Including diesel hybrids: their exhaust is diesel exhaust.
    Diesel,
    Gasoline,
    /// CNG and LNG.
    NaturalGas,
    /// A hybrid whose combustion fuel is not stated as diesel.
    Hybrid,
    Electric,
    Lpg,
    Methanol,
    Hydrogen,
}

/// Normalised spelling → fuel. Keys are already normalised (a test checks it).
const TERMS: &[(&str, Fuel)] = &[
    ("柴油", Fuel::Diesel),
    ("柴油车", Fuel::Diesel),
    ("柴", Fuel::Diesel),
    ("diesel", Fuel::Diesel),
    ("d", Fuel::Diesel),
    // Diesel-electric hybrids, in the one word feeds use for them.
    ("柴电混合", Fuel::Diesel),
    ("柴电混合动力", Fuel::Diesel),
    ("汽油", Fuel::Gasoline),
    ("汽油车", Fuel::Gasoline),
    ("汽", Fuel::Gasoline),
    ("gasoline", Fuel::Gasoline),
    ("petrol", Fuel::Gasoline),
    ("g", Fuel::Gasoline),
    ("天然气", Fuel::NaturalGas),
    ("压缩天然气", Fuel::NaturalGas),
    ("液化天然气", Fuel::NaturalGas),
    ("燃气", Fuel::NaturalGas),
    ("cng", Fuel::NaturalGas),
    ("lng", Fuel::NaturalGas),
    ("ng", Fuel::NaturalGas),
    ("naturalgas", Fuel::NaturalGas),
    // registry.proto's own example vocabulary ("diesel", "gas", "hybrid") means a gas engine.
    ("gas", Fuel::NaturalGas),
    ("混合动力", Fuel::Hybrid),
    ("油电混合", Fuel::Hybrid),
    ("混动", Fuel::Hybrid),
    ("插电式混合动力", Fuel::Hybrid),
    ("hybrid", Fuel::Hybrid),
    ("hev", Fuel::Hybrid),
    ("phev", Fuel::Hybrid),
    ("电", Fuel::Electric),
    ("纯电", Fuel::Electric),
    ("纯电动", Fuel::Electric),
    ("电动", Fuel::Electric),
    ("electric", Fuel::Electric),
    ("ev", Fuel::Electric),
    ("bev", Fuel::Electric),
    ("液化石油气", Fuel::Lpg),
    ("lpg", Fuel::Lpg),
    ("甲醇", Fuel::Methanol),
    ("methanol", Fuel::Methanol),
    ("氢", Fuel::Hydrogen),
    ("氢燃料", Fuel::Hydrogen),
    ("氢燃料电池", Fuel::Hydrogen),
    ("hydrogen", Fuel::Hydrogen),
    ("fcev", Fuel::Hydrogen),
];

/// Words that, next to a fuel word, make a hybrid of it: "柴油混合动力", "diesel hybrid".
const HYBRID_WORDS: [&str; 5] = ["混合动力", "油电混合", "混动", "hybrid", "hev"];

/// Punctuation feeds put between the words of one fuel type ("diesel-hybrid", "柴油（混动）").
const SEPARATORS: [char; 10] = ['-', '_', '/', '\\', '.', '+', '(', ')', '、', '·'];

impl Fuel {
    /// The stated fuel, or `None` when the text is empty or not a known fuel word: a station that
    /// writes something unreadable has not told us the vehicle is not diesel.
    ///
    /// Trims, ignores case, whitespace and separators, and reads full-width forms as ASCII. A
    /// fuel word with a hybrid word on either side is a hybrid, except that a diesel hybrid is
    /// `Diesel`. Single letters are read as D = diesel, G = gasoline only; the letter codes of
    /// the traffic-police registration table are not interpreted.
    pub fn parse(text: &str) -> Option<Fuel> {
        let key = normalise(text);
        if let Some(fuel) = term(&key) {
            return Some(fuel);
        }
        HYBRID_WORDS.iter().find_map(|hybrid| {
            let rest = key
                .strip_suffix(hybrid)
                .or_else(|| key.strip_prefix(hybrid))?;
            match term(rest)? {
                Fuel::Diesel => Some(Fuel::Diesel),
                _ => Some(Fuel::Hybrid),
            }
        })
    }

    /// Whether the diesel limits apply to evidence stating `stated`: diesel, or not stated.
    pub fn diesel_limits_apply(stated: Option<Fuel>) -> bool {
        matches!(stated, None | Some(Fuel::Diesel))
    }
}

fn term(key: &str) -> Option<Fuel> {
    TERMS.iter().find(|(t, _)| *t == key).map(|&(_, fuel)| fuel)
}

fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            // Full-width ASCII (Ａ, ｄ, （ …) is ASCII shifted by 0xFEE0; U+3000 is a space.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .filter(|c| !c.is_whitespace() && !SEPARATORS.contains(c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(fuel: Fuel, words: &[&str]) {
        for word in words {
            assert_eq!(Fuel::parse(word), Some(fuel), "{word:?}");
        }
    }

    #[test]
    fn every_listed_term_is_recognised() {
        check(Fuel::Diesel, &["柴油", "柴油车", "diesel", "D", "柴"]);
        check(Fuel::Gasoline, &["汽油", "gasoline", "petrol", "G", "汽"]);
        check(
            Fuel::NaturalGas,
            &[
                "天然气",
                "CNG",
                "LNG",
                "燃气",
                "NG",
                "压缩天然气",
                "液化天然气",
            ],
        );
        check(Fuel::Hybrid, &["混合动力", "油电混合", "hybrid"]);
        check(Fuel::Electric, &["电", "纯电动", "electric", "EV", "BEV"]);
        check(Fuel::Lpg, &["液化石油气", "LPG"]);
        check(Fuel::Methanol, &["甲醇"]);
        check(Fuel::Hydrogen, &["氢", "氢燃料", "FCEV"]);
    }

    #[test]
    fn case_whitespace_and_full_width_forms_are_ignored() {
        check(
            Fuel::Diesel,
            &[
                " diesel ",
                "DIESEL",
                "Diesel\n",
                "ＤＩＥＳＥＬ",
                "ｄ",
                "\u{3000}柴油\u{3000}",
            ],
        );
        check(Fuel::NaturalGas, &["ＬＮＧ", "c n g", "Natural Gas"]);
        check(Fuel::Electric, &["ｅｖ", "B-EV"]);
    }

    #[test]
    fn diesel_hybrids_are_diesel_other_hybrids_are_hybrid() {
        check(
            Fuel::Diesel,
            &[
                "柴油混合动力",
                "diesel hybrid",
                "Diesel-Hybrid",
                "hybrid diesel",
                "柴油（混合动力）",
                "柴油油电混合",
                "柴电混合",
            ],
        );
        check(
            Fuel::Hybrid,
            &[
                "汽油混合动力",
                "gasoline hybrid",
                "LNG hybrid",
                "插电式混合动力",
                "PHEV",
            ],
        );
    }

    #[test]
    fn empty_and_unknown_words_are_not_stated() {
        for word in [
            "", "   ", "\u{3000}", "unknown", "其他", "B", "x", "diesel?",
        ] {
            assert_eq!(Fuel::parse(word), None, "{word:?}");
        }
    }

    #[test]
    fn diesel_limits_apply_to_diesel_and_to_not_stated() {
        assert!(Fuel::diesel_limits_apply(None));
        assert!(Fuel::diesel_limits_apply(Fuel::parse("柴油混合动力")));
        for word in ["汽油", "LNG", "hybrid", "EV", "LPG", "甲醇", "氢"] {
            assert!(!Fuel::diesel_limits_apply(Fuel::parse(word)), "{word}");
        }
    }

    #[test]
    fn the_table_is_written_in_normalised_spelling_without_repeats() {
        for (i, (term, _)) in TERMS.iter().enumerate() {
            assert_eq!(normalise(term), *term);
            assert!(!TERMS[..i].iter().any(|(t, _)| t == term), "{term} twice");
        }
        for word in HYBRID_WORDS {
            assert_eq!(normalise(word), word);
        }
    }
}
